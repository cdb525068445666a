"""Cold start: artists held out entirely find their listeners from their tags alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from music_recommender.pipelines.ranking_holdout import RecommendParams, side_information
from music_recommender.pipelines.training.recommending.cold_start import (
    ColdStartParams,
    cold_start_quality,
    tag_only_artists,
)
from music_recommender.pmf.recommender import ImplicitRecommender
from music_recommender.pmf.solver import ImplicitConfig

SETTINGS = ImplicitConfig(
    n_factors=8, alpha=10, reg=5, bias_reg=5, frequency_reg=0.0, tag_weight=3.0
).to_dict()


@pytest.fixture(scope="module")
def genres() -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Listeners of one genre each; every artist tagged with its genre by a random listener."""
    rng = np.random.default_rng(0)
    n_users, n_items, n_genres = 300, 300, 15
    genre = rng.integers(0, n_genres, n_items)
    taste = rng.integers(0, n_genres, n_users)
    chosen = [rng.choice(np.flatnonzero(genre == g), 8, replace=False) for g in taste]
    interactions = pd.DataFrame(
        {
            "user_index": np.repeat(np.arange(n_users), 8),
            "artist_index": np.concatenate(chosen),
            "weight": rng.integers(1, 100, n_users * 8).astype(float),
        }
    )
    tags = pd.DataFrame(
        {
            "user_index": rng.integers(0, n_users, n_items),
            "artist_index": np.arange(n_items),
            "tag_index": genre,
        }
    )
    return interactions, tags, {"n_users": n_users, "n_items": n_items}


def test_held_out_artists_find_their_listeners_from_tags(genres) -> None:
    interactions, tags, id_index = genres
    friends = pd.DataFrame({"user_index": [0, 1], "friend_index": [1, 0]})
    report = cold_start_quality(
        interactions, tags, friends, id_index, SETTINGS, ColdStartParams(0.2, 10, 0)
    )
    assert report["checked"] and report["held_out_artists"] == 60
    recall = {name: m["recall@10"] for name, m in report["models"].items()}
    assert recall["implicit"] > 3 * recall["random"]
    assert recall["implicit"] > 2 * recall["active_listeners"]
    assert recall["tag_profile"] > 3 * recall["random"]  # the baseline knows genres too


def test_a_held_out_artists_own_listeners_tags_never_reach_the_fit(genres) -> None:
    interactions, _, id_index = genres
    # Every listener tags what they play with their own tag: the pair itself, a leak if kept.
    own = interactions.assign(tag_index=interactions["user_index"])[
        ["user_index", "artist_index", "tag_index"]
    ]
    friends = pd.DataFrame(columns=["user_index", "friend_index"], dtype="int64")
    report = cold_start_quality(
        interactions, own, friends, id_index, SETTINGS, ColdStartParams(0.2, 10, 0)
    )
    assert report["tags_left_on_held_out"] == 0
    assert report["models"]["implicit"]["recall@10"] < 0.2  # nothing left to find them by


def test_without_tags_there_is_no_check_and_bad_params_name_the_key(genres) -> None:
    interactions, tags, id_index = genres
    no_friends = pd.DataFrame(columns=["user_index", "friend_index"], dtype="int64")
    empty = tags.iloc[:0]
    report = cold_start_quality(
        interactions, empty, no_friends, id_index, SETTINGS, ColdStartParams(0.1, 10, 0)
    )
    assert report["checked"] is False
    with pytest.raises(ValueError, match=r"cold_start\.share must be in"):
        ColdStartParams(1.5, 10, 0)


def test_an_artist_below_the_filter_gets_a_vector_and_neighbours_from_its_tags(genres) -> None:
    interactions, tags, id_index = genres
    rec = ImplicitRecommender(ImplicitConfig(**SETTINGS)).fit(
        interactions["user_index"],
        interactions["artist_index"],
        interactions["weight"],
        id_index["n_users"],
        id_index["n_items"],
        side=side_information(tags, tags.iloc[:0].rename(columns={"artist_index": "friend_index"})),
    )
    genre = tags.set_index("artist_index")["tag_index"]
    # Two artists nobody played enough: tagged with the genres of model artists 0 and 1.
    tag_only = pd.DataFrame(
        {
            "artist_id": [9001, 9002, 9002],
            "artist_name": ["new", "newer", "newer"],
            "user_index": [-1, 3, 4],
            "tag_index": [genre[0], genre[1], genre[1]],
        }
    )
    artist_map = pd.DataFrame(
        {"artist_id": 100 + np.arange(id_index["n_items"]), "artist_index": np.arange(300)}
    ).assign(artist_name=lambda f: "a" + f["artist_id"].astype(str))
    tag_map = pd.DataFrame({"tag_index": range(15), "tag": [f"g{i}" for i in range(15)]})
    params = RecommendParams("implicit", 5, 5, 1.0, tag_only_n=1)
    user_map = pd.DataFrame({"user_id": 500 + np.arange(300), "user_index": np.arange(300)})
    plays = pd.DataFrame({"user_index": [7], "artist_id": [9001]})  # listener 7 played 9001
    table, reverse, picks = tag_only_artists(
        rec, tag_only, plays, artist_map, user_map, tag_map, params
    )
    assert table["from_tags"].all() and set(table["artist_id"]) == {9001, 9002}
    first = table[table["artist_id"] == 9001]
    assert first["artist_tags"].iloc[0] == f"g{genre[0]}"
    # its nearest model artists are of its genre
    nearest = first["similar_artist_id"].to_numpy() - 100
    assert (genre[nearest].to_numpy() == genre[0]).mean() >= 0.8
    assert first["similarity"].is_monotonic_decreasing
    # and the other way: a model artist's nearest below-filter artists, the one of its genre first
    mine = reverse[reverse["artist_id"] == 100]
    assert len(mine) == 2 and mine["similar_artist_id"].iloc[0] == 9001
    assert mine["similar_artist_tags"].iloc[0] == f"g{genre[0]}" and reverse["from_tags"].all()
    plain = ImplicitRecommender(ImplicitConfig(**SETTINGS)).fit([0, 1], [0, 1], [1.0, 2.0])
    # each listener's pick among the two: the one of their genre, never one they played
    taste = interactions.groupby("user_index")["artist_index"].first().map(genre)
    fans = np.flatnonzero(taste.to_numpy() == genre[0])
    pick = picks.set_index("user_id")["artist_id"]
    assert (pick[500 + fans[fans != 7]] == 9001).mean() >= 0.8 and pick[507] != 9001
    assert picks["from_tags"].all() and len(picks) == 300
    empty = tag_only_artists(plain, tag_only, plays, artist_map, user_map, tag_map, params)
    assert all(t.empty for t in empty)  # a model fitted without tags has no tag vectors
