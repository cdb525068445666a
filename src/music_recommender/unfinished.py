"""The versions a run has written so far, on disk, so that even a killed run's are found.

A run that fails or is stopped removes its own versions (``hooks/safe_run.py``); a run killed
with ``kill -9`` (or a power cut) cannot. So every run writes ``<outputs>/.run.unfinished.json``
when it starts, adds each version folder to it *before* writing there, and deletes it when it
finishes. The next run (which holds the data folder's lock, so the writer is dead) removes the
listed versions; the command line never answers from them, even while their run is alive.

Light on purpose (stdlib only): the command line reads it before importing anything heavy.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from music_recommender.atomic import PARTIAL

MARKER = ".run.unfinished.json"


def marker_path(folder: str | Path) -> Path:
    """Where ``folder``'s marker lives."""
    return Path(folder) / MARKER


def read(folder: str | Path) -> dict[str, Any] | None:
    """The marker of the run that has not finished in ``folder``, if any (a broken one: empty)."""
    path = marker_path(folder)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return {"versions": []}
    return info if isinstance(info, dict) else {"versions": []}


def unfinished_versions(folder: str | Path) -> set[Path]:
    """Version folders written by a run that has not finished (never to be answered from)."""
    info = read(folder) or {}
    return {Path(p).resolve() for p in info.get("versions", []) if isinstance(p, str)}


def describe(info: dict[str, Any]) -> str:
    """``pid 123, started 2026-12-01 14:00:00: `kedro run``` for a log line."""
    command = info.get("command")
    return f"pid {info.get('pid')}, started {info.get('started')}" + (
        f": `{command}`" if command else ""
    )


class UnfinishedRun:
    """This run's marker: started, grown one version folder at a time, removed at the end."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.info: dict[str, Any] = {}

    def start(self) -> None:
        """Write the marker with no versions yet."""
        self.info = {
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300] if sys.argv else "",
            "versions": [],
            "tracking_run": None,
        }
        self._write()

    def add_version(self, version_folder: Path) -> None:
        """Record a version folder before anything is written into it."""
        entry = str(Path(version_folder).resolve())
        if self.info and entry not in self.info["versions"]:
            self.info["versions"].append(entry)
            self._write()

    def note(self, key: str, value: Any) -> None:
        """Keep one more fact about the run (its MLflow run id), for whoever finds the marker."""
        if self.info:
            self.info[key] = value
            self._write()

    def finish(self) -> None:
        """The run ended (finished, or its versions were removed): no marker."""
        if self.info:
            marker_path(self.folder).unlink(missing_ok=True)
            self.info = {}

    def _write(self) -> None:
        path = marker_path(self.folder)
        partial = path.with_name(f"{path.name}{PARTIAL}{os.getpid()}")  # remove_partials finds it
        partial.write_text(json.dumps(self.info, indent=1), encoding="utf-8")
        os.replace(partial, path)
