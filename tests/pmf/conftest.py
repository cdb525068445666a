"""Synthetic rating problems with planted structure, as model tensors."""

from __future__ import annotations

import numpy as np
import pytest

from music_recommender.pmf import Ratings, TrainConfig

# Plain minibatch SGD with no penalty and no early stopping: the library's defaults are the
# project's tuned recipe (conf/base), so tests that study one knob start from this instead.
PLAIN = {
    "optimizer": "sgd",
    "batch_size": 32,
    "l2": 0.0,
    "user_bias_ridge": 0.0,
    "item_bias_ridge": 0.0,
    "patience": None,
    "seed": 0,
}


def plain(**changes: object) -> TrainConfig:
    """A ``TrainConfig`` of ``PLAIN`` with some fields changed."""
    return TrainConfig(**{**PLAIN, **changes})


def planted(
    n_users: int = 120,
    n_items: int = 80,
    n_factors: int = 4,
    density: float = 0.3,
    seed: int = 0,
    noise: float = 0.1,
):
    """Ratings = biases + dot product + noise on a random subset of pairs; returns parts and truth."""
    rng = np.random.default_rng(seed)
    U = rng.normal(0, 0.7, (n_users, n_factors))
    V = rng.normal(0, 0.7, (n_items, n_factors))
    bu, bi = rng.normal(0, 0.5, n_users), rng.normal(0, 1.0, n_items)
    mask = rng.random((n_users, n_items)) < density
    users, items = np.nonzero(mask)
    r = bu[users] + bi[items] + (U[users] * V[items]).sum(1) + rng.normal(0, noise, len(users))
    order = rng.permutation(len(users))
    users, items, r = users[order], items[order], r[order]
    cut = int(0.8 * len(r))
    train = Ratings.from_arrays(users[:cut], items[:cut], r[:cut])
    valid = Ratings.from_arrays(users[cut:], items[cut:], r[cut:])
    return train, valid, {"user_bias": bu, "item_bias": bi, "n_users": n_users, "n_items": n_items}


@pytest.fixture(scope="module")
def problem():
    return planted()
