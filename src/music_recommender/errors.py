"""The base class of every error a user causes: its message is all they need to read.

Light on purpose (no torch, pandas or Kedro): the command line's error handling imports it first.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad data, parameters, environment or request: printed as one line, never a traceback."""
