"""House rules checked on the code itself: defaults equal conf/base, functions stay short."""

from __future__ import annotations

import ast
import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from music_recommender.pipelines.preprocessing.rules import (
    FilterParams,
    SplitParams,
    UnnamedArtistParams,
)
from music_recommender.pipelines.reporting.tables import BiasReportParams
from music_recommender.pmf.recipe import Recipe
from music_recommender.pmf.solver import ImplicitConfig
from music_recommender.retrieval import IndexParams

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 60


def _base() -> dict:
    params: dict = {}
    for path in sorted((ROOT / "conf" / "base").glob("parameters*.yml")):
        params |= yaml.safe_load(path.read_text()) or {}
    return params


def _defaults(cls: type) -> dict:
    return {
        f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
    }


@pytest.mark.parametrize(
    ("cls", "path"),
    [
        (ImplicitConfig, "training.recommending.implicit"),
        (FilterParams, "preprocessing.filter"),
        (SplitParams, "preprocessing.split"),
        (UnnamedArtistParams, "preprocessing.unnamed_artists"),
        (BiasReportParams, "reporting.artist_bias"),
        (IndexParams, "training.recommending.index"),
    ],
)
def test_dataclass_defaults_equal_conf_base(cls: type, path: str) -> None:
    block = _base()
    for key in path.split("."):
        block = block[key]
    defaults = _defaults(cls)
    assert set(defaults) == set(block), f"{cls.__name__} and conf/base {path} differ in keys"
    assert defaults == block


def test_recipe_defaults_equal_the_model_block() -> None:
    model = _base()["model"]
    assert Recipe().to_dict() == Recipe.from_dict(model).to_dict()


def _long_functions() -> list[str]:
    found = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES and node.name != "create_pipeline":
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    return found


def test_no_function_over_sixty_lines_outside_create_pipeline() -> None:
    assert _long_functions() == []


def test_a_plain_install_leaves_pyspark_out_and_spark_1_brings_it(tmp_path) -> None:
    import subprocess  # noqa: PLC0415

    def pip_line(*args: str) -> str:
        # Not the settings of a make that runs this test (`make test SPARK=1` in CI).
        clean = {k: v for k, v in os.environ.items() if k not in ("SPARK", "MAKEFLAGS", "MFLAGS")}
        done = subprocess.run(
            ["make", "-n", "install", f"VENV={tmp_path / 'venv'}", *args],
            env=clean,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return next(line for line in done.stdout.splitlines() if "pip install --quiet -e" in line)

    assert pip_line().endswith('-e ".[dev]"')
    assert pip_line("SPARK=1").endswith('-e ".[dev,spark]"')
