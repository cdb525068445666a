"""Serving the recommender as an MLflow model: load time, per-request latency, server throughput.

    python benchmarks/serving.py                      # hetrec-2k (data/'s model) and the scale catalogue
    python benchmarks/serving.py --sizes hetrec --repeats 300 --server-requests 500

For each size the model is logged as the pipeline logs it (``serving.log_recommender``) to a
throw-away SQLite store, loaded with ``mlflow.pyfunc.load_model`` (timed), and asked one request
at a time: a known listener's top-10, a fold-in of a 50-artist new listener, similar artists
(p50 and p99 over ``--repeats``, wall seconds, one torch thread). ``hetrec`` is the project's own
latest model; ``scale`` is the scale environment's shape (359,347 listeners x 197,592 artists,
128 factors, ~48 plays each) with random weights: the cost of answering depends on the shapes,
not on the values. With ``--server-requests``, each size's model is also served by
``mlflow models serve`` and sent that many top-10 requests in turn (requests per second).
Goals (issue 24): p99 of a known listener's top-10 <= 50 ms at 197 k artists, load <= 10 s.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
SCALE = {"listeners": 359_347, "artists": 197_592, "plays_each": 48, "factors": 128}


def _hetrec(project: Path) -> tuple[Path, Path, Path, pd.DataFrame]:
    """The project's latest implicit model and its maps (data/, from `kedro run`)."""
    data = project / "data"
    versions = sorted((data / "06_models/implicit_model.pt").glob("*/implicit_model.pt"))
    if not versions:
        raise SystemExit("no data/06_models/implicit_model.pt yet: run `kedro run` first")
    interactions = pd.read_parquet(data / "03_primary/interactions.parquet")
    return (
        versions[-1],
        data / "03_primary/user_map.csv",
        data / "03_primary/artist_map.csv",
        interactions,
    )


def _scale(folder: Path, shape: dict[str, int]) -> tuple[Path, Path, Path, pd.DataFrame]:
    """A model of the scale shape with random weights, its maps and plays."""
    from music_recommender.pmf.ranking import pairs_matrix  # noqa: PLC0415
    from music_recommender.pmf.recommender import ImplicitRecommender  # noqa: PLC0415
    from music_recommender.pmf.solver import ImplicitConfig  # noqa: PLC0415

    n_users, n_items, k = shape["listeners"], shape["artists"], shape["factors"]
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(n_users), shape["plays_each"])
    # Heavy-tailed artists, as real listening is; duplicates dropped.
    items = np.minimum(rng.zipf(1.3, len(users)) - 1, n_items - 1)
    pairs = np.unique(users * n_items + items)
    users, items = pairs // n_items, pairs % n_items
    config = ImplicitConfig(n_factors=k, iterations=1)
    model = config.build(n_users, n_items)
    with torch.no_grad():
        for table in (model.user_factors, model.item_factors):
            table.weight.normal_(0, 0.1)
    model.trained_with = {"objective": "implicit", **config.to_dict()}  # as a fit records it
    rec = ImplicitRecommender(config).set_model(model, pairs_matrix(users, items, n_users, n_items))
    rec.save(folder / "implicit_model.pt")
    pd.DataFrame({"user_id": np.arange(n_users) + 1, "user_index": np.arange(n_users)}).to_csv(
        folder / "user_map.csv", index=False
    )
    pd.DataFrame(
        {
            "artist_id": np.arange(n_items) + 1,
            "artist_index": np.arange(n_items),
            "artist_name": [f"artist {i + 1}" for i in range(n_items)],
        }
    ).to_csv(folder / "artist_map.csv", index=False)
    plays = rng.integers(1, 500, len(users)).astype(np.float64)
    frame = pd.DataFrame({"user_index": users, "artist_index": items, "weight": plays})
    return folder / "implicit_model.pt", folder / "user_map.csv", folder / "artist_map.csv", frame


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(1000 * statistics.median(ordered), 2), "p99_ms": round(1000 * p99, 2)}


