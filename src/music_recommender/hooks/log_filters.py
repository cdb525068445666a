"""Log lines that would mislead a user, filtered once a session starts (not at import)."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl


class _DropKedroResumeHint(logging.Filter):
    """Kedro's own hint ignores the versions a failed run removes; ``SafeRunHook`` gives one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "You can resume the pipeline run" not in record.getMessage()


class LogFiltersHook:
    """Install the project's log filter when a context is created, not at import."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Drop Kedro's resume hint: it ignores removed versions (``SafeRunHook`` gives one)."""
        install_filters()


def install_filters() -> None:
    """Once per process: later calls find the filter already on each logger."""
    for name in ("sequential_runner", "parallel_runner", "thread_runner", "runner"):
        log = logging.getLogger(f"kedro.runner.{name}")
        if not any(isinstance(f, _DropKedroResumeHint) for f in log.filters):
            log.addFilter(_DropKedroResumeHint())
