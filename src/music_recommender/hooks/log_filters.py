"""Log lines that would mislead a user, filtered once a session starts (not at import)."""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl

from music_recommender.errors import RunStopped


class _DropKedroResumeHint(logging.Filter):
    """Kedro's own hint ignores the versions a failed run removes; ``SafeRunHook`` gives one.
    Its "Completed node" line repeats "Running node" (kept with ``--verbose``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "You can resume the pipeline run" in text or text.startswith("No nodes ran. Repeat"):
            return False  # Kedro's "repeat the previous command" cannot mend a user's mistake
        message = record.msg if isinstance(record.msg, str) else ""
        return not (
            message.startswith("Completed node:")
            and os.environ.get("MUSIC_RECOMMENDER_VERBOSE") != "1"
        )


class _DropStopTraces(logging.Filter):
    """A stop is one line at the end of the run (``Stopped by SIGINT``), not a library's traceback
    of where it landed (Optuna logs the trial it ends with the traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, RunStopped) and "RunStopped(" not in record.getMessage()


class _DatasetLinesOnlyWhenVerbose(logging.Filter):
    """Kedro's line per dataset load and save (most of a run's log) only with ``--verbose``:
    the log shows the nodes, their progress and results."""

    def filter(self, record: logging.LogRecord) -> bool:
        if os.environ.get("MUSIC_RECOMMENDER_VERBOSE") == "1" or record.levelno > logging.INFO:
            return True
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(("Loading data from", "Saving data to"))


class _ShortNodeLines(logging.Filter):
    """``Running node: training.rating.train_model``, not the node's every input and output
    (which wrap over several lines; kept with ``--verbose``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        verbose = os.environ.get("MUSIC_RECOMMENDER_VERBOSE") == "1"
        if record.msg == "Running node: %s" and record.args and not verbose:
            shown = str(record.args[0] if isinstance(record.args, tuple) else record.args)
            record.args = (shown.split(": ", 1)[0],)
        return True


class LogFiltersHook:
    """Install the project's log filter when a context is created, not at import."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Drop Kedro's resume hint (``SafeRunHook`` gives one) and tracebacks of a stop."""
        install_filters()


def install_filters() -> None:
    """Once per process: later calls find the filter already on each logger."""
    for name in ("sequential_runner", "parallel_runner", "thread_runner", "runner"):
        _add(logging.getLogger(f"kedro.runner.{name}"), _DropKedroResumeHint)
    for name in ("optuna.study._optimize", "kedro.pipeline.node", "kedro.runner.task"):
        _add(logging.getLogger(name), _DropStopTraces)
    _add(logging.getLogger("kedro.io.data_catalog"), _DatasetLinesOnlyWhenVerbose)
    _add(logging.getLogger("kedro.pipeline.node"), _ShortNodeLines)


def _add(log: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(f, kind) for f in log.filters):
        log.addFilter(kind())
