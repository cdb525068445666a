"""Top-N recommendation and its evaluation: per-user holdout, P@k, R@k, NDCG@k, MAP@k, coverage.

Nothing here is sized users x artists: scores are made for a batch of rows at a time (as many as
a memory budget allows), the artists a user already played are masked from a sparse (CSR) matrix
of played pairs, and only the top ``n`` of each row is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import sparse

from music_recommender.pmf.model import PMF
from music_recommender.pmf.side import SideInformation
from music_recommender.pmf.similarity import all_nearest, block_rows, covers_all

# Scores of every artist for a batch of user indices, ``len(users) x n_items``: a fresh tensor
# each call, which the ranking functions mask in place.
Scorer = Callable[[np.ndarray], torch.Tensor]
# Candidates per row scored exactly after the bfloat16 pass (FactorScorer.top_n).
_RERANK = 40
# The same for similar artists: cosines of unit vectors lie in [-1, 1], where bfloat16's error
# is at most ~0.004, so few extra candidates suffice. Measured over 197,592 unit vectors (random,
# and rank 16 plus noise), 1,024 queries, top 11: recall against float32 1.0000 and 0.9999 with
# 5 extra, 1.0 with 10, and 10 extra instead of 40 takes 0.48 s instead of 0.55 s.
_SIMILAR_RERANK = 10
# Bytes per score cell while a batch is ranked: the float scores, topk's working copy, the mask.
_BYTES_PER_CELL = 12


@dataclass(frozen=True)
class Holdout:
    """Index arrays of a per-user split: ``train`` and ``test`` masks over the input rows."""

    train: np.ndarray
    test: np.ndarray


def _grouped_shuffle(users: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """``np.lexsort((draws, users))``: users grouped, in ``draws``' order inside each, from one
    stable (radix) sort of one int64 key, each draw's rank below the user (17 M rows: 3.6 s
    instead of 8 s)."""
    n = len(users)
    if not n or not np.issubdtype(users.dtype, np.integer):
        return np.lexsort((draws, users))
    low = int(users.min())
    if (int(users.max()) - low + 1) * n >= 2**63:
        return np.lexsort((draws, users))
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(draws)] = np.arange(n)
    return np.argsort((users.astype(np.int64) - low) * n + rank, kind="stable")


def per_user_holdout(users: np.ndarray, fraction: float, seed: int) -> Holdout:
    """Hold out ``fraction`` of each user's rows (rounded; users with one row keep it in train)."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1); got {fraction}")
    users = np.asarray(users)
    rng = np.random.default_rng(seed)
    order = _grouped_shuffle(users, rng.random(len(users)))
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts = np.diff(np.r_[starts, len(users)])
    position = np.arange(len(users)) - np.repeat(starts, counts)
    n_test = np.where(counts > 1, np.round(fraction * counts), 0).astype(int)
    is_test = np.zeros(len(users), dtype=bool)
    is_test[order] = position < np.repeat(n_test, counts)
    return Holdout(train=~is_test, test=is_test)


