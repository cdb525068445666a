"""Shared benchmark set-up: real data through the project's own preprocessing nodes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from music_recommender.hetrec import read_hetrec
from music_recommender.pipelines.preprocessing.nodes import (
    FilterParams,
    SplitParams,
    apply_scaler,
    filter_sparse,
    fit_scaler,
    index_ids,
    split_interactions,
    validate_artists,
    validate_user_artists,
)

ROOT = Path(__file__).resolve().parents[1]


def base_parameters(name: str) -> dict:
    """A top-level block of conf/base/parameters_*.yml, as the pipelines see it."""
    for path in sorted((ROOT / "conf" / "base").glob("parameters*.yml")):
        params = yaml.safe_load(path.read_text()) or {}
        if name in params:
            return params[name]
    raise KeyError(f"no '{name}' block in conf/base/parameters*.yml")


def real_interactions(raw_dir: Path, min_listeners: int = 5) -> pd.DataFrame:
    """Filtered, indexed interactions exactly as the preprocessing pipeline makes them."""
    user_artists = validate_user_artists(read_hetrec(raw_dir / "user_artists.dat"))
    artists = validate_artists(read_hetrec(raw_dir / "artists.dat"))
    filtered = filter_sparse(user_artists, FilterParams(min_listeners_per_artist=min_listeners))
    return index_ids(filtered, artists)[0]


def real_splits(
    raw_dir: Path, normalisation: str = "log_zscore", min_listeners: int = 5, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, validation, test, interactions) exactly as the preprocessing pipeline makes them."""
    interactions = real_interactions(raw_dir, min_listeners)
    parts = split_interactions(interactions, SplitParams(seed=seed))
    scaler = fit_scaler(parts[0], normalisation)
    train, validation, test = (apply_scaler(p, scaler) for p in parts)
    return train, validation, test, interactions
