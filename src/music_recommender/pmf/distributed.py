"""The implicit solver across processes and machines with ``torch.distributed``.

Each of ``world`` processes owns a contiguous block of listeners and a block of artists. A sweep:
every process solves its listeners' rows given all artists (the same batched CG as
``implicit_feedback.fit_implicit``, on its block's played pairs only), the listener table is all-gathered;
then the same for artists. What crosses the wire per sweep is the two factor tables once
(``(listeners + artists) x (factors + 1)`` floats), whatever the number of played pairs; the
pairs themselves never move. Each row's system is the single-process one, so the factors equal
``fit_implicit``'s up to float rounding (``tests/pmf/test_distributed.py``).

Launch:

- from Python or a Kedro node: ``ImplicitConfig(processes=4)``; ``fit_implicit`` starts the
  workers with torch's elastic launcher (``torch.distributed.launcher.api.elastic_launch``) and
  shares the pair arrays with them through shared memory;
- from the shell, on one or many machines, with ``torchrun``: each process calls ``solve`` on
  its own listeners' and artists' rows (the project's ``music_recommender.distributed_fit``
  reads them from the listener-block Parquet that ``kedro run --env spark`` writes).

gloo on CPU, NCCL when ``device`` resolves to CUDA (one GPU per process, ``LOCAL_RANK``).
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from music_recommender.pmf import solver
from music_recommender.pmf.solver import ImplicitConfig, PlayedPairs
from music_recommender.pmf.trainer import resolve_device

logger = logging.getLogger(__name__)


def block(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``n`` that process ``rank`` of ``world`` owns (contiguous, even)."""
    size = math.ceil(n / world)
    return min(rank * size, n), min((rank + 1) * size, n)


def _gather(part: torch.Tensor, n: int) -> torch.Tensor:
    """Every process's block of a table (rows ``block(n, r, world)``), stacked into the whole."""
    world = dist.get_world_size()
    size = math.ceil(n / world)
    padded = torch.zeros((size, *part.shape[1:]), dtype=part.dtype, device=part.device)
    padded[: len(part)] = part
    pieces = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(pieces, padded)
    return torch.cat(pieces)[:n]


def _medians(users: np.ndarray, plays: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Each own listener's median plays (NaN for a listener without rows)."""
    out = np.full(stop - start, np.nan)
    if len(users):
        out[users - start] = solver.listener_medians(users, plays)
    return out


@dataclass(frozen=True)
class _Side:
    """One side's block in this process: its rows, pairs, ridge and unplayed-pair weights."""

    rows: slice
    pairs: PlayedPairs
    reg: tuple[torch.Tensor, torch.Tensor | None]
    weight_own: torch.Tensor
    weight_other: torch.Tensor
    n: int


def _sides(
    own_users: tuple[np.ndarray, ...],
    own_items: tuple[np.ndarray, ...],
    n_users: int,
    n_items: int,
    config: ImplicitConfig,
    device: torch.device,
) -> tuple[_Side, _Side]:
    """The set-up of ``fit_implicit`` for this process's blocks; the global facts it needs
    (artist counts, listeners' medians) are all-gathered, a vector each."""
    rank, world = dist.get_rank(), dist.get_world_size()
    (u0, u1), (i0, i1) = block(n_users, rank, world), block(n_items, rank, world)
    users_u, items_u, plays_u = (np.asarray(a) for a in own_users)
    users_i, items_i, plays_i = (np.asarray(a) for a in own_items)
    conf_u, conf_i = _confidences(users_u, plays_u, users_i, plays_i, (u0, u1), n_users, config)
    item_counts_own = np.bincount(items_i - i0, minlength=i1 - i0)
    own_counts = torch.as_tensor(item_counts_own, dtype=torch.float64, device=device)
    item_negative = solver.unplayed_weights(_gather(own_counts, n_items), config.negative_exponent)
    ones_users = torch.ones(n_users, device=device)
    by_user = PlayedPairs.build(
        users_u - u0, items_u, conf_u.to(device), ones_users[u0:u1], item_negative
    )
    by_item = PlayedPairs.build(
        items_i - i0, users_i, conf_i.to(device), item_negative[i0:i1], ones_users
    )
    user_counts = np.bincount(users_u - u0, minlength=u1 - u0)
    return (
        _Side(
            slice(u0, u1), by_user, solver.regularisation(config, device, user_counts),
            ones_users[u0:u1], item_negative, n_users,
        ),
        _Side(
            slice(i0, i1), by_item, solver.regularisation(config, device, item_counts_own),
            item_negative[i0:i1], ones_users, n_items,
        ),
    )  # fmt: skip


def _half_sweep(
    own: torch.Tensor, other: torch.Tensor, side: _Side, config: ImplicitConfig
) -> torch.Tensor:
    """This process's rows of one side given the other side, then every process's rows."""
    k = config.n_factors
    rows = solver.solve_side(
        own[side.rows], other[:, :k], other[:, k], side.pairs, side.reg, config.cg_steps,
        side.weight_own, side.weight_other,
    )  # fmt: skip
    return _gather(rows, side.n)


def solve(
    own_users: tuple[np.ndarray, np.ndarray, np.ndarray],
    own_items: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_users: int,
    n_items: int,
    config: ImplicitConfig,
) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, float]]]:
    """This process's part of ``fit_implicit``; returns the whole ``[factors | bias]`` tables.

    ``own_users``: (users, items, plays) of every pair whose listener is in this process's
    listener block; ``own_items``: the same for its artist block. Needs an initialised process
    group.
    """
    device = _device(config)
    torch.manual_seed(config.seed)  # the same initial tables as one process, drawn on each
    user = solver.initial_rows(n_users, config, device)
    item = solver.initial_rows(n_items, config, device)
    by_user, by_item = _sides(own_users, own_items, n_users, n_items, config, device)
    history = []
    for sweep in range(1, config.iterations + 1):
        start = time.perf_counter()
        user = _half_sweep(user, item, by_user, config)
        item = _half_sweep(item, user, by_item, config)
        history.append({"sweep": sweep, "seconds": time.perf_counter() - start})
        if dist.get_rank() == 0:
            logger.info(
                "implicit sweep %d/%d: %.2f s (%d processes)",
                sweep,
                config.iterations,
                history[-1]["seconds"],
                dist.get_world_size(),
            )
    return user, item, history


