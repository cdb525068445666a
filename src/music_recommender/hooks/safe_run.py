"""Runs that fail, stop or are killed leave the last good run's outputs whole."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline
from kedro.runner.runner import _find_nodes_to_resume_from

from music_recommender.atomic import atomic_writes, remove_partials
from music_recommender.catalog_files import saved_path
from music_recommender.parameters import check_keys, check_parameters, known_keys
from music_recommender.run_lock import RunLock
from music_recommender.user_errors import user_error

REPORT = "report"  # the catalog's HTML report, named in the run's last line
logger = logging.getLogger(__name__)


class SafeRunHook:
    """A run that fails, is stopped or is killed leaves the outputs of the last good run, whole.

    - every parameter of the pipelines about to run is checked before any node runs
      (``check_parameters``);
    - one run at a time per data folder (``RunLock`` on ``globals.outputs_dir``);
    - every local file dataset saves atomically (``atomic_writes``), and temporary files that a
      killed run left are removed when the next one starts;
    - a run that fails or is interrupted removes the versions of versioned datasets (models,
      metrics, report) it wrote, so later commands never pick up its model as the latest, and
      says how to resume (``--from-nodes``, counting the nodes whose versions were removed).
    """

    # The run in progress in this process, for the Ctrl-C path of the excepthook.
    active: ClassVar[SafeRunHook | None] = None

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._known: set[str] | None = None
        self._lock: RunLock | None = None
        self._catalog: Any = None
        self._pipeline: Pipeline | None = None
        self._done: set[str] = set()
        self._versions: dict[Path, str] = {}  # version folder -> node that wrote it
        self._report: Path | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Find the data folder this environment writes to."""
        try:
            folder = context.config_loader["globals"].get("outputs_dir", "data")
        except Exception:  # no globals: Kedro's default data folder
            folder = "data"
        folder = Path(folder)
        self._folder = folder if folder.is_absolute() else Path(context.project_path) / folder
        source = Path(str(getattr(context.config_loader, "conf_source", "")))
        self._known = known_keys(source) if source.is_dir() else None

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: DataCatalog) -> None:
        """Check the parameters, take the data folder's lock, clear a killed run's temporary files."""
        if self._known is not None:  # a typo in conf/local or --params, before any work
            check_keys(catalog.load("parameters"), self._known)
        check_parameters(set(pipeline.inputs()), catalog.load)
        self._catalog, self._pipeline, self._done, self._versions = catalog, pipeline, set(), {}
        if self._folder is not None:
            self._release()
            self._lock = RunLock(self._folder).acquire()
            for path in remove_partials(self._folder):
                logger.info("removed %s, left by a run that was stopped mid-save", path)
        SafeRunHook.active = self

    @hook_impl
    def before_dataset_saved(self, dataset_name: str) -> None:
        """Make the dataset's save atomic (once per dataset)."""
        dataset = self._dataset(dataset_name)
        if dataset is not None:
            atomic_writes(dataset)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Remember a versioned dataset's new version (removed if the run fails)."""
        dataset = self._dataset(dataset_name)
        if getattr(dataset, "_version", None) is None or not hasattr(dataset, "_filepath"):
            return
        path = saved_path(dataset)
        self._versions[path.parent] = node.name
        if dataset_name == REPORT:
            self._report = path

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        """Count the node as done (for the resume hint)."""
        self._done.add(node.name)

    @hook_impl
    def on_pipeline_error(self, error: BaseException) -> None:
        """Undo the failed run's versions; say how to resume (not after a user's mistake that
        stopped the run before any node finished: running it again would fail the same way)."""
        hint = self.abandon(mistake=user_error(error) is not None)
        if hint:
            logger.warning(hint)

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Let the next run in; the last line names the report, when this run wrote one."""
        self._versions, self._pipeline, SafeRunHook.active = {}, None, None
        self._release()
        if self._report is not None:
            shown = os.path.relpath(self._report) if self._report.is_absolute() else self._report
            logger.info("Report: %s", shown)
            self._report = None

    def abandon(self, mistake: bool = False) -> str | None:
        """Remove this run's new versions, release the lock; returns how to resume, if known."""
        for version in self._versions:
            shutil.rmtree(version, ignore_errors=True)
            logger.warning("removed %s: the run that wrote it did not finish", version)
        undone = set(self._versions.values())
        hint = self._resume_hint(self._done - undone, mistake)
        self._versions, self._pipeline, SafeRunHook.active = {}, None, None
        self._release()
        return hint

    def _resume_hint(self, done: set[str], mistake: bool = False) -> str | None:
        if self._pipeline is None or self._catalog is None:
            return None
        if not done:
            return None if mistake else "nothing was kept: run the same command again"
        remaining = [node for node in self._pipeline.nodes if node.name not in done]
        if not remaining:
            return None
        start = _find_nodes_to_resume_from(self._pipeline, remaining, self._catalog)
        return f'to resume, run the same command with --from-nodes "{",".join(sorted(start))}"'

    def _dataset(self, name: str) -> Any:
        try:
            return self._catalog.get(name) if self._catalog is not None else None
        except Exception:
            return None

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
