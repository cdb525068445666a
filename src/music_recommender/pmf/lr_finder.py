"""Learning-rate range test: raise the rate every step, record the loss, stop when it blows up."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from music_recommender.pmf.row_sparse import RowSparseOptimizer
from music_recommender.pmf.trainer import (
    Ratings,
    TrainConfig,
    bias_coefficients,
    evaluate,
    make_optimizer,
    resolve_device,
    seed_everything,
    step,
)


@dataclass(frozen=True)
class LRRangeResult:
    """Rates tried, batch losses, probe-sample losses (the smooth curve), and the suggested rate."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested_lr: float

    def to_frame_dict(self) -> dict[str, list[float]]:
        """Columns for a table or plot."""
        return {"lr": self.lrs, "loss": self.losses, "smoothed_loss": self.smoothed}


def _batches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """Minibatch indices without end: a fresh seeded permutation whenever one runs out."""
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for position in range(0, n - batch_size + 1, batch_size):
            yield order[position : position + batch_size]
        if n < batch_size:
            yield order


def _rate_steps(
    start_lr: float, end_lr: float, num_steps: int | None, rows: int, batch_size: int
) -> tuple[int, float]:
    """(steps, factor between consecutive rates); ``None`` steps = one epoch of minibatches."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr; got {start_lr}, {end_lr}")
    if num_steps is None:
        # One epoch of minibatches: enough steps to see the loss respond at every rate.
        num_steps = max(100, math.ceil(rows / batch_size))
    if num_steps < 2:
        raise ValueError(f"num_steps must be >= 2; got {num_steps}")
    return num_steps, (end_lr / start_lr) ** (1 / (num_steps - 1))


def lr_range_test(
    model: nn.Module,
    train: Ratings,
    config: TrainConfig | None = None,
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    num_steps: int | None = None,
    probe_size: int = 8192,
    diverge: float = 4.0,
    margin: float = 1.0,
    skip: float = 0.05,
) -> LRRangeResult:
    """Run the test on a copy of ``model`` (left untouched) and suggest a rate.

    From ``start_lr`` the rate grows by a constant factor after every minibatch, reaching
    ``end_lr`` after ``num_steps`` (default: one epoch). After each step the loss is measured on
    one fixed probe sample of ``probe_size`` training rows: a smooth curve, where a running mean
    of batch losses is not when one batch holding a rating 80 std out (z-scored play counts have
    those) outweighs a hundred ordinary ones. The test stops once that loss exceeds ``diverge``
    times its minimum (judged after the first ``skip`` fraction of steps). See ``suggest_lr``.
    """
    config = config or TrainConfig()
    num_steps, factor = _rate_steps(start_lr, end_lr, num_steps, len(train), config.batch_size)
    warmup = max(10, int(skip * num_steps))
    device = resolve_device(config.device)
    net = copy.deepcopy(model).to(device)
    data = train.to(device)
    generator = seed_everything(config.seed)
    chosen = torch.randperm(len(data), generator=generator)[:probe_size].to(device)
    probe = Ratings(data.pairs[chosen], data.targets[chosen])
    optimizer = make_optimizer(net, config, start_lr)
    probe_rows = net.batch_rows(probe.pairs) if hasattr(net, "batch_rows") else {}
    bias_coef = bias_coefficients(net, data, config)
    lrs: list[float] = []
    losses: list[float] = []
    curve: list[float] = []
    best, lr = math.inf, start_lr
    batches = _batches(len(data), config.batch_size, generator, device)
    for i in range(num_steps):
        idx = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = lr
        net.train()
        loss = float(step(net, optimizer, data.pairs[idx], data.targets[idx], config, bias_coef))
        if isinstance(optimizer, RowSparseOptimizer):
            optimizer.sync(probe_rows)  # the probe sees the weights a dense step would give
        value = evaluate(net, probe)
        if not (math.isfinite(loss) and math.isfinite(value)):
            break
        lrs.append(lr)
        losses.append(loss)
        curve.append(value)
        if i >= warmup:
            best = min(best, value)
            if value > diverge * best:
                break
        lr = min(lr * factor, end_lr)
    if not lrs:
        raise FloatingPointError(f"the loss was not finite even at start_lr={start_lr}")
    return LRRangeResult(lrs, losses, curve, suggest_lr(lrs, curve, skip=skip, margin=margin))


def suggest_lr(
    lrs: list[float], smoothed: list[float], skip: float = 0.05, margin: float = 1.0
) -> float:
    """The rate where the loss curve bottoms out, divided by ``margin`` (default 1).

    The minimum is the largest rate before the loss turns up; ``margin`` > 1 steps back from that
    edge. The first ``skip`` fraction of steps is ignored: nothing has been learnt there yet.
    """
    values = np.asarray(smoothed, dtype=float)
    first = min(int(len(values) * skip), len(values) - 1)
    lowest = first + int(np.argmin(values[first:]))
    return float(lrs[lowest] / margin)
