"""Recommending nodes: fit the implicit objective, recommend, find similar artists, rank on a holdout."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.parameters import kept_explicit
from music_recommender.pipelines.ranking_holdout import (
    BeyondAccuracyParams,
    RankingParams,
    RecommendParams,
    holdout_task,
)
from music_recommender.pipelines.training.rating.nodes import train_model
from music_recommender.pipelines.training.recommending.evaluation import (
    group_quality,
    judge,
    tradeoff,
    worst_served,
)
from music_recommender.pmf.beyond_accuracy import Catalogue
from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.ranking import pairs_matrix, popularity_scorer
from music_recommender.pmf.recommender import FactorRecommender, ImplicitRecommender
from music_recommender.pmf.scaling import RatingScaler
from music_recommender.pmf.side import SideInformation
from music_recommender.pmf.solver import ImplicitConfig
from music_recommender.retrieval import (
    IndexedRecommender,
    IndexParams,
    indexed,
    recall_against_exact,
)
from music_recommender.top_n import artist_tags, top_n_table

logger = logging.getLogger(__name__)


MODES = ("tuned", "fixed")


@dataclass(frozen=True)
class RecommendingOptions:
    """Where the implicit model's settings come from (``training.recommending.options``)."""

    hyperparameters: str  # tuned: tuning.recommending's choice over conf; fixed: conf alone

    def __post_init__(self) -> None:
        check_field_types(self, "training.recommending.options")
        if self.hyperparameters not in MODES:
            raise ValueError(
                "training.recommending.options.hyperparameters must be one of "
                f"{', '.join(MODES)}; got {self.hyperparameters!r}"
            )


IMPLICIT_KEY = "training.recommending.implicit"  # where a user sets the implicit model's settings


