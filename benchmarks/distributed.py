"""Beyond one machine: Spark preprocessing against pandas, and the implicit solver on 1 and 2 processes.

    python benchmarks/distributed.py                   # 100 k listeners x 59 k artists, ~5 M rows
    python benchmarks/distributed.py --users 2000 --artists 1500 --sweeps 2   # a quick look

1. Writes the synthetic listening data (music_recommender.synthetic, 50 artists per listener) in
   the hetrec format, then runs ``kedro run --pipelines preprocessing`` and ``kedro run --env spark
   --pipelines preprocessing`` on it in a scratch copy of the project; ``spark_equal`` is whether
   the two wrote the same id maps, split rows, ratings (float32, bit for bit), table sizes and
   scaler, and the same row counts.
2. Fits the implicit objective (conf/base's settings, ``--sweeps`` sweeps) on the preprocessed
   interactions with 1 process and with ``--processes`` (torch.distributed, gloo, one torch
   thread each), alternated ``--repeats`` times; ``max_abs_factor_diff`` compares the factor and
   bias tables, ``sweep_s_*`` is the median wall time of a sweep (the launch excluded), with the
   CPU seconds of all processes beside it.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import parameters  # noqa: E402
from music_recommender import synthetic  # noqa: E402
from music_recommender.pmf.implicit_feedback import fit_implicit  # noqa: E402
from music_recommender.pmf.solver import ImplicitConfig  # noqa: E402
from tests.conftest import make_project, preprocessing_outputs  # noqa: E402
from tests.test_run import run  # noqa: E402


def _equal(a: dict[str, object], b: dict[str, object]) -> dict[str, bool]:
    same = {}
    for key, value in a.items():
        if isinstance(value, pd.DataFrame):
            same[key] = bool(value.equals(b[key]))
        else:
            same[key] = value == b[key]
    return same


def preprocess_both(
    n_users: int, n_artists: int, scratch: Path
) -> tuple[bool, dict, pd.DataFrame, dict]:
    """Both engines' preprocessing on the same files; (equal?, timings, interactions, id_index)."""
    data = synthetic.generate(n_users, n_artists, 50, 8, seed=0)
    raw = synthetic.write_hetrec(data, scratch / "raw" / "hetrec2011-lastfm-2k")
    project = make_project(scratch / "project")
    os.environ["MUSIC_RECOMMENDER_TRACKING"] = "0"
    seconds = {}
    for env in (None, "spark"):
        start = time.perf_counter()
        run(project, raw, ["preprocessing"], env=env)
        seconds[env or "pandas"] = round(time.perf_counter() - start, 1)
    base, other = (
        preprocessing_outputs(folder, spark=spark)
        for folder, spark in ((project / "data", False), (project / "data/spark", True))
    )
    for outputs in (base, other):  # the counts; the summary's samples may differ in order
        outputs["split"] = outputs.pop("summary")["split"]
    same = _equal(base, other)
    print(f"rows {len(base['interactions']):,}; preprocessing s: {seconds}; equal: {same}")
    return all(same.values()), seconds, base["interactions"], base["id_index"]


def _fit(
    interactions: pd.DataFrame, index: dict, config: ImplicitConfig
) -> tuple[torch.Tensor, list, float]:
    model = config.build(index["n_users"], index["n_items"])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time()
    history = fit_implicit(
        model,
        interactions["user_index"],
        interactions["artist_index"],
        interactions["weight"],
        config,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (
        time.process_time()
        - cpu
        + (after.ru_utime + after.ru_stime)
        - (children.ru_utime + children.ru_stime)
    )
    tables = torch.cat(
        [
            torch.cat([model.user_factors.weight, model.user_bias.weight], 1),
            torch.cat([model.item_factors.weight, model.item_bias.weight], 1),
        ]
    ).detach()
    return tables, [h["seconds"] for h in history], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--artists", type=int, default=59_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    scratch = Path(tempfile.mkdtemp(prefix="distributed-bench-"))
    try:
        spark_equal, pre_s, interactions, index = preprocess_both(args.users, args.artists, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    settings = parameters()["training"]["recommending"]["implicit"]
    base = replace(ImplicitConfig(**settings), iterations=args.sweeps, device="cpu", processes=1)
    sweeps: dict[int, list[float]] = {1: [], args.processes: []}
    cpu: dict[int, list[float]] = {1: [], args.processes: []}
    tables = {}
    for _ in range(args.repeats):
        for processes in (1, args.processes):  # alternated
            tables[processes], seconds, used = _fit(
                interactions, index, replace(base, processes=processes)
            )
            sweeps[processes] += seconds
            cpu[processes].append(used / args.sweeps)
            print(
                f"{processes} process(es): sweeps {[round(s, 2) for s in seconds]} s, {used:.1f} CPU s"
            )
    diff = float((tables[1] - tables[args.processes]).abs().max())
    result = {
        "spark_equal": spark_equal,
        "processes": args.processes,
        "max_abs_factor_diff": diff,
        "sweep_s_1": round(statistics.median(sweeps[1]), 3),
        f"sweep_s_{args.processes}": round(statistics.median(sweeps[args.processes]), 3),
        "cpu_s_per_sweep_1": round(statistics.median(cpu[1]), 2),
        f"cpu_s_per_sweep_{args.processes}": round(statistics.median(cpu[args.processes]), 2),
        "rows": len(interactions),
        "users": index["n_users"],
        "artists": index["n_items"],
        "preprocessing_s": pre_s,
        "factors": base.n_factors,
        "threads_per_process": 1,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
