"""What else might lift the implicit PMF's top-10 ranking: each idea measured on validation only.

    python benchmarks/ranking_explore.py [RAW_DIR] [--seeds 0 1 2]

The protocol of ``ranking_quality.py`` (per-listener holdouts, top 10 of the unplayed artists,
128 factors), but only its validation holdout: the ideas are judged where a choice may be made,
never on test. Each row is the validation NDCG@10 of one change next to this project's PMF at
conf/base's settings; blends add per-listener z-scored scores of tuned models. The last line is
one JSON object (medians over seeds of each row's change, in percent).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ranking_quality as rq
from _common import add_compute_arguments, add_project_arguments, model_input

from music_recommender.pmf import implicit_feedback, solver
from music_recommender.pmf.ranking import HoldoutTask, factor_scorer

BASE = rq.FIRST["ours"]  # conf/base: alpha, reg, frequency_reg, bias_reg, confidence
Scorer = Callable[[np.ndarray], torch.Tensor]


def zscored(scorer: Scorer) -> Scorer:
    """Scores standardised per listener, so two models' scores can be added."""

    def score(batch: np.ndarray) -> torch.Tensor:
        x = scorer(batch)
        return (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp_min(1e-9)

    return score


def blend(parts: list[tuple[float, Scorer]]) -> Scorer:
    """A weighted sum of z-scored scorers."""
    scorers = [(w, zscored(s)) for w, s in parts]
    return lambda batch: sum(w * s(batch) for w, s in scorers)


def tuned(val: HoldoutTask, name: str) -> Scorer:
    """One of ranking_quality.py's models at its search's first point (its earlier grid's best:
    the searches kept it for this model and iALS), fitted on val."""
    return rq.MODELS[name](val, rq.FIRST[name], 128, 0)


def _pairs(val: HoldoutTask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return val.users, val.items, val.plays


def user_knn(val: HoldoutTask, k: int = 50, power: float = 2.0) -> Scorer:
    """Listener-based neighbours on log plays (cosine, top k, sharpened by ``power``)."""
    x = torch.zeros(val.n_users, val.n_items)
    x[val.users, val.items] = torch.as_tensor(np.log1p(val.plays), dtype=torch.float32)
    norm = x.norm(dim=1, keepdim=True).clamp_min(1e-9)
    sim = (x @ x.T) / (norm @ norm.T)
    sim.fill_diagonal_(0)
    top = sim.topk(k, dim=1)
    scores = torch.zeros_like(sim).scatter_(1, top.indices, top.values.clamp_min(0) ** power) @ x
    return lambda batch: scores[torch.as_tensor(batch)]


def activity_negatives(val: HoldoutTask, gamma: float) -> Scorer:
    """conf/base's PMF with each listener's unplayed pairs weighted ~ (their artists) ** gamma."""
    config = solver.ImplicitConfig(n_factors=128, seed=0)
    users, items, plays = _pairs(val)
    conf = solver.confidence(users, plays, config.alpha, config.plays_scale)
    counts_u = np.bincount(users, minlength=val.n_users)
    weight_u = torch.as_tensor(np.maximum(counts_u, 1), dtype=torch.float32) ** gamma
    weight_u *= val.n_users / weight_u.sum()
    weight_i = torch.ones(val.n_items)
    device = torch.device("cpu")
    torch.manual_seed(config.seed)
    user = solver.initial_rows(val.n_users, config, device)
    item = solver.initial_rows(val.n_items, config, device)
    reg_u = solver.regularisation(config, device, counts_u)
    reg_i = solver.regularisation(config, device, np.bincount(items, minlength=val.n_items))
    by_user = solver.PlayedPairs.build(users, items, conf, weight_u, weight_i)
    by_item = solver.PlayedPairs.build(items, users, conf, weight_i, weight_u)
    for _ in range(config.iterations):
        user = solver.sweep(user, item, by_user, reg_u, config, (weight_u, weight_i))
        item = solver.sweep(item, user, by_item, reg_i, config, (weight_i, weight_u))
    model = config.build(val.n_users, val.n_items)
    implicit_feedback.store(model, user, item, config)
    return factor_scorer(model)


def rank_confidence(val: HoldoutTask, alpha: float) -> Scorer:
    """Confidence 1 + alpha x (the pair's play rank within the listener, as a share)."""
    share = pd.Series(val.plays).groupby(val.users).rank(pct=True).to_numpy()
    setting = BASE | {"alpha": alpha, "scale": rq.RAW}  # raw: log1p(expm1(share)) = share
    return rq.ours(dataclasses.replace(val, plays=np.expm1(share)), setting, 128, 0)


def ideas(val: HoldoutTask) -> dict[str, Scorer]:
    """Every change tried, by name."""
    seeds = [rq.ours(val, BASE, 128, s) for s in range(3)]
    ials, ease = tuned(val, "ials"), tuned(val, "ease")
    return {
        "base": seeds[0],
        "3 seeds averaged": blend([(1.0, s) for s in seeds]),
        "+ tuned iALS (0.3)": blend([(0.7, seeds[0]), (0.3, ials)]),
        "3 seeds + tuned iALS (0.3)": blend([(0.7 / 3, s) for s in seeds] + [(0.3, ials)]),
        "+ tuned EASE^R (0.2)": blend([(0.8, seeds[0]), (0.2, ease)]),
        "+ user-KNN (0.2)": blend([(0.8, seeds[0]), (0.2, user_knn(val))]),
        "unplayed weight ~ activity^-0.5": activity_negatives(val, -0.5),
        "unplayed weight ~ activity^0.5": activity_negatives(val, 0.5),
        "rank confidence (alpha 20)": rank_confidence(val, 20.0),
        "rank confidence (alpha 40)": rank_confidence(val, 40.0),
        "512 factors": rq.ours(val, BASE, 512, 0),
    }


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_project_arguments(parser)
    add_compute_arguments(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, _ = model_input(args)
    inter = data["interactions"]
    u, i, w = (inter[c].to_numpy() for c in ("user_index", "artist_index", "weight"))
    n_users, n_items = data["id_index"]["n_users"], data["id_index"]["n_items"]
    gains: dict[str, list[float]] = {}
    for seed in args.seeds:
        test = HoldoutTask.split(u, i, w, 0.2, seed, n_users, n_items)
        val = HoldoutTask.split(
            test.users, test.items, test.plays, 0.2, seed + 1000, n_users, n_items
        )
        found = {n: val.evaluate(s, rq.K, rq.BUDGET_MB) for n, s in ideas(val).items()}
        base = found["base"][f"ndcg@{rq.K}"]
        for name, m in found.items():
            gains.setdefault(name, []).append(100 * (m[f"ndcg@{rq.K}"] / base - 1))
            print(
                f"seed {seed} | {name} | NDCG@10 {m[f'ndcg@{rq.K}']:.4f} | coverage "
                f"{m['coverage']:.3f} | {gains[name][-1]:+.1f} %",
                flush=True,
            )
    print(json.dumps({n: round(statistics.median(g), 2) for n, g in gains.items()}))


if __name__ == "__main__":
    main()