def resolve_implicit(
    implicit: ImplicitConfig,
    best: dict[str, Any],
    options: RecommendingOptions,
    explicit: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings to fit: conf's ``implicit`` block, with the search's choice when tuned.

    A setting the user gave for this run (``explicit``: ``--params`` or conf/local) beats the
    search's choice of it.
    """
    if options.hyperparameters == "fixed":
        return implicit.to_dict()
    if not best:
        raise ValueError(
            "training.recommending.options.hyperparameters is 'tuned' but "
            "data/06_models/recommending_best_params.json is missing: run the tuning pipeline "
            "first (kedro run --pipelines tuning,training) or train with conf's settings "
            "(kedro run --pipelines training --params "
            "training.recommending.options.hyperparameters=fixed)"
        )
    searched = dict(best["settings"])
    keys = {name: f"{IMPLICIT_KEY}.{name}" for name in searched}
    for name in kept_explicit(keys, searched, explicit or {}):
        del searched[name]
    chosen = replace(implicit, **searched)
    logger.info("Implicit settings from the search: %s", searched)
    return chosen.to_dict()


def fit_implicit_model(
    interactions: pd.DataFrame,
    id_index: dict[str, Any],
    settings: dict[str, Any],
    side: SideInformation | None = None,
) -> ImplicitRecommender:
    """The implicit-feedback recommender on every listening pair (and the tags and friends of
    ``side``): it learns what people do not play."""
    return ImplicitRecommender(ImplicitConfig(**settings)).fit(
        interactions["user_index"],
        interactions["artist_index"],
        interactions["weight"],
        id_index["n_users"],
        id_index["n_items"],
        id_maps=id_index["fingerprint"],
        side=side,
    )


def evaluated_implicit(
    fitted: ImplicitRecommender,
    seen: pd.DataFrame,
    id_index: dict[str, Any],
    settings: dict[str, Any],
    plan: dict[str, Any],
    ranking: RankingParams,
    side: SideInformation | None = None,
) -> ImplicitRecommender:
    """The implicit model the ranking measures: the fitted one itself (``shipped``), it with the
    ranked listeners solved from their visible pairs (``fold_in``), or a second fit (``refit``,
    on ``side``: the tags of the held-out pairs removed)."""
    if plan["protocol"] == "refit":
        return fit_implicit_model(seen, id_index, settings, side)
    if plan["protocol"] == "shipped":
        return fitted
    ranked = seen[seen["user_index"].isin(ranking.sample_users(id_index["n_users"]))]
    return fitted.partial_fit_users(ranked["user_index"], ranked["artist_index"], ranked["weight"])


def ship_implicit(
    fitted: ImplicitRecommender,
    interactions: pd.DataFrame,
    id_index: dict[str, Any],
    plan: dict[str, Any],
    ranking: RankingParams,
) -> ImplicitRecommender:
    """The model to ship: the ranked listeners kept out of the fit are solved again on their
    whole histories (the artists as fitted), so their lists use every pair they played."""
    if plan["protocol"] == "refit":
        return fitted
    sample = ranking.sample_users(id_index["n_users"])
    ranked = (
        interactions if sample is None else interactions[interactions["user_index"].isin(sample)]
    )
    logger.info(
        "Ranking protocol %s: %d listeners re-solved on their whole histories for the shipped model",
        plan["protocol"], ranked["user_index"].nunique(),
    )  # fmt: skip
    return fitted.partial_fit_users(ranked["user_index"], ranked["artist_index"], ranked["weight"])


def choose_ranker(
    rating: FactorRecommender, implicit: FactorRecommender, params: RecommendParams
) -> FactorRecommender:
    """The recommender that ranks artists for listeners and neighbours, as ``objective`` says."""
    return implicit if params.objective == "implicit" else rating


def index_artists(ranker: FactorRecommender, params: IndexParams) -> Any:
    """The ranker, or for a catalogue of at least ``index.min_artists`` artists the ranker behind
    faiss HNSW indexes (``retrieval.py``): built once, read by the top-N and similar-artist nodes."""
    return indexed(ranker, params)


def index_quality(
    retriever: Any, interactions: pd.DataFrame, params: RecommendParams
) -> dict[str, Any]:
    """The index's recall@n against exact scoring on seeded samples (``index.check_sample``), or
    ``{"indexed": false}`` for a catalogue scored exactly."""
    if not isinstance(retriever, IndexedRecommender) or not retriever.params.check_sample:
        return {"indexed": isinstance(retriever, IndexedRecommender)}
    exact = retriever.recommender
    played = pairs_matrix(
        interactions["user_index"], interactions["artist_index"], exact.n_users, exact.n_items
    )
    quality = recall_against_exact(retriever, played, params.n)
    logger.info(
        "Index recall@%d against exact scoring: top-N %.3f, similar artists %.3f",
        params.n, quality[f"recall@{params.n}"], quality[f"similar_recall@{params.n}"],
    )  # fmt: skip
    return quality


def recommend_all(
    ranker: FactorRecommender,
    interactions: pd.DataFrame,
    user_map: pd.DataFrame,
    artist_map: pd.DataFrame,
    params: RecommendParams,
    retriever: Any = None,
) -> pd.DataFrame:
    """Top-n artists for every listener, with names and scores; artists they already play never appear.

    Through ``retriever``'s index when there is one (the plain lists; a popularity penalty
    re-ranks every artist, so it is scored exactly).
    """
    users = user_map.sort_values("user_index")
    rows = users["user_index"].to_numpy()
    played = pairs_matrix(
        interactions["user_index"], interactions["artist_index"], ranker.n_users, ranker.n_items
    )
    keys = {"user_id": users["user_id"].to_numpy()}
    if isinstance(retriever, IndexedRecommender) and not params.popularity_penalty:
        index, scores = retriever.recommend(rows, params.n, played[rows])
        return top_n_table(index, scores, artist_map, keys)
    ranker = ranker.with_budget(params.memory_budget_mb)
    listeners = np.bincount(interactions["artist_index"], minlength=ranker.n_items)
    index, scores = ranker.recommend(
        rows,
        params.n,
        user_items=played[rows],
        popularity_penalty=params.popularity_penalty,
        popularity=listeners,
    )
    return top_n_table(index, scores, artist_map, keys)


def similar_artists(
    ranker: FactorRecommender,
    artist_map: pd.DataFrame,
    params: RecommendParams,
    retriever: Any = None,
    tag_input: pd.DataFrame | None = None,
    tag_map: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """For every artist, the ``similar_n`` nearest artists by cosine similarity of their vectors,
    each with its ``tags_shown`` most assigned tags (empty without the side files)."""
    artists = artist_map.sort_values("artist_index")
    ranker = ranker.with_budget(params.memory_budget_mb)
    finder = retriever if isinstance(retriever, IndexedRecommender) else ranker
    rows = artists["artist_index"].to_numpy()
    index, sims = finder.similar_items(rows, params.similar_n)
    keys = {c: artists[c].to_numpy() for c in ("artist_id", "artist_name")}
    tags = artist_tags(tag_input, tag_map, ranker.n_items, params.tags_shown)
    keys["artist_tags"] = tags[rows]
    table = top_n_table(index, sims, artist_map, keys, "similarity", prefix="similar_")
    similar_rows = index.ravel()[np.isfinite(np.asarray(sims).ravel())]
    table["similar_artist_tags"] = tags[similar_rows]
    return table[
        [
            "artist_id",
            "artist_name",
            "artist_tags",
            "rank",
            "similar_artist_id",
            "similar_artist_name",
            "similar_artist_tags",
            "similarity",
        ]
    ]


def holdout_ratings(
    seen: pd.DataFrame, rating_scaler: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The holdout's visible pairs as ratings for the rating model (no validation part).

    The scale is refitted on these pairs alone, with the normalisation ``preprocessing`` used.
    """
    scaler = RatingScaler.fit(seen["weight"].to_numpy(), rating_scaler["method"])
    ratings = seen.assign(rating=scaler.transform(seen["weight"].to_numpy()).astype(np.float32))
    return ratings, ratings.iloc[:0], scaler.to_dict()


