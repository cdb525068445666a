"""Cold start: how well an artist nobody has played yet finds its listeners from its tags alone.

A seeded share of the tagged artists is held out entirely: every play of theirs leaves the fit,
and so does every tag their own listeners gave them (a listener's tag reveals the pair), so only
what other people called them is left. The implicit model with tags then gives each such artist
its row from those tags (the fit's own artist update, which ``ImplicitRecommender.
vectors_from_tags`` repeats for artists below the play-count filter), and ranks every listener
for it: recall@k and NDCG@k of the artist's true listeners, beside a tag-profile baseline (a
listener's share of played artists carrying each tag, dotted with the artist's tags), the most
active listeners and random.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import sparse

from music_recommender.pipelines.ranking_holdout import RecommendParams, side_information
from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.ranking import (
    pairs_matrix,
    per_user_metrics,
    rows_per_batch,
    summary,
    top_k_rows,
)
from music_recommender.pmf.recommender import ImplicitRecommender
from music_recommender.pmf.side import SideInformation
from music_recommender.pmf.solver import ImplicitConfig
from music_recommender.top_n import artist_tags, top_n_table

logger = logging.getLogger(__name__)
KEY = "training.recommending.cold_start"


@dataclass(frozen=True)
class ColdStartParams:
    """The cold-start check (``training.recommending.cold_start``)."""

    share: float  # of the tagged artists held out entirely (0 = no check)
    k: int  # listeners ranked per held-out artist
    seed: int

    def __post_init__(self) -> None:
        check_field_types(self, KEY)
        if not 0 <= self.share < 1:
            raise ValueError(f"{KEY}.share must be in [0, 1); got {self.share!r}")
        if self.k < 1:
            raise ValueError(f"{KEY}.k must be >= 1; got {self.k!r}")


def _mean(lists: np.ndarray, relevant: sparse.csr_matrix, k: int) -> dict[str, float]:
    means = summary(per_user_metrics(lists, relevant, k), lists, relevant.shape[1])
    return {name: means[name] for name in (f"recall@{k}", f"ndcg@{k}")}


def _top(scores: torch.Tensor, k: int) -> np.ndarray:
    return top_k_rows(scores, min(k, scores.shape[1]))[1].numpy()


def _tag_profile_scores(
    fit: pd.DataFrame, shares: sparse.csr_matrix, held: np.ndarray, n_users: int
) -> torch.Tensor:
    """The baseline: each listener's share of played artists carrying each tag, dotted with the
    held-out artist's own tag shares (no model)."""
    played = pairs_matrix(fit["user_index"], fit["artist_index"], n_users, shares.shape[0])
    profile = played.astype(np.float64) @ shares
    counts = np.maximum(np.asarray(played.sum(axis=1)).ravel(), 1)
    profile = sparse.diags(1.0 / counts) @ profile
    return torch.as_tensor((shares[held] @ profile.T).toarray(), dtype=torch.float32)


def _scorers(
    rec: ImplicitRecommender,
    fit: pd.DataFrame,
    side: SideInformation,
    held: np.ndarray,
    seed: int,
) -> dict[str, torch.Tensor]:
    """Each way of scoring every listener for each held-out artist (rows: ``held``)."""
    model, n_users = rec.fitted, rec.n_users
    with torch.no_grad():
        ours = model.item_factors.weight[held] @ model.user_factors.weight.T
        ours += model.user_bias.weight[:, 0][None, :]
    tags, items, percent = side.tag_pairs(rec.n_items)
    shares = sparse.csr_matrix((percent / 100.0, (items, tags)), shape=(rec.n_items, side.n_tags))
    activity = np.bincount(fit["user_index"], minlength=n_users)
    generator = torch.Generator().manual_seed(seed)
    return {
        "implicit": ours.cpu(),
        "tag_profile": _tag_profile_scores(fit, shares, held, n_users),
        "active_listeners": torch.as_tensor(activity, dtype=torch.float32).expand(len(held), -1),
        "random": torch.rand(len(held), n_users, generator=generator),
    }


