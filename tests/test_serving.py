"""The recommender as an MLflow model: requests answered, explained, registered, served over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from music_recommender import serving, synthetic

from .conftest import make_project
from .test_run import run

PARAMS = {
    "training.rating.options.hyperparameters": "fixed",
    "training.recommending.options.hyperparameters": "fixed",
    "preprocessing.filter.min_listeners_per_artist": 2,
    "training.recommending.implicit.n_factors": 8,
}
NAME = "music-recommender"


@pytest.fixture(scope="module")
def registered(tmp_path_factory, small_data) -> tuple[Path, str]:
    """A project after two tracked runs: a good model, then a worse one (regularised to nothing)."""
    root = tmp_path_factory.mktemp("serving")
    raw = synthetic.write_hetrec(small_data, root / "raw")
    project = make_project(root / "project")
    (project / "conf/local/tracking.yml").write_text("enabled: true\n")
    saved = os.environ.pop("MUSIC_RECOMMENDER_TRACKING", None)
    try:
        run(project, raw, ["preprocessing", "training"], **PARAMS)
        nothing = {f"training.recommending.implicit.{k}": 1e6 for k in ("reg", "bias_reg")}
        run(project, raw, ["training"], **(PARAMS | nothing))
    finally:
        if saved is not None:
            os.environ["MUSIC_RECOMMENDER_TRACKING"] = saved
    return project, f"sqlite:///{project / 'mlruns/mlflow.db'}"


@pytest.fixture(scope="module")
def served(registered) -> serving.Served:
    """The champion's files, read as the served model reads them."""
    import mlflow  # noqa: PLC0415

    _, uri = registered
    mlflow.set_tracking_uri(uri)
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}@champion")) / "artifacts"
    return serving.Served.from_files(
        folder / "implicit_model.pt",
        folder / "user_map.csv",
        folder / "artist_map.csv",
        folder / "plays.npz",
    )


def test_champion_moves_only_to_a_version_at_least_as_good(registered) -> None:
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    _, uri = registered
    client = MlflowClient(tracking_uri=uri)
    champion = client.get_model_version_by_alias(NAME, "champion")
    candidate = client.get_model_version_by_alias(NAME, "candidate")
    assert (str(champion.version), str(candidate.version)) == (
        "1",
        "2",
    )  # the worse second run stays out
    ndcg = {
        v: client.get_run(client.get_model_version(NAME, v).run_id).data.metrics[
            serving.NDCG_METRIC
        ]
        for v in ("1", "2")
    }
    assert ndcg["2"] < ndcg["1"]
    assert serving.should_promote("best_ndcg", 0.30, 0.30) and not serving.should_promote(
        "best_ndcg", 0.29, 0.30
    )
    assert serving.should_promote("every_run", 0.1, 0.3) and not serving.should_promote(
        "manual", 0.9, 0.1
    )
    with pytest.raises(serving.RequestError, match=r"tracking\.registry\.champion must be one of"):
        serving.should_promote("sometimes", 0.1, 0.2)


def test_the_three_requests_are_answered_and_lists_hold(served: serving.Served) -> None:
    user = next(iter(served.user_rows))
    first = serving.answer(served, {"user_id": user, "n": 5})
    assert first["rank"].tolist() == [1, 2, 3, 4, 5]
    played = set(served.plays[served.user_rows[user]].indices)
    shown = set(np.flatnonzero(np.isin(served.artist_ids, first["artist_id"])))
    assert not shown & played  # never an artist they played
    banned, allowed = first["artist_name"].iloc[0], list(served.artist_names[:40])
    again = serving.answer(served, {"user_id": user, "n": 5, "exclude": [banned], "items": allowed})
    assert banned not in again["artist_name"].tolist()
    assert set(again["artist_name"]) <= set(allowed)
    name = str(served.artist_names[3])
    new = serving.answer(served, {"listen": {name: 50.0, str(served.artist_ids[4]): 7}, "n": 3})
    assert len(new) == 3 and name not in new["artist_name"].tolist()
    similar = serving.answer(
        served, {"similar_to": name.upper(), "n": 4, "exclude": [str(served.artist_names[0])]}
    )
    assert len(similar) == 4 and name not in similar["artist_name"].tolist()


