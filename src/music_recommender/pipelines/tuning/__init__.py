"""The `tuning` pipeline."""

from music_recommender.pipelines.tuning.pipeline import create_pipeline

__all__ = ["create_pipeline"]
