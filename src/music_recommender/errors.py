"""The base class of every error a user causes, and the stop a signal asks for.

Light on purpose (no torch, pandas or Kedro): the command line's error handling imports it first.
"""

from __future__ import annotations

import signal


class UserError(Exception):
    """Bad data, parameters, environment or request: printed as one line, never a traceback."""


class RunStopped(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM): an ``Exception``, so Kedro's session runs the
    ``on_pipeline_error`` hooks (versions removed, MLflow run KILLED) on the way out; Kedro's and
    Click's handling of ``KeyboardInterrupt`` would skip them."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.hint: str | None = None  # how to resume, set once the run's versions are removed
        super().__init__(f"stopped by {signal_name(signum)}")

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + self.signum

    def message(self) -> str:
        """The run's last line: what stopped it and how to resume."""
        return f"Stopped by {signal_name(self.signum)}" + (f": {self.hint}" if self.hint else ".")


def signal_name(signum: int) -> str:
    """``SIGINT (Ctrl-C)``, ``SIGTERM``."""
    name = signal.Signals(signum).name
    return f"{name} (Ctrl-C)" if signum == signal.SIGINT else name
