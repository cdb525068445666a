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
