"""`kedro run --env scale` (Last.fm-360K's shape) pipeline by pipeline: wall seconds, peak RSS.

    python benchmarks/scale.py                                   # the full 359 k x 200 k set
    python benchmarks/scale.py --params scale_users=3000,scale_artists=4000 --skip-ratio

The whole set runs at each of ``--threads`` (compute.torch_threads, default 1 then 2), in one
fresh interpreter and one KedroSession, as `kedro run --env scale` runs it: each pipeline's
seconds are its nodes' (each from its first load to its last save), its slowest nodes are
printed, and the session's start-up is ``session_overhead_s``; ``--per-process`` runs each
pipeline in its own interpreter instead, so each peak RSS is its own. Then implicit's ALS
(128 factors, 10 iterations, one thread, the pipeline's confidence and regularisation) is fitted
on the pairs the measured model saw and timed: ``total_over_als_fit``, the whole run's wall time
over that fit's, is the figure that travels between machines. A first run writes the synthetic
raw files before its clock starts (a set a user brings is not generated). ALS and the
generator's own truth (``synthetic.planted_truth``: the best a ranker could do here,
``oracle_ndcg10``) are ranked for the pipeline's sampled listeners beside its NDCG@10;
``topn_recall_vs_exact`` is the run's index_quality.json; the solver's CPU time per sweep
against ALS is measured on the 100 k-listener synthetic (benchmarks/implicit_solver.py). Needs
the bench extra. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, _runtime_params, plain

PIPELINES = ("preprocessing", "tuning", "training", "reporting")
ALS_FACTORS, ALS_ITERATIONS = 128, 10  # the anchor fit: implicit's ALS as the issue sets it
ENV = "scale"

# Pipelines in a fresh interpreter, one KedroSession (`kedro run --env scale --pipelines A,B`):
# prints its CPU seconds, peak RSS and each node's seconds, from its first input's load to its
# last output's save (the sequential runner runs one node at a time, so the spans add up).
_CHILD = """
import json, os, resource, sys, time
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
from kedro.framework.hooks import hook_impl
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
project, env, pipelines, runtime = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
class NodeTimes:
    def __init__(self):
        self.started, self.seconds = {}, {}
    def _start(self, node):
        self.started.setdefault(node.name, (time.perf_counter(), time.process_time()))
    def _stop(self, node):
        wall, cpu = self.started[node.name]
        self.seconds[node.name] = [time.perf_counter() - wall, time.process_time() - cpu]
    @hook_impl
    def before_dataset_loaded(self, dataset_name, node):
        self._start(node)
    @hook_impl
    def before_node_run(self, node):
        self._start(node)
    @hook_impl
    def after_node_run(self, node):
        self._stop(node)
    @hook_impl
    def after_dataset_saved(self, dataset_name, data, node):
        self._stop(node)
times = NodeTimes()
bootstrap_project(project)
with KedroSession.create(project_path=project, env=env, runtime_params=runtime) as session:
    session._hook_manager.register(times)
    session.run(pipeline_names=pipelines.split(","))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_gb": usage.ru_maxrss / 2**20,
                  "nodes": times.seconds}))
"""


def _child(project: Path, runtime: dict, names: tuple[str, ...]) -> dict[str, Any]:
    """One interpreter, one session running ``names``: its figures, and its wall time from the
    interpreter's start (what a user waits for)."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(project), ENV, ",".join(names), json.dumps(runtime)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"wall_s": time.perf_counter() - start}


def _print_row(row: dict[str, Any], peak: bool) -> None:
    memory = f", peak RSS {row['peak_rss_gb']:.2f} GB" if peak else ""
    print(f"{row['pipeline']:>13}: {row['wall_s']:7.1f} s wall, {row['cpu_s']:7.1f} s CPU{memory}",
          flush=True)  # fmt: skip
    slowest = sorted(row["nodes"].items(), key=lambda item: -item[1][0])[:8]
    for node, (wall, cpu) in slowest:
        print(f"{'':>15}{node}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)


def run_pipelines(
    project: Path, runtime: dict, names: tuple[str, ...] = PIPELINES, per_process: bool = False
) -> tuple[list[dict], dict[str, Any]]:
    """(a row per pipeline with its slowest nodes, the whole run: wall, CPU, peak RSS).

    By default one session runs them all, as `kedro run --env scale` does: a pipeline's wall and
    CPU seconds are its nodes' (loads and saves included), and the session's start-up and
    the rest are ``session_overhead_s``. ``per_process``: each in its own interpreter, so each
    peak RSS is its own (and each pays the start-up)."""
    if per_process:
        rows = [{"pipeline": n} | _child(project, runtime, (n,)) for n in names]
        for row in rows:
            _print_row(row, peak=True)
        whole = {k: sum(r[k] for r in rows) for k in ("wall_s", "cpu_s")}
        return rows, whole | {"peak_rss_gb": max(r["peak_rss_gb"] for r in rows)}
    whole = _child(project, runtime, names)
    rows = []
    for name in names:
        nodes = {n: t for n, t in whole["nodes"].items() if n.split(".")[0] == name}
        wall, cpu = (sum(t[i] for t in nodes.values()) for i in (0, 1))
        rows.append({"pipeline": name, "wall_s": wall, "cpu_s": cpu, "nodes": nodes})
        _print_row(rows[-1], peak=False)
    overhead = whole["wall_s"] - sum(r["wall_s"] for r in rows)
    print(f"{'one session':>13}: {whole['wall_s']:7.1f} s wall ({overhead:.1f} s start-up and "
          f"between nodes), peak RSS {whole['peak_rss_gb']:.2f} GB", flush=True)  # fmt: skip
    return rows, whole | {"session_overhead_s": overhead}


def _catalog(project: Path, runtime: dict) -> tuple[dict, dict]:
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=ENV, runtime_params=runtime) as session:
        context = session.load_context()
        names = ("interactions", "id_index", "ranking_metrics", "user_map", "artist_map")
        names += ("implicit_settings", "index_quality")
        data = {n: context.catalog.load(n) for n in names}
        data["synthetic"] = context.catalog.get("user_artists_raw")._describe()["synthetic"]
        return data, plain(context.params)


