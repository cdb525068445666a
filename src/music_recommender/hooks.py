"""Project hooks."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner.runner import _find_nodes_to_resume_from
from kedro.validation import ModelInstantiationError, ParameterValidationError
from omegaconf import OmegaConf

from music_recommender.atomic import atomic_writes, remove_partials
from music_recommender.hetrec import RawDataCheckError, RawDataMissingError, RawFileError
from music_recommender.parameters import ParameterError, check_parameters
from music_recommender.pipelines.preprocessing.nodes import RawDataError
from music_recommender.pmf.persistence import ModelFileError
from music_recommender.run_lock import RunLock, RunLockedError
from music_recommender.spark_session import SparkSetupError
from music_recommender.spark_session import start as start_spark

OUTPUT_LOCATIONS = "output_locations"
REPORT = "report"  # the catalog's HTML report, named in the run's last line
RUN_INFO = "run_info"  # date, environment, data source and commit, for the report's header
logger = logging.getLogger(__name__)


class OutputLocationsHook:
    """Offer every file-backed dataset's path as the in-memory dataset ``output_locations``.

    The report page tells a reader where each file lives; reading the paths from the catalog
    itself keeps them true whatever environment or runtime parameter moved them.
    """

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """Register ``output_locations`` for the whole project's datasets, not only this run's."""
        names = pipelines["__default__"].datasets() | pipeline.datasets()
        root = str(run_params.get("project_path") or os.getcwd())
        catalog[OUTPUT_LOCATIONS] = MemoryDataset(
            file_locations(catalog, sorted(names), root), copy_mode="assign"
        )
        catalog[RUN_INFO] = MemoryDataset(run_info(run_params, catalog, root), copy_mode="assign")


def run_info(run_params: dict[str, Any], catalog: DataCatalog, root: str) -> dict[str, str]:
    """When, where from and with which code this run ran: the report's header."""
    raw = file_locations(catalog, ["user_artists_raw"], root).get("user_artists_raw", "")
    return {
        "version": str(run_params.get("run_id") or ""),
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "environment": str(run_params.get("env") or "local (base)"),
        "data": str(Path(raw).parent) if raw else "unknown",
        "commit": git_commit(root),
    }


def git_commit(root: str) -> str:
    """``abc1234`` (``+ local changes`` when the tree differs), or ``unknown`` outside git."""

    def git(*args: str) -> str:
        command = ["git", "-C", root, *args]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=10, check=True
        ).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        dirty = git("status", "--porcelain", "--untracked-files=no").strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} + local changes" if dirty else head


def saved_path(dataset: Any) -> Path | None:
    """Where ``dataset`` writes in this run (its version folder when versioned), if in a file."""
    if getattr(dataset, "_version", None) is not None and hasattr(dataset, "_filepath"):
        return Path(str(dataset._get_versioned_path(dataset.resolve_save_version())))
    try:
        path = dataset._describe().get("filepath")
    except Exception:
        return None
    return Path(str(path)) if path else None


def file_locations(catalog: DataCatalog, names: list[str], root: str = "") -> dict[str, str]:
    """``{dataset: path}`` for the named datasets stored in files (relative to ``root``)."""
    out = {}
    for name in names:
        if name.startswith("params:") or name in ("parameters", OUTPUT_LOCATIONS, RUN_INFO):
            continue
        try:
            dataset = catalog.get(name)
            path = dataset._describe().get("filepath") if dataset is not None else None
        except Exception:
            continue
        if path:
            path = str(path)
            if getattr(dataset, "_version", None) is not None:  # one folder per run
                path = f"{path}/<run version>/{Path(path).name}"
            out[name.split("@")[0]] = (
                os.path.relpath(path, root) if root and os.path.isabs(path) else path
            )
    return out


class DataErrorMessageHook:
    """Print missing or invalid raw data as its message alone, not under a page of traceback.

    Only exceptions that reach the interpreter (``kedro run`` from a shell) are affected; code that
    calls a session catches the same exceptions as before.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Wrap ``sys.excepthook`` once per process."""
        install_data_error_excepthook()


# Errors a user causes (data, parameters, environment, a running run): their message is all
# they need to read, not a page of traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    RawDataError,
    RawDataMissingError,
    RawDataCheckError,
    RawFileError,
    RunLockedError,
    ParameterError,
    ParameterValidationError,
    ModelInstantiationError,
    ModelFileError,
    MissingConfigException,
    SparkSetupError,
)


