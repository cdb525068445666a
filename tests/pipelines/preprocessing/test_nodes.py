"""Unit tests of every preprocessing node, bad input included."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from music_recommender.pipelines.preprocessing.eda import plot_weight_distribution, summarize
from music_recommender.pipelines.preprocessing.nodes import (
    apply_scaler,
    describe_source,
    fit_scaler,
    index_ids,
    split_interactions,
    validate_raw_data,
)
from music_recommender.pipelines.preprocessing.pandas_engine import (
    check_artist_names,
    filter_sparse,
    validate_artists,
    validate_user_artists,
)
from music_recommender.pipelines.preprocessing.rules import (
    FilterParams,
    RawDataError,
    SplitParams,
    UnnamedArtistParams,
)
from music_recommender.pmf.scaling import RatingScaler


def _raw_user_artists(
    rows: list[tuple], source: str = "data/01_raw/x/user_artists.dat"
) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["userID", "artistID", "weight"])
    frame.attrs["source"] = source
    return frame


@pytest.fixture
def raw_user_artists() -> pd.DataFrame:
    return _raw_user_artists([(2, 51, 13883), (2, 52, 11690), (3, 51, 5), (4, 52, 1)])


@pytest.fixture
def raw_artists() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "id": [51, 52, 53],
            "name": ["Duran Duran", '"Weird Al" Yankovic', "Sigur Rós"],
            "url": ["u1", "u2", "u3"],
            "pictureURL": ["p1", None, "p3"],
        }
    )
    frame.attrs["source"] = "data/01_raw/x/artists.dat"
    return frame


# --------------------------------------------------------------------------- validate_user_artists


def test_validate_user_artists_returns_canonical_columns(raw_user_artists: pd.DataFrame) -> None:
    out = validate_user_artists(raw_user_artists)
    assert list(out.columns) == ["user_id", "artist_id", "weight"]
    assert out["user_id"].dtype == "int64" and out["weight"].dtype == "float64"
    assert out["weight"].tolist() == [13883.0, 11690.0, 5.0, 1.0]


def test_validate_user_artists_missing_column_names_file_and_columns() -> None:
    frame = pd.DataFrame({"userID": [1], "artist": [2], "weight": [3]})
    frame.attrs["source"] = "somewhere/user_artists.dat"
    with pytest.raises(
        RawDataError, match=r"somewhere/user_artists\.dat: missing column\(s\) \['artistID'\]"
    ):
        validate_user_artists(frame)


@pytest.mark.parametrize(
    ("rows", "column", "expected"),
    [
        ([(2, 51, 10), (None, 52, 3)], "userID", "empty values"),
        ([(2, 51, 10), (2, None, 3)], "artistID", "empty values"),
        ([(2, 51, 10), (2, 52, None)], "weight", "empty values"),
        ([(2, 51, 10), (2.5, 52, 3)], "userID", "integer ids"),
        ([(2, 51, 10), (2, "abc", 3)], "artistID", "integer ids"),
        ([(2, 51, 10), (2, "99999999999999999999", 3)], "artistID", "integer ids (64-bit)"),
        ([(2, 51, 10), (2, 52, 0)], "weight", "positive number"),
        ([(2, 51, 10), (2, 52, -4)], "weight", "positive number"),
        ([(2, 51, 10), (2, 52, "many")], "weight", "positive number"),
        ([(2, 51, 10), (2, 52, float("inf"))], "weight", "positive number"),
    ],
)
def test_validate_user_artists_bad_values(rows: list[tuple], column: str, expected: str) -> None:
    with pytest.raises(RawDataError) as info:
        validate_user_artists(_raw_user_artists(rows))
    message = str(info.value)
    assert "user_artists.dat" in message
    assert f"column '{column}'" in message
    assert expected in message
    assert "1 row(s), first:" in message
    # The offending row is shown with its line number in the file (header = line 1).
    assert "\nline" in message and "\n3 " in message


def test_validate_user_artists_duplicate_pairs_show_both_rows() -> None:
    frame = _raw_user_artists([(2, 51, 10), (3, 51, 4), (2, 51, 7)])
    with pytest.raises(
        RawDataError, match=r"must not repeat a \(user, artist\) pair: 2 row\(s\)"
    ) as info:
        validate_user_artists(frame)
    assert "\n2 " in str(info.value) and "\n4 " in str(info.value)


def test_validate_user_artists_reports_every_problem_and_truncates_long_lists() -> None:
    rows = [(2, 51, -1)] + [(i, 52, -i) for i in range(3, 13)]
    rows.append((None, 53, 5))
    with pytest.raises(RawDataError) as info:
        validate_user_artists(_raw_user_artists(rows))
    message = str(info.value)
    assert "column 'userID' has empty values" in message
    assert "column 'weight' must be a positive number" in message
    assert "11 row(s)" in message and "... and 6 more" in message


def test_validate_user_artists_refuses_empty_file() -> None:
    with pytest.raises(RawDataError, match="no rows"):
        validate_user_artists(_raw_user_artists([]))


def test_validate_user_artists_without_source_names_the_default_file() -> None:
    frame = pd.DataFrame({"userID": [1], "artistID": [1], "weight": [0]})
    with pytest.raises(RawDataError, match=r"^user_artists\.dat is not valid"):
        validate_user_artists(frame)


# --------------------------------------------------------------------------- validate_artists


def test_validate_artists_keeps_quotes_and_unicode(raw_artists: pd.DataFrame) -> None:
    out = validate_artists(raw_artists)
    assert list(out.columns) == ["artist_id", "artist_name"]
    assert out["artist_name"].tolist() == ["Duran Duran", '"Weird Al" Yankovic', "Sigur Rós"]


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([51, 51, 53], "must not repeat an artist: 2 row(s)"),
        ([51, None, 53], "column 'id' has empty values"),
        ([51, "x", 53], "column 'id' must hold integer ids"),
    ],
)
def test_validate_artists_bad_ids(raw_artists: pd.DataFrame, ids: list, expected: str) -> None:
    frame = raw_artists.assign(id=ids)
    with pytest.raises(RawDataError) as info:
        validate_artists(frame)
    assert "data/01_raw/x/artists.dat is not valid" in str(info.value)
    assert expected in str(info.value)


def test_validate_artists_missing_name_column(raw_artists: pd.DataFrame) -> None:
    with pytest.raises(RawDataError, match=r"artists\.dat: missing column\(s\) \['name'\]"):
        validate_artists(raw_artists.drop(columns="name"))


# --------------------------------------------------------------------------- filter_sparse


def _pairs(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": [u for u, _ in pairs], "artist_id": [a for _, a in pairs], "weight": 1.0}
    )


def test_filter_keeps_artists_with_enough_listeners() -> None:
    frame = _pairs([(u, 1) for u in range(5)] + [(u, 2) for u in range(4)])
    out = filter_sparse(frame, FilterParams(min_listeners_per_artist=5))
    assert set(out["artist_id"]) == {1}
    assert len(out) == 5


def test_filter_iterates_until_both_rules_hold() -> None:
    # Artist 1 has 2 listeners; user 0 has 2 artists. Dropping artist 2 (1 listener) leaves user 0
    # with one artist, which drops user 0, which leaves artist 1 with one listener.
    frame = _pairs([(0, 1), (0, 2), (1, 1), (1, 3), (2, 3), (1, 4), (2, 4)])
    out = filter_sparse(frame, FilterParams(min_listeners_per_artist=2, min_artists_per_user=2))
    assert sorted(map(tuple, out[["user_id", "artist_id"]].to_numpy())) == [
        (1, 3),
        (1, 4),
        (2, 3),
        (2, 4),
    ]


def test_filter_with_zero_thresholds_keeps_everything() -> None:
    frame = _pairs([(0, 1), (1, 2)])
    assert len(filter_sparse(frame, FilterParams(0, 0))) == 2


def test_filter_that_removes_everything_names_the_parameters() -> None:
    with pytest.raises(ValueError, match=r"preprocessing\.filter\.min_listeners_per_artist"):
        filter_sparse(_pairs([(0, 1), (1, 2)]), FilterParams(min_listeners_per_artist=3))


@pytest.mark.parametrize("bad", [-1, 2.5, "5", True])
def test_filter_params_reject_bad_values(bad: object) -> None:
    with pytest.raises(
        ValueError, match=r"preprocessing\.filter\.min_listeners_per_artist must be an integer"
    ):
        FilterParams(min_listeners_per_artist=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- index_ids


def test_index_ids_contiguous_and_maps_round_trip(raw_artists: pd.DataFrame) -> None:
    frame = _pairs([(10, 53), (7, 51), (10, 51)])
    interactions, user_map, artist_map = index_ids(frame, validate_artists(raw_artists))
    assert user_map.to_dict("list") == {"user_id": [7, 10], "user_index": [0, 1]}
    assert artist_map.to_dict("list") == {
        "artist_id": [51, 53],
        "artist_index": [0, 1],
        "artist_name": ["Duran Duran", "Sigur Rós"],
    }
    assert interactions[
        ["user_index", "artist_index", "user_id", "artist_id"]
    ].to_numpy().tolist() == [
        [0, 0, 7, 51],
        [1, 0, 10, 51],
        [1, 1, 10, 53],
    ]


def test_a_few_unnamed_artists_are_named_by_id_with_the_ids_in_the_warning(
    raw_artists: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    plays = _pairs([(u, 51) for u in range(200)] + [(1, 999)])
    names = validate_artists(raw_artists)
    with caplog.at_level(logging.WARNING):
        check_artist_names(plays, names, UnnamedArtistParams(), "artists.dat")
    assert "1 of 2 played artist ids have no name in artists.dat" in caplog.text
    assert "most played first: 999;" in caplog.text  # plain ids, not np.int64(...) in brackets
    _, _, artist_map = index_ids(plays, names)
    assert artist_map["artist_name"].tolist() == ["Duran Duran", "artist 999"]


@pytest.mark.parametrize(
    ("pairs", "why"),
    [
        ([(u, 51) for u in range(50)] + [(u, 999) for u in range(2)], "largest carries 3.85%"),
        ([(1, 51), (1, 997), (1, 998), (1, 999)], "3 of 4 played artist ids"),
    ],
)
def test_files_that_do_not_belong_together_stop_the_run(
    raw_artists: pd.DataFrame, pairs: list[tuple[int, int]], why: str
) -> None:
    with pytest.raises(RawDataError, match=r"preprocessing\.unnamed_artists") as error:
        check_artist_names(
            _pairs(pairs), validate_artists(raw_artists), UnnamedArtistParams(), "a.dat"
        )
    assert why in str(error.value) and "same dataset" in str(error.value)


def test_raw_files_are_checked_together_and_the_filter_before_anything_is_returned(
    small_data,
) -> None:
    broken = small_data.artists.assign(id=small_data.artists["id"].astype(str))
    broken.loc[0, "id"] = "x"
    with pytest.raises(RawDataError, match=r"artists\.dat"):
        validate_raw_data(small_data.user_artists, broken, UnnamedArtistParams(), FilterParams())
    with pytest.raises(RawDataError, match="min_listeners_per_artist"):
        validate_raw_data(
            small_data.user_artists,
            small_data.artists,
            UnnamedArtistParams(),
            FilterParams(min_listeners_per_artist=100_000),
        )
    plays, names, kept = validate_raw_data(
        small_data.user_artists, small_data.artists, UnnamedArtistParams(), FilterParams(2)
    )
    assert len(kept) <= len(plays) and len(names) == len(small_data.artists)


# --------------------------------------------------------------------------- split


@pytest.fixture
def interactions(small_data) -> pd.DataFrame:
    frame = validate_user_artists(small_data.user_artists)
    return index_ids(frame, validate_artists(small_data.artists))[0]


def test_split_partitions_rows_in_the_given_fractions(interactions: pd.DataFrame) -> None:
    train, val, test = split_interactions(interactions, SplitParams(ensure_train_coverage=False))
    n = len(interactions)
    # A seeded hash per row: the fractions up to binomial noise (4 standard deviations here).
    for part, fraction in ((train, 0.7), (val, 0.1), (test, 0.2)):
        assert abs(len(part) - fraction * n) <= 4 * np.sqrt(n * fraction * (1 - fraction))
    keys = [
        set(map(tuple, f[["user_index", "artist_index"]].to_numpy())) for f in (train, val, test)
    ]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert len(keys[0] | keys[1] | keys[2]) == n
    assert list(train.columns) == ["user_index", "artist_index", "weight"]


def test_split_keeps_a_rows_part_when_other_rows_go(interactions: pd.DataFrame) -> None:
    """The part is a function of the row's ids and the seed, not of the other rows."""
    params = SplitParams(seed=3, ensure_train_coverage=False)
    whole = pd.concat(split_interactions(interactions, params), keys=[0, 1, 2])
    half = interactions.iloc[::2].reset_index(drop=True)
    some = pd.concat(split_interactions(half, params), keys=[0, 1, 2])
    part = dict(
        zip(
            map(tuple, whole[["user_index", "artist_index"]].to_numpy()),
            whole.index.get_level_values(0),
            strict=True,
        )
    )
    kept = map(tuple, some[["user_index", "artist_index"]].to_numpy())
    assert [part[key] for key in kept] == list(some.index.get_level_values(0))


