"""Process-wide compute settings (``compute.*``: torch's threads, numpy's huge pages), applied
before the first node."""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, DatasetError

from music_recommender.parameters import ParameterError

logger = logging.getLogger(__name__)


class TorchThreadsHook:
    """Set torch's intra-op threads from ``compute.torch_threads`` (and numpy's huge pages from
    ``compute.numpy_huge_pages``) before any node runs.

    torch's default (one thread per core) spins while descheduled on a shared machine: measured
    here, a training step cost 40x more CPU with 2 threads than with 1 under load. The settings
    are process-wide, so they live in one place (conf/base/parameters_compute.yml), not in nodes.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: DataCatalog) -> None:
        """Apply the configured thread count and huge-page choice (null keeps the default)."""
        for name, apply in (
            ("torch_threads", apply_torch_threads),
            ("numpy_huge_pages", apply_numpy_huge_pages),
        ):
            try:
                value = catalog.load(f"params:compute.{name}")
            except DatasetError:
                continue
            apply(value)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def resolve_threads(threads: int | str | None) -> int | None:
    """The thread count ``compute.torch_threads`` asks for: ``auto`` is every available core."""
    if threads == "auto":
        return available_cores()
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParameterError(
            f"compute.torch_threads must be null, auto or an integer >= 1; got {threads!r}"
        )
    return threads


def apply_torch_threads(threads: int | str | None) -> None:
    """``torch.set_num_threads``; a clear error for anything but null, auto or an integer >= 1."""
    count = resolve_threads(threads)
    if count is None:
        return
    import torch  # noqa: PLC0415 (only when a run starts)

    torch.set_num_threads(count)
    logger.info(
        "torch threads: %d%s", count, " (auto: every available core)" if threads == "auto" else ""
    )


def apply_numpy_huge_pages(enabled: bool | None) -> None:
    """Whether numpy asks the kernel for transparent huge pages (``madvise``) for new arrays of
    4 MB and more; null keeps numpy's choice (on, or ``NUMPY_MADVISE_HUGEPAGE``).

    In a virtual machine each first touch of a huge page can cost far more than the 4 KB pages it
    replaces: measured here, filling a new 2 GB array took 16.7 s of kernel time with huge pages
    and 0.8 s without, and reading 17 M rows of parquet 3.3 s instead of 0.5 s.
    """
    if enabled is None:
        return
    if not isinstance(enabled, bool):
        raise ParameterError(
            f"compute.numpy_huge_pages must be null, true or false; got {enabled!r}"
        )
    import numpy as np  # noqa: PLC0415

    core = getattr(np, "_core", None) or np.core  # numpy 2 / 1.26
    core.multiarray._set_madvise_hugepage(enabled)
    logger.info("numpy huge pages: %s", "on" if enabled else "off")
