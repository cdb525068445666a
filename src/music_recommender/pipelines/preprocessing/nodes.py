"""Preprocessing nodes: validate, filter, index, split and scale the Last.fm play counts.

Every node is a pure function of frames and parameters; the catalog does all reading and writing.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from music_recommender.parameters import check_field_types
from music_recommender.row_hash import unit_draws
from music_recommender.scaling import METHODS, RatingScaler

logger = logging.getLogger(__name__)

# Raw header -> canonical name used from the intermediate layer on.
USER_ARTISTS_COLUMNS = {"userID": "user_id", "artistID": "artist_id", "weight": "weight"}
ARTISTS_COLUMNS = {"id": "artist_id", "name": "artist_name"}
_SHOWN_ROWS = 5


class RawDataError(ValueError):
    """Raw data breaks an expectation; the message names the file, column and first bad rows."""


def is_spark(frame: object) -> bool:
    """Whether the catalog handed this node a Spark DataFrame (``conf/spark``) rather than pandas.

    The catalog picks the engine: every node below takes either kind of frame and runs the same
    rules on it, on Spark through ``spark_nodes`` (imported only then: pyspark is an extra).
    """
    return type(frame).__module__.startswith("pyspark.")


def _spark_nodes() -> Any:
    from music_recommender.pipelines.preprocessing import spark_nodes  # noqa: PLC0415 (pyspark)

    return spark_nodes


@dataclass(frozen=True)
class FilterParams:
    """Sparsity filter (``preprocessing.filter``); 0 turns a rule off."""

    min_listeners_per_artist: int = 5
    min_artists_per_user: int = 0

    def __post_init__(self) -> None:
        check_field_types(self, "preprocessing.filter")
        for name in ("min_listeners_per_artist", "min_artists_per_user"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"preprocessing.filter.{name} must be an integer >= 0; got {value!r}"
                )


@dataclass(frozen=True)
class SplitParams:
    """Seeded row split (``preprocessing.split``); fractions must sum to 1."""

    train: float = 0.7
    validation: float = 0.1
    test: float = 0.2
    seed: int = 42
    # Move the fewest held-out rows into train so every user and artist is seen in training.
    ensure_train_coverage: bool = True

    def __post_init__(self) -> None:
        check_field_types(self, "preprocessing.split")
        fractions = {"train": self.train, "validation": self.validation, "test": self.test}
        for name, value in fractions.items():
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(
                    f"preprocessing.split.{name} must be a number in [0, 1]; got {value!r}"
                )
        if self.train <= 0:
            raise ValueError(f"preprocessing.split.train must be > 0; got {self.train!r}")
        if not np.isclose(sum(fractions.values()), 1.0):
            raise ValueError(
                "preprocessing.split train + validation + test must sum to 1; got "
                f"{self.train} + {self.validation} + {self.test} = {sum(fractions.values()):g}"
            )


@dataclass(frozen=True)
class UnnamedArtistParams:
    """How many played artist ids may lack a name in artists.dat (``preprocessing.unnamed_artists``).

    A few unnamed ids are normal (the real file lacks some) and get the name ``artist <id>``; many,
    or a heavily played one, mean the two files do not belong together.
    """

    max_play_share: float = 0.01  # stop if one unnamed artist carries more than this share of plays
    max_id_share: float = 0.5  # stop if more than this share of played artist ids is unnamed

    def __post_init__(self) -> None:
        check_field_types(self, "preprocessing.unnamed_artists")
        for name in ("max_play_share", "max_id_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(
                    f"preprocessing.unnamed_artists.{name} must be in [0, 1]; "
                    f"got {getattr(self, name)!r}"
                )


# --------------------------------------------------------------------------- validation


def _source(frame: pd.DataFrame, default: str) -> str:
    return str(frame.attrs.get("source", default))


def _rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> str:
    bad = frame[np.asarray(mask)].head(_SHOWN_ROWS)
    count = int(np.asarray(mask).sum())
    # Number rows as lines of the file (line 1 is the header) so a user can open it there.
    shown = bad.set_axis(pd.Index(bad.index + 2, name="line")).to_string()
    more = f"\n  ... and {count - _SHOWN_ROWS:,} more" if count > _SHOWN_ROWS else ""
    return f"{count:,} row(s), first:\n{shown}{more}"


def _require_columns(frame: pd.DataFrame, required: list[str], source: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise RawDataError(
            f"{source}: missing column(s) {missing}; expected {required} (found {list(frame.columns)})"
        )


def _integer_problems(frame: pd.DataFrame, column: str) -> pd.Series:
    """Rows whose value is not a whole number (nulls are reported separately)."""
    values = pd.to_numeric(frame[column], errors="coerce")
    present = frame[column].notna()
    # Ids are stored as int64: a larger one would wrap around, not fail.
    too_big = values.abs() >= float(2**63)
    return present & (values.isna() | (values % 1 != 0) | too_big)


def _check(problems: list[str], source: str) -> None:
    if problems:
        raise RawDataError(f"{source} is not valid:\n- " + "\n- ".join(problems))


def validate_user_artists(user_artists: pd.DataFrame) -> pd.DataFrame:
    """Stop the run on bad play counts before anything downstream is written."""
    source = _source(user_artists, "user_artists.dat")
    _require_columns(user_artists, list(USER_ARTISTS_COLUMNS), source)
    frame = user_artists[list(USER_ARTISTS_COLUMNS)]
    problems = []
    for column in USER_ARTISTS_COLUMNS:
        nulls = frame[column].isna()
        if nulls.any():
            problems.append(
                f"column '{column}' has empty values, expected none: {_rows(frame, nulls)}"
            )
    for column in ("userID", "artistID"):
        bad = _integer_problems(frame, column)
        if bad.any():
            problems.append(
                f"column '{column}' must hold integer ids (64-bit): {_rows(frame, bad)}"
            )
    weight = pd.to_numeric(frame["weight"], errors="coerce")
    bad = frame["weight"].notna() & ~(np.isfinite(weight) & (weight > 0))
    if bad.any():
        problems.append(
            f"column 'weight' must be a positive number (a play count): {_rows(frame, bad)}"
        )
    dup = frame.duplicated(["userID", "artistID"], keep=False)
    if dup.any():
        problems.append(
            f"columns 'userID', 'artistID' must not repeat a (user, artist) pair: {_rows(frame, dup)}"
        )
    _check(problems, source)
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
    source = _source(artists, "artists.dat")
    _require_columns(artists, list(ARTISTS_COLUMNS), source)
    frame = artists[list(ARTISTS_COLUMNS)]
    problems = []
    nulls = frame["id"].isna()
    if nulls.any():
        problems.append(f"column 'id' has empty values, expected none: {_rows(frame, nulls)}")
    bad = _integer_problems(frame, "id")
    if bad.any():
        problems.append(f"column 'id' must hold integer ids: {_rows(frame, bad)}")
    dup = frame["id"].notna() & frame.duplicated("id", keep=False)
    if dup.any():
        problems.append(f"column 'id' must not repeat an artist: {_rows(frame, dup)}")
    _check(problems, source)
    names = frame["name"].astype("string").fillna("")
    return pd.DataFrame(
        {"artist_id": frame["id"].astype("int64"), "artist_name": names.str.strip()}
    ).reset_index(drop=True)


def check_artist_names(
    user_artists: pd.DataFrame, artists: pd.DataFrame, params: UnnamedArtistParams, source: str
) -> None:
    """Stop when the played artist ids are largely missing from artists.dat; warn when a few are."""
    plays = user_artists.groupby("artist_id")["weight"].sum()
    unnamed = plays[~plays.index.isin(artists["artist_id"])]
    judge_unnamed(unnamed, float(plays.sum()), len(plays), params, source)


def judge_unnamed(
    unnamed: pd.Series, total_plays: float, played: int, params: UnnamedArtistParams, source: str
) -> None:
    """Stop or warn given the plays of each unnamed artist id (either engine sums them)."""
    if unnamed.empty:
        return
    ids = ", ".join(str(int(i)) for i in unnamed.sort_values(ascending=False).index[:5])
    share = unnamed / total_plays
    facts = (
        f"{len(unnamed):,} of {played:,} played artist ids have no name in {source} "
        f"(most played first: {ids}; the largest carries {share.max():.2%} of all plays)"
    )
    if share.max() > params.max_play_share or len(unnamed) > params.max_id_share * played:
        raise RawDataError(
            f"{facts}: more than preprocessing.unnamed_artists allows "
            f"(max_play_share {params.max_play_share}, max_id_share {params.max_id_share}); "
            "check that user_artists.dat and artists.dat come from the same dataset"
        )
    logger.warning("%s; they are named 'artist <id>'", facts)


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
    if is_spark(user_artists):
        return _spark_nodes().validate_raw_data(user_artists, artists, unnamed, rule)
    plays, names = validate_user_artists(user_artists), validate_artists(artists)
    check_artist_names(plays, names, unnamed, _source(artists, "artists.dat"))
    return plays, names, filter_sparse(plays, rule)


# --------------------------------------------------------------------------- filter and index


def empty_filter_error(params: FilterParams) -> RawDataError:
    """The message when the sparsity filter keeps nothing, on either engine."""
    return RawDataError(
        "the sparsity filter removed every row: lower preprocessing.filter.min_listeners_per_artist "
        f"({params.min_listeners_per_artist}) or min_artists_per_user ({params.min_artists_per_user})"
    )


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


def id_maps(
    user_ids: np.ndarray, artist_ids: np.ndarray, artists: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The maps from sorted unique ids to 0..n-1 (and names): the same on either engine."""
    user_map = pd.DataFrame({"user_id": user_ids, "user_index": np.arange(len(user_ids))})
    names = artists.set_index("artist_id")["artist_name"]
    artist_names = names.reindex(artist_ids)
    if artist_names.isna().any():  # allowed and reported by check_artist_names
        artist_names = artist_names.fillna(
            pd.Series([f"artist {i}" for i in artist_ids], index=artist_ids)
        )
    artist_map = pd.DataFrame(
        {
            "artist_id": artist_ids,
            "artist_index": np.arange(len(artist_ids)),
            "artist_name": artist_names.to_numpy(),
        }
    )
    return user_map, artist_map


