"""Saves that leave either the old file or the new one, never a cut one.

Every file dataset the catalog uses (pandas, json, text, matplotlib, pillow) writes through its
fsspec filesystem's ``open(path, "w...")``. ``atomic_writes`` swaps that filesystem for a proxy
whose write-mode ``open`` returns a temporary file beside the target; a clean close renames it
over the target (``os.replace``: atomic on one filesystem), an exception deletes it. A process
killed mid-save leaves the target as it was plus a ``*.partial-<pid>`` file, which the next run
removes (``remove_partials``). Object stores need none of this (an upload appears whole on
close), so only local filesystems are wrapped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

PARTIAL = ".partial-"
_WRITE_MODES = ("w", "x")


class AtomicFile:
    """A file open for writing under a temporary name; committed on a clean close."""

    def __init__(self, handle: Any, partial: str, target: str) -> None:
        self._handle, self._partial, self._target = handle, partial, target
        self._finished = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._handle, name)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

    def __iter__(self) -> Any:
        return iter(self._handle)

    def close(self) -> None:
        """Flush to disk and rename over the target."""
        if self._finished:
            return
        self._finished = True
        if not self._handle.closed:
            self._handle.flush()
            fileno = getattr(self._handle, "fileno", None)
            try:
                os.fsync(fileno())  # the data reaches the disk before the name does
            except (OSError, TypeError, ValueError, AttributeError):
                pass
            self._handle.close()
        os.replace(self._partial, self._target)

    def discard(self) -> None:
        """Drop the temporary file; the target keeps its old content."""
        if self._finished:
            return
        self._finished = True
        try:
            self._handle.close()
        finally:
            Path(self._partial).unlink(missing_ok=True)

    @property
    def closed(self) -> bool:
        """As the wrapped handle (pandas and pyarrow ask)."""
        return self._finished or self._handle.closed


class AtomicWriteFileSystem:
    """An fsspec filesystem whose write-mode ``open`` goes through ``AtomicFile``."""

    def __init__(self, fs: Any) -> None:
        self._fs = fs

    def __getattr__(self, name: str) -> Any:
        if name == "_fs":
            raise AttributeError(name)
        return getattr(self._fs, name)

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        """Reads and appends as before; writes to ``path.partial-<pid>``, renamed on close."""
        if not any(flag in mode for flag in _WRITE_MODES):
            return self._fs.open(path, mode, **kwargs)
        target = os.path.abspath(str(path).removeprefix("file://"))
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        partial = f"{target}{PARTIAL}{os.getpid()}"
        handle = self._fs.open(partial, mode.replace("x", "w"), **kwargs)
        return AtomicFile(handle, partial, target)


def atomic_writes(dataset: Any) -> bool:
    """Route ``dataset``'s saves through ``AtomicWriteFileSystem`` when it writes local files.

    Returns whether the dataset is (now) atomic; datasets without an fsspec filesystem, or on
    an object store, are left alone.
    """
    fs = getattr(dataset, "_fs", None)
    if fs is None or isinstance(fs, AtomicWriteFileSystem):
        return fs is not None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol not in ("file", "local"):
        return False
    dataset._fs = AtomicWriteFileSystem(fs)
    return True


def remove_partials(folder: str | Path) -> list[Path]:
    """Delete the temporary files of saves a killed run left in ``folder``'s data layers.

    Only the layers (``02_intermediate`` ... ``08_reporting``, or files directly in ``folder``)
    are searched, not another environment's folder nested inside (``data/demo``), whose run may
    be writing now under its own lock. Returns the files removed.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    places = [root, *(p for p in root.glob("[0-9][0-9]_*") if p.is_dir() and p.name != "01_raw")]
    found = [path for place in places for path in _partials(place, recursive=place != root)]
    for path in found:
        if path.is_dir():  # a Spark job's folder (datasets/spark_parquet_dataset.py)
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return found


def _partials(place: Path, recursive: bool) -> list[Path]:
    pattern = f"*{PARTIAL}*"
    paths = sorted(place.rglob(pattern) if recursive else place.glob(pattern))
    outermost: list[Path] = []
    for path in paths:  # a partial folder's own contents go with it
        if not any(parent in outermost for parent in path.parents):
            outermost.append(path)
    return outermost
