"""torch's intra-op threads, from ``compute.torch_threads``, before the first node."""

from __future__ import annotations

import logging
import os
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, DatasetError

from music_recommender.parameters import ParameterError

logger = logging.getLogger(__name__)


class TorchThreadsHook:
    """Set torch's intra-op threads from ``compute.torch_threads`` before any node runs.

    torch's default (one thread per core) spins while descheduled on a shared machine: measured
    here, a training step cost 40x more CPU with 2 threads than with 1 under load. The setting is
    process-wide, so it lives in one place (conf/base/parameters_compute.yml), not in nodes.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: DataCatalog) -> None:
        """Apply the configured thread count (null keeps torch's default)."""
        try:
            threads = catalog.load("params:compute.torch_threads")
        except DatasetError:
            return
        apply_torch_threads(threads)


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
