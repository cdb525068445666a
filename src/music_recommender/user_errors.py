"""Which exceptions a user caused: their message is all they need to read, not a traceback.

Shared by the excepthook (one line on the terminal) and the safe-run hook (no "run again" advice
after a mistake that running again cannot mend).
"""

from __future__ import annotations

from kedro.config import MissingConfigException
from kedro.io import DatasetError
from kedro.validation import ModelInstantiationError, ParameterValidationError
from yaml import YAMLError

from music_recommender.errors import UserError
from music_recommender.pmf.errors import ModelFileError, NonFiniteModelError, SettingError

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
        if isinstance(error, USER_ERRORS) or unknown_pipeline(error):
            return outer if isinstance(outer, DatasetError) else error
        error = error.__cause__ or error.__context__
    return None


def unknown_pipeline(error: BaseException) -> bool:
    """Kedro's error for a ``--pipelines`` name the registry lacks."""
    return isinstance(error, ValueError) and str(error).startswith("Failed to find the pipeline")
