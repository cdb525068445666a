"""Training nodes: fit the PMF model with the stepped schedule, evaluate it, export its biases."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.pipelines.model_input import holdout, table_sizes, to_ratings
from music_recommender.pmf import PMF, Ratings, evaluate, fit
from music_recommender.pmf.baselines import BiasBaseline, mse
from music_recommender.pmf.implicit import ImplicitConfig, fit_implicit
from music_recommender.pmf.ranking import (
    HoldoutTask,
    model_scores,
    nearest_items,
    popularity_scores,
    seen_matrix,
    top_n,
)
from music_recommender.pmf.recipe import Recipe
from music_recommender.scaling import RatingScaler

logger = logging.getLogger(__name__)
MODES = ("tuned", "fixed")


def resolve_recipe(
    model: dict[str, Any], best_params: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """The recipe to train: the ``model`` parameters, with the tuned values when asked for."""
    mode = params.get("hyperparameters", "tuned")
    if mode not in MODES:
        raise ValueError(
            f"training.hyperparameters must be one of {', '.join(MODES)}; got {mode!r}"
        )
    recipe = Recipe.from_dict(model)
    if mode == "fixed":
        return recipe.to_dict()
    if not best_params:
        raise ValueError(
            "training.hyperparameters is 'tuned' but data/06_models/best_params.json is missing: "
            "run the tuning pipeline first (kedro run --pipelines tuning,training) or train with "
            "fixed hyper-parameters (kedro run --pipelines training --params training.hyperparameters=fixed)"
        )
    changes: dict[str, Any] = {
        "n_factors": int(best_params["n_factors"]),
        "l2": float(best_params["l2"]),
    }
    if params.get("use_tuned_lr", False):
        # Keep the schedule's shape, start it at the tuned rate.
        scale = float(best_params["lr"]) / recipe.train.schedule[0][0]
        changes["schedule"] = [[lr * scale, n] for lr, n in recipe.train.schedule]
    return recipe.replace(**changes).to_dict()


def train_model(
    train: pd.DataFrame, validation: pd.DataFrame, recipe: dict[str, Any]
) -> tuple[PMF, pd.DataFrame]:
    """Train with the recipe's schedule; the history has train and validation loss per epoch."""
    spec = Recipe.from_dict(recipe, where="training recipe")
    n_users, n_items = table_sizes(train, validation)
    model = spec.build(n_users, n_items, float(train["rating"].mean()))
    valid = to_ratings(validation) if len(validation) else None
    history = fit(model, to_ratings(train), valid, spec.train)
    frame = pd.DataFrame(history.epochs)
    frame["best"] = frame["epoch"] == history.best_epoch
    logger.info(
        "Trained %d epochs%s; best epoch %s",
        len(frame),
        " (stopped early)" if history.stopped_early else "",
        history.best_epoch,
    )
    return model.cpu(), frame


def _columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        frame["user_index"].to_numpy(),
        frame["artist_index"].to_numpy(),
        frame["rating"].to_numpy(),
    )


def evaluate_model(
    model: PMF,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    history: pd.DataFrame,
    recipe: dict[str, Any],
    baseline: dict[str, Any],
) -> dict[str, Any]:
    """Test MSE and RMSE on the normalised scale, beside a global-mean and a bias-only baseline."""
    test_mse = evaluate(model, to_ratings(test))
    n_users, n_items = model.n_users, model.n_items
    global_mse = mse(np.full(len(test), train["rating"].mean()), test["rating"])
    regs = [float(r) for r in baseline.get("reg", [15.0])]
    if len(validation):
        fit_on, check_on = train, validation
    else:  # choose the ridge strengths on a slice of train, then refit on all of it
        fit_on, check_on = holdout(train, 0.1, seed=0)
    _, reg_user, reg_item = BiasBaseline.fit_tuned(
        _columns(fit_on), _columns(check_on), n_users, n_items, regs
    )
    biases = BiasBaseline.fit(*_columns(train), n_users, n_items, reg_user, reg_item)
    bias_mse = mse(biases.predict(test["user_index"], test["artist_index"]), test["rating"])
    best = history[history["best"]]
    metrics = {
        "test_mse": test_mse,
        "test_rmse": math.sqrt(test_mse),
        "baseline_global_mse": global_mse,
        "baseline_global_rmse": math.sqrt(global_mse),
        "baseline_bias_mse": bias_mse,
        "baseline_bias_rmse": math.sqrt(bias_mse),
        "baseline_bias_reg": {"user": reg_user, "artist": reg_item},
        "test_rows": len(test),
        "epochs": len(history),
        "best_epoch": int(best["epoch"].iloc[0]) if len(best) else None,
        "final_train_loss": float(history["train_loss"].iloc[-1]),
        "final_val_loss": None
        if history["val_loss"].isna().all()
        else float(history["val_loss"].dropna().iloc[-1]),
        "train_seconds": float(history["seconds"].sum()),
        "best_params": recipe,
    }
    logger.info(
        "Test MSE %.4f (global mean %.4f, biases only %.4f)", test_mse, global_mse, bias_mse
    )
    return metrics


