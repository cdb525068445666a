"""The bias-only baseline recovers planted biases; the MSE helper."""

from __future__ import annotations

import numpy as np
import pandas as pd

from music_recommender.pmf.baselines import BiasBaseline, mse


def test_bias_baseline_recovers_planted_biases(problem) -> None:
    train, valid, truth = problem
    users, items = train.pairs[:, 0].numpy(), train.pairs[:, 1].numpy()
    model = BiasBaseline.fit(
        users, items, train.targets.numpy(), truth["n_users"], truth["n_items"], 1.0, 1.0
    )
    rho = pd.Series(model.item_bias).corr(pd.Series(truth["item_bias"]), method="spearman")
    assert rho > 0.95
    pred = model.predict(valid.pairs[:, 0].numpy(), valid.pairs[:, 1].numpy())
    assert mse(pred, valid.targets.numpy()) < mse(
        np.full(len(valid), model.mean), valid.targets.numpy()
    )


def test_unseen_rows_fall_back_to_the_mean() -> None:
    model = BiasBaseline.fit(np.array([0, 0]), np.array([0, 1]), np.array([1.0, 3.0]), 3, 3)
    assert model.predict(np.array([2]), np.array([2]))[0] == model.mean == 2.0


def test_mse() -> None:
    assert mse([1, 2], [1, 4]) == 2.0
    assert np.isnan(mse([], []))


def test_fit_tuned_picks_the_validation_best(problem) -> None:
    train, valid, truth = problem
    cols = lambda r: (r.pairs[:, 0].numpy(), r.pairs[:, 1].numpy(), r.targets.numpy())  # noqa: E731
    model, reg_user, reg_item = BiasBaseline.fit_tuned(
        cols(train), cols(valid), truth["n_users"], truth["n_items"], [0.1, 1000.0]
    )
    assert (reg_user, reg_item) != (1000.0, 1000.0)
    worst = BiasBaseline.fit(*cols(train), truth["n_users"], truth["n_items"], 1000.0, 1000.0)
    v = cols(valid)
    assert mse(model.predict(v[0], v[1]), v[2]) < mse(worst.predict(v[0], v[1]), v[2])


def _alternating_ridge(users, items, ratings, n_users, n_items, reg_user, reg_item):
    """The textbook updates (Surprise's BaselineOnly), one pair of strengths at a time."""
    mean = ratings.mean()
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    for _ in range(10):
        bi = np.bincount(items, ratings - mean - bu[users], minlength=n_items) / (
            reg_item + np.bincount(items, minlength=n_items)
        )
        bu = np.bincount(users, ratings - mean - bi[items], minlength=n_users) / (
            reg_user + np.bincount(users, minlength=n_users)
        )
    return bu, bi


def test_every_pair_of_strengths_fitted_at_once_matches_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 40, 600), rng.integers(0, 30, 600)
    users[:5], items[:5] = 3, 4  # a repeated pair counts each time
    ratings = rng.normal(size=600) + users / 20 - items / 15
    regs = [0.5, 3.0, 40.0]
    model, reg_user, reg_item = BiasBaseline.fit_tuned(
        (users[:500], items[:500], ratings[:500]), (users[500:], items[500:], ratings[500:]),
        40, 30, regs,
    )  # fmt: skip
    scores = {}
    for ru in regs:
        for ri in regs:
            bu, bi = _alternating_ridge(users[:500], items[:500], ratings[:500], 40, 30, ru, ri)
            pred = ratings[:500].mean() + bu[users[500:]] + bi[items[500:]]
            scores[ru, ri] = mse(pred, ratings[500:])
            one = BiasBaseline.fit(users[:500], items[:500], ratings[:500], 40, 30, ru, ri)
            np.testing.assert_allclose(one.user_bias, bu, atol=1e-12)
            np.testing.assert_allclose(one.item_bias, bi, atol=1e-12)
    assert (reg_user, reg_item) == min(scores, key=scores.get)
    bu, bi = _alternating_ridge(users[:500], items[:500], ratings[:500], 40, 30, reg_user, reg_item)
    np.testing.assert_allclose(model.user_bias, bu, atol=1e-12)
