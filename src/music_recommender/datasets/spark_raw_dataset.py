"""The raw play counts as a Spark DataFrame, with the base catalog's message when a file is absent.

Imported only by ``conf/spark``'s catalog (kedro-datasets' Spark module needs pyspark).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro_datasets.spark import SparkDatasetV2

from music_recommender.hetrec import RawDataMissingError, missing_data_message


class SparkRawDataset(SparkDatasetV2):
    """``spark.SparkDatasetV2`` that names a missing local file in one message, as the base run does.

    Spark reads the files where they are; it does not fetch them (a plain ``kedro run`` does).
    """

    def _load(self) -> Any:
        """The file as a Spark DataFrame; ``RawDataMissingError`` when a local file is absent."""
        if self._protocol == "file" and not Path(self._path).exists():
            path = Path(self._path)
            raise RawDataMissingError(
                missing_data_message(
                    path.parent,
                    [path.name],
                    None,
                    "the Spark environment reads the files where they are; a plain `kedro run` "
                    "fetches them",
                )
            )
        return super()._load()
