"""Tuning: ``tuning.rating`` (the article's LR range test and latent-size grid) and
``tuning.recommending`` (a seeded Optuna search over the implicit recommender's settings)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from music_recommender.pipelines.tuning import rating, recommending
from music_recommender.pipelines.tuning.recommending.pipeline import SHARED

INPUTS = {
    "train_ratings",
    "validation_ratings",
    "id_index",
    "interactions",
    "tag_input",
    "friend_input",
    "recommending_study_previous",
}
OUTPUTS = {
    "lr_range_test",
    "grid_search",
    "best_params",
    "recommending_study",
    "recommending_best_params",
    "recommending_trials",
}


def create_pipeline(**kwargs: object) -> Pipeline:
    """The `tuning` modular pipeline."""
    return Pipeline(
        [rating.create_pipeline(), recommending.create_pipeline()],
        namespace="tuning",
        inputs=INPUTS,
        outputs=OUTPUTS,
        parameters={"params:model", *SHARED.values()},
    )
