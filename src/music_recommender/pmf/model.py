"""The article's model: user . artist dot product plus a user bias and an artist bias."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# The rows of one embedding table that a batch uses, and the gradient of each of those rows.
RowGrad = tuple[torch.Tensor, torch.Tensor]


class PMF(nn.Module):
    """Probabilistic matrix factorisation with optional biases.

    ``forward`` takes an ``N x 2`` long tensor of ``(user, artist)`` index pairs and returns ``N``
    predicted ratings: ``global_bias + user . artist + user_bias + artist_bias``. With
    ``biases=False`` it is the article's Figure 6 model, the plain dot product.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int = 40,
        biases: bool = True,
        init_std: float = 0.1,
        global_bias: float = 0.0,
    ) -> None:
        super().__init__()
        if min(n_users, n_items, n_factors) < 1:
            raise ValueError(
                f"n_users, n_items and n_factors must be >= 1; got {n_users}, {n_items}, {n_factors}"
            )
        self.n_users, self.n_items, self.n_factors = n_users, n_items, n_factors
        self.biases, self.init_std = biases, init_std
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.item_factors = nn.Embedding(n_items, n_factors)
        nn.init.normal_(self.user_factors.weight, std=init_std)
        nn.init.normal_(self.item_factors.weight, std=init_std)
        if biases:
            self.user_bias = nn.Embedding(n_users, 1)
            self.item_bias = nn.Embedding(n_items, 1)
            nn.init.zeros_(self.user_bias.weight)
            nn.init.zeros_(self.item_bias.weight)
        # The mean rating: biases and factors then model deviations from it.
        self.global_bias = nn.Parameter(torch.tensor(float(global_bias)), requires_grad=biases)
        # What the model was trained with (objective, its settings, the data it saw): JSON-like,
        # saved in the model file so that fold-in and the command line use the model's own settings.
        self.trained_with: dict[str, Any] = {}

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """Predicted ratings for ``(user, artist)`` index pairs."""
        users, items = pairs[:, 0], pairs[:, 1]
        pred = (self.user_factors(users) * self.item_factors(items)).sum(dim=1)
        if self.biases:
            pred = (
                pred
                + self.user_bias(users).squeeze(1)
                + self.item_bias(items).squeeze(1)
                + self.global_bias
            )
        return pred

    def row_penalty(
        self, pairs: torch.Tensor, bias_coef: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean squared norm of the factor rows and of the bias rows that ``pairs`` use.

        ``bias_coef`` weighs each user's and artist's squared bias (one tensor per side, indexed
        like the embeddings); without it every bias row weighs 1.
        """
        users, items = pairs[:, 0], pairs[:, 1]
        factors = self.user_factors(users).pow(2).sum(1) + self.item_factors(items).pow(2).sum(1)
        if not self.biases:
            return factors.mean(), factors.new_zeros(())
        bu, bi = self.user_bias(users).squeeze(1), self.item_bias(items).squeeze(1)
        if bias_coef is None:
            return factors.mean(), (bu.pow(2) + bi.pow(2)).mean()
        return factors.mean(), (
            bias_coef[0][users] * bu.pow(2) + bias_coef[1][items] * bi.pow(2)
        ).mean()

    def table_sides(self) -> dict[str, list[str]]:
        """Embedding tables indexed by the same rows (the row-sparse optimiser steps them together)."""
        if not self.biases:
            return {"user": ["user_factors"], "item": ["item_factors"]}
        return {"user": ["user_factors", "user_bias"], "item": ["item_factors", "item_bias"]}

    def batch_rows(self, pairs: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per embedding table, the distinct rows ``pairs`` use and where each pair's row sits."""
        users = torch.unique(pairs[:, 0], return_inverse=True)
        items = torch.unique(pairs[:, 1], return_inverse=True)
        tables = {"user_factors": users, "item_factors": items}
        if self.biases:
            tables |= {"user_bias": users, "item_bias": items}
        return tables

    @torch.no_grad()
    def row_grads(
        self,
        pairs: torch.Tensor,
        targets: torch.Tensor,
        l2: float = 0.0,
        bias_coef: tuple[torch.Tensor, torch.Tensor] | None = None,
        rows: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
        weights: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[str, RowGrad], torch.Tensor | None]:
        """The gradient of ``MSE + l2 * factors + biases`` (``row_penalty``), row by row.

        Returns (batch MSE, ``{table name: (rows, grad of those rows)}`` for each embedding,
        grad of the global bias or None). Only the rows the batch uses appear: a step costs the
        batch, not the tables, so an epoch is linear in the ratings whatever the catalogue size.
        ``weights``: the batch's rows of each table (``rows`` order), when the caller has them.
        """
        users, items = pairs[:, 0], pairs[:, 1]
        rows = rows or self.batch_rows(pairs)
        user_rows, user_at = rows["user_factors"]
        item_rows, item_at = rows["item_factors"]
        if weights is None:
            weights = {
                name: getattr(self, name).weight.index_select(0, rows[name][0]) for name in rows
            }
        u = weights["user_factors"].index_select(0, user_at)
        v = weights["item_factors"].index_select(0, item_at)
        pred = (u * v).sum(1)
        if self.biases:
            bu = weights["user_bias"][:, 0].index_select(0, user_at)
            bi = weights["item_bias"][:, 0].index_select(0, item_at)
            pred += bu + bi + self.global_bias
        err = pred - targets
        scale = 2.0 / len(targets)
        e = err * scale

        def per_row(at: torch.Tensor, n: int, per_rating: torch.Tensor) -> torch.Tensor:
            return per_rating.new_zeros(n, per_rating.shape[1]).index_add_(0, at, per_rating)

        grads = {
            "user_factors": (
                user_rows,
                per_row(user_at, len(user_rows), torch.addcmul(u * (l2 * scale), e[:, None], v)),
            ),
            "item_factors": (
                item_rows,
                per_row(item_at, len(item_rows), torch.addcmul(v * (l2 * scale), e[:, None], u)),
            ),
        }
        if not self.biases:
            return err.pow(2).mean(), grads, None
        gu, gi = e, e
        if bias_coef is not None:
            gu = torch.addcmul(e, bu, bias_coef[0][users], value=scale)
            gi = torch.addcmul(e, bi, bias_coef[1][items], value=scale)
        grads["user_bias"] = (user_rows, per_row(user_at, len(user_rows), gu[:, None]))
        grads["item_bias"] = (item_rows, per_row(item_at, len(item_rows), gi[:, None]))
        return err.pow(2).mean(), grads, e.sum()

    @torch.no_grad()
    def fill_grads(
        self,
        pairs: torch.Tensor,
        targets: torch.Tensor,
        l2: float = 0.0,
        bias_coef: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Set ``.grad`` of every parameter to that of ``row_grads``, as dense tensors.

        The same gradient autograd gives (a test checks it), for the dense optimisers. Returns
        the batch MSE.
        """
        mse, grads, global_grad = self.row_grads(pairs, targets, l2, bias_coef)
        for name, param in self.named_parameters():
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            else:
                param.grad.zero_()
            if name.endswith(".weight"):
                table_rows, grad = grads[name.removesuffix(".weight")]
                param.grad.index_add_(0, table_rows, grad)
        if global_grad is not None:
            self.global_bias.grad.fill_(global_grad)
        return mse

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this model (the weights come from ``state_dict``)."""
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_factors": self.n_factors,
            "biases": self.biases,
            "init_std": self.init_std,
        }
