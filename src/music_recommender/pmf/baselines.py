"""Baselines a rating model must beat: the global mean and regularised user + artist biases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BiasBaseline:
    """``mean + user_bias + item_bias``, fitted by alternating ridge updates (Surprise's BaselineOnly)."""

    mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray

    @classmethod
    def fit(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        ratings: np.ndarray,
        n_users: int,
        n_items: int,
        reg_user: float = 15.0,
        reg_item: float = 10.0,
        iterations: int = 10,
    ) -> BiasBaseline:
        """Each update is the exact ridge solution given the other side's biases."""
        users, items = np.asarray(users), np.asarray(items)
        ratings = np.asarray(ratings, dtype=np.float64)
        mean = float(ratings.mean())
        bu, bi = np.zeros(n_users), np.zeros(n_items)
        n_u = np.bincount(users, minlength=n_users)
        n_i = np.bincount(items, minlength=n_items)
        for _ in range(iterations):
            bi = np.bincount(items, ratings - mean - bu[users], minlength=n_items) / (
                reg_item + n_i
            )
            bu = np.bincount(users, ratings - mean - bi[items], minlength=n_users) / (
                reg_user + n_u
            )
        return cls(mean, bu, bi)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings."""
        return self.mean + self.user_bias[np.asarray(users)] + self.item_bias[np.asarray(items)]


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error (NaN for no rows)."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    return float(np.mean((pred - target) ** 2)) if len(target) else float("nan")
