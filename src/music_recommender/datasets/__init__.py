"""Kedro datasets of this project."""

from music_recommender.datasets.hetrec_dataset import HetrecDataset
from music_recommender.datasets.optional_json_dataset import OptionalJSONDataset
from music_recommender.datasets.optuna_study_dataset import OptunaStudyDataset
from music_recommender.datasets.recommender_dataset import RecommenderDataset
from music_recommender.datasets.spark_parquet_dataset import SparkParquetDataset

__all__ = [
    "HetrecDataset",
    "OptionalJSONDataset",
    "OptunaStudyDataset",
    "RecommenderDataset",
    "SparkParquetDataset",
]
