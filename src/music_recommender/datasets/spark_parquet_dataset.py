"""Parquet written by Spark, optionally partitioned by listener block, read back by either engine.

``conf/spark`` writes the model input with it: Spark's executors write the shards, and training
reads them with pyarrow (``load_as: pandas``, or ``read_blocks`` for one worker's listeners)
instead of collecting every row through the Spark driver.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
from kedro.io.core import AbstractDataset, DatasetError

from music_recommender.atomic import PARTIAL

BLOCK = "listener_block"
_LOAD_AS = ("spark", "pandas")
# Rows in the order the pandas engine writes them, so training on either engine's files sees the
# same row order (and the same shuffles, hence the same numbers).
_ORDER = ("user_index", "artist_index")


def read_blocks(path: str | os.PathLike[str], blocks: list[int] | None = None) -> pd.DataFrame:
    """The rows of ``blocks`` (every block when None) of a listener-block Parquet folder."""
    data = ds.dataset(str(path), format="parquet", partitioning="hive")
    names = [c for c in data.schema.names if c != BLOCK]
    where = None if blocks is None else ds.field(BLOCK).isin([int(b) for b in blocks])
    frame = data.to_table(columns=names, filter=where).to_pandas()
    order = [c for c in _ORDER if c in frame.columns]
    return frame.sort_values(order, ignore_index=True) if order else frame


class SparkParquetDataset(AbstractDataset[Any, Any]):
    """Save a Spark DataFrame as Parquet (whole, or partitioned by ``listener_block``).

    Example catalog entry::

        train_ratings:
          type: music_recommender.datasets.SparkParquetDataset
          filepath: data/spark/05_model_input/train_ratings
          listeners_per_block: 16384  # adds listener_block = user_index // 16384
          load_as: pandas             # training reads the shards with pyarrow

    A local save goes to ``<filepath>.partial-<pid>`` and replaces the old folder only once Spark
    has committed it: a failed job leaves the last good output. On object stores Spark's own
    committer writes in place.
    """

    def __init__(
        self,
        filepath: str,
        listeners_per_block: int | None = None,
        load_as: str = "spark",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if load_as not in _LOAD_AS:
            raise DatasetError(f"{filepath}: load_as must be one of {_LOAD_AS}; got {load_as!r}")
        if listeners_per_block is not None and (
            isinstance(listeners_per_block, bool) or int(listeners_per_block) < 1
        ):
            raise DatasetError(
                f"{filepath}: listeners_per_block must be an integer >= 1; got {listeners_per_block!r}"
            )
        self._filepath = filepath
        self._local = "://" not in filepath or filepath.startswith("file://")
        self._block = listeners_per_block
        self._load_as = load_as
        self.metadata = metadata

    @property
    def _path(self) -> str:
        return self._filepath.removeprefix("file://")

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "listeners_per_block": self._block,
            "load_as": self._load_as,
        }

    def load(self) -> Any:
        """A Spark DataFrame (``load_as: spark``) or a pandas frame read from the shards."""
        if self._load_as == "pandas":
            return read_blocks(self._path if self._local else self._filepath)
        from kedro_datasets._utils.spark_utils import (  # noqa: PLC0415 (the spark extra)
            get_spark_with_remote_support,
        )

        return get_spark_with_remote_support().read.parquet(self._spark_path(self._path))

    def _spark_path(self, path: str) -> str:
        return Path(path).resolve().as_uri() if self._local else path

    def save(self, data: Any) -> None:
        """Write ``data`` (a Spark DataFrame), then swap it in for the previous output."""
        from pyspark.sql import functions as F  # noqa: PLC0415 (the spark extra)

        if self._block:
            if "user_index" not in data.columns:
                raise DatasetError(
                    f"{self._filepath}: listeners_per_block needs a 'user_index' column; "
                    f"got {data.columns}"
                )
            data = data.withColumn(BLOCK, F.floor(F.col("user_index") / self._block).cast("int"))
        writer = data.write.mode("overwrite")
        if self._block:
            writer = writer.partitionBy(BLOCK)
        if not self._local:
            writer.parquet(self._filepath)
            return
        target = Path(self._path)
        partial = target.with_name(f"{target.name}{PARTIAL}{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            writer.parquet(self._spark_path(str(partial)))
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        old = target.with_name(f"{target.name}.old-{os.getpid()}")
        if target.exists():
            target.rename(old)
        partial.rename(target)
        shutil.rmtree(old, ignore_errors=True)

    def _exists(self) -> bool:
        return Path(self._path).exists() if self._local else False

    @property
    def filepath(self) -> PurePosixPath:
        """Where the data lives (the report lists it)."""
        return PurePosixPath(self._path)
