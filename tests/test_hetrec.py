"""The HetRec loader, the fetcher and the Kedro dataset around them."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from music_recommender import synthetic
from music_recommender.datasets import HetrecDataset
from music_recommender.hetrec import (
    HETREC_URL,
    HetrecFile,
    RawDataCheckError,
    RawDataMissingError,
    RawFileError,
    fetch_hetrec,
    read_hetrec,
)


def test_read_handles_crlf_missing_final_newline_and_quotes(raw_folder: Path, small_data) -> None:
    raw = (raw_folder / "user_artists.dat").read_bytes()
    assert b"\r\n" in raw and not raw.endswith(b"\n")
    user_artists = read_hetrec(raw_folder / "user_artists.dat")
    artists = read_hetrec(raw_folder / "artists.dat")
    pd.testing.assert_frame_equal(user_artists, small_data.user_artists)
    pd.testing.assert_frame_equal(artists, small_data.artists, check_dtype=False)
    assert artists["name"].str.contains('"').any()
    assert user_artists.attrs["source"].endswith("user_artists.dat")


def test_read_real_style_quote_at_start_of_name(tmp_path: Path) -> None:
    path = tmp_path / "artists.dat"
    path.write_text(
        'id\tname\turl\tpictureURL\n1\t"Weird Al" Yankovic\tu\t\n2\tBjörk\tu\tp\n', "utf-8"
    )
    frame = read_hetrec(path)
    assert frame["name"].tolist() == ['"Weird Al" Yankovic', "Björk"]
    assert frame["pictureURL"].isna().tolist() == [True, False]


def _zip(
    folder: Path, target: Path, names: tuple[str, ...] = ("user_artists.dat", "artists.dat")
) -> str:
    with zipfile.ZipFile(target, "w") as zf:
        for name in names:
            zf.write(folder / name, f"hetrec2011-lastfm-2k/{name}")
        zf.writestr("hetrec2011-lastfm-2k/tags.dat", "tagID\ttagValue\n")
    return target.as_uri()


def _expected(small_data) -> dict[str, HetrecFile]:
    return {
        "user_artists.dat": HetrecFile(
            ("userID", "artistID", "weight"), len(small_data.user_artists)
        ),
        "artists.dat": HetrecFile(("id", "name", "url", "pictureURL"), len(small_data.artists)),
    }


def test_fetch_extracts_and_checks_both_files(raw_folder: Path, tmp_path: Path, small_data) -> None:
    url = _zip(raw_folder, tmp_path / "a.zip")
    target = tmp_path / "fresh" / "hetrec"
    paths = fetch_hetrec(target, url, _expected(small_data))
    assert sorted(p.name for p in target.iterdir()) == ["artists.dat", "user_artists.dat"]
    assert (target / "user_artists.dat").read_bytes() == (
        raw_folder / "user_artists.dat"
    ).read_bytes()
    assert paths == [target / "user_artists.dat", target / "artists.dat"]


def test_fetch_with_wrong_row_count_writes_nothing(
    raw_folder: Path, tmp_path: Path, small_data
) -> None:
    url = _zip(raw_folder, tmp_path / "a.zip")
    target = tmp_path / "fresh"
    expected = _expected(small_data)
    expected["artists.dat"] = HetrecFile(expected["artists.dat"].columns, 17_632)
    with pytest.raises(
        RawDataCheckError, match=r"artists\.dat from the download has 150 rows, expected 17,632"
    ):
        fetch_hetrec(target, url, expected)
    assert not target.exists() or not any(target.iterdir())


def test_fetch_archive_missing_a_file(raw_folder: Path, tmp_path: Path, small_data) -> None:
    url = _zip(raw_folder, tmp_path / "a.zip", names=("artists.dat",))
    with pytest.raises(RawDataCheckError, match=r"has no user_artists\.dat"):
        fetch_hetrec(tmp_path / "fresh", url, _expected(small_data))


def test_fetch_not_a_zip(tmp_path: Path) -> None:
    bad = tmp_path / "a.zip"
    bad.write_text("<html>not found</html>")
    with pytest.raises(RawDataCheckError, match="not a zip archive"):
        fetch_hetrec(tmp_path / "fresh", bad.as_uri())


def test_offline_fetch_gives_one_clear_message(tmp_path: Path) -> None:
    # Port 9 on loopback refuses at once: the same path as having no network.
    with pytest.raises(RawDataMissingError) as info:
        fetch_hetrec(tmp_path / "nowhere", "http://127.0.0.1:9/hetrec.zip", timeout=5)
    message = str(info.value)
    assert "user_artists.dat, artists.dat not found in" in message
    assert str(tmp_path / "nowhere") in message
    assert "http://127.0.0.1:9/hetrec.zip" in message
    assert "raw_data_dir=" in message


def test_dataset_loads_present_file_without_network(raw_folder: Path) -> None:
    ds = HetrecDataset(
        str(raw_folder / "user_artists.dat"), download_url="http://127.0.0.1:9/never.zip"
    )
    assert ds.exists()
    assert len(ds.load()) > 0


def test_dataset_fetches_missing_file(raw_folder: Path, tmp_path: Path, small_data) -> None:
    url = _zip(raw_folder, tmp_path / "a.zip")
    rows = {name: spec.rows for name, spec in _expected(small_data).items()}
    target = tmp_path / "cache" / "artists.dat"
    ds = HetrecDataset(str(target), download_url=url, expected_rows=rows)
    assert not ds.exists()
    assert ds.load()["name"].tolist() == small_data.artists["name"].tolist()
    assert (target.parent / "user_artists.dat").exists()  # one download serves both files


def test_dataset_without_url_explains_where_to_put_files(tmp_path: Path) -> None:
    ds = HetrecDataset(str(tmp_path / "user_artists.dat"), download_url=None)
    with pytest.raises(DatasetError, match="download_url is null") as info:
        ds.load()
    assert HETREC_URL in str(info.value)


def test_dataset_offline_error_is_a_dataset_error(tmp_path: Path) -> None:
    ds = HetrecDataset(str(tmp_path / "user_artists.dat"), download_url="http://127.0.0.1:9/x.zip")
    with pytest.raises(DatasetError, match="Raw data missing"):
        ds.load()


def test_dataset_is_read_only(raw_folder: Path) -> None:
    ds = HetrecDataset(str(raw_folder / "user_artists.dat"))
    with pytest.raises(DatasetError, match="raw input data"):
        ds.save(pd.DataFrame())


def test_synthetic_is_seeded_heavy_tailed_and_unique() -> None:
    a = synthetic.generate(50, 100, 10, seed=5)
    b = synthetic.generate(50, 100, 10, seed=5)
    c = synthetic.generate(50, 100, 10, seed=6)
    pd.testing.assert_frame_equal(a.user_artists, b.user_artists)
    assert not a.user_artists.equals(c.user_artists)
    assert not a.user_artists.duplicated(["userID", "artistID"]).any()
    w = synthetic.generate(300, 800, 40, seed=0).user_artists["weight"]
    assert w.min() >= 1 and w.mean() > 2 * w.median()
    assert a.user_factors.shape == (50, 8) and a.artist_bias.shape == (100,)


def test_synthetic_rejects_impossible_sizes() -> None:
    with pytest.raises(ValueError, match=r"artists_per_user \(20\) exceeds n_artists \(10\)"):
        synthetic.generate(5, 10, 20)


def test_an_empty_file_is_named_as_empty(tmp_path: Path) -> None:
    (tmp_path / "user_artists.dat").write_bytes(b"")
    with pytest.raises(RawFileError, match=r"user_artists\.dat: the file is empty"):
        read_hetrec(tmp_path / "user_artists.dat")


def test_windows_encoded_names_are_read_with_a_warning_naming_the_line(
    tmp_path: Path, caplog
) -> None:
    path = tmp_path / "artists.dat"
    text = "id\tname\turl\tpictureURL\r\n1\tBjörk\tu\tp\r\n2\tBeyoncé — live\tu\tp\r\n"
    path.write_bytes(text.encode("cp1252"))
    with caplog.at_level(logging.WARNING):
        frame = read_hetrec(path)
    assert frame["name"].tolist() == ["Björk", "Beyoncé — live"]
    assert "artists.dat: line 2 is not UTF-8" in caplog.text


def test_a_download_brings_the_side_files_that_pass_their_check(
    raw_folder: Path, tmp_path: Path, small_data, monkeypatch
) -> None:
    side = {
        "tags.dat": HetrecFile(("tagID", "tagValue"), 2, "latin-1"),
        "user_friends.dat": HetrecFile(("userID", "friendID"), 99),
    }
    monkeypatch.setattr("music_recommender.hetrec.SIDE_FILES", side)
    target = tmp_path / "a.zip"
    with zipfile.ZipFile(target, "w") as zf:
        for name in ("user_artists.dat", "artists.dat"):
            zf.write(raw_folder / name, f"hetrec2011-lastfm-2k/{name}")
        zf.writestr(
            "hetrec2011-lastfm-2k/tags.dat",
            "tagID\ttagValue\r\n1\trock\r\n2\tmotörhead".encode("latin-1"),
        )
        zf.writestr(
            "hetrec2011-lastfm-2k/user_friends.dat", "userID\tfriendID\r\n2\t3"
        )  # 1 row, not 99
    folder = tmp_path / "fresh"
    fetch_hetrec(folder, target.as_uri(), _expected(small_data))
    assert sorted(p.name for p in folder.iterdir()) == [
        "artists.dat",
        "tags.dat",
        "user_artists.dat",
    ]
    assert read_hetrec(folder / "tags.dat", encoding="latin-1")["tagValue"].tolist() == [
        "rock",
        "motörhead",
    ]


def test_synthetic_side_files_carry_taste_and_read_back_as_hetrecs(tmp_path: Path) -> None:
    data = synthetic.generate(n_users=60, n_artists=80, artists_per_user=10, n_factors=3, seed=1)
    folder = synthetic.write_hetrec(data, tmp_path / "raw", side=True)
    tags = read_hetrec(folder / "tags.dat", encoding="latin-1")
    assert "électro 0" in set(tags["tagValue"])  # written in Latin-1, as GroupLens's
    tagged = read_hetrec(folder / "user_taggedartists.dat")
    # every artist carries the tags of its two strongest planted factors, nothing else
    row = np.searchsorted(data.artist_ids, tagged["artistID"].to_numpy())
    factor = (tagged["tagID"].to_numpy() - 1) // 2
    strongest = np.argsort(-np.abs(data.artist_factors), axis=1)[:, :2]
    assert (strongest[row] == factor[:, None]).any(axis=1).all()
    friends = read_hetrec(folder / "user_friends.dat")
    pairs = set(zip(friends["userID"], friends["friendID"], strict=True))
    assert pairs and all((b, a) in pairs and a != b for a, b in pairs)
