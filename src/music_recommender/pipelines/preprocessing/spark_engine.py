"""The Spark engine: the preprocessing rules of ``rules.py`` on Spark DataFrames (``--env spark``).

An engine beside the pandas engine, not one description over an API both run (ibis): the pandas
engine is tuned for one machine (typed columns, one sort, no copies) and ibis would route it
through DuckDB and change its memory. Each rule has one source of truth instead: what must be
identical is shared code in ``rules.py`` (columns, messages, the filter rule, the id maps, the
split's bounds and hash, the scaler), and ``tests/pipelines/preprocessing/test_spark.py`` runs both
engines on the same files and requires the same counts, id maps, split rows and scaler.

Only small tables reach the driver: distinct ids (for the maps, saved as CSV anyway), unnamed
artists, a few sample and bad rows, per-play-count histograms. The rows stay on the executors
and are written as Parquet by the catalog.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from music_recommender.pipelines.preprocessing import pandas_engine
from music_recommender.pipelines.preprocessing.rules import (
    MAX_ID,
    MAX_PLAYS,
    SHOWN_ROWS,
    USER_ARTISTS_COLUMNS,
    FilterParams,
    RawDataError,
    SplitParams,
    UnnamedArtistParams,
    check,
    empty_filter_error,
    id_maps,
    judge_unnamed,
    named,
    require_columns,
    split_bounds,
)
from music_recommender.pmf.scaling import RatingScaler

logger = logging.getLogger(__name__)


def source_of(frame: DataFrame, default: str) -> str:
    """The one file a frame was read from, for messages."""
    try:
        files = frame.inputFiles()
    except Exception:
        files = []
    return files[0].removeprefix("file://") if len(files) == 1 else default


def _shown(bad: DataFrame, count: int, columns: list[str]) -> str:
    """Like the pandas engine's: the count and the first bad rows (Spark has no line numbers)."""
    first = bad.select(*columns).limit(SHOWN_ROWS).toPandas().to_string(index=False)
    more = f"\n  ... and {count - SHOWN_ROWS:,} more" if count > SHOWN_ROWS else ""
    return f"{count:,} row(s), first:\n{first}{more}"


def _number(column: str) -> Any:
    return F.expr(f"try_cast(`{column}` as double)")


def _whole_id(column: str) -> Any:
    """The id as a 64-bit integer; ``3.0`` is accepted as ``3``, as pandas does."""
    return F.coalesce(F.expr(f"try_cast(`{column}` as bigint)"), _number(column).cast("bigint"))


def validate_user_artists(user_artists: DataFrame) -> DataFrame:
    """``validate_user_artists`` on Spark: the same checks, one pass to count them."""
    source = source_of(user_artists, "user_artists.dat")
    require_columns(user_artists, list(USER_ARTISTS_COLUMNS), source)
    raw = list(USER_ARTISTS_COLUMNS)
    frame = user_artists.select(*(F.col(f"`{c}`") for c in raw))
    checks: dict[str, tuple[Any, str]] = {}
    for column in raw:
        checks[f"null {column}"] = (
            F.col(f"`{column}`").isNull(),
            f"column '{column}' has empty values, expected none",
        )
    for column in ("userID", "artistID"):
        value = _number(column)
        checks[f"id {column}"] = (
            F.col(f"`{column}`").isNotNull()
            & (value.isNull() | (value % 1 != 0) | (F.abs(value) >= MAX_ID)),
            f"column '{column}' must hold integer ids (64-bit)",
        )
    weight = _number("weight")
    checks["weight"] = (
        F.col("weight").isNotNull()
        & (weight.isNull() | F.isnan(weight) | (weight <= 0) | (weight > MAX_PLAYS)),
        f"column 'weight' must be a positive number (a play count) of at most {MAX_PLAYS:g}",
    )
    counts = frame.agg(
        F.count(F.lit(1)).alias("rows"),
        *(F.sum(F.when(test, 1).otherwise(0)).alias(key) for key, (test, _) in checks.items()),
    ).first()
    problems = [
        f"{text}: {_shown(frame.where(test), int(counts[key]), raw)}"
        for key, (test, text) in checks.items()
        if counts[key]
    ]
    typed = frame.select(
        _whole_id("userID").alias("user_id"),
        _whole_id("artistID").alias("artist_id"),
        weight.alias("weight"),
    )
    if not problems:
        repeats = typed.groupBy("user_id", "artist_id").count().where("count > 1")
        pairs = int(repeats.agg(F.sum("count")).first()[0] or 0)
        if pairs:
            shown = _shown(
                repeats.drop("count").join(typed, ["user_id", "artist_id"]),
                pairs,
                ["user_id", "artist_id", "weight"],
            )
            problems.append(
                f"columns 'userID', 'artistID' must not repeat a (user, artist) pair: {shown}"
            )
    check(problems, source)
    if not counts["rows"]:
        raise RawDataError(f"{source}: no rows; expected at least one (user, artist, weight) row")
    return typed.localCheckpoint()


