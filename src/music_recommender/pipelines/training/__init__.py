"""The `training` pipeline."""

from music_recommender.pipelines.training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
