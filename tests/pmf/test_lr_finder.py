"""LR range test: a rate in the right decade, the model left untouched, a clear curve."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from music_recommender.pmf import PMF, TrainConfig, evaluate, fit, lr_range_test, suggest_lr

from .conftest import plain


def _best_fixed_rate(train, valid, truth, config: TrainConfig) -> float:
    """The rate, among powers of ten, that trains best in one epoch: the ground truth to hit."""
    scores = {}
    for exponent in range(-5, 1):
        torch.manual_seed(0)
        model = PMF(truth["n_users"], truth["n_items"], n_factors=4)
        lr = 10.0**exponent
        try:
            fit(model, train, None, TrainConfig(**{**config.to_dict(), "schedule": ((lr, 1),)}))
            scores[lr] = evaluate(model, valid)
        except FloatingPointError:
            scores[lr] = math.inf
    return min(scores, key=lambda lr: scores[lr])


@pytest.mark.parametrize(
    "config",
    [
        plain(batch_size=32, momentum=0.9),  # the article's SGD
        plain(batch_size=64, optimizer="adam"),
    ],
    ids=["sgd-momentum", "adam"],
)
def test_suggestion_is_in_the_decade_of_the_best_fixed_rate(problem, config: TrainConfig) -> None:
    train, valid, truth = problem
    torch.manual_seed(0)
    model = PMF(truth["n_users"], truth["n_items"], n_factors=4)
    result = lr_range_test(model, train, config)
    best = _best_fixed_rate(train, valid, truth, config)
    assert best / 10 <= result.suggested_lr <= best * 10, (result.suggested_lr, best)


def test_rates_rise_geometrically_and_the_model_is_untouched(problem) -> None:
    train, _, truth = problem
    model = PMF(truth["n_users"], truth["n_items"], n_factors=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = lr_range_test(model, train, plain(batch_size=64), num_steps=200)
    ratios = np.diff(np.log(result.lrs))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-6)
    assert result.lrs[0] == pytest.approx(1e-6)
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) <= 200
    assert result.lrs[-1] <= 1.0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_stops_once_the_loss_blows_up(problem) -> None:
    train, _, truth = problem
    model = PMF(truth["n_users"], truth["n_items"], n_factors=4)
    result = lr_range_test(model, train, plain(batch_size=32), end_lr=100.0, num_steps=300)
    assert len(result.lrs) < 300
    assert result.smoothed[-1] > 2 * min(result.smoothed)


def test_suggest_lr_takes_the_bottom_of_the_curve() -> None:
    lrs = [10.0**e for e in np.linspace(-6, 0, 61)]
    curve = [1.0 - 0.5 * math.exp(-((e + 1.3) ** 2)) for e in np.linspace(-6, 0, 61)]
    assert suggest_lr(lrs, curve) == pytest.approx(10**-1.3, rel=1e-6)
    assert suggest_lr(lrs, curve, margin=10) == pytest.approx(10**-2.3, rel=1e-6)
    # A dip inside the skipped start does not count.
    curve[1] = 0.0
    assert suggest_lr(lrs, curve) == pytest.approx(10**-1.3, rel=1e-6)


def test_bad_arguments() -> None:
    from music_recommender.pmf import Ratings  # noqa: PLC0415

    data = Ratings.from_arrays([0], [0], [1.0])
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_range_test(PMF(1, 1, 1), data, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="num_steps must be >= 2"):
        lr_range_test(PMF(1, 1, 1), data, num_steps=1)
