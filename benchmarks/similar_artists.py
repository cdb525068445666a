"""Similar artists for every artist: the all-pairs pass against scoring full rows, side by side.

    python benchmarks/similar_artists.py                    # 20 k, 50 k and 100 k artists
    python benchmarks/similar_artists.py --artists 197592 --repeats 1

Unit vectors of rank 32 plus noise (128 factors, seeded: a fitted model's spread of cosines),
the top 10 of every artist, a 256 MB budget (conf's ``memory_budget_mb``), one torch thread
unless ``--threads``; runs alternated (rows, all-pairs, rows, ...) in one process. ``rows`` is
the path a few queried artists take (batches of full rows of cosines); ``all-pairs`` is what
``similar_items`` does when asked for every artist (``pmf/similarity.py``). In bfloat16 where
the CPU has it, as the pipeline (``--float32``: as a CPU without it). Prints CPU and wall seconds (minimum over repeats) and the share
of the lists the two agree on; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import numpy as np
import torch

from music_recommender.pmf.ranking import _bf16_supported, _similar_every, _similar_rows

FACTORS = 128
N = 10
BUDGET_MB = 256.0


def _vectors(n_artists: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    low = torch.randn(n_artists, 32, generator=g) @ torch.randn(32, FACTORS, generator=g)
    noisy = low + 0.5 * torch.randn(n_artists, FACTORS, generator=g)
    return torch.nn.functional.normalize(noisy, dim=1)


def _timed(run):
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    out = run()
    return time.process_time() - cpu, time.perf_counter() - wall, out


def measure(n_artists: int, repeats: int, bf16: bool) -> dict[str, float]:
    """Both paths at one size: CPU and wall seconds (minima) and their lists' agreement."""
    vectors = _vectors(n_artists)
    low = vectors.to(torch.bfloat16) if bf16 else None
    items = np.arange(n_artists)
    runs = {
        "rows": lambda: _similar_rows(vectors, low, items, N, BUDGET_MB),
        "all_pairs": lambda: _similar_every(vectors, low, N, BUDGET_MB),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    lists = {}
    for _ in range(repeats):
        for name, run in runs.items():
            cpu, wall, (index, _) = _timed(run)
            times[name].append((cpu, wall))
            lists[name] = index
    out = {"artists": n_artists}
    for name, pairs in times.items():
        out[f"{name}_cpu_s"] = round(min(c for c, _ in pairs), 2)
        out[f"{name}_wall_s"] = round(min(w for _, w in pairs), 2)
    out["speed_up_cpu"] = round(out["rows_cpu_s"] / out["all_pairs_cpu_s"], 2)
    out["same_lists"] = round(float((lists["rows"] == lists["all_pairs"]).mean()), 5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artists", type=int, nargs="+", default=[20_000, 50_000, 100_000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--float32", action="store_true", help="float32 throughout, as on a CPU without bfloat16"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = _bf16_supported() and not args.float32
    print(f"torch threads {args.threads}, bfloat16 pass: {bf16}")
    results = []
    for n_artists in args.artists:
        got = measure(n_artists, args.repeats, bf16)
        print(
            f"{n_artists:>8} artists  rows {got['rows_cpu_s']:>7.1f} CPU s "
            f"({got['rows_wall_s']:.1f} wall)  all-pairs {got['all_pairs_cpu_s']:>7.1f} CPU s "
            f"({got['all_pairs_wall_s']:.1f} wall)  x{got['speed_up_cpu']}  "
            f"same lists {got['same_lists']}",
            flush=True,
        )
        results.append(got)
    print(json.dumps({"threads": args.threads, "bf16": bf16, "sizes": results}))


if __name__ == "__main__":
    main()