def check_artist_names(
    plays: DataFrame, names: pd.DataFrame, params: UnnamedArtistParams, source: str
) -> None:
    """``check_artist_names`` with the per-artist sums done on Spark; only unnamed reach here."""
    per_artist = plays.groupBy("artist_id").agg(F.sum("weight").alias("weight"))
    ids = named(names)[["artist_id"]].astype("int64")
    with_names = plays.sparkSession.createDataFrame(ids, schema="artist_id long")
    totals = per_artist.agg(F.count(F.lit(1)), F.sum("weight")).first()
    unnamed = per_artist.join(with_names, "artist_id", "left_anti").toPandas()
    judge_unnamed(
        unnamed.set_index("artist_id")["weight"], float(totals[1]), int(totals[0]), params, source
    )


def validate_raw_data(
    user_artists: DataFrame, artists: pd.DataFrame, unnamed: UnnamedArtistParams, rule: FilterParams
) -> tuple[DataFrame, pd.DataFrame, DataFrame]:
    """``validate_raw_data`` on Spark; the names file (small) is checked by the pandas engine."""
    if isinstance(artists, DataFrame):
        artists = artists.toPandas()
    plays, names = validate_user_artists(user_artists), pandas_engine.validate_artists(artists)
    check_artist_names(plays, names, unnamed, pandas_engine.source_of(artists, "artists.dat"))
    return plays, names, filter_sparse(plays, rule)


def filter_sparse(plays: DataFrame, params: FilterParams) -> DataFrame:
    """``filter_sparse`` on Spark: the same rules, repeated until a pass removes nothing."""
    frame, rows = plays, plays.count()
    total = rows
    rules = (
        ("artist_id", params.min_listeners_per_artist),
        ("user_id", params.min_artists_per_user),
    )
    while True:
        before = rows
        for key, minimum in rules:
            if minimum > 1:
                keep = frame.groupBy(key).count().where(F.col("count") >= minimum).select(key)
                frame = frame.join(keep, key, "left_semi")
        frame = frame.localCheckpoint()  # a short plan per pass, not one that grows with each
        rows = frame.count()
        if rows == before:
            break
    if not rows:
        raise empty_filter_error(params)
    frame = frame.select("user_id", "artist_id", "weight")  # the joins put their key first
    users, artists = frame.agg(F.countDistinct("user_id"), F.countDistinct("artist_id")).first()
    logger.info(
        "Filter kept %s of %s rows, %s users, %s artists",
        f"{rows:,}",
        f"{total:,}",
        f"{users:,}",
        f"{artists:,}",
    )
    return frame


def sorted_ids(frame: DataFrame, column: str) -> np.ndarray:
    """The distinct ids of ``column``, sorted (collected: one column of distinct ids)."""
    ids = frame.select(column).distinct().toPandas()[column].to_numpy(dtype=np.int64)
    return np.sort(ids)


def pairs_of_artists(frame: DataFrame, artist_ids: np.ndarray) -> pd.DataFrame:
    """The (user_id, artist_id) rows of these artists, collected: callers pass artists below the
    listener filter, so at most (min_listeners - 1) rows each."""
    ids = [int(a) for a in artist_ids]
    rows = frame.filter(F.col("artist_id").isin(ids)).select("user_id", "artist_id")
    return rows.toPandas().astype(np.int64)


def index_ids(
    plays: DataFrame, artists: pd.DataFrame
) -> tuple[DataFrame, pd.DataFrame, pd.DataFrame]:
    """``index_ids`` on Spark: the maps from the sorted distinct ids, the rows joined to them."""
    user_map, artist_map = id_maps(
        sorted_ids(plays, "user_id"), sorted_ids(plays, "artist_id"), artists
    )
    spark = plays.sparkSession
    users = spark.createDataFrame(user_map[["user_id", "user_index"]])
    items = spark.createDataFrame(artist_map[["artist_id", "artist_index"]])
    rows = plays.join(F.broadcast(users), "user_id").join(items, "artist_id")
    rows = rows.select(
        F.col("user_index").cast("long"),
        F.col("artist_index").cast("long"),
        "user_id",
        "artist_id",
        "weight",
    )
    return rows.localCheckpoint(), user_map, artist_map


