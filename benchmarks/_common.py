"""Shared benchmark set-up: real data through the project's own preprocessing pipeline."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from music_recommender.hetrec import read_hetrec
from music_recommender.pipelines.preprocessing import create_pipeline
from music_recommender.pipelines.preprocessing.nodes import FilterParams, SplitParams

ROOT = Path(__file__).resolve().parents[1]


class _Kept(MemoryDataset):
    """An in-memory output the runner must not release once its last consumer has run."""

    def _release(self) -> None:
        pass


def base_parameters(name: str) -> dict:
    """A top-level block of conf/base/parameters_*.yml, as the pipelines see it."""
    for path in sorted((ROOT / "conf" / "base").glob("parameters*.yml")):
        params = yaml.safe_load(path.read_text()) or {}
        if name in params:
            return params[name]
    raise KeyError(f"no '{name}' block in conf/base/parameters*.yml")


def preprocess(raw_dir: Path) -> dict[str, pd.DataFrame]:
    """The `preprocessing` pipeline with conf/base parameters, in memory: its model-input frames."""
    params = base_parameters("preprocessing")
    wanted = ("interactions", "train_ratings", "validation_ratings", "test_ratings")
    catalog = DataCatalog(
        {
            **{name: _Kept() for name in wanted},
            "user_artists_raw": MemoryDataset(read_hetrec(raw_dir / "user_artists.dat")),
            "artists_raw": MemoryDataset(read_hetrec(raw_dir / "artists.dat")),
            "params:preprocessing.filter": MemoryDataset(FilterParams(**params["filter"])),
            "params:preprocessing.split": MemoryDataset(SplitParams(**params["split"])),
            "params:preprocessing.normalisation": MemoryDataset(params["normalisation"]),
            "params:preprocessing.summary_sample_rows": MemoryDataset(
                params["summary_sample_rows"]
            ),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return {name: catalog.load(name) for name in wanted}


def real_interactions(raw_dir: Path) -> pd.DataFrame:
    """Filtered, indexed interactions as the preprocessing pipeline makes them."""
    return preprocess(raw_dir)["interactions"]


def real_splits(raw_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, validation, test, interactions) as the preprocessing pipeline makes them."""
    out = preprocess(raw_dir)
    return out["train_ratings"], out["validation_ratings"], out["test_ratings"], out["interactions"]
