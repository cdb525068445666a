"""torch's intra-op threads, from ``compute.torch_threads``, before the first node."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, DatasetError

from music_recommender.parameters import ParameterError


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


def apply_torch_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)``; a clear error for anything but null or an integer >= 1."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParameterError(
            f"compute.torch_threads must be null or an integer >= 1; got {threads!r}"
        )
    import torch  # noqa: PLC0415 (only when a run starts)

    torch.set_num_threads(threads)
