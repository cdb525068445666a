"""Every stop cleans up, through the real commands: real signals sent to real `kedro run` and
`music-recommender run` processes, and a `kill -9` that only the next command can mend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from music_recommender.unfinished import MARKER
from tests.test_run import run

FIXED = {
    "training.rating.options.hyperparameters": "fixed",
    "training.recommending.options.hyperparameters": "fixed",
    "preprocessing.filter.min_listeners_per_artist": 2,
}
MODELS = ("06_models/implicit_model.pt", "06_models/rating_model.pt", "08_reporting/report.html")
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


def _versions(data: Path) -> dict[str, list[str]]:
    return {
        name: sorted(p.name for p in (data / name).iterdir() if p.is_dir())
        if (data / name).is_dir()
        else []
        for name in MODELS
    }


def _params(raw: Path) -> str:
    extra = ",".join(f"{k}={v}" for k, v in FIXED.items())
    return f"raw_data_dir={raw},hetrec_url=http://127.0.0.1:9/offline.zip,{extra}"


def _environment(tracking: bool = False) -> dict[str, str]:
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    if tracking:
        env.pop("MUSIC_RECOMMENDER_TRACKING", None)
    return env


def _start(project: Path, command: list[str], tracking: bool = False) -> subprocess.Popen:
    """The command in the background, its output to ``run.log`` (a pipe nobody reads would fill
    and stall it)."""
    log = open(project / "run.log", "w")
    process = subprocess.Popen(
        command,
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=_environment(tracking),
    )
    process.log = log  # type: ignore[attr-defined]
    return process


def _complete(project: Path, command: str, *args: str) -> subprocess.CompletedProcess:
    """One of the project's commands run to its end, its output captured."""
    return subprocess.run(
        [str(BIN / command), *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=240,
        check=False,
    )


def _output(project: Path) -> str:
    return (project / "run.log").read_text()


def _wait_for(process: subprocess.Popen, project: Path, text: str, timeout: float = 240) -> None:
    """Wait until the output holds ``text``; fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while text not in _output(project):
        assert process.poll() is None, f"ended before {text!r}:\n{_output(project)}"
        assert time.monotonic() < deadline, _output(project)
        time.sleep(0.02)


def _finish(process: subprocess.Popen, project: Path) -> str:
    process.wait(timeout=240)
    process.log.close()  # type: ignore[attr-defined]
    return _output(project)


@pytest.fixture
def trained(kedro_project: Path, raw_folder: Path) -> tuple[Path, Path, dict[str, list[str]]]:
    """A project after one finished run: the versions every stop must leave as they are."""
    run(kedro_project, raw_folder, **FIXED)
    return kedro_project, raw_folder, _versions(kedro_project / "data")


@pytest.mark.parametrize(
    ("command", "signum", "code", "said"),
    [
        ("kedro", signal.SIGINT, 130, "Stopped by SIGINT (Ctrl-C): to resume"),
        ("music-recommender", signal.SIGTERM, 143, "Stopped by SIGTERM: to resume"),
    ],
)
def test_a_signal_removes_the_runs_versions_marks_mlflow_killed_and_says_how_to_resume(
    trained, command: str, signum: int, code: int, said: str
) -> None:
    project, raw, before = trained
    (project / "conf/local/tracking.yml").write_text("enabled: true\n")
    process = _start(project, [str(BIN / command), "run", "--params", _params(raw)], tracking=True)
    _wait_for(process, project, "Implicit fit:")  # a new model version is being saved
    process.send_signal(signum)
    output = _finish(process, project)
    assert process.returncode == code, output
    assert said in output and '--from-nodes "' in output, output
    assert "Traceback" not in output and "Aborted!" not in output, output
    data = project / "data"
    assert _versions(data) == before, output  # the stopped run's versions are gone
    assert not (data / MARKER).exists()

    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlruns/mlflow.db'}")
    experiment = client.get_experiment_by_name("music-recommender")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.status for r in runs] == ["KILLED"]


def test_after_kill_9_the_cli_ignores_the_dead_runs_versions_and_the_next_run_removes_them(
    trained,
) -> None:
    project, raw, before = trained
    data = project / "data"
    process = _start(project, [str(BIN / "kedro"), "run", "--params", _params(raw)])
    _wait_for(process, project, "Implicit fit:")
    deadline = time.monotonic() + 60
    model = data / "06_models/implicit_model.pt"
    while not any(  # the killed run's model is whole on disk: the newest, if it were trusted
        (Path(p) / model.name).is_file()
        for p in json.loads((data / MARKER).read_text()).get("versions", [])
    ):
        assert time.monotonic() < deadline, _output(project)
        time.sleep(0.02)
    process.kill()
    _finish(process, project)
    left = json.loads((data / MARKER).read_text())["versions"]
    assert left and all(Path(p).exists() for p in left)

    user = int((data / "03_primary/user_map.csv").read_text().splitlines()[1].split(",")[0])
    answer = _complete(project, "music-recommender", "recommend", "--user", str(user), "-n", "3")
    assert answer.returncode == 0, answer.stderr
    newest = before["06_models/implicit_model.pt"][-1]
    assert f"the implicit model {newest} " in answer.stderr, answer.stderr
    assert "skipped 1 version(s) of a run that has not finished" in answer.stderr

    again = _complete(
        project, "kedro", "run", "--pipelines", "preprocessing", "--params", _params(raw)
    )
    output = again.stdout + again.stderr
    assert again.returncode == 0, output
    assert "left by a run that never finished" in output, output
    assert not any(Path(p).exists() for p in left)
    assert _versions(data) == before
    assert not (data / MARKER).exists()


def test_a_stop_waits_while_a_library_would_swallow_it_but_not_inside_the_projects_code() -> None:
    from music_recommender.hooks.safe_run import _swallowing  # noqa: PLC0415

    def code_of(module: str, inner=None):
        scope = {"__name__": module, "sys": sys, "inner": inner}
        exec("def f():\n    return inner() if inner else sys._getframe()\n", scope)
        return scope["f"]

    assert _swallowing(code_of("optuna.study._optimize")())  # Optuna's bookkeeping: wait
    assert _swallowing(code_of("logging")())  # a log call: wait
    objective = code_of("music_recommender.pipelines.tuning.recommending.nodes")
    assert not _swallowing(code_of("optuna.study._optimize", objective)())  # the search's trial
    assert not _swallowing(code_of("kedro.runner.task")())
