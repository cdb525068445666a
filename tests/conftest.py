"""Shared fixtures: small synthetic data and a throw-away copy of the Kedro project."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

# Before anything imports kedro: no telemetry prompt, post or network wait in tests.
os.environ["KEDRO_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
# Tracking has its own tests (tests/test_tracking.py, which turn it back on); elsewhere, in any
# environment, a run is not tracked.
os.environ["MUSIC_RECOMMENDER_TRACKING"] = "0"

import pandas as pd
import pytest

from music_recommender import synthetic
from music_recommender.datasets.spark_parquet_dataset import read_blocks

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_LAYERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)


@pytest.fixture(scope="session")
def small_data() -> synthetic.SyntheticLastfm:
    """A few thousand rows with planted structure; fast enough for every test."""
    return synthetic.generate(n_users=80, n_artists=150, artists_per_user=20, n_factors=4, seed=3)


@pytest.fixture
def raw_folder(tmp_path: Path, small_data: synthetic.SyntheticLastfm) -> Path:
    """The small data written in the HetRec format (CRLF, quotes in names)."""
    return synthetic.write_hetrec(small_data, tmp_path / "raw" / "hetrec2011-lastfm-2k")


@pytest.fixture
def kedro_project(tmp_path: Path) -> Path:
    """A copy of this project's conf and pyproject with empty data layers, so runs never touch data/."""
    return make_project(tmp_path / "project")


def make_project(project: Path) -> Path:
    """Lay out a throw-away Kedro project at ``project`` that shares this checkout's code."""
    project.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project)
    shutil.copytree(PROJECT_ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "conf" / "local").mkdir()
    # bootstrap_project wants a source folder; the package itself is imported from the checkout.
    (project / "src").mkdir()
    for layer in DATA_LAYERS:
        (project / "data" / layer).mkdir(parents=True)
    return project


def preprocessing_outputs(data: Path, spark: bool) -> dict[str, object]:
    """What a preprocessing run wrote under ``data``: maps, rows, sizes, scaler and summary.

    ``spark``: the row tables are `kedro run --env spark`'s listener-block Parquet folders.
    """

    def rows(folder: str, name: str) -> pd.DataFrame:
        if spark:
            return read_blocks(data / folder / name)
        return pd.read_parquet(data / folder / f"{name}.parquet")

    def loaded(name: str) -> dict:
        return json.loads((data / name).read_text())

    return {
        "user_map": pd.read_csv(data / "03_primary/user_map.csv"),
        "artist_map": pd.read_csv(data / "03_primary/artist_map.csv", keep_default_na=False),
        "interactions": rows("03_primary", "interactions"),
        **{p: rows("05_model_input", f"{p}_ratings") for p in ("train", "validation", "test")},
        "id_index": loaded("05_model_input/id_index.json"),
        "scaler": loaded("05_model_input/rating_scaler.json"),
        "summary": loaded("08_reporting/preprocessing_summary.json"),
    }