def user_error(error: BaseException | None) -> BaseException | None:
    """The outermost exception of a chain that a user caused (see ``USER_ERRORS``), else None."""
    outer, seen = error, set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, USER_ERRORS) or _unknown_pipeline(error):
            return outer if isinstance(outer, DatasetError) else error
        error = error.__cause__ or error.__context__
    return None


def _unknown_pipeline(error: BaseException) -> bool:
    return isinstance(error, ValueError) and str(error).startswith("Failed to find the pipeline")


def _one_message(error: BaseException) -> str:
    if _unknown_pipeline(error):
        known = ", ".join(sorted(name for name in pipelines if name != "__default__"))
        return f"{str(error).split('.')[0]}; the pipelines are: {known}"
    return f"{type(error).__name__}: {error}"


def install_data_error_excepthook() -> None:
    """Make ``sys.excepthook`` print user errors as one message (and Ctrl-C as how to resume)."""
    previous = sys.excepthook
    if getattr(previous, "_music_recommender", False):
        return

    def excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if isinstance(value, KeyboardInterrupt) and SafeRunHook.active is not None:
            hint = SafeRunHook.active.abandon()
            sys.stderr.write(f"\nInterrupted{': ' + hint if hint else '.'}\n")
            return
        error = user_error(value)
        if error is None:
            previous(kind, value, tb)
            return
        sys.stderr.write(f"\n{_one_message(error)}\n")

    excepthook._music_recommender = True  # type: ignore[attr-defined]
    sys.excepthook = excepthook


class SparkHook:
    """Start the Spark session when the environment has a ``spark.yml`` (``conf/spark``).

    As in Kedro's PySpark starter: Spark's settings live in configuration, the session is built
    once after the context, and every Spark dataset in the catalog uses it. Environments without
    ``spark.yml`` never import pyspark.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Build the session from ``conf/<env>/spark.yml``; nothing when there is none.

        ``conf/local/spark.yml`` (your machine's or cluster's Spark: master URL, memory) is read
        on top, with ``--env spark`` too: where Spark runs is a fact of the machine, not of the
        experiment.
        """
        try:
            settings = dict(context.config_loader["spark"])
        except (KeyError, MissingConfigException):
            return
        if not settings:
            return
        local = Path(context.config_loader.conf_source) / "local" / "spark.yml"
        if context.env != "local" and local.is_file():
            settings |= dict(OmegaConf.to_container(OmegaConf.load(local)) or {})
        start_spark(settings, context.project_path.name)


class TorchThreadsHook:
    """Set torch's intra-op threads from ``compute.torch_threads`` before any node runs.

    torch's default (one thread per core) spins while descheduled on a shared machine: measured
    here, a training step cost 40x more CPU with 2 threads than with 1 under load. The setting is
    process-wide, so it lives in one place (conf/base/parameters_compute.yml), not in nodes.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: DataCatalog) -> None:
        """Apply the configured thread count (null keeps torch's default)."""
        try:
            threads = catalog.load("params:compute.torch_threads")
        except DatasetError:
            return
        apply_torch_threads(threads)


def apply_torch_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)``; a clear error for anything but null or an integer >= 1."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"compute.torch_threads must be null or an integer >= 1; got {threads!r}")
    import torch  # noqa: PLC0415 (only when a run starts)

    torch.set_num_threads(threads)


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

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: DataCatalog) -> None:
        """Check the parameters, take the data folder's lock, clear a killed run's temporary files."""
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
    def on_pipeline_error(self) -> None:
        """Undo the failed run's versions; say how to resume."""
        hint = self.abandon()
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

    def abandon(self) -> str | None:
        """Remove this run's new versions, release the lock; returns how to resume, if known."""
        for version in self._versions:
            shutil.rmtree(version, ignore_errors=True)
            logger.warning("removed %s: the run that wrote it did not finish", version)
        undone = set(self._versions.values())
        hint = self._resume_hint(self._done - undone)
        self._versions, self._pipeline, SafeRunHook.active = {}, None, None
        self._release()
        return hint

    def _resume_hint(self, done: set[str]) -> str | None:
        if self._pipeline is None or self._catalog is None:
            return None
        if not done:
            return "nothing was kept: run the same command again"
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


class _DropKedroResumeHint(logging.Filter):
    """Kedro's own hint ignores the versions a failed run removes; ``SafeRunHook`` gives one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "You can resume the pipeline run" not in record.getMessage()


for _name in ("sequential_runner", "parallel_runner", "thread_runner", "runner"):
    logging.getLogger(f"kedro.runner.{_name}").addFilter(_DropKedroResumeHint())
