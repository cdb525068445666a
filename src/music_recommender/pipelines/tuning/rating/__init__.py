"""``tuning.rating``: the article's LR range test and latent-size grid for the rating model."""

from music_recommender.pipelines.tuning.rating.pipeline import create_pipeline

__all__ = ["create_pipeline"]
