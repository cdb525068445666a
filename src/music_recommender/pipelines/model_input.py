"""Frames from the model-input layer to tensors: shared by the tuning and training nodes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from music_recommender.pmf import Ratings


def to_ratings(frame: pd.DataFrame) -> Ratings:
    """``user_index``, ``artist_index``, ``rating`` columns as model tensors."""
    return Ratings.from_arrays(frame["user_index"], frame["artist_index"], frame["rating"])


def holdout(train: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded slice of ``train`` for validation when the split has no validation part."""
    mask = np.random.default_rng(seed).random(len(train)) < fraction
    return train[~mask].reset_index(drop=True), train[mask].reset_index(drop=True)
