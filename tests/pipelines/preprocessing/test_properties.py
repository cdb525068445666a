"""Property tests of the id mapping and the sparsity filter."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from music_recommender.pipelines.preprocessing.nodes import index_ids
from music_recommender.pipelines.preprocessing.pandas_engine import filter_sparse, repeated_pairs
from music_recommender.pipelines.preprocessing.rules import FilterParams

pairs = st.sets(st.tuples(st.integers(0, 40), st.integers(0, 60)), min_size=1, max_size=300)


def _frame(p: set[tuple[int, int]]) -> pd.DataFrame:
    rows = sorted(p)
    return pd.DataFrame(
        {
            "user_id": [u * 7 + 3 for u, _ in rows],
            "artist_id": [a * 11 + 1 for _, a in rows],
            "weight": 1.0,
        }
    )


@settings(max_examples=60, deadline=None)
@given(pairs)
def test_index_maps_are_contiguous_bijections(p: set[tuple[int, int]]) -> None:
    frame = _frame(p)
    artists = pd.DataFrame({"artist_id": frame["artist_id"].unique(), "artist_name": "x"})
    interactions, user_map, artist_map = index_ids(frame, artists)
    assert user_map["user_index"].tolist() == list(range(frame["user_id"].nunique()))
    assert artist_map["artist_index"].tolist() == list(range(frame["artist_id"].nunique()))
    assert user_map["user_id"].is_unique and artist_map["artist_id"].is_unique
    # Mapping the indices back through the maps gives the original pairs, each exactly once.
    back_u = user_map.set_index("user_index").loc[interactions["user_index"], "user_id"].to_numpy()
    back_a = (
        artist_map.set_index("artist_index")
        .loc[interactions["artist_index"], "artist_id"]
        .to_numpy()
    )
    assert sorted(zip(back_u, back_a, strict=True)) == sorted(
        zip(frame["user_id"], frame["artist_id"], strict=True)
    )


@settings(max_examples=80, deadline=None)
@given(pairs, st.integers(0, 6), st.integers(0, 6))
def test_filter_result_obeys_both_rules_and_is_a_fixed_point(
    p: set[tuple[int, int]], min_listeners: int, min_artists: int
) -> None:
    frame = _frame(p)
    params = FilterParams(min_listeners, min_artists)
    try:
        out = filter_sparse(frame, params)
    except ValueError:
        # Only allowed when no non-empty subset obeys both rules.
        assert _peel(frame, min_listeners, min_artists) == set()
        return
    assert len(out.merge(frame, on=["user_id", "artist_id"])) == len(out)  # a subset
    assert out.groupby("artist_id").size().min() >= min_listeners
    assert out.groupby("user_id").size().min() >= min_artists
    assert filter_sparse(out, params).equals(out)  # idempotent
    # Maximal: equal to the (unique) largest subset obeying both rules, found here by peeling
    # one offending row at a time in plain Python.
    assert set(zip(out["user_id"], out["artist_id"], strict=True)) == _peel(
        frame, min_listeners, min_artists
    )


def _peel(frame: pd.DataFrame, min_listeners: int, min_artists: int) -> set[tuple[int, int]]:
    rows = set(zip(frame["user_id"], frame["artist_id"], strict=True))
    while True:
        listeners: dict[int, int] = {}
        per_user: dict[int, int] = {}
        for u, a in rows:
            listeners[a] = listeners.get(a, 0) + 1
            per_user[u] = per_user.get(u, 0) + 1
        bad = next(
            (
                (u, a)
                for u, a in sorted(rows)
                if listeners[a] < min_listeners or per_user[u] < min_artists
            ),
            None,
        )
        if bad is None:
            return rows
        rows.discard(bad)


ids = st.one_of(st.integers(-5, 30), st.integers(-(2**63), 2**63 - 1))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(ids, ids), min_size=1, max_size=200))
def test_repeated_pairs_is_pandas_duplicated_keep_false(rows: list[tuple[int, int]]) -> None:
    # Small ids take the one-key sort; ids spanning int64 fall back to pandas: both must agree.
    frame = pd.DataFrame(rows, columns=["a", "b"], dtype="int64")
    expected = frame.duplicated(["a", "b"], keep=False).to_numpy()
    assert (repeated_pairs(frame["a"], frame["b"]) == expected).all()


@settings(max_examples=40, deadline=None)
@given(pairs, st.randoms(use_true_random=False))
def test_index_ids_orders_rows_by_listener_then_artist(p: set[tuple[int, int]], rng) -> None:
    frame = _frame(p).sample(frac=1.0, random_state=rng.randrange(2**32), ignore_index=True)
    artists = pd.DataFrame({"artist_id": frame["artist_id"].unique(), "artist_name": "x"})
    interactions, _, _ = index_ids(frame, artists)
    expected = interactions.sort_values(["user_index", "artist_index"], ignore_index=True)
    pd.testing.assert_frame_equal(interactions, expected)
    assert len(interactions) == len(frame)
