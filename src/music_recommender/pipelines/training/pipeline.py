"""Model input (+ tuned hyper-parameters) -> trained PMF model, history, test metrics, artist biases."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from music_recommender.pipelines.training.nodes import (
    artist_biases,
    evaluate_model,
    evaluate_ranking,
    recommend,
    resolve_recipe,
    similar_artists,
    train_implicit_model,
    train_model,
)


def create_pipeline(**kwargs: object) -> Pipeline:
    """The `training` modular pipeline."""
    nodes = [
        Node(
            resolve_recipe,
            ["params:model", "best_params", "params:options"],
            "recipe",
            name="resolve_recipe",
        ),
        Node(
            train_model,
            ["train_ratings", "validation_ratings", "recipe"],
            ["pmf_model", "training_history"],
            name="train_model",
        ),
        Node(
            evaluate_model,
            [
                "pmf_model",
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
            ["pmf_model", "artist_map", "interactions"],
            "artist_biases",
            name="artist_biases",
        ),
        Node(
            train_implicit_model,
            ["interactions", "params:recommend.implicit"],
            "implicit_model",
            name="train_implicit_model",
        ),
        Node(
            evaluate_ranking,
            ["interactions", "recipe", "params:recommend.implicit", "params:ranking"],
            "ranking_metrics",
            name="evaluate_ranking",
        ),
        Node(
            recommend,
            [
                "pmf_model",
                "implicit_model",
                "interactions",
                "user_map",
                "artist_map",
                "params:recommend",
            ],
            "recommendations",
            name="recommend",
        ),
        Node(
            similar_artists,
            ["pmf_model", "implicit_model", "artist_map", "params:recommend"],
            "similar_artists",
            name="similar_artists",
        ),
    ]
    return Pipeline(
        nodes,
        namespace="training",
        inputs={
            "train_ratings",
            "validation_ratings",
            "test_ratings",
            "best_params",
            "artist_map",
            "interactions",
            "user_map",
        },
        outputs={
            "pmf_model",
            "training_history",
            "metrics",
            "artist_biases",
            "recipe",
            "implicit_model",
            "ranking_metrics",
            "recommendations",
            "similar_artists",
        },
        parameters={"params:model"},
    )
