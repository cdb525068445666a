"""Model input (+ tuned hyper-parameters) -> the rating model and the recommending model.

``training`` is two nested modular pipelines: ``training.rating`` (the article's model, tested on
rating error) and ``training.recommending`` (the same model with the implicit objective, its
recommendations, similar artists and ranking evaluation).
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from music_recommender.pipelines.training import rating, recommending

INPUTS = {
    "train_ratings",
    "validation_ratings",
    "test_ratings",
    "best_params",
    "artist_map",
    "interactions",
    "tag_input",
    "tag_map",
    "tag_only_input",
    "tag_only_plays",
    "friend_input",
    "user_map",
    "id_index",
    "rating_scaler",
    "recommending_best_params",
    "explicit_parameters",  # registered by hooks/overrides.py: the values a user gave
}
OUTPUTS = {
    "rating_model",
    "training_history",
    "metrics",
    "artist_biases",
    "recipe",
    "implicit_model",
    "implicit_settings",
    "ranking_metrics",
    "index_quality",
    "recommendations",
    "similar_artists",
    "cold_start_metrics",
    "tag_only_artists",
    "tag_only_similar",
    "tag_only_recommendations",
}


def create_pipeline(**kwargs: object) -> Pipeline:
    """The `training` modular pipeline."""
    return Pipeline(
        [rating.create_pipeline(), recommending.create_pipeline()],
        namespace="training",
        inputs=INPUTS,
        outputs=OUTPUTS,
        parameters={"params:model"},
    )
