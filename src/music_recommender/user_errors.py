"""Which exceptions a user caused: their message is all they need to read, not a traceback.

Shared by the excepthook (one line on the terminal) and the safe-run hook (no "run again" advice
after a mistake that running again cannot mend).
"""

from __future__ import annotations

import errno
import re

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


# The machine's errors a user can act on, and what to do (a run's outputs_dir or its disk).
_OS_ADVICE = {
    errno.ENOSPC: "free some space on that disk (or point outputs_dir at another), then resume",
    errno.EDQUOT: "free some of your quota (or point outputs_dir at another disk), then resume",
    errno.EROFS: "that folder is read-only: point outputs_dir (or raw_data_dir) at a writable one",
    errno.EACCES: "check who owns that folder and its permissions, or point outputs_dir elsewhere",
    errno.EPERM: "check who owns that folder and its permissions, or point outputs_dir elsewhere",
}
_LOAD = re.compile(r"^(?:(?P<name>[\w.@-]+): )?Failed while loading data from dataset")
_PATH = re.compile(r"filepath=(?:PurePosixPath\()?'(?P<path>[^']+)'")
_NODES = re.compile(r"Pipeline does not contain nodes named \[(?P<names>[^\]]*)\]")


def os_error(error: BaseException | None) -> OSError | None:
    """The first error of the chain that the machine raised and a user can act on."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _OS_ADVICE:
            return error
        error = error.__cause__ or error.__context__
    return None


def os_message(error: OSError) -> str:
    """``No space left on device: data/06_models/...: free some space ...``."""
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or type(error).__name__}{where}; {_OS_ADVICE[error.errno]}"


def load_failure(error: BaseException | None) -> tuple[str, str, str] | None:
    """(dataset, path, why) when a catalog input could not be read (corrupt or missing)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        match = _LOAD.match(first)
        if match:
            path = _PATH.search(str(error))
            return (match["name"] or "", path["path"] if path else "", _innermost(error))
        error = error.__cause__ or error.__context__
    return None


def unknown_nodes(error: BaseException) -> list[str]:
    """The node names Kedro did not find (``--from-nodes``, ``--to-nodes``, ``--nodes``)."""
    match = _NODES.search(str(error)) if isinstance(error, ValueError) else None
    return re.findall(r"'([^']*)'", match["names"]) if match else []


def _innermost(error: BaseException) -> str:
    """The deepest message of a chain, first line (the reader's own, not Kedro's wrapper)."""
    while (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else type(error).__name__
    if isinstance(error, FileNotFoundError) or text.startswith("[Errno 2]"):
        return "the file does not exist"
    return text.rstrip(".")
