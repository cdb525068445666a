"""``tuning.recommending``: the ranking holdout's visible pairs -> a seeded Optuna search -> the
chosen settings of the implicit recommender (``recommending_best_params.json``) and the study."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from music_recommender.pipelines.tuning.recommending.nodes import (
    search_recommender,
    validation_task,
)

# The search fits the recommender training fits and holds out what training's holdout holds out.
SHARED = {
    "params:implicit": "params:training.recommending.implicit",
    "params:ranking": "params:training.recommending.ranking",
    "params:recommend": "params:training.recommending.recommend",
}


def create_pipeline(**kwargs: object) -> Pipeline:
    """The ``recommending`` part of ``tuning`` (namespace ``recommending``)."""
    nodes = [
        Node(
            validation_task,
            ["interactions", "params:ranking", "params:search", "tag_input", "friend_input"],
            "validation_task",
            name="validation_task",
        ),
        Node(
            search_recommender,
            [
                "validation_task",
                "params:implicit",
                "params:search",
                "params:recommend",
                "recommending_study_previous",
            ],
            ["recommending_study", "recommending_best_params", "recommending_trials"],
            name="search_recommender",
        ),
    ]
    return Pipeline(
        nodes,
        namespace="recommending",
        inputs={"interactions", "recommending_study_previous", "tag_input", "friend_input"},
        outputs={"recommending_study", "recommending_best_params", "recommending_trials"},
        parameters=SHARED,
    )