def write_raw_files(project: Path, runtime: dict) -> float:
    """Seconds to write the synthetic raw files where they are missing, before the clock starts:
    a first run would otherwise generate them inside its first load (46 s of a 574 s run)."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project)
    start = time.perf_counter()
    with KedroSession.create(project_path=project, env=ENV, runtime_params=runtime) as session:
        dataset = session.load_context().catalog.get("user_artists_raw")
        if not dataset.exists():
            dataset.load()  # generates the set (music_recommender.synthetic), then reads it
    return time.perf_counter() - start


def oracle_scorer(truth: Any, user_map: Any, artist_map: Any) -> Any:
    """Scores of the generator's own truth (planted popularity and tastes) for the model's rows."""
    users = np.searchsorted(truth.user_ids, user_map.sort_values("user_index")["user_id"])
    artists = np.searchsorted(truth.artist_ids, artist_map.sort_values("artist_index")["artist_id"])
    table = torch.as_tensor(truth.artist_factors[artists])
    prior = torch.as_tensor(truth.log_popularity[artists], dtype=torch.float32)
    tastes = torch.as_tensor(truth.taste * truth.user_factors[users])
    return lambda batch: torch.addmm(prior, tastes[torch.as_tensor(batch)], table.T)


def als_on_the_same_holdout(project: Path, runtime: dict) -> tuple[dict, float, dict]:
    """({ALS, oracle} NDCG@k and coverage, ALS's fit time, the index's recall}, pipeline NDCG@k,
    data facts) on the scale run's own holdout and sampled listeners.

    ALS is fitted as the anchor the issue names, 128 factors, 10 iterations, one thread, with
    the pipeline's confidence and regularisation, on the pairs the measured model was fitted on
    (``plan_holdout``: the visible pairs), and timed: the run's wall time over that fit's is a
    figure that travels between machines.
    """
    from implicit.cpu.als import AlternatingLeastSquares  # noqa: PLC0415 (bench extra)
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 (installed with scikit-learn)

    from music_recommender.pipelines.ranking_holdout import (  # noqa: PLC0415
        RankingParams,
        holdout_task,
        plan_holdout,
    )
    from music_recommender.pmf.solver import confidence  # noqa: PLC0415
    from music_recommender.synthetic import planted_truth  # noqa: PLC0415

    data, params = _catalog(project, runtime)
    recommending = params["training"]["recommending"]
    ranking = RankingParams(**recommending["ranking"])
    implicit = data["implicit_settings"]  # what the pipeline's model was fitted with
    _, seen, held_out, plan = plan_holdout(data["interactions"], data["id_index"], ranking)
    n_users, n_items = data["id_index"]["n_users"], data["id_index"]["n_items"]
    task = holdout_task(seen, held_out, data["id_index"])
    conf = confidence(task.users, task.plays, implicit["alpha"], implicit["plays_scale"]).numpy()
    matrix = sp.csr_matrix(
        (conf - 1.0, (task.users, task.items)), shape=(n_users, n_items), dtype=np.float32
    )
    model = AlternatingLeastSquares(
        factors=ALS_FACTORS,
        regularization=implicit["reg"],
        alpha=1.0,
        iterations=ALS_ITERATIONS,
        random_state=0,
        num_threads=1,
    )
    with threadpool_limits(limits=1):
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(matrix, show_progress=False)
        als_wall, als_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"implicit's ALS fit ({ALS_FACTORS} factors, {ALS_ITERATIONS} iterations, one thread): "
          f"{als_wall:.1f} s wall, {als_cpu:.1f} s CPU", flush=True)  # fmt: skip
    users_f, items_f = torch.as_tensor(model.user_factors), torch.as_tensor(model.item_factors)
    sample = ranking.sample_users(n_users)  # the listeners the pipeline ranked for
    budget = recommending["recommend"]["memory_budget_mb"]
    als = task.evaluate(
        lambda b: users_f[torch.as_tensor(b)] @ items_f.T, ranking.k, budget, sample
    )
    truth = planted_truth(**data["synthetic"])
    oracle = task.evaluate(
        oracle_scorer(truth, data["user_map"], data["artist_map"]), ranking.k, budget, sample
    )
    key = f"ndcg@{ranking.k}"
    facts = {"rows": len(data["interactions"]), "users": n_users, "artists": n_items}
    pipeline = data["ranking_metrics"]["models"]["implicit"]
    index = data["index_quality"]
    anchors = {
        "als_ndcg10": als[key],
        "oracle_ndcg10": oracle[key],
        "oracle_coverage": oracle["coverage"],
        "coverage": pipeline["coverage"],
        "als_fit_s": als_wall,
        "als_fit_cpu_s": als_cpu,
        "topn_recall_vs_exact": index.get("recall@10"),
        "similar_recall_vs_exact": index.get("similar_recall@10"),
        "protocol": plan["protocol"],
    }
    return anchors, pipeline[key], facts


def solver_ratio() -> float:
    """CPU per sweep, ours / ALS, at 100 k x 59 k (benchmarks/implicit_solver.py, one process)."""
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("implicit_solver.py")),
            "--users",
            "100000",
            "--artists",
            "59000",
            "--repeats",
            "1",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print(out.strip().splitlines()[-2])
    return json.loads(out.strip().splitlines()[-1])["implicit_sweep_cpu_ratio_vs_als"]


def run_once(args: argparse.Namespace, threads: int) -> dict[str, Any]:
    """The pipelines at ``threads`` torch threads, then the anchors; the figures as a dict."""
    runtime = _runtime_params(None, args.params) | {"compute.torch_threads": threads}
    print(f"--- compute.torch_threads={threads}", flush=True)
    if "preprocessing" in args.pipelines.split(","):
        print(f"raw files ready in {write_raw_files(args.project, runtime):.1f} s", flush=True)
    rows, whole = run_pipelines(
        args.project, runtime, tuple(args.pipelines.split(",")), args.per_process
    )
    anchors, ndcg, facts = als_on_the_same_holdout(args.project, runtime)
    print(
        f"NDCG@10 on the scale holdout ({anchors['protocol']}): implicit PMF {ndcg:.4f}, "
        f"implicit's ALS {anchors['als_ndcg10']:.4f}, the generator's truth "
        f"{anchors['oracle_ndcg10']:.4f} (ours / truth {ndcg / anchors['oracle_ndcg10']:.2f})",
        flush=True,
    )
    total = whole["wall_s"]
    nodes = {node: times for r in rows for node, times in r["nodes"].items()}
    fit = nodes.get("training.recommending.fit_implicit_model")  # [wall, CPU] of our fit
    return {
        **facts,
        "threads": threads,
        "total_s": round(total, 1),
        "total_cpu_s": round(whole["cpu_s"], 1),
        "peak_rss_gb": round(whole["peak_rss_gb"], 2),
        "session_overhead_s": round(whole["session_overhead_s"], 1)
        if "session_overhead_s" in whole
        else None,
        "total_over_als_fit": round(total / anchors["als_fit_s"], 2),
        # Our shipped fit's CPU over ALS's at the full shape (our settings as tuned: factors may
        # differ from ALS's 128; the sweep-for-sweep comparison is implicit_solver.py's).
        "implicit_fit_cpu_s": round(fit[1], 1) if fit else None,
        "implicit_fit_cpu_over_als": round(fit[1] / anchors["als_fit_cpu_s"], 2) if fit else None,
        "ndcg10": round(ndcg, 4),
        **{
            name: round(value, 4) if isinstance(value, float) else value
            for name, value in anchors.items()
        },
        "ndcg10_over_oracle": round(ndcg / anchors["oracle_ndcg10"], 3),
        **{
            f"{r['pipeline']}_s": round(r["wall_s"], 1)
            for r in rows
            if r["pipeline"] in ("tuning", "training")
        },
        "pipelines": {r["pipeline"]: round(r["wall_s"], 1) for r in rows},
        "slowest_nodes": {
            node: round(wall, 1)
            for r in rows
            for node, (wall, _) in sorted(r["nodes"].items(), key=lambda i: -i[1][0])[:5]
        },
    }


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT, help="project folder")
    parser.add_argument("--params", default="", help='runtime parameters, "k=v,..."')
    parser.add_argument("--skip-ratio", action="store_true", help="skip the 100 k solver timing")
    parser.add_argument(
        "--pipelines",
        default=",".join(PIPELINES),
        help="which pipelines to run, in order (default: all; the data must exist for the rest)",
    )
    parser.add_argument(
        "--per-process",
        action="store_true",
        help="each pipeline in its own interpreter (its own peak RSS) instead of one session",
    )
    parser.add_argument(
        "--threads",
        default="1,2",
        help="torch thread counts to run the whole set at, in order (default: 1,2)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [run_once(args, int(t)) for t in args.threads.split(",")]
    ratio = None if args.skip_ratio else solver_ratio()
    first = runs[0]
    print(
        json.dumps(
            first
            | {"implicit_sweep_cpu_ratio_vs_als": ratio}
            | {"by_threads": {str(r["threads"]): r for r in runs}}
        )
    )


if __name__ == "__main__":
    main()
