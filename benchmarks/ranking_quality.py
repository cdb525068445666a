"""Top-10 ranking on equal footing: this project's implicit PMF against tuned EASE^R, iALS and ALS.

    python benchmarks/ranking_quality.py [RAW_DIR] [--factors 64 128 256] [--holdout 0.3]
        [--seeds 0 1 2] [--env ENV] [--params "k=v,..."]

The data comes through the project's preprocessing pipeline in a KedroSession (RAW_DIR defaults
to the catalog's raw_data_dir). Protocol: per seed, a random share (--holdout, 20 %) of each
listener's artists is the test holdout; every artist the listener did not play in training is
ranked; top 10. Every model picks its settings on a validation holdout cut the same way from the
training part, then is refitted on all of it; the test holdout is never used for a choice. Each
keeps the validation-best setting among those whose validation top-10 lists cover at least 30 %
of the artists (the best overall when none does).

Every factor model gets the same number of factors (--factors, default 128; several = a sweep)
and a grid of 12 settings; every model is offered the same confidences of a played pair: the
raw log (1 + a log1p(plays)) and the per-listener median (1 + a log1p(plays / median)), and
binary where the model is defined on it:
- this project's PMF, implicit objective (biases, 10 sweeps, 3 CG steps): alpha, L2, the
  frequency-scaled L2 (`frequency_reg`) and the bias L2;
- iALS (Rendle et al. 2022: uniform weight alpha0 on unplayed pairs, L2 scaled by each row's
  frequency; 12 sweeps of 4 CG steps): alpha0 x lambda x {binary, listener median};
- implicit's ALS (15 iterations): alpha x regularisation x {raw log, listener median};
- EASE^R: lambda x {binary, listener median};
plus the rating PMF (the `model` recipe), popularity and random. Fit CPU seconds are those of
the final refit (one thread, `time.process_time`). The last line is one JSON object of medians
over seeds (the first factor size).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _anchors import fit_als, fit_ease, fit_ials, weights
from _common import add_compute_arguments, add_project_arguments, model_input, set_threads

from music_recommender.pmf import (
    ImplicitConfig,
    ImplicitRecommender,
    RatingRecommender,
    Ratings,
    Recipe,
)
from music_recommender.pmf.ranking import HoldoutTask, popularity_scorer
from music_recommender.pmf.scaling import RatingScaler

K = 10
MIN_COVERAGE = 0.30
BUDGET_MB = 256.0
UM, RAW, BIN = "user_median", "raw", "binary"
# (alpha, reg, frequency_reg, bias_reg, confidence)
OURS = [
    (20, 40, 0.0, 10, UM), (10, 40, 0.0, 10, UM), (40, 40, 0.0, 10, UM), (20, 30, 0.0, 10, UM),
    (30, 60, 0.0, 1000, UM), (30, 60, 0.3, 1000, UM), (20, 40, 0.3, 1000, UM),
    (20, 10, 1.0, 10, UM), (10, 40, 0.0, 10, RAW), (20, 40, 0.0, 10, RAW),
    (30, 60, 0.3, 1000, RAW), (10, 20, 0.0, 10, RAW),
]  # fmt: skip
# (alpha0, lambda, confidence); the listener-median confidence uses alpha 2
IALS = [(a0, lam, c) for a0 in (0.03, 0.1, 0.3) for lam in (0.01, 0.03) for c in (BIN, UM)]
# (alpha, regularisation, confidence)
ALS = [(a, r, c) for a in (1.0, 10.0) for r in (1.0, 10.0, 100.0) for c in (RAW, UM)]
# (lambda, confidence)
EASE = [(lam, c) for lam in (50, 100, 200, 500, 1000, 2000) for c in (BIN, UM)]

Fitter = Callable[..., Callable[[np.ndarray], torch.Tensor]]


def ours(u, i, w, n_users, n_items, setting, factors, seed):
    """This project's PMF with the implicit objective."""
    alpha, reg, frequency_reg, bias_reg, scale = setting
    config = ImplicitConfig(
        n_factors=factors,
        alpha=float(alpha),
        reg=float(reg),
        frequency_reg=float(frequency_reg),
        bias_reg=float(bias_reg),
        iterations=10,
        seed=seed,
        plays_scale=scale,
    )
    return ImplicitRecommender(config).fit(u, i, w, n_users, n_items).scorer()


def ials(u, i, w, n_users, n_items, setting, factors, seed):
    """iALS with frequency-scaled L2."""
    alpha0, lam, scale = setting
    value = weights(u, w, 2.0, scale)
    return fit_ials(
        u, i, value, n_users, n_items, factors=factors, lam=lam, alpha0=alpha0, sweeps=12, seed=seed
    )


def als(u, i, w, n_users, n_items, setting, factors, seed):
    """implicit's ALS."""
    alpha, reg, scale = setting
    value = weights(u, w, alpha, scale) - 1.0
    return fit_als(u, i, value, n_users, n_items, factors=factors, reg=reg, sweeps=15, seed=seed)


def ease(u, i, w, n_users, n_items, setting, factors, seed):
    """EASE^R (no factors)."""
    lam, scale = setting
    return fit_ease(u, i, weights(u, w, 1.0, scale), n_users, n_items, lam)


MODELS: dict[str, tuple[Fitter, list]] = {
    "ours": (ours, OURS),
    "ials": (ials, IALS),
    "als": (als, ALS),
    "ease": (ease, EASE),
}
LABELS = {
    "random": "random",
    "popularity": "most popular",
    "rating": "PMF, rating objective (the model recipe)",
    "ease": "EASE^R (tuned)",
    "als": "implicit's ALS (tuned)",
    "ials": "iALS, frequency-scaled L2 (tuned)",
    "ours": "PMF, implicit objective (tuned)",
}
ANCHORS = ("ease", "als", "ials")


