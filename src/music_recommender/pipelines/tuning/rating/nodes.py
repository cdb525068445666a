"""Rating tuning nodes: the learning-rate range test and the grid search over latent sizes."""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.pipelines.model_input import holdout, to_ratings
from music_recommender.pmf import evaluate, fit, lr_range_test
from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.recipe import Recipe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleParams:
    """How many training ratings tuning sees (``tuning.rating.sample``); null rows = all of them."""

    rows: int | None
    seed: int

    def __post_init__(self) -> None:
        check_field_types(self, "tuning.rating.sample")
        if self.rows is not None and (isinstance(self.rows, bool) or self.rows < 1):
            raise ValueError(
                f"tuning.rating.sample.rows must be null or an integer >= 1; got {self.rows!r}"
            )


@dataclass(frozen=True)
class LRRangeParams:
    """The learning-rate range test (``tuning.rating.lr_range_test``)."""

    start_lr: float
    end_lr: float
    num_steps: int | None  # None: one epoch of minibatches
    margin: float  # suggested rate = rate at the loss minimum / margin

    def __post_init__(self) -> None:
        check_field_types(self, "tuning.rating.lr_range_test")
        if not 0 < self.start_lr < self.end_lr:
            raise ValueError(
                "tuning.rating.lr_range_test needs 0 < start_lr < end_lr; "
                f"got start_lr={self.start_lr!r}, end_lr={self.end_lr!r}"
            )
        if self.margin <= 0:
            raise ValueError(f"tuning.rating.lr_range_test.margin must be > 0; got {self.margin!r}")


@dataclass(frozen=True)
class GridParams:
    """The latent-size (and L2) grid (``tuning.rating.grid_search``); an empty list keeps ``model``'s value."""

    n_factors: list[int]
    l2: list[float]
    epochs: int
    use_suggested_lr: bool  # true: train at the range test's rate (the article)
    holdout_fraction: float  # validation slice of train when the split has no validation part

    def __post_init__(self) -> None:
        check_field_types(self, "tuning.rating.grid_search")
        if self.epochs < 1:
            raise ValueError(f"tuning.rating.grid_search.epochs must be >= 1; got {self.epochs!r}")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(
                "tuning.rating.grid_search.holdout_fraction must be in (0, 1); "
                f"got {self.holdout_fraction!r}"
            )


def sample_for_tuning(
    train: pd.DataFrame, validation: pd.DataFrame, sample: SampleParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded share of train and validation, so that tuning stays a fraction of training."""
    if sample.rows is None or len(train) <= sample.rows:
        return train, validation
    share = sample.rows / len(train)
    rng = np.random.default_rng(sample.seed)
    keep = rng.random(len(train)) < share
    keep_val = rng.random(len(validation)) < share
    logger.info(
        "Tuning on a sample: %s of %s training ratings", f"{keep.sum():,}", f"{len(train):,}"
    )
    return train[keep].reset_index(drop=True), validation[keep_val].reset_index(drop=True)


def run_lr_range_test(
    train: pd.DataFrame, id_index: dict[str, Any], model: dict[str, Any], params: LRRangeParams
) -> dict[str, Any]:
    """Find the rate to train at: the loss curve over rising rates and the suggested rate."""
    recipe = Recipe.from_dict(model)
    net = recipe.build(id_index["n_users"], id_index["n_items"], float(train["rating"].mean()))
    logger.info(
        "LR range test: rates %g -> %g over %s steps of %d ratings (%s ratings)",
        params.start_lr,
        params.end_lr,
        params.num_steps or "one epoch of",
        recipe.train.batch_size,
        f"{len(train):,}",
    )
    result = lr_range_test(
        net,
        to_ratings(train),
        recipe.train,
        start_lr=params.start_lr,
        end_lr=params.end_lr,
        num_steps=params.num_steps,
        margin=params.margin,
    )
    logger.info("LR range test over %d steps suggests %.3g", len(result.lrs), result.suggested_lr)
    return {
        "suggested_lr": result.suggested_lr,
        "optimizer": recipe.train.optimizer,
        **result.to_frame_dict(),
    }


def _candidate(
    recipe: Recipe,
    n_factors: int,
    l2: float,
    lr: float,
    data: tuple[pd.DataFrame, pd.DataFrame],
    id_index: dict[str, Any],
    epochs: int,
) -> dict[str, Any]:
    """Train one grid point briefly; its validation loss."""
    train, validation = data
    candidate = recipe.replace(
        n_factors=int(n_factors), l2=float(l2), schedule=[[lr, epochs]], patience=None
    )
    net = candidate.build(id_index["n_users"], id_index["n_items"], float(train["rating"].mean()))
    start = time.perf_counter()
    row: dict[str, Any] = {"n_factors": int(n_factors), "l2": float(l2), "lr": float(lr)}
    try:
        history = fit(net, to_ratings(train), to_ratings(validation), candidate.train)
    except FloatingPointError:
        # A candidate that diverges at this rate is a result of the search, not a failed run.
        logger.warning("grid: n_factors %d, l2 %g diverged at rate %.3g", n_factors, l2, lr)
        nan = float("nan")
        return row | {"epochs": 0, "train_loss": nan, "val_loss": nan, "seconds": nan}
    row |= {
        "epochs": len(history.epochs),
        "train_loss": history.epochs[-1]["train_loss"],
        "val_loss": evaluate(net, to_ratings(validation)),
        "seconds": time.perf_counter() - start,
    }
    logger.info("grid: n_factors %d, l2 %g -> validation %.4f", n_factors, l2, row["val_loss"])
    return row


def grid_search(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    id_index: dict[str, Any],
    model: dict[str, Any],
    params: GridParams,
    lr_test: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train each latent size (and L2 strength) briefly; keep the lowest validation loss."""
    recipe = Recipe.from_dict(model)
    lr = lr_test["suggested_lr"] if params.use_suggested_lr else recipe.train.schedule[0][0]
    if len(validation) == 0:
        logger.info(
            "No validation split: validating on %.0f%% of train", 100 * params.holdout_fraction
        )
        train, validation = holdout(train, params.holdout_fraction, recipe.train.seed)
    factors = list(params.n_factors or [recipe.n_factors])
    l2s = list(params.l2 or [recipe.train.l2])
    logger.info(
        "grid: %d candidates (n_factors %s x l2 %s), %d epochs each at rate %.3g",
        len(factors) * len(l2s),
        factors,
        l2s,
        params.epochs,
        lr,
    )
    table = pd.DataFrame(
        [
            _candidate(recipe, f, l2, lr, (train, validation), id_index, params.epochs)
            for f, l2 in itertools.product(factors, l2s)
        ]
    )
    if table["val_loss"].isna().all():
        raise ValueError(
            f"every grid candidate diverged at learning rate {lr:.3g}: set "
            "tuning.rating.grid_search.use_suggested_lr=false or lower model.schedule's first rate"
        )
    best = table.loc[table["val_loss"].idxmin()]
    best_params = {
        "n_factors": int(best["n_factors"]),
        "l2": float(best["l2"]),
        "lr": float(lr),
        "val_loss": float(best["val_loss"]),
        "searched": {"n_factors": [int(f) for f in factors], "l2": [float(x) for x in l2s]},
    }
    return table, best_params
