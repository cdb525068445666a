"""The `preprocessing` pipeline."""

from music_recommender.pipelines.preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
