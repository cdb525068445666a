"""The implicit sweep and top-N for every listener on a GPU, at Last.fm-360K's shape.

    python benchmarks/gpu.py                       # 359,347 x 200,000 x ~17 M rows on CUDA
    python benchmarks/gpu.py --device cpu --users 2000 --artists 3000   # a dry run anywhere

The one script to run whenever a session is lent a GPU (issue 25): the scale environment's
synthetic set (the same generator settings as conf/scale), this project's implicit solver
(128 factors, 3 CG steps) on ``--device``, each sweep timed between CUDA synchronisations,
beside implicit's GPU ALS on the same matrix when ``implicit.gpu`` has CUDA, and beside
implicit's published 0.39 s per iteration (A6000, 128 factors, Last.fm-360K, implicit's
benchmarks/README); then the top-10 of every listener, played artists excluded, scored exactly
on the device under ``--budget-mb``. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from music_recommender import synthetic
from music_recommender.pmf import ImplicitConfig, ImplicitRecommender
from music_recommender.pmf.solver import confidence

PUBLISHED_IMPLICIT_GPU_S = 0.39  # implicit's ALS, one iteration, 128 factors, Last.fm-360K, A6000


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    data = synthetic.generate(
        args.users, args.artists, artists_per_user=50, n_factors=16, seed=11, taste=2.0
    )
    return (*data.rows(), len(data.user_ids), len(data.artist_ids))


def ours(users, items, plays, n_users: int, n_items: int, args) -> tuple[ImplicitRecommender, dict]:
    """Our fit on ``args.device``; each sweep timed between synchronisations."""
    config = ImplicitConfig(n_factors=128, iterations=args.sweeps, cg_steps=3, device=args.device)
    sweeps: list[float] = []
    last = [0.0]

    def after(number: int, _: Any) -> None:
        _sync(args.device)
        now = time.perf_counter()
        sweeps.append(now - last[0])
        last[0] = now

    _sync(args.device)
    start = last[0] = time.perf_counter()
    rec = ImplicitRecommender(config, args.budget_mb).fit(
        users, items, plays, n_users, n_items, after_sweep=after
    )
    _sync(args.device)
    fit_s = time.perf_counter() - start
    # The first sweep also carries the set-up (confidence, sparse tiles); the median is the sweep.
    return rec, {
        "fit_s": fit_s,
        "sweep_s": float(np.median(sweeps[1:] or sweeps)),
        "sweeps": sweeps,
    }


def implicit_gpu(users, items, plays, n_users: int, n_items: int, sweeps: int) -> float | None:
    """implicit's GPU ALS on the same confidences, seconds per iteration (None without CUDA)."""
    try:
        import implicit.gpu  # noqa: PLC0415 (bench extra, GPU build)

        if not implicit.gpu.HAS_CUDA:
            return None
        from implicit.gpu.als import AlternatingLeastSquares  # noqa: PLC0415
    except ImportError:
        return None
    conf = confidence(users, plays, 20.0, "user_median").numpy() - 1.0  # ALS adds the 1
    matrix = sp.csr_matrix((conf, (users, items)), shape=(n_users, n_items), dtype=np.float32)
    model = AlternatingLeastSquares(factors=128, regularization=40.0, alpha=1.0, iterations=sweeps)
    start = time.perf_counter()
    model.fit(matrix, show_progress=False)
    return (time.perf_counter() - start) / sweeps


def top_n_for_everyone(rec: ImplicitRecommender, device: str) -> float:
    """Seconds for every listener's top-10, played artists excluded, scored exactly."""
    _sync(device)
    start = time.perf_counter()
    index, _ = rec.recommend(np.arange(rec.n_users), 10)
    _sync(device)
    assert index.shape == (rec.n_users, 10)
    return time.perf_counter() - start


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=359_347)
    parser.add_argument("--artists", type=int, default=200_000)
    parser.add_argument("--sweeps", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--budget-mb", type=float, default=4096.0, help="scores held at once")
    args = parser.parse_args()
    users, items, plays, n_users, n_items = _data(args)
    print(f"{len(users):,} rows, {n_users:,} listeners x {n_items:,} artists", flush=True)
    rec, fit = ours(users, items, plays, n_users, n_items, args)
    print(f"ours on {args.device}: {fit['sweep_s']:.3f} s per sweep ({fit['fit_s']:.1f} s fit)")
    theirs = implicit_gpu(users, items, plays, n_users, n_items, args.sweeps)
    topn_s = top_n_for_everyone(rec, args.device)
    print(f"top-10 for every listener on {args.device}: {topn_s:.1f} s", flush=True)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(
        json.dumps(
            {
                "device": device,
                "rows": len(users),
                "users": n_users,
                "artists": n_items,
                "factors": 128,
                "sweep_s": round(fit["sweep_s"], 4),
                "fit_s": round(fit["fit_s"], 2),
                "implicit_gpu_sweep_s": None if theirs is None else round(theirs, 4),
                "published_implicit_gpu_sweep_s": PUBLISHED_IMPLICIT_GPU_S,
                "topn_all_s": round(topn_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
