"""The `reporting` pipeline."""

from music_recommender.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
