"""Model-input frames built by the preprocessing nodes from small synthetic data."""

from __future__ import annotations

import pandas as pd
import pytest

from music_recommender.pipelines.preprocessing.nodes import (
    apply_scaler,
    fit_scaler,
    index_ids,
    split_interactions,
)
from music_recommender.pipelines.preprocessing.pandas_engine import (
    filter_sparse,
    validate_artists,
    validate_user_artists,
)
from music_recommender.pipelines.preprocessing.rules import FilterParams, SplitParams, describe_ids


@pytest.fixture(scope="session")
def model_input(small_data) -> dict[str, pd.DataFrame]:
    """train / validation / test ratings plus interactions and the artist map."""
    clean = filter_sparse(
        validate_user_artists(small_data.user_artists), FilterParams(min_listeners_per_artist=2)
    )
    interactions, user_map, artist_map = index_ids(clean, validate_artists(small_data.artists))
    parts = split_interactions(interactions, SplitParams())
    scaler = fit_scaler(parts[0], "log_zscore")
    train, validation, test = (apply_scaler(p, scaler) for p in parts)
    return {
        "train": train,
        "validation": validation,
        "test": test,
        "interactions": interactions,
        "artist_map": artist_map,
        "user_map": user_map,
        "id_index": describe_ids(user_map, artist_map),
        "rating_scaler": scaler,
    }


@pytest.fixture
def quick_model() -> dict:
    """A fast recipe for tests."""
    return {
        "n_factors": 4,
        "optimizer": "adam",
        "batch_size": 128,
        "schedule": [[0.05, 4], [0.01, 2]],
        "l2": 0.1,
        "bias_l2": 0.01,
        "patience": 2,
        "seed": 1,
    }
