"""Open an MLflow run per ``kedro run`` (``tracking.py``: the guarded client and what is logged)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from music_recommender.catalog_files import git_commit, saved_path
from music_recommender.errors import RunStopped
from music_recommender.hooks.overrides import OverridesHook
from music_recommender.hooks.safe_run import SafeRunHook
from music_recommender.tracking import (
    ARTIFACT_DATASETS,
    FIGURE_SUFFIX,
    METRIC_DATASETS,
    Tracker,
    flatten,
    local_uri,
    numeric,
    reachable,
)

logger = logging.getLogger("music_recommender.tracking")  # all that tracking says, in one logger
# The settings a run resolved (tuned values, or the user's), logged as parameters with a prefix.
USED_SETTINGS = {"recipe": "used.rating.", "implicit_settings": "used.implicit."}
RECOMMENDER = "implicit_model"  # logged as an MLflow model at the end of a run that trains it


def _short(key: str) -> str:
    """``implicit.alpha`` for ``training.recommending.implicit.alpha``: a run name people read."""
    for prefix in ("training.recommending.", "training.rating.", "tuning.recommending."):
        if key.startswith(prefix):
            return key.removeprefix(prefix)
    return key


class TrackingHook:
    """Opens an MLflow run per `kedro run`; logs parameters, metrics and artefacts as they appear."""

    def __init__(self) -> None:
        self._settings: dict[str, Any] = {}
        self._model: Path | None = None  # this run's new recommender, to log as an MLflow model
        self._ndcg: float | None = None
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
        self._model, self._ndcg = None, None
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
        given = OverridesHook.current
        tags["overrides"] = ",".join(f"{k}={v}" for k, v in given.items())[:4000] or "none"
        name = (
            f"{self._env} {','.join(f'{_short(k)}={v}' for k, v in given.items())}"[:240]
            if given
            else f"{self._env} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        )
        self._tracker.start(name, flatten(catalog.load("parameters")), tags)
        killed = SafeRunHook.killed_run or {}
        if killed.get("tracking_run") and killed.get("tracking_uri") == uri:
            self._tracker.close_killed(str(killed["tracking_run"]))
        SafeRunHook.note("tracking_uri", uri)
        SafeRunHook.note("tracking_run", self._tracker.run_id)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Metrics from the metric files; models, report, tables and figures as artefacts."""
        if self._tracker is None:
            return
        if dataset_name in METRIC_DATASETS:
            self._tracker.metrics(numeric(flatten(data, METRIC_DATASETS[dataset_name])))
        if dataset_name in USED_SETTINGS:  # what was fitted, tuned or given: beside conf's values
            self._tracker.params(flatten(data, USED_SETTINGS[dataset_name]))
        if dataset_name == RECOMMENDER:
            self._model = saved_path(self._catalog.get(dataset_name))
        if dataset_name == "ranking_metrics":
            ndcg = data.get("models", {}).get("implicit", {}).get("ndcg@10")
            self._ndcg = float(ndcg) if isinstance(ndcg, int | float) else None
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
        """Log a new recommender as an MLflow model (registered, aliases moved); close the run."""
        if self._tracker is None:
            return
        if self._model is not None and self._settings.get("log_models", True):
            files = {"model": self._model} | {
                key: saved_path(self._catalog.get(name))
                for key, name in (("users", "user_map"), ("artists", "artist_map"))
            }
            self._tracker.recommender(
                files,
                self._catalog.load("interactions"),
                dict(self._settings.get("registry") or {}),
                self._ndcg,
            )
        self._tracker.end("FINISHED")
        self._tracker = None

    @hook_impl
    def on_pipeline_error(self, error: BaseException) -> None:
        """Close the run as failed, or as killed when a signal stopped it."""
        if self._tracker is not None:
            self._tracker.end("KILLED" if isinstance(error, RunStopped) else "FAILED")
            self._tracker = None