def artist_biases(model: PMF, artist_map: pd.DataFrame, interactions: pd.DataFrame) -> pd.DataFrame:
    """Learned artist biases with names and reach, highest first (the article's ranking)."""
    if not model.biases:
        raise ValueError("the trained model has no biases (model.biases is false): nothing to rank")
    bias = model.item_bias.weight.detach().cpu().numpy()[:, 0]
    reach = interactions.groupby("artist_index").agg(
        listeners=("user_index", "size"), total_plays=("weight", "sum")
    )
    frame = artist_map.set_index("artist_index").join(reach)
    frame = frame.iloc[: len(bias)].assign(bias=bias[: len(frame)])
    frame = frame.reset_index().sort_values("bias", ascending=False, ignore_index=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    frame["listeners"] = frame["listeners"].fillna(0).astype(int)
    frame["total_plays"] = frame["total_plays"].fillna(0).astype(np.int64)
    return frame[
        ["rank", "artist_id", "artist_index", "artist_name", "bias", "listeners", "total_plays"]
    ]


# --------------------------------------------------------------------------- recommend


OBJECTIVES = ("implicit", "explicit")


def _implicit(params: dict[str, Any]) -> tuple[int, ImplicitConfig]:
    options = dict(params)
    n_factors = int(options.pop("n_factors", 128))
    try:
        return n_factors, ImplicitConfig(**options)
    except TypeError as exc:
        raise ValueError(f"training.recommend.implicit: {exc}") from exc


def train_implicit_model(interactions: pd.DataFrame, params: dict[str, Any]) -> PMF:
    """The PMF with the implicit-feedback objective on every listening pair: it learns what people do not play."""
    n_factors, config = _implicit(params)
    n_users = int(interactions["user_index"].max()) + 1
    n_items = int(interactions["artist_index"].max()) + 1
    model = PMF(n_users, n_items, n_factors)
    fit_implicit(
        model,
        interactions["user_index"],
        interactions["artist_index"],
        interactions["weight"],
        config,
    )
    return model.cpu()


def _ranker(objective: str, explicit: PMF, implicit: PMF) -> PMF:
    if objective not in OBJECTIVES:
        raise ValueError(
            f"training.recommend.objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}"
        )
    return implicit if objective == "implicit" else explicit


def evaluate_ranking(
    interactions: pd.DataFrame,
    recipe: dict[str, Any],
    implicit_params: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    """Top-k quality of the implicit model, the rating model and popularity on a per-user holdout."""
    k = int(params.get("k", 10))
    fraction = float(params.get("holdout_fraction", 0.2))
    seed = int(params.get("seed", 0))
    users = interactions["user_index"].to_numpy()
    n_users, n_items = int(users.max()) + 1, int(interactions["artist_index"].max()) + 1
    task = HoldoutTask.split(
        users, interactions["artist_index"], interactions["weight"], fraction, seed
    )
    train = pd.DataFrame(
        {"user_index": task.users, "artist_index": task.items, "weight": task.plays}
    )

    implicit = train_implicit_model(train, implicit_params)
    spec = Recipe.from_dict(recipe, where="training recipe")
    scaler = RatingScaler.fit(task.plays, "log_zscore")
    ratings = scaler.transform(task.plays)
    explicit = spec.build(n_users, n_items, float(np.mean(ratings)))
    fit(
        explicit,
        Ratings.from_arrays(task.users, task.items, ratings),
        None,
        spec.replace(patience=None).train,
    )
    scores = {
        "implicit": model_scores(implicit),
        "explicit": model_scores(explicit),
        "popularity": popularity_scores(task.items, n_users, n_items),
    }
    results = {name: task.evaluate(s, k) for name, s in scores.items()}
    for name, metrics in results.items():
        logger.info(
            "Ranking %s: NDCG@%d %.3f, coverage %.3f",
            name,
            k,
            metrics[f"ndcg@{k}"],
            metrics["coverage"],
        )
    return {
        "models": results,
        "protocol": {
            "k": k,
            "holdout_fraction": fraction,
            "seed": seed,
            "held_out_pairs": len(task.held_out[0]),
            "users": int(results["implicit"]["users"]),
            "artists": n_items,
        },
    }


def recommend(
    explicit: PMF,
    implicit: PMF,
    interactions: pd.DataFrame,
    user_map: pd.DataFrame,
    artist_map: pd.DataFrame,
    params: dict[str, Any],
) -> pd.DataFrame:
    """Top-n artists for every listener, with names and scores; artists they already play never appear."""
    model = _ranker(params.get("objective", "implicit"), explicit, implicit)
    n = int(params.get("n", 10))
    seen = seen_matrix(
        interactions["user_index"], interactions["artist_index"], model.n_users, model.n_items
    )
    index, scores = top_n(model_scores(model), seen, n)
    users = np.repeat(np.arange(model.n_users), index.shape[1])
    names = artist_map.set_index("artist_index")
    frame = pd.DataFrame(
        {
            "user_id": user_map.set_index("user_index").loc[users, "user_id"].to_numpy(),
            "rank": np.tile(np.arange(1, index.shape[1] + 1), model.n_users),
            "artist_id": names.loc[index.ravel(), "artist_id"].to_numpy(),
            "artist_name": names.loc[index.ravel(), "artist_name"].to_numpy(),
            "score": scores.ravel(),
        }
    )
    return frame


def similar_artists(
    explicit: PMF, implicit: PMF, artist_map: pd.DataFrame, params: dict[str, Any]
) -> pd.DataFrame:
    """For every artist, the ``similar_n`` nearest artists by cosine similarity of their vectors."""
    model = _ranker(params.get("objective", "implicit"), explicit, implicit)
    n = int(params.get("similar_n", 10))
    index, sims = nearest_items(model, n)
    names = artist_map.set_index("artist_index")
    rows = np.repeat(np.arange(model.n_items), index.shape[1])
    return pd.DataFrame(
        {
            "artist_id": names.loc[rows, "artist_id"].to_numpy(),
            "artist_name": names.loc[rows, "artist_name"].to_numpy(),
            "rank": np.tile(np.arange(1, index.shape[1] + 1), model.n_items),
            "similar_artist_id": names.loc[index.ravel(), "artist_id"].to_numpy(),
            "similar_artist_name": names.loc[index.ravel(), "artist_name"].to_numpy(),
            "similarity": sims.ravel(),
        }
    )
