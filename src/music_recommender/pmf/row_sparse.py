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


class RowSparseOptimizer:
    """Adam or SGD with momentum over a model's embedding tables, row by row.

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
        self.dense = [p for n, p in model.named_parameters() if not n.endswith(".weight")]
        self.dense = [p for p in self.dense if p.requires_grad]
        slots = 2 if kind == "adam" else 1
        self.state = {
            name: [torch.zeros_like(param) for _ in range(slots)]
            for name, param in [*self.tables.items(), *enumerate(self.dense)]
        }
        # The step at which each row was last brought up to date (0: never touched).
        self.last = {
            name: torch.zeros(len(param), dtype=torch.long, device=param.device)
            for name, param in self.tables.items()
        }
        self.steps = 0
        self._pending: dict[str, tuple[torch.Tensor, list[torch.Tensor]]] = {}
        self._drift: torch.Tensor | None = None  # Adam's drift per (start step, skipped steps)
        self.tables_dtype = next(iter(self.tables.values())).dtype if self.tables else torch.float32

    @torch.no_grad()
    def prepare(self, rows: dict[str, tuple[torch.Tensor, Any]]) -> None:
        """Before a batch's forward pass: bring the rows it uses up to the current step.

        The caught-up weights are written back (the forward pass reads them); their moments are
        kept for ``step_rows``, which then needs no second gather.
        """
        self._pending = {}
        for name, (table_rows, _) in rows.items():
            if name in self.tables:
                self._pending[name] = self._replay(name, table_rows, self.steps, keep=True)

    @torch.no_grad()
    def step_rows(self, grads: dict[str, RowGrad], dense_grad: torch.Tensor | None) -> None:
        """Apply one step to the given rows of each table (and to the dense parameters).

        The rows must have been ``prepare``d for this batch.
        """
        self.steps += 1
        for name, (rows, grad) in grads.items():
            weight, slots = self._pending.pop(name)
            new = self._update(weight, grad, slots)
            self.tables[name].index_copy_(0, rows, new)
            for slot, value in zip(self.state[name], slots, strict=True):
                slot.index_copy_(0, rows, value)
            self.last[name].index_fill_(0, rows, self.steps)
        if dense_grad is not None:
            for k, param in enumerate(self.dense):
                slots = [slot.clone() for slot in self.state[k]]
                param.copy_(self._update(param, dense_grad.expand_as(param), slots))
                for slot, value in zip(self.state[k], slots, strict=True):
                    slot.copy_(value)

    @torch.no_grad()
    def catch_up(self) -> None:
        """Bring every row up to the current step, as a dense optimiser would have moved it."""
        for name, table in self.tables.items():
            self._replay(name, torch.arange(len(table), device=table.device), self.steps)

    def _replay(
        self, name: str, rows: torch.Tensor, until: int, keep: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Apply the steps ``last[rows] + 1 .. until`` that had no gradient for these rows.

        Returns the rows' weights and moments afterwards; the weights are written back, the
        moments too unless ``keep`` (the caller will write them after its own step).
        """
        table, state = self.tables[name], self.state[name]
        weight = table.index_select(0, rows)
        slots = [slot.index_select(0, rows) for slot in state]
        last = self.last[name].index_select(0, rows)
        skipped = until - last
        if not bool((skipped > 0).any()):
            return weight, slots
        lr = self.param_groups[0]["lr"]
        if self.kind == "sgd":
            mu = self.momentum
            decay = mu ** skipped.to(table.dtype)
            drift = mu * (1 - decay) / (1 - mu) if mu else torch.zeros_like(decay)
            weight = weight - lr * slots[0] * drift[:, None]
            slots = [slots[0] * decay[:, None]]
        else:
            beta1, beta2 = _BETAS
            m, v = slots
            ratio = torch.where(v > 0, m / v.sqrt().clamp_min(1e-30), 0.0)
            weight = weight - lr * ratio * self._adam_drift(last, skipped)[:, None]
            slots = [
                m * (beta1 ** skipped.to(m.dtype))[:, None],
                v * (beta2 ** skipped.to(v.dtype))[:, None],
            ]
        table.index_copy_(0, rows, weight)
        if not keep:
            for slot, value in zip(state, slots, strict=True):
                slot.index_copy_(0, rows, value)
            self.last[name].index_fill_(0, rows, until)
        return weight, slots

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
