"""Minibatch training over pre-built index/target tensors: no DataLoader, no pandas in the loop."""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class Ratings:
    """Index pairs (``N x 2`` long) and their targets (``N`` float32), ready for the model."""

    pairs: torch.Tensor
    targets: torch.Tensor

    @classmethod
    def from_arrays(cls, users: Any, items: Any, targets: Any) -> Ratings:
        """Build from three equal-length array-likes (numpy arrays, pandas columns, lists)."""
        users, items, targets = (np.asarray(a) for a in (users, items, targets))
        if not len(users) == len(items) == len(targets):
            raise ValueError(
                f"users, items and targets must have one length; got {len(users)}, {len(items)}, {len(targets)}"
            )
        pairs = torch.from_numpy(np.stack([users, items], axis=1).astype(np.int64))
        return cls(pairs, torch.from_numpy(targets.astype(np.float32)))

    def __len__(self) -> int:
        return len(self.targets)

    def to(self, device: torch.device | str) -> Ratings:
        """The same ratings on ``device``."""
        return Ratings(self.pairs.to(device), self.targets.to(device))


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the defaults are the article's recipe (SGD with momentum, stepped rates)."""

    # (learning rate, epochs) stages, run in order.
    schedule: Sequence[tuple[float, int]] = ((0.1, 3), (0.05, 3), (0.01, 3), (0.005, 3), (0.001, 3))
    batch_size: int = 32
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = 0.9
    # Plain weight decay on every parameter, applied by the optimiser at every step.
    weight_decay: float = 0.0
    # L2 on the factor rows and bias rows used in each batch (mean squared norm per rating):
    # a bias is penalised once per rating, so a rarely seen artist's bias is barely held back.
    l2: float = 0.0
    bias_l2: float = 0.0
    # Ridge on biases: each row's penalty is divided by how often its user (item) occurs in
    # training, so every bias is penalised user_bias_ridge (item_bias_ridge) times per epoch in
    # total, as in a ridge regression. Rarely seen artists shrink toward zero the most.
    user_bias_ridge: float = 0.0
    item_bias_ridge: float = 0.0
    # Stop after this many epochs without a better validation loss and restore the best weights.
    patience: int | None = None
    seed: int = 0
    device: str = "auto"
    progress: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}"
            )
        if not self.schedule:
            raise ValueError("schedule must hold at least one (learning rate, epochs) stage")
        stages = [tuple(stage) for stage in self.schedule]
        for stage in stages:
            if len(stage) != 2 or not stage[0] > 0 or int(stage[1]) != stage[1] or stage[1] < 0:
                raise ValueError(
                    f"each schedule stage must be (learning rate > 0, epochs >= 0); got {stage!r}"
                )
        object.__setattr__(self, "schedule", tuple((float(lr), int(n)) for lr, n in stages))
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {self.batch_size}")
        for name in (
            "weight_decay",
            "l2",
            "bias_l2",
            "user_bias_ridge",
            "item_bias_ridge",
            "momentum",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or null; got {self.patience}")

    @property
    def epochs(self) -> int:
        """Total epochs over all stages."""
        return sum(n for _, n in self.schedule)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["schedule"] = [list(stage) for stage in self.schedule]
        return out


@dataclass
class History:
    """One record per epoch: ``epoch``, ``stage``, ``lr``, ``train_loss``, ``val_loss``, ``seconds``."""

    epochs: list[dict[str, float | int | None]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def best_val_loss(self) -> float | None:
        """Validation loss of the restored (best) epoch."""
        if self.best_epoch is None:
            return None
        return self.epochs[self.best_epoch - 1]["val_loss"]  # type: ignore[return-value]


def resolve_device(device: str = "auto") -> torch.device:
    """CUDA when asked for or, with ``auto``, when present; otherwise the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def make_optimizer(model: nn.Module, config: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """The optimiser the config names, at rate ``lr``."""
    params = [p for p in model.parameters() if p.requires_grad]
    # Fused kernels: one pass over all parameters per step instead of a few ops per tensor.
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=config.weight_decay, fused=fused)
    return torch.optim.SGD(
        params, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay, fused=fused
    )


BiasCoef = tuple[torch.Tensor, torch.Tensor]


def bias_coefficients(model: nn.Module, train: Ratings, config: TrainConfig) -> BiasCoef | None:
    """Per-user and per-artist weight of a squared bias in the batch penalty (None: no penalty)."""
    ridges = (config.user_bias_ridge, config.item_bias_ridge)
    if not (config.bias_l2 or any(ridges)) or not getattr(model, "biases", False):
        return None
    coefs = []
    for column, size, ridge in ((0, model.n_users, ridges[0]), (1, model.n_items, ridges[1])):
        counts = torch.bincount(train.pairs[:, column], minlength=size).to(torch.float32)
        coefs.append(config.bias_l2 + ridge / counts.clamp(min=1))
    return coefs[0], coefs[1]


def batch_loss(
    model: nn.Module,
    pairs: torch.Tensor,
    targets: torch.Tensor,
    config: TrainConfig,
    bias_coef: BiasCoef | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(objective to minimise, plain MSE) on one batch."""
    mse = nn.functional.mse_loss(model(pairs), targets)
    loss = mse
    if config.l2 or bias_coef is not None:
        factors, biases = model.row_penalty(pairs, bias_coef)
        loss = loss + config.l2 * factors + (biases if bias_coef is not None else 0.0)
    return loss, mse


def step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    pairs: torch.Tensor,
    targets: torch.Tensor,
    config: TrainConfig,
    bias_coef: BiasCoef | None = None,
) -> torch.Tensor:
    """One optimiser step on one batch; returns the batch MSE (detached)."""
    if hasattr(model, "fill_grads"):
        mse = model.fill_grads(pairs, targets, config.l2, bias_coef)
    else:
        loss, mse = batch_loss(model, pairs, targets, config, bias_coef)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    optimizer.step()
    return mse.detach()


@torch.no_grad()
def evaluate(model: nn.Module, data: Ratings, batch_size: int = 1 << 16) -> float:
    """Mean squared error of ``model`` on ``data``."""
    if len(data) == 0:
        return float("nan")
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=data.pairs.device)
    for start in range(0, len(data), batch_size):
        pred = model(data.pairs[start : start + batch_size])
        total += (pred - data.targets[start : start + batch_size]).double().pow(2).sum()
    return float(total) / len(data)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch (CPU and CUDA) and return a generator for the batch order."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def fit(
    model: nn.Module,
    train: Ratings,
    valid: Ratings | None = None,
    config: TrainConfig | None = None,
) -> History:
    """Train ``model`` in place through the schedule's stages; returns the per-epoch history.

    With ``patience`` and validation data, training stops once validation loss has not improved
    for that many epochs and the best weights are restored.
    """
    config = config or TrainConfig()
    if len(train) == 0:
        raise ValueError("no training ratings")
    device = resolve_device(config.device)
    generator = seed_everything(config.seed)
    model.to(device)
    train = train.to(device)
    valid = valid.to(device) if valid is not None and len(valid) else None
    bias_coef = bias_coefficients(model, train, config)
    history = History()
    best_loss, best_state, since_best = math.inf, None, 0
    n = len(train)
    epoch = 0
    bar = tqdm(total=config.epochs, desc="epochs", disable=not config.progress, leave=False)
    for stage, (lr, n_epochs) in enumerate(config.schedule):
        # A fresh optimiser per stage, as the article re-creates it at each rate.
        optimizer = make_optimizer(model, config, lr)
        for _ in range(n_epochs):
            epoch += 1
            start = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=generator).to(device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            for begin in range(0, n, config.batch_size):
                idx = order[begin : begin + config.batch_size]
                mse = step(
                    model, optimizer, train.pairs[idx], train.targets[idx], config, bias_coef
                )
                total += mse * len(idx)
            train_loss = float(total) / n
            if not math.isfinite(train_loss):
                raise FloatingPointError(
                    f"training loss became {train_loss} in epoch {epoch} at learning rate {lr}: "
                    "lower the rate or the batch size"
                )
            val_loss = evaluate(model, valid) if valid is not None else None
            record = {
                "epoch": epoch,
                "stage": stage,
                "lr": lr,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "seconds": time.perf_counter() - start,
            }
            history.epochs.append(record)
            bar.update(1)
            bar.set_postfix(
                train=f"{train_loss:.4f}", val=f"{val_loss:.4f}" if val_loss is not None else "-"
            )
            logger.info(
                "epoch %d/%d lr %g: train %.4f, validation %s",
                epoch,
                config.epochs,
                lr,
                train_loss,
                f"{val_loss:.4f}" if val_loss is not None else "-",
            )
            if val_loss is not None and val_loss < best_loss:
                best_loss, since_best, history.best_epoch = val_loss, 0, epoch
                if config.patience is not None:
                    best_state = copy.deepcopy(model.state_dict())
            elif val_loss is not None:
                since_best += 1
                if config.patience is not None and since_best >= config.patience:
                    history.stopped_early = True
                    break
        if history.stopped_early:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    elif valid is None or config.patience is None:
        history.best_epoch = epoch
    model.eval()
    return history
