"""``training.rating`` nodes: recipe resolution, training history, metrics, and the artist-bias table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from music_recommender.pipelines.training.rating.nodes import (
    BaselineParams,
    TrainingOptions,
    artist_biases,
    evaluate_model,
    resolve_recipe,
    train_model,
)
from music_recommender.pmf import PMF
from music_recommender.pmf.recommender import RatingRecommender

BEST = {"n_factors": 7, "l2": 0.3, "lr": 0.01, "val_loss": 0.5}
FIXED = TrainingOptions(hyperparameters="fixed", use_tuned_lr=False)
TUNED = TrainingOptions(hyperparameters="tuned", use_tuned_lr=False)
BASELINE = BaselineParams(reg=[1.0, 5.0], holdout_fraction=0.1, seed=0, tune_rows=None)


def test_fixed_recipe_ignores_tuning(quick_model) -> None:
    recipe = resolve_recipe(quick_model, BEST, FIXED)
    assert recipe["n_factors"] == 4 and recipe["l2"] == 0.1


def test_tuned_recipe_takes_size_and_l2_and_optionally_the_rate(quick_model) -> None:
    recipe = resolve_recipe(quick_model, BEST, TUNED)
    assert (recipe["n_factors"], recipe["l2"]) == (7, 0.3)
    assert recipe["schedule"] == [[0.05, 4], [0.01, 2]]
    scaled = resolve_recipe(quick_model, BEST, TrainingOptions("tuned", use_tuned_lr=True))
    assert scaled["schedule"] == [[pytest.approx(0.01), 4], [pytest.approx(0.002), 2]]


def test_a_value_given_for_the_run_beats_the_tuned_one(quick_model, caplog) -> None:
    given = {"model.n_factors": 11, "model.schedule": [[0.05, 4], [0.01, 2]]}
    options = TrainingOptions("tuned", use_tuned_lr=True)
    with caplog.at_level("INFO"):
        recipe = resolve_recipe(quick_model | {"n_factors": 11}, BEST, options, given)
    assert recipe["n_factors"] == 11 and recipe["l2"] == 0.3  # the size given; l2 still tuned
    assert recipe["schedule"] == [[0.05, 4], [0.01, 2]]  # the rates given, not rescaled
    assert "model.n_factors=11 was given for this run: it is used instead of the tuned" in (
        caplog.text
    )


def test_tuned_without_tuning_output_says_what_to_do(quick_model) -> None:
    with pytest.raises(ValueError, match="run the tuning pipeline first") as error:
        resolve_recipe(quick_model, {}, TUNED)
    # The hint names the real parameter key (tests/test_run.py runs the hinted command).
    assert "--params training.rating.options.hyperparameters=fixed" in str(error.value)
    with pytest.raises(
        ValueError, match=r"training\.rating\.options\.hyperparameters must be one of tuned, fixed"
    ):
        TrainingOptions(hyperparameters="best", use_tuned_lr=False)


@pytest.fixture(scope="module")
def trained(model_input):
    recipe = {
        "n_factors": 4,
        "optimizer": "adam",
        "batch_size": 128,
        "schedule": [[0.05, 4], [0.01, 2]],
        "l2": 0.1,
        "patience": 2,
        "seed": 1,
    }
    model, history = train_model(
        model_input["train"],
        model_input["validation"],
        model_input["id_index"],
        model_input["rating_scaler"],
        recipe,
    )
    return model, history, recipe


def test_train_model_records_both_losses_every_epoch(trained) -> None:
    model, history, _ = trained
    assert isinstance(model, RatingRecommender) and model.fitted.n_factors == 4
    assert list(history.columns) == [
        "epoch",
        "stage",
        "lr",
        "train_loss",
        "val_loss",
        "seconds",
        "best",
        "kept",
    ]
    assert history["val_loss"].notna().all() and history["best"].sum() == 1
    assert history["kept"].sum() == 1
    assert history["epoch"].tolist() == list(range(1, len(history) + 1))


def test_model_is_sized_by_the_id_maps_and_says_how_it_was_trained(trained, model_input) -> None:
    model, _, recipe = trained
    assert (model.n_users, model.n_items) == (
        len(model_input["user_map"]),
        len(model_input["artist_map"]),
    )
    assert model.settings["objective"] == "rating"
    assert model.settings["n_factors"] == recipe["n_factors"]
    assert model.settings["normalisation"] == "log_zscore"
    assert model.id_maps == model_input["id_index"]["fingerprint"]


def test_evaluate_model_reports_the_metrics_and_baselines(trained, model_input) -> None:
    model, history, recipe = trained
    metrics = evaluate_model(
        model,
        model_input["train"],
        model_input["validation"],
        model_input["test"],
        history,
        recipe,
        BASELINE,
    )
    for key in (
        "test_mse",
        "test_rmse",
        "baseline_global_mse",
        "baseline_bias_mse",
        "epochs",
        "best_epoch",
        "kept_epoch",
        "best_params",
    ):
        assert key in metrics
    assert metrics["test_rmse"] == pytest.approx(math.sqrt(metrics["test_mse"]))
    assert metrics["epochs"] == len(history) and metrics["best_params"] == recipe
    # Planted structure: the model beats the global mean on held-out ratings.
    assert metrics["test_mse"] < metrics["baseline_global_mse"]
    assert set(metrics["baseline_bias_reg"].values()) <= {1.0, 5.0}


def test_baseline_without_validation_uses_its_configured_slice(trained, model_input) -> None:
    model, history, recipe = trained
    no_validation = model_input["validation"].iloc[:0]
    out = [
        evaluate_model(
            model,
            model_input["train"],
            no_validation,
            model_input["test"],
            history,
            recipe,
            BaselineParams(reg=[0.5, 50.0], holdout_fraction=0.2, seed=seed, tune_rows=500),
        )["baseline_bias_mse"]
        for seed in (0, 0, 1)
    ]
    assert out[0] == out[1]
    with pytest.raises(ValueError, match=r"training\.rating\.baseline\.holdout_fraction"):
        BaselineParams(reg=[1.0], holdout_fraction=0.0, seed=0, tune_rows=None)


def test_artist_biases_sorted_with_names_and_reach(trained, model_input) -> None:
    model, _, _ = trained
    table = artist_biases(model, model_input["artist_map"], model_input["interactions"])
    assert list(table.columns) == [
        "rank",
        "artist_id",
        "artist_index",
        "artist_name",
        "bias",
        "listeners",
        "total_plays",
    ]
    assert table["bias"].is_monotonic_decreasing and table["rank"].tolist() == list(
        range(1, len(table) + 1)
    )
    names = model_input["artist_map"].set_index("artist_id")["artist_name"]
    assert table["artist_name"].tolist() == names.loc[table["artist_id"]].tolist()
    listeners = model_input["interactions"].groupby("artist_id").size()
    assert table.set_index("artist_id")["listeners"].equals(
        listeners.loc[table["artist_id"]].rename("listeners")
    )


def test_artist_biases_need_a_biased_model(model_input) -> None:
    with pytest.raises(ValueError, match="has no biases"):
        artist_biases(
            RatingRecommender().set_model(PMF(3, 3, 2, biases=False)),
            model_input["artist_map"],
            pd.DataFrame(columns=["artist_index", "user_index", "weight"]),
        )
