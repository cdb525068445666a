"""Recommending nodes: fit the implicit objective, recommend, find similar artists, rank on a holdout."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.parameters import check_field_types
from music_recommender.pmf import PMF
from music_recommender.pmf.implicit import ImplicitConfig, fit_implicit
from music_recommender.pmf.ranking import (
    HoldoutTask,
    factor_scorer,
    pairs_matrix,
    per_user_holdout,
    popularity_scorer,
    recommend,
    similar_items,
)
from music_recommender.scaling import RatingScaler
from music_recommender.top_n import top_n_table

logger = logging.getLogger(__name__)
OBJECTIVES = ("implicit", "explicit")
_PAIRS = ["user_index", "artist_index", "weight"]


@dataclass(frozen=True)
class RecommendParams:
    """What to recommend and with which model (``training.recommending.recommend``)."""

    objective: str  # implicit: the implicit-feedback model; explicit: the rating model
    n: int  # recommendations per listener
    similar_n: int  # similar artists per artist
    memory_budget_mb: float  # scores held at once while ranking (rows per batch follow from it)

    def __post_init__(self) -> None:
        check_field_types(self, "training.recommending.recommend")
        if self.objective not in OBJECTIVES:
            raise ValueError(
                "training.recommending.recommend.objective must be one of "
                f"{', '.join(OBJECTIVES)}; got {self.objective!r}"
            )
        for name in ("n", "similar_n", "memory_budget_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"training.recommending.recommend.{name} must be > 0; got {getattr(self, name)!r}"
                )


@dataclass(frozen=True)
class RankingParams:
    """The per-user holdout of ``ranking_metrics.json`` (``training.recommending.ranking``)."""

    holdout_fraction: float
    k: int
    seed: int
    # Rank for a seeded sample of this many listeners (null = all): scoring every artist for
    # every listener, three models over, is what ranking costs at Last.fm-360K's size.
    max_users: int | None

    def __post_init__(self) -> None:
        check_field_types(self, "training.recommending.ranking")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(
                "training.recommending.ranking.holdout_fraction must be in (0, 1); "
                f"got {self.holdout_fraction!r}"
            )
        if self.k < 1:
            raise ValueError(f"training.recommending.ranking.k must be >= 1; got {self.k!r}")

    def sample_users(self, n_users: int) -> np.ndarray | None:
        """The seeded listeners to rank for (None: all of them)."""
        if self.max_users is None or self.max_users >= n_users:
            return None
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(n_users, self.max_users, replace=False))


def holdout_task(
    seen: pd.DataFrame, held_out: pd.DataFrame, id_index: dict[str, Any]
) -> HoldoutTask:
    """The holdout frames of ``split_holdout`` as a task to score (tables sized by ``id_index``)."""
    return HoldoutTask(
        *(seen[c].to_numpy() for c in _PAIRS),
        held_out=tuple(held_out[c].to_numpy() for c in _PAIRS),
        n_users=id_index["n_users"],
        n_items=id_index["n_items"],
    )


def fit_implicit_model(
    interactions: pd.DataFrame, id_index: dict[str, Any], implicit: ImplicitConfig
) -> PMF:
    """The PMF with the implicit-feedback objective on every listening pair: it learns what people do not play."""
    model = implicit.build(id_index["n_users"], id_index["n_items"])
    fit_implicit(
        model,
        interactions["user_index"],
        interactions["artist_index"],
        interactions["weight"],
        implicit,
    )
    model.trained_with |= {"id_maps": id_index["fingerprint"]}
    return model.cpu()


def choose_ranker(explicit: PMF, implicit: PMF, params: RecommendParams) -> PMF:
    """The model that ranks artists for listeners and neighbours, as ``objective`` says."""
    return implicit if params.objective == "implicit" else explicit


def recommend_all(
    model: PMF,
    interactions: pd.DataFrame,
    user_map: pd.DataFrame,
    artist_map: pd.DataFrame,
    params: RecommendParams,
) -> pd.DataFrame:
    """Top-n artists for every listener, with names and scores; artists they already play never appear."""
    played = pairs_matrix(
        interactions["user_index"], interactions["artist_index"], model.n_users, model.n_items
    )
    users = user_map.sort_values("user_index")
    index, scores = recommend(
        factor_scorer(model),
        users["user_index"].to_numpy(),
        params.n,
        played,
        params.memory_budget_mb,
        model.n_items,
    )
    return top_n_table(index, scores, artist_map, {"user_id": users["user_id"].to_numpy()})


def similar_artists(model: PMF, artist_map: pd.DataFrame, params: RecommendParams) -> pd.DataFrame:
    """For every artist, the ``similar_n`` nearest artists by cosine similarity of their vectors."""
    artists = artist_map.sort_values("artist_index")
    index, sims = similar_items(
        model, artists["artist_index"].to_numpy(), params.similar_n, params.memory_budget_mb
    )
    keys = {c: artists[c].to_numpy() for c in ("artist_id", "artist_name")}
    table = top_n_table(index, sims, artist_map, keys, "similarity", prefix="similar_")
    return table[
        [
            "artist_id",
            "artist_name",
            "rank",
            "similar_artist_id",
            "similar_artist_name",
            "similarity",
        ]
    ]


def split_holdout(
    interactions: pd.DataFrame, ranking: RankingParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``holdout_fraction`` of each listener's artists: (what models see, what they must find)."""
    split = per_user_holdout(
        interactions["user_index"].to_numpy(), ranking.holdout_fraction, ranking.seed
    )
    pairs = interactions[_PAIRS]
    return pairs[split.train].reset_index(drop=True), pairs[split.test].reset_index(drop=True)


def holdout_ratings(
    seen: pd.DataFrame, rating_scaler: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The holdout's visible pairs as ratings for the rating model (no validation part).

    The scale is refitted on these pairs alone, with the normalisation ``preprocessing`` used.
    """
    scaler = RatingScaler.fit(seen["weight"].to_numpy(), rating_scaler["method"])
    ratings = seen.assign(rating=scaler.transform(seen["weight"].to_numpy()).astype(np.float32))
    return ratings, ratings.iloc[:0], scaler.to_dict()


def evaluate_ranking(
    implicit: PMF,
    explicit: PMF,
    seen: pd.DataFrame,
    held_out: pd.DataFrame,
    id_index: dict[str, Any],
    ranking: RankingParams,
    recommend_params: RecommendParams,
) -> dict[str, Any]:
    """Top-k quality of the implicit model, the rating model and popularity on the holdout."""
    task = holdout_task(seen, held_out, id_index)
    scorers = {
        "implicit": factor_scorer(implicit),
        "explicit": factor_scorer(explicit),
        "popularity": popularity_scorer(task.items, task.n_items),
    }
    k, budget = ranking.k, recommend_params.memory_budget_mb
    users = ranking.sample_users(task.n_users)
    results = {name: task.evaluate(scorer, k, budget, users) for name, scorer in scorers.items()}
    for name, metrics in results.items():
        logger.info(
            "Ranking %s: NDCG@%d %.3f, coverage %.3f",
            name,
            k,
            metrics[f"ndcg@{k}"],
            metrics["coverage"],
        )
    return {
        "models": results,
        "protocol": {
            "k": k,
            "holdout_fraction": ranking.holdout_fraction,
            "seed": ranking.seed,
            "held_out_pairs": len(held_out),
            "users": int(results["implicit"]["users"]),
            "sampled_users": None if users is None else len(users),
            "artists": task.n_items,
        },
    }
