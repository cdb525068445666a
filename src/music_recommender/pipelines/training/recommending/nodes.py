"""Recommending nodes: fit the implicit objective, recommend, find similar artists, rank on a holdout."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.ranking import (
    HoldoutTask,
    pairs_matrix,
    per_user_holdout,
    popularity_scorer,
)
from music_recommender.pmf.recommender import FactorRecommender, ImplicitRecommender
from music_recommender.pmf.scaling import RatingScaler
from music_recommender.pmf.solver import ImplicitConfig
from music_recommender.top_n import top_n_table

logger = logging.getLogger(__name__)
OBJECTIVES = ("implicit", "rating")
_PAIRS = ["user_index", "artist_index", "weight"]


@dataclass(frozen=True)
class RecommendParams:
    """What to recommend and with which model (``training.recommending.recommend``)."""

    objective: str  # implicit: the implicit-feedback model; rating: the article's rating model
    n: int  # recommendations per listener
    similar_n: int  # similar artists per artist
    memory_budget_mb: float  # scores held at once while ranking (rows per batch follow from it)

    def __post_init__(self) -> None:
        check_field_types(self, "training.recommending.recommend")
        if self.objective == "explicit":
            raise ValueError(
                "training.recommending.recommend.objective 'explicit' is now called 'rating' "
                "(the article's rating model); set objective: rating"
            )
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
) -> ImplicitRecommender:
    """The implicit-feedback recommender on every listening pair: it learns what people do not play."""
    return ImplicitRecommender(implicit).fit(
        interactions["user_index"],
        interactions["artist_index"],
        interactions["weight"],
        id_index["n_users"],
        id_index["n_items"],
        id_maps=id_index["fingerprint"],
    )


def choose_ranker(
    rating: FactorRecommender, implicit: FactorRecommender, params: RecommendParams
) -> FactorRecommender:
    """The recommender that ranks artists for listeners and neighbours, as ``objective`` says."""
    return implicit if params.objective == "implicit" else rating


def recommend_all(
    ranker: FactorRecommender,
    interactions: pd.DataFrame,
    user_map: pd.DataFrame,
    artist_map: pd.DataFrame,
    params: RecommendParams,
) -> pd.DataFrame:
    """Top-n artists for every listener, with names and scores; artists they already play never appear."""
    users = user_map.sort_values("user_index")
    rows = users["user_index"].to_numpy()
    played = pairs_matrix(
        interactions["user_index"], interactions["artist_index"], ranker.n_users, ranker.n_items
    )
    ranker = ranker.with_budget(params.memory_budget_mb)
    index, scores = ranker.recommend(rows, params.n, user_items=played[rows])
    return top_n_table(index, scores, artist_map, {"user_id": users["user_id"].to_numpy()})


def similar_artists(
    ranker: FactorRecommender, artist_map: pd.DataFrame, params: RecommendParams
) -> pd.DataFrame:
    """For every artist, the ``similar_n`` nearest artists by cosine similarity of their vectors."""
    artists = artist_map.sort_values("artist_index")
    ranker = ranker.with_budget(params.memory_budget_mb)
    index, sims = ranker.similar_items(artists["artist_index"].to_numpy(), params.similar_n)
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
    implicit: FactorRecommender,
    rating: FactorRecommender,
    seen: pd.DataFrame,
    held_out: pd.DataFrame,
    id_index: dict[str, Any],
    ranking: RankingParams,
    recommend_params: RecommendParams,
) -> dict[str, Any]:
    """Top-k quality of the implicit model, the rating model and popularity on the holdout."""
    task = holdout_task(seen, held_out, id_index)
    scorers = {
        "implicit": implicit.scorer(),
        "rating": rating.scorer(),
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
