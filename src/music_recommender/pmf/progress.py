"""Progress lines for people: one every few seconds, not one per step of a fast loop."""

from __future__ import annotations

import logging
import time

INTERVAL_S = 5.0  # at most one INFO progress line this often (the rest at DEBUG)


class Progress:
    """The log level of a loop's next progress line: INFO when ``INTERVAL_S`` passed since the
    last INFO line (or at the loop's end), DEBUG otherwise. A long fit shows every sweep or
    epoch; a search of a hundred quick fits shows one line per fit."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last = time.perf_counter()

    def level(self, last: bool = False) -> int:
        """INFO or DEBUG for the line about to be logged."""
        now = time.perf_counter()
        if last or now - self._last >= self.interval_s:
            self._last = now
            return logging.INFO
        return logging.DEBUG