def cold_start_quality(
    interactions: pd.DataFrame,
    tag_input: pd.DataFrame,
    friend_input: pd.DataFrame,
    id_index: dict[str, Any],
    settings: dict[str, Any],
    params: ColdStartParams,
    tag_only_input: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Held-out artists' listeners found from tags: ours, the tag profile, activity, random;
    and how many artists can be recommended without tags and with them."""
    side = side_information(tag_input, friend_input)
    n_users, n_items = id_index["n_users"], id_index["n_items"]
    tag_only = 0 if tag_only_input is None else int(tag_only_input["artist_id"].nunique())
    can = {"recommendable_artists": {"plays_only": n_items, "with_tags": n_items + tag_only}}
    tagged = np.unique(side.tag_items)
    size = round(params.share * n_items)
    if not side.has_tags or size < 1 or not settings.get("tag_weight"):
        return {"checked": False, "reason": "no tags, share 0 or tag_weight 0"} | can
    held = np.sort(np.random.default_rng(params.seed).choice(tagged, min(size, len(tagged)), False))
    out_rows = np.isin(interactions["artist_index"].to_numpy(), held)
    fit, gone = interactions[~out_rows], interactions[out_rows]
    fair = side.holding_out(gone["user_index"].to_numpy(), gone["artist_index"].to_numpy())
    rec = ImplicitRecommender(ImplicitConfig(**settings)).fit(
        fit["user_index"], fit["artist_index"], fit["weight"], n_users, n_items, side=fair
    )
    local = np.searchsorted(held, gone["artist_index"].to_numpy())
    relevant = pairs_matrix(local, gone["user_index"], len(held), n_users)
    scorers = _scorers(rec, fit, fair, held, params.seed)
    k = params.k
    metrics = {name: _mean(_top(s, k), relevant, k) for name, s in scorers.items()}
    report = {
        "checked": True,
        "held_out_artists": len(held),
        "held_out_pairs": len(gone),
        "share": params.share,
        "k": k,
        "models": metrics,
        "tags_left_on_held_out": int(np.isin(fair.tag_items, held).sum()),
    } | can
    logger.info(
        "Cold start: %d artists held out entirely; their listeners found from tags, recall@%d "
        "%.3f (tag profile %.3f, most active %.3f, random %.3f)",
        len(held), k, *(metrics[n][f"recall@{k}"] for n in scorers),
    )  # fmt: skip
    return report


TAG_ONLY_COLUMNS = [
    "artist_id",
    "artist_name",
    "artist_tags",
    "rank",
    "similar_artist_id",
    "similar_artist_name",
    "similarity",
    "from_tags",
]


REVERSE_COLUMNS = [
    "artist_id",
    "artist_name",
    "rank",
    "similar_artist_id",
    "similar_artist_name",
    "similar_artist_tags",
    "similarity",
    "from_tags",
]


def _nearest(
    queries: torch.Tensor, targets: torch.Tensor, n: int, budget_mb: float
) -> tuple[np.ndarray, np.ndarray]:
    """(cosines, rows) of each query's ``n`` nearest targets, in batches under the budget."""
    queries = torch.nn.functional.normalize(queries, dim=1)
    targets = torch.nn.functional.normalize(targets, dim=1)
    size = rows_per_batch(len(targets), budget_mb)
    parts = [
        top_k_rows(queries[s : s + size] @ targets.T, min(n, len(targets)))
        for s in range(0, len(queries), size)
    ]
    return torch.cat([p[0] for p in parts]).numpy(), torch.cat([p[1] for p in parts]).numpy()


PICK_COLUMNS = ["user_id", "rank", "artist_id", "artist_name", "artist_tags", "score", "from_tags"]


@dataclass(frozen=True)
class _TagOnly:
    """The artists below the filter, with their vectors from tags (local rows 0..n-1)."""

    keys: dict[str, np.ndarray]  # artist_id, artist_name, artist_tags
    vectors: torch.Tensor
    biases: torch.Tensor


def _from_tags(
    implicit: ImplicitRecommender, tag_only_input: pd.DataFrame, tag_map: pd.DataFrame, shown: int
) -> _TagOnly:
    ids, local = np.unique(tag_only_input["artist_id"].to_numpy(), return_inverse=True)
    side = SideInformation.build(
        (tag_only_input["user_index"].to_numpy(), local, tag_only_input["tag_index"].to_numpy()),
        n_tags=len(implicit.tag_vectors),
    )
    vectors, biases = implicit.vectors_from_tags(*_swap(side.tag_pairs(len(ids))))
    names = tag_only_input.drop_duplicates("artist_id").set_index("artist_id")["artist_name"]
    tags = artist_tags(tag_only_input.assign(artist_index=local), tag_map, len(ids), shown)
    keys = {"artist_id": ids, "artist_name": names.reindex(ids).to_numpy(), "artist_tags": tags}
    return _TagOnly(keys, vectors, biases)


def _picks(
    implicit: ImplicitRecommender,
    found: _TagOnly,
    plays: pd.DataFrame,
    user_map: pd.DataFrame,
    params: RecommendParams,
) -> pd.DataFrame:
    """Each listener's ``tag_only_n`` best artists among those below the filter (score: their
    vector . the listener's + the artist's bias), never one they played."""
    ids = found.keys["artist_id"]
    played = pairs_matrix(
        plays["user_index"], np.searchsorted(ids, plays["artist_id"]), implicit.n_users, len(ids)
    )
    users = user_map.sort_values("user_index")
    rows = users["user_index"].to_numpy(dtype=np.int64, copy=True)  # torch indexes a copy
    model = implicit.fitted
    n = min(params.tag_only_n, len(ids))
    size = rows_per_batch(len(ids), params.memory_budget_mb)
    parts = []
    for start in range(0, len(rows), size):
        batch = rows[start : start + size]
        with torch.no_grad():
            scores = model.user_factors.weight[batch] @ found.vectors.T + found.biases[None, :]
        seen = played[batch].tocoo()
        scores[torch.from_numpy(seen.row.astype(np.int64)), seen.col.astype(np.int64)] = -torch.inf
        parts.append(top_k_rows(scores, n))
    sims = torch.cat([p[0] for p in parts]).numpy()
    index = torch.cat([p[1] for p in parts]).numpy()
    own = pd.DataFrame({"artist_index": np.arange(len(ids)), **found.keys})
    table = top_n_table(index, sims, own, {"user_id": users["user_id"].to_numpy()}, "score")
    table["artist_tags"] = found.keys["artist_tags"][index.ravel()[np.isfinite(sims.ravel())]]
    return table.assign(from_tags=True)[PICK_COLUMNS]


def tag_only_artists(
    implicit: ImplicitRecommender,
    tag_only_input: pd.DataFrame,
    tag_only_plays: pd.DataFrame,
    artist_map: pd.DataFrame,
    user_map: pd.DataFrame,
    tag_map: pd.DataFrame,
    params: RecommendParams,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Artists below the play-count filter, given vectors from their tags by the fitted model
    (``vectors_from_tags``), flagged ``from_tags``: (each with the ``similar_n`` model artists
    nearest it, each model artist with the ``similar_n`` such artists nearest it, each
    listener's ``tag_only_n`` best of them)."""
    if implicit.tag_vectors is None or not len(tag_only_input):
        empty = (TAG_ONLY_COLUMNS, REVERSE_COLUMNS, PICK_COLUMNS)
        return tuple(pd.DataFrame(columns=c) for c in empty)  # type: ignore[return-value]
    found = _from_tags(implicit, tag_only_input, tag_map, params.tags_shown)
    known = implicit.fitted.item_factors.weight.detach()
    sims, index = _nearest(found.vectors, known, params.similar_n, params.memory_budget_mb)
    table = top_n_table(index, sims, artist_map, found.keys, "similarity", prefix="similar_")
    own = pd.DataFrame({"artist_index": np.arange(len(found.vectors)), **found.keys})
    artists = artist_map.sort_values("artist_index")
    back = {c: artists[c].to_numpy() for c in ("artist_id", "artist_name")}
    sims, index = _nearest(known, found.vectors, params.similar_n, params.memory_budget_mb)
    reverse = top_n_table(index, sims, own, back, "similarity", prefix="similar_")
    reverse["similar_artist_tags"] = found.keys["artist_tags"][
        index.ravel()[np.isfinite(sims.ravel())]
    ]
    logger.info(
        "%d artists below the play-count filter given vectors from their tags "
        "(the model's catalogue: %d artists, with them %d)",
        len(own), implicit.n_items, implicit.n_items + len(own),
    )  # fmt: skip
    return (
        table.assign(from_tags=True)[TAG_ONLY_COLUMNS],
        reverse.assign(from_tags=True)[REVERSE_COLUMNS],
        _picks(implicit, found, tag_only_plays, user_map, params),
    )


def _swap(pairs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
    """``tag_pairs``' (tag, artist, percent) as ``vectors_from_tags`` takes them."""
    tags, items, percent = pairs
    return items, tags, percent
