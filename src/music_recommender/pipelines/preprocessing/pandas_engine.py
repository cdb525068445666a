"""The pandas engine: the preprocessing rules of ``rules.py`` on pandas frames, on one machine.

Tuned for one machine: typed columns, one sort, no copies. The Spark engine (``spark_engine``)
has the same functions; ``engine.engine_for`` picks one from the frame the catalog hands over.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.pipelines.preprocessing.rules import (
    ARTISTS_COLUMNS,
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
from music_recommender.row_hash import unit_draws

logger = logging.getLogger(__name__)


def source_of(frame: pd.DataFrame, default: str) -> str:
    """The file a frame was read from (the raw datasets record it), for messages."""
    return str(frame.attrs.get("source", default))


def quoted_rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> str:
    """The first bad rows, numbered as lines of the file, for a message a user can act on."""
    bad = frame[np.asarray(mask)].head(SHOWN_ROWS)
    count = int(np.asarray(mask).sum())
    # Number rows as lines of the file (line 1 is the header) so a user can open it there.
    shown = bad.set_axis(pd.Index(bad.index + 2, name="line")).to_string()
    more = f"\n  ... and {count - SHOWN_ROWS:,} more" if count > SHOWN_ROWS else ""
    return f"{count:,} row(s), first:\n{shown}{more}"


def integer_problems(frame: pd.DataFrame, column: str) -> pd.Series:
    """Rows whose value is not a whole number (nulls are reported separately)."""
    values = pd.to_numeric(frame[column], errors="coerce")
    present = frame[column].notna()
    too_big = values.abs() >= MAX_ID
    return present & (values.isna() | (values % 1 != 0) | too_big)


def _pair_keys(first: pd.Series, second: pd.Series) -> np.ndarray | None:
    """One int64 per row that orders and tells apart (first, second) pairs of integer columns;
    None when they are not int64 or their ranges' product would not fit."""
    if not (first.dtype == np.int64 and second.dtype == np.int64) or first.empty:
        return None
    a, b = first.to_numpy(), second.to_numpy()
    low_a, low_b = int(a.min()), int(b.min())
    span_a, span_b = int(a.max()) - low_a + 1, int(b.max()) - low_b + 1
    if span_a * span_b >= 2**63:
        return None
    return (a - low_a) * span_b + (b - low_b)


