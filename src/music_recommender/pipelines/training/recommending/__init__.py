"""``training.recommending``: the implicit-feedback model that recommends."""

from music_recommender.pipelines.training.recommending.pipeline import create_pipeline

__all__ = ["create_pipeline"]
