"""``training.rating``: recipe -> fit to the ratings -> test against baselines -> artist biases."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from music_recommender.pipelines.training.rating.nodes import (
    artist_biases,
    evaluate_model,
    resolve_recipe,
    train_model,
)


def fit_pipeline() -> Pipeline:
    """Ratings + recipe -> a fitted PMF and its history; reused on the ranking holdout."""
    return Pipeline(
        [
            Node(
                train_model,
                ["train_ratings", "validation_ratings", "id_index", "rating_scaler", "recipe"],
                ["rating_model", "training_history"],
                name="train_model",
            )
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """The ``rating`` part of ``training`` (namespace ``rating``; its datasets keep their names)."""
    nodes = [
        Node(
            resolve_recipe,
            ["params:model", "best_params", "params:options", "explicit_parameters"],
            "recipe",
            name="resolve_recipe",
        ),
        fit_pipeline(),
        Node(
            evaluate_model,
            [
                "rating_model",
                "train_ratings",
                "validation_ratings",
                "test_ratings",
                "training_history",
                "recipe",
                "params:baseline",
            ],
            "metrics",
            name="evaluate_model",
        ),
        Node(
            artist_biases,
            ["rating_model", "artist_map", "interactions"],
            "artist_biases",
            name="artist_biases",
        ),
    ]
    return Pipeline(
        nodes,
        namespace="rating",
        inputs={
            "train_ratings",
            "validation_ratings",
            "test_ratings",
            "best_params",
            "explicit_parameters",
            "artist_map",
            "interactions",
            "id_index",
            "rating_scaler",
        },
        outputs={"rating_model", "training_history", "metrics", "artist_biases", "recipe"},
        parameters={"params:model"},
    )
