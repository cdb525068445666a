"""Minibatch training over pre-built index/target tensors: no DataLoader, no pandas in the loop."""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.progress import Progress
from music_recommender.pmf.row_sparse import RowSparseOptimizer

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
    """How to train; the defaults equal ``model`` in conf/base (a test keeps them equal).

    The article's own recipe (SGD with momentum at 0.1, 0.05, 0.01, 0.005, 0.001 for 3 epochs
    each, batches of 32) is conf/seed.
    """

    # (learning rate, epochs) stages, run in order.
    schedule: Sequence[tuple[float, int]] = ((0.05, 3), (0.02, 3), (0.005, 3))
    batch_size: int = 2048
    optimizer: Literal["sgd", "adam"] = "adam"
    momentum: float = 0.9
    # Plain weight decay on every parameter, applied by the optimiser at every step.
    weight_decay: float = 0.0
    # L2 on the factor rows and bias rows used in each batch (mean squared norm per rating):
    # a bias is penalised once per rating, so a rarely seen artist's bias is barely held back.
    l2: float = 0.5
    bias_l2: float = 0.0
    # Ridge on biases: each row's penalty is divided by how often its user (item) occurs in
    # training, so every bias is penalised user_bias_ridge (item_bias_ridge) times per epoch in
    # total, as in a ridge regression. Rarely seen artists shrink toward zero the most.
    user_bias_ridge: float = 0.5
    item_bias_ridge: float = 15.0
    # Stop after this many epochs without a better validation loss and restore the best weights.
    patience: int | None = 3
    seed: int = 42
    device: str = "auto"
    progress: bool = False
    # Read and update only the embedding rows each batch uses (pmf/row_sparse.py): an epoch costs
    # the ratings, not the tables. false = torch's dense Adam / SGD over every row every step;
    # "auto" = row-sparse once the tables hold more than SPARSE_ABOVE x batch_size rows and there
    # is no weight decay (then the two give the same weights, so this only chooses the faster).
    sparse_updates: bool | str = "auto"

    def __post_init__(self) -> None:
        check_field_types(self, "model")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}"
            )
        if not self.schedule:
            raise ValueError("schedule must hold at least one (learning rate, epochs) stage")
        stages = [tuple(stage) for stage in self.schedule]
        for stage in stages:
            finite = len(stage) == 2 and all(
                isinstance(v, int | float) and math.isfinite(v) for v in stage
            )
            if not finite or not stage[0] > 0 or int(stage[1]) != stage[1] or stage[1] < 0:
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
        if self.sparse_updates not in (True, False, "auto"):
            raise ValueError(
                f"sparse_updates must be true, false or auto; got {self.sparse_updates!r}"
            )
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or null; got {self.patience}")
        check_device(self.device, "model")
        check_seed(self.seed, "model")

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
    """One record per epoch: ``epoch``, ``stage``, ``lr``, ``train_loss``, ``val_loss``, ``seconds``.

    ``best_epoch`` has the lowest validation loss (None without validation data); ``kept_epoch``
    is the epoch whose weights the model holds: the best one when early stopping restored it,
    otherwise the last one trained.
    """

    epochs: list[dict[str, float | int | None]] = field(default_factory=list)
    best_epoch: int | None = None
    kept_epoch: int | None = None
    stopped_early: bool = False

    @property
    def best_val_loss(self) -> float | None:
        """Validation loss of the best epoch."""
        if self.best_epoch is None:
            return None
        return self.epochs[self.best_epoch - 1]["val_loss"]  # type: ignore[return-value]


MAX_SEED = 2**63 - 1  # seeds travel as 64-bit integers (torch, numpy, the split's hash)


def check_device(device: str, where: str) -> None:
    """A device this machine has: ``auto``, ``cpu``, or ``cuda``/``cuda:N`` with a GPU present."""
    try:
        parsed = torch.device(device) if device != "auto" else None
    except (RuntimeError, TypeError):
        raise ValueError(f"{where}.device must be auto, cpu or cuda[:N]; got {device!r}") from None
    if parsed is not None and parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{where}.device is {device!r} but this machine has no CUDA device: use auto or cpu"
        )


def check_seed(seed: int, where: str) -> None:
    """A seed every random source here takes: an integer in [0, 2**63)."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{where}.seed must be an integer in [0, 2**63); got {seed!r}")


def resolve_device(device: str = "auto") -> torch.device:
    """CUDA when asked for or, with ``auto``, when present; otherwise the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# "auto" switches to row-sparse updates above this many table rows per batch row: measured, a
# dense fused Adam step beats the row-sparse one on hetrec-2k's 4.7 k rows (batches of 2,048)
# and loses 3x at 216 k rows.
SPARSE_ABOVE = 32


