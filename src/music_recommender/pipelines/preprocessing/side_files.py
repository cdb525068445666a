"""The optional side files (friends, tags): checked like the play counts, unknown ids counted.

HetRec's archive carries three files beside the play counts: ``user_friends.dat`` (the friend
graph, each pair listed both ways), ``user_taggedartists.dat`` (a listener's tag on an artist,
dated) and ``tags.dat`` (tag names, Latin-1). The catalog hands over an empty frame with the
file's columns when a file is absent, and a run without them behaves as before: empty tables,
``present: false`` in the summary. The files are small (HetRec's 186 k tag rows), so they are
read as pandas in every environment, Spark's included.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.pipelines.preprocessing.engine import engine_for
from music_recommender.pipelines.preprocessing.pandas_engine import (
    integer_problems,
    quoted_rows,
    source_of,
)
from music_recommender.pipelines.preprocessing.rules import check, require_columns

logger = logging.getLogger(__name__)

FRIENDS_COLUMNS = {"userID": "user_id", "friendID": "friend_id"}
TAGGED_COLUMNS = {
    "userID": "user_id",
    "artistID": "artist_id",
    "tagID": "tag_id",
    "day": "day",
    "month": "month",
    "year": "year",
}
TAGS_COLUMNS = {"tagID": "tag_id", "tagValue": "tag"}
_IDS = {"userID", "friendID", "artistID", "tagID"}


def _checked(frame: pd.DataFrame, columns: dict[str, str], default: str) -> pd.DataFrame:
    """Columns present, ids whole numbers, no empty value: one message naming the file, else the
    frame with the project's column names."""
    source = source_of(frame, default)
    require_columns(frame, list(columns), source)
    frame = frame[list(columns)]
    problems = []
    for column in columns:
        nulls = frame[column].isna()
        if nulls.any():
            problems.append(
                f"column '{column}' has empty values, expected none: {quoted_rows(frame, nulls)}"
            )
        elif column in _IDS or column in ("day", "month", "year"):
            bad = integer_problems(frame, column)
            if bad.any():
                problems.append(f"column '{column}' must hold integers: {quoted_rows(frame, bad)}")
    check(problems, source)
    renamed = frame.rename(columns=columns)
    for column in renamed.columns:
        if column != "tag":
            renamed[column] = renamed[column].astype(np.int64)
    return renamed


def _known(frame: pd.DataFrame, column: str, ids: np.ndarray) -> np.ndarray:
    return np.isin(frame[column].to_numpy(), ids)


