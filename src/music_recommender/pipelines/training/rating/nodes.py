"""Rating nodes: choose the recipe, fit PMF to the ratings, test it against baselines, rank artists."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.parameters import kept_explicit
from music_recommender.pipelines.model_input import holdout, to_ratings
from music_recommender.pmf.baselines import BiasBaseline, mse
from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.recipe import Recipe
from music_recommender.pmf.recommender import RatingRecommender
from music_recommender.pmf.trainer import evaluate

logger = logging.getLogger(__name__)
MODES = ("tuned", "fixed")
OPTIONS_KEY = "training.rating.options"


@dataclass(frozen=True)
class TrainingOptions:
    """Where the recipe's size and L2 come from (``training.rating.options``)."""

    hyperparameters: str
    use_tuned_lr: bool

    def __post_init__(self) -> None:
        check_field_types(self, "training.rating.options")
        if self.hyperparameters not in MODES:
            raise ValueError(
                f"{OPTIONS_KEY}.hyperparameters must be one of {', '.join(MODES)}; "
                f"got {self.hyperparameters!r}"
            )


@dataclass(frozen=True)
class BaselineParams:
    """The bias-only baseline's ridge grid and its validation slice (``training.rating.baseline``)."""

    reg: list[float]
    holdout_fraction: float  # of train, to choose the ridge on when the split has no validation
    seed: int
    # Choose the ridge on a seeded sample of this many training ratings (null = all), then refit
    # on all of them: 36 fits of the grid over 12 M ratings took 5 minutes.
    tune_rows: int | None

    def __post_init__(self) -> None:
        check_field_types(self, "training.rating.baseline")
        if not self.reg or any(r < 0 for r in self.reg):
            raise ValueError(
                f"training.rating.baseline.reg must be a non-empty list of numbers >= 0; got {self.reg!r}"
            )
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(
                "training.rating.baseline.holdout_fraction must be in (0, 1); "
                f"got {self.holdout_fraction!r}"
            )


# Each tuned value and the parameter a user would set to choose it themselves.
_TUNED_RATING = {"n_factors": "model.n_factors", "l2": "model.l2", "lr": "model.schedule"}


def resolve_recipe(
    model: dict[str, Any],
    best_params: dict[str, Any],
    options: TrainingOptions,
    explicit: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The recipe to train: the ``model`` parameters, with the tuned values when asked for.

    A value the user gave for this run (``explicit``: ``--params`` or conf/local) beats the
    tuned one: tuned values are defaults, not overrides of what was asked for.
    """
    recipe = Recipe.from_dict(model)
    if options.hyperparameters == "fixed":
        return recipe.to_dict()
    if not best_params:
        raise ValueError(
            f"{OPTIONS_KEY}.hyperparameters is 'tuned' but data/06_models/best_params.json is "
            "missing: run the tuning pipeline first (kedro run --pipelines tuning,training) or "
            "train with fixed hyper-parameters (kedro run --pipelines training --params "
            f"{OPTIONS_KEY}.hyperparameters=fixed)"
        )
    mine = kept_explicit(_TUNED_RATING, best_params, explicit or {})
    changes: dict[str, Any] = {}
    if "n_factors" not in mine:
        changes["n_factors"] = int(best_params["n_factors"])
    if "l2" not in mine:
        changes["l2"] = float(best_params["l2"])
    if options.use_tuned_lr and "lr" not in mine:
        # Keep the schedule's shape, start it at the tuned rate.
        scale = float(best_params["lr"]) / recipe.train.schedule[0][0]
        changes["schedule"] = [[lr * scale, n] for lr, n in recipe.train.schedule]
    return recipe.replace(**changes).to_dict()


def train_model(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    id_index: dict[str, Any],
    rating_scaler: dict[str, Any],
    recipe: dict[str, Any],
) -> tuple[RatingRecommender, pd.DataFrame]:
    """Train with the recipe's schedule; the history has train and validation loss per epoch."""
    spec = Recipe.from_dict(recipe, where="training recipe")
    rec = RatingRecommender(spec, scaler=rating_scaler).fit(
        to_ratings(train),
        to_ratings(validation) if len(validation) else None,
        id_index["n_users"],
        id_index["n_items"],
        id_maps=id_index["fingerprint"],
    )
    history = rec.history
    frame = pd.DataFrame(history.epochs)
    frame["best"] = frame["epoch"] == history.best_epoch
    frame["kept"] = frame["epoch"] == history.kept_epoch
    logger.info(
        "Trained %d epochs%s; weights of epoch %s kept",
        len(frame),
        " (stopped early)" if history.stopped_early else "",
        history.kept_epoch,
    )
    return rec, frame


def _columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        frame["user_index"].to_numpy(),
        frame["artist_index"].to_numpy(),
        frame["rating"].to_numpy(),
    )


def _bias_baseline(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    shape: tuple[int, int],
    params: BaselineParams,
) -> tuple[float, float, float]:
    """(test MSE, user ridge, artist ridge) of biases alone, the ridge chosen on validation."""
    if len(validation):
        fit_on, check_on = train, validation
    else:  # choose the ridge strengths on a slice of train, then refit on all of it
        fit_on, check_on = holdout(train, params.holdout_fraction, params.seed)
    if params.tune_rows is not None and len(fit_on) > params.tune_rows:
        fit_on = fit_on.sample(n=params.tune_rows, random_state=params.seed)
    _, reg_user, reg_item = BiasBaseline.fit_tuned(
        _columns(fit_on), _columns(check_on), *shape, [float(r) for r in params.reg]
    )
    biases = BiasBaseline.fit(*_columns(train), *shape, reg_user, reg_item)
    test_mse = mse(biases.predict(test["user_index"], test["artist_index"]), test["rating"])
    return test_mse, reg_user, reg_item


def evaluate_model(
    rec: RatingRecommender,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    history: pd.DataFrame,
    recipe: dict[str, Any],
    baseline: BaselineParams,
) -> dict[str, Any]:
    """Test MSE and RMSE on the normalised scale, beside a global-mean and a bias-only baseline."""
    model = rec.fitted
    test_mse = evaluate(model, to_ratings(test))
    global_mse = mse(np.full(len(test), train["rating"].mean()), test["rating"])
    shape = (model.n_users, model.n_items)
    bias_mse, reg_user, reg_item = _bias_baseline(train, validation, test, shape, baseline)
    best = history.loc[history["best"], "epoch"]
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
        "best_epoch": int(best.iloc[0]) if len(best) else None,
        "kept_epoch": int(history.loc[history["kept"], "epoch"].iloc[0]),
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


def artist_biases(
    rec: RatingRecommender, artist_map: pd.DataFrame, interactions: pd.DataFrame
) -> pd.DataFrame:
    """Learned artist biases with names and reach, highest first (the article's ranking)."""
    model = rec.fitted
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
