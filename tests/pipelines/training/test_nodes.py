"""Training nodes: recipe resolution, training history, metrics, and the artist-bias table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from music_recommender.pipelines.training.nodes import (
    artist_biases,
    evaluate_model,
    evaluate_ranking,
    recommend,
    resolve_recipe,
    similar_artists,
    train_implicit_model,
    train_model,
)
from music_recommender.pmf import PMF

BEST = {"n_factors": 7, "l2": 0.3, "lr": 0.01, "val_loss": 0.5}


def test_fixed_recipe_ignores_tuning(quick_model) -> None:
    recipe = resolve_recipe(quick_model, BEST, {"hyperparameters": "fixed"})
    assert recipe["n_factors"] == 4 and recipe["l2"] == 0.1


def test_tuned_recipe_takes_size_and_l2_and_optionally_the_rate(quick_model) -> None:
    recipe = resolve_recipe(quick_model, BEST, {"hyperparameters": "tuned"})
    assert (recipe["n_factors"], recipe["l2"]) == (7, 0.3)
    assert recipe["schedule"] == [[0.05, 4], [0.01, 2]]
    scaled = resolve_recipe(quick_model, BEST, {"hyperparameters": "tuned", "use_tuned_lr": True})
    assert scaled["schedule"] == [[pytest.approx(0.01), 4], [pytest.approx(0.002), 2]]


def test_tuned_without_tuning_output_says_what_to_do(quick_model) -> None:
    with pytest.raises(ValueError, match="run the tuning pipeline first"):
        resolve_recipe(quick_model, {}, {"hyperparameters": "tuned"})
    with pytest.raises(ValueError, match=r"training\.hyperparameters must be one of tuned, fixed"):
        resolve_recipe(quick_model, BEST, {"hyperparameters": "best"})


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
    model, history = train_model(model_input["train"], model_input["validation"], recipe)
    return model, history, recipe


def test_train_model_records_both_losses_every_epoch(trained) -> None:
    model, history, _ = trained
    assert isinstance(model, PMF) and model.n_factors == 4
    assert list(history.columns) == [
        "epoch",
        "stage",
        "lr",
        "train_loss",
        "val_loss",
        "seconds",
        "best",
    ]
    assert history["val_loss"].notna().all() and history["best"].sum() == 1
    assert history["epoch"].tolist() == list(range(1, len(history) + 1))


def test_evaluate_model_reports_the_metrics_and_baselines(trained, model_input) -> None:
    model, history, recipe = trained
    metrics = evaluate_model(
        model,
        model_input["train"],
        model_input["validation"],
        model_input["test"],
        history,
        recipe,
        {"reg": [1.0, 5.0]},
    )
    for key in (
        "test_mse",
        "test_rmse",
        "baseline_global_mse",
        "baseline_bias_mse",
        "epochs",
        "best_params",
    ):
        assert key in metrics
    assert metrics["test_rmse"] == pytest.approx(math.sqrt(metrics["test_mse"]))
    assert metrics["epochs"] == len(history) and metrics["best_params"] == recipe
    # Planted structure: the model beats the global mean on held-out ratings.
    assert metrics["test_mse"] < metrics["baseline_global_mse"]
    assert set(metrics["baseline_bias_reg"].values()) <= {1.0, 5.0}


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
            PMF(3, 3, 2, biases=False),
            model_input["artist_map"],
            pd.DataFrame(columns=["artist_index", "user_index", "weight"]),
        )


IMPLICIT = {"n_factors": 4, "alpha": 10.0, "reg": 5.0, "bias_reg": 5.0, "iterations": 3, "seed": 0}


@pytest.fixture(scope="module")
def implicit_model(model_input):
    return train_implicit_model(model_input["interactions"], IMPLICIT)


def test_implicit_model_covers_every_user_and_artist(implicit_model, model_input) -> None:
    assert implicit_model.n_users == model_input["user_map"].shape[0]
    assert implicit_model.n_items == model_input["artist_map"].shape[0]
    assert implicit_model.n_factors == 4 and implicit_model.biases


def test_recommendations_exclude_played_artists_and_carry_names(
    trained, implicit_model, model_input
) -> None:
    model, _, _ = trained
    params = {"objective": "implicit", "n": 5}
    recs = recommend(
        model,
        implicit_model,
        model_input["interactions"],
        model_input["user_map"],
        model_input["artist_map"],
        params,
    )
    assert list(recs.columns) == ["user_id", "rank", "artist_id", "artist_name", "score"]
    assert len(recs) == 5 * len(model_input["user_map"])
    played = set(
        zip(
            model_input["interactions"]["user_id"],
            model_input["interactions"]["artist_id"],
            strict=True,
        )
    )
    assert not any(pair in played for pair in zip(recs["user_id"], recs["artist_id"], strict=True))
    names = model_input["artist_map"].set_index("artist_id")["artist_name"]
    assert recs["artist_name"].tolist() == names.loc[recs["artist_id"]].tolist()
    first = recs[recs["user_id"] == recs["user_id"].iloc[0]]
    assert first["rank"].tolist() == [1, 2, 3, 4, 5] and first["score"].is_monotonic_decreasing
    explicit = recommend(
        model,
        implicit_model,
        model_input["interactions"],
        model_input["user_map"],
        model_input["artist_map"],
        {**params, "objective": "explicit"},
    )
    assert not explicit["artist_id"].equals(recs["artist_id"])
    with pytest.raises(
        ValueError, match=r"training\.recommend\.objective must be one of implicit, explicit"
    ):
        recommend(
            model,
            implicit_model,
            model_input["interactions"],
            model_input["user_map"],
            model_input["artist_map"],
            {"objective": "bpr"},
        )


def test_similar_artists_by_cosine(trained, implicit_model, model_input) -> None:
    model, _, _ = trained
    table = similar_artists(model, implicit_model, model_input["artist_map"], {"similar_n": 3})
    assert list(table.columns) == [
        "artist_id",
        "artist_name",
        "rank",
        "similar_artist_id",
        "similar_artist_name",
        "similarity",
    ]
    assert len(table) == 3 * len(model_input["artist_map"])
    assert (table["artist_id"] != table["similar_artist_id"]).all()
    assert table["similarity"].between(-1.0001, 1.0001).all()
    one = table[table["artist_id"] == table["artist_id"].iloc[0]]
    assert one["similarity"].is_monotonic_decreasing


def test_evaluate_ranking_reports_every_model(model_input) -> None:
    recipe = {
        "n_factors": 4,
        "optimizer": "adam",
        "batch_size": 256,
        "schedule": [[0.05, 2]],
        "seed": 1,
    }
    out = evaluate_ranking(
        model_input["interactions"], recipe, IMPLICIT, {"k": 5, "holdout_fraction": 0.2}
    )
    assert set(out["models"]) == {"implicit", "explicit", "popularity"}
    for metrics in out["models"].values():
        assert {"precision@5", "recall@5", "ndcg@5", "map@5", "coverage"} <= set(metrics)
    assert out["protocol"]["k"] == 5 and out["protocol"]["held_out_pairs"] > 0