def _row_sparse(model: nn.Module, config: TrainConfig) -> bool:
    if not hasattr(model, "row_grads") or config.sparse_updates is False:
        return False
    if config.sparse_updates is True:
        return True
    # With weight decay a dense optimiser shrinks every row at every step and the row-sparse one
    # only the batch's rows, so "auto" (which promises the same weights) stays dense: measured on
    # hetrec-2k, the article's recipe (SGD 0.1, momentum 0.9, decay 1e-3, batches of 32) trains
    # dense and diverges in epoch 2-3 with row-sparse steps.
    if config.weight_decay:
        return False
    return model.n_users + model.n_items > SPARSE_ABOVE * config.batch_size


def make_optimizer(
    model: nn.Module, config: TrainConfig, lr: float
) -> torch.optim.Optimizer | RowSparseOptimizer:
    """The optimiser the config names, at rate ``lr``; row-sparse when the model allows it."""
    if _row_sparse(model, config):
        return RowSparseOptimizer(model, config.optimizer, lr, config.momentum, config.weight_decay)
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
    if isinstance(optimizer, RowSparseOptimizer):
        rows = model.batch_rows(pairs)
        weights = optimizer.prepare(rows)  # skipped steps first: the rows a dense step would see
        mse, grads, dense_grad = model.row_grads(
            pairs, targets, config.l2, bias_coef, rows, weights
        )
        optimizer.step_rows(grads, dense_grad)
        return mse.detach()
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


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: Ratings,
    order: torch.Tensor,
    config: TrainConfig,
    bias_coef: BiasCoef | None,
) -> float:
    """One pass over ``train`` in the given order; returns the mean training MSE."""
    model.train()
    total = torch.zeros((), dtype=torch.float64, device=order.device)
    # One gather for the epoch, then contiguous slices: cheaper than a fancy index per batch.
    pairs, targets = train.pairs.index_select(0, order), train.targets.index_select(0, order)
    for begin in range(0, len(order), config.batch_size):
        end = begin + config.batch_size
        batch = step(model, optimizer, pairs[begin:end], targets[begin:end], config, bias_coef)
        total += batch * len(targets[begin:end])
    return float(total) / len(order)


@dataclass
class _BestWeights:
    """Tracks the lowest validation loss and, with ``patience``, the weights that gave it."""

    patience: int | None
    loss: float = math.inf
    state: dict[str, torch.Tensor] | None = None
    since: int = 0

    def update(self, model: nn.Module, val_loss: float | None) -> tuple[bool, bool]:
        """(is this epoch the best so far, should training stop now)."""
        if val_loss is None:
            return False, False
        if val_loss < self.loss:
            self.loss, self.since = val_loss, 0
            if self.patience is not None:
                self.state = copy.deepcopy(model.state_dict())
            return True, False
        self.since += 1
        return False, self.patience is not None and self.since >= self.patience


def _report_epoch(
    record: dict[str, Any], epochs: int, progress: bool, level: int = logging.INFO
) -> None:
    """A log line per epoch, at INFO every few seconds and for the last (``Progress``); with
    ``progress``, a line on the terminal that updates."""
    shown = f"{record['val_loss']:.4f}" if record["val_loss"] is not None else "-"
    if progress:
        sys.stderr.write(
            f"\repochs {record['epoch']}/{epochs}: train {record['train_loss']:.4f}, val {shown}"
        )
        sys.stderr.flush()
    logger.log(
        level,
        "epoch %d/%d lr %g: train %.4f, validation %s",
        record["epoch"],
        epochs,
        record["lr"],
        record["train_loss"],
        shown,
    )


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
    history, best = History(), _BestWeights(config.patience)
    shown = Progress()  # an INFO line every few seconds and for the last epoch
    for stage, (lr, n_epochs) in enumerate(config.schedule):
        # A fresh optimiser per stage, as the article re-creates it at each rate.
        optimizer = make_optimizer(model, config, lr)
        for _ in range(n_epochs):
            epoch, start = len(history.epochs) + 1, time.perf_counter()
            order = torch.randperm(len(train), generator=generator).to(device)
            train_loss = _train_epoch(model, optimizer, train, order, config, bias_coef)
            if isinstance(optimizer, RowSparseOptimizer):
                optimizer.catch_up()  # rows the last batches skipped, as a dense step moves them
            if not math.isfinite(train_loss):
                raise FloatingPointError(
                    f"training loss became {train_loss} in epoch {epoch} at learning rate {lr}: "
                    "lower the rate or the batch size"
                )
            val_loss = evaluate(model, valid) if valid is not None else None
            record = {"epoch": epoch, "stage": stage, "lr": lr, "train_loss": train_loss}
            history.epochs.append(
                record | {"val_loss": val_loss, "seconds": time.perf_counter() - start}
            )
            last = epoch == config.epochs
            _report_epoch(history.epochs[-1], config.epochs, config.progress, shown.level(last))
            is_best, history.stopped_early = best.update(model, val_loss)
            history.best_epoch = epoch if is_best else history.best_epoch
            if history.stopped_early:
                break
        if history.stopped_early:
            break
    if config.progress:
        sys.stderr.write("\n")
    if best.state is not None:
        model.load_state_dict(best.state)
    history.kept_epoch = history.best_epoch if best.state is not None else len(history.epochs)
    model.eval()
    return history
