"""User errors as one message: bad data, parameters, environment, a locked run, a bad model file."""

from __future__ import annotations

import sys
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines

from music_recommender.hooks.safe_run import SafeRunHook
from music_recommender.user_errors import unknown_pipeline, user_error


class DataErrorMessageHook:
    """Print missing or invalid raw data as its message alone, not under a page of traceback.

    Only exceptions that reach the interpreter (``kedro run`` from a shell) are affected; code that
    calls a session catches the same exceptions as before.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Wrap ``sys.excepthook`` once per process."""
        install_data_error_excepthook()


def _one_message(error: BaseException) -> str:
    if unknown_pipeline(error):
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
