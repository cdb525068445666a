"""Top-N recommendation and its evaluation: per-user holdout, P@k, R@k, NDCG@k, MAP@k, coverage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from music_recommender.pmf.model import PMF


@dataclass(frozen=True)
class Holdout:
    """Index arrays of a per-user split: ``train`` and ``test`` masks over the input rows."""

    train: np.ndarray
    test: np.ndarray


def per_user_holdout(users: np.ndarray, fraction: float, seed: int = 0) -> Holdout:
    """Hold out ``fraction`` of each user's rows (rounded; users with one row keep it in train)."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1); got {fraction}")
    users = np.asarray(users)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(users)), users))  # users grouped, random order inside
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts = np.diff(np.r_[starts, len(users)])
    position = np.arange(len(users)) - np.repeat(starts, counts)
    n_test = np.where(counts > 1, np.round(fraction * counts), 0).astype(int)
    is_test = np.zeros(len(users), dtype=bool)
    is_test[order] = position < np.repeat(n_test, counts)
    return Holdout(train=~is_test, test=is_test)


def seen_matrix(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """Boolean ``n_users x n_items`` matrix of the pairs a user already played."""
    seen = torch.zeros(n_users, n_items, dtype=torch.bool)
    seen[torch.tensor(np.asarray(users)), torch.tensor(np.asarray(items))] = True
    return seen


@torch.no_grad()
def model_scores(model: PMF, users: np.ndarray | None = None) -> torch.Tensor:
    """Scores of every artist for the given users (all users by default), ``users x artists``."""
    u = (
        model.user_factors.weight
        if users is None
        else model.user_factors.weight[torch.as_tensor(users)]
    )
    scores = u @ model.item_factors.weight.T
    if model.biases:
        scores = scores + model.item_bias.weight[:, 0]  # the user bias does not change a ranking
    return scores.cpu()


def top_n(
    scores: torch.Tensor, exclude: torch.Tensor | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(artist indices, scores) of the ``n`` best per row, never an ``exclude``d pair."""
    scores = scores.detach().clone().float()
    if exclude is not None:
        scores[exclude] = -torch.inf
    n = min(n, scores.shape[1])
    values, index = torch.topk(scores, n, dim=1)
    return index.numpy(), values.numpy()


def ranking_metrics(
    recommended: np.ndarray, relevant: list[set[int]] | list[np.ndarray], n_items: int, k: int
) -> dict[str, float]:
    """Mean P@k, R@k, NDCG@k, MAP@k over users with relevant items, and catalogue coverage.

    P@k = hits / k; R@k = hits / |relevant|; NDCG@k with binary gains and the ideal ranking of
    min(k, |relevant|) hits; MAP@k averages precision at each hit over min(k, |relevant|);
    coverage = distinct artists recommended to anyone / all artists.
    """
    recommended = np.asarray(recommended)[:, :k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    sums = np.zeros(4)
    users = 0
    for recs, items in zip(recommended, relevant, strict=True):
        rel = set(np.asarray(list(items)).tolist())
        if not rel:
            continue
        users += 1
        hits = np.array([item in rel for item in recs[:k]], dtype=float)
        ideal = min(k, len(rel))
        sums[0] += hits.sum() / k
        sums[1] += hits.sum() / len(rel)
        sums[2] += (hits * discounts[: len(hits)]).sum() / discounts[:ideal].sum()
        precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        sums[3] += (precision_at * hits).sum() / ideal
    means = sums / max(users, 1)
    return {
        f"precision@{k}": float(means[0]),
        f"recall@{k}": float(means[1]),
        f"ndcg@{k}": float(means[2]),
        f"map@{k}": float(means[3]),
        "coverage": float(len(np.unique(recommended)) / n_items) if len(recommended) else 0.0,
        "users": users,
    }


def relevant_sets(users: np.ndarray, items: np.ndarray, n_users: int) -> list[np.ndarray]:
    """Per user (0..n_users-1), the items of the given rows."""
    users, items = np.asarray(users), np.asarray(items)
    order = np.argsort(users, kind="stable")
    bounds = np.searchsorted(users[order], np.arange(n_users + 1))
    return [items[order[bounds[u] : bounds[u + 1]]] for u in range(n_users)]


def popularity_scores(items: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """The popularity chart as scores: every user gets each artist's listener count."""
    counts = torch.as_tensor(np.bincount(np.asarray(items), minlength=n_items), dtype=torch.float32)
    return counts.expand(n_users, n_items)


@torch.no_grad()
def nearest_items(model: PMF, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine similarities) of each artist's ``n`` nearest other artists."""
    vectors = torch.nn.functional.normalize(model.item_factors.weight.detach().cpu().float(), dim=1)
    sims = vectors @ vectors.T
    sims.fill_diagonal_(-torch.inf)
    n = min(n, model.n_items - 1)
    values, index = torch.topk(sims, n, dim=1)
    return index.numpy(), values.numpy()


@dataclass(frozen=True)
class HoldoutTask:
    """A per-user holdout ready to score: the training pairs, what each user must find, what to skip."""

    users: np.ndarray
    items: np.ndarray
    plays: np.ndarray
    held_out: tuple[np.ndarray, np.ndarray, np.ndarray]  # users, items, plays
    relevant: list[np.ndarray]
    seen: torch.Tensor
    n_items: int

    @classmethod
    def split(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        plays: np.ndarray,
        fraction: float,
        seed: int,
        n_users: int | None = None,
        n_items: int | None = None,
    ) -> HoldoutTask:
        """Hold out ``fraction`` of each user's pairs; the rest is what a model may train on."""
        users, items, plays = np.asarray(users), np.asarray(items), np.asarray(plays)
        n_users = int(users.max()) + 1 if n_users is None else n_users
        n_items = int(items.max()) + 1 if n_items is None else n_items
        split = per_user_holdout(users, fraction, seed)
        train_u, train_i = users[split.train], items[split.train]
        return cls(
            users=train_u,
            items=train_i,
            plays=plays[split.train],
            held_out=(users[split.test], items[split.test], plays[split.test]),
            relevant=relevant_sets(users[split.test], items[split.test], n_users),
            seen=seen_matrix(train_u, train_i, n_users, n_items),
            n_items=n_items,
        )

    def evaluate(self, scores: torch.Tensor, k: int = 10) -> dict[str, float]:
        """Ranking metrics of the top-``k`` lists that ``scores`` give, training pairs excluded."""
        return ranking_metrics(top_n(scores, self.seen, k)[0], self.relevant, self.n_items, k)
