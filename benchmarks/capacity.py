"""Capacity estimate for LFM-1b and LFM-2b sizes, from this project's measured per-row costs.

    python benchmarks/capacity.py                        # the table of docs/capacity.md
    python benchmarks/capacity.py --rows 60e6 --artists 3.19e6 --machines 1   # your own data

Nothing here is guessed except what the arguments say: the costs are the figures the benchmarks
printed (sources beside each constant), the sizes are the data sets' published counts. Rows are
(listener, artist, plays) rows; a data set of listening events has at most as many rows as
events (each listener-artist pair is one row after aggregation), so the event count is the upper
bound used for LFM-1b and LFM-2b. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math

# --- measured (2-core shared machine, one torch thread per process) -------------------------
# benchmarks/scale.py, Last.fm-360K's shape: preprocessing peak RSS 3.60 GB for 17,077,703 rows.
PANDAS_BYTES_PER_ROW = 3.60e9 / 17_077_703
# `kedro run --env spark --pipelines preprocessing` on the scale environment's 17,077,703 rows
# (Last.fm-360K's shape), local[*] on 2 cores: 260.9 s, i.e. core-seconds per row (36 core-us at
# 4.75 M rows in benchmarks/distributed.py: fixed costs weigh less as the rows grow).
SPARK_CORE_S_PER_ROW = 260.9 * 2 / 17_077_703
# benchmarks/scale.py: the implicit fit at Last.fm-360K (10 sweeps incl. set-up, 3.6 min) over
# 17,077,703 pairs: CPU seconds per pair per sweep at 128 factors, 3 CG steps, one thread. (At
# 100 k listeners it is 0.70 us: cache misses grow with the tables; the larger figure is used.)
SOLVER_S_PER_PAIR_SWEEP = 3.6 * 60 / 10 / 17_077_703
# benchmarks/implicit_solver.py at 100 k x 59 k: peak 338 MB over 109 MB of input pairs and
# 78 MB of factor tables for 4.75 M pairs -> 24 bytes of input + 32 of solver tiles per pair,
# and the tables about 2.4 times over (tables, Gram inputs, CG arrays). Per process, each of its
# blocks' pairs once per side.
SOLVER_BYTES_PER_PAIR = 24 + 32
TABLE_COPIES = 2.4 + 0.6  # + the other side's [factors | 1] copy each half-sweep builds
# benchmarks/distributed.py: 2 processes did a sweep in 2.18 s against 3.66 s for one: 84 % of
# a perfect split on 2 cores of a shared machine.
PARALLEL_EFFICIENCY = 3.655 / 2.179 / 2

DATASETS = {
    # Schedl 2016/2017: 120,322 users, 3,190,371 artists, 1,088,161,692 listening events.
    "LFM-1b": {"rows": 1_088_161_692, "listeners": 120_322, "artists": 3_190_371},
    # LFM-2b (Schedl et al. 2022): the same 120,322 users, about 2 billion events; its artist
    # count is not in the sources at hand, so LFM-1b's is assumed (say --artists to change it).
    "LFM-2b": {"rows": 2_014_164_872, "listeners": 120_322, "artists": 3_190_371},
}


def estimate(
    rows: float,
    listeners: float,
    artists: float,
    machines: int,
    cores: int,
    threads: int,
    memory_gb: float,
    factors: int,
    network_gbit: float,
) -> dict[str, float]:
    """Memory per machine, bytes exchanged and time per sweep for ``cores`` solver processes per
    machine of ``threads`` torch threads each (the threads assumed to scale as processes do)."""
    tables = (listeners + artists) * (factors + 1) * 4
    processes = machines * cores
    # Each process holds the whole tables (it solves against the other side's), its share of the
    # pairs, and exchanges the tables once per sweep (all-gather: it receives (p-1)/p of them).
    per_process_gb = (SOLVER_BYTES_PER_PAIR * rows / processes + TABLE_COPIES * tables) / 1e9
    exchange_gb = tables * (processes - 1) / processes / 1e9
    compute_s = SOLVER_S_PER_PAIR_SWEEP * rows / (processes * threads * PARALLEL_EFFICIENCY)
    # A ring all-gather ordered by machine carries each block over each machine's link once:
    # (M - 1) / M of the tables in per machine, whatever the processes per machine.
    network_gb = tables * (machines - 1) / machines / 1e9
    network_s = network_gb * 8 / network_gbit
    # Fewest machines whose memory holds cores processes each: tables do not shrink with more
    # machines, so past a point only fewer processes per machine (more threads each) helps.
    need = next(
        (
            m
            for m in range(1, 10_000)
            if SOLVER_BYTES_PER_PAIR * rows / (m * cores) / 1e9 + TABLE_COPIES * tables / 1e9
            <= memory_gb / cores
        ),
        None,
    )
    need_one_process = math.ceil(
        SOLVER_BYTES_PER_PAIR * rows / 1e9 / max(memory_gb - TABLE_COPIES * tables / 1e9, 1e-9)
    )
    return {
        "rows": rows,
        "pandas_preprocessing_gb": rows * PANDAS_BYTES_PER_ROW / 1e9,
        "spark_preprocessing_core_h": rows * SPARK_CORE_S_PER_ROW / 3600,
        "tables_gb": tables / 1e9,
        "memory_per_machine_gb": per_process_gb * cores,
        "exchanged_gb_per_sweep_per_process": exchange_gb,
        "network_gb_per_sweep_per_machine": network_gb,
        "sweep_s": compute_s + network_s,
        "sweep_compute_s": compute_s,
        "machines_needed_one_process_per_core": need,
        "machines_needed_one_process_per_machine": need_one_process,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rows", type=float, help="rows (listener, artist, plays); default: the table"
    )
    parser.add_argument("--listeners", type=float, default=120_322)
    parser.add_argument("--artists", type=float, default=3_190_371)
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--cores", type=int, default=1, help="solver processes per machine")
    parser.add_argument("--threads", type=int, default=16, help="torch threads per process")
    parser.add_argument("--memory-gb", type=float, default=128.0, help="per machine")
    parser.add_argument("--factors", type=int, default=128)
    parser.add_argument("--network-gbit", type=float, default=10.0)
    args = parser.parse_args()
    sizes = (
        {"yours": {"rows": args.rows, "listeners": args.listeners, "artists": args.artists}}
        if args.rows
        else DATASETS
    )
    results = {}
    for name, size in sizes.items():
        results[name] = estimate(
            size["rows"], size["listeners"], size["artists"], args.machines, args.cores,
            args.threads, args.memory_gb, args.factors, args.network_gbit,
        )  # fmt: skip
        r = results[name]
        print(
            f"{name}: {r['rows'] / 1e9:.2f} B rows; pandas preprocessing would need "
            f"{r['pandas_preprocessing_gb']:,.0f} GB on one machine, Spark "
            f"{r['spark_preprocessing_core_h']:,.1f} core-hours; factor tables "
            f"{r['tables_gb']:.2f} GB; on {args.machines} machines x {args.cores} process(es) x "
            f"{args.threads} threads: "
            f"{r['memory_per_machine_gb']:,.1f} GB per machine, "
            f"{r['exchanged_gb_per_sweep_per_process']:.2f} GB gathered per process per sweep "
            f"({r['network_gb_per_sweep_per_machine']:.2f} GB over each machine's network link), "
            f"{r['sweep_s']:,.0f} s per sweep; fewest {args.memory_gb:.0f}-GB machines: "
            f"{r['machines_needed_one_process_per_core']} at {args.cores} processes each, "
            f"{r['machines_needed_one_process_per_machine']} at one process each"
        )
    print(
        json.dumps(
            {
                "settings": vars(args),
                **{
                    k: {kk: round(vv, 3) if isinstance(vv, float) else vv for kk, vv in v.items()}
                    for k, v in results.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
