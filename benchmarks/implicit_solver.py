"""CPU time per sweep: this project's implicit-objective solver against implicit's ALS.

    python benchmarks/implicit_solver.py                       # 20 k and 100 k listeners
    python benchmarks/implicit_solver.py --users 100000 --artists 59000 --repeats 3

Same synthetic matrix (music_recommender.synthetic: 50 artists per listener), same factors (128),
same conjugate-gradient steps (3), one process, runs alternated (ours, ALS, ours, ALS, ...),
each fitting ``--sweeps`` sweeps; one torch thread and one implicit thread unless ``--threads``.
Our time includes the fit's set-up (confidence, sparse tiles), spread over the sweeps. Prints CPU
and wall seconds per sweep, and our fit's peak working memory (growth of peak RSS during a fit in
a fresh process that holds only the pairs); the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from music_recommender import synthetic
from music_recommender.pmf.implicit_feedback import fit_implicit
from music_recommender.pmf.solver import ImplicitConfig, confidence

FACTORS = 128
CG_STEPS = 3


def _data(n_users: int, n_artists: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = synthetic.generate(n_users, n_artists, 50, 8, seed=0)
    return data.rows()


def _timed(fit) -> tuple[float, float]:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    fit()
    return time.process_time() - cpu, time.perf_counter() - wall


def ours(users, items, plays, n_users, n_items, sweeps: int) -> None:
    """This project's solver."""
    config = ImplicitConfig(n_factors=FACTORS, iterations=sweeps, cg_steps=CG_STEPS, device="cpu")
    fit_implicit(config.build(n_users, n_items), users, items, plays, config)


def als(matrix: sp.csr_matrix, sweeps: int, threads: int) -> None:
    """implicit's AlternatingLeastSquares (conjugate gradient, the same steps)."""
    from implicit.cpu.als import AlternatingLeastSquares  # noqa: PLC0415 (bench extra)

    model = AlternatingLeastSquares(
        factors=FACTORS,
        regularization=40.0,
        alpha=1.0,
        iterations=sweeps,
        use_cg=True,
        calculate_training_loss=False,
        num_threads=threads,
        random_state=0,
    )
    model.cg_steps = CG_STEPS  # an attribute, not a constructor argument (3 is its default)
    model.fit(matrix, show_progress=False)


_PEAK_CHILD = """
import resource, sys
import numpy as np, torch
from music_recommender.pmf.implicit_feedback import fit_implicit
from music_recommender.pmf.solver import ImplicitConfig
torch.set_num_threads(1)
data = np.load(sys.argv[1])
users, items, plays = data["users"], data["items"], data["plays"]
n_users, n_items = int(sys.argv[2]), int(sys.argv[3])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
config = ImplicitConfig(n_factors=int(sys.argv[4]), iterations=2, device="cpu")
fit_implicit(config.build(n_users, n_items), users, items, plays, config)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**10)
"""


def _fit_peak_mb(users, items, plays, n_users: int, n_items: int) -> float:
    """Peak RSS growth of a fit in a fresh process holding only the pairs: the fit's own memory."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pairs.npz"
        np.savez(path, users=users, items=items, plays=plays)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                _PEAK_CHILD,
                str(path),
                str(n_users),
                str(n_items),
                str(FACTORS),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return float(out.strip().splitlines()[-1])


def one_size(n_users: int, n_artists: int, args: argparse.Namespace) -> dict:
    """Alternated repeats at one size."""
    users, items, plays = _data(n_users, n_artists)
    conf = confidence(users, plays, 20.0, "user_median").numpy() - 1.0  # ALS adds the 1
    matrix = sp.csr_matrix((conf, (users, items)), shape=(n_users, n_artists), dtype=np.float32)
    times: dict[str, list[tuple[float, float]]] = {"ours": [], "als": []}
    fit_peak_mb = _fit_peak_mb(users, items, plays, n_users, n_artists)
    times["ours"].append(_timed(lambda: ours(users, items, plays, n_users, n_artists, args.sweeps)))
    input_mb = (users.nbytes + items.nbytes + plays.nbytes) / 2**20
    factors_mb = (n_users + n_artists) * (FACTORS + 1) * 4 / 2**20
    times["als"].append(_timed(lambda: als(matrix, args.sweeps, args.threads)))
    for _ in range(args.repeats - 1):
        times["ours"].append(
            _timed(lambda: ours(users, items, plays, n_users, n_artists, args.sweeps))
        )
        times["als"].append(_timed(lambda: als(matrix, args.sweeps, args.threads)))
    per = {
        name: {
            "cpu_s_per_sweep": statistics.median(c for c, _ in runs) / args.sweeps,
            "wall_s_per_sweep": statistics.median(w for _, w in runs) / args.sweeps,
        }
        for name, runs in times.items()
    }
    row = {
        "users": n_users,
        "artists": n_artists,
        "rows": len(users),
        **{f"{n}_{k}": round(v, 3) for n, d in per.items() for k, v in d.items()},
        "cpu_ratio": round(per["ours"]["cpu_s_per_sweep"] / per["als"]["cpu_s_per_sweep"], 3),
        "fit_peak_mb": round(fit_peak_mb),
        "input_mb": round(input_mb),
        "factors_mb": round(factors_mb),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    print(
        f"{n_users:>8,} x {n_artists:>7,} ({len(users):>10,} rows): ours "
        f"{row['ours_cpu_s_per_sweep']:.3f} CPU s ({row['ours_wall_s_per_sweep']:.3f} wall) per sweep, "
        f"ALS {row['als_cpu_s_per_sweep']:.3f} CPU s ({row['als_wall_s_per_sweep']:.3f} wall): "
        f"ratio {row['cpu_ratio']:.2f}; our fit's peak {row['fit_peak_mb']} MB over "
        f"{row['input_mb']} MB of pairs and {row['factors_mb']} MB of factors"
    )
    return row


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--artists", type=int, nargs="+", default=[19_000, 59_000])
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if len(args.users) != len(args.artists):
        parser.error("give one --artists value per --users value")
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 (installed with scikit-learn)

    # implicit warns when its BLAS runs threads of its own; hold both sides to --threads.
    with threadpool_limits(limits=args.threads):
        rows = [one_size(u, a, args) for u, a in zip(args.users, args.artists, strict=True)]
    print(json.dumps({"sizes": rows, "implicit_sweep_cpu_ratio_vs_als": rows[-1]["cpu_ratio"]}))


if __name__ == "__main__":
    main()
