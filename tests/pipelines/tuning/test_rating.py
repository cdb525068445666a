"""Tuning nodes: the range test output and the grid search table and choice."""

from __future__ import annotations

import pytest

from music_recommender.pipelines.tuning.rating.nodes import (
    GridParams,
    LRRangeParams,
    SampleParams,
    grid_search,
    run_lr_range_test,
    sample_for_tuning,
)


def _grid(**changes: object) -> GridParams:
    base = {"n_factors": [], "l2": [], "epochs": 1, "use_suggested_lr": False}
    return GridParams(**{**base, "holdout_fraction": 0.1, **changes})


def test_lr_range_test_node_returns_a_curve_and_a_rate(model_input, quick_model) -> None:
    params = LRRangeParams(start_lr=1e-6, end_lr=1.0, num_steps=60, margin=1.0)
    out = run_lr_range_test(model_input["train"], model_input["id_index"], quick_model, params)
    assert set(out) == {"suggested_lr", "optimizer", "lr", "loss", "smoothed_loss"}
    assert len(out["lr"]) == len(out["loss"]) == len(out["smoothed_loss"]) <= 60
    assert out["lr"][0] <= out["suggested_lr"] <= out["lr"][-1]
    assert all(isinstance(x, float) for x in out["smoothed_loss"])  # JSON-ready


def test_grid_search_tries_every_combination_and_keeps_the_best(model_input, quick_model) -> None:
    params = _grid(n_factors=[2, 6], l2=[0.0, 0.5], epochs=2, use_suggested_lr=True)
    table, best = grid_search(
        model_input["train"],
        model_input["validation"],
        model_input["id_index"],
        quick_model,
        params,
        {"suggested_lr": 0.02},
    )
    assert sorted(zip(table["n_factors"], table["l2"], strict=True)) == [
        (2, 0.0),
        (2, 0.5),
        (6, 0.0),
        (6, 0.5),
    ]
    assert (table["epochs"] == 2).all() and (table["lr"] == 0.02).all()
    winner = table.loc[table["val_loss"].idxmin()]
    assert (best["n_factors"], best["l2"]) == (winner["n_factors"], winner["l2"])
    assert best["val_loss"] == pytest.approx(table["val_loss"].min())
    assert best["lr"] == 0.02


def test_grid_search_without_validation_holds_out_part_of_train(model_input, quick_model) -> None:
    params = _grid(n_factors=[3], holdout_fraction=0.2)
    table, best = grid_search(
        model_input["train"],
        model_input["validation"].head(0),
        model_input["id_index"],
        quick_model,
        params,
        {"suggested_lr": 1.0},
    )
    assert len(table) == 1 and best["lr"] == 0.05  # the schedule's first rate
    assert table["val_loss"].notna().all()


def test_grid_search_names_bad_model_parameters(model_input, quick_model) -> None:
    with pytest.raises(ValueError, match=r"unknown model parameter\(s\) \['factors'\]"):
        grid_search(
            model_input["train"],
            model_input["validation"],
            model_input["id_index"],
            {**quick_model, "factors": 3},
            _grid(),
            {"suggested_lr": 0.1},
        )


def test_tuning_parameters_name_their_key() -> None:
    with pytest.raises(
        ValueError, match=r"tuning\.rating\.lr_range_test needs 0 < start_lr < end_lr"
    ):
        LRRangeParams(start_lr=1.0, end_lr=0.1, num_steps=None, margin=1.0)
    with pytest.raises(ValueError, match=r"tuning\.rating\.grid_search\.epochs must be >= 1"):
        _grid(epochs=0)


def test_a_diverging_candidate_is_recorded_and_all_diverging_is_one_clear_error(
    model_input, quick_model
) -> None:
    sgd = {**quick_model, "optimizer": "sgd", "batch_size": 8, "momentum": 0.99}
    args = (model_input["train"], model_input["validation"], model_input["id_index"], sgd)
    with pytest.raises(ValueError, match="every grid candidate diverged at learning rate 1e\\+06"):
        grid_search(*args, _grid(n_factors=[2, 3], use_suggested_lr=True), {"suggested_lr": 1e6})


def test_tuning_sample_is_seeded_and_proportional(model_input) -> None:
    train, validation = model_input["train"], model_input["validation"]
    a = sample_for_tuning(train, validation, SampleParams(rows=len(train) // 2, seed=1))
    b = sample_for_tuning(train, validation, SampleParams(rows=len(train) // 2, seed=1))
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert 0.3 * len(train) < len(a[0]) < 0.7 * len(train)
    whole = sample_for_tuning(train, validation, SampleParams(rows=None, seed=1))
    assert whole[0] is train and whole[1] is validation
