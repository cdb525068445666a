"""User errors as one message: bad data, parameters, environment, a locked run, a bad model file."""

from __future__ import annotations

import sys
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import DatasetError
from kedro.validation import ModelInstantiationError, ParameterValidationError
from yaml import YAMLError

from music_recommender.errors import UserError
from music_recommender.hooks.safe_run import SafeRunHook
from music_recommender.pmf.errors import ModelFileError, NonFiniteModelError, SettingError


class DataErrorMessageHook:
    """Print missing or invalid raw data as its message alone, not under a page of traceback.

    Only exceptions that reach the interpreter (``kedro run`` from a shell) are affected; code that
    calls a session catches the same exceptions as before.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Wrap ``sys.excepthook`` once per process."""
        install_data_error_excepthook()


# Errors a user causes (data, parameters, environment, a running run, a model file): their message
# is all they need to read, not a page of traceback. The project's own share one base class; the
# library's (pmf) and Kedro's configuration errors are named beside it.
USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    ModelFileError,
    NonFiniteModelError,
    SettingError,
    ParameterValidationError,
    ModelInstantiationError,
    MissingConfigException,
    YAMLError,  # Kedro names the conf file and line of a syntax error
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