def test_split_is_seeded(interactions: pd.DataFrame) -> None:
    a = split_interactions(interactions, SplitParams(seed=1))
    b = split_interactions(interactions, SplitParams(seed=1))
    c = split_interactions(interactions, SplitParams(seed=2))
    assert all(x.equals(y) for x, y in zip(a, b, strict=True))
    assert not a[2].equals(c[2])


def test_split_coverage_puts_every_user_and_artist_in_train(interactions: pd.DataFrame) -> None:
    params = SplitParams(train=0.2, validation=0.3, test=0.5, seed=0)
    bare = split_interactions(
        interactions, SplitParams(0.2, 0.3, 0.5, 0, ensure_train_coverage=False)
    )[0]
    assert (
        bare["artist_index"].nunique() < interactions["artist_index"].nunique()
    )  # the case exists
    train, val, test = split_interactions(interactions, params)
    assert set(train["user_index"]) == set(interactions["user_index"])
    assert set(train["artist_index"]) == set(interactions["artist_index"])
    assert len(train) + len(val) + len(test) == len(interactions)
    # Only the fewest rows move: at most one per uncovered user or artist.
    uncovered = (interactions["user_index"].nunique() - bare["user_index"].nunique()) + (
        interactions["artist_index"].nunique() - bare["artist_index"].nunique()
    )
    assert len(bare) < len(train) <= len(bare) + uncovered


