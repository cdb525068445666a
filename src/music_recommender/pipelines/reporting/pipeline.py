"""Tuning and training outputs -> figures, the artist-bias table and the HTML report."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from music_recommender.pipelines.reporting.figures import (
    plot_artist_map,
    plot_bias_distribution,
    plot_grid_search,
    plot_group_calibration,
    plot_lr_range_test,
    plot_search_history,
    plot_search_importances,
    plot_tradeoff,
    plot_training_loss,
)
from music_recommender.pipelines.reporting.page import build_report
from music_recommender.pipelines.reporting.tables import artist_bias_table, example_listeners

INPUTS = {
    "lr_range_test",
    "grid_search",
    "best_params",
    "training_history",
    "artist_biases",
    "artist_map",
    "implicit_model",
    "preprocessing_summary",
    "metrics",
    "weight_distribution_plot@png",
    "output_locations",
    "run_info",
    "tag_input",
    "tag_map",
    "cold_start_metrics",
    "tag_only_artists",
    "ranking_metrics",
    "recommendations",
    "interactions",
    "recommending_study",
    "recommending_best_params",
    "implicit_settings",
}
# Figures are saved through their `@figure` entry and read back for the page through `@png`
# (Kedro transcoding: one file, two dataset types, and the runner orders the nodes).
FIGURES = (
    "lr_range_test",
    "grid_search",
    "training_loss",
    "artist_bias",
    "artist_map",
    "search_history",
    "search_importances",
    "group_calibration",
    "tradeoff",
)
OUTPUTS = {"artist_bias_report", "example_listeners", "report"}


def create_pipeline(**kwargs: object) -> Pipeline:
    """The `reporting` modular pipeline."""
    nodes = [
        Node(
            plot_lr_range_test,
            ["lr_range_test", "metrics"],
            "lr_range_test_plot@figure",
            name="plot_lr_range_test",
        ),
        Node(
            plot_grid_search,
            ["grid_search", "best_params"],
            "grid_search_plot@figure",
            name="plot_grid_search",
        ),
        Node(
            plot_training_loss,
            "training_history",
            "training_loss_plot@figure",
            name="plot_training_loss",
        ),
        Node(
            plot_search_history,
            ["recommending_study", "recommending_best_params"],
            "search_history_plot@figure",
            name="plot_search_history",
        ),
        Node(
            plot_search_importances,
            "recommending_study",
            "search_importances_plot@figure",
            name="plot_search_importances",
        ),
        Node(
            plot_group_calibration,
            "ranking_metrics",
            "group_calibration_plot@figure",
            name="plot_group_calibration",
        ),
        Node(plot_tradeoff, "ranking_metrics", "tradeoff_plot@figure", name="plot_tradeoff"),
        Node(
            artist_bias_table,
            ["artist_biases", "params:artist_bias"],
            "artist_bias_report",
            name="artist_bias_table",
        ),
        Node(
            plot_bias_distribution,
            ["artist_bias_report", "params:artist_bias"],
            "artist_bias_plot@figure",
            name="plot_bias_distribution",
        ),
        Node(
            plot_artist_map,
            ["implicit_model", "artist_bias_report", "artist_map", "params:artist_bias"],
            "artist_map_plot@figure",
            name="plot_artist_map",
        ),
        Node(
            example_listeners,
            [
                "interactions",
                "artist_map",
                "recommendations",
                "params:examples.users",
                "params:examples.artists",
                "tag_input",
                "tag_map",
                "params:examples.tags",
            ],
            "example_listeners",
            name="example_listeners",
        ),
        Node(
            build_report,
            {
                "summary": "preprocessing_summary",
                "metrics": "metrics",
                "best_params": "best_params",
                "preprocessing": "params:preprocessing",
                "table": "artist_bias_report",
                "locations": "output_locations",
                "params": "params:artist_bias",
                "ranking": "ranking_metrics",
                "search": "recommending_best_params",
                "implicit": "implicit_settings",
                "examples": "example_listeners",
                "run": "run_info",
                "cold_start": "cold_start_metrics",
                "tag_only": "tag_only_artists",
                "weight_distribution": "weight_distribution_plot@png",
                **{name: f"{name}_plot@png" for name in FIGURES},
            },
            "report",
            name="build_report",
        ),
    ]
    return Pipeline(
        nodes,
        namespace="reporting",
        inputs=INPUTS,
        outputs=OUTPUTS,
        parameters={"params:preprocessing"},
    )
