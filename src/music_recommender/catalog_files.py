"""Where the catalog's datasets live on disk, and which commit ran: for the report, tracking, safe runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from kedro.io import DataCatalog

OUTPUT_LOCATIONS = "output_locations"
RUN_INFO = "run_info"  # date, environment, data source and commit, for the report's header


def outputs_dir(config_loader: Any) -> str:
    """The run's data folder: ``--params outputs_dir=...``, else the environment's ``globals.yml``."""
    given = (getattr(config_loader, "runtime_params", None) or {}).get("outputs_dir")
    if given:
        return str(given)
    try:
        return str(config_loader["globals"].get("outputs_dir", "data"))
    except Exception:  # no globals: Kedro's default data folder
        return "data"


def git_commit(root: str) -> str:
    """``abc1234`` (``+ local changes`` when the tree differs), or ``unknown`` outside git."""

    def git(*args: str) -> str:
        command = ["git", "-C", root, *args]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=10, check=True
        ).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        dirty = git("status", "--porcelain", "--untracked-files=no").strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} + local changes" if dirty else head


def saved_path(dataset: Any) -> Path | None:
    """Where ``dataset`` writes in this run (its version folder when versioned), if in a file."""
    if getattr(dataset, "_version", None) is not None and hasattr(dataset, "_filepath"):
        return Path(str(dataset._get_versioned_path(dataset.resolve_save_version())))
    try:
        path = dataset._describe().get("filepath")
    except Exception:
        return None
    return Path(str(path)) if path else None


def file_locations(catalog: DataCatalog, names: list[str], root: str = "") -> dict[str, str]:
    """``{dataset: path}`` for the named datasets stored in files (relative to ``root``)."""
    out = {}
    for name in names:
        if name.startswith("params:") or name in ("parameters", OUTPUT_LOCATIONS, RUN_INFO):
            continue
        try:
            dataset = catalog.get(name)
            path = dataset._describe().get("filepath") if dataset is not None else None
        except Exception:
            continue
        if path:
            path = str(path)
            if getattr(dataset, "_version", None) is not None:  # one folder per run
                path = f"{path}/<run version>/{Path(path).name}"
            out[name.split("@")[0]] = (
                os.path.relpath(path, root) if root and os.path.isabs(path) else path
            )
    return out
