"""One `kedro run` at a time per data folder.

Two runs writing the same files read each other's half-written outputs. The lock is an
``fcntl.flock`` on ``<outputs>/.run.lock``: the kernel drops it when its process dies, however
it dies, so a stale lock from a killed run is simply taken over. The file names the holder
(pid, start time, command) for the one-line message a second run stops with.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from music_recommender.errors import UserError

LOCK_NAME = ".run.lock"


class RunLockedError(UserError, RuntimeError):
    """Another run holds the data folder."""


class RunLock:
    """An exclusive, non-blocking lock on a data folder, released on ``release`` or process exit."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise ``RunLockedError`` naming the run that holds it."""
        try:
            import fcntl  # noqa: PLC0415 (POSIX only)
        except ImportError:  # Windows: no lock, as before
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = _holder(handle.read())
            handle.close()
            raise RunLockedError(
                f"another run is writing to {self.folder}/ ({holder}); wait for it to finish "
                "or stop it, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        handle.write(json.dumps({"pid": os.getpid(), "started": started, "command": _command()}))
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        """Let the next run in (the file stays; only the lock on it matters)."""
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None


def _holder(text: str) -> str:
    try:
        info: dict[str, Any] = json.loads(text)
    except ValueError:
        return "holder unknown"
    return f"pid {info.get('pid')}, started {info.get('started')}: `{info.get('command')}`"


def _command() -> str:
    name = Path(sys.argv[0]).name if sys.argv else "python"
    return " ".join([name, *sys.argv[1:]])[:200]
