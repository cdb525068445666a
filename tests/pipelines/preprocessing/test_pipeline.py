"""The preprocessing pipeline end to end, through a real KedroSession on synthetic data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.runner import SequentialRunner
from omegaconf import OmegaConf

from music_recommender.pipelines.preprocessing import create_pipeline
from music_recommender.pipelines.preprocessing.rules import (
    FilterParams,
    RawDataError,
    SplitParams,
    UnnamedArtistParams,
)

OUTPUTS = {
    "data/02_intermediate/user_artists.parquet",
    "data/02_intermediate/artists.parquet",
    "data/02_intermediate/filtered_user_artists.parquet",
    "data/02_intermediate/friendships.parquet",  # empty without the side files
    "data/02_intermediate/tag_assignments.parquet",
    "data/02_intermediate/tags.parquet",
    "data/02_intermediate/side_files.json",
    "data/03_primary/interactions.parquet",
    "data/03_primary/user_map.csv",
    "data/03_primary/artist_map.csv",
    "data/03_primary/data_source.json",
    "data/03_primary/tag_map.csv",  # side information in model rows: empty without the files
    "data/05_model_input/tag_input.parquet",
    "data/05_model_input/friend_input.parquet",
    "data/05_model_input/tag_only_input.parquet",
    "data/05_model_input/tag_only_plays.parquet",
    "data/05_model_input/train_ratings.parquet",
    "data/05_model_input/validation_ratings.parquet",
    "data/05_model_input/test_ratings.parquet",
    "data/05_model_input/rating_scaler.json",
    "data/05_model_input/id_index.json",
    "data/08_reporting/preprocessing_summary.json",
    "data/08_reporting/weight_distribution.png",
}


def _run(project: Path, raw: Path, env: str | None = None, **params: object) -> None:
    """Run as `kedro run --pipelines preprocessing --params key=value,...` would, offline."""
    bootstrap_project(project)
    dotted = {"raw_data_dir": str(raw), "hetrec_url": "http://127.0.0.1:9/offline.zip", **params}
    # The CLI turns dotted keys into nested dicts the same way.
    runtime = OmegaConf.to_container(
        OmegaConf.from_dotlist([f"{k}={v}" for k, v in dotted.items()])
    )
    with KedroSession.create(project_path=project, env=env, runtime_params=runtime) as session:
        session.run(pipeline_names=["preprocessing"])


def test_pipeline_writes_every_output_in_its_layer(
    kedro_project: Path, raw_folder: Path, small_data
) -> None:
    _run(kedro_project, raw_folder)
    written = {str(p.relative_to(kedro_project)) for p in (kedro_project / "data").rglob("*.*")}
    assert written == OUTPUTS | {"data/.run.lock"}  # the lock file stays, unlocked

    summary = json.loads(
        (kedro_project / "data/08_reporting/preprocessing_summary.json").read_text()
    )
    raw = small_data.user_artists
    assert summary["raw"]["rows"] == len(raw)
    assert summary["raw"]["users"] == raw["userID"].nunique()
    assert summary["raw"]["artists"] == raw["artistID"].nunique()
    assert summary["filtered"]["density"] > summary["raw"]["density"]
    assert summary["normalisation"]["method"] == "log_zscore"
    assert not any(summary["side_files"]["present"].values())  # no side files: as before
    assert summary["side_files"]["tags"]["assignments"] == 0

    data = kedro_project / "data"
    artist_map = pd.read_csv(data / "03_primary/artist_map.csv", keep_default_na=False)
    names = small_data.artists.set_index("id")["name"]
    assert artist_map["artist_name"].tolist() == names.loc[artist_map["artist_id"]].tolist()
    splits = [
        pd.read_parquet(data / f"05_model_input/{p}_ratings.parquet")
        for p in ("train", "validation", "test")
    ]
    assert sum(map(len, splits)) == summary["filtered"]["rows"]
    assert list(splits[0].columns) == ["user_index", "artist_index", "weight", "rating"]
    assert splits[0]["artist_index"].max() == len(artist_map) - 1
    listeners = (
        pd.read_parquet(data / "03_primary/interactions.parquet").groupby("artist_index").size()
    )
    assert listeners.min() >= 5
    source = json.loads((data / "03_primary/data_source.json").read_text())
    assert source["raw_data"] == os.path.relpath(raw_folder, kedro_project)
    assert source["filtered_out_users"] == []  # the small data's listeners all keep a row


def test_runtime_params_override_one_nested_value(kedro_project: Path, raw_folder: Path) -> None:
    _run(
        kedro_project,
        raw_folder,
        **{
            "preprocessing.normalisation": "zscore",
            "preprocessing.filter.min_listeners_per_artist": 1,
        },
    )
    summary = json.loads(
        (kedro_project / "data/08_reporting/preprocessing_summary.json").read_text()
    )
    assert summary["normalisation"]["method"] == "zscore"
    assert summary["filtered"]["rows"] == summary["raw"]["rows"]  # 1 listener keeps every artist
    assert summary["split"]["validation"] > 0  # the sibling split parameters were not lost


def test_environment_overrides_a_single_parameter(kedro_project: Path, raw_folder: Path) -> None:
    env = kedro_project / "conf" / "article"
    env.mkdir()
    (env / "parameters_preprocessing.yml").write_text("preprocessing:\n  normalisation: zscore\n")
    _run(kedro_project, raw_folder, env="article")
    summary = json.loads(
        (kedro_project / "data/08_reporting/preprocessing_summary.json").read_text()
    )
    assert summary["normalisation"]["method"] == "zscore"
    assert summary["filtered"]["rows"] < summary["raw"]["rows"]  # base filter still applies


def test_bad_parameter_is_named(kedro_project: Path, raw_folder: Path) -> None:
    with pytest.raises(Exception, match=r"preprocessing\.split.*sum to 1"):
        _run(kedro_project, raw_folder, **{"preprocessing.split.test": 0.5})


def test_failed_validation_overwrites_nothing(kedro_project: Path, raw_folder: Path) -> None:
    _run(kedro_project, raw_folder)
    before = {p: (kedro_project / p).read_bytes() for p in OUTPUTS}
    with (raw_folder / "user_artists.dat").open("ab") as f:
        f.write(b"\r\n2\t1\t-5")  # a negative play count on the last line
    with pytest.raises(RawDataError, match=r"user_artists\.dat is not valid") as info:
        _run(kedro_project, raw_folder, **{"preprocessing.split.seed": 99})
    assert "column 'weight' must be a positive number" in str(info.value)
    assert {p: (kedro_project / p).read_bytes() for p in OUTPUTS} == before


def test_missing_raw_data_offline_stops_with_instructions(
    kedro_project: Path, tmp_path: Path
) -> None:
    with pytest.raises(DatasetError) as info:
        _run(kedro_project, tmp_path / "empty")
    message = str(info.value)
    assert "Raw data missing" in message and "http://127.0.0.1:9/offline.zip" in message
    assert not any(p.name != ".run.lock" for p in (kedro_project / "data").rglob("*.*"))


def test_pipeline_with_sequential_runner_and_in_memory_catalog(small_data) -> None:
    catalog = DataCatalog(
        {
            "user_artists_raw": MemoryDataset(small_data.user_artists),
            "artists_raw": MemoryDataset(small_data.artists),
            # No side files: empty tables with their columns, as the catalog gives when absent.
            "user_friends_raw": MemoryDataset(pd.DataFrame(columns=["userID", "friendID"])),
            "tagged_artists_raw": MemoryDataset(
                pd.DataFrame(columns=["userID", "artistID", "tagID", "day", "month", "year"])
            ),
            "tags_raw": MemoryDataset(pd.DataFrame(columns=["tagID", "tagValue"])),
            "params:preprocessing.filter": MemoryDataset(FilterParams()),
            "params:preprocessing.split": MemoryDataset(SplitParams()),
            "params:preprocessing.unnamed_artists": MemoryDataset(UnnamedArtistParams()),
            "params:preprocessing.normalisation": MemoryDataset("log_zscore"),
            "params:preprocessing.summary_sample_rows": MemoryDataset(3),
            "run_info": MemoryDataset({"data": "somewhere/hetrec", "started": "today"}),
        }
    )
    out = SequentialRunner().run(create_pipeline(), catalog)
    assert out["data_source"].load()["raw_data"] == "somewhere/hetrec"
    summary = out["preprocessing_summary"].load()
    assert out["id_index"].load()["n_users"] == summary["filtered"]["users"]
    assert summary["normalisation"]["method"] == "log_zscore"
    assert len(out["preprocessing_summary"].load()["raw"]["sample"]) == 3


@pytest.mark.parametrize(
    ("params", "edit", "message"),
    [
        # Before: artists.parquet was saved before user_artists.dat was read.
        ({}, b"\r\n2\tx\t5", r"column 'artistID' must hold integer ids"),
        # Before: user_artists.parquet was overwritten, then the filter found nothing left.
        ({"preprocessing.filter.min_listeners_per_artist": 100_000}, b"", r"removed every row"),
    ],
)
def test_a_run_stopped_by_either_file_or_the_filter_overwrites_nothing(
    kedro_project: Path, raw_folder: Path, params: dict, edit: bytes, message: str
) -> None:
    _run(kedro_project, raw_folder)
    before = {p: (kedro_project / p).read_bytes() for p in OUTPUTS}
    with (raw_folder / "user_artists.dat").open("ab") as f:
        f.write(edit)
    with pytest.raises(RawDataError, match=message):
        _run(kedro_project, raw_folder, **params)
    assert {p: (kedro_project / p).read_bytes() for p in OUTPUTS} == before


def test_side_files_in_the_raw_folder_are_read_checked_and_summarised(
    kedro_project: Path, raw_folder: Path, small_data
) -> None:
    users = sorted(small_data.user_artists["userID"].unique())
    artists = sorted(small_data.artists["id"])
    lines = ["userID\tfriendID", f"{users[0]}\t{users[1]}", f"{users[1]}\t{users[0]}"]
    lines.append(f"{users[0]}\t999999")  # a friend who never played anything
    (raw_folder / "user_friends.dat").write_bytes("\r\n".join(lines).encode())
    tagged = ["userID\tartistID\ttagID\tday\tmonth\tyear"]
    tagged += [f"{users[0]}\t{a}\t1\t1\t4\t2009" for a in artists[:5]]
    tagged.append(f"{users[1]}\t{artists[0]}\t2\t1\t4\t2009")
    (raw_folder / "user_taggedartists.dat").write_bytes("\r\n".join(tagged).encode())
    (raw_folder / "tags.dat").write_bytes(
        "tagID\ttagValue\r\n1\trock\r\n2\tmotörhead".encode("latin-1")
    )
    _run(kedro_project, raw_folder)
    data = kedro_project / "data"
    summary = json.loads((data / "08_reporting/preprocessing_summary.json").read_text())
    side = summary["side_files"]
    assert all(side["present"].values())
    assert side["friends"]["friendships"] == 1 and side["dropped"]["friendships_unknown_user"] == 1
    assert side["tags"]["assignments"] == 6 and side["tags"]["top_tags"] == {
        "rock": 5,
        "motörhead": 1,
    }
    tags = pd.read_parquet(data / "02_intermediate/tags.parquet")
    assert tags["tag"].tolist() == ["rock", "motörhead"]
    assert len(pd.read_parquet(data / "02_intermediate/tag_assignments.parquet")) == 6


def test_side_files_in_the_raw_folder_become_model_rows(
    kedro_project: Path, raw_folder: Path, small_data
) -> None:
    plays = small_data.user_artists
    listeners = plays.groupby("artistID")["userID"].nunique()
    kept, rare = listeners[listeners >= 5].index, listeners[listeners < 5].index
    users = sorted(plays["userID"].unique())
    rows = [f"{users[0]}\t{kept[0]}\t1\t1\t1\t2009", f"{users[1]}\t{kept[0]}\t2\t1\t1\t2009"]
    rows += [f"{users[2]}\t{rare[0]}\t2\t1\t1\t2009"]  # the small data has 39 such artists
    header = "userID\tartistID\ttagID\tday\tmonth\tyear"
    (raw_folder / "user_taggedartists.dat").write_text("\r\n".join([header, *rows]))
    (raw_folder / "tags.dat").write_bytes(
        "tagID\ttagValue\r\n1\télectro\r\n2\trock".encode("latin-1")
    )
    friends = f"userID\tfriendID\r\n{users[0]}\t{users[1]}\r\n{users[1]}\t{users[0]}"
    (raw_folder / "user_friends.dat").write_text(friends)
    _run(kedro_project, raw_folder)
    data = kedro_project / "data"
    tag_map = pd.read_csv(data / "03_primary/tag_map.csv", keep_default_na=False)
    assert tag_map["tag"].tolist() == ["électro", "rock"]  # Latin-1 read as such
    tag_input = pd.read_parquet(data / "05_model_input/tag_input.parquet")
    assert len(tag_input) == 2 and tag_input["artist_index"].nunique() == 1
    assert len(pd.read_parquet(data / "05_model_input/friend_input.parquet")) == 2
    tag_only = pd.read_parquet(data / "05_model_input/tag_only_input.parquet")
    assert tag_only["artist_id"].tolist() == [int(rare[0])]  # below the filter, tagged "rock"
    who = pd.read_parquet(data / "05_model_input/tag_only_plays.parquet")
    assert len(who) == listeners[rare[0]] >= 1  # its few listeners: never suggested it