def measure(
    name: str, files: tuple[Path, Path, Path, pd.DataFrame], repeats: int, store: Path
) -> dict:
    """Log, load and ask one size's model; its figures."""
    import mlflow  # noqa: PLC0415

    from music_recommender import serving  # noqa: PLC0415

    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    mlflow.set_experiment(f"serving-{name}")
    with mlflow.start_run():
        info = serving.log_recommender(*files)
    start = time.perf_counter()
    model = mlflow.pyfunc.load_model(info.model_uri)
    load_s = time.perf_counter() - start
    users = pd.read_csv(files[1])["user_id"].to_numpy()
    names = pd.read_csv(files[2], keep_default_na=False)["artist_name"].astype(str).to_numpy()
    rng = np.random.default_rng(1)
    kinds = {
        "known_top10": lambda: {"user_id": int(rng.choice(users)), "n": 10},
        "fold_in_50": lambda: {
            "listen": {
                str(a): float(p)
                for a, p in zip(
                    rng.choice(names, 50, replace=False), rng.integers(1, 500, 50), strict=True
                )
            },
            "n": 10,
        },
        "similar_10": lambda: {"similar_to": str(rng.choice(names)), "n": 10},
    }
    out: dict[str, object] = {
        "load_s": round(load_s, 2),
        "artists": len(names),
        "listeners": len(users),
    }
    for kind, make in kinds.items():
        model.predict([make()])  # warm
        seconds = []
        for _ in range(repeats):
            request = [make()]
            start = time.perf_counter()
            model.predict(request)
            seconds.append(time.perf_counter() - start)
        out[kind] = _percentiles(seconds)
        print(
            f"{name:7s} {kind:12s} p50 {out[kind]['p50_ms']:8.2f} ms  p99 {out[kind]['p99_ms']:8.2f} ms"
        )
    print(f"{name:7s} load {load_s:.2f} s ({len(users):,} listeners x {len(names):,} artists)")
    out["model_uri"] = info.model_uri
    return out


def server_throughput(store: Path, model_uri: str, users: np.ndarray, requests: int) -> float:
    """Top-10 requests per second from `mlflow models serve`, one client, requests in turn."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    env = os.environ | {
        "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    command = [f"{bin_dir}/mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(480):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).close()
                break
            except OSError:
                time.sleep(0.25)
        start = time.perf_counter()
        for i in range(requests):
            body = json.dumps(
                {"inputs": [{"user_id": int(users[i % len(users)]), "n": 10}]}
            ).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=60).close()
        return requests / (time.perf_counter() - start)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    """Measure each size; print the figures and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="hetrec,scale", help="hetrec, scale or both")
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--server-requests", type=int, default=200, help="0: no server")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--project", type=Path, default=ROOT, help="whose data/ holds hetrec's model"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    result: dict[str, object] = {
        "threads": args.threads,
        "repeats": args.repeats,
        "cores": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as temp:
        store = Path(temp)
        for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
            files = _hetrec(args.project) if size == "hetrec" else _scale(store, SCALE)
            figures = measure(size, files, args.repeats, store)
            if args.server_requests:
                users = pd.read_csv(files[1])["user_id"].to_numpy()
                rate = server_throughput(
                    store, str(figures["model_uri"]), users, args.server_requests
                )
                figures["server_requests_per_s"] = round(rate, 1)
                print(f"{size:7s} server {rate:.1f} top-10 requests/s (one client, in turn)")
            figures.pop("model_uri")
            result[size] = figures
    scale = result.get("scale")
    if isinstance(scale, dict):
        result["scale_known_top10_p99_within_50ms"] = scale["known_top10"]["p99_ms"] <= 50
        result["scale_load_within_10s"] = scale["load_s"] <= 10
    print(json.dumps(result))


if __name__ == "__main__":
    main()
