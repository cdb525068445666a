"""`music-recommender recommend|similar` on a small model trained by a real KedroSession."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from music_recommender import cli, synthetic

from .conftest import make_project
from .test_run import latest, run


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory, small_data) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("cli")
    raw = synthetic.write_hetrec(small_data, root / "raw")
    project = make_project(root / "project")
    run(
        project,
        raw,
        ["preprocessing", "training"],
        **{
            "training.rating.options.hyperparameters": "fixed",
            "training.recommending.options.hyperparameters": "fixed",
            "preprocessing.filter.min_listeners_per_artist": 2,
            "training.recommending.implicit.n_factors": 8,
        },
    )
    return project, pd.read_csv(project / "data/03_primary/artist_map.csv", keep_default_na=False)


def test_recommend_for_a_known_user_prints_a_table(trained_project, capsys) -> None:
    project, _ = trained_project
    user = int(pd.read_csv(project / "data/03_primary/user_map.csv")["user_id"].iloc[0])
    assert cli.run(["--project", str(project), "recommend", "--user", str(user), "-n", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["rank", "artist", "score"] and len(lines) == 5
    recs = pd.read_parquet(project / "data/07_model_output/recommendations.parquet")
    expected = recs[recs["user_id"] == user].head(4)["artist_name"].tolist()
    assert all(name in "\n".join(lines) for name in expected)


def test_unknown_user_is_one_clear_error(trained_project, capsys) -> None:
    project, _ = trained_project
    assert cli.run(["--project", str(project), "recommend", "--user", "999999"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "music-recommender: unknown user 999999; closest ids:"
    )


def test_similar_and_unknown_artist(trained_project, capsys) -> None:
    project, artist_map = trained_project
    name = artist_map["artist_name"].iloc[0]
    assert cli.run(["--project", str(project), "similar", "--artist", name.upper(), "-n", "3"]) == 0
    out = capsys.readouterr().out
    assert "similarity" in out and name not in out.splitlines()[1:]
    assert cli.run(["--project", str(project), "similar", "--artist", name[:-1] + "x"]) == 2
    assert f"closest: {name!r}" in capsys.readouterr().err


def test_new_listener_is_folded_in(trained_project, capsys) -> None:
    project, artist_map = trained_project
    names = artist_map["artist_name"].head(3).tolist()
    args = ["--project", str(project), "recommend", "-n", "5"]
    for i, name in enumerate(names):
        args += ["--listen", f"{name}={100 * (i + 1)}"]
    assert cli.run(args) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 6
    assert not any(f" {name} " in f" {line} " for line in out.splitlines()[1:] for name in names)


def test_bad_listen_argument_is_a_usage_error(trained_project) -> None:
    project, _ = trained_project
    assert cli.run(["--project", str(project), "recommend", "--listen", "no plays given"]) == 2


def test_fold_in_uses_the_settings_saved_in_the_model(trained_project, capsys) -> None:
    # Today's conf asks for other implicit settings than the model was trained with: the answer
    # must not change, because fold-in reads alpha, reg and plays_scale from the model file.
    project, artist_map = trained_project
    args = ["--project", str(project), "recommend", "-n", "5"]
    for i, name in enumerate(artist_map["artist_name"].head(3)):
        args += ["--listen", f"{name}={100 * (i + 1)}"]
    assert cli.run(args) == 0
    before = capsys.readouterr().out
    conf = project / "conf" / "local" / "parameters.yml"
    conf.write_text(
        "training:\n  recommending:\n    implicit:\n      alpha: 1.0\n      reg: 900.0\n"
        "      plays_scale: raw\n"
    )
    try:
        assert cli.run(args) == 0
        assert capsys.readouterr().out == before
    finally:
        conf.unlink()


@pytest.mark.parametrize("plays", ["nan", "inf", "-inf", "0"])
def test_plays_must_be_finite_and_positive(trained_project, plays, capsys) -> None:
    project, artists = trained_project
    name = artists["artist_name"].iloc[0]
    assert cli.run(["--project", str(project), "recommend", "--listen", f"{name}={plays}"]) == 2
    assert "finite number > 0" in capsys.readouterr().err


def test_n_beyond_the_unplayed_artists_lists_only_unplayed_ones(trained_project, capsys) -> None:
    project, artists = trained_project
    assert cli.run(["--project", str(project), "recommend", "--user", "2", "-n", "100000"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]
    interactions = pd.read_parquet(project / "data/03_primary/interactions.parquet")
    played = (interactions["user_id"] == 2).sum()
    assert len(lines) == len(artists) - played
    assert not any("inf" in line for line in lines)


def test_a_corrupt_model_is_named_as_such(trained_project, tmp_path, capsys) -> None:
    project, _ = trained_project
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    model = latest(copy / "data/06_models/implicit_model.pt")
    model.write_bytes(model.read_bytes()[:200])
    assert cli.run(["--project", str(copy), "recommend", "--user", "2"]) == 2
    message = capsys.readouterr().err
    assert "cannot be used" in message and "not a model file this project wrote" in message
    assert "No trained model" not in message and "weights_only" not in message


def test_help_lists_every_command_and_the_bare_command_prints_it(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 0
    bare = capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert capsys.readouterr().out == bare
    for command in ("recommend", "similar", "run"):
        assert re.search(rf"^\s+{command}\s", bare, re.M), bare


def test_run_is_kedros_own_run_with_every_option(capsys) -> None:
    from kedro.framework.cli.project import run as kedro_run  # noqa: PLC0415

    ours = cli.cli.get_command(None, "run")
    assert ours.params[: len(kedro_run.params)] == kedro_run.params
    assert ours.callback.__wrapped__ is kedro_run.callback
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--help"])
    assert info.value.code == 0
    shown = capsys.readouterr().out
    for option in ("--load-versions", "--params", "--only-missing-outputs", "--namespaces"):
        assert option in shown


def test_the_old_objective_name_is_refused_with_the_new_one(capsys) -> None:
    assert cli.run(["recommend", "--user", "2", "--objective", "explicit"]) == 2
    err = capsys.readouterr().err
    assert "'explicit' is now called 'rating'" in err and "Traceback" not in err


def test_options_work_before_or_after_the_sub_command(trained_project, capsys) -> None:
    project, _ = trained_project
    assert (
        cli.run(["--project", str(project), "--objective", "rating", "recommend", "--user", "2"])
        == 0
    )
    before = capsys.readouterr().out
    assert (
        cli.run(["recommend", "--user", "2", "--objective", "rating", "--project", str(project)])
        == 0
    )
    assert capsys.readouterr().out == before
    assert cli.run(["--project", str(project), "recommend", "--user", "2"]) == 0
    assert capsys.readouterr().out != before  # the implicit model answers by default


def test_a_demo_run_after_the_default_one_leaves_the_default_model_answering(
    kedro_project: Path, raw_folder: Path, capsys
) -> None:
    params = {
        "training.rating.options.hyperparameters": "fixed",
        "training.recommending.options.hyperparameters": "fixed",
        "preprocessing.filter.min_listeners_per_artist": 2,
    }
    run(kedro_project, raw_folder, ["preprocessing", "training"], **params)
    user = int(pd.read_csv(kedro_project / "data/03_primary/user_map.csv")["user_id"].iloc[-1])
    capsys.readouterr()  # the run's own log
    assert cli.run(["--project", str(kedro_project), "recommend", "--user", str(user)]) == 0
    before = capsys.readouterr().out
    run(kedro_project, raw_folder, ["preprocessing", "training"], env="demo", **params)
    capsys.readouterr()
    assert cli.run(["--project", str(kedro_project), "recommend", "--user", str(user)]) == 0
    assert capsys.readouterr().out == before  # base's model and maps, untouched by the demo
    demo = pd.read_csv(kedro_project / "data/demo/03_primary/user_map.csv")["user_id"].iloc[0]
    args = ["recommend", "--user", str(demo), "--env", "demo", "--project", str(kedro_project)]
    assert cli.run(args) == 0
    assert capsys.readouterr().out != before


def test_run_before_and_after_options_as_kedro_run(kedro_project: Path, raw_folder: Path) -> None:
    # --project and --env before `run`, Kedro's own options after it, in a real process.
    params = f"raw_data_dir={raw_folder},preprocessing.filter.min_listeners_per_artist=2"
    command = [
        sys.executable, "-m", "music_recommender.cli", "--project", str(kedro_project),
        "--env", "demo", "run", "--pipelines", "preprocessing", "--params", params,
    ]  # fmt: skip
    env = {**os.environ, "MUSIC_RECOMMENDER_TRACKING": "0", "KEDRO_DISABLE_TELEMETRY": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (kedro_project / "data/demo/03_primary/user_map.csv").is_file()
    assert not (kedro_project / "data/03_primary/user_map.csv").exists()  # --env reached Kedro


def test_a_fresh_process_prints_the_table_alone(trained_project) -> None:
    project, _ = trained_project
    user = pd.read_csv(project / "data/03_primary/user_map.csv")["user_id"].iloc[0]
    command = [sys.executable, "-m", "music_recommender.cli", "--project", str(project)]
    command += ["recommend", "--user", str(user), "-n", "3"]
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=True)
    lines = done.stdout.strip().splitlines()
    assert lines[0].split() == ["rank", "artist", "score"] and len(lines) == 4, done.stdout


def test_before_any_run_the_hint_names_the_environment(kedro_project: Path, capsys) -> None:
    args = ["--project", str(kedro_project), "--env", "demo", "recommend", "--user", "2"]
    assert cli.run(args) == 2
    assert "Run `kedro run --env demo` first" in capsys.readouterr().err


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`music-recommender ...` in a fresh interpreter, as a user types it."""
    command = [str(Path(sys.executable).parent / "music-recommender"), *args]
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"}
    return subprocess.run(
        command, cwd=project, capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.fixture
def project_copy(trained_project, tmp_path) -> Path:
    """The trained project, copied: a test may add versions or folders without touching others."""
    project, _ = trained_project
    return Path(shutil.copytree(project, tmp_path / "copy", symlinks=True))


def test_an_older_model_answers_when_asked_by_its_version(project_copy: Path) -> None:
    models = project_copy / "data/06_models/implicit_model.pt"
    newest = latest(models).parent.name
    shutil.copytree(models / newest, models / "2000-01-01T00.00.00.000Z")  # an older version
    user = pd.read_csv(project_copy / "data/03_primary/user_map.csv")["user_id"].iloc[0]

    default = _cli(project_copy, "recommend", "--user", str(user))
    assert default.returncode == 0 and f"the implicit model {newest} in data/" in default.stderr
    older = _cli(
        project_copy,
        "recommend",
        "--user",
        str(user),
        "--model-version",
        "2000-01-01T00.00.00.000Z",
    )
    assert older.returncode == 0, older.stderr
    assert "the implicit model 2000-01-01T00.00.00.000Z" in older.stderr
    assert older.stdout == default.stdout  # the same weights: the same answer

    missing = _cli(project_copy, "similar", "--artist", "x", "--model-version", "1999")
    assert missing.returncode == 2
    assert "no version '1999' of 'implicit_model'" in missing.stderr
    assert f"the latest are: {newest}, 2000-01-01T00.00.00.000Z" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_listener_the_filter_removed_is_named_as_such(project_copy: Path) -> None:
    source = project_copy / "data/03_primary/data_source.json"
    facts = json.loads(source.read_text())
    source.write_text(json.dumps(facts | {"filtered_out_users": [424242]}))
    done = _cli(project_copy, "recommend", "--user", "424242")
    assert done.returncode == 2
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "listener 424242 is in the raw data but was removed by the sparsity filter" in message
    assert "preprocessing.filter.min_listeners_per_artist=" in message and "--listen" in message
    typo = _cli(project_copy, "recommend", "--user", "424243")
    assert "unknown user 424243; closest ids:" in typo.stderr


def test_a_run_into_another_outputs_dir_keeps_the_first_data_sets_model(
    project_copy: Path, tmp_path: Path
) -> None:
    other = synthetic.generate(n_users=50, n_artists=90, artists_per_user=15, n_factors=3, seed=9)
    raw = synthetic.write_hetrec(other, tmp_path / "other-raw")
    first = _cli(project_copy, "similar", "--artist", "Artist 2")
    params = ",".join(
        [
            f"raw_data_dir={raw}",
            "hetrec_url=http://127.0.0.1:9/offline.zip",
            "outputs_dir=data/other",
            "training.rating.options.hyperparameters=fixed",
            "training.recommending.options.hyperparameters=fixed",
            "preprocessing.filter.min_listeners_per_artist=2",
        ]
    )
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"}
    trained = subprocess.run(
        [
            sys.executable,
            "-m",
            "kedro",
            "run",
            "--pipelines=preprocessing,training",
            "--params",
            params,
        ],
        cwd=project_copy,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (project_copy / "data/other/06_models/implicit_model.pt").is_dir()
    again = _cli(project_copy, "similar", "--artist", "Artist 2")
    assert again.stdout == first.stdout and "in data/ (" in again.stderr  # untouched
    user = pd.read_csv(project_copy / "data/other/03_primary/user_map.csv")["user_id"].iloc[0]
    theirs = _cli(project_copy, "recommend", "--user", str(user), "--outputs-dir", "data/other")
    assert theirs.returncode == 0, theirs.stderr
    assert "in data/other/ (50 listeners" in theirs.stderr
    assert f"from {os.path.relpath(raw, project_copy)}" in theirs.stderr


def test_the_latency_benchmark_times_both_commands_and_ends_with_json(project_copy: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks/cli_latency.py"
    done = subprocess.run(
        [sys.executable, str(script), "--project", str(project_copy), "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("help_wall_s", "help_cpu_s", "recommend_wall_s", "recommend_cpu_s"):
        assert result[key] > 0
    assert isinstance(result["recommend_within_goal"], bool)


def test_explain_splits_a_recommendation_into_the_listeners_plays(trained_project, capsys) -> None:
    project, _ = trained_project
    user = int(pd.read_csv(project / "data/03_primary/user_map.csv")["user_id"].iloc[0])
    assert cli.run(["--project", str(project), "recommend", "--user", str(user), "-n", "1"]) == 0
    top = capsys.readouterr().out.strip().splitlines()[1].split(maxsplit=1)[1].rsplit(maxsplit=1)[0]
    args = ["--project", str(project), "explain", "--user", str(user), "--artist", top, "-n", "99"]
    assert cli.run(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    head = re.match(
        r".* score (-?[\d.]+) = (-?[\d.]+) \(its own baseline\) \+ (-?[\d.]+) from", lines[0]
    )
    assert head, lines[0]
    score, baseline, played = map(float, head.groups())
    shares = [float(line.rsplit(maxsplit=1)[1]) for line in lines[2:]]
    assert baseline + played == pytest.approx(score, abs=2e-4)
    assert sum(shares) == pytest.approx(played, abs=1e-3 * len(shares))
    assert lines[1].split() == ["rank", "because", "of", "plays", "share"]
    new = ["--project", str(project), "explain", "--listen", f"{top}=5", "--artist", top]
    assert cli.run(new) == 0  # a new listener's history is explained too
    assert cli.run(["--project", str(project), "explain", "--artist", top]) == 2
