"""Type checks for settings dataclasses: ``batch_size: "abc"`` fails when built, naming the field."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal, Union

from music_recommender.pmf.errors import SettingError


def check_field_types(obj: Any, where: str) -> None:
    """Raise ``SettingError`` when a dataclass field's value does not match its annotation.

    Catches ``batch_size: "abc"`` at construction instead of as ``'<' not supported`` deep in a
    node. Checks plain types (bool, int, float, str), lists/sequences, ``X | None`` and
    ``Literal``; other annotations pass.
    """
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        expected = hints.get(field.name)
        if expected is not None and not _matches(value, expected):
            raise SettingError(f"{where}.{field.name} must be {_describe(expected)}; got {value!r}")


_PLAIN: dict[Any, Callable[[Any], bool]] = {
    type(None): lambda v: v is None,
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    # NaN and infinity are refused: a setting of .inf trains a model of NaN that would ship.
    float: lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    str: lambda v: isinstance(v, str),
    list: lambda v: isinstance(v, list | tuple),
    tuple: lambda v: isinstance(v, list | tuple),
    Sequence: lambda v: isinstance(v, list | tuple),
}


def _matches(value: Any, expected: Any) -> bool:
    origin = typing.get_origin(expected)
    if origin in (Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(expected))
    if origin is Literal:
        return value in typing.get_args(expected)
    check = _PLAIN.get(origin or expected)
    return check(value) if check is not None else True


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(option) for option in typing.get_args(expected))
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(expected))
    if expected is type(None):
        return "null"
    if origin in (list, tuple, Sequence):
        return "a list"
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
    return names.get(expected, getattr(expected, "__name__", str(expected)))


# Bytes a model row of one factor costs while fitting: float32 weights, and for the rating
# model its gradient and Adam's two moments; for the implicit solver the new tables it builds
# beside the old ones and its conjugate-gradient buffers.
BYTES_PER_FACTOR = {"implicit": 4 * 4, "rating": 4 * 4}


def available_memory() -> int | None:
    """Bytes of memory this machine can give now (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os  # noqa: PLC0415

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_model_memory(
    objective: str, n_rows: int, n_factors: int, setting: str = "n_factors"
) -> None:
    """Refuse, before any allocation, a model whose tables cannot fit in the memory at hand."""
    need = n_rows * (n_factors + 1) * BYTES_PER_FACTOR[objective]
    if objective == "implicit":  # the solver's Gram matrices: factors x factors, twice
        need += 2 * n_factors * n_factors * 4
    free = available_memory()
    if free is not None and need > free:
        raise SettingError(
            f"{setting}={n_factors:,} needs about {need / 2**30:,.1f} GiB to fit the {objective} "
            f"model's {n_rows:,} listener and artist rows, and this machine has "
            f"{free / 2**30:,.1f} GiB available: lower {setting}"
        )