def validate_side_files(
    friends_raw: pd.DataFrame,
    tagged_raw: pd.DataFrame,
    tags_raw: pd.DataFrame,
    user_artists: Any,
    artists: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(friendships, tag assignments, tags, their facts): rows naming a listener absent from the
    play counts, an artist absent from artists.dat or an unknown tag are counted and dropped."""
    friends = _checked(friends_raw, FRIENDS_COLUMNS, "user_friends.dat")
    tagged = _checked(tagged_raw, TAGGED_COLUMNS, "user_taggedartists.dat")
    tags = _checked(tags_raw, TAGS_COLUMNS, "tags.dat").drop_duplicates("tag_id")
    tags["tag"] = tags["tag"].astype(str).str.strip()
    users = engine_for(user_artists).sorted_ids(user_artists, "user_id")
    artist_ids = np.sort(artists["artist_id"].to_numpy(dtype=np.int64))
    unknown: dict[str, int] = {}
    keep = _known(friends, "user_id", users) & _known(friends, "friend_id", users)
    unknown["friendships_unknown_user"] = int((~keep).sum())
    friends = friends[keep & (friends["user_id"] != friends["friend_id"])]
    friends = friends.drop_duplicates().reset_index(drop=True)
    known_user = _known(tagged, "user_id", users)
    known_artist = _known(tagged, "artist_id", artist_ids)
    known_tag = _known(tagged, "tag_id", tags["tag_id"].to_numpy())
    unknown["tag_rows_unknown_user"] = int((~known_user).sum())
    unknown["tag_rows_unknown_artist"] = int((known_user & ~known_artist).sum())
    unknown["tag_rows_unknown_tag"] = int((known_user & known_artist & ~known_tag).sum())
    duplicated = tagged.duplicated(["user_id", "artist_id", "tag_id"])
    unknown["tag_rows_repeated"] = int((duplicated & known_user & known_artist & known_tag).sum())
    tagged = tagged[known_user & known_artist & known_tag & ~duplicated].reset_index(drop=True)
    dropped = {name: count for name, count in unknown.items() if count}
    if dropped:
        logger.warning(
            "Side files: rows dropped (%s)", ", ".join(f"{k} {v:,}" for k, v in dropped.items())
        )
    facts = side_facts(friends, tagged, tags, present=_present(friends_raw, tagged_raw, tags_raw))
    return friends, tagged, tags, facts | {"dropped": unknown}


def _present(*frames: pd.DataFrame) -> dict[str, bool]:
    names = ("user_friends.dat", "user_taggedartists.dat", "tags.dat")
    return {
        name: not frame.attrs.get("absent", False)
        for name, frame in zip(names, frames, strict=True)
    }


def side_facts(
    friends: pd.DataFrame, tagged: pd.DataFrame, tags: pd.DataFrame, present: dict[str, bool]
) -> dict[str, Any]:
    """The EDA facts of the side files, as the data's README states them."""
    pairs = friends[["user_id", "friend_id"]].to_numpy()
    undirected = len(np.unique(np.sort(pairs, axis=1), axis=0)) if len(pairs) else 0
    per_tag = tagged.groupby("tag_id").size() if len(tagged) else pd.Series(dtype=int)
    top = per_tag.nlargest(10).rename(tags.set_index("tag_id")["tag"]) if len(per_tag) else per_tag
    return {
        "present": present,
        "friends": {
            "rows": len(friends),
            "friendships": int(undirected),
            "users_with_friends": int(friends["user_id"].nunique()),
        },
        "tags": {
            "assignments": len(tagged),
            "distinct_tags_used": int(tagged["tag_id"].nunique()),
            "tags_named": len(tags),
            "tagged_artists": int(tagged["artist_id"].nunique()),
            "tagging_users": int(tagged["user_id"].nunique()),
            "tagged_pairs": len(tagged[["user_id", "artist_id"]].drop_duplicates()),
            "top_tags": {str(name): int(count) for name, count in top.items()},
        },
    }


def _rows(ids: pd.Series, index_map: pd.DataFrame, id_column: str, row_column: str) -> np.ndarray:
    """Each id's model row, -1 for an id the model has no row for (filtered out)."""
    lookup = pd.Series(index_map[row_column].to_numpy(), index=index_map[id_column].to_numpy())
    return ids.map(lookup).fillna(-1).to_numpy(dtype=np.int64)


def side_model_input(
    tagged: pd.DataFrame,
    friends: pd.DataFrame,
    tags: pd.DataFrame,
    user_map: pd.DataFrame,
    artist_map: pd.DataFrame,
    artists: pd.DataFrame | None = None,
    user_artists: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(tag assignments on the model's artists as rows, friendships between its listeners as
    rows, the tag map, the tags of artists the model has no row for): what the implicit fit
    takes as side information (``pmf.side``), and what gives a tag-only artist its vector.

    A tagging listener the filter removed keeps their tags (``user_index`` -1): they still
    describe the artist. Tags are numbered over those on the model's artists, by tag id; an
    artist below the play-count filter keeps the tags of that vocabulary (``tag_only_input``,
    with its name from ``artists``), and who among the model's listeners played such an artist
    (``tag_only_plays``, from ``user_artists``: never suggested to them).
    """
    artist_rows = _rows(tagged["artist_id"], artist_map, "artist_id", "artist_index")
    on_model = tagged[artist_rows >= 0]
    used = np.unique(on_model["tag_id"].to_numpy(dtype=np.int64))
    tag_input = pd.DataFrame(
        {
            "user_index": _rows(on_model["user_id"], user_map, "user_id", "user_index"),
            "artist_index": artist_rows[artist_rows >= 0],
            "tag_index": np.searchsorted(used, on_model["tag_id"].to_numpy(dtype=np.int64)),
        }
    )
    users = _rows(friends["user_id"], user_map, "user_id", "user_index")
    friend_rows = _rows(friends["friend_id"], user_map, "user_id", "user_index")
    both = (users >= 0) & (friend_rows >= 0)
    friend_input = pd.DataFrame({"user_index": users[both], "friend_index": friend_rows[both]})
    names = tags.set_index("tag_id")["tag"].reindex(used).fillna("").to_numpy()
    counts = tag_input.groupby("tag_index").agg(
        artists=("artist_index", "nunique"), assignments=("artist_index", "size")
    )
    tag_map = pd.DataFrame({"tag_index": np.arange(len(used)), "tag_id": used, "tag": names})
    tag_map = tag_map.join(counts, on="tag_index")
    tag_only = _tag_only(tagged[artist_rows < 0], used, artists, user_map)
    logger.info(
        "Side information: %s tag assignments (%s tags) on %s artists, %s friendship rows; "
        "%s artists below the filter carry those tags",
        f"{len(tag_input):,}", f"{len(used):,}", f"{tag_input['artist_index'].nunique():,}",
        f"{len(friend_input):,}", f"{tag_only['artist_id'].nunique():,}",
    )  # fmt: skip
    return (
        tag_input,
        friend_input,
        tag_map,
        tag_only,
        _tag_only_plays(user_artists, tag_only, user_map),
    )


def _tag_only(
    off_model: pd.DataFrame, used: np.ndarray, artists: pd.DataFrame | None, user_map: pd.DataFrame
) -> pd.DataFrame:
    """The tags (of the model's vocabulary ``used``) on artists without a row, with names."""
    off_model = off_model[np.isin(off_model["tag_id"].to_numpy(), used)]
    names = (
        artists.set_index("artist_id")["artist_name"]
        if artists is not None and len(artists)
        else pd.Series(dtype=object)
    )
    return pd.DataFrame(
        {
            "artist_id": off_model["artist_id"].to_numpy(dtype=np.int64),
            "artist_name": names.reindex(off_model["artist_id"]).fillna("").astype(str).to_numpy(),
            "user_index": _rows(off_model["user_id"], user_map, "user_id", "user_index"),
            "tag_index": np.searchsorted(used, off_model["tag_id"].to_numpy(dtype=np.int64)),
        }
    )


def _tag_only_plays(
    user_artists: Any, tag_only: pd.DataFrame, user_map: pd.DataFrame
) -> pd.DataFrame:
    """(user_index, artist_id) of the model's listeners who played a tag-only artist: below the
    filter, each such artist has fewer than its minimum of listeners, so this stays small."""
    columns = {"user_index": np.int64, "artist_id": np.int64}
    if user_artists is None or not len(tag_only):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    ids = np.unique(tag_only["artist_id"].to_numpy())
    pairs = engine_for(user_artists).pairs_of_artists(user_artists, ids)
    rows = _rows(pairs["user_id"], user_map, "user_id", "user_index")
    return pd.DataFrame(
        {"user_index": rows[rows >= 0], "artist_id": pairs["artist_id"].to_numpy()[rows >= 0]}
    )