def tune_and_fit(name, val, test, factors, seed) -> dict[str, Any]:
    """Pick the setting on validation, refit on the whole training part, score on test."""
    fitter, grid = MODELS[name]
    shape = (test.n_users, test.n_items)
    tried = []
    for setting in grid:
        scorer = fitter(val.users, val.items, val.plays, *shape, setting, factors, seed)
        m = val.evaluate(scorer, K, BUDGET_MB)
        tried.append((m["coverage"] >= MIN_COVERAGE, m[f"ndcg@{K}"], setting))
    _, val_ndcg, best = max(tried, key=lambda t: (t[0], t[1]))
    start = time.process_time()
    scorer = fitter(test.users, test.items, test.plays, *shape, best, factors, seed)
    seconds = time.process_time() - start
    m = test.evaluate(scorer, K, BUDGET_MB)
    print(  # a line per model: the grids take minutes
        f"seed {seed}, {factors} factors, {name}: best of {len(grid)} on validation {best} "
        f"(NDCG@{K} {val_ndcg:.4f}); test NDCG@{K} {m[f'ndcg@{K}']:.4f}",
        flush=True,
    )
    return {**m, "fit_cpu_s": seconds, "setting": list(best)}


def baselines(val, test, params, seed) -> dict[str, dict]:
    """The rating PMF, popularity and random on the same holdout."""
    u, i, w = val.users, val.items, val.plays
    vu, vi, vw = val.held_out
    scaler = RatingScaler.fit(w, params["preprocessing"]["normalisation"])
    recipe = Recipe.from_dict(params["model"]).replace(seed=seed, device="cpu")
    start = time.process_time()
    train = Ratings.from_arrays(u, i, scaler.transform(w))
    valid = Ratings.from_arrays(vu, vi, scaler.transform(vw))
    rec = RatingRecommender(recipe).fit(train, valid, test.n_users, test.n_items)
    rating = {
        **test.evaluate(rec.scorer(), K, BUDGET_MB),
        "fit_cpu_s": time.process_time() - start,
    }
    generator = torch.Generator().manual_seed(seed)
    return {
        "rating": rating,
        "popularity": {
            **test.evaluate(popularity_scorer(test.items, test.n_items), K, BUDGET_MB),
            "fit_cpu_s": 0.0,
        },
        "random": {
            **test.evaluate(
                lambda b: torch.rand(len(b), test.n_items, generator=generator), K, BUDGET_MB
            ),
            "fit_cpu_s": 0.0,
        },
    }


def one_seed(data, params, seed, factor_sizes, holdout) -> dict[int, dict[str, dict]]:
    """Every model at every factor size on one holdout (EASE once: it has no factors)."""
    inter = data["interactions"]
    u, i, w = (inter[c].to_numpy() for c in ("user_index", "artist_index", "weight"))
    n_users, n_items = data["id_index"]["n_users"], data["id_index"]["n_items"]
    test = HoldoutTask.split(u, i, w, holdout, seed, n_users, n_items)
    val = HoldoutTask.split(
        test.users, test.items, test.plays, holdout, seed + 1000, n_users, n_items
    )
    shared = baselines(val, test, params, seed) | {"ease": tune_and_fit("ease", val, test, 0, seed)}
    return {
        f: shared | {n: tune_and_fit(n, val, test, f, seed) for n in ("ours", "ials", "als")}
        for f in factor_sizes
    }


def summary(runs: list[dict[str, dict]]) -> dict[str, dict[str, float]]:
    """Medians over seeds of each model's metrics."""
    cols = [f"precision@{K}", f"recall@{K}", f"ndcg@{K}", f"map@{K}", "coverage", "fit_cpu_s"]
    return {n: {c: statistics.median(r[n][c] for r in runs) for c in cols} for n in LABELS}


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_project_arguments(parser)
    add_compute_arguments(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--factors", type=int, nargs="+", default=[128])
    parser.add_argument(
        "--holdout", type=float, default=0.2, help="share of each listener's artists"
    )
    args = parser.parse_args()
    data, params = model_input(args)
    set_threads(args, params)
    runs = [one_seed(data, params, s, args.factors, args.holdout) for s in args.seeds]
    for factors in args.factors:
        med = summary([r[factors] for r in runs])
        cols = list(next(iter(med.values())))
        print(f"\n{factors} factors, holdout {args.holdout:.0%}, seeds {args.seeds} (medians)")
        print(f"| model | {' | '.join(cols)} |\n|" + " --- |" * (len(cols) + 1))
        for n, label in LABELS.items():
            print(f"| {label} | " + " | ".join(f"{med[n][c]:.3f}" for c in cols) + " |")
        for n in ("ours", *ANCHORS):
            print(f"{n}: settings per seed: {[r[factors][n]['setting'] for r in runs]}")
    med = summary([r[args.factors[0]] for r in runs])
    anchor = max(ANCHORS, key=lambda n: med[n][f"ndcg@{K}"])
    print(
        json.dumps(
            {
                "ndcg10": round(med["ours"][f"ndcg@{K}"], 4),
                "best_anchor": anchor,
                "best_anchor_ndcg10": round(med[anchor][f"ndcg@{K}"], 4),
                "coverage": round(med["ours"]["coverage"], 4),
                "fit_cpu_s": round(med["ours"]["fit_cpu_s"], 3),
                "best_anchor_fit_cpu_s": round(med[anchor]["fit_cpu_s"], 3),
                "factors": args.factors[0],
                "holdout": args.holdout,
            }
        )
    )


if __name__ == "__main__":
    main()
