"""Shared fixtures: small synthetic data and a throw-away copy of the Kedro project."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Before anything imports kedro: no telemetry prompt, post or network wait in tests.
os.environ["KEDRO_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
# Tracking has its own tests (tests/test_tracking.py, which turn it back on); elsewhere, in any
# environment, a run is not tracked.
os.environ["MUSIC_RECOMMENDER_TRACKING"] = "0"

import pytest

from music_recommender import synthetic

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
