"""Project hooks."""

from __future__ import annotations

import os
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

OUTPUT_LOCATIONS = "output_locations"


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


def file_locations(catalog: DataCatalog, names: list[str], root: str = "") -> dict[str, str]:
    """``{dataset: path}`` for the named datasets stored in files (relative to ``root``)."""
    out = {}
    for name in names:
        if name.startswith("params:") or name in ("parameters", OUTPUT_LOCATIONS):
            continue
        try:
            dataset = catalog.get(name)
            path = dataset._describe().get("filepath") if dataset is not None else None
        except Exception:
            continue
        if path:
            path = str(path)
            out[name.split("@")[0]] = (
                os.path.relpath(path, root) if root and os.path.isabs(path) else path
            )
    return out
