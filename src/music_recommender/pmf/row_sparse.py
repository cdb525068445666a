"""Optimisers that read and write only the embedding rows a batch uses, yet follow the dense ones.

A dense optimiser steps every row of every table at every batch: with 360 k listeners x 200 k
artists that is 72 M parameters touched to learn from 2,048 ratings, and an epoch that grows with
the tables instead of the ratings. Here a step gathers the batch's rows, updates their moments
and weights, and scatters them back.

A row the batches skip still moves under a dense optimiser: its momentum decays and keeps
pushing it (Adam: ``m / sqrt(v)`` with both moments decaying). Unlike torch's ``SparseAdam``,
which drops that drift, each row here keeps the step it was last updated at, and the skipped
steps are replayed in closed form when the row comes back (and for every row at the end of an
epoch, ``catch_up``): exact for SGD with momentum, and for Adam up to its ``eps`` during the
skipped steps and drift beyond ``_DRIFT_STEPS`` steps (below 1e-5 of one step). Weight decay
is the one difference: it applies to the rows a batch uses.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from music_recommender.pmf.model import RowGrad

_BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults
_EPS = 1e-8
# Adam's drift after s skipped steps shrinks like (beta1 / sqrt(beta2)) ** s: 128 steps = 1.5e-6.
_DRIFT_STEPS = 128


_NUMPY_DTYPES = (torch.float32, torch.float64, torch.int64)


def put_rows(table: torch.Tensor, rows: torch.Tensor, values: torch.Tensor | int) -> None:
    """``table[rows] = values`` for distinct ``rows``, in place: on the CPU through numpy, whose
    row copy is 2-2.5x torch's ``index_copy_`` here (8,000 random rows of 64-130 floats), and the
    step's write-back is a quarter of the rating fit at Last.fm-360K's size."""
    if table.device.type != "cpu" or table.dtype not in _NUMPY_DTYPES:
        if isinstance(values, int):
            table.index_fill_(0, rows, values)
        else:
            table.index_copy_(0, rows, values.to(table.dtype))
        return
    array = table.detach().numpy()
    array[rows.numpy()] = values if isinstance(values, int) else values.detach().numpy()


class RowSparseOptimizer:
    """Adam or SGD with momentum over a model's embedding tables, row by row.

    Tables indexed by the same rows (a model's ``table_sides()``: listener factors and listener
    bias) are stepped together as one side: one replay, one update, one block of state per row.
    ``param_groups[0]["lr"]`` is the rate, as for a torch optimiser (the LR range test sets it).
    """

    def __init__(
        self,
        model: nn.Module,
        kind: Literal["sgd", "adam"],
        lr: float,
        momentum: float,
        weight_decay: float,
    ) -> None:
        self.kind, self.momentum, self.weight_decay = kind, momentum, weight_decay
        self.param_groups: list[dict[str, Any]] = [{"lr": lr}]
        self.tables = {
            name.removesuffix(".weight"): param
            for name, param in model.named_parameters()
            if name.endswith(".weight") and param.requires_grad
        }
        sides = model.table_sides() if hasattr(model, "table_sides") else {}
        self.sides = {
            side: [name for name in names if name in self.tables] for side, names in sides.items()
        }
        self.sides |= {
            name: [name] for name in self.tables if not any(name in t for t in self.sides.values())
        }
        self.dense = [p for n, p in model.named_parameters() if not n.endswith(".weight")]
        self.dense = [p for p in self.dense if p.requires_grad]
        self.slots = 2 if kind == "adam" else 1
        widths = {
            side: sum(self.tables[t].shape[1] for t in names) for side, names in self.sides.items()
        }
        # One row of state per side row, every moment of every table side by side: a step
        # gathers and scatters one block per row, which is what an epoch costs once the tables
        # outgrow the caches.
        self.state = {
            side: self.tables[names[0]].new_zeros(
                len(self.tables[names[0]]), self.slots * widths[side]
            )
            for side, names in self.sides.items()
        }
        self.dense_state = [
            [torch.zeros_like(param) for _ in range(self.slots)] for param in self.dense
        ]
        # The step at which each row was last brought up to date (0: never touched).
        self.last = {
            side: torch.zeros(len(block), dtype=torch.long, device=block.device)
            for side, block in self.state.items()
        }
        self.steps = 0
        self._pending: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._drift: torch.Tensor | None = None  # Adam's drift per (start step, skipped steps)
        self.tables_dtype = next(iter(self.tables.values())).dtype if self.tables else torch.float32

    @torch.no_grad()
    def prepare(self, rows: dict[str, tuple[torch.Tensor, Any]]) -> dict[str, torch.Tensor]:
        """Before a batch's forward pass: the rows it uses, brought up to the current step.

        Returns each table's caught-up rows for the forward pass (not yet written back: the
        step writes them once); their moments are kept for ``step_rows``, so a step gathers
        each row once.
        """
        self._pending, weights = {}, {}
        for side, names in self.sides.items():
            if names[0] in rows:
                side_rows = rows[names[0]][0]
                weight, block = self._replay(side, side_rows, self.steps)
                self._pending[side] = (side_rows, weight, block)
                weights |= self._split(side, weight)
        return weights

    @torch.no_grad()
    def step_rows(self, grads: dict[str, RowGrad], dense_grad: torch.Tensor | None) -> None:
        """Apply one step to the given rows of each table (and to the dense parameters).

        The rows must have been ``prepare``d for this batch.
        """
        self.steps += 1
        for side, (rows, weight, block) in self._pending.items():
            grad = torch.cat([grads[name][1] for name in self.sides[side]], dim=1)
            new = self._update(weight, grad, self._slots(block))
            self._store(side, rows, new, block)
        self._pending = {}
        if dense_grad is not None:
            for param, state in zip(self.dense, self.dense_state, strict=True):
                slots = [slot.clone() for slot in state]
                param.copy_(self._update(param, dense_grad.expand_as(param), slots))
                for slot, value in zip(state, slots, strict=True):
                    slot.copy_(value)

    @torch.no_grad()
    def sync(self, rows: dict[str, tuple[torch.Tensor, Any]]) -> None:
        """Write these rows as a dense optimiser would have them now (for an evaluation)."""
        for side, names in self.sides.items():
            if names[0] in rows:
                side_rows = rows[names[0]][0]
                self._store(side, side_rows, *self._replay(side, side_rows, self.steps))

    @torch.no_grad()
    def catch_up(self) -> None:
        """Bring every row up to the current step, as a dense optimiser would have moved it."""
        for side, block in self.state.items():
            rows = torch.arange(len(block), device=block.device)
            self._store(side, rows, *self._replay(side, rows, self.steps))

    def _split(self, side: str, weight: torch.Tensor) -> dict[str, torch.Tensor]:
        """A side's rows, table by table (views)."""
        widths = [self.tables[name].shape[1] for name in self.sides[side]]
        return dict(zip(self.sides[side], weight.split(widths, dim=1), strict=True))

    def _store(
        self, side: str, rows: torch.Tensor, weight: torch.Tensor, block: torch.Tensor
    ) -> None:
        for name, part in self._split(side, weight).items():
            put_rows(self.tables[name], rows, part)
        put_rows(self.state[side], rows, block)
        put_rows(self.last[side], rows, self.steps)

    def _slots(self, block: torch.Tensor) -> list[torch.Tensor]:
        """The moments (views) in a gathered block of state rows."""
        return list(block.chunk(self.slots, dim=1))

    def _replay(
        self, side: str, rows: torch.Tensor, until: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows' weights and state after the steps ``last[rows] + 1 .. until`` they skipped.

        Nothing is written: the caller stores the result (or steps it first).
        """
        parts = [self.tables[name].index_select(0, rows) for name in self.sides[side]]
        weight = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        block = self.state[side].index_select(0, rows)
        last = self.last[side].index_select(0, rows)
        skipped = until - last
        if not bool((skipped > 0).any()):
            return weight, block
        lr = self.param_groups[0]["lr"]
        slots = self._slots(block)
        if self.kind == "sgd":
            mu = self.momentum
            decay = mu ** skipped.to(weight.dtype)
            drift = mu * (1 - decay) / (1 - mu) if mu else torch.zeros_like(decay)
            weight.sub_(slots[0] * (lr * drift)[:, None])
            slots[0].mul_(decay[:, None])
        else:
            beta1, beta2 = _BETAS
            m, v = slots
            ratio = torch.where(v > 0, m / v.sqrt().clamp_min(1e-30), 0.0)
            weight.sub_(ratio * (lr * self._adam_drift(last, skipped))[:, None])
            m.mul_((beta1 ** skipped.to(m.dtype))[:, None])
            v.mul_((beta2 ** skipped.to(v.dtype))[:, None])
        return weight, block

    def _adam_drift(self, last: torch.Tensor, skipped: torch.Tensor) -> torch.Tensor:
        """``sum_{s=1..skipped} (beta1 / sqrt(beta2))^s sqrt(1 - beta2^t) / (1 - beta1^t)``, t = last + s.

        How far Adam moves a row per unit of ``m / sqrt(v)`` over the skipped steps, read from a
        table of cumulative sums per starting step that grows with the step count.
        """
        needed = int(last.max()) + 1
        if self._drift is None or len(self._drift) < needed:
            start = 0 if self._drift is None else len(self._drift)
            stop = max(needed, 2 * start, 1024)
            beta1, beta2 = _BETAS
            s = torch.arange(1, _DRIFT_STEPS + 1, dtype=torch.float64)
            tau = torch.arange(start, stop, dtype=torch.float64)[:, None] + s[None, :]
            terms = (beta1 / beta2**0.5) ** s * (1 - beta2**tau).sqrt() / (1 - beta1**tau)
            rows = torch.cat([terms.new_zeros(len(terms), 1), terms.cumsum(1)], dim=1)
            rows = rows.to(device=last.device, dtype=self.tables_dtype)
            self._drift = rows if self._drift is None else torch.cat([self._drift, rows])
        return self._drift[last, skipped.clamp_max(_DRIFT_STEPS)]

    def _update(
        self, weight: torch.Tensor, grad: torch.Tensor, slots: list[torch.Tensor]
    ) -> torch.Tensor:
        """One optimiser step on ``weight``; ``slots`` (its moments) are updated in place."""
        lr = self.param_groups[0]["lr"]
        if self.weight_decay:
            grad = grad + self.weight_decay * weight
        if self.kind == "sgd":
            if self.momentum:
                slots[0].mul_(self.momentum).add_(grad)
                return weight - lr * slots[0]
            return weight - lr * grad
        beta1, beta2 = _BETAS
        m = slots[0].mul_(beta1).add_(grad, alpha=1 - beta1)
        v = slots[1].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        m_hat = m / (1 - beta1**self.steps)
        v_hat = v / (1 - beta2**self.steps)
        return weight - lr * m_hat / (v_hat.sqrt() + _EPS)