def test_an_explanation_sums_to_the_score(served: serving.Served) -> None:
    user = next(iter(served.user_rows))
    answer = serving.answer(served, {"user_id": user, "n": 3, "explain": True})
    row = served.plays[served.user_rows[user]]
    for artist_id in answer["artist_id"]:
        item = int(np.flatnonzero(served.artist_ids == artist_id)[0])
        why = served.recommender.explain(row.indices, row.data, item)
        assert why.baseline + why.contributions.sum() == pytest.approx(why.score, abs=1e-9)
    because = json.loads(answer["because"].iloc[0])
    assert (
        set(because) == {"baseline", "played"}
        and because["played"][0]["share"] >= because["played"][-1]["share"]
    )


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"user_id": 2, "n": 0}, "n must be an integer >= 1"),
        ({"user_id": 99_999_999}, "user_id 99999999 is not a listener the model knows"),
        ({"listen": {"No Such Band": 3}}, "listen: unknown artist 'No Such Band'"),
        (
            {"listen": {"Artist 2": float("inf")}},
            "the plays of 'Artist 2' must be a finite number > 0",
        ),
        ({"similar_to": "x", "user_id": 2}, "give exactly one of user_id, listen, similar_to"),
        ({"user": 2}, "unknown field(s) user"),
    ],
)
def test_a_bad_request_is_one_message_naming_the_field(served, request_, field) -> None:
    with pytest.raises(serving.RequestError) as error:
        serving.answer(served, request_)
    assert field in str(error.value)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(port: int, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_mlflow_models_serve_answers_over_http_and_a_bad_request_is_a_400(registered) -> None:
    project, uri = registered
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = os.environ | {
        "MLFLOW_TRACKING_URI": uri,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    command = [
        f"{bin_dir}/mlflow", "models", "serve", "-m", f"models:/{NAME}@champion",
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the server did not start in 120 s"
                time.sleep(0.25)
        users = pd.read_csv(project / "data/03_primary/user_map.csv")["user_id"]
        artist = pd.read_csv(project / "data/03_primary/artist_map.csv", keep_default_na=False)[
            "artist_name"
        ].iloc[0]
        status, body = _post(
            port,
            {
                "inputs": [
                    {"user_id": int(users.iloc[0]), "n": 3},
                    {"listen": {artist: 120.0}, "n": 2, "explain": True},
                    {"similar_to": artist, "n": 2},
                ]
            },
        )
        assert status == 200, body
        answers = pd.DataFrame(body["predictions"])
        assert answers.groupby("request").size().tolist() == [3, 2, 2]
        assert (
            json.loads(answers[answers["request"] == 1]["because"].iloc[0])["played"][0]["artist"]
            == artist
        )
        for bad, said in [
            ({"user_id": int(users.iloc[0]), "n": 0}, "n must be an integer >= 1"),
            ({"user_id": 99_999_999}, "is not a listener the model knows"),
            ({"similar_to": "No Such Band"}, "similar_to: unknown artist"),
            ({"listen": {artist: -1.0}}, "must be a finite number > 0"),
            ({"user_id": "abc"}, "user_id"),
        ]:
            status, body = _post(port, {"inputs": [bad]})
            assert status == 400, (bad, body)
            assert said in body["message"] and "Traceback" not in body["message"], body
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_batch_writes_every_listeners_top_n_from_the_registered_model(registered, tmp_path) -> None:
    project, uri = registered
    out = tmp_path / "recs.parquet"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "music-recommender"),
            "batch",
            "--out",
            str(out),
            "-n",
            "3",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=os.environ | {"MLFLOW_TRACKING_URI": uri},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_parquet(out)
    users = pd.read_csv(project / "data/03_primary/user_map.csv")["user_id"]
    assert table.groupby("user_id").size().eq(3).all() and set(table["user_id"]) == set(users)
    assert list(table.columns) == ["user_id", "rank", "artist_id", "artist_name", "score"]


def test_the_serving_benchmark_measures_each_request_and_ends_with_json(registered) -> None:
    project, _ = registered
    script = Path(__file__).resolve().parents[1] / "benchmarks/serving.py"
    options = ["--sizes", "hetrec", "--project", str(project), "--repeats", "3"]
    done = subprocess.run(
        [sys.executable, str(script), *options, "--server-requests", "3"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])["hetrec"]
    for kind in ("known_top10", "fold_in_50", "similar_10"):
        assert 0 < result[kind]["p50_ms"] <= result[kind]["p99_ms"]
    assert result["load_s"] > 0 and result["server_requests_per_s"] > 0