def comparison_models(
    seen: pd.DataFrame,
    rating_scaler: dict[str, Any],
    id_index: dict[str, Any],
    recipe: dict[str, Any],
    ranking: RankingParams,
) -> dict[str, FactorRecommender]:
    """The models ranked beside the implicit one: the article's rating model, refitted on the
    visible pairs with the training recipe (``ranking.compare_rating``; none when off)."""
    if not ranking.compare_rating:
        logger.info("Ranking: the rating model is not compared (ranking.compare_rating: false)")
        return {}
    rated, no_validation, scaler = holdout_ratings(seen, rating_scaler)
    return {"rating": train_model(rated, no_validation, id_index, scaler, recipe)[0]}


GROUPS_NOTE = (
    "thirds of the ranked listeners by mainstreaminess (the mean share of listeners of the "
    "artists they play in training) and by activity (artists played)"
)


def evaluate_ranking(
    implicit: FactorRecommender,
    others: dict[str, FactorRecommender],
    seen: pd.DataFrame,
    held_out: pd.DataFrame,
    id_index: dict[str, Any],
    ranking: RankingParams,
    recommend_params: RecommendParams,
    beyond: BeyondAccuracyParams,
    plan: dict[str, Any] | None = None,
    side: SideInformation | None = None,
) -> dict[str, Any]:
    """The implicit model, ``others`` and popularity on the holdout: accuracy, what the lists are
    made of (popularity, novelty, diversity, by ``side``'s tags too), whom they serve, trade-off."""
    task = holdout_task(seen, held_out, id_index)
    tags = side.tag_pairs(task.n_items) if side is not None and side.has_tags else None
    catalogue = Catalogue.from_pairs(
        task.users, task.items, task.plays, task.n_users, task.n_items,
        beyond.head_share, beyond.reference_dims, beyond.seed, tags,
    )  # fmt: skip
    scorers = {
        "implicit": implicit.scorer(),
        **{name: model.scorer() for name, model in others.items()},
        "popularity": popularity_scorer(task.items, task.n_items),
    }
    k, budget = ranking.k, recommend_params.memory_budget_mb
    users = ranking.sample_users(task.n_users)
    ranked = {name: task.rank(scorer, k, budget, users) for name, scorer in scorers.items()}
    results = {name: judge(task, lists, catalogue, k) for name, lists in ranked.items()}
    for name, metrics in results.items():
        logger.info(
            "Ranking %s: NDCG@%d %.3f, coverage %.3f, long-tail share %.3f, novelty %.2f bits",
            name, k, metrics[f"ndcg@{k}"], metrics["coverage"], metrics["aplt"], metrics["novelty"],
        )  # fmt: skip
    listeners = np.bincount(task.items, minlength=task.n_items)
    penalised = {p: implicit.scorer(p, listeners) for p in beyond.penalties}
    groups = group_quality(task, ranked, catalogue, k)
    curve_users = beyond.tradeoff_sample(ranked["implicit"][0])
    return {
        "models": results,
        "groups": groups,
        "worst_served": worst_served(groups, "implicit", k),
        "tradeoff": tradeoff(task, penalised, catalogue, k, budget, curve_users),
        "protocol": {
            **(plan or {"protocol": "refit"}),
            "k": k,
            "holdout_fraction": ranking.holdout_fraction,
            "seed": ranking.seed,
            "held_out_pairs": len(held_out),
            "users": int(results["implicit"]["users"]),
            "sampled_users": None if users is None else len(users),
            "artists": task.n_items,
            "long_tail_artists": int(catalogue.tail.sum()),
            "head_share": beyond.head_share,
            "tradeoff_users": len(curve_users),
            "groups": GROUPS_NOTE,
        },
    }
