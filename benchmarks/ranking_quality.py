"""Top-10 ranking: this project's implicit PMF, its explicit PMF, popularity and implicit's ALS.

    python benchmarks/ranking_quality.py [RAW_DIR] [--env ENV] [--params "k=v,..."]

The data comes through the project's preprocessing pipeline in a KedroSession (RAW_DIR defaults
to the catalog's raw_data_dir); the rating model's recipe is the `model` parameters.

Protocol: artists with >= 5 listeners; per seed, a random 20 % of each user's artists is the test
holdout; every artist the user did not play in training is ranked; top 10. Both implicit-feedback
models pick their hyper-parameters on a validation holdout cut the same way from the training
part, then are refitted on all of it; the test holdout is never used for a choice.
- implicit's ALS: 64 factors, 15 iterations, confidence 1 + alpha * log1p(plays),
  alpha in {1, 10} x regularisation in {0.1, 1, 10, 100}.
- this project's PMF, implicit objective: 128 factors, 10 sweeps, biases, confidence
  1 + alpha * log1p(plays / the listener's median plays), alpha in {10, 20, 40} x L2 in {30, 40}.
Each model keeps the validation-best setting among those whose validation top-10 lists cover at
least 30 % of the artists (the best overall when none does).
Seeds 0, 1, 2; the last line is one JSON object of medians.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_compute_arguments, add_project_arguments, model_input, set_threads

from music_recommender.pmf import PMF, Ratings, fit
from music_recommender.pmf.implicit import ImplicitConfig, fit_implicit
from music_recommender.pmf.ranking import HoldoutTask, factor_scorer, popularity_scorer
from music_recommender.pmf.recipe import Recipe
from music_recommender.scaling import RatingScaler

ALS_GRID = list(itertools.product([1.0, 10.0], [0.1, 1.0, 10.0, 100.0]))
OUR_GRID = list(itertools.product([10.0, 20.0, 40.0], [30.0, 40.0]))
MIN_COVERAGE = 0.30
K = 10
FACTORS = 64
OUR_FACTORS = 128
SWEEPS = 15
OUR_SWEEPS = 10
BUDGET_MB = 256.0


def fit_ours(u, i, w, n_users, n_items, alpha, reg, seed) -> tuple[PMF, float]:
    """This project's PMF with the implicit objective."""
    start = time.perf_counter()
    config = ImplicitConfig(
        n_factors=OUR_FACTORS,
        alpha=alpha,
        reg=reg,
        bias_reg=10.0,
        iterations=OUR_SWEEPS,
        seed=seed,
        plays_scale="user_median",
    )
    model = config.build(n_users, n_items)
    fit_implicit(model, u, i, w, config)
    return model, time.perf_counter() - start


def fit_als(u, i, w, n_users, n_items, alpha, reg, seed):
    """implicit's ALS with confidence 1 + alpha * log1p(plays)."""
    from implicit.cpu.als import AlternatingLeastSquares  # noqa: PLC0415 (benchmark-only dependency)

    matrix = sp.csr_matrix((np.log1p(w).astype(np.float32), (u, i)), shape=(n_users, n_items))
    model = AlternatingLeastSquares(
        factors=FACTORS,
        regularization=reg,
        alpha=alpha,
        iterations=SWEEPS,
        random_state=seed,
        calculate_training_loss=False,
    )
    start = time.perf_counter()
    model.fit(matrix, show_progress=False)
    seconds = time.perf_counter() - start
    users, items = torch.as_tensor(model.user_factors), torch.as_tensor(model.item_factors)
    return (lambda batch: users[torch.as_tensor(batch)] @ items.T), seconds


def fit_explicit(u, i, w, vu, vi, vw, n_users, n_items, seed, params) -> tuple[PMF, float]:
    """The rating model (the `model` recipe, the run's normalisation), trained on played pairs only."""
    scaler = RatingScaler.fit(w, params["preprocessing"]["normalisation"])
    recipe = Recipe.from_dict(params["model"]).replace(seed=seed, device="cpu")
    start = time.perf_counter()
    model = recipe.build(n_users, n_items)
    fit(
        model,
        Ratings.from_arrays(u, i, scaler.transform(w)),
        Ratings.from_arrays(vu, vi, scaler.transform(vw)),
        recipe.train,
    )
    return model, time.perf_counter() - start


