"""The optional side files (friends, tags): read when present, checked, counted; absent is today."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from music_recommender.datasets import HetrecDataset
from music_recommender.pipelines.preprocessing.rules import RawDataError
from music_recommender.pipelines.preprocessing.side_files import (
    side_model_input,
    validate_side_files,
)

USERS = pd.DataFrame({"user_id": [2, 3, 4], "artist_id": [51, 51, 52], "weight": [5, 6, 7]})
ARTISTS = pd.DataFrame({"artist_id": [51, 52, 53], "artist_name": ["a", "b", "c"]})


def _frame(rows: list[tuple], columns: list[str], source: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["source"] = source
    return frame


def _friends(rows: list[tuple]) -> pd.DataFrame:
    return _frame(rows, ["userID", "friendID"], "raw/user_friends.dat")


def _tagged(rows: list[tuple]) -> pd.DataFrame:
    columns = ["userID", "artistID", "tagID", "day", "month", "year"]
    return _frame(rows, columns, "raw/user_taggedartists.dat")


def _tags(rows: list[tuple]) -> pd.DataFrame:
    return _frame(rows, ["tagID", "tagValue"], "raw/tags.dat")


def test_unknown_ids_are_counted_and_dropped_and_the_facts_add_up() -> None:
    friends = _friends([(2, 3), (3, 2), (2, 4), (4, 2), (2, 99), (3, 3), (2, 3)])
    tagged = _tagged(
        [
            (2, 51, 1, 1, 4, 2009),
            (2, 53, 2, 1, 4, 2009),  # an artist below any play filter: kept (cold start)
            (3, 51, 1, 2, 4, 2009),
            (99, 51, 1, 2, 4, 2009),  # nobody of that id plays anything
            (2, 77, 1, 2, 4, 2009),  # not in artists.dat
            (3, 52, 9, 2, 4, 2009),  # no such tag
            (2, 51, 1, 1, 4, 2009),  # the same assignment twice
        ]
    )
    tags = _tags([(1, "rock"), (2, " Motörhead-ish ")])
    friendships, assignments, names, facts = validate_side_files(
        friends, tagged, tags, USERS, ARTISTS
    )
    assert list(friendships.columns) == ["user_id", "friend_id"] and len(friendships) == 4
    assert list(assignments.columns) == ["user_id", "artist_id", "tag_id", "day", "month", "year"]
    assert sorted(assignments["artist_id"]) == [51, 51, 53]
    assert names["tag"].tolist() == ["rock", "Motörhead-ish"]
    assert facts["dropped"] == {
        "friendships_unknown_user": 1,
        "tag_rows_unknown_user": 1,
        "tag_rows_unknown_artist": 1,
        "tag_rows_unknown_tag": 1,
        "tag_rows_repeated": 1,
    }
    assert facts["friends"] == {"rows": 4, "friendships": 2, "users_with_friends": 3}
    assert facts["tags"]["assignments"] == 3 and facts["tags"]["tagged_artists"] == 2
    assert facts["tags"]["top_tags"] == {"rock": 2, "Motörhead-ish": 1}
    assert facts["present"] == dict.fromkeys(
        ("user_friends.dat", "user_taggedartists.dat", "tags.dat"), True
    )


def test_a_malformed_side_file_is_one_message_naming_the_file_and_column() -> None:
    with pytest.raises(
        RawDataError, match=r"raw/user_friends\.dat: missing column\(s\) \['friendID'\]"
    ):
        validate_side_files(
            _frame([(2, 3)], ["userID", "friend"], "raw/user_friends.dat"),
            _tagged([]),
            _tags([]),
            USERS,
            ARTISTS,
        )
    with pytest.raises(
        RawDataError,
        match=r"user_taggedartists\.dat is not valid:\n- column 'tagID' must hold integers",
    ):
        validate_side_files(
            _friends([]), _tagged([(2, 51, "x", 1, 4, 2009)]), _tags([]), USERS, ARTISTS
        )


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))


def test_the_dataset_reads_latin_1_tags_and_an_absent_file_is_an_empty_table(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "tags.dat", "tagID\ttagValue\n1\tmetal\n2\tmotörhead\n", "latin-1")
    tags = HetrecDataset(str(tmp_path / "tags.dat"), download_url=None, optional=True).load()
    assert tags["tagValue"].tolist() == ["metal", "motörhead"]
    absent = HetrecDataset(str(tmp_path / "user_friends.dat"), download_url=None, optional=True)
    frame = absent.load()
    assert list(frame.columns) == ["userID", "friendID"] and len(frame) == 0
    assert frame.attrs["absent"] is True
    friendships, _, _, facts = validate_side_files(frame, _tagged([]), _tags([]), USERS, ARTISTS)
    assert len(friendships) == 0 and facts["present"]["user_friends.dat"] is False


def test_side_model_input_numbers_rows_as_the_model_does() -> None:
    tagged = pd.DataFrame(
        {"user_id": [2, 3, 9, 2], "artist_id": [51, 51, 52, 53], "tag_id": [7, 5, 7, 8]}
    )
    friends = pd.DataFrame({"user_id": [2, 3, 2], "friend_id": [3, 2, 9]})
    tags = pd.DataFrame({"tag_id": [5, 7, 8], "tag": ["rock", "jazz", "pop"]})
    user_map = pd.DataFrame({"user_id": [2, 3], "user_index": [0, 1]})
    artist_map = pd.DataFrame({"artist_id": [51, 52], "artist_index": [0, 1]})
    artists = pd.DataFrame({"artist_id": [51, 52, 53], "artist_name": ["a", "b", "c"]})
    plays = pd.DataFrame({"user_id": [2, 3, 3], "artist_id": [51, 53, 51], "weight": [1, 2, 3]})
    tag_input, friend_input, tag_map, tag_only, _ = side_model_input(
        tagged, friends, tags, user_map, artist_map, artists, plays
    )
    # artist 53 has no row (below the filter): its tag is not model input; listener 9 has none
    # either, yet their tag still describes artist 52 (user_index -1).
    assert tag_input.to_dict("list") == {
        "user_index": [0, 1, -1],
        "artist_index": [0, 0, 1],
        "tag_index": [1, 0, 1],
    }
    assert friend_input.to_dict("list") == {"user_index": [0, 1], "friend_index": [1, 0]}
    assert tag_map["tag"].tolist() == ["rock", "jazz"] and tag_map["artists"].tolist() == [1, 2]
    # artist 53 is below the filter: its tag "pop" is not in the model's vocabulary, so it has no
    # usable tag; a known tag would have been kept with the artist's name
    assert len(tag_only) == 0
    tagged.loc[3, "tag_id"] = 7
    tag_only = side_model_input(tagged, friends, tags, user_map, artist_map, artists)[3]
    assert tag_only.to_dict("list") == {
        "artist_id": [53],
        "artist_name": ["c"],
        "user_index": [0],
        "tag_index": [1],
    }


def test_no_side_files_give_empty_model_input() -> None:
    empty = validate_side_files(_friends([]), _tagged([]), _tags([]), USERS, ARTISTS)
    user_map = pd.DataFrame({"user_id": [2, 3, 4], "user_index": [0, 1, 2]})
    artist_map = pd.DataFrame({"artist_id": [51, 52, 53], "artist_index": [0, 1, 2]})
    tables = side_model_input(empty[1], empty[0], empty[2], user_map, artist_map)
    assert all(len(t) == 0 for t in tables)
    tag_input = tables[0]
    assert list(tag_input.columns) == ["user_index", "artist_index", "tag_index"]
