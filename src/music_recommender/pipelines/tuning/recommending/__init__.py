"""``tuning.recommending``: a seeded Optuna search over the implicit recommender's settings."""

from music_recommender.pipelines.tuning.recommending.pipeline import create_pipeline

__all__ = ["create_pipeline"]
