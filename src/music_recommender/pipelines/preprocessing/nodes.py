"""Preprocessing nodes: validate, filter, index, split and scale the Last.fm play counts.

Every node is a pure function of frames and parameters; the catalog does all reading and writing
and picks the engine (pandas, or Spark under ``conf/spark``): each node hands its frames to
``engine_for(frame)``, the one dispatch point, and the rules both engines follow live in
``rules.py``. The EDA summary and figure are in ``eda.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from music_recommender.pipelines.preprocessing.engine import engine_for
from music_recommender.pipelines.preprocessing.rules import (
    FilterParams,
    SplitParams,
    UnnamedArtistParams,
)
from music_recommender.pmf.scaling import METHODS, RatingScaler


def validate_raw_data(
    user_artists: Any, artists: Any, unnamed: UnnamedArtistParams, rule: FilterParams
) -> tuple[Any, pd.DataFrame, Any]:
    """Both raw files checked together, and the filter's result, before any of them is saved.

    A run with a bad file, names that do not match or a filter that keeps nothing stops here,
    with the intermediate layer as the last good run left it.
    """
    return engine_for(user_artists).validate_raw_data(user_artists, artists, unnamed, rule)


def index_ids(user_artists: Any, artists: pd.DataFrame) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    """Number users and artists 0..n-1 (embedding rows) and keep the maps back to ids and names."""
    return engine_for(user_artists).index_ids(user_artists, artists)


def index_and_publish(
    user_artists: Any, artists: pd.DataFrame
) -> tuple[Any, Any, pd.DataFrame, pd.DataFrame]:
    """``index_ids``, its rows returned twice: published as ``interactions`` and handed on in memory.

    The split reads the in-memory copy, in the engine's own frame type; the published file is what
    the other pipelines read (as pandas, in every environment). No copy is made.
    """
    interactions, user_map, artist_map = index_ids(user_artists, artists)
    return interactions, interactions, user_map, artist_map


def describe_source(
    run_info: dict[str, str], user_artists: Any, user_map: pd.DataFrame
) -> dict[str, Any]:
    """Which raw files the rows came from and which listeners the filter removed: the command line
    names the data it answers from, and tells a removed listener's id from a mistyped one."""
    raw = engine_for(user_artists).sorted_ids(user_artists, "user_id")
    removed = np.setdiff1d(raw, user_map["user_id"].to_numpy(dtype=np.int64))
    return {
        "raw_data": run_info.get("data", "unknown"),
        "environment": run_info.get("environment", ""),
        "preprocessed": run_info.get("started", ""),
        "filtered_out_users": [int(u) for u in removed],
    }


def split_interactions(interactions: Any, params: SplitParams) -> tuple[Any, Any, Any]:
    """Seeded random split of rows into train, validation and test.

    Each row's part comes from a seeded hash of its (user id, artist id), compared with the
    cumulative fractions (``rules.split_bounds``): no permutation of all rows, the same rows on
    pandas and on Spark, and a row keeps its part when other rows come or go. The parts' sizes
    are the fractions up to sampling noise (about 0.1 % of the rows at hetrec's 92 k).
    """
    return engine_for(interactions).split_interactions(interactions, params)


def fit_scaler(train: Any, normalisation: str) -> dict[str, Any]:
    """Fit the rating scale on train weights; kept so predictions map back to play counts."""
    if normalisation not in METHODS:
        raise ValueError(
            f"preprocessing.normalisation must be one of {', '.join(METHODS)}; got {normalisation!r}"
        )
    # From the rows per play count (RatingScaler.fit_counts): the same floats from either engine.
    counts = engine_for(train).weight_counts(train)
    return RatingScaler.fit_counts(counts.index, counts, normalisation).to_dict()


def apply_scaler(split: Any, scaler: dict[str, Any]) -> Any:
    """Add the model's target column ``rating`` (float32, as the model trains in float32)."""
    return engine_for(split).apply_scaler(split, scaler)
