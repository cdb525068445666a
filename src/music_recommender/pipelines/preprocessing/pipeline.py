"""Raw Last.fm files -> validated, filtered, indexed, split and scaled model input."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from music_recommender.pipelines.preprocessing.eda import plot_weight_distribution, summarize
from music_recommender.pipelines.preprocessing.nodes import (
    apply_scaler,
    describe_source,
    fit_scaler,
    index_and_publish,
    split_interactions,
    validate_raw_data,
)
from music_recommender.pipelines.preprocessing.rules import describe_ids
from music_recommender.pipelines.preprocessing.side_files import (
    side_model_input,
    validate_side_files,
)

# Datasets shared with the other pipelines keep their names outside the namespace.
INPUTS = {
    "user_artists_raw",
    "artists_raw",
    "user_friends_raw",
    "tagged_artists_raw",
    "tags_raw",
    "run_info",
}
OUTPUTS = {
    "interactions",
    "user_map",
    "artist_map",
    "id_index",
    "data_source",
    "train_ratings",
    "validation_ratings",
    "test_ratings",
    "rating_scaler",
    "preprocessing_summary",
    "weight_distribution_plot@figure",
    "friendships",
    "tag_assignments",
    "tags",
    "tag_input",
    "friend_input",
    "tag_map",
    "tag_only_input",
    "tag_only_plays",
}


def create_pipeline(**kwargs: object) -> Pipeline:
    """The `preprocessing` modular pipeline; its internal datasets are prefixed `preprocessing.`."""
    nodes = [
        Node(
            validate_raw_data,
            ["user_artists_raw", "artists_raw", "params:unnamed_artists", "params:filter"],
            ["user_artists", "artists", "filtered_user_artists"],
            name="validate_raw_data",
        ),
        Node(
            index_and_publish,
            ["filtered_user_artists", "artists"],
            ["interactions", "indexed", "user_map", "artist_map"],
            name="index_and_publish",
        ),
        Node(
            validate_side_files,
            ["user_friends_raw", "tagged_artists_raw", "tags_raw", "user_artists", "artists"],
            ["friendships", "tag_assignments", "tags", "side_facts"],
            name="validate_side_files",
        ),
        Node(
            side_model_input,
            [
                "tag_assignments",
                "friendships",
                "tags",
                "user_map",
                "artist_map",
                "artists",
                "user_artists",
            ],
            ["tag_input", "friend_input", "tag_map", "tag_only_input", "tag_only_plays"],
            name="side_model_input",
        ),
        Node(describe_ids, ["user_map", "artist_map"], "id_index", name="describe_ids"),
        Node(
            describe_source,
            ["run_info", "user_artists", "user_map"],
            "data_source",
            name="describe_source",
        ),
        Node(
            split_interactions,
            ["indexed", "params:split"],
            ["train_weights", "validation_weights", "test_weights"],
            name="split_interactions",
        ),
        Node(
            fit_scaler,
            ["train_weights", "params:normalisation"],
            "rating_scaler",
            name="fit_scaler",
        ),
        *(
            Node(
                apply_scaler,
                [f"{part}_weights", "rating_scaler"],
                f"{part}_ratings",
                name=f"apply_scaler_{part}",
            )
            for part in ("train", "validation", "test")
        ),
        Node(
            summarize,
            [
                "user_artists_raw",
                "artists_raw",
                "user_artists",
                "filtered_user_artists",
                "train_ratings",
                "validation_ratings",
                "test_ratings",
                "rating_scaler",
                "params:summary_sample_rows",
                "side_facts",
            ],
            "preprocessing_summary",
            name="summarize",
        ),
        Node(
            plot_weight_distribution,
            ["user_artists", "filtered_user_artists", "rating_scaler"],
            "weight_distribution_plot@figure",
            name="plot_weight_distribution",
        ),
    ]
    return Pipeline(nodes, namespace="preprocessing", inputs=INPUTS, outputs=OUTPUTS)
