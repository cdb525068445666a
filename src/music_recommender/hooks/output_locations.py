"""The report's facts about the run: every dataset's path and the run's date, data and commit."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from music_recommender.catalog_files import OUTPUT_LOCATIONS, RUN_INFO, file_locations, git_commit


class OutputLocationsHook:
    """Offer every file-backed dataset's path as the in-memory dataset ``output_locations``.

    The report page tells a reader where each file lives; reading the paths from the catalog
    itself keeps them true whatever environment or runtime parameter moved them.
    """

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """Register ``output_locations`` for the whole project's datasets, not only this run's."""
        names = pipelines["__default__"].datasets() | pipeline.datasets()
        root = str(run_params.get("project_path") or os.getcwd())
        catalog[OUTPUT_LOCATIONS] = MemoryDataset(
            file_locations(catalog, sorted(names), root), copy_mode="assign"
        )
        catalog[RUN_INFO] = MemoryDataset(run_info(run_params, catalog, root), copy_mode="assign")


def run_info(run_params: dict[str, Any], catalog: DataCatalog, root: str) -> dict[str, str]:
    """When, where from and with which code this run ran: the report's header."""
    raw = file_locations(catalog, ["user_artists_raw"], root).get("user_artists_raw", "")
    return {
        "version": str(run_params.get("run_id") or ""),
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "environment": str(run_params.get("env") or "local (base)"),
        "data": str(Path(raw).parent) if raw else "unknown",
        "commit": git_commit(root),
    }
