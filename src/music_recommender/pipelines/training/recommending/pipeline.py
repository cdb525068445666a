"""``training.recommending``: fit the implicit objective -> recommend -> similar artists; ranking.

The ranking measures the implicit model that ships (``ranking.protocol``, docs/evaluation.md),
and reuses the rating model's fit pipeline under the ``holdout`` namespace for the comparison:
the same nodes, fed the holdout's visible pairs instead of all of them.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from music_recommender.pipelines.ranking_holdout import plan_holdout
from music_recommender.pipelines.training import rating
from music_recommender.pipelines.training.recommending.nodes import (
    choose_ranker,
    evaluate_ranking,
    evaluated_implicit,
    fit_implicit_model,
    holdout_ratings,
    index_artists,
    recommend_all,
    resolve_implicit,
    ship_implicit,
    similar_artists,
)


def holdout_pipeline() -> Pipeline:
    """Hold out each ranked listener's artists; measure the implicit model as ``protocol`` says
    (the shipped fit itself by default at scale) beside a rating model refitted on the visible
    part and popularity."""
    split = Pipeline(
        [
            Node(
                holdout_ratings,
                ["holdout_seen", "rating_scaler"],
                ["holdout_rated", "holdout_no_validation", "holdout_rating_scaler"],
                name="holdout_ratings",
            ),
            Node(
                evaluated_implicit,
                [
                    "fitted_implicit_model",
                    "holdout_seen",
                    "id_index",
                    "implicit_settings",
                    "holdout_plan",
                    "params:ranking",
                ],
                "holdout_implicit_model",
                name="evaluated_implicit",
            ),
        ]
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
            "holdout_plan",
        ],
        "ranking_metrics",
        name="evaluate_ranking",
    )
    return split + rating_fit + Pipeline([evaluate])


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
        Node(
            plan_holdout,
            ["interactions", "id_index", "params:ranking"],
            ["fit_interactions", "holdout_seen", "holdout_held_out", "holdout_plan"],
            name="plan_holdout",
        ),
        Node(
            fit_implicit_model,
            ["fit_interactions", "id_index", "implicit_settings"],
            "fitted_implicit_model",
            name="fit_implicit_model",
        ),
        Node(
            ship_implicit,
            ["fitted_implicit_model", "interactions", "id_index", "holdout_plan", "params:ranking"],
            "implicit_model",
            name="ship_implicit",
        ),
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
