"""benchmarks/scale.py on a tiny setting of the scale environment (needs the bench extra)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT, make_project


def test_scale_benchmark_prints_pipelines_and_one_json_line(tmp_path: Path) -> None:
    pytest.importorskip("implicit")
    project = make_project(tmp_path / "project")
    out = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "benchmarks" / "scale.py"),
            "--project",
            str(project),
            "--params",
            "scale_users=400,scale_artists=600",
            "--skip-ratio",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["users"] == 400 and result["rows"] > 0
    assert set(result["pipelines"]) == {"preprocessing", "tuning", "training", "reporting"}
    assert 0 < result["ndcg10"] <= 1 and 0 < result["als_ndcg10"] <= 1