def _scorer(fitted):
    return factor_scorer(fitted) if isinstance(fitted, PMF) else fitted


def one_seed(data: dict, params: dict, seed: int) -> dict[str, dict]:
    """All models on one holdout."""
    interactions = data["interactions"]
    users = interactions["user_index"].to_numpy()
    items = interactions["artist_index"].to_numpy()
    plays = interactions["weight"].to_numpy()
    n_users, n_items = data["id_index"]["n_users"], data["id_index"]["n_items"]
    test = HoldoutTask.split(users, items, plays, 0.2, seed, n_users, n_items)
    tu, ti, tw = test.users, test.items, test.plays
    # Validation: the same cut inside the training part; the test holdout is never looked at.
    val = HoldoutTask.split(tu, ti, tw, 0.2, seed + 1000, n_users, n_items)
    fu, fi, fw = val.users, val.items, val.plays

    out: dict[str, dict] = {}
    for name, fitter, grid in (("ours", fit_ours, OUR_GRID), ("als", fit_als, ALS_GRID)):
        tried = []
        for alpha, reg in grid:
            fitted, _ = fitter(fu, fi, fw, n_users, n_items, alpha, reg, seed)
            m = val.evaluate(_scorer(fitted), K, BUDGET_MB)
            tried.append((m["coverage"] >= MIN_COVERAGE, m[f"ndcg@{K}"], alpha, reg))
        best = max(tried)
        best = (best[1], best[2], best[3])
        print(  # a line per phase: the grid takes minutes
            f"seed {seed}, {name}: {len(grid)} settings tried on validation, best "
            f"alpha {best[1]:g}, reg {best[2]:g} (NDCG@{K} {best[0]:.4f}); refitting on train",
            flush=True,
        )
        fitted, seconds = fitter(tu, ti, tw, n_users, n_items, best[1], best[2], seed)
        out[name] = {
            **test.evaluate(_scorer(fitted), K, BUDGET_MB),
            "fit_s": seconds,
            "alpha": best[1],
            "reg": best[2],
        }
    explicit, seconds = fit_explicit(fu, fi, fw, *val.held_out, n_users, n_items, seed, params)
    out["explicit"] = {**test.evaluate(factor_scorer(explicit), K, BUDGET_MB), "fit_s": seconds}
    out["popularity"] = {
        **test.evaluate(popularity_scorer(ti, n_items), K, BUDGET_MB),
        "fit_s": 0.0,
    }
    generator = torch.Generator().manual_seed(seed)
    out["random"] = {
        **test.evaluate(
            lambda batch: torch.rand(len(batch), n_items, generator=generator), K, BUDGET_MB
        ),
        "fit_s": 0.0,
    }
    return out


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_project_arguments(parser)
    add_compute_arguments(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    data, params = model_input(args)
    set_threads(args, params)
    runs = [one_seed(data, params, seed) for seed in args.seeds]
    names = ["random", "popularity", "explicit", "als", "ours"]
    labels = {
        "random": "random",
        "popularity": "most popular",
        "explicit": "PMF, rating objective (the model recipe)",
        "als": "implicit ALS (tuned on validation)",
        "ours": "PMF, implicit objective (tuned on validation)",
    }
    cols = [f"precision@{K}", f"recall@{K}", f"ndcg@{K}", f"map@{K}", "coverage", "fit_s"]
    print(f"| model | {' | '.join(cols)} |")
    print("|" + " --- |" * (len(cols) + 1))
    med = {n: {c: statistics.median(r[n][c] for r in runs) for c in cols} for n in names}
    for n in names:
        print(f"| {labels[n]} | " + " | ".join(f"{med[n][c]:.3f}" for c in cols) + " |")
    for n in ("ours", "als"):
        print(f"{n}: chosen (alpha, reg) per seed: {[(r[n]['alpha'], r[n]['reg']) for r in runs]}")
    print(
        json.dumps(
            {
                "ndcg10": round(med["ours"][f"ndcg@{K}"], 4),
                "als_ndcg10": round(med["als"][f"ndcg@{K}"], 4),
                "pop_ndcg10": round(med["popularity"][f"ndcg@{K}"], 4),
                "coverage": round(med["ours"]["coverage"], 4),
                "fit_s": round(med["ours"]["fit_s"], 3),
                "als_fit_s": round(med["als"]["fit_s"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