def _confidences(
    users_u: np.ndarray,
    plays_u: np.ndarray,
    users_i: np.ndarray,
    plays_i: np.ndarray,
    own: tuple[int, int],
    n_users: int,
    config: ImplicitConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pair's confidence, as one process computes it: the artist block's pairs need other
    processes' listeners' medians, which are all-gathered (one float per listener)."""
    conf_u = solver.confidence(users_u, plays_u, config.alpha, config.plays_scale)
    if config.plays_scale != "user_median":
        return conf_u, solver.confidence(users_i, plays_i, config.alpha, config.plays_scale)
    device = _device(config)  # NCCL gathers CUDA tensors only
    own_medians = _medians(users_u, plays_u.astype(np.float64), *own)
    medians = _gather(torch.as_tensor(own_medians, device=device), n_users).cpu().numpy()
    scaled = plays_i.astype(np.float64) / np.maximum(medians[users_i], 1e-12)
    conf_i = 1.0 + config.alpha * torch.log1p(torch.as_tensor(scaled, dtype=torch.float32))
    return conf_u, conf_i


def _device(config: ImplicitConfig) -> torch.device:
    device = resolve_device(config.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def backend(config: ImplicitConfig) -> str:
    """NCCL for CUDA tensors, gloo for CPU ones."""
    return "nccl" if resolve_device(config.device).type == "cuda" else "gloo"


def _select(
    users: np.ndarray, items: np.ndarray, plays: np.ndarray, on: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, ...]:
    mask = (on >= lo) & (on < hi)
    return users[mask], items[mask], plays[mask]


def _worker(
    users: torch.Tensor,
    items: torch.Tensor,
    plays: torch.Tensor,
    n_users: int,
    n_items: int,
    config: ImplicitConfig,
    threads: int,
) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, float]]] | None:
    """One launched process: join the group, take its blocks of the shared pairs, solve."""
    torch.set_num_threads(threads)
    dist.init_process_group(backend(config))
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        u, i, p = users.numpy(), items.numpy(), plays.numpy()
        own_users = _select(u, i, p, u, *block(n_users, rank, world))
        own_items = _select(u, i, p, i, *block(n_items, rank, world))
        user, item, history = solve(own_users, own_items, n_users, n_items, config)
        return (user.cpu(), item.cpu(), history) if rank == 0 else None
    finally:
        dist.destroy_process_group()


def launch(
    users: Any, items: Any, plays: Any, n_users: int, n_items: int, config: ImplicitConfig
) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, float]]]:
    """Run ``config.processes`` workers on this machine with torch's elastic launcher."""
    threads = max(1, torch.get_num_threads() // config.processes)
    launch_config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=config.processes,
        run_id=f"implicit-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
    )
    shared = [
        torch.from_numpy(np.array(a, dtype=dtype)).share_memory_()  # a writable copy
        for a, dtype in ((users, np.int64), (items, np.int64), (plays, np.float64))
    ]
    results = elastic_launch(launch_config, _worker)(
        *shared, n_users, n_items, replace(config, processes=1), threads
    )
    return results[0]
