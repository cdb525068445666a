"""``training.recommending``: fit the implicit objective -> recommend -> similar artists; ranking.

The ranking evaluation reuses the fit pipelines of both models under the ``holdout`` namespace:
the same nodes, fed the holdout's visible pairs instead of all of them.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from music_recommender.pipelines.ranking_holdout import split_holdout
from music_recommender.pipelines.training import rating
from music_recommender.pipelines.training.recommending.nodes import (
    choose_ranker,
    evaluate_ranking,
    fit_implicit_model,
    holdout_ratings,
    index_artists,
    recommend_all,
    resolve_implicit,
    similar_artists,
)


def fit_pipeline() -> Pipeline:
    """Interactions -> the implicit-objective model; reused on the ranking holdout."""
    return Pipeline(
        [
            Node(
                fit_implicit_model,
                ["interactions", "id_index", "implicit_settings"],
                "implicit_model",
                name="fit_implicit_model",
            )
        ]
    )


def holdout_pipeline() -> Pipeline:
    """Split each listener's artists, refit both models on the visible part, rank the rest."""
    split = Pipeline(
        [
            Node(
                split_holdout,
                ["interactions", "params:ranking"],
                ["holdout_seen", "holdout_held_out"],
                name="split_holdout",
            ),
            Node(
                holdout_ratings,
                ["holdout_seen", "rating_scaler"],
                ["holdout_rated", "holdout_no_validation", "holdout_rating_scaler"],
                name="holdout_ratings",
            ),
        ]
    )
    implicit = Pipeline(
        fit_pipeline(),
        namespace="holdout",
        inputs={
            "interactions": "holdout_seen",
            "id_index": "id_index",
            "implicit_settings": "implicit_settings",
        },
        outputs={"implicit_model": "holdout_implicit_model"},
    )
    rating_fit = Pipeline(
        rating.fit_pipeline(),
        namespace="holdout",
        inputs={
            "train_ratings": "holdout_rated",  # not *_ratings: the catalog would store it
            "validation_ratings": "holdout_no_validation",
            "rating_scaler": "holdout_rating_scaler",
            "id_index": "id_index",
            "recipe": "recipe",
        },
        outputs={"rating_model": "holdout_rating_model", "training_history": "holdout_history"},
    )
    evaluate = Node(
        evaluate_ranking,
        [
            "holdout_implicit_model",
            "holdout_rating_model",
            "holdout_seen",
            "holdout_held_out",
            "id_index",
            "params:ranking",
            "params:recommend",
            "params:beyond_accuracy",
        ],
        "ranking_metrics",
        name="evaluate_ranking",
    )
    return split + implicit + rating_fit + Pipeline([evaluate])


def create_pipeline(**kwargs: object) -> Pipeline:
    """The ``recommending`` part of ``training`` (namespace ``recommending``)."""
    nodes = [
        Node(
            resolve_implicit,
            [
                "params:implicit",
                "recommending_best_params",
                "params:options",
                "explicit_parameters",
            ],
            "implicit_settings",
            name="resolve_implicit",
        ),
        fit_pipeline(),
        Node(
            choose_ranker,
            ["rating_model", "implicit_model", "params:recommend"],
            "ranker",
            name="choose_ranker",
        ),
        Node(index_artists, ["ranker", "params:index"], "retriever", name="index_artists"),
        Node(
            recommend_all,
            ["ranker", "interactions", "user_map", "artist_map", "params:recommend", "retriever"],
            "recommendations",
            name="recommend_all",
        ),
        Node(
            similar_artists,
            ["ranker", "artist_map", "params:recommend", "retriever"],
            "similar_artists",
            name="similar_artists",
        ),
        holdout_pipeline(),
    ]
    return Pipeline(
        nodes,
        namespace="recommending",
        inputs={
            "interactions",
            "id_index",
            "rating_scaler",
            "recipe",
            "rating_model",
            "user_map",
            "artist_map",
            "recommending_best_params",
            "explicit_parameters",
        },
        outputs={
            "implicit_model",
            "implicit_settings",
            "recommendations",
            "similar_artists",
            "ranking_metrics",
        },
    )
