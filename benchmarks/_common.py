"""Shared benchmark set-up: the project's own data through a real KedroSession.

The preprocessing pipeline runs as `kedro run --pipelines preprocessing [--env ENV] --params ...`
would, so environments, conf/local and runtime parameters are honoured; the benchmark then reads
the model input back through the same catalog.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

ROOT = Path(__file__).resolve().parents[1]
MODEL_INPUT = (
    "interactions",
    "train_ratings",
    "validation_ratings",
    "test_ratings",
    "id_index",
    "rating_scaler",
    "tag_input",
    "friend_input",
)


def add_project_arguments(parser: argparse.ArgumentParser) -> None:
    """``raw_dir`` (optional), ``--env`` and ``--params``, as `kedro run` takes them."""
    parser.add_argument(
        "raw_dir",
        type=Path,
        nargs="?",
        help="folder with user_artists.dat and artists.dat (default: the catalog's raw_data_dir)",
    )
    parser.add_argument("--env", default=None, help="Kedro environment (as `kedro run --env`)")
    parser.add_argument(
        "--params",
        default="",
        help='runtime parameters, as `kedro run --params "a.b=1,c=2"`',
    )


def _runtime_params(raw_dir: Path | None, params: str) -> dict[str, Any]:
    import yaml  # noqa: PLC0415

    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, _, value = item.partition("=")
        out[key.strip()] = yaml.safe_load(value)
    if raw_dir is not None:
        out["raw_data_dir"] = str(raw_dir.resolve())
    return out


def add_compute_arguments(parser: argparse.ArgumentParser) -> None:
    """``--threads`` (default: the project's compute.torch_threads) and ``--compete``."""
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: compute.torch_threads)"
    )
    parser.add_argument(
        "--compete",
        type=int,
        default=0,
        metavar="N",
        help="run N CPU-bound processes beside the measurement (a shared machine)",
    )


@contextlib.contextmanager
def competing(n: int) -> Iterator[None]:
    """N busy processes for the duration: the load a shared machine puts beside a run."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(n, 0))]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def set_threads(args: argparse.Namespace, params: dict[str, Any]) -> int:
    """torch's thread count from ``--threads`` or compute.torch_threads; returns it."""
    import torch  # noqa: PLC0415

    threads = args.threads or params.get("compute", {}).get("torch_threads")
    if threads:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def plain(value: Any) -> Any:
    """Parameters as plain dicts, whether Kedro handed them over typed (dataclasses) or not."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def model_input(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `preprocessing` in a KedroSession; (its model-input datasets, every parameter)."""
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    # A benchmark's data preparation is not a run worth an MLflow entry (conf/base/tracking.yml).
    os.environ.setdefault("MUSIC_RECOMMENDER_TRACKING", "0")
    bootstrap_project(ROOT)
    runtime = _runtime_params(args.raw_dir, args.params)
    with KedroSession.create(project_path=ROOT, env=args.env, runtime_params=runtime) as session:
        session.run(pipeline_names=["preprocessing"])
        context = session.load_context()
        data = {name: context.catalog.load(name) for name in MODEL_INPUT}
        return data, plain(context.params)


def parameters(env: str | None = None, params: str = "") -> dict[str, Any]:
    """Every parameter of the project in ``env`` (conf/base, the env, conf/local, ``params``)."""
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    bootstrap_project(ROOT)
    runtime = _runtime_params(None, params)
    with KedroSession.create(project_path=ROOT, env=env, runtime_params=runtime) as session:
        return plain(session.load_context().params)
