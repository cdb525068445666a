"""Every `kedro run` as an MLflow run (``hooks/tracking.py``): parameters, metrics, models, report.

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

from music_recommender.errors import RunStopped

logger = logging.getLogger(__name__)

# Datasets whose numbers become MLflow metrics, under these prefixes.
METRIC_DATASETS = {
    "metrics": "",
    "ranking_metrics": "ranking.",
    "index_quality": "index.",
    "cold_start_metrics": "cold_start.",
    "preprocessing_summary": "data.",
    "recommending_best_params": "tuning.recommending.",
}
# Datasets whose files become MLflow artefacts, in these artefact folders.
ARTIFACT_DATASETS = {
    "rating_model": "models",
    "implicit_model": "models",
    "report": "report",
    "artist_bias_report": "report",
    "metrics": "metrics",
    "ranking_metrics": "metrics",
    "recommending_trials": "tuning",
    "recommending_study": "tuning",
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

    def params(self, values: dict[str, Any]) -> None:
        """Log more parameters (the values a run resolved: tuned or given)."""
        flat = {k: str(v)[:_MAX_PARAM] for k, v in values.items()}
        self._guard(lambda: self._log_batch(params=flat))

    def artifact(self, path: Path, folder: str) -> None:
        """Copy a file (or folder) into the run's artefacts."""
        self._guard(lambda: self._client.log_artifact(self.run_id, str(path), folder))

    def end(self, status: str) -> None:
        """Close the run as FINISHED, FAILED or KILLED."""
        self._guard(lambda: self._client.set_terminated(self.run_id, status))
        self.run_id = None

    def recommender(
        self,
        files: dict[str, Path],
        interactions: Any,
        registry: dict[str, Any],
        ndcg: float | None,
    ) -> None:
        """Log the run's recommender as an MLflow model and register it (``serving.py``)."""

        def log() -> None:
            import mlflow  # noqa: PLC0415

            from music_recommender import serving  # noqa: PLC0415

            mlflow.set_tracking_uri(self.uri)
            with mlflow.start_run(run_id=self.run_id):
                info = serving.log_recommender(
                    files["model"], files["users"], files["artists"], interactions
                )
            name = registry.get("name")
            if not name:
                logger.info(
                    "MLflow model %s (not registered: tracking.registry.name is unset)",
                    info.model_uri,
                )
                return
            rule = str(registry.get("champion", "best_ndcg"))
            version, promoted, before = serving.register(
                info.model_uri, name, rule, ndcg, self._client
            )
            shown = f"{before:.4f}" if before is not None else "none"
            logger.info(
                "Registered %s version %s as candidate; champion %s (NDCG@10 %s against %s, rule %s)",
                name,
                version,
                "moves to it" if promoted else "stays",
                f"{ndcg:.4f}" if ndcg is not None else "unknown",
                shown,
                rule,
            )

        self._guard(log)

    def close_killed(self, run_id: str) -> None:
        """Mark a run whose process was killed (found by its marker) KILLED, if still RUNNING."""

        def close() -> None:
            if self._client.get_run(run_id).info.status == "RUNNING":
                self._client.set_terminated(run_id, "KILLED")
                logger.info("MLflow run %s of a killed run marked KILLED", run_id)

        self._guard(close)

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
        except RunStopped:  # a Ctrl-C while logging stops the run, not the tracking
            raise
        except Exception as exc:  # tracking must never stop the run
            logger.warning("MLflow tracking is off for the rest of this run: %s", _first_line(exc))
            self.off = True


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
