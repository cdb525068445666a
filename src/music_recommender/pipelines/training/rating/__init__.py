"""``training.rating``: the article's rating model."""

from music_recommender.pipelines.training.rating.pipeline import create_pipeline, fit_pipeline

__all__ = ["create_pipeline", "fit_pipeline"]
