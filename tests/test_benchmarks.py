"""The benchmarks on tiny settings: each prints its figures and one JSON object last."""

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
            "--threads",
            "1",
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
    assert result["als_fit_s"] > 0 and result["total_over_als_fit"] > 0
    assert result["threads"] == 1 and set(result["by_threads"]) == {"1"}
    assert result["tuning_s"] > 0 and result["training_s"] > 0
    # 600 artists: scored exactly, no index to measure; 400 listeners ranked: refit
    assert result["topn_recall_vs_exact"] is None and result["protocol"] == "refit"


def _last_json(script: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / script), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_distributed_benchmark_prints_the_issues_json(tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="pyspark is not installed: pip install -e '.[spark]'")
    from music_recommender.spark_session import java_available  # noqa: PLC0415

    if not java_available():
        pytest.skip("Spark needs Java: apt-get install openjdk-17-jre-headless")
    result = _last_json(
        "distributed.py", "--users", "300", "--artists", "400", "--sweeps", "1", "--repeats", "1"
    )
    assert result["spark_equal"] is True and result["processes"] == 2
    assert result["max_abs_factor_diff"] <= 1e-4
    assert result["sweep_s_1"] > 0 and result["sweep_s_2"] > 0


def test_capacity_scales_memory_with_rows_not_the_tables() -> None:
    small = _last_json("capacity.py", "--rows", "1e8", "--machines", "4")["yours"]
    large = _last_json("capacity.py", "--rows", "1e9", "--machines", "4")["yours"]
    assert large["tables_gb"] == small["tables_gb"] == pytest.approx(1.708, abs=0.001)
    assert (
        large["exchanged_gb_per_sweep_per_process"] == small["exchanged_gb_per_sweep_per_process"]
    )
    # 56 bytes per row, split over 4 machines; the tables' share stays
    per_row_gb = 56 * 9e8 / 4 / 1e9
    grown = large["memory_per_machine_gb"] - small["memory_per_machine_gb"]
    assert grown == pytest.approx(per_row_gb, rel=1e-6)
    assert large["sweep_s"] > 5 * small["sweep_s"]


def test_gpu_benchmark_dry_runs_on_the_cpu() -> None:
    # The script a GPU session runs (issue 25), on tiny settings and the CPU: it must work the
    # day a device is lent, without a first try spent on a typo.
    result = _last_json(
        "gpu.py", "--device", "cpu", "--users", "300", "--artists", "400", "--sweeps", "2"
    )
    assert result["device"] == "cpu" and result["users"] == 300 and result["rows"] > 0
    assert result["sweep_s"] > 0 and result["topn_all_s"] >= 0
    assert result["published_implicit_gpu_sweep_s"] == 0.39
