"""Errors as one message: bad data, parameters, environment, a locked run, a bad model file, and
the machine's (no space, read-only, no permission), a catalog input that cannot be read, an
unknown node name. ``--verbose`` (``MUSIC_RECOMMENDER_VERBOSE=1``) shows the traceback too."""

from __future__ import annotations

import difflib
import os
import re
import sys
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines

from music_recommender.errors import RunStopped
from music_recommender.hooks.safe_run import SafeRunHook
from music_recommender.user_errors import (
    USER_ERRORS,
    load_failure,
    os_error,
    os_message,
    unknown_nodes,
    unknown_pipeline,
    user_error,
)

VERBOSE = "MUSIC_RECOMMENDER_VERBOSE"  # set by `kedro run --verbose`: tracebacks are shown
_RUN: dict[str, str | None] = {"env": None}  # the environment of the last context, for hints


class DataErrorMessageHook:
    """Print missing or invalid raw data as its message alone, not under a page of traceback.

    Only exceptions that reach the interpreter (``kedro run`` from a shell) are affected; code that
    calls a session catches the same exceptions as before.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Wrap ``sys.excepthook`` once per process."""
        _RUN["env"] = context.env
        install_data_error_excepthook()


def _one_message(error: BaseException) -> str:
    if unknown_pipeline(error):
        known = ", ".join(sorted(name for name in pipelines if name != "__default__"))
        return f"{str(error).split('.')[0]}; the pipelines are: {known}"
    if load_failure(error) is not None:  # Kedro's "Failed while loading" around the reader's own
        inner = error.__cause__ or error.__context__
        while inner is not None and not isinstance(inner, USER_ERRORS):
            inner = inner.__cause__ or inner.__context__
        if inner is not None and inner is not error:
            return str(inner)  # it names the file and the problem
    return f"{type(error).__name__}: {error}"


def one_message(value: BaseException) -> str | None:
    """The error as one line a user can act on, or None (a bug: its traceback is needed)."""
    error = user_error(value)
    if error is not None:
        return _one_message(error)
    if isinstance(value, RunStopped):
        return value.message()
    found = os_error(value)
    if found is not None:
        return os_message(found)
    failed = load_failure(value)
    if failed is not None:
        return _unreadable_input(*failed)
    names = unknown_nodes(value)
    if names:
        return _unknown_node(names)
    return None


def _run_command(pipeline: str) -> str:
    env = _RUN["env"]
    return f"kedro run --pipelines {pipeline}" + (f" --env {env}" if env and env != "local" else "")


def _unreadable_input(name: str, path: str, why: str) -> str:
    """A corrupt or missing catalog input, and the pipeline that writes it again."""
    shown = os.path.relpath(path) if path and os.path.isabs(path) else path
    if path:  # "Could not open Parquet input source '<path>': <why>": the path is said already
        why = re.sub(rf"[^:]*'{re.escape(path)}'[^:]*:\s*", "", why)
    why = why if len(why) <= 160 else why[:157] + "..."
    makers = sorted(
        key
        for key, pipeline in pipelines.items()
        if key != "__default__" and name in pipeline.all_outputs()
    )
    fix = (
        f"make it again with `{_run_command(makers[0])}`, then run this command again"
        if makers
        else "it is an input of the project: check the file"
    )
    return f"{name} cannot be read from {shown or 'its file'} ({why}): {fix}"


def _unknown_node(names: list[str]) -> str:
    known = sorted({node.name for node in pipelines["__default__"].nodes})
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        parts.append(f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    return f"no node named {', '.join(parts)}; `kedro registry describe` lists the nodes of each pipeline"


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
        message = one_message(value)
        if message is None or os.environ.get(VERBOSE) == "1":
            previous(kind, value, tb)
        if message is not None:
            sys.stderr.write(f"\n{message}\n")

    excepthook._music_recommender = True  # type: ignore[attr-defined]
    sys.excepthook = excepthook
