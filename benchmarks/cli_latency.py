"""How fast the command line answers: `music-recommender --help` and a known listener's top-10.

    python benchmarks/cli_latency.py                 # the project's own latest model (data/)
    python benchmarks/cli_latency.py --repeats 7 --env demo

Each command runs in a fresh interpreter, as a user types it, the commands alternated so that a
busy machine slows both alike; wall seconds beside the CPU seconds the child used. The goals
(issue 26): `--help` under 1 s, `recommend --user <id>` under 2 s. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS_S = {"help": 1.0, "recommend": 2.0}


def _timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``command``; fails loudly when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _first_user(project: Path, env: str | None) -> int:
    """A listener the model knows: the first of the id map the latest run wrote."""
    sys.path.insert(0, str(ROOT / "src"))
    from music_recommender.config_loader import (  # noqa: PLC0415
        CONFIG_LOADER_ARGS,
        ProjectConfigLoader,
    )

    loader = ProjectConfigLoader(conf_source=str(project / "conf"), env=env, **CONFIG_LOADER_ARGS)
    path = Path(loader["catalog"]["user_map"]["filepath"])
    path = path if path.is_absolute() else project / path
    return int(path.read_text().splitlines()[1].split(",")[0])


def main() -> None:
    """Time both commands ``--repeats`` times each, alternated; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT)
    parser.add_argument("--env", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    project = args.project.resolve()
    tool = str(Path(sys.executable).parent / "music-recommender")
    env = ["--env", args.env] if args.env else []
    user = _first_user(project, args.env)
    commands = {
        "help": [tool, "--help"],
        "recommend": [tool, *env, "recommend", "--user", str(user), "-n", "10"],
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, command in commands.items():
            times[name].append(_timed(command, project))
    result: dict[str, object] = {
        "repeats": args.repeats,
        "user": user,
        "cores": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
    }
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{name:10s} median wall {wall:.2f} s, CPU {cpu:.2f} s "
            f"(min {min(w for w, _ in runs):.2f} s; goal < {GOALS_S[name]:.0f} s)"
        )
        result[f"{name}_wall_s"] = round(wall, 3)
        result[f"{name}_cpu_s"] = round(cpu, 3)
        result[f"{name}_within_goal"] = wall < GOALS_S[name]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
