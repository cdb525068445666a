"""Runs that fail, stop or are killed leave the last good run's outputs whole."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline
from kedro.runner.runner import _find_nodes_to_resume_from

from music_recommender.atomic import atomic_writes, remove_partials
from music_recommender.catalog_files import outputs_dir, saved_path
from music_recommender.errors import RunStopped, UserError, signal_name
from music_recommender.parameters import check_keys, check_parameters, known_keys
from music_recommender.run_lock import RunLock
from music_recommender.unfinished import UnfinishedRun, describe, read
from music_recommender.user_errors import load_failure, user_error

REPORT = "report"  # the catalog's HTML report, named in the run's last line
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
logger = logging.getLogger(__name__)


class LoadVersionsError(UserError):
    """``--load-versions`` that would mix an older model with this run's outputs."""


def check_load_versions(pinned: dict[str, str], pipeline: Pipeline, catalog: DataCatalog) -> None:
    """Refuse pinning a dataset this run also writes (later nodes would read the old one while
    the new one is saved); when only reading, say which versioned inputs are left at the latest."""
    if not pinned:
        return
    written = {name for node in pipeline.nodes for name in node.outputs}
    clash = sorted(set(pinned) & written)
    if clash:
        raise LoadVersionsError(
            f"--load-versions {','.join(f'{n}:{pinned[n]}' for n in clash)} pins a dataset this "
            "run writes anew, so its nodes would mix the old and the new one. Ask an older model "
            "with `music-recommender recommend --model-version <version>`, or re-report one with "
            "`kedro run --pipelines reporting --load-versions <every versioned input>:<version>`"
        )
    versioned = sorted(
        name
        for name in pipeline.inputs()
        if getattr(_get(catalog, name), "_version", None) is not None
    )
    loose = [name for name in versioned if name not in pinned]
    if loose:
        logger.warning(
            "--load-versions pins %s but not %s: those are read at their latest version "
            "(pin them too, e.g. --load-versions %s)",
            ", ".join(sorted(pinned)),
            ", ".join(loose),
            ",".join(f"{n}:{next(iter(pinned.values()))}" for n in versioned),
        )


def _get(catalog: DataCatalog, name: str) -> Any:
    try:
        return catalog.get(name)
    except Exception:
        return None


# Libraries whose own bookkeeping turns an exception raised inside it into something else:
# logging prints it as a "Logging error" and carries on; Optuna, between trials, asserts; MLflow
# and its database layer wrap it in their own errors (tracking would then stop, not the run).
_DEFERRING = ("logging", "rich", "optuna", "mlflow", "sqlalchemy")


def _swallowing(frame: Any) -> bool:
    """Whether the code interrupted is a deferring library's own (not the project's code that the
    library called, such as the search's objective): from the innermost frame outwards."""
    while frame is not None:
        top = str(frame.f_globals.get("__name__", "")).split(".")[0]
        if top == "music_recommender":
            return False
        if top in _DEFERRING:
            return True
        frame = frame.f_back
    return False


