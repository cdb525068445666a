"""Finite or nothing, through the real commands: no NaN model ever ships or answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from music_recommender import synthetic
from music_recommender.pmf import PMF, RatingRecommender

from .test_run import latest
from .test_safe_runs import _kedro

FIXED = (
    "training.rating.options.hyperparameters=fixed,"
    "training.recommending.options.hyperparameters=fixed,"
    "preprocessing.filter.min_listeners_per_artist=2"
)


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[-1] if lines else ""


@pytest.mark.parametrize(
    "value",
    ["training.recommending.implicit.reg=.inf", "training.recommending.implicit.alpha=.nan"],
)
def test_a_non_finite_setting_stops_the_run_before_any_node(
    kedro_project: Path, raw_folder: Path, value: str
) -> None:
    done = _kedro(kedro_project, raw_folder, "--pipelines", "training", f"params={FIXED},{value}")
    assert done.returncode != 0
    name = value.split("=", maxsplit=1)[0].removeprefix("training.recommending.")
    assert f"{name} must be a finite number" in done.stderr, done.stderr[-2000:]
    assert "'training.recommending.implicit'" in done.stderr  # Kedro names the parameter
    assert "Traceback" not in done.stderr and "Running node" not in done.stdout + done.stderr


def test_a_fit_that_overflows_fails_and_leaves_no_model(
    kedro_project: Path, raw_folder: Path
) -> None:
    prepared = _kedro(kedro_project, raw_folder, "--pipelines", "preprocessing", f"params={FIXED}")
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    # Finite, but 1 + 1e38 * log1p(plays) overflows float32: the factors come out NaN.
    done = _kedro(
        kedro_project,
        raw_folder,
        "--pipelines",
        "training",
        f"params={FIXED},training.recommending.implicit.alpha=1e38",
    )
    assert done.returncode != 0
    assert "are not finite (NaN or inf)" in done.stderr and "Traceback" not in done.stderr
    models = kedro_project / "data/06_models/implicit_model.pt"
    assert not models.exists() or not any(models.iterdir())  # its version was removed


def test_a_play_count_past_the_bound_stops_preprocessing_before_any_save(
    kedro_project: Path, tmp_path: Path
) -> None:
    data = synthetic.generate(n_users=40, n_artists=60, artists_per_user=10, seed=1)
    data.user_artists["weight"] = data.user_artists["weight"].astype(float)
    data.user_artists.loc[3, "weight"] = 1e308
    raw = synthetic.write_hetrec(data, tmp_path / "raw")
    done = _kedro(kedro_project, raw, "--pipelines", "preprocessing")
    assert done.returncode != 0
    assert (
        "column 'weight' must be a positive number (a play count) of at most 1e+12" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert not any((kedro_project / "data/02_intermediate").iterdir())  # nothing was written


def test_the_command_line_refuses_a_model_whose_weights_are_not_finite(
    kedro_project: Path, raw_folder: Path
) -> None:
    done = _kedro(
        kedro_project, raw_folder, "--pipelines", "preprocessing,training", f"params={FIXED}"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    path = latest(kedro_project / "data/06_models/implicit_model.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["item_factors.weight"][0, 0] = float("nan")
    torch.save(payload, path)
    user = synthetic.generate(n_users=1, n_artists=1, artists_per_user=1).user_ids[0]
    command = [sys.executable, "-m", "music_recommender.cli", "--project", str(kedro_project)]
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"}
    answer = subprocess.run(
        [*command, "recommend", "--user", str(user)], capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )  # fmt: skip
    assert answer.returncode == 2 and answer.stdout == ""
    assert "not all finite" in answer.stderr and "Traceback" not in answer.stderr


def test_a_model_that_is_not_finite_is_never_adopted_by_a_fit() -> None:
    rec = RatingRecommender()
    model = PMF(3, 4, n_factors=2)
    with torch.no_grad():
        model.user_factors.weight[1] = float("inf")
    from music_recommender.pmf.recommender import check_finite  # noqa: PLC0415

    with pytest.raises(ValueError, match=r"user_factors\.weight are not finite"):
        check_finite(model)
    assert rec.model is None


def test_blank_artist_names_count_as_unnamed(kedro_project: Path, tmp_path: Path) -> None:
    data = synthetic.generate(n_users=40, n_artists=60, artists_per_user=10, seed=1)
    data.artists["name"] = "   "  # every name blank: the two files do not belong together
    raw = synthetic.write_hetrec(data, tmp_path / "raw")
    done = _kedro(kedro_project, raw, "--pipelines", "preprocessing")
    assert done.returncode != 0
    assert "played artist ids have no name in" in done.stderr and "Traceback" not in done.stderr
