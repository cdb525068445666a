"""The trainer: learns, recovers planted biases, is deterministic, stops early and restores the best."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from music_recommender.pmf import PMF, Ratings, evaluate, fit
from music_recommender.pmf.row_sparse import RowSparseOptimizer, put_rows
from music_recommender.pmf.trainer import TrainConfig, make_optimizer, resolve_device

from .conftest import plain, planted

FAST = plain(
    optimizer="adam", batch_size=256, schedule=((0.05, 15), (0.01, 10)), l2=0.05, bias_l2=0.0
)


def _model(truth, **kwargs) -> PMF:
    torch.manual_seed(0)
    return PMF(truth["n_users"], truth["n_items"], **kwargs)


def test_training_lowers_loss_far_below_the_variance(problem) -> None:
    train, valid, truth = problem
    model = _model(truth, n_factors=4)
    before = evaluate(model, valid)
    history = fit(model, train, valid, FAST)
    losses = [e["train_loss"] for e in history.epochs]
    assert losses[-1] < 0.5 * losses[0]
    assert evaluate(model, valid) < 0.3 * before
    assert [e["lr"] for e in history.epochs] == [0.05] * 15 + [0.01] * 10
    assert all(e["val_loss"] is not None for e in history.epochs)


def test_recovers_planted_biases(problem) -> None:
    train, valid, truth = problem
    model = _model(truth, n_factors=4)
    fit(model, train, valid, FAST)
    learned = model.item_bias.weight.detach().numpy()[:, 0]
    rho = pd.Series(learned).corr(pd.Series(truth["item_bias"]), method="spearman")
    assert rho > 0.9


def test_sgd_with_momentum_the_article_way_also_learns(problem) -> None:
    train, valid, truth = problem
    model = _model(truth, n_factors=4)
    before = evaluate(model, valid)
    config = plain(batch_size=32, schedule=((0.05, 3), (0.01, 3)), weight_decay=1e-4)
    history = fit(model, train, valid, config)
    assert history.epochs[-1]["val_loss"] < 0.6 * before
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]


def test_same_seed_same_numbers(problem) -> None:
    train, valid, truth = problem
    runs = []
    for _ in range(2):
        model = _model(truth, n_factors=4)
        history = fit(model, train, valid, plain(batch_size=64, schedule=((0.05, 3),), seed=7))
        runs.append(
            ([e["train_loss"] for e in history.epochs], model.item_bias.weight.detach().clone())
        )
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    model = _model(truth, n_factors=4)
    other = fit(model, train, valid, plain(batch_size=64, schedule=((0.05, 3),), seed=8))
    assert [e["train_loss"] for e in other.epochs] != runs[0][0]


def test_early_stopping_restores_the_best_epoch() -> None:
    # Few ratings, many factors, no regularisation: validation loss turns up quickly.
    train, valid, truth = planted(n_users=40, n_items=30, density=0.2, noise=0.5, seed=3)
    model = _model(truth, n_factors=30, init_std=0.5)
    config = plain(optimizer="adam", batch_size=32, schedule=((0.05, 60),), patience=3)
    history = fit(model, train, valid, config)
    assert history.stopped_early
    assert len(history.epochs) == history.best_epoch + 3
    assert history.kept_epoch == history.best_epoch
    assert evaluate(model, valid) == pytest.approx(history.best_val_loss, rel=1e-6)
    assert history.best_val_loss == min(e["val_loss"] for e in history.epochs)


def test_training_without_validation(problem) -> None:
    train, _, truth = problem
    history = fit(
        _model(truth, n_factors=2), train, None, plain(batch_size=128, schedule=((0.05, 2),))
    )
    assert [e["val_loss"] for e in history.epochs] == [None, None]
    assert history.best_epoch is None  # nothing to call best without validation
    assert history.kept_epoch == 2


def test_divergence_is_a_clear_error(problem) -> None:
    train, valid, truth = problem
    with pytest.raises(FloatingPointError, match="lower the rate"):
        fit(
            _model(truth),
            train,
            valid,
            plain(batch_size=16, schedule=((1e6, 2),), momentum=0.99),
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "rmsprop"}, "optimizer must be one of 'sgd', 'adam'"),
        ({"schedule": ()}, "at least one"),
        ({"schedule": ((0.1, -1),)}, "learning rate > 0, epochs >= 0"),
        ({"schedule": ((0.0, 3),)}, "learning rate > 0, epochs >= 0"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"l2": -1.0}, "l2 must be >= 0"),
        ({"patience": 0}, "patience must be >= 1"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plain(**kwargs)


def test_schedule_from_yaml_lists_and_epochs() -> None:
    config = plain(schedule=[[0.1, 3], [0.01, 2]])
    assert config.schedule == ((0.1, 3), (0.01, 2)) and config.epochs == 5
    assert config.to_dict()["schedule"] == [[0.1, 3], [0.01, 2]]


def test_ratings_from_arrays_checks_lengths() -> None:
    with pytest.raises(ValueError, match="one length; got 2, 2, 1"):
        Ratings.from_arrays([0, 1], [1, 2], [0.5])
    r = Ratings.from_arrays(np.array([0, 1]), [1, 2], [0.5, 1.5])
    assert r.pairs.dtype == torch.int64 and r.targets.dtype == torch.float32 and len(r) == 2


def test_device_auto_is_cpu_without_cuda() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


def test_bias_ridge_shrinks_rarely_seen_artists_most() -> None:
    # Half the artists are seen ~40 times, half twice; all have planted biases of the same spread.
    rng = np.random.default_rng(0)
    n_users, n_items = 200, 40
    bias = rng.normal(0, 1, n_items)
    rows = [
        (u, i)
        for i in range(n_items)
        for u in rng.choice(n_users, 40 if i < 20 else 2, replace=False)
    ]
    users, items = np.array(rows).T
    data = Ratings.from_arrays(users, items, bias[items] + rng.normal(0, 0.3, len(items)))

    def spread(**penalty: float) -> float:
        torch.manual_seed(0)
        model = PMF(n_users, n_items, n_factors=1, init_std=0.0)
        config = plain(optimizer="adam", batch_size=64, schedule=((0.05, 40),), **penalty)
        fit(model, data, None, config)
        b = model.item_bias.weight.detach().numpy()[:, 0]
        return float(np.abs(b[20:]).mean() / np.abs(b[:20]).mean())  # rare / common

    assert spread(item_bias_ridge=5.0) < 0.6 * spread(bias_l2=0.5)


def test_kept_epoch_is_the_last_without_early_stopping(problem) -> None:
    # With validation but no patience the last epoch's weights are kept, whichever was best.
    train, valid, truth = problem
    history = fit(_model(truth, n_factors=2), train, valid, plain(schedule=((0.05, 3),)))
    assert history.kept_epoch == 3
    assert history.best_epoch == min(history.epochs, key=lambda e: e["val_loss"])["epoch"]


@pytest.mark.parametrize(
    ("optimizer", "tolerance"), [("sgd", 1e-5), ("adam", 1e-3)], ids=["sgd-momentum", "adam"]
)
def test_row_sparse_updates_follow_the_dense_optimiser(problem, optimizer, tolerance) -> None:
    # Small batches over a larger table: most rows are skipped by most steps, so the replayed
    # drift of skipped rows is what keeps the two in step.
    train, valid, truth = problem
    weights = []
    for sparse in (False, True):
        model = _model(truth, n_factors=3)
        config = plain(
            optimizer=optimizer,
            batch_size=16,
            schedule=((0.01, 2),),
            l2=0.05,
            sparse_updates=sparse,
        )
        fit(model, train, valid, config)
        weights.append(torch.cat([p.detach().ravel() for p in model.parameters()]))
    scale = weights[0].abs().max()
    assert (weights[0] - weights[1]).abs().max() <= tolerance * scale


def test_auto_stays_dense_with_weight_decay() -> None:
    """Row-sparse steps decay only a batch's rows; "auto" must keep the dense optimiser's weights."""
    model = PMF(2_000, 2_000, 4)
    assert isinstance(make_optimizer(model, TrainConfig(batch_size=32), 0.1), RowSparseOptimizer)
    decayed = TrainConfig(batch_size=32, optimizer="sgd", momentum=0.9, weight_decay=1e-3)
    assert isinstance(make_optimizer(model, decayed, 0.1), torch.optim.SGD)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bfloat16])
def test_put_rows_writes_exactly_the_given_rows(dtype) -> None:
    table = torch.arange(20, dtype=torch.float32).reshape(10, 2).to(dtype)
    rows = torch.tensor([7, 2, 5])
    values = -torch.arange(6, dtype=torch.float32).reshape(3, 2).to(dtype)
    expected = table.clone()
    expected[rows] = values
    put_rows(table, rows, values)
    assert torch.equal(table, expected)
    put_rows(table, rows, 9)
    expected[rows] = 9
    assert torch.equal(table, expected)