def _with_first_uncovered(frame: DataFrame, key: str, order: str) -> DataFrame:
    """Move into train one held-out row (the smallest ``order``) of each ``key`` train lacks."""
    covered = frame.where("part = 0").select(key).distinct()
    first = (
        frame.where("part > 0")
        .join(covered, key, "left_anti")
        .groupBy(key)
        .agg(F.min(order).alias(order))
        .withColumn("moved", F.lit(True))
    )
    return (
        frame.join(first, [key, order], "left")
        .withColumn("part", F.when(F.col("moved"), F.lit(0)).otherwise(F.col("part")))
        .drop("moved")
    )


def split_interactions(
    interactions: DataFrame, params: SplitParams
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """``split_interactions`` on Spark: Spark's own ``xxhash64`` is ``row_hash.xxhash64``."""
    hashed = F.xxhash64(
        F.lit(params.seed).cast("long"),
        F.col("user_id").cast("long"),
        F.col("artist_id").cast("long"),
    )
    draw = F.shiftrightunsigned(hashed, 11).cast("double") / float(2**53)
    train_below, validation_below = split_bounds(params)
    part = F.when(draw < train_below, 0).when(draw < validation_below, 1).otherwise(2)
    frame = interactions.withColumn("part", part)
    if params.ensure_train_coverage:
        frame = _with_first_uncovered(frame, "user_index", "artist_index")
        frame = _with_first_uncovered(frame, "artist_index", "user_index")
    frame = frame.select("user_index", "artist_index", "weight", "part").localCheckpoint()
    parts = tuple(frame.where(F.col("part") == k).drop("part") for k in range(3))
    counts = dict(frame.groupBy("part").count().collect())
    logger.info(
        "Split %s rows into %s / %s / %s",
        f"{sum(counts.values()):,}",
        *(f"{counts.get(k, 0):,}" for k in range(3)),
    )
    return parts  # type: ignore[return-value]


def _forward(weight: Any, method: str) -> Any:
    return F.log1p(weight) if method == "log_zscore" else weight


def apply_scaler(split: DataFrame, scaler: dict[str, Any]) -> DataFrame:
    """``apply_scaler`` on Spark: the same formula, float32 ``rating``."""
    fitted = RatingScaler.from_dict(scaler)
    rating = (_forward(F.col("weight"), fitted.method) - fitted.mean) / fitted.std
    return split.withColumn("rating", rating.cast("float"))


def stats(frame: DataFrame) -> dict[str, float]:
    """``stats`` on Spark: one aggregation (the median exact, as pandas')."""
    row = frame.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("user_id").alias("users"),
        F.countDistinct("artist_id").alias("artists"),
        F.avg("weight").alias("mean"),
        F.stddev_samp("weight").alias("std"),
        F.min("weight").alias("min"),
        F.expr("percentile(weight, 0.5)").alias("median"),
        F.max("weight").alias("max"),
    ).first()
    return {k: (float("nan") if v is None else v) for k, v in row.asDict().items()}


def null_counts(frame: DataFrame) -> dict[str, int]:
    """Empty values per column, as ``DataFrame.isna().sum()``."""
    row = frame.agg(
        *(F.sum(F.col(f"`{c}`").isNull().cast("int")).alias(c) for c in frame.columns)
    ).first()
    return {c: int(row[c] or 0) for c in frame.columns}


def head(frame: DataFrame, rows: int) -> pd.DataFrame:
    """The first rows as pandas; columns Spark read as text become numbers where all are numbers."""
    sample = frame.limit(rows).toPandas()
    for column in sample.columns:
        if not pd.api.types.is_numeric_dtype(sample[column]):
            numbers = pd.to_numeric(sample[column], errors="coerce")
            if numbers.notna().sum() == sample[column].notna().sum():
                sample[column] = numbers
    return sample


def weight_counts(frame: DataFrame) -> pd.Series:
    """Rows per play count, as ``value_counts().sort_index()``."""
    counts = frame.groupBy("weight").count().toPandas()
    return counts.set_index("weight")["count"].sort_index().rename_axis("weight")


def count(frame: DataFrame) -> int:
    """Rows (a Spark job)."""
    return int(frame.count())