def index_ids(
    user_artists: pd.DataFrame, artists: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Number users and artists 0..n-1 (embedding rows) and keep the maps back to ids and names."""
    if is_spark(user_artists):
        return _spark_nodes().index_ids(user_artists, artists)
    user_ids = np.sort(user_artists["user_id"].unique())
    artist_ids = np.sort(user_artists["artist_id"].unique())
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
    interactions = interactions.sort_values(["user_index", "artist_index"], ignore_index=True)
    return interactions, user_map, artist_map


def index_and_publish(
    user_artists: pd.DataFrame, artists: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``index_ids``, its rows returned twice: published as ``interactions`` and handed on in memory.

    The split reads the in-memory copy, in the engine's own frame type; the published file is what
    the other pipelines read (as pandas, in every environment). No copy is made.
    """
    interactions, user_map, artist_map = index_ids(user_artists, artists)
    return interactions, interactions, user_map, artist_map


def describe_ids(user_map: pd.DataFrame, artist_map: pd.DataFrame) -> dict[str, Any]:
    """Embedding table sizes from the full id maps, and a fingerprint that a model file keeps.

    Every model is sized from here, never from a subset of rows: a listener or artist absent from
    one split still has a row. The fingerprint tells whether a saved model fits today's maps.
    """
    digest = hashlib.sha256()
    for column in (user_map["user_id"], artist_map["artist_id"]):
        digest.update(np.ascontiguousarray(column.to_numpy(dtype=np.int64)).tobytes())
        digest.update(b"|")
    return {
        "n_users": len(user_map),
        "n_items": len(artist_map),
        "fingerprint": digest.hexdigest()[:16],
    }


# --------------------------------------------------------------------------- split and scale


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
    if is_spark(interactions):
        return _spark_nodes().split_interactions(interactions, params)
    n = len(interactions)
    draws = unit_draws(
        params.seed, interactions["user_id"].to_numpy(), interactions["artist_id"].to_numpy()
    )
    part = np.where(
        draws < params.train, 0, np.where(draws < params.train + params.validation, 1, 2)
    )
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


def _weight_counts(frame: pd.DataFrame) -> pd.Series:
    """How many rows have each play count: the histograms' input, small whatever the rows."""
    if is_spark(frame):
        return _spark_nodes().weight_counts(frame)
    return frame["weight"].value_counts(sort=False).sort_index()


def fit_scaler(train: pd.DataFrame, normalisation: str) -> dict[str, Any]:
    """Fit the rating scale on train weights; kept so predictions map back to play counts."""
    if normalisation not in METHODS:
        raise ValueError(
            f"preprocessing.normalisation must be one of {', '.join(METHODS)}; got {normalisation!r}"
        )
    # From the rows per play count (RatingScaler.fit_counts): the same floats from either engine.
    counts = _weight_counts(train)
    return RatingScaler.fit_counts(counts.index, counts, normalisation).to_dict()


def apply_scaler(split: pd.DataFrame, scaler: dict[str, Any]) -> pd.DataFrame:
    """Add the model's target column ``rating`` (float32, as the model trains in float32)."""
    if is_spark(split):
        return _spark_nodes().apply_scaler(split, scaler)
    rating = RatingScaler.from_dict(scaler).transform(split["weight"].to_numpy())
    return split.assign(rating=rating.astype(np.float32))


# --------------------------------------------------------------------------- EDA


def _stats(frame: pd.DataFrame) -> dict[str, float]:
    """Rows, distinct users and artists, and the weight's moments: the numbers ``_facts`` needs."""
    if is_spark(frame):
        return _spark_nodes().stats(frame)
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


def _facts(frame: pd.DataFrame) -> dict[str, Any]:
    stats = _stats(frame)
    rows, users, artists = (int(stats[k]) for k in ("rows", "users", "artists"))
    density = rows / (users * artists) if users and artists else 0.0
    return {
        "rows": rows,
        "users": users,
        "artists": artists,
        "density": density,
        "density_percent": round(100 * density, 2),
        "weight": {k: float(stats[k]) for k in ("mean", "std", "min", "median", "max")},
    }


def _count(frame: pd.DataFrame) -> int:
    return int(frame.count()) if is_spark(frame) else len(frame)


def _nulls(frame: pd.DataFrame) -> dict[str, int]:
    if is_spark(frame):
        return _spark_nodes().null_counts(frame)
    return {c: int(n) for c, n in frame.isna().sum().items()}


def _head(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The first rows as pandas (on Spark: in the file's order where the plan keeps it)."""
    return _spark_nodes().head(frame, rows) if is_spark(frame) else frame.head(rows)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows (numpy scalars and NaN become Python values and null)."""
    return [
        {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def summarize(
    user_artists_raw: pd.DataFrame,
    artists_raw: pd.DataFrame,
    user_artists: pd.DataFrame,
    filtered: pd.DataFrame,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    scaler: dict[str, Any],
    sample_rows: int,
) -> dict[str, Any]:
    """The article's EDA facts, before and after filtering, as one JSON-ready dict."""
    return {
        "raw": {
            **_facts(user_artists),
            "nulls": {"user_artists": _nulls(user_artists_raw), "artists": _nulls(artists_raw)},
            "artists_in_names_file": _count(artists_raw),
            "sample": _records(_head(user_artists_raw, sample_rows)),
            "artist_sample": _records(_head(artists_raw, sample_rows)[["id", "name"]]),
        },
        "filtered": {**_facts(filtered), "sample": _records(_head(filtered, sample_rows))},
        "split": {"train": _count(train), "validation": _count(validation), "test": _count(test)},
        "normalisation": scaler,
    }


def plot_weight_distribution(
    user_artists: pd.DataFrame, filtered: pd.DataFrame, scaler: dict[str, Any]
) -> Figure:
    """Show why play counts need a log scale: a heavy tail that z-scoring alone keeps."""
    # A bare Figure (no pyplot): no global figure registry, no GUI backend, nothing to close.
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax_raw, ax_scaled = fig.subplots(1, 2)
    # Counts per play value, not the rows: the same picture from a pandas or a Spark frame.
    every, kept = _weight_counts(user_artists), _weight_counts(filtered)
    top = max(float(every.index.max()), 10.0)
    # Edges at half-integers: play counts are whole numbers, so no bin falls between two of them.
    bins = np.unique(np.round(np.logspace(0, np.log10(top) + 0.05, 60))) - 0.5
    ax_raw.hist(
        every.index,
        weights=every.to_numpy(),
        bins=bins,
        alpha=0.5,
        label=f"all rows ({int(every.sum()):,})",
    )
    ax_raw.hist(
        kept.index,
        weights=kept.to_numpy(),
        bins=bins,
        histtype="step",
        linewidth=1.5,
        label=f"after filter ({int(kept.sum()):,})",
    )
    ax_raw.set(
        xscale="log",
        yscale="log",
        xlabel="plays per (user, artist), log scale",
        ylabel="rows, log scale",
        title="Play counts are heavy-tailed",
    )
    ax_raw.legend()
    weights = kept.index.to_numpy(dtype=np.float64)
    scaled = {m: RatingScaler.fit_counts(kept.index, kept, m).transform(weights) for m in METHODS}
    low = min(float(v.min()) for v in scaled.values())
    high = max(float(v.max()) for v in scaled.values())
    edges = np.arange(np.floor(low), high + 0.25, 0.25)
    for method, values in scaled.items():
        label = method + (" (used)" if method == scaler["method"] else "")
        ax_scaled.hist(values, weights=kept.to_numpy(), bins=edges, alpha=0.55, label=label)
    ax_scaled.set(
        yscale="log",
        xlabel="normalised rating (standard deviations)",
        ylabel="rows, log scale",
        title="After normalisation: log1p keeps the tail within a few std",
    )
    ax_scaled.legend()
    return fig
