"""Nothing lost, nothing half-written: atomic saves, one run per data folder, failed runs undone."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from kedro_datasets.pandas import CSVDataset, ParquetDataset

import music_recommender.pipelines.reporting.pipeline as reporting
from music_recommender.atomic import PARTIAL, atomic_writes, remove_partials
from music_recommender.hooks.error_messages import install_data_error_excepthook
from music_recommender.run_lock import RunLock, RunLockedError
from tests.conftest import make_project
from tests.test_run import latest, run

# Training without the tuning pipeline's choice, on the small synthetic data.
FIXED = {
    "training.rating.options.hyperparameters": "fixed",
    "training.recommending.options.hyperparameters": "fixed",
    "preprocessing.filter.min_listeners_per_artist": 2,
}
OLD = pd.DataFrame({"artist": ["a", "b", "c"], "plays": [3, 2, 1]})
NEW = pd.DataFrame({"artist": [f"x{i}" for i in range(50_000)], "plays": range(50_000)})


def test_a_save_killed_midway_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    ParquetDataset(filepath=str(target)).save(OLD)
    script = textwrap.dedent(
        f"""
        import os, signal
        import pandas as pd
        from kedro_datasets.pandas import ParquetDataset
        from music_recommender.atomic import atomic_writes

        def cut(self, handle, **kwargs):  # half a parquet file, then the process dies
            handle.write(b"PAR1" + b"x" * 100_000)
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        pd.DataFrame.to_parquet = cut
        dataset = ParquetDataset(filepath={str(target)!r})
        atomic_writes(dataset)
        dataset.save(pd.DataFrame({{"artist": ["z"], "plays": [9]}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert done.returncode == -signal.SIGKILL
    pd.testing.assert_frame_equal(pd.read_parquet(target), OLD)
    left = list(tmp_path.glob(f"*{PARTIAL}*"))
    assert len(left) == 1  # the cut temporary file, never the target
    assert remove_partials(tmp_path) == left
    assert not list(tmp_path.glob(f"*{PARTIAL}*"))


def test_an_interrupted_save_keeps_the_old_file_and_leaves_nothing(tmp_path, monkeypatch) -> None:
    target = tmp_path / "out.csv"
    dataset = CSVDataset(filepath=str(target))
    dataset.save(OLD)
    before = target.read_bytes()
    assert atomic_writes(dataset)

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        dataset.save(NEW)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_complete_atomic_save_replaces_the_file(tmp_path: Path) -> None:
    dataset = ParquetDataset(filepath=str(tmp_path / "sub" / "out.parquet"))
    atomic_writes(dataset)
    dataset.save(OLD)
    dataset.save(NEW)
    pd.testing.assert_frame_equal(dataset.load(), NEW)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["out.parquet"]


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process that takes the folder's run lock and keeps it."""
    script = (
        "import sys, time\n"
        "from music_recommender.run_lock import RunLock\n"
        f"lock = RunLock({str(folder)!r}).acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_stops_naming_the_first_and_a_dead_ones_lock_is_taken_over(
    kedro_project: Path, raw_folder: Path
) -> None:
    holder = _hold_lock(kedro_project / "data")
    try:
        with pytest.raises(RunLockedError) as error:
            run(kedro_project, raw_folder, ["preprocessing"])
        message = str(error.value)
        assert f"pid {holder.pid}" in message and "another run" in message
        assert "\n" not in message
        assert not (kedro_project / "data/02_intermediate/user_artists.parquet").exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing anything: its lock is gone with it.
    run(kedro_project, raw_folder, ["preprocessing"])
    assert (kedro_project / "data/02_intermediate/user_artists.parquet").exists()


def test_one_process_runs_twice_in_a_row(tmp_path: Path) -> None:
    first = RunLock(tmp_path).acquire()
    first.release()
    RunLock(tmp_path).acquire().release()
    lock = RunLock(tmp_path).acquire()
    with pytest.raises(RunLockedError):
        RunLock(tmp_path).acquire()
    lock.release()


def test_a_failed_run_leaves_no_new_model_or_metrics_version(
    kedro_project: Path, raw_folder: Path, monkeypatch, capsys
) -> None:
    params = FIXED
    run(kedro_project, raw_folder, **params)
    data = kedro_project / "data"
    versioned = (
        "06_models/rating_model.pt",
        "06_models/implicit_model.pt",
        "08_reporting/metrics.json",
    )
    before = {name: latest(data / name) for name in versioned}
    report = latest(data / "08_reporting/report.html").read_bytes()
    time.sleep(0.01)  # a new version gets a new timestamp

    def broken(*args, **kwargs):
        raise RuntimeError("the report failed")

    monkeypatch.setattr(reporting, "build_report", broken)
    with pytest.raises(RuntimeError, match="the report failed"):
        run(kedro_project, raw_folder, ["training", "reporting"], **params)
    for name, path in before.items():
        assert latest(data / name) == path, f"{name}: the failed run's version is still there"
    assert latest(data / "08_reporting/report.html").read_bytes() == report
    assert not list(data.rglob(f"*{PARTIAL}*"))
    # The lock went with the failed run: the next one starts, and ends naming its report.
    monkeypatch.undo()
    capsys.readouterr()
    run(kedro_project, raw_folder, ["reporting"], **params)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"Report: {os.path.relpath(latest(data / '08_reporting/report.html'))}"


def test_the_run_leaves_no_temporary_files_and_cleans_a_killed_runs(
    kedro_project: Path, raw_folder: Path
) -> None:
    stale = kedro_project / "data/08_reporting" / f"report.html{PARTIAL}{os.getpid() + 1}"
    stale.write_text("<html>cut")
    run(kedro_project, raw_folder, ["preprocessing"])
    assert not stale.exists()
    assert not list((kedro_project / "data").rglob(f"*{PARTIAL}*"))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _kedro(
    project: Path, raw: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`kedro run ...` in a fresh interpreter, as a user types it."""
    offline = f"raw_data_dir={raw},hetrec_url=http://127.0.0.1:9/offline.zip"
    params = [a for a in args if a.startswith("params=")]
    rest = [a for a in args if not a.startswith("params=")]
    joined = ",".join([offline, *(p.removeprefix("params=") for p in params)])
    command = [sys.executable, "-m", "kedro", "run", *rest, "--params", joined]
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"} | (extra_env or {})
    return subprocess.run(
        command, cwd=project, capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["params=model.batch_size=abc,preprocessing.normalisation=nosuch"],
            [
                "model.batch_size must be an integer; got 'abc'",
                "preprocessing.normalisation must be one of zscore, log_zscore; got 'nosuch'",
            ],
        ),
        (
            ["params=tuning.rating.sample.rows=-1"],
            ["tuning.rating.sample.rows must be null or an integer >= 1"],
        ),
        (["--env", "nosuch"], ["conf/nosuch"]),
        (["--pipelines", "nosuch"], ["'nosuch'", "the pipelines are: preprocessing, reporting"]),
    ],
)
def test_a_user_error_is_one_message_before_any_work_and_nothing_changes(
    kedro_project: Path, raw_folder: Path, args: list[str], expected: list[str]
) -> None:
    run(kedro_project, raw_folder, ["preprocessing"])
    before = _snapshot(kedro_project / "data")
    done = _kedro(kedro_project, raw_folder, *args)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    for text in expected:
        assert text in output, output
    assert "Traceback" not in output and "╭" not in output, output
    assert "Running node" not in output  # stopped before the first node
    assert "Repeat the previous command" not in output  # running it again cannot help
    after = _snapshot(kedro_project / "data")
    assert after == before


def test_ctrl_c_undoes_the_runs_versions_and_says_how_to_resume(
    kedro_project: Path, raw_folder: Path, monkeypatch, capsys
) -> None:
    params = FIXED
    run(kedro_project, raw_folder, **params)
    data = kedro_project / "data"
    model = latest(data / "06_models/rating_model.pt")
    time.sleep(0.01)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(reporting, "build_report", ctrl_c)
    with pytest.raises(KeyboardInterrupt) as interrupt:
        run(kedro_project, raw_folder, ["training", "reporting"], **params)
    install_data_error_excepthook()
    sys.excepthook(KeyboardInterrupt, interrupt.value, None)
    message = capsys.readouterr().err.strip()
    assert latest(data / "06_models/rating_model.pt") == model  # the interrupted run's is gone
    resume = re.search(r'--from-nodes "([^"]+)"', message)
    assert message.startswith("Interrupted: to resume") and resume, message
    monkeypatch.undo()
    run(
        kedro_project,
        raw_folder,
        ["training", "reporting"],
        from_nodes=resume[1].split(","),
        **params,
    )
    assert latest(data / "06_models/rating_model.pt") != model
    assert latest(data / "08_reporting/report.html").stat().st_size > 10_000


def _without_timings(value: object) -> object:
    """Metrics with wall-clock fields dropped (they differ between any two runs)."""
    if isinstance(value, dict):
        return {
            k: _without_timings(v)
            for k, v in value.items()
            if not any(t in k for t in ("seconds", "fit_s", "time"))
        }
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_two_whole_runs_give_the_same_numbers(tmp_path: Path, raw_folder: Path) -> None:
    outputs = []
    for name in ("first", "second"):
        project = make_project(tmp_path / name)
        run(project, raw_folder, **{"preprocessing.filter.min_listeners_per_artist": 2})
        data = project / "data"
        outputs.append(
            {
                "metrics": _without_timings(
                    json.loads(latest(data / "08_reporting/metrics.json").read_text())
                ),
                "ranking": _without_timings(
                    json.loads(latest(data / "08_reporting/ranking_metrics.json").read_text())
                ),
                "biases": (data / "07_model_output/artist_biases.csv").read_bytes(),
                "recommendations": pd.read_parquet(
                    data / "07_model_output/recommendations.parquet"
                ),
                "similar": pd.read_parquet(data / "07_model_output/similar_artists.parquet"),
            }
        )
    first, second = outputs
    for key in ("metrics", "ranking", "biases"):
        assert first[key] == second[key], key
    pd.testing.assert_frame_equal(first["recommendations"], second["recommendations"])
    pd.testing.assert_frame_equal(first["similar"], second["similar"])


def test_a_corrupt_model_under_the_reporting_pipeline_is_one_message(
    kedro_project: Path, raw_folder: Path
) -> None:
    params = FIXED
    run(kedro_project, raw_folder, **params)
    model = latest(kedro_project / "data/06_models/implicit_model.pt")
    model.write_bytes(b"not a model")
    report = latest(kedro_project / "data/08_reporting/report.html")
    done = _kedro(
        kedro_project,
        raw_folder,
        "--pipelines",
        "reporting",
        "params=training.rating.options.hyperparameters=fixed,training.recommending.options.hyperparameters=fixed",
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "implicit_model.pt is not a model file this project wrote" in output, output
    assert "Traceback" not in output and "╭" not in output and "weights_only" not in output
    assert latest(kedro_project / "data/08_reporting/report.html") == report


def test_load_versions_of_what_the_run_writes_is_refused_and_a_reporting_rerun_pins_them(
    kedro_project: Path, raw_folder: Path
) -> None:
    run(kedro_project, raw_folder, **FIXED)
    data = kedro_project / "data"
    version = latest(data / "06_models/rating_model.pt").parent.name
    before = _snapshot(data)
    params = "params=" + ",".join(f"{k}={v}" for k, v in FIXED.items())
    mixed = _kedro(kedro_project, raw_folder, "--load-versions", f"rating_model:{version}", params)
    output = mixed.stdout + mixed.stderr
    assert mixed.returncode != 0 and "Traceback" not in output, output
    assert f"--load-versions rating_model:{version} pins a dataset this run writes anew" in output
    assert "Running node" not in output and _snapshot(data) == before

    pins = ",".join(
        f"{name}:{version}"
        for name in ("rating_model", "implicit_model", "metrics", "ranking_metrics")
    )
    again = _kedro(
        kedro_project, raw_folder, "--pipelines", "reporting", "--load-versions", pins, params
    )
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-3000:]
    assert "but not" not in output  # every versioned input pinned: no warning
    assert latest(data / "08_reporting/report.html").parent.name != version  # a new report


# Loaded by the run's interpreter (sitecustomize): the disk "fails" as a real one would, at the
# rename that commits a save under FAULT_PATH.
_FAULT = """
import errno, os
_replace = os.replace
def replace(src, dst, *args, **kwargs):
    if os.environ["FAULT_PATH"] in str(dst):
        code = getattr(errno, os.environ["FAULT_ERRNO"])
        raise OSError(code, os.strerror(code), str(dst))
    return _replace(src, dst, *args, **kwargs)
os.replace = replace
"""


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("ENOSPC", "No space left on device"),
        ("EROFS", "that folder is read-only"),
        ("EACCES", "check who owns that folder"),
    ],
)
def test_the_machines_errors_are_one_line_and_the_run_leaves_no_version(
    kedro_project: Path, raw_folder: Path, tmp_path: Path, code: str, said: str
) -> None:
    run(kedro_project, raw_folder, ["preprocessing", "training"], **FIXED)
    data = kedro_project / "data"
    models = sorted((data / "06_models/rating_model.pt").iterdir())
    (tmp_path / "fault").mkdir()
    (tmp_path / "fault/sitecustomize.py").write_text(_FAULT)
    fault = {
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "fault"), os.environ.get("PYTHONPATH", "")]),
        "FAULT_PATH": "06_models/rating_model.pt",
        "FAULT_ERRNO": code,
    }
    params = "params=" + ",".join(f"{k}={v}" for k, v in FIXED.items())
    done = _kedro(kedro_project, raw_folder, "--pipelines", "training", params, extra_env=fault)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    last = output.strip().splitlines()[-1]
    assert said in last and "06_models/rating_model.pt" in last, output[-2000:]
    assert "Traceback" not in output and "╭" not in output, output[-2000:]
    assert sorted((data / "06_models/rating_model.pt").iterdir()) == models  # nothing half-saved
    verbose = _kedro(
        kedro_project, raw_folder, "--pipelines", "training", "--verbose", params, extra_env=fault
    )
    assert "Traceback" in verbose.stderr + verbose.stdout  # the whole story on request


def test_an_unreadable_input_names_the_pipeline_that_makes_it_and_an_unknown_node_its_match(
    kedro_project: Path, raw_folder: Path
) -> None:
    run(kedro_project, raw_folder, ["preprocessing"], **FIXED)
    params = "params=" + ",".join(f"{k}={v}" for k, v in FIXED.items())
    (kedro_project / "data/05_model_input/train_ratings.parquet").write_bytes(b"not parquet")
    done = _kedro(kedro_project, raw_folder, "--pipelines", "training", params)
    output = done.stdout + done.stderr
    last = output.strip().splitlines()[-1]
    assert done.returncode != 0 and "Traceback" not in output, output[-2000:]
    assert last.startswith("train_ratings cannot be read from data/05_model_input/"), last
    assert "make it again with `kedro run --pipelines preprocessing`" in last
    assert "--from-nodes" not in output  # resuming would read the same file again
    typo = _kedro(kedro_project, raw_folder, "--from-nodes", "train_modle", params)
    output = typo.stdout + typo.stderr
    assert typo.returncode != 0 and "Traceback" not in output
    assert "no node named 'train_modle' (did you mean training.rating.train_model" in output


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"userID,artistID,weight\r\n2,51,13883\r\n", "comma-separated, tab expected"),
        (b"userID\tartistID\tweight\r\n2\t51\t1\r\n2\t52\t1\t5\r\n", "Expected 3 fields in line 3"),
        (bytes(range(256)) * 4, "a binary file"),
    ],
)
def test_a_raw_file_of_the_wrong_shape_is_one_line(
    kedro_project: Path, raw_folder: Path, content: bytes, said: str
) -> None:
    (raw_folder / "user_artists.dat").write_bytes(content)
    done = _kedro(kedro_project, raw_folder, "--pipelines", "preprocessing")
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith(str(raw_folder / "user_artists.dat")) and said in last, output[-1500:]
    assert "Repeat the previous command" not in output  # Kedro's advice cannot mend the file


def test_the_log_is_for_people_and_verbose_brings_back_every_dataset_line(
    kedro_project: Path, raw_folder: Path
) -> None:
    params = "params=" + ",".join(f"{k}={v}" for k, v in FIXED.items())
    narrow = {"COLUMNS": "80"}
    done = _kedro(
        kedro_project, raw_folder, "--pipelines", "preprocessing", params, extra_env=narrow
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert "Loading data from" not in output and "Saving data to" not in output
    assert "Running node: validate_raw_data " in output  # the node's name, not its signature
    assert "Completed node:" not in output
    verbose = _kedro(kedro_project, raw_folder, "--verbose", params)
    output = verbose.stdout + verbose.stderr
    assert "Loading data from" in output and "Saving data to" in output
    last = verbose.stdout.strip().splitlines()[-1]  # whole, however narrow the terminal
    assert re.fullmatch(r"Report: data/08_reporting/report\.html/[^/ ]+/report\.html", last), last