def repeated_pairs(first: pd.Series, second: pd.Series) -> np.ndarray:
    """Every row whose (first, second) pair occurs more than once: ``DataFrame.duplicated(...,
    keep=False)``; one sort of one int64 key where the ids allow (17 M rows: 0.6 s, not 8 s)."""
    keys = _pair_keys(first, second)
    if keys is None:
        frame = pd.DataFrame({"a": first, "b": second})
        return frame.duplicated(["a", "b"], keep=False).to_numpy()
    order = np.argsort(keys, kind="stable")
    in_order = keys[order]
    same = in_order[1:] == in_order[:-1]
    repeated = np.zeros(len(keys), dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    out = np.empty_like(repeated)
    out[order] = repeated
    return out


def validate_user_artists(user_artists: pd.DataFrame) -> pd.DataFrame:
    """Stop the run on bad play counts before anything downstream is written."""
    source = source_of(user_artists, "user_artists.dat")
    require_columns(user_artists, list(USER_ARTISTS_COLUMNS), source)
    frame = user_artists[list(USER_ARTISTS_COLUMNS)]
    problems = []
    for column in USER_ARTISTS_COLUMNS:
        nulls = frame[column].isna()
        if nulls.any():
            problems.append(
                f"column '{column}' has empty values, expected none: {quoted_rows(frame, nulls)}"
            )
    for column in ("userID", "artistID"):
        bad = integer_problems(frame, column)
        if bad.any():
            problems.append(
                f"column '{column}' must hold integer ids (64-bit): {quoted_rows(frame, bad)}"
            )
    weight = pd.to_numeric(frame["weight"], errors="coerce")
    bad = frame["weight"].notna() & ~(np.isfinite(weight) & (weight > 0) & (weight <= MAX_PLAYS))
    if bad.any():
        problems.append(
            f"column 'weight' must be a positive number (a play count) of at most {MAX_PLAYS:g}: "
            f"{quoted_rows(frame, bad)}"
        )
    dup = repeated_pairs(frame["userID"], frame["artistID"])
    if dup.any():
        problems.append(
            f"columns 'userID', 'artistID' must not repeat a (user, artist) pair: {quoted_rows(frame, dup)}"
        )
    check(problems, source)
    if frame.empty:
        raise RawDataError(f"{source}: no rows; expected at least one (user, artist, weight) row")
    return pd.DataFrame(
        {
            "user_id": frame["userID"].astype("int64"),
            "artist_id": frame["artistID"].astype("int64"),
            "weight": weight.astype("float64"),
        }
    ).reset_index(drop=True)


def validate_artists(artists: pd.DataFrame) -> pd.DataFrame:
    """Keep the id -> name table the reports join on, refusing duplicate or non-integer ids."""
    source = source_of(artists, "artists.dat")
    require_columns(artists, list(ARTISTS_COLUMNS), source)
    frame = artists[list(ARTISTS_COLUMNS)]
    problems = []
    nulls = frame["id"].isna()
    if nulls.any():
        problems.append(f"column 'id' has empty values, expected none: {quoted_rows(frame, nulls)}")
    bad = integer_problems(frame, "id")
    if bad.any():
        problems.append(f"column 'id' must hold integer ids: {quoted_rows(frame, bad)}")
    dup = frame["id"].notna() & frame.duplicated("id", keep=False)
    if dup.any():
        problems.append(f"column 'id' must not repeat an artist: {quoted_rows(frame, dup)}")
    check(problems, source)
    names = frame["name"].astype("string").fillna("")
    return pd.DataFrame(
        {"artist_id": frame["id"].astype("int64"), "artist_name": names.str.strip()}
    ).reset_index(drop=True)


def check_artist_names(
    user_artists: pd.DataFrame, artists: pd.DataFrame, params: UnnamedArtistParams, source: str
) -> None:
    """Stop when the played artist ids are largely missing from artists.dat; warn when a few are."""
    plays = user_artists.groupby("artist_id")["weight"].sum()
    unnamed = plays[~plays.index.isin(named(artists)["artist_id"])]
    judge_unnamed(unnamed, float(plays.sum()), len(plays), params, source)


def validate_raw_data(
    user_artists: pd.DataFrame,
    artists: pd.DataFrame,
    unnamed: UnnamedArtistParams,
    rule: FilterParams,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Both raw files checked together, and the filter's result, before any of them is saved.

    A run with a bad file, names that do not match or a filter that keeps nothing stops here,
    with the intermediate layer as the last good run left it.
    """
    plays, names = validate_user_artists(user_artists), validate_artists(artists)
    check_artist_names(plays, names, unnamed, source_of(artists, "artists.dat"))
    return plays, names, filter_sparse(plays, rule)


def filter_sparse(user_artists: pd.DataFrame, params: FilterParams) -> pd.DataFrame:
    """Drop artists with too few listeners and users with too few artists, until both rules hold."""
    frame = user_artists
    while True:
        before = len(frame)
        if params.min_listeners_per_artist > 1:
            listeners = frame.groupby("artist_id")["user_id"].transform("size")
            frame = frame[listeners >= params.min_listeners_per_artist]
        if params.min_artists_per_user > 1:
            artists = frame.groupby("user_id")["artist_id"].transform("size")
            frame = frame[artists >= params.min_artists_per_user]
        if len(frame) == before:
            break
    if frame.empty:
        raise empty_filter_error(params)
    logger.info(
        "Filter kept %s of %s rows, %s users, %s artists",
        f"{len(frame):,}",
        f"{len(user_artists):,}",
        f"{frame['user_id'].nunique():,}",
        f"{frame['artist_id'].nunique():,}",
    )
    return frame.reset_index(drop=True)


def sorted_ids(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The distinct ids of ``column``, sorted."""
    return np.sort(frame[column].unique())


def pairs_of_artists(frame: pd.DataFrame, artist_ids: np.ndarray) -> pd.DataFrame:
    """The (user_id, artist_id) rows of these artists (as pandas)."""
    rows = frame[frame["artist_id"].isin(artist_ids)]
    return rows[["user_id", "artist_id"]].reset_index(drop=True)


def index_ids(
    user_artists: pd.DataFrame, artists: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Number users and artists 0..n-1 (embedding rows) and keep the maps back to ids and names."""
    user_ids = sorted_ids(user_artists, "user_id")
    artist_ids = sorted_ids(user_artists, "artist_id")
    user_map, artist_map = id_maps(user_ids, artist_ids, artists)
    interactions = pd.DataFrame(
        {
            "user_index": np.searchsorted(user_ids, user_artists["user_id"].to_numpy()),
            "artist_index": np.searchsorted(artist_ids, user_artists["artist_id"].to_numpy()),
            "user_id": user_artists["user_id"].to_numpy(),
            "artist_id": user_artists["artist_id"].to_numpy(),
            "weight": user_artists["weight"].to_numpy(),
        }
    )
    # Rows by (listener, artist): one int64 key's stable argsort, skipped when already in order
    # (17 M rows: 0.5 s, where a two-column sort_values takes 9 s).
    keys = _pair_keys(interactions["user_index"], interactions["artist_index"])
    if keys is None:  # no rows, or indices that are not int64
        interactions = interactions.sort_values(["user_index", "artist_index"], ignore_index=True)
    elif len(keys) > 1 and not bool(np.all(keys[1:] >= keys[:-1])):
        interactions = interactions.take(np.argsort(keys, kind="stable")).reset_index(drop=True)
    return interactions, user_map, artist_map


def _first_uncovered(holdout: pd.DataFrame, covered: np.ndarray, column: str) -> pd.Index:
    """Index of one held-out row for each value of `column` that train does not contain."""
    missing = holdout[~np.isin(holdout[column].to_numpy(), covered)]
    return missing.drop_duplicates(column).index


def split_interactions(
    interactions: pd.DataFrame, params: SplitParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Seeded random split of rows into train, validation and test.

    Each row's part comes from a seeded hash of its (user id, artist id), compared with the
    cumulative fractions: no permutation of all rows, the same rows on pandas and on Spark, and a
    row keeps its part when other rows come or go. The parts' sizes are the fractions up to
    sampling noise (about 0.1 % of the rows at hetrec's 92 k).
    """
    n = len(interactions)
    draws = unit_draws(
        params.seed, interactions["user_id"].to_numpy(), interactions["artist_id"].to_numpy()
    )
    train_below, validation_below = split_bounds(params)
    part = np.where(draws < train_below, 0, np.where(draws < validation_below, 1, 2))
    part = part.astype(np.int8)
    if params.ensure_train_coverage:
        for column in ("user_index", "artist_index"):
            in_train = interactions.loc[part == 0, column].unique()
            moved = _first_uncovered(interactions[part > 0], in_train, column)
            part[moved] = 0
    cols = ["user_index", "artist_index", "weight"]
    train, val, test = (interactions.loc[part == k, cols].reset_index(drop=True) for k in range(3))
    logger.info(
        "Split %s rows into %s / %s / %s",
        f"{n:,}",
        f"{len(train):,}",
        f"{len(val):,}",
        f"{len(test):,}",
    )
    return train, val, test


def weight_counts(frame: pd.DataFrame) -> pd.Series:
    """How many rows have each play count: the histograms' input, small whatever the rows."""
    return frame["weight"].value_counts(sort=False).sort_index()


def apply_scaler(split: pd.DataFrame, scaler: dict[str, Any]) -> pd.DataFrame:
    """Add the model's target column ``rating`` (float32, as the model trains in float32)."""
    rating = RatingScaler.from_dict(scaler).transform(split["weight"].to_numpy())
    return split.assign(rating=rating.astype(np.float32))


def stats(frame: pd.DataFrame) -> dict[str, float]:
    """Rows, distinct users and artists, and the weight's moments: the numbers the EDA needs."""
    weight = frame["weight"]
    return {
        "rows": len(frame),
        "users": frame["user_id"].nunique(),
        "artists": frame["artist_id"].nunique(),
        "mean": weight.mean(),
        "std": weight.std(),
        "min": weight.min(),
        "median": weight.median(),
        "max": weight.max(),
    }


def count(frame: pd.DataFrame) -> int:
    """Rows."""
    return len(frame)


def null_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Empty values per column."""
    return {c: int(n) for c, n in frame.isna().sum().items()}


def head(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The first rows."""
    return frame.head(rows)
