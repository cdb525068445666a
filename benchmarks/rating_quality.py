"""Rating prediction: this project's PMF (conf/base recipe) against Surprise's SVD, or cost at scale.

    python benchmarks/rating_quality.py [RAW_DIR] [--env ENV] [--params "k=v,..."]
    python benchmarks/rating_quality.py --scale 100000 1000000 10000000

Quality: the preprocessing pipeline run in a KedroSession (RAW_DIR defaults to the catalog's
raw_data_dir; conf/base: log_zscore ratings, artists with >= 5 listeners, the seeded 70/10/20
split), the `model` recipe, model seeds 0, 1, 2. PMF trains on train with early stopping on validation; SVD
(n_factors=40, lr_all=0.005, reg_all=0.05, n_epochs=40) trains on train. Both are timed from
frames to fitted model. The last line is one JSON object of medians over seeds.

Scale: one epoch of the base recipe on N synthetic ratings per size, each in a fresh process,
printing seconds and peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    add_compute_arguments,
    add_project_arguments,
    competing,
    model_input,
    parameters,
    set_threads,
)

from music_recommender.pipelines.model_input import to_ratings
from music_recommender.pmf import RatingRecommender, Ratings, evaluate, fit
from music_recommender.pmf.baselines import mse
from music_recommender.pmf.recipe import Recipe

SEEDS = (0, 1, 2)


def fit_pmf(data: dict, model_params: dict, seed: int) -> tuple[float, float]:
    """(test MSE, seconds) for the `model` recipe."""
    train, validation, test = (data[f"{p}_ratings"] for p in ("train", "validation", "test"))
    recipe = Recipe.from_dict(model_params).replace(seed=seed, device="cpu")
    start = time.perf_counter()
    shape = data["id_index"]
    rec = RatingRecommender(recipe).fit(
        to_ratings(train), to_ratings(validation), shape["n_users"], shape["n_items"]
    )
    seconds = time.perf_counter() - start
    return evaluate(rec.fitted, to_ratings(test)), seconds


def fit_svd(train, test, seed: int) -> tuple[float, float]:
    """(test MSE, seconds) for Surprise's SVD with the issue's settings."""
    from surprise import SVD, Dataset, Reader  # noqa: PLC0415 (benchmark-only dependency)

    start = time.perf_counter()
    reader = Reader(rating_scale=(float(train["rating"].min()), float(train["rating"].max())))
    trainset = Dataset.load_from_df(
        train[["user_index", "artist_index", "rating"]], reader
    ).build_full_trainset()
    algo = SVD(n_factors=40, lr_all=0.005, reg_all=0.05, n_epochs=40, random_state=seed)
    algo.fit(trainset)
    seconds = time.perf_counter() - start
    pred = [
        algo.predict(u, i, clip=False).est
        for u, i in zip(test["user_index"], test["artist_index"], strict=True)
    ]
    return mse(np.array(pred), test["rating"].to_numpy()), seconds


def quality(args: argparse.Namespace) -> dict[str, float]:
    """Print the side-by-side table; return the medians."""
    data, params = model_input(args)
    threads = set_threads(args, params)
    train, validation, test = (data[f"{p}_ratings"] for p in ("train", "validation", "test"))
    print(
        f"data: {len(train):,} train / {len(validation):,} validation / {len(test):,} test "
        f"ratings ({data['rating_scaler']['method']})"
    )
    print(f"{'seed':>4} {'pmf mse':>9} {'svd mse':>9} {'pmf s':>7} {'svd s':>7}")
    print(f"torch threads: {threads}; competing CPU-bound processes: {args.compete}")
    rows = []
    for seed in SEEDS:
        with competing(args.compete):
            pmf_mse, pmf_s = fit_pmf(data, params["model"], seed)
            svd_mse, svd_s = fit_svd(train, test, seed)
        rows.append((pmf_mse, svd_mse, pmf_s, svd_s))
        print(f"{seed:>4} {pmf_mse:9.4f} {svd_mse:9.4f} {pmf_s:7.2f} {svd_s:7.2f}")
    med = [statistics.median(col) for col in zip(*rows, strict=True)]
    return {
        "pmf_test_mse": round(med[0], 4),
        "svd_test_mse": round(med[1], 4),
        "mse_ratio": round(med[0] / med[1], 4),
        "pmf_fit_s": round(med[2], 3),
        "svd_fit_s": round(med[3], 3),
        "time_ratio": round(med[2] / med[3], 3),
        "threads": threads,
        "competing_processes": args.compete,
    }


def one_scale(n: int, model_params: dict) -> dict[str, float]:
    """One epoch on ``n`` synthetic ratings (run in its own process for a clean memory peak)."""
    rng = np.random.default_rng(0)
    n_users = max(100, n // 50)
    n_items = max(100, int(np.sqrt(n) * 5))
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    users = rng.integers(0, n_users, n)
    items = rng.choice(n_items, n, p=popularity / popularity.sum())
    targets = rng.normal(0, 1, n).astype(np.float32)
    data = Ratings.from_arrays(users, items, targets)
    recipe = Recipe.from_dict(model_params).replace(
        schedule=[[0.01, 1]], patience=None, device="cpu"
    )
    model = recipe.build(n_users, n_items)
    warm = Ratings(data.pairs[:4096], data.targets[:4096])
    fit(
        recipe.build(n_users, n_items), warm, None, recipe.train
    )  # one-time torch start-up, not timed
    start = time.perf_counter()
    fit(model, data, None, recipe.train)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "ratings": n,
        "users": n_users,
        "artists": n_items,
        "epoch_s": round(seconds, 3),
        "peak_rss_mb": round(peak_mb, 1),
    }


def scale(sizes: list[int], args: argparse.Namespace) -> list[dict[str, float]]:
    """Each size in a fresh interpreter; prints a table."""
    print(
        f"{'ratings':>11} {'users':>8} {'artists':>8} {'epoch s':>8} {'peak MB':>8} {'us/rating':>9}"
    )
    results = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--scale-one", str(n), *_env_args(args)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        results.append(row)
        print(
            f"{row['ratings']:>11,} {row['users']:>8,} {row['artists']:>8,} {row['epoch_s']:>8.2f} "
            f"{row['peak_rss_mb']:>8.0f} {1e6 * row['epoch_s'] / row['ratings']:>9.2f}"
        )
    return results


def _env_args(args: argparse.Namespace) -> list[str]:
    threads = ["--threads", str(args.threads)] if args.threads else []
    return [*(["--env", args.env] if args.env else []), "--params", args.params, *threads]


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_project_arguments(parser)
    add_compute_arguments(parser)
    parser.add_argument(
        "--scale", nargs="+", type=float, metavar="N", help="synthetic sizes, e.g. 1e5 1e6 1e7"
    )
    parser.add_argument("--scale-one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_one:
        params = parameters(args.env, args.params)
        set_threads(args, params)
        model_params = params["model"]
        print(json.dumps(one_scale(int(args.scale_one), model_params)))
    elif args.scale:
        print(json.dumps({"scale": scale([int(n) for n in args.scale], args)}))
    else:
        print(json.dumps(quality(args)))


if __name__ == "__main__":
    main()
