"""Settings a node would trip on late are refused up front, in one line, by the real command."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .test_safe_runs import _kedro

CASES = [
    ("preprocessing", "compute.torch_threads=two", "compute.torch_threads must be null, auto or an integer >= 1; got 'two'"),
    ("preprocessing", "compute.numpy_huge_pages=maybe", "compute.numpy_huge_pages must be null, true or false; got 'maybe'"),
    ("preprocessing", "preprocessing.split.seed=100000000000000000000", "preprocessing.split.seed must be an integer in [0, 2**63)"),
    ("training", "training.recommending.ranking.max_users=0", "max_users must be null (every listener) or an integer >= 1; got 0"),
]  # fmt: skip
if not torch.cuda.is_available():
    CASES.append(("training", "training.recommending.implicit.device=cuda", "this machine has no CUDA device: use auto or cpu"))  # fmt: skip


@pytest.mark.parametrize(("pipeline", "value", "message"), CASES)
def test_a_bad_setting_is_one_line_before_any_node(
    kedro_project: Path, raw_folder: Path, pipeline: str, value: str, message: str
) -> None:
    done = _kedro(kedro_project, raw_folder, "--pipelines", pipeline, f"params={value}")
    assert done.returncode != 0
    assert message in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "Running node" not in done.stdout + done.stderr


def test_a_yaml_syntax_error_in_conf_names_the_file_and_line(
    kedro_project: Path, raw_folder: Path
) -> None:
    (kedro_project / "conf/local/parameters.yml").write_text("training:\n  recommending: [oops\n")
    done = _kedro(kedro_project, raw_folder, "--pipelines", "preprocessing")
    assert done.returncode != 0
    assert "Invalid YAML or JSON file" in done.stderr and "conf/local/parameters.yml" in done.stderr
    assert "unable to read line" in done.stderr and "Traceback" not in done.stderr


def test_a_model_too_big_for_this_machine_is_refused_before_any_node_or_allocation(
    kedro_project: Path, raw_folder: Path
) -> None:
    from music_recommender.pmf.errors import SettingError  # noqa: PLC0415
    from music_recommender.pmf.recommender import ImplicitRecommender  # noqa: PLC0415
    from music_recommender.pmf.solver import ImplicitConfig  # noqa: PLC0415

    from .test_run import run  # noqa: PLC0415

    run(kedro_project, raw_folder, ["preprocessing"])
    huge = "training.recommending.implicit.n_factors=1000000000"
    done = _kedro(kedro_project, raw_folder, "--pipelines", "training", f"params={huge}")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "training.recommending.implicit.n_factors=1,000,000,000 needs about" in done.stderr
    assert "GiB available: lower training.recommending.implicit.n_factors" in done.stderr
    assert "Running node" not in done.stdout + done.stderr
    # the library itself, as a fit of the same size from a notebook would be
    with pytest.raises(SettingError, match="n_factors=1,000,000,000 needs about"):
        ImplicitRecommender(ImplicitConfig(n_factors=10**9)).fit([0, 1], [1, 0], [3.0, 1.0], 2, 2)
