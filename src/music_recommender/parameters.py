"""Every parameter of the pipelines about to run, checked before the first node does any work.

Kedro (1.3+) builds a dataclass for each ``params:`` input annotated with one, at catalog
creation; those dataclasses check their ranges (``__post_init__``) and, through
``pmf.checks.check_field_types``, their types. The few parameters that reach nodes as plain values
(``model``, the flat training recipe; ``preprocessing.normalisation``; counts) are checked here,
from the ``before_pipeline_run`` hook, so that a bad value stops a run in seconds with one line
naming the key, what was given and what is expected, instead of after minutes of work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from music_recommender.errors import UserError
from music_recommender.pmf.scaling import METHODS


class ParameterError(UserError, ValueError):
    """A parameter a user set has the wrong type or value."""


def _model(value: Any) -> None:
    from music_recommender.pmf.recipe import Recipe  # noqa: PLC0415 (torch only when needed)

    if not isinstance(value, dict):
        raise ParameterError(f"model must be a mapping of settings; got {value!r}")
    try:
        Recipe.from_dict(value, where="model")
    except (TypeError, ValueError) as exc:
        raise ParameterError(str(exc)) from None


def _one_of(key: str, options: Sequence[str]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value not in options:
            raise ParameterError(f"{key} must be one of {', '.join(options)}; got {value!r}")

    return check


def _count(key: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ParameterError(f"{key} must be an integer >= 0; got {value!r}")

    return check


def _threads(value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ParameterError(
            f"compute.torch_threads must be null or an integer >= 1; got {value!r}"
        )


# Parameters that nodes take as plain values (the dataclass ones check themselves).
CHECKS: dict[str, Callable[[Any], None]] = {
    "model": _model,
    "preprocessing.normalisation": _one_of("preprocessing.normalisation", METHODS),
    "preprocessing.summary_sample_rows": _count("preprocessing.summary_sample_rows"),
    "reporting.examples.users": _count("reporting.examples.users"),
    "reporting.examples.artists": _count("reporting.examples.artists"),
    "compute.torch_threads": _threads,
}


def check_parameters(names: set[str], load: Callable[[str], Any]) -> None:
    """Check every parameter in ``names`` (dataset names, ``params:...``) that ``CHECKS`` knows.

    All problems are reported together, one per line.
    """
    problems = []
    for key, check in CHECKS.items():
        if f"params:{key}" not in names:
            continue
        try:
            check(load(f"params:{key}"))
        except ParameterError as exc:
            problems.append(str(exc))
    if problems:
        raise ParameterError("; ".join(problems))
