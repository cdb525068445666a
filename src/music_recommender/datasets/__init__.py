"""Kedro datasets of this project."""

from music_recommender.datasets.hetrec_dataset import HetrecDataset

__all__ = ["HetrecDataset"]
