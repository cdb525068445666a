"""Map play counts to the model's rating scale and back."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

Method = Literal["zscore", "log_zscore"]
METHODS: tuple[str, ...] = ("zscore", "log_zscore")


@dataclass(frozen=True)
class RatingScaler:
    """z-score of play counts (``zscore``, the article) or of ``log1p`` play counts (``log_zscore``)."""

    method: Method
    mean: float
    std: float

    @classmethod
    def fit(cls, weights: np.ndarray, method: str) -> RatingScaler:
        """Fit on training weights only, so validation and test stay unseen."""
        if method not in METHODS:
            raise ValueError(f"normalisation must be one of {', '.join(METHODS)}; got {method!r}")
        x = _forward(np.asarray(weights, dtype=np.float64), method)
        if x.size == 0:
            raise ValueError("cannot fit a rating scaler on zero weights")
        return cls.from_moments(method, float(x.mean()), float(x.std()))

    @classmethod
    def fit_counts(cls, values: np.ndarray, counts: np.ndarray, method: str) -> RatingScaler:
        """Fit from each distinct play count and how many rows have it, summed in value order.

        The same floats whichever engine counted the rows (a distributed sum adds in another
        order), and a table as small as the distinct play counts.
        """
        if method not in METHODS:
            raise ValueError(f"normalisation must be one of {', '.join(METHODS)}; got {method!r}")
        order = np.argsort(values, kind="stable")
        x = _forward(np.asarray(values, dtype=np.float64)[order], method)
        c = np.asarray(counts, dtype=np.float64)[order]
        if not c.sum():
            raise ValueError("cannot fit a rating scaler on zero weights")
        mean = float(np.average(x, weights=c))
        return cls.from_moments(
            method, mean, float(np.sqrt(np.average((x - mean) ** 2, weights=c)))
        )

    @classmethod
    def from_moments(cls, method: str, mean: float, std: float) -> RatingScaler:
        """From the mean and population std of the transformed weights, however an engine got them."""
        return cls(method=method, mean=float(mean), std=float(std) if std > 0 else 1.0)  # type: ignore[arg-type]

    def transform(self, weights: np.ndarray) -> np.ndarray:
        """Play counts to ratings."""
        return (_forward(np.asarray(weights, dtype=np.float64), self.method) - self.mean) / self.std

    def inverse(self, ratings: np.ndarray) -> np.ndarray:
        """Ratings back to play counts."""
        x = np.asarray(ratings, dtype=np.float64) * self.std + self.mean
        return np.expm1(x) if self.method == "log_zscore" else x

    def to_dict(self) -> dict[str, float | str]:
        """JSON-ready form for the catalog."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RatingScaler:
        """Rebuild from ``to_dict`` output."""
        return cls(method=data["method"], mean=float(data["mean"]), std=float(data["std"]))


def _forward(x: np.ndarray, method: str) -> np.ndarray:
    return np.log1p(x) if method == "log_zscore" else x
