"""``training.recommending``: fit the implicit objective -> recommend -> similar artists; ranking.

The ranking measures the implicit model that ships (``ranking.protocol``, docs/evaluation.md)
beside the rating model refitted on the holdout's visible pairs (``ranking.compare_rating``).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from music_recommender.pipelines.ranking_holdout import holdout_side, plan_holdout
from music_recommender.pipelines.training.recommending.cold_start import (
    cold_start_quality,
    tag_only_artists,
)
from music_recommender.pipelines.training.recommending.nodes import (
    choose_ranker,
    comparison_models,
    evaluate_ranking,
    evaluated_implicit,
    fit_implicit_model,
    index_artists,
    index_quality,
    recommend_all,
    resolve_implicit,
    ship_implicit,
    similar_artists,
)


def holdout_pipeline() -> Pipeline:
    """Hold out each ranked listener's artists; measure the implicit model as ``protocol`` says
    (the shipped fit itself at scale) beside the rating model refitted on the visible part
    (``compare_rating``) and popularity."""
    return Pipeline(
        [
            Node(
                evaluated_implicit,
                [
                    "fitted_implicit_model",
                    "holdout_seen",
                    "id_index",
                    "implicit_settings",
                    "holdout_plan",
                    "params:ranking",
                    "holdout_side",
                ],
                "holdout_implicit_model",
                name="evaluated_implicit",
            ),
            Node(
                comparison_models,
                ["holdout_seen", "rating_scaler", "id_index", "recipe", "params:ranking"],
                "holdout_comparisons",
                name="comparison_models",
            ),
            Node(
                evaluate_ranking,
                [
                    "holdout_implicit_model",
                    "holdout_comparisons",
                    "holdout_seen",
                    "holdout_held_out",
                    "id_index",
                    "params:ranking",
                    "params:recommend",
                    "params:beyond_accuracy",
                    "holdout_plan",
                    "holdout_side",
                ],
                "ranking_metrics",
                name="evaluate_ranking",
            ),
        ]
    )


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
            holdout_side,
            ["tag_input", "friend_input", "holdout_held_out", "holdout_plan"],
            ["fit_side", "holdout_side"],
            name="holdout_side",
        ),
        Node(
            fit_implicit_model,
            ["fit_interactions", "id_index", "implicit_settings", "fit_side"],
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
            index_quality,
            ["retriever", "interactions", "params:recommend"],
            "index_quality",
            name="index_quality",
        ),
        Node(
            similar_artists,
            ["ranker", "artist_map", "params:recommend", "retriever", "tag_input", "tag_map"],
            "similar_artists",
            name="similar_artists",
        ),
        Node(
            cold_start_quality,
            [
                "interactions",
                "tag_input",
                "friend_input",
                "id_index",
                "implicit_settings",
                "params:cold_start",
                "tag_only_input",
            ],
            "cold_start_metrics",
            name="cold_start_quality",
        ),
        Node(
            tag_only_artists,
            [
                "implicit_model",
                "tag_only_input",
                "tag_only_plays",
                "artist_map",
                "user_map",
                "tag_map",
                "params:recommend",
            ],
            ["tag_only_artists", "tag_only_similar", "tag_only_recommendations"],
            name="tag_only_artists",
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
            "tag_input",
            "friend_input",
            "tag_map",
            "tag_only_input",
            "tag_only_plays",
        },
        outputs={
            "implicit_model",
            "implicit_settings",
            "recommendations",
            "similar_artists",
            "ranking_metrics",
            "index_quality",
            "cold_start_metrics",
            "tag_only_artists",
            "tag_only_similar",
            "tag_only_recommendations",
        },
    )
