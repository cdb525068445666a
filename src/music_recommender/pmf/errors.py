"""The library's errors: a setting with the wrong type or value, a model file that cannot be used."""

from __future__ import annotations


class SettingError(ValueError):
    """A setting of a model or recipe has the wrong type or value; the message names it."""


class ModelFileError(ValueError):
    """A model file that is corrupt, of another format, or does not fit its config."""


class NonFiniteModelError(ValueError):
    """A fit ended with NaN or infinite weights: its answers would be empty or arbitrary."""
