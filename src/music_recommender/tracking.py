"""Every `kedro run` as an MLflow run: parameters, metrics, models, report and figures.

Configured by ``conf/<env>/tracking.yml`` (``uri``, ``experiment``, ``enabled``,
``timeout_s``); the default is a SQLite store inside the project (``mlruns/mlflow.db``, artefacts
beside it), so a run needs no server, and one line in ``conf/local/tracking.yml`` points a
teammate at the team's server. Tracking never breaks a run: a server that does not answer, or
any MLflow error mid-run, gives one warning and the run goes on without it.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from music_recommender.hooks import git_commit, saved_path

logger = logging.getLogger(__name__)

# Datasets whose numbers become MLflow metrics, under these prefixes.
METRIC_DATASETS = {
    "metrics": "",
    "ranking_metrics": "ranking.",
    "preprocessing_summary": "data.",
}
# Datasets whose files become MLflow artefacts, in these artefact folders.
ARTIFACT_DATASETS = {
    "pmf_model": "models",
    "implicit_model": "models",
    "report": "report",
    "artist_bias_report": "report",
    "metrics": "metrics",
    "ranking_metrics": "metrics",
}
FIGURE_SUFFIX = "plot@figure"
_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")
_MAX_PARAM = 6000  # MLflow's limit on a parameter value


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b.c": leaf}`` for nested dicts and dataclasses; lists stay one value."""
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        value = {name: getattr(value, name) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out |= flatten(inner, f"{prefix}{key}.")
        return out
    return {prefix[:-1]: value} if prefix else {}


def metric_key(key: str) -> str:
    """An MLflow-safe metric name (``precision@10`` -> ``precision_at_10``)."""
    return _KEY.sub("_", key.replace("@", "_at_"))


def numeric(values: dict[str, Any]) -> dict[str, float]:
    """The finite numbers among ``values`` (booleans and text left out)."""
    return {
        metric_key(k): float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def reachable(uri: str, timeout_s: float) -> bool:
    """Whether a tracking server answers a TCP connection (local stores always do)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return True
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def local_uri(uri: str, project: Path) -> tuple[str, str | None]:
    """The tracking URI with a relative SQLite path made absolute, and its artefact folder."""
    if not uri.startswith("sqlite:///") or uri.startswith("sqlite:////"):
        return uri, None
    path = project / uri.removeprefix("sqlite:///")
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}", (path.parent / "artifacts").as_uri()


class Tracker:
    """One MLflow run; every call is guarded so that a tracking failure only turns tracking off."""

    def __init__(self, uri: str, experiment: str, timeout_s: float, artifacts: str | None) -> None:
        self.uri, self.experiment, self.artifacts = uri, experiment, artifacts
        self.timeout_s = timeout_s
        self.run_id: str | None = None
        self.off = False
        self._client: Any = None

    def start(self, name: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        """Open the run and log every parameter."""
        self._guard(lambda: self._start(name, params, tags))

    def metrics(self, values: dict[str, float]) -> None:
        """Log numbers (one step)."""
        self._guard(lambda: self._log_batch(metrics=values))

    def artifact(self, path: Path, folder: str) -> None:
        """Copy a file (or folder) into the run's artefacts."""
        self._guard(lambda: self._client.log_artifact(self.run_id, str(path), folder))

    def end(self, status: str) -> None:
        """Close the run as FINISHED or FAILED."""
        self._guard(lambda: self._client.set_terminated(self.run_id, status))
        self.run_id = None

    def _start(self, name: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(self.timeout_s) + 5))
        from mlflow.tracking import MlflowClient  # noqa: PLC0415 (only when tracking is on)

        self._client = MlflowClient(tracking_uri=self.uri)
        found = self._client.get_experiment_by_name(self.experiment)
        experiment = (
            found.experiment_id
            if found is not None
            else self._client.create_experiment(self.experiment, artifact_location=self.artifacts)
        )
        run = self._client.create_run(experiment, run_name=name, tags=tags)
        self.run_id = run.info.run_id
        flat = {k: str(v)[:_MAX_PARAM] for k, v in params.items()}
        self._log_batch(params=flat)
        logger.info("MLflow run %s (%s) in %s", name, self.run_id, self.uri)

    def _log_batch(
        self, metrics: dict[str, float] | None = None, params: dict[str, str] | None = None
    ) -> None:
        from mlflow.entities import Metric, Param  # noqa: PLC0415

        now = int(time.time() * 1000)
        metric_rows = [Metric(k, v, now, 0) for k, v in (metrics or {}).items()]
        param_rows = [Param(k, v) for k, v in (params or {}).items()]
        for start in range(0, max(len(metric_rows), len(param_rows)), 100):  # MLflow's batch cap
            self._client.log_batch(
                self.run_id,
                metrics=metric_rows[start : start + 100],
                params=param_rows[start : start + 100],
            )

    def _guard(self, call: Callable[[], Any]) -> None:
        if self.off:
            return
        try:
            call()
        except Exception as exc:  # tracking must never stop the run
            logger.warning("MLflow tracking is off for the rest of this run: %s", _first_line(exc))
            self.off = True


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class TrackingHook:
    """Opens an MLflow run per `kedro run`; logs parameters, metrics and artefacts as they appear."""

    def __init__(self) -> None:
        self._settings: dict[str, Any] = {}
        self._project = Path.cwd()
        self._env = ""
        self._catalog: Any = None
        self._tracker: Tracker | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Read ``tracking.yml`` of the run's environment."""
        try:
            self._settings = dict(context.config_loader["tracking"])
        except Exception:  # no tracking.yml: nothing to track to
            self._settings = {}
        self._project, self._env = Path(context.project_path), context.env or "local"

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """Start the run (or say in one line why not) and log every parameter."""
        self._tracker, self._catalog = None, catalog
        settings = self._settings
        if not settings.get("enabled") or os.environ.get("MUSIC_RECOMMENDER_TRACKING") == "0":
            return
        uri, artifacts = local_uri(str(settings["uri"]), self._project)
        timeout = float(settings.get("timeout_s", 3))
        if not reachable(uri, timeout):
            logger.warning("MLflow server %s does not answer: this run is not tracked", uri)
            return
        self._tracker = Tracker(uri, str(settings["experiment"]), timeout, artifacts)
        tags = {
            "kedro.env": self._env,
            "kedro.run_id": str(run_params.get("run_id") or ""),
            "kedro.pipelines": ",".join(run_params.get("pipeline_names") or ["__default__"]),
            "git.commit": git_commit(str(self._project)),
        }
        name = f"{self._env} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        self._tracker.start(name, flatten(catalog.load("parameters")), tags)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Metrics from the metric files; models, report, tables and figures as artefacts."""
        if self._tracker is None:
            return
        if dataset_name in METRIC_DATASETS:
            self._tracker.metrics(numeric(flatten(data, METRIC_DATASETS[dataset_name])))
        folder = ARTIFACT_DATASETS.get(dataset_name)
        if folder is None and dataset_name.endswith(FIGURE_SUFFIX):
            folder = "figures"
        if folder == "models" and not self._settings.get("log_models", True):
            folder = None
        if folder is not None:
            path = saved_path(self._catalog.get(dataset_name))
            if path is not None and path.exists():
                self._tracker.artifact(path, folder)

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Close the run as finished."""
        if self._tracker is not None:
            self._tracker.end("FINISHED")
            self._tracker = None

    @hook_impl
    def on_pipeline_error(self) -> None:
        """Close the run as failed."""
        if self._tracker is not None:
            self._tracker.end("FAILED")
            self._tracker = None
