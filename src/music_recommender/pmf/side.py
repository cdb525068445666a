"""Side information beside the plays: artists' tags and listeners' friends, in the tables' rows.

Tags enter the implicit objective as extra rows that share the artist factors: tag ``t`` is a
pseudo-listener who "plays" artist ``j`` with confidence ``tag_weight * (1 + tag_alpha *
log1p(percent of j's tag assignments that carry t))`` and leaves every other artist at 0 with
weight ``tag_weight``; so artists tagged alike get alike vectors. Counting per artist (a
percent), not raw counts, keeps a much-tagged popular artist from drowning the rest (measured on
hetrec-2k: +0.5 % NDCG@10 over raw counts). With ``tag_prior`` > 0 the tags also act on the
artist side: each tagged artist's factors are pulled toward the mix of its tags' vectors (a
regression prior, as in collaborative topic regression), the vectors solved by ridge regression
of the artists' factors on their tag shares before every artist sweep. Friends enter as a
social regulariser (Ma et al., 2011): ``friend_weight * ||x_u - mean of u's friends' x||^2`` on
each listener's factors.

Fair evaluation is part of it: a listener's own tag on an artist reveals that they know it, so
``holding_out`` drops every tag assignment of a held-out (listener, artist) pair before a fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def _int_rows(values: Any, name: str) -> np.ndarray:
    rows = np.asarray(values)
    if rows.ndim != 1 or (len(rows) and not np.issubdtype(rows.dtype, np.integer)):
        raise ValueError(f"side information: {name} must be a 1-d array of integer rows")
    return rows.astype(np.int64, copy=False)


def _pair_keys(users: np.ndarray, items: np.ndarray, width: int) -> np.ndarray:
    return users * width + items


def _csr(
    rows: np.ndarray, cols: np.ndarray, values: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """A sparse CSR matrix of (row, column, value) triples in any order."""
    order = np.lexsort((cols, rows))
    crow = np.r_[0, np.cumsum(np.bincount(rows, minlength=shape[0]))]
    with warnings.catch_warnings():  # "sparse CSR support is in beta": used as documented
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(crow.astype(np.int64)),
            torch.from_numpy(cols[order].astype(np.int64)),
            values[torch.from_numpy(order)],
            size=shape,
        )


@dataclass(frozen=True)
class TagMix:
    """Artists x tags shares (each tagged artist's row sums to 1), its transpose, and which
    artists carry a tag (0/1): ``matrix @ tag_vectors`` is each artist's tag prior."""

    matrix: torch.Tensor
    transposed: torch.Tensor
    tagged: torch.Tensor


@dataclass(frozen=True)
class SideInformation:
    """Tag assignments (listener row or -1, artist row, tag row) and friendships (listener rows,
    each friendship listed both ways), numbered as the model's rows."""

    tag_users: np.ndarray  # -1: a listener who is not a row of this model (still tags artists)
    tag_items: np.ndarray
    tag_rows: np.ndarray
    n_tags: int
    friend_users: np.ndarray
    friend_rows: np.ndarray

    @classmethod
    def build(
        cls,
        tags: tuple[Any, Any, Any] | None = None,
        friends: tuple[Any, Any] | None = None,
        n_tags: int | None = None,
    ) -> SideInformation:
        """From ``tags`` = (listener rows, artist rows, tag rows) and ``friends`` = (listener rows,
        friend rows); either may be None."""
        t_users, t_items, t_rows = (
            (
                _int_rows(v, n)
                for v, n in zip(tags, ("tag users", "tag artists", "tag rows"), strict=True)
            )
            if tags is not None
            else (np.empty(0, np.int64),) * 3
        )
        f_users, f_rows = (
            (_int_rows(v, n) for v, n in zip(friends, ("friend users", "friends"), strict=True))
            if friends is not None
            else (np.empty(0, np.int64),) * 2
        )
        if not len(t_users) == len(t_items) == len(t_rows) or len(f_users) != len(f_rows):
            raise ValueError("side information: each table's columns must have one length")
        if (len(t_items) and t_items.min() < 0) or (len(t_rows) and t_rows.min() < 0):
            raise ValueError("side information: artist and tag rows must be >= 0")
        if len(f_users) and min(f_users.min(), f_rows.min()) < 0:
            raise ValueError("side information: friend rows must be >= 0")
        count = int(t_rows.max()) + 1 if len(t_rows) else 0
        n_tags = count if n_tags is None else int(n_tags)
        if n_tags < count:
            raise ValueError(f"side information: n_tags is {n_tags} but tag row {count - 1} occurs")
        return cls(t_users, t_items, t_rows, n_tags, f_users, f_rows)

    @property
    def has_tags(self) -> bool:
        """Whether any artist carries a tag."""
        return len(self.tag_items) > 0

    @property
    def has_friends(self) -> bool:
        """Whether any listener has a friend."""
        return len(self.friend_users) > 0

    def holding_out(self, users: Any, items: Any) -> SideInformation:
        """Without the tag assignments of these (listener, artist) pairs: what a fair fit sees."""
        users, items = _int_rows(users, "held-out users"), _int_rows(items, "held-out artists")
        if not len(users) or not self.has_tags:
            return self
        width = int(max(self.tag_items.max(), items.max())) + 1
        held = _pair_keys(users, items, width)
        keep = ~np.isin(_pair_keys(self.tag_users, self.tag_items, width), held)
        return SideInformation(
            self.tag_users[keep],
            self.tag_items[keep],
            self.tag_rows[keep],
            self.n_tags,
            self.friend_users,
            self.friend_rows,
        )

    def for_listeners(self, listeners: Any) -> SideInformation:
        """Renumbered for a model of these listeners only (sorted rows): the others' tags stay
        (with listener -1, as they still describe artists), friendships between them stay."""
        listeners = _int_rows(listeners, "listeners")
        tag_users = np.full(len(self.tag_users), -1, dtype=np.int64)
        if len(listeners):
            position = np.minimum(np.searchsorted(listeners, self.tag_users), len(listeners) - 1)
            found = listeners[position] == self.tag_users
            tag_users[found] = position[found]
        keep = np.isin(self.friend_users, listeners) & np.isin(self.friend_rows, listeners)
        return SideInformation(
            tag_users,
            self.tag_items,
            self.tag_rows,
            self.n_tags,
            np.searchsorted(listeners, self.friend_users[keep]),
            np.searchsorted(listeners, self.friend_rows[keep]),
        )

    def tag_pairs(self, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tag row, artist row, percent of the artist's assignments carrying the tag), one per
        distinct (tag, artist); artists outside the model's ``n_items`` rows are left out."""
        inside = self.tag_items < n_items
        tags, items = self.tag_rows[inside], self.tag_items[inside]
        keys, counts = np.unique(items * max(self.n_tags, 1) + tags, return_counts=True)
        items, tags = keys // max(self.n_tags, 1), keys % max(self.n_tags, 1)
        per_item = np.bincount(items, weights=counts, minlength=n_items)
        return tags, items, 100.0 * counts / per_item[items]

    def tag_mix(self, n_items: int, device: torch.device) -> TagMix:
        """Each artist's tags as shares of its assignments (``tag_pairs``' percent / 100): the
        matrix that mixes tag vectors into an artist's prior (``ImplicitConfig.tag_prior``)."""
        tags, items, percent = self.tag_pairs(n_items)
        shares = torch.from_numpy((percent / 100.0).astype(np.float32))
        n_tags = max(self.n_tags, 1)
        return TagMix(
            _csr(items, tags, shares, (n_items, n_tags)).to(device),
            _csr(tags, items, shares, (n_tags, n_items)).to(device),
            torch.from_numpy(np.bincount(items, minlength=n_items) > 0).float().to(device),
        )

    def friend_mean(self, n_users: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(the row-normalised friend matrix as sparse CSR: ``M @ x`` = each listener's friends'
        mean row, which listeners have a friend as 0/1 floats)."""
        users, friends = self.friend_users, self.friend_rows
        inside = (users < n_users) & (friends < n_users) & (users != friends)
        keys = np.unique(users[inside] * n_users + friends[inside])
        users, friends = keys // n_users, keys % n_users
        degree = np.bincount(users, minlength=n_users).astype(np.float32)
        values = torch.from_numpy((1.0 / degree[users]).astype(np.float32))
        matrix = _csr(users, friends, values, (n_users, n_users)).to(device)
        return matrix, torch.from_numpy((degree > 0).astype(np.float32)).to(device)

    def summary(self, n_items: int) -> dict[str, int]:
        """What a fit used: counts a saved model records in ``trained_with``."""
        tags, items, _ = self.tag_pairs(n_items)
        return {
            "tag_assignments": int((self.tag_items < n_items).sum()),
            "tag_artist_pairs": len(tags),
            "tags": len(np.unique(tags)),
            "tagged_artists": len(np.unique(items)),
            "friend_rows": len(self.friend_users),
        }
