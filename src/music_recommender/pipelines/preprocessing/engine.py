"""The one dispatch point between the preprocessing nodes and an engine (pandas or Spark).

The catalog picks the engine by the frames it hands over (``conf/spark`` reads the play counts
as Spark DataFrames); ``engine_for`` returns the module that implements the ``Engine`` functions
for that kind of frame. pyspark is imported only when a Spark frame arrives (it is an extra).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from music_recommender.pipelines.preprocessing import pandas_engine
from music_recommender.pipelines.preprocessing.rules import (
    FilterParams,
    SplitParams,
    UnnamedArtistParams,
)


class Engine(Protocol):
    """What an engine provides: each function applies ``rules.py`` to that engine's frames."""

    def validate_raw_data(
        self, user_artists: Any, artists: Any, unnamed: UnnamedArtistParams, rule: FilterParams
    ) -> tuple[Any, pd.DataFrame, Any]: ...
    def index_ids(
        self, user_artists: Any, artists: pd.DataFrame
    ) -> tuple[Any, pd.DataFrame, pd.DataFrame]: ...
    def split_interactions(
        self, interactions: Any, params: SplitParams
    ) -> tuple[Any, Any, Any]: ...
    def weight_counts(self, frame: Any) -> pd.Series: ...
    def apply_scaler(self, split: Any, scaler: dict[str, Any]) -> Any: ...
    def stats(self, frame: Any) -> dict[str, float]: ...
    def count(self, frame: Any) -> int: ...
    def null_counts(self, frame: Any) -> dict[str, int]: ...
    def head(self, frame: Any, rows: int) -> pd.DataFrame: ...
    def sorted_ids(self, frame: Any, column: str) -> np.ndarray: ...
    def pairs_of_artists(self, frame: Any, artist_ids: np.ndarray) -> pd.DataFrame: ...


def is_spark(frame: object) -> bool:
    """Whether the catalog handed over a Spark DataFrame rather than a pandas one."""
    return type(frame).__module__.startswith("pyspark.")


def engine_for(frame: object) -> Engine:
    """The engine module for this kind of frame."""
    if is_spark(frame):
        from music_recommender.pipelines.preprocessing import spark_engine  # noqa: PLC0415

        return spark_engine  # type: ignore[return-value]
    return pandas_engine  # type: ignore[return-value]
