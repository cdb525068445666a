"""A misspelt parameter key is refused in one line naming the key it was meant to be."""

from __future__ import annotations

from pathlib import Path

import pytest

from music_recommender.parameters import check_keys, known_keys

from .conftest import PROJECT_ROOT
from .test_safe_runs import _kedro


def test_typos_on_the_command_line_and_in_conf_local_name_the_right_key(
    kedro_project: Path, raw_folder: Path
) -> None:
    done = _kedro(
        kedro_project,
        raw_folder,
        "--pipelines",
        "preprocessing",
        "params=training.recommending.implict.alpha=5",
    )
    assert done.returncode != 0
    assert (
        "unknown parameter 'training.recommending.implict.alpha'; "
        "did you mean training.recommending.implicit.alpha?"
    ) in done.stderr
    assert "Traceback" not in done.stderr and "Running node" not in done.stdout + done.stderr
    (kedro_project / "conf/local/parameters.yml").write_text(
        "preprocesing:\n  split:\n    seed: 7\n"
    )
    done = _kedro(kedro_project, raw_folder, "--pipelines", "preprocessing")
    assert done.returncode != 0
    assert (
        "did you mean preprocessing.split.seed?" in done.stderr and "Traceback" not in done.stderr
    )


def test_every_documented_and_runtime_key_is_known() -> None:
    known = known_keys(PROJECT_ROOT / "conf")
    assert {"raw_data_dir", "scale_users", "training.recommending.implicit.alpha"} <= known
    check_keys(
        {"raw_data_dir": "/x", "tuning": {"recommending": {"search": {"n_trials": 3}}}}, known
    )
    with pytest.raises(
        ValueError, match=r"unknown parameter 'modle\.n_factors'; did you mean model\.n_factors\?"
    ):
        check_keys({"modle": {"n_factors": 3}}, known)
    with pytest.raises(ValueError, match=r"unknown parameter 'nothing_like_it'$"):
        check_keys({"nothing_like_it": 1}, known)
