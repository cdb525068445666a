"""Top-N and similar artists through an approximate nearest-neighbour index, for big catalogues.

Exact scoring reads every artist for every listener: 197 k artists x 359 k listeners is most of
the scale run's top-N time. ``IndexedRecommender`` wraps a fitted recommender (as implicit's
``ann.faiss`` wraps a model) with two faiss HNSW graphs: inner product over the artists'
``[vector | bias]`` for recommendations (a listener's query is ``[vector | 1]``, so the bias is in
the inner product), and over unit vectors for similar artists. Each query asks the graph for its
``n`` plus the listener's played artists, drops the played ones exactly, and scores the
survivors exactly; a listener left with fewer than ``n`` (a long history) is scored exactly.
Evaluation never goes through the index: holdout metrics stay exact.

faiss (``faiss-cpu``) is imported only when an index is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from music_recommender.pmf.errors import SettingError

_QUERY_BYTES = 64 * 2**20  # candidate vectors gathered at once to score a group of listeners


@dataclass(frozen=True)
class IndexParams:
    """When and how to index (``training.recommending.index``)."""

    min_artists: int = 50_000  # catalogues smaller than this are scored exactly
    neighbours: int = 16  # HNSW's M: graph degree (memory ~ 2 x 4 bytes x M per artist)
    build_depth: int = 64  # efConstruction: candidates kept while building
    search_depth: int = 64  # efSearch: candidates kept while searching (recall against speed)
    max_extra: int = 2_048  # at most this many played artists asked for beyond n, then exact
    # Similar artists through a graph over unit vectors too; off: scored exactly. On the scale
    # run's fitted vectors a graph found 0.38-0.65 of the exact lists (M 16-32, efSearch 64-256).
    similar: bool = False
    # Listeners and artists (seeded samples) whose lists are also scored exactly after a run,
    # to report the index's recall against exact scoring (index_quality.json); 0 = none.
    check_sample: int = 1_000
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.similar, bool):
            raise SettingError(
                f"training.recommending.index.similar must be true or false; got {self.similar!r}"
            )
        for name in ("check_sample", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SettingError(
                    f"training.recommending.index.{name} must be an integer >= 0; got {value!r}"
                )
        for name in ("min_artists", "neighbours", "build_depth", "search_depth", "max_extra"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingError(
                    f"training.recommending.index.{name} must be an integer >= 1; got {value!r}"
                )


def _faiss() -> Any:
    try:
        import faiss  # noqa: PLC0415
    except ImportError as error:  # an install without it
        raise SettingError(
            "an index over the artists needs faiss: pip install faiss-cpu (or set "
            "training.recommending.index.min_artists above the catalogue's size)"
        ) from error
    return faiss


class IndexedRecommender:
    """A fitted recommender whose top-N and similar artists come from faiss HNSW indexes."""

    def __init__(self, recommender: Any, params: IndexParams | None = None) -> None:
        self.recommender, self.params = recommender, params or IndexParams()
        faiss = _faiss()
        import torch  # noqa: PLC0415

        faiss.omp_set_num_threads(torch.get_num_threads())  # compute.torch_threads, as torch
        model = recommender.fitted
        items = model.item_factors.weight.detach().cpu().float().numpy()
        bias = _item_bias(model)
        self._items = np.ascontiguousarray(np.hstack([items, bias[:, None]]), dtype=np.float32)
        self._users = model.user_factors.weight.detach().cpu().float().numpy()
        self._scores = _graph(faiss, self._items, self.params, faiss.METRIC_INNER_PRODUCT)
        self._similar = None
        if self.params.similar:
            unit = items / np.maximum(np.linalg.norm(items, axis=1, keepdims=True), 1e-12)
            self._unit = np.ascontiguousarray(unit, dtype=np.float32)
            self._similar = _graph(faiss, self._unit, self.params, faiss.METRIC_INNER_PRODUCT)

    @property
    def n_items(self) -> int:
        """Artist rows of the model."""
        return self.recommender.n_items

    def recommend(
        self, users: Any, n: int, user_items: sparse.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each listener's ``n`` best unplayed artists (exact scores of the graph's candidates).

        Listeners are searched in groups by history length (powers of two), each group asking
        for ``n`` + its longest history: a graph search costs with the candidates asked for, and
        one long history must not make every listener's search long.
        """
        users = np.asarray(users, dtype=np.int64)
        played = (
            sparse.csr_matrix(user_items)
            if user_items is not None
            else self.recommender.user_items[users]
        )
        counts = np.diff(played.indptr)
        index = np.full((len(users), n), -1, dtype=np.int64)
        scores = np.full((len(users), n), -np.inf, dtype=np.float32)
        bucket = np.where(counts > 0, 2 ** np.ceil(np.log2(np.maximum(counts, 1))), 0)
        exact = [np.flatnonzero(counts > self.params.max_extra)]
        for size in np.unique(bucket[counts <= self.params.max_extra]):
            rows = np.flatnonzero((bucket == size) & (counts <= self.params.max_extra))
            step = max(1, _QUERY_BYTES // (4 * self._items.shape[1] * (n + int(size))))
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                short = self._search(
                    users[chunk], played[chunk], n, int(size), index, scores, chunk
                )
                exact.append(chunk[short])
        left = np.concatenate(exact)
        if len(left):  # a long history ate the candidates: score those listeners exactly
            got, values = self.recommender.recommend(users[left], n, user_items=played[left])
            index[left], scores[left] = got, values
        return index, scores

    def _search(
        self,
        users: np.ndarray,
        played: sparse.csr_matrix,
        n: int,
        extra: int,
        index: np.ndarray,
        scores: np.ndarray,
        rows: np.ndarray,
    ) -> np.ndarray:
        """Search one group, drop played artists, score the rest exactly into ``index`` and
        ``scores`` at ``rows``; returns which of them kept fewer than ``n`` candidates."""
        k = min(n + extra, self.n_items)
        queries = np.hstack([self._users[users], np.ones((len(users), 1), dtype=np.float32)])
        _, found = self._scores.search(np.ascontiguousarray(queries), k)
        # Played artists out, by one sorted lookup of (row, artist) keys for the whole group.
        width = np.int64(self.n_items)
        mine = np.repeat(np.arange(len(users)), np.diff(played.indptr)) * width + played.indices
        keys = np.arange(len(users))[:, None] * width + found
        dropped = (found < 0) | np.isin(keys, mine)
        values = np.einsum("rkd,rd->rk", self._items[np.maximum(found, 0)], queries)
        values[dropped] = -np.inf
        top = np.argsort(-values, axis=1, kind="stable")[:, :n]
        index[rows] = np.take_along_axis(found, top, axis=1)
        scores[rows] = np.take_along_axis(values, top, axis=1)
        kept = (~dropped).sum(axis=1)
        return (kept < n) & (kept < self.n_items - np.diff(played.indptr))

    def similar_items(self, items: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Each artist's ``n`` nearest other artists by cosine (exact cosines of the candidates;
        scored exactly without the similar-artists graph, ``index.similar``)."""
        items = np.asarray(items, dtype=np.int64)
        if self._similar is None:
            return self.recommender.similar_items(items, n)
        k = min(n + 1, self.n_items)
        sims, found = self._similar.search(self._unit[items], k)
        index = np.empty((len(items), n), dtype=np.int64)
        values = np.empty((len(items), n), dtype=np.float32)
        for row, item in enumerate(items):
            keep = found[row] >= 0
            keep &= found[row] != item
            got, got_sims = found[row][keep][:n], sims[row][keep][:n]
            if len(got) < n:  # the graph found too few: exact for this artist
                got, got_sims = (a[0] for a in self.recommender.similar_items([item], n))
            index[row], values[row] = got, got_sims
        return index, values


def _graph(faiss: Any, vectors: np.ndarray, params: IndexParams, metric: int) -> Any:
    index = faiss.IndexHNSWFlat(vectors.shape[1], params.neighbours, metric)
    index.hnsw.efConstruction = params.build_depth
    index.hnsw.efSearch = params.search_depth
    index.add(vectors)
    return index


def _item_bias(model: Any) -> np.ndarray:
    if getattr(model, "biases", False):
        return model.item_bias.weight.detach().cpu().float().numpy()[:, 0]
    return np.zeros(model.n_items, dtype=np.float32)


def indexed(recommender: Any, params: IndexParams) -> Any:
    """The recommender itself for a small catalogue, an ``IndexedRecommender`` for a big one."""
    if recommender.n_items < params.min_artists:
        return recommender
    return IndexedRecommender(recommender, params)


def recall_against_exact(
    retriever: IndexedRecommender, played: sparse.csr_matrix, n: int
) -> dict[str, Any]:
    """Recall@n of the index's lists against exact scoring, for seeded samples of listeners
    (their played artists excluded) and of artists (similar artists): what the index costs."""
    params, exact = retriever.params, retriever.recommender
    rng = np.random.default_rng(params.seed)
    users = np.sort(rng.choice(exact.n_users, min(params.check_sample, exact.n_users), False))
    items = np.sort(rng.choice(exact.n_items, min(params.check_sample, exact.n_items), False))

    def recall(found: np.ndarray, truth: np.ndarray) -> float:
        hits = [
            len(set(a[a >= 0]) & set(b[b >= 0])) / max(int((b >= 0).sum()), 1)
            for a, b in zip(found, truth, strict=True)
        ]
        return float(np.mean(hits)) if hits else float("nan")

    by_index, _ = retriever.recommend(users, n, played[users])
    by_scores, _ = exact.recommend(users, n, user_items=played[users])
    if params.similar:
        similar, _ = retriever.similar_items(items, n)
        similar_exact, _ = exact.similar_items(items, n)
        similar_recall = recall(similar, similar_exact)
    else:
        similar_recall = 1.0  # scored exactly
    return {
        "indexed": True,
        f"recall@{n}": recall(by_index, by_scores),
        f"similar_recall@{n}": similar_recall,
        "similar_indexed": params.similar,
        "listeners_checked": len(users),
        "artists_checked": len(items),
        "search_depth": params.search_depth,
        "neighbours": params.neighbours,
    }
