"""Every `kedro run` is an MLflow run: embedded SQLite store, a real server, a server that is down."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from music_recommender.tracking import flatten, metric_key, numeric, reachable

from .test_run import latest, run

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

PARAMS = {
    "training.rating.options.hyperparameters": "fixed",
    "training.recommending.options.hyperparameters": "fixed",
    "preprocessing.filter.min_listeners_per_artist": 2,
    "training.recommending.implicit.n_factors": 8,
}

_FILTER = "preprocessing.filter.min_listeners_per_artist=2"


@pytest.fixture(autouse=True)
def tracking_on(monkeypatch) -> None:
    """conftest turns tracking off for every other test."""
    monkeypatch.delenv("MUSIC_RECOMMENDER_TRACKING", raising=False)


def _track(project: Path, uri: str | None = None) -> None:
    """Point the throw-away project's runs at ``uri`` (default: the project's own store)."""
    lines = ["enabled: true"] + ([f"uri: {uri}"] if uri else [])
    (project / "conf/local/tracking.yml").write_text("\n".join(lines) + "\n")


def _only_run(uri: str) -> mlflow.entities.Run:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("music-recommender")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


def _artifacts(uri: str, run_id: str) -> set[str]:
    client = MlflowClient(tracking_uri=uri)
    found, folders = set(), [""]
    while folders:
        for item in client.list_artifacts(run_id, folders.pop() or None):
            (folders.append(item.path) if item.is_dir else found.add(item.path))
    return found


def test_flatten_names_and_keeps_only_finite_numbers() -> None:
    flat = flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x"}, "p.")
    assert flat == {"p.a.b": 1, "p.a.c": [1, 2], "p.d": "x"}
    assert metric_key("models.implicit.ndcg@10") == "models.implicit.ndcg_at_10"
    assert numeric({"x": 1, "y": float("nan"), "z": True, "w": "3"}) == {"x": 1.0}


def test_a_run_is_one_mlflow_run_with_parameters_metrics_and_artifacts(
    kedro_project: Path, raw_folder: Path, capsys
) -> None:
    _track(kedro_project)
    run(kedro_project, raw_folder, **PARAMS)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("Report: ")  # after the registry's line too
    uri = f"sqlite:///{kedro_project / 'mlruns/mlflow.db'}"
    tracked = _only_run(uri)
    assert tracked.info.status == "FINISHED"
    assert tracked.info.run_name.startswith("local ")
    params, metrics = tracked.data.params, tracked.data.metrics
    assert params["model.n_factors"] == "40"
    assert params["training.recommending.implicit.n_factors"] == "8"
    assert params["preprocessing.filter.min_listeners_per_artist"] == "2"
    for key in ("test_mse", "baseline_bias_mse", "train_seconds", "data.raw.rows"):
        assert key in metrics, sorted(metrics)
    assert 0 < metrics["ranking.models.implicit.ndcg_at_10"] <= 1
    assert "ranking.models.implicit.coverage" in metrics
    # beyond accuracy, per listener group, and the popularity-penalty trade-off
    for key in (
        "ranking.models.implicit.aplt",
        "ranking.models.popularity.gini",
        "ranking.groups.mainstreaminess.low.implicit.ndcg_at_10",
        "ranking.groups.mainstreaminess.high.rating.arp",
        "ranking.tradeoff.lambda_0.1.coverage",
        "tuning.recommending.validation.ndcg_at_10",  # the search's choice
    ):
        assert key in metrics, sorted(metrics)
    assert tracked.data.tags["kedro.env"] == "local"
    artifacts = _artifacts(uri, tracked.info.run_id)
    for name in (
        "models/rating_model.pt",
        "models/implicit_model.pt",
        "report/report.html",
        "report/artist_bias.csv",
        "figures/artist_map.png",
        "metrics/metrics.json",
        "tuning/recommending_trials.csv",  # every trial of the search
    ):
        assert name in artifacts, sorted(artifacts)
    saved = latest(kedro_project / "data/06_models/rating_model.pt").read_bytes()
    local = Path(
        MlflowClient(uri).download_artifacts(tracked.info.run_id, "models/rating_model.pt")
    )
    assert local.read_bytes() == saved


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path: Path):
    """`mlflow server` on 127.0.0.1, started here and stopped after the test."""
    port = _free_port()
    store = tmp_path / "server"
    store.mkdir()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination",
        str(store / "artifacts"),
        "--workers",
        "1",
    ]
    log = (store / "server.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{uri}/health", timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError((store / "server.log").read_text()[-2000:]) from None
            time.sleep(1)
    yield uri
    os.killpg(server.pid, 15)
    server.wait(timeout=30)
    log.close()


def test_a_team_server_is_one_line_in_conf_local(
    kedro_project: Path, raw_folder: Path, mlflow_server: str
) -> None:
    _track(kedro_project, mlflow_server)
    run(kedro_project, raw_folder, ["preprocessing", "training"], **PARAMS)
    tracked = _only_run(mlflow_server)
    assert tracked.info.status == "FINISHED"
    assert "test_mse" in tracked.data.metrics
    assert "models/implicit_model.pt" in _artifacts(mlflow_server, tracked.info.run_id)
    assert not (kedro_project / "mlruns").exists()  # nothing in the project's own store


def test_a_server_that_is_down_is_one_warning_and_the_run_goes_on(
    kedro_project: Path, raw_folder: Path
) -> None:
    port = _free_port()  # nothing listens there
    uri = f"http://127.0.0.1:{port}"
    assert not reachable(uri, 1)
    _track(kedro_project, uri)
    lines: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("music_recommender.tracking")
    logger.addHandler(handler)
    start = time.monotonic()
    try:
        run(kedro_project, raw_folder, ["preprocessing", "training"], **PARAMS)
    finally:
        logger.removeHandler(handler)
    assert lines == [f"MLflow server {uri} does not answer: this run is not tracked"]
    assert latest(kedro_project / "data/06_models/implicit_model.pt").stat().st_size > 0
    assert time.monotonic() - start < 60


def test_models_can_stay_out_of_the_run(kedro_project: Path, raw_folder: Path) -> None:
    (kedro_project / "conf/local/tracking.yml").write_text("enabled: true\nlog_models: false\n")
    run(kedro_project, raw_folder, ["preprocessing", "training"], **PARAMS)
    uri = f"sqlite:///{kedro_project / 'mlruns/mlflow.db'}"
    tracked = _only_run(uri)
    artifacts = _artifacts(uri, tracked.info.run_id)
    assert "metrics/metrics.json" in artifacts
    assert not any(name.startswith("models/") for name in artifacts)


def test_values_given_for_the_run_beat_the_tuned_ones_and_name_the_mlflow_run(
    kedro_project: Path, raw_folder: Path
) -> None:
    _track(kedro_project)
    given = "model.n_factors=6,training.recommending.implicit.alpha=3"
    params = f"raw_data_dir={raw_folder},hetrec_url=http://127.0.0.1:9/offline.zip,{given}"
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--params", f"{params},{_FILTER}"],
        cwd=kedro_project,
        capture_output=True,
        text=True,
        env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"},
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    models = kedro_project / "data/06_models"
    assert json.loads((models / "recipe.json").read_text())["n_factors"] == 6  # not the grid's
    assert json.loads((models / "implicit_settings.json").read_text())["alpha"] == 3
    assert "model.n_factors=6 was given for this run: it is used instead of the tuned" in output
    tracked = _only_run(f"sqlite:///{kedro_project / 'mlruns/mlflow.db'}")
    assert tracked.info.run_name.startswith("local model.n_factors=6,")
    assert "implicit.alpha=3" in tracked.info.run_name
    assert tracked.data.params["used.rating.n_factors"] == "6"
    assert tracked.data.params["used.implicit.alpha"] == "3"
    assert "training.recommending.implicit.alpha=3" in tracked.data.tags["overrides"]
