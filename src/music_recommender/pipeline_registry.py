"""Project pipelines, imported explicitly so `kedro run --pipelines X` works for every name."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from music_recommender.pipelines import preprocessing, reporting, training, tuning


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; `__default__` runs them all in dependency order."""
    pipelines = {
        "preprocessing": preprocessing.create_pipeline(),
        "tuning": tuning.create_pipeline(),
        "training": training.create_pipeline(),
        "reporting": reporting.create_pipeline(),
    }
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
