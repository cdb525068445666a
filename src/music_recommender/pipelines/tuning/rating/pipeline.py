"""``tuning.rating``: model input -> LR range test and latent-size grid -> best_params.json."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from music_recommender.pipelines.tuning.rating.nodes import (
    grid_search,
    run_lr_range_test,
    sample_for_tuning,
)


def create_pipeline(**kwargs: object) -> Pipeline:
    """The ``rating`` part of ``tuning`` (namespace ``rating``)."""
    nodes = [
        Node(
            sample_for_tuning,
            ["train_ratings", "validation_ratings", "params:sample"],
            ["train_sample", "validation_sample"],
            name="sample_for_tuning",
        ),
        Node(
            run_lr_range_test,
            ["train_sample", "id_index", "params:model", "params:lr_range_test"],
            "lr_range_test",
            name="run_lr_range_test",
        ),
        Node(
            grid_search,
            [
                "train_sample",
                "validation_sample",
                "id_index",
                "params:model",
                "params:grid_search",
                "lr_range_test",
            ],
            ["grid_search", "best_params"],
            name="grid_search",
        ),
    ]
    return Pipeline(
        nodes,
        namespace="rating",
        inputs={"train_ratings", "validation_ratings", "id_index"},
        outputs={"lr_range_test", "grid_search", "best_params"},
        parameters={"params:model"},
    )
