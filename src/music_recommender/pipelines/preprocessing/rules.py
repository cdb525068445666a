"""The preprocessing rules every engine follows: columns, parameters, messages, id maps, the split.

Engine-neutral (no pandas operation on the rows, no Spark): the pandas engine
(``pandas_engine``) and the Spark engine (``spark_engine``) both apply these, so a rule or a
message is written once and both engines give the same answer (``test_spark.py`` checks it).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.errors import UserError
from music_recommender.pmf.checks import check_field_types

logger = logging.getLogger(__name__)

# Raw header -> canonical name used from the intermediate layer on.
USER_ARTISTS_COLUMNS = {"userID": "user_id", "artistID": "artist_id", "weight": "weight"}
ARTISTS_COLUMNS = {"id": "artist_id", "name": "artist_name"}
SHOWN_ROWS = 5  # bad rows quoted in an error message
MAX_ID = float(2**63)  # ids are stored as int64: a larger one would wrap around, not fail
# No listener plays one artist a trillion times; a count past this is a broken export, and its
# square (the rating scale's variance) would overflow float64 long before it ends.
MAX_PLAYS = 1e12


class RawDataError(UserError, ValueError):
    """Raw data breaks an expectation; the message names the file, column and first bad rows."""


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
        if not 0 <= self.seed < 2**63:  # the split's hash takes it as a 64-bit integer
            raise ValueError(
                f"preprocessing.split.seed must be an integer in [0, 2**63); got {self.seed!r}"
            )
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


# --------------------------------------------------------------------------- messages


def require_columns(frame: Any, required: list[str], source: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise RawDataError(
            f"{source}: missing column(s) {missing}; expected {required} (found {list(frame.columns)})"
        )


def check(problems: list[str], source: str) -> None:
    if problems:
        raise RawDataError(f"{source} is not valid:\n- " + "\n- ".join(problems))


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


def empty_filter_error(params: FilterParams) -> RawDataError:
    """The message when the sparsity filter keeps nothing, on either engine."""
    return RawDataError(
        "the sparsity filter removed every row: lower preprocessing.filter.min_listeners_per_artist "
        f"({params.min_listeners_per_artist}) or min_artists_per_user ({params.min_artists_per_user})"
    )


def split_bounds(params: SplitParams) -> tuple[float, float]:
    """A row whose seeded draw in [0, 1) is below the first bound is train, below the second
    validation, else test (``row_hash.unit_draws``: the same draw on both engines)."""
    return params.train, params.train + params.validation


# --------------------------------------------------------------------------- id maps


def named(artists: pd.DataFrame) -> pd.DataFrame:
    """The rows of the names table that give a name: a blank one names nobody."""
    return artists[artists["artist_name"].astype(str).str.strip() != ""]


def id_maps(
    user_ids: np.ndarray, artist_ids: np.ndarray, artists: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The maps from sorted unique ids to 0..n-1 (and names): the same on either engine."""
    user_map = pd.DataFrame({"user_id": user_ids, "user_index": np.arange(len(user_ids))})
    names = named(artists).set_index("artist_id")["artist_name"]
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
