"""What the user set for this run, offered to the nodes that would otherwise use a tuned value."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset

from music_recommender.parameters import explicit_parameters

EXPLICIT = "explicit_parameters"  # the in-memory dataset the training nodes read


class OverridesHook:
    """Register ``explicit_parameters``: ``{dotted key: value}`` from ``--params`` and conf/local.

    The rule (conf/README.md, "Tuned values and yours"): tuned values are defaults; a value you
    give beats them. ``resolve_recipe`` and ``resolve_implicit`` read this dataset to keep yours,
    and MLflow names the run after it (``hooks/tracking.py``).
    """

    # The last run's explicit values, for the tracking hook's run name.
    current: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self._local: Path | None = None
        self._runtime: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Find the user's own conf folder: conf/local, when it is the run's environment."""
        loader = context.config_loader
        env = context.env or getattr(loader, "default_run_env", "local") or "local"
        source = Path(str(getattr(loader, "conf_source", "conf")))
        self._local = source / "local" if env == "local" else None
        self._runtime = dict(getattr(loader, "runtime_params", None) or {})

    @hook_impl
    def before_pipeline_run(self, catalog: DataCatalog) -> None:
        """Offer the run's explicit values to its nodes."""
        given = explicit_parameters(self._runtime, self._local, catalog.load("parameters"))
        OverridesHook.current = given
        catalog[EXPLICIT] = MemoryDataset(given, copy_mode="deepcopy")