class SafeRunHook:
    """A run that fails, is stopped or is killed leaves the outputs of the last good run, whole.

    - every parameter of the pipelines about to run is checked before any node runs
      (``check_parameters``);
    - one run at a time per data folder (``RunLock`` on ``outputs_dir``);
    - every local file dataset saves atomically (``atomic_writes``), and temporary files that a
      killed run left are removed when the next one starts;
    - a run that fails or is interrupted removes the versions of versioned datasets (models,
      metrics, report) it wrote, so later commands never pick up its model as the latest, and
      says how to resume (``--from-nodes``, counting the nodes whose versions were removed);
    - SIGINT and SIGTERM raise ``RunStopped`` in the running node, so a stop takes the failure
      path above; a second signal while stopping is ignored until the clean-up is done;
    - every version folder is listed in ``.run.unfinished.json`` before it is written
      (``unfinished.py``): after a ``kill -9`` the next run removes them, saying so, and the
      command line never answers from them.
    """

    # The run in progress in this process, for the Ctrl-C path of the excepthook.
    active: ClassVar[SafeRunHook | None] = None
    # What the last run found of a killed run (its marker), for TrackingHook to close its MLflow run.
    killed_run: ClassVar[dict[str, Any] | None] = None

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._known: set[str] | None = None
        self._lock: RunLock | None = None
        self._catalog: Any = None
        self._pipeline: Pipeline | None = None
        self._done: set[str] = set()
        self._versions: dict[Path, str] = {}  # version folder -> node that wrote it
        self._report: Path | None = None
        self._marker: UnfinishedRun | None = None
        self._stopping: int | None = None  # the signal that asked this run to stop
        self._raised = False  # whether RunStopped has been raised for it
        self._previous: dict[int, Any] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Find the data folder this environment writes to."""
        folder = Path(outputs_dir(context.config_loader))
        self._folder = folder if folder.is_absolute() else Path(context.project_path) / folder
        source = Path(str(getattr(context.config_loader, "conf_source", "")))
        self._known = known_keys(source) if source.is_dir() else None

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """Check the parameters, take the data folder's lock, clear a killed run's temporary files."""
        if self._known is not None:  # a typo in conf/local or --params, before any work
            check_keys(catalog.load("parameters"), self._known)
        check_parameters(set(pipeline.inputs()), catalog.load)
        check_load_versions(run_params.get("load_versions") or {}, pipeline, catalog)
        self._catalog, self._pipeline, self._done, self._versions = catalog, pipeline, set(), {}
        if self._folder is not None:
            self._release()
            self._lock = RunLock(self._folder).acquire()
            for path in remove_partials(self._folder):
                logger.info("removed %s, left by a run that was stopped mid-save", path)
            SafeRunHook.killed_run = self._remove_killed_runs_versions()
            self._marker = UnfinishedRun(self._folder)
            self._marker.start()
        SafeRunHook.active = self
        self._catch_stops()

    def _remove_killed_runs_versions(self) -> dict[str, Any] | None:
        """A marker found while holding the lock is a dead run's: remove what it listed."""
        assert self._folder is not None
        info = read(self._folder)
        if info is None:
            return None
        gone = [Path(p) for p in info.get("versions", []) if Path(p).exists()]
        for version in gone:
            shutil.rmtree(version, ignore_errors=True)
        logger.warning(
            "removed %d version folder(s) left by a run that never finished (%s)%s",
            len(gone),
            describe(info),
            "".join(f"\n  {os.path.relpath(p)}" for p in gone),
        )
        return info

    def _catch_stops(self) -> None:
        """SIGINT and SIGTERM stop the run through ``RunStopped`` (main thread only)."""
        self._stopping = None
        if threading.current_thread() is not threading.main_thread() or self._previous:
            return
        self._raised = False
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)
        if hasattr(signal, "SIGALRM"):
            self._previous[signal.SIGALRM] = signal.getsignal(signal.SIGALRM)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stopping is not None:  # already on the way out: let the clean-up finish
            logger.warning("%s again: still removing this run's versions", signal_name(signum))
            return
        self._stopping = signum
        self._raise_when_safe(frame)

    def _raise_when_safe(self, frame: Any) -> None:
        """Raise ``RunStopped`` where the code interrupted lets it through: inside a log call or
        Optuna's bookkeeping it would be swallowed or replaced, so try again in 20 ms."""
        if _swallowing(frame) and hasattr(signal, "setitimer"):
            signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, 0.02)
            return
        self._raised = True
        raise RunStopped(self._stopping or signal.SIGINT)

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self._stopping is not None and not self._raised and SafeRunHook.active is self:
            self._raise_when_safe(frame)

    @classmethod
    def note(cls, key: str, value: Any) -> None:
        """Add a fact to the running run's marker (its MLflow run, closed if it is killed)."""
        run = cls.active
        if run is not None and run._marker is not None and value is not None:
            run._marker.note(key, value)

    def _check_stop(self) -> None:
        """A stop swallowed by a node's ``except Exception`` still stops the run at its next step."""
        if self._stopping is not None and SafeRunHook.active is self:
            self._raised = True
            raise RunStopped(self._stopping)

    def _restore_signals(self) -> None:
        if self._previous and hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    @hook_impl
    def before_node_run(self) -> None:
        """Stop here if a signal came while something swallowed it."""
        self._check_stop()

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Make the dataset's save atomic; list a new version folder before it is written."""
        self._check_stop()
        dataset = self._dataset(dataset_name)
        if dataset is None:
            return
        atomic_writes(dataset)
        if getattr(dataset, "_version", None) is None or not hasattr(dataset, "_filepath"):
            return
        path = saved_path(dataset)
        self._versions[path.parent] = node.name  # removed if the run fails or is stopped
        if self._marker is not None:
            self._marker.add_version(path.parent)  # removed by the next run after a kill -9
        if dataset_name == REPORT:
            self._report = path

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        """Count the node as done (for the resume hint)."""
        self._done.add(node.name)
        self._check_stop()

    @hook_impl
    def on_pipeline_error(self, error: BaseException) -> None:
        """Undo the failed run's versions; say how to resume (not after a user's mistake that
        stopped the run before any node finished: running it again would fail the same way)."""
        hint = self.abandon(mistake=user_error(error) is not None)
        if isinstance(error, RunStopped):
            error.hint = hint  # the command's last line (cli.py), not a warning before it
        elif hint and load_failure(error) is None:  # an unreadable input: make it again first
            logger.warning(hint)

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Let the next run in; the last line names the report, when this run wrote one."""
        self._versions, self._pipeline, SafeRunHook.active = {}, None, None
        self._finish()
        if self._report is not None:
            shown = os.path.relpath(self._report) if self._report.is_absolute() else self._report
            LastLineHook.line = f"Report: {shown}"  # printed after every other hook's lines
            self._report = None

    def abandon(self, mistake: bool = False) -> str | None:
        """Remove this run's new versions, release the lock; returns how to resume, if known."""
        for version in self._versions:
            shutil.rmtree(version, ignore_errors=True)
            logger.warning("removed %s: the run that wrote it did not finish", version)
        if self._folder is not None:
            remove_partials(self._folder)  # a save cut short by the stop
        undone = set(self._versions.values())
        hint = self._resume_hint(self._done - undone, mistake)
        self._versions, self._pipeline, SafeRunHook.active = {}, None, None
        self._finish()
        return hint

    def _finish(self) -> None:
        """The run's versions are final (or gone): no marker, signals as before, lock released."""
        if self._marker is not None:
            self._marker.finish()
            self._marker = None
        self._restore_signals()
        self._release()

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


class LastLineHook:
    """Print the run's last line (``Report: <path>``) after every other hook has had its say
    (registered first in ``settings.HOOKS``, so it runs last). Printed plain, not logged: a log
    handler wraps a long path at the terminal's width and it could not be pasted."""

    line: ClassVar[str | None] = None

    @hook_impl
    def after_pipeline_run(self) -> None:
        """The report's path, alone on the last line."""
        if LastLineHook.line is not None:
            sys.stdout.write(f"{LastLineHook.line}\n")
            sys.stdout.flush()
            LastLineHook.line = None
