"""Log lines that would mislead a user, filtered once a session starts (not at import)."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from music_recommender.errors import RunStopped


class _DropKedroResumeHint(logging.Filter):
    """Kedro's own hint ignores the versions a failed run removes; ``SafeRunHook`` gives one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "You can resume the pipeline run" not in record.getMessage()


class _DropStopTraces(logging.Filter):
    """A stop is one line at the end of the run (``Stopped by SIGINT``), not a library's traceback
    of where it landed (Optuna logs the trial it ends with the traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, RunStopped) and "RunStopped(" not in record.getMessage()


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


def _add(log: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(f, kind) for f in log.filters):
        log.addFilter(kind())