def pairs_matrix(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int
) -> sparse.csr_matrix:
    """Sparse ``n_users x n_items`` matrix with a 1 at every given pair (memory: the pairs only)."""
    users, items = np.asarray(users), np.asarray(items)
    if len(users) and (users.max() >= n_users or items.max() >= n_items):
        raise ValueError(
            f"pair indices beyond the table: user {users.max()} (of {n_users}), "
            f"artist {items.max()} (of {n_items})"
        )
    data = np.ones(len(users), dtype=np.int8)
    matrix = sparse.csr_matrix((data, (users, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix


def rows_per_batch(n_items: int, budget_mb: float) -> int:
    """How many rows of ``n_items`` scores fit the memory budget (at least one)."""
    if budget_mb <= 0:
        raise ValueError(f"memory budget must be > 0 MB; got {budget_mb}")
    return max(1, int(budget_mb * 2**20 // (_BYTES_PER_CELL * max(n_items, 1))))


@torch.no_grad()
def vector_scores(model: PMF, vectors: torch.Tensor) -> torch.Tensor:
    """Every artist's score for each user vector: ``vector . artist + artist bias``.

    The user bias and the global mean do not change a user's ranking, so they are left out.
    """
    items = model.item_factors.weight
    vectors = vectors.to(items)
    if model.biases:  # one fused kernel: bias + vectors @ items.T
        return torch.addmm(model.item_bias.weight[:, 0], vectors, items.T).cpu().float()
    return (vectors @ items.T).cpu().float()


class FactorScorer:
    """Scores of a trained model for batches of its users, with a fast exact top-N.

    Called, it returns float32 scores (a ``Scorer``). ``top_n`` first scores every artist in
    bfloat16 where the CPU has native support (measured 2.4x faster than float32 here), keeps the
    best ``n + _RERANK`` per row, then scores those exactly in float32: the same lists as the
    float32 path unless an artist's rounding error (about 0.4 % of a score) moves it past 40
    others, and the scores returned are exact.
    """

    def __init__(self, model: PMF) -> None:
        self.model = model
        self.fast = model.item_factors.weight.device.type == "cuda" or _bf16_supported()
        if self.fast:
            self.items_bf16 = model.item_factors.weight.detach().to(torch.bfloat16)
            self.bias_bf16 = item_bias(model).to(torch.bfloat16)

    def __call__(self, users: np.ndarray) -> torch.Tensor:
        return vector_scores(self.model, self._vectors(users))

    def _vectors(self, users: np.ndarray) -> torch.Tensor:
        return self.model.user_factors.weight[torch.tensor(users, dtype=torch.long)].detach()

    @torch.no_grad()
    def top_n(
        self, users: np.ndarray, exclude: sparse.csr_matrix | None, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(artist indices, exact scores) of each user's ``n`` best, never an excluded pair."""
        if not self.fast:
            return top_n(self(users), exclude, n, owned=True)
        items = self.model.item_factors.weight.detach()
        return _rerank(
            self._vectors(users), items, item_bias(self.model), self.items_bf16, self.bias_bf16,
            exclude, n,
        )  # fmt: skip


def _bf16_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def item_bias(model: PMF) -> torch.Tensor:
    """Each artist's bias (zeros for a model without biases): the constant term of its score."""
    weight = model.item_factors.weight
    if model.biases:
        return model.item_bias.weight.detach()[:, 0]
    return weight.new_zeros(len(weight))


_GROUP = 128  # columns per group of top_k_rows: one maximum per group read, then the best groups


def top_k_rows(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.topk(scores, k, dim=1)`` (values, indices), 1.6-4x faster on wide rows.

    Each row's maxima of groups of ``_GROUP`` columns are read in one pass, and only the ``k``
    groups with the highest maxima are searched: the ``k``-th best group maximum is at most the
    ``k``-th best score, so every score of the top ``k`` lies in those groups (exact, ties
    aside). Measured on 108 x 197,592 scores, one thread: k 11 in 24 s per 359 k rows against
    105 s for ``torch.topk``; k 60 in bfloat16, 54 s against 103 s.
    """
    rows, n = scores.shape
    if k * _GROUP * 4 > n:  # a narrow row: the groups would hold most of it
        return torch.topk(scores, k, dim=1)
    full = n - n % _GROUP
    groups = _best_groups(scores[:, :full].reshape(rows, -1, _GROUP), k)
    columns = (groups[:, :, None] * _GROUP + torch.arange(_GROUP, device=scores.device)).view(
        rows, -1
    )
    if full < n:  # the last, partial group is always searched
        tail = torch.arange(full, n, device=scores.device).expand(rows, -1)
        columns = torch.cat([columns, tail], 1)
    values, order = torch.topk(torch.gather(scores, 1, columns), k, dim=1)
    return values, torch.gather(columns, 1, order)


def _best_groups(view: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's ``k`` groups (of ``rows x groups x _GROUP`` scores) with the highest maxima.

    A bfloat16's bits read as an int16 order the non-negative values as the floats do and put
    every negative one below them, and int16 maxima take half the time of bfloat16 ones here
    (198 k x 512 scores: 28 ms, 51 ms). So where a row's ``k``-th best int16 maximum is >= 0,
    its ``k`` best groups are the floats' own; the other rows are redone in bfloat16.
    """
    if view.dtype != torch.bfloat16:
        return torch.topk(view.amax(2), k, dim=1)[1]
    best, groups = torch.topk(view.view(torch.int16).amax(2), k, dim=1)
    redo = (best[:, -1] < 0).nonzero()[:, 0]
    if len(redo):
        groups[redo] = torch.topk(view[redo].amax(2), k, dim=1)[1]
    return groups


def _rerank(
    queries: torch.Tensor,
    table: torch.Tensor,
    bias: torch.Tensor,
    table_bf16: torch.Tensor,
    bias_bf16: torch.Tensor,
    exclude: sparse.csr_matrix | None,
    n: int,
    extra: int = _RERANK,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` of ``bias + queries @ table.T`` per row: bfloat16 candidates (``n + extra``),
    float32 scores."""
    approx = torch.addmm(bias_bf16, queries.to(torch.bfloat16), table_bf16.T)
    if exclude is not None:
        _mask(approx, exclude)
    width = min(n + extra, table.shape[0])
    candidate_scores, candidates = top_k_rows(approx, width)
    index, values = _exact_top(queries, table, bias, candidates, candidate_scores, n)
    return index.cpu().numpy(), values.cpu().numpy()


def _exact_top(
    queries: torch.Tensor,
    table: torch.Tensor,
    bias: torch.Tensor,
    candidates: torch.Tensor,
    candidate_scores: torch.Tensor,
    n: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, scores) of each row's ``n`` best candidates by their float32 scores ``bias +
    query . vector``; a candidate scored ``-inf`` in the approximate pass (excluded) stays so."""
    exact = torch.bmm(table[candidates], queries.to(table)[:, :, None])[:, :, 0] + bias[candidates]
    exact = exact.float().masked_fill_(torch.isinf(candidate_scores), -torch.inf)
    values, order = torch.topk(exact, min(n, table.shape[0]), dim=1)
    return torch.gather(candidates, 1, order), values


def factor_scorer(model: PMF) -> FactorScorer:
    """Scores of a trained model for batches of its users."""
    return FactorScorer(model)


class PopularityScorer:
    """The popularity chart: every user's score for an artist is its listener count.

    Called, it returns the scores (a ``Scorer``); ``top_n`` walks the chart instead of scoring
    every artist: each row's best ``n`` unplayed artists lie in the chart's first ``n`` + its
    played count (20 k listeners x 198 k artists: no 4e9-cell score matrix to fill and search).
    Equal counts rank the lower artist index first.
    """

    def __init__(self, items: np.ndarray, n_items: int) -> None:
        counts = np.bincount(np.asarray(items, dtype=np.int64), minlength=n_items)
        self.n_items = n_items
        self.counts = torch.as_tensor(counts, dtype=torch.float32)
        self.chart = np.argsort(-counts, kind="stable")
        self.place = np.empty(n_items, dtype=np.int64)
        self.place[self.chart] = np.arange(n_items)

    def __call__(self, users: np.ndarray) -> torch.Tensor:
        return self.counts.expand(len(users), self.n_items).clone()

    def top_n(
        self, users: np.ndarray, exclude: sparse.csr_matrix | None, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(artist indices, counts) of each user's ``n`` most played unplayed artists; rows with
        fewer left are padded with played ones scored ``-inf`` (as ``top_n``)."""
        rows, n = len(users), min(n, self.n_items)
        played = np.zeros(rows, dtype=np.int64) if exclude is None else np.diff(exclude.indptr)
        width = min(self.n_items, n + int(played.max(initial=0)))
        blocked = np.zeros((rows, width), dtype=bool)
        if exclude is not None:
            place = self.place[exclude.indices]
            row = np.repeat(np.arange(rows), played)
            near = place < width
            blocked[row[near], place[near]] = True
        order = np.argsort(blocked, axis=1, kind="stable")[:, :n]  # unplayed first, chart order
        index = self.chart[order]
        values = self.counts.numpy()[index]
        values[np.take_along_axis(blocked, order, axis=1)] = -np.inf
        return index, values


def popularity_scorer(items: np.ndarray, n_items: int) -> PopularityScorer:
    """The popularity chart as scores: every user gets each artist's listener count."""
    return PopularityScorer(items, n_items)


def _mask(scores: torch.Tensor, exclude: sparse.csr_matrix) -> None:
    """Set the excluded cells of a batch of scores to -inf, in place."""
    rows = np.repeat(np.arange(exclude.shape[0]), np.diff(exclude.indptr))
    scores[torch.from_numpy(rows), torch.from_numpy(exclude.indices.astype(np.int64))] = -torch.inf


def top_n(
    scores: torch.Tensor, exclude: sparse.csr_matrix | None, n: int, owned: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(artist indices, scores) of the ``n`` best per row of one batch, never an excluded pair.

    Rows with fewer than ``n`` artists left are padded with excluded ones scored ``-inf``.
    ``owned``: ``scores`` is a scratch batch the caller gives up, masked in place (no copy).
    """
    scores = scores.detach().float()
    if not owned:
        scores = scores.clone()
    if exclude is not None:
        _mask(scores, exclude)
    n = min(n, scores.shape[1])
    values, index = top_k_rows(scores, n)
    return index.numpy(), values.numpy()


def _batch_top_n(
    scorer: Scorer, batch: np.ndarray, exclude: sparse.csr_matrix | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(scorer, FactorScorer | PopularityScorer):
        return scorer.top_n(batch, exclude, n)
    return top_n(scorer(batch), exclude, n, owned=True)


def recommend(
    scorer: Scorer,
    users: np.ndarray,
    n: int,
    exclude: sparse.csr_matrix | None,
    budget_mb: float,
    n_items: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` (artist indices, scores) for each of ``users``, batch by batch under the budget.

    ``exclude`` holds one row per entry of ``users``, in that order (e.g. each one's played
    pairs); its artists never come back.
    """
    users = np.asarray(users, dtype=np.int64)
    size = rows_per_batch(n_items, budget_mb)
    width = min(n, n_items)
    index = np.empty((len(users), width), dtype=np.int64)
    values = np.empty((len(users), width), dtype=np.float32)
    for start in range(0, len(users), size):
        batch = users[start : start + size]
        skip = exclude[start : start + size] if exclude is not None else None
        index[start : start + size], values[start : start + size] = _batch_top_n(
            scorer, batch, skip, n
        )
    return index, values


SimilarityTables = tuple[torch.Tensor, torch.Tensor | None]  # unit vectors, and in bfloat16


@torch.no_grad()
def similarity_tables(model: PMF) -> SimilarityTables:
    """The artists' unit vectors (and a bfloat16 copy where the CPU has it): what every
    similar-artists query reads; compute once per fitted model."""
    vectors = torch.nn.functional.normalize(model.item_factors.weight.detach().cpu().float(), dim=1)
    return vectors, vectors.to(torch.bfloat16) if _bf16_supported() else None


@torch.no_grad()
def similar_items(
    model: PMF,
    items: np.ndarray,
    n: int,
    budget_mb: float,
    tables: SimilarityTables | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine similarities) of each given artist's ``n`` nearest other artists.

    Asked for every artist, the symmetric all-pairs pass answers (``similarity.all_nearest``:
    each cosine made once, not twice); a few artists are scored row by row.
    """
    vectors, vectors_bf16 = tables if tables is not None else similarity_tables(model)
    items = np.asarray(items, dtype=np.int64)
    if n >= 1 and covers_all(items, model.n_items):
        index, sims = _similar_every(vectors, vectors_bf16, n, budget_mb)
        return index[items], sims[items]
    return _similar_rows(vectors, vectors_bf16, items, n, budget_mb)


def _similar_rows(
    vectors: torch.Tensor,
    vectors_bf16: torch.Tensor | None,
    items: np.ndarray,
    n: int,
    budget_mb: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The given artists' ``n`` nearest others, a batch of full rows of cosines at a time."""
    n_items = len(vectors)
    own = sparse.csr_matrix(
        (np.ones(len(items), dtype=np.int8), (np.arange(len(items)), items)),
        shape=(len(items), n_items),
    )
    size = rows_per_batch(n_items, budget_mb)
    n = min(n, n_items - 1)
    index = np.empty((len(items), n), dtype=np.int64)
    sims = np.empty((len(items), n), dtype=np.float32)
    fast = vectors_bf16 is not None
    zero = vectors.new_zeros(len(vectors))
    for start in range(0, len(items), size):
        batch = torch.tensor(items[start : start + size])
        skip = own[start : start + size]
        if fast:  # bfloat16 candidates, exact cosines (FactorScorer.top_n)
            found = _rerank(
                vectors[batch], vectors, zero, vectors_bf16, zero.to(torch.bfloat16), skip, n,
                _SIMILAR_RERANK,
            )  # fmt: skip
        else:
            found = top_n(vectors[batch] @ vectors.T, skip, n, owned=True)
        index[start : start + size], sims[start : start + size] = found
    return index, sims


def _similar_every(
    vectors: torch.Tensor, vectors_bf16: torch.Tensor | None, n: int, budget_mb: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every artist's ``n`` nearest others from one pass over the upper triangle of the cosine
    matrix: in bfloat16 where the CPU has it (``n`` + ``_SIMILAR_RERANK`` candidates, then
    float32 cosines, as ``_rerank``), else in float32 directly."""
    n = min(n, len(vectors) - 1)
    extra = _SIMILAR_RERANK if vectors_bf16 is not None else 0
    width = min(n + extra, len(vectors) - 1)
    size = rows_per_batch(width * vectors.shape[1], budget_mb)  # (a budget <= 0 is refused)
    table = vectors if vectors_bf16 is None else vectors_bf16
    values, index = all_nearest(table, width, block_rows(budget_mb, _BYTES_PER_CELL, width))
    if vectors_bf16 is None:
        return index.numpy(), values.numpy()
    zero = vectors.new_zeros(len(vectors))
    parts = [
        _exact_top(
            vectors[start : start + size], vectors, zero,
            index[start : start + size], values[start : start + size], n,
        )
        for start in range(0, len(vectors), size)
    ]  # fmt: skip
    return torch.cat([p[0] for p in parts]).numpy(), torch.cat([p[1] for p in parts]).numpy()


def per_user_metrics(
    recommended: np.ndarray, relevant: sparse.csr_matrix, k: int
) -> dict[str, np.ndarray]:
    """P@k, R@k, NDCG@k and AP@k of each row that has relevant items (``rows`` says which).

    Row ``r`` of ``recommended`` is judged against row ``r`` of ``relevant``. P@k = hits / k;
    R@k = hits / |relevant|; NDCG@k with binary gains and the ideal ranking of min(k, |relevant|)
    hits; AP@k averages precision at each hit over min(k, |relevant|).
    """
    recommended = np.asarray(recommended)[:, :k]
    n_relevant = np.diff(relevant.indptr)
    rows = np.repeat(np.arange(len(recommended)), recommended.shape[1])
    hits = np.asarray(relevant[rows, recommended.ravel()]).reshape(recommended.shape) > 0
    keep = n_relevant > 0
    hits, n_relevant = hits[keep].astype(float), n_relevant[keep]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.minimum(k, n_relevant)
    ideal_dcg = np.cumsum(discounts)[ideal - 1] if len(ideal) else ideal
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    return {
        "rows": np.flatnonzero(keep),
        f"precision@{k}": hits.sum(1) / k,
        f"recall@{k}": hits.sum(1) / n_relevant,
        f"ndcg@{k}": (hits * discounts[: hits.shape[1]]).sum(1) / ideal_dcg,
        f"map@{k}": (precision_at * hits).sum(1) / ideal,
    }


def ranking_metrics(
    recommended: np.ndarray, relevant: sparse.csr_matrix, k: int
) -> dict[str, float]:
    """Sums of P@k, R@k, NDCG@k, MAP@k over rows with relevant items, and how many such rows."""
    per_user = per_user_metrics(recommended, relevant, k)
    rows = per_user.pop("rows")
    return {name: float(values.sum()) for name, values in per_user.items()} | {"users": len(rows)}


@dataclass(frozen=True)
class HoldoutTask:
    """A per-user holdout ready to score: the training pairs, what each user must find, what to skip."""

    users: np.ndarray
    items: np.ndarray
    plays: np.ndarray
    held_out: tuple[np.ndarray, np.ndarray, np.ndarray]  # users, items, plays
    n_users: int
    n_items: int
    # Tags and friends a model may fit beside the pairs: every tag of a held-out pair removed.
    side: SideInformation | None = None

    @classmethod
    def split(
        cls,
        users: np.ndarray,
        items: np.ndarray,
        plays: np.ndarray,
        fraction: float,
        seed: int,
        n_users: int,
        n_items: int,
        side: SideInformation | None = None,
    ) -> HoldoutTask:
        """Hold out ``fraction`` of each user's pairs; the rest is what a model may train on.

        ``side``: its tag assignments of the held-out pairs are dropped (a listener's tag on an
        artist reveals the pair), so a model fitted on ``task.side`` never sees them.
        """
        users, items, plays = np.asarray(users), np.asarray(items), np.asarray(plays)
        split = per_user_holdout(users, fraction, seed)
        if side is not None:
            side = side.holding_out(users[split.test], items[split.test])
        return cls(
            users=users[split.train],
            items=items[split.train],
            plays=plays[split.train],
            held_out=(users[split.test], items[split.test], plays[split.test]),
            n_users=n_users,
            n_items=n_items,
            side=side,
        )

    @functools.cached_property
    def seen(self) -> sparse.csr_matrix:
        """The training pairs, a row per listener: what rankings leave out (built once)."""
        return pairs_matrix(self.users, self.items, self.n_users, self.n_items)

    @functools.cached_property
    def relevant_pairs(self) -> sparse.csr_matrix:
        """The held-out pairs, a row per listener (built once)."""
        return pairs_matrix(*self.held_out[:2], self.n_users, self.n_items)

    def relevant(self) -> sparse.csr_matrix:
        """The held-out pairs, a row per listener: what each must find."""
        return self.relevant_pairs

    def rank(
        self, scorer: Scorer, k: int, budget_mb: float, users: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(listener rows, each one's top ``k`` artist rows), their training pairs excluded."""
        seen = self.seen
        size = rows_per_batch(self.n_items, budget_mb)
        everyone = np.arange(self.n_users) if users is None else np.asarray(users, dtype=np.int64)
        lists = np.empty((len(everyone), min(k, self.n_items)), dtype=np.int64)
        for start in range(0, len(everyone), size):
            batch = everyone[start : start + size]
            lists[start : start + size] = _batch_top_n(scorer, batch, seen[batch], k)[0]
        return everyone, lists

    def evaluate(
        self, scorer: Scorer, k: int, budget_mb: float, users: np.ndarray | None = None
    ) -> dict[str, float]:
        """Mean ranking metrics of each user's top ``k`` (training pairs excluded) and coverage.

        ``users``: whom to rank for (default: everyone). Coverage = distinct artists in their
        top ``k`` lists / all artists.
        """
        everyone, lists = self.rank(scorer, k, budget_mb, users)
        return summary(per_user_metrics(lists, self.relevant()[everyone], k), lists, self.n_items)


def summary(per_user: dict[str, np.ndarray], lists: np.ndarray, n_items: int) -> dict[str, Any]:
    """Means of the per-listener metrics over listeners with held-out pairs, and coverage."""
    users = len(per_user["rows"])
    means = {k: float(v.sum()) / max(users, 1) for k, v in per_user.items() if k != "rows"}
    coverage = len(np.unique(lists[lists >= 0])) / n_items
    return {**means, "coverage": float(coverage), "users": users}
