"""Tuning nodes: the learning-rate range test and the grid search over latent sizes."""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import pandas as pd

from music_recommender.pipelines.model_input import holdout, table_sizes, to_ratings
from music_recommender.pmf import evaluate, fit, lr_range_test
from music_recommender.pmf.recipe import Recipe

logger = logging.getLogger(__name__)


def run_lr_range_test(
    train: pd.DataFrame, model: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Find the rate to train at: the loss curve over rising rates and the suggested rate."""
    recipe = Recipe.from_dict(model)
    n_users, n_items = table_sizes(train)
    net = recipe.build(n_users, n_items, float(train["rating"].mean()))
    result = lr_range_test(
        net,
        to_ratings(train),
        recipe.train,
        start_lr=float(params.get("start_lr", 1e-6)),
        end_lr=float(params.get("end_lr", 1.0)),
        num_steps=params.get("num_steps"),
        margin=float(params.get("margin", 1.0)),
    )
    logger.info("LR range test over %d steps suggests %.3g", len(result.lrs), result.suggested_lr)
    return {
        "suggested_lr": result.suggested_lr,
        "optimizer": recipe.train.optimizer,
        **result.to_frame_dict(),
    }


def grid_search(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    model: dict[str, Any],
    params: dict[str, Any],
    lr_test: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train each latent size (and L2 strength) briefly; keep the lowest validation loss."""
    recipe = Recipe.from_dict(model)
    lr = (
        lr_test["suggested_lr"]
        if params.get("use_suggested_lr", True)
        else recipe.train.schedule[0][0]
    )
    if len(validation) == 0:
        fraction = float(params.get("holdout_fraction", 0.1))
        logger.info("No validation split: validating on %.0f%% of train", 100 * fraction)
        train, validation = holdout(train, fraction, recipe.train.seed)
    n_users, n_items = table_sizes(train, validation)
    factors = list(params.get("n_factors") or [recipe.n_factors])
    l2s = list(params.get("l2") or [recipe.train.l2])
    rows = []
    for n_factors, l2 in itertools.product(factors, l2s):
        candidate = recipe.replace(
            n_factors=int(n_factors),
            l2=float(l2),
            schedule=[[lr, int(params.get("epochs", 3))]],
            patience=None,
        )
        net = candidate.build(n_users, n_items, float(train["rating"].mean()))
        start = time.perf_counter()
        history = fit(net, to_ratings(train), to_ratings(validation), candidate.train)
        rows.append(
            {
                "n_factors": int(n_factors),
                "l2": float(l2),
                "lr": float(lr),
                "epochs": len(history.epochs),
                "train_loss": history.epochs[-1]["train_loss"],
                "val_loss": evaluate(net, to_ratings(validation)),
                "seconds": time.perf_counter() - start,
            }
        )
        logger.info(
            "grid: n_factors %d, l2 %g -> validation %.4f", n_factors, l2, rows[-1]["val_loss"]
        )
    table = pd.DataFrame(rows)
    best = table.loc[table["val_loss"].idxmin()]
    best_params = {
        "n_factors": int(best["n_factors"]),
        "l2": float(best["l2"]),
        "lr": float(lr),
        "val_loss": float(best["val_loss"]),
        "searched": {"n_factors": [int(f) for f in factors], "l2": [float(x) for x in l2s]},
    }
    return table, best_params
