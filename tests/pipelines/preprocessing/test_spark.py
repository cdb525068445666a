"""Preprocessing on Spark (`kedro run --env spark`) equals preprocessing on pandas.

Skipped only where Spark cannot start: pyspark not installed (`pip install -e '.[spark]'`) or no
Java (`apt-get install openjdk-17-jre-headless`; `.ci/run` installs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from music_recommender.atomic import PARTIAL, remove_partials
from music_recommender.datasets.spark_parquet_dataset import SparkParquetDataset
from music_recommender.pipelines.preprocessing.nodes import (
    apply_scaler,
    fit_scaler,
    index_ids,
    split_interactions,
    validate_raw_data,
)
from music_recommender.pipelines.preprocessing.rules import (
    FilterParams,
    RawDataError,
    SplitParams,
    UnnamedArtistParams,
)
from music_recommender.row_hash import xxhash64
from music_recommender.spark_session import (
    SparkSetupError,
    check_requirements,
    java_available,
    start,
)
from music_recommender.tracking import flatten
from tests.conftest import preprocessing_outputs
from tests.test_run import latest, run

pytest.importorskip("pyspark", reason="pyspark is not installed: pip install -e '.[spark]'")
needs_java = pytest.mark.skipif(
    not java_available(),
    reason="Spark needs Java: apt-get install openjdk-17-jre-headless (.ci/run installs it)",
)


@pytest.fixture(scope="module")
def spark():
    if not java_available():
        pytest.skip(needs_java.kwargs["reason"])
    session = start(
        {
            "spark.master": "local[1]",
            "spark.sql.shuffle.partitions": 2,
            "spark.ui.enabled": False,
            "spark.sql.execution.arrow.pyspark.enabled": True,
            "log_level": "ERROR",
        },
        "music-recommender-tests",
    )
    yield session
    session.stop()


def _spark_frame(spark, frame: pd.DataFrame):
    """The raw file as Spark reads it: every column text."""
    return spark.createDataFrame(frame.astype(str))


def test_row_hash_equals_sparks_xxhash64(spark) -> None:
    from pyspark.sql import functions as F  # noqa: PLC0415 (after the importorskip)

    rng = np.random.default_rng(0)
    users = np.r_[rng.integers(-(2**62), 2**62, 500), 0, -1, 2**63 - 1]
    items = np.r_[rng.integers(0, 2**40, 500), 0, 7, -(2**63)]
    frame = spark.createDataFrame(pd.DataFrame({"u": users, "a": items}), "u long, a long").select(
        F.xxhash64(F.lit(42).cast("long"), "u", "a").alias("h")
    )
    assert np.array_equal(frame.toPandas()["h"].to_numpy(), xxhash64(42, users, items))


def test_nodes_give_the_same_rows_on_both_engines(spark, small_data) -> None:
    unnamed, rule = UnnamedArtistParams(), FilterParams(min_listeners_per_artist=3)
    split = SplitParams(train=0.5, validation=0.2, test=0.3, seed=5)
    plays, names, kept = validate_raw_data(
        small_data.user_artists, small_data.artists, unnamed, rule
    )
    s_plays, s_names, s_kept = validate_raw_data(
        _spark_frame(spark, small_data.user_artists), small_data.artists, unnamed, rule
    )
    assert s_names.equals(names)
    assert s_kept.count() == len(kept) and s_plays.count() == len(plays)
    rows, user_map, artist_map = index_ids(kept, names)
    s_rows, s_user_map, s_artist_map = index_ids(s_kept, s_names)
    assert s_user_map.equals(user_map) and s_artist_map.equals(artist_map)
    order = ["user_index", "artist_index"]
    assert s_rows.toPandas().sort_values(order, ignore_index=True).equals(rows)
    parts = split_interactions(rows, split)
    s_parts = split_interactions(s_rows, split)
    scaler, s_scaler = fit_scaler(parts[0], "log_zscore"), fit_scaler(s_parts[0], "log_zscore")
    assert s_scaler["method"] == scaler["method"]
    assert s_scaler == scaler  # summed per play value in value order: the same floats
    for part, s_part in zip(parts, s_parts, strict=True):
        got = apply_scaler(s_part, scaler).toPandas().sort_values(order, ignore_index=True)
        want = apply_scaler(part, scaler)
        assert got.dtypes.equals(want.dtypes)
        assert got[["user_index", "artist_index", "weight"]].equals(want[[*order, "weight"]])
        assert np.array_equal(got["rating"], want["rating"])


def test_bad_rows_get_the_same_message(spark, small_data) -> None:
    bad = small_data.user_artists.copy()
    bad.loc[3, "weight"] = -2
    with pytest.raises(RawDataError) as pandas_error:
        validate_raw_data(bad, small_data.artists, UnnamedArtistParams(), FilterParams())
    with pytest.raises(RawDataError) as spark_error:
        validate_raw_data(
            _spark_frame(spark, bad), small_data.artists, UnnamedArtistParams(), FilterParams()
        )
    rule = "column 'weight' must be a positive number (a play count) of at most 1e+12: 1 row(s)"
    assert rule in str(pandas_error.value) and rule in str(spark_error.value)


def test_kedro_run_env_spark_writes_the_same_preprocessing_and_metrics(
    spark, kedro_project: Path, raw_folder: Path
) -> None:
    """The whole run on both engines; the Spark one also solves the implicit model on 2 processes."""
    small = {"preprocessing.filter.min_listeners_per_artist": 2}
    run(kedro_project, raw_folder, **small)
    run(
        kedro_project,
        raw_folder,
        env="spark",
        **small,
        **{"training.recommending.implicit.processes": 2},
    )
    data = kedro_project / "data"
    base = preprocessing_outputs(data, spark=False)
    other = preprocessing_outputs(kedro_project / "data/spark", spark=True)
    blocks = sorted(
        p.name for p in (kedro_project / "data/spark/05_model_input/train_ratings").iterdir()
    )
    assert "listener_block=0" in blocks  # partitioned by listener block
    for key in ("user_map", "artist_map", "train", "validation", "test"):
        assert other[key].equals(base[key]), key
    assert other["id_index"] == base["id_index"]
    assert other["scaler"] == base["scaler"]
    for key in ("rows", "users", "artists"):
        assert other["summary"]["filtered"][key] == base["summary"]["filtered"][key]
    assert other["summary"]["split"] == base["summary"]["split"]
    assert other["summary"]["raw"]["nulls"] == base["summary"]["raw"]["nulls"]
    for name in ("metrics.json", "ranking_metrics.json"):
        want, got = (
            flatten(json.loads(latest(d / "08_reporting" / name).read_text()))
            for d in (data, data / "spark")
        )
        assert got.keys() == want.keys()
        for key, value in want.items():  # the same numbers, to float rounding; not the clock
            if key.endswith("seconds"):
                continue
            assert got[key] == (pytest.approx(value, rel=1e-6) if _number(value) else value), key


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_without_java_the_run_stops_with_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SparkSetupError, match="openjdk-17-jre-headless"):
        check_requirements({})
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "PATH": str(tmp_path), "JAVA_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(kedro), "run", "--env", "spark", "--pipelines", "preprocessing"],
        cwd=Path(__file__).parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "openjdk-17-jre-headless" in lines[0], done.stderr


def test_a_failed_spark_save_keeps_the_last_output(spark, tmp_path: Path) -> None:
    from pyspark.sql import functions as F  # noqa: PLC0415 (after the importorskip)

    folder = tmp_path / "data" / "05_model_input"
    dataset = SparkParquetDataset(str(folder / "rows"), listeners_per_block=2, load_as="pandas")
    rows = pd.DataFrame(
        {"user_index": [0, 1, 2, 3], "artist_index": [1, 0, 1, 0], "weight": [1.0, 2.0, 3.0, 4.0]}
    )
    good = spark.createDataFrame(rows)
    dataset.save(good)
    assert sorted(p.name for p in (folder / "rows").iterdir() if p.is_dir()) == [
        "listener_block=0",
        "listener_block=1",
    ]
    with pytest.raises(Exception, match="boom"):
        dataset.save(good.withColumn("weight", F.raise_error(F.lit("boom")).cast("double")))
    assert dataset.load().equals(rows)  # the last good output, whole
    assert not list(folder.glob(f"*{PARTIAL}*"))
    killed = folder / f"rows{PARTIAL}999"  # a job killed mid-write leaves its folder
    killed.mkdir()
    (killed / "part-00000.parquet").write_bytes(b"PAR1")
    assert remove_partials(tmp_path / "data") == [killed]
    assert not killed.exists()


def test_a_missing_raw_file_is_named_as_in_the_base_run(spark, tmp_path: Path) -> None:
    from music_recommender.datasets.spark_raw_dataset import SparkRawDataset  # noqa: PLC0415
    from music_recommender.hetrec import RawDataMissingError  # noqa: PLC0415

    dataset = SparkRawDataset(filepath=str(tmp_path / "user_artists.dat"), file_format="csv")
    with pytest.raises(Exception) as error:
        dataset.load()
    assert isinstance(error.value.__cause__ or error.value, RawDataMissingError)
    assert f"user_artists.dat not found in {tmp_path}/" in str(error.value)