def test_split_without_test_part(interactions: pd.DataFrame) -> None:
    train, val, test = split_interactions(
        interactions, SplitParams(0.7, 0.3, 0.0, ensure_train_coverage=False)
    )
    assert len(test) == 0 and len(train) + len(val) == len(interactions)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train": 0.7, "validation": 0.2, "test": 0.2}, "must sum to 1"),
        (
            {"train": 1.2, "validation": 0.0, "test": -0.2},
            "preprocessing.split.train must be a number in",
        ),
        ({"train": 0.0, "validation": 0.5, "test": 0.5}, "preprocessing.split.train must be > 0"),
    ],
)
def test_split_params_reject_bad_fractions(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SplitParams(**kwargs)


# --------------------------------------------------------------------------- scaling


@pytest.mark.parametrize("method", ["zscore", "log_zscore"])
def test_scaler_fits_on_train_and_round_trips(method: str) -> None:
    train = pd.DataFrame({"weight": [1.0, 10.0, 100.0, 1000.0]})
    other = pd.DataFrame({"weight": [5.0, 50_000.0]})
    scaler = fit_scaler(train, method)
    scaled = apply_scaler(train, scaler)
    assert scaled["rating"].dtype == np.float32
    assert scaled["rating"].mean() == pytest.approx(0.0, abs=1e-6)
    assert scaled["rating"].std(ddof=0) == pytest.approx(1.0, rel=1e-5)
    back = RatingScaler.from_dict(scaler).inverse(apply_scaler(other, scaler)["rating"].to_numpy())
    np.testing.assert_allclose(back, other["weight"], rtol=1e-4)


def test_log_zscore_tames_the_tail() -> None:
    # Log-normal counts like the real ones: z-scoring leaves a tail tens of std long.
    weights = pd.DataFrame(
        {"weight": np.ceil(np.random.default_rng(0).lognormal(5.5, 1.5, 20_000))}
    )
    z = apply_scaler(weights, fit_scaler(weights, "zscore"))["rating"].max()
    logz = apply_scaler(weights, fit_scaler(weights, "log_zscore"))["rating"].max()
    assert z > 30 and logz < 5


def test_unknown_normalisation_names_the_parameter() -> None:
    with pytest.raises(
        ValueError,
        match=r"preprocessing\.normalisation must be one of zscore, log_zscore; got 'log'",
    ):
        fit_scaler(pd.DataFrame({"weight": [1.0]}), "log")


# --------------------------------------------------------------------------- EDA


def test_summarize_reports_counts_density_and_nulls(
    raw_user_artists: pd.DataFrame, raw_artists: pd.DataFrame
) -> None:
    clean = validate_user_artists(raw_user_artists)
    filtered = clean[clean["artist_id"] == 51]
    summary = summarize(
        raw_user_artists,
        raw_artists,
        clean,
        filtered,
        filtered,
        filtered.head(0),
        filtered.head(0),
        {"method": "zscore", "mean": 0.0, "std": 1.0},
        2,
    )
    assert summary["raw"]["rows"] == 4
    assert (summary["raw"]["users"], summary["raw"]["artists"]) == (3, 2)
    assert summary["raw"]["density"] == pytest.approx(4 / 6)
    assert summary["raw"]["density_percent"] == 66.67
    assert summary["raw"]["weight"]["max"] == 13883.0 and summary["raw"]["weight"]["min"] == 1.0
    assert summary["raw"]["nulls"]["artists"]["pictureURL"] == 1
    assert summary["raw"]["sample"] == [
        {"userID": 2, "artistID": 51, "weight": 13883},
        {"userID": 2, "artistID": 52, "weight": 11690},
    ]
    assert summary["filtered"]["rows"] == 2 and summary["filtered"]["density"] == 1.0
    assert summary["split"] == {"train": 2, "validation": 0, "test": 0}
    assert isinstance(summary["raw"]["sample"][0]["weight"], int)  # JSON-safe, not numpy


def test_weight_plot_has_log_axes_and_labels(small_data) -> None:
    clean = validate_user_artists(small_data.user_artists)
    fig = plot_weight_distribution(clean, clean.head(100), {"method": "log_zscore"})
    assert isinstance(fig, Figure)
    raw_ax, scaled_ax = fig.axes
    assert raw_ax.get_xscale() == "log" and raw_ax.get_yscale() == "log"
    assert "plays" in raw_ax.get_xlabel() and raw_ax.get_title()
    assert [t.get_text() for t in scaled_ax.get_legend().get_texts()] == [
        "zscore",
        "log_zscore (used)",
    ]


def test_the_data_source_names_the_listeners_the_filter_removed() -> None:
    plays = pd.DataFrame(
        {"user_id": [3, 1, 2, 3], "artist_id": [9, 9, 8, 9], "weight": [1, 2, 3, 4]}
    )
    user_map = pd.DataFrame({"user_id": [1, 3], "user_index": [0, 1]})
    source = describe_source({"data": "raw/here"}, plays, user_map)
    assert source["filtered_out_users"] == [2] and source["raw_data"] == "raw/here"
