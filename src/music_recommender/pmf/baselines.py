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

    @classmethod
    def fit_tuned(
        cls,
        train: tuple[np.ndarray, np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray, np.ndarray],
        n_users: int,
        n_items: int,
        regs: list[float],
    ) -> tuple[BiasBaseline, float, float]:
        """The fit whose (user, item) ridge strengths from ``regs`` give the lowest validation MSE."""
        best: tuple[float, BiasBaseline, float, float] | None = None
        for reg_user in regs:
            for reg_item in regs:
                model = cls.fit(*train, n_users, n_items, reg_user, reg_item)
                score = (
                    mse(model.predict(validation[0], validation[1]), validation[2])
                    if len(validation[2])
                    else 0.0
                )
                if best is None or score < best[0]:
                    best = (score, model, reg_user, reg_item)
        if best is None:
            raise ValueError("regs must hold at least one ridge strength")
        return best[1], best[2], best[3]

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Predicted ratings."""
        return self.mean + self.user_bias[np.asarray(users)] + self.item_bias[np.asarray(items)]


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error (NaN for no rows)."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    return float(np.mean((pred - target) ** 2)) if len(target) else float("nan")
