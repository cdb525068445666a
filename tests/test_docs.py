"""Every documented command parses and names things that exist (README.md, conf/README.md, docs/).

Checked the way Kedro itself reads them (its click `run` command): the `--params` format, then
that each environment, pipeline, node and parameter key it names is in this project. The cheap
ones run for real against the demo environment.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

from music_recommender.cli import kedro_run_command

from .conftest import PROJECT_ROOT
from .test_run import run

DOCS = (
    "README.md",
    "conf/README.md",
    *sorted(str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "docs").glob("*.md")),
)
# Runtime parameters the catalog reads (conf/base/globals.yml and conf/scale), not pipeline keys.
RUNTIME = {"raw_data_dir", "hetrec_url", "outputs_dir", "scale_users", "scale_artists"}
# conf/README.md's how-tos create conf/big/ and conf/lastfm/ before running them.
EXAMPLE_ENVS = {"big", "lastfm"}


def _lines(prefix: str) -> list[str]:
    """Commands starting with ``prefix`` from inline code and shell blocks (comments stripped)."""
    found = []
    for doc in DOCS:
        text = (PROJECT_ROOT / doc).read_text()
        found += re.findall(rf"`({prefix}[^`]*)`", text)
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            found += [line.split(" #")[0].strip() for line in block.splitlines()]
    return sorted({c for c in found if c.startswith(prefix) and "..." not in c})


def _commands() -> list[str]:
    """`kedro run ...` commands, and `music-recommender run ...` ones as the same."""
    kedro = _lines("kedro run")
    ours = [
        c.replace("music-recommender run", "kedro run", 1) for c in _lines("music-recommender run")
    ]
    return sorted(set(kedro + ours))


def _keys(tree: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        out.add(dotted)
        if isinstance(value, dict):
            out |= _keys(value, dotted + ".")
    return out


def _parameter_keys() -> set[str]:
    keys = set()
    for path in (PROJECT_ROOT / "conf").glob("*/parameters*.yml"):
        keys |= _keys(yaml.safe_load(path.read_text()) or {})
    return keys


COMMANDS = _commands()
QUERIES = [c for c in _lines("music-recommender ") if not c.startswith("music-recommender run")]


def test_the_docs_have_commands_to_check() -> None:
    assert len(COMMANDS) >= 10, COMMANDS
    assert len(QUERIES) >= 3, QUERIES


@pytest.mark.parametrize("command", QUERIES)
def test_a_documented_query_parses(command: str) -> None:
    from music_recommender.cli import cli  # noqa: PLC0415

    args = shlex.split(command)[1:]
    at = next(i for i, arg in enumerate(args) if arg in cli.list_commands(None))
    group = cli.make_context("music-recommender", [*args[:at], args[at]], resilient_parsing=True)
    command = cli.get_command(group, args[at])
    command.make_context(args[at], args[at + 1 :], parent=group)  # raises on a bad option


@pytest.mark.parametrize("command", COMMANDS)
def test_a_documented_command_parses_and_names_what_exists(command: str) -> None:
    args = shlex.split(command)[2:]
    # The project's `run`: Kedro's own, with --verbose (Kedro's parsing of --params).
    options = kedro_run_command().make_context("run", args).params
    bootstrap_project(PROJECT_ROOT)
    if options["env"] and options["env"] not in EXAMPLE_ENVS:
        assert (PROJECT_ROOT / "conf" / options["env"]).is_dir(), options["env"]
    for name in options["pipelines"] or []:
        assert name in pipelines, name
    nodes = {node.name for node in pipelines["__default__"].nodes}
    for name in options["from_nodes"] + options["to_nodes"] + options["node_names"]:
        assert name in nodes, name
    known = _parameter_keys() | RUNTIME
    for key in _keys(options["params"]):
        top = key.split(".")[0]
        assert key in known or top in RUNTIME, f"{command}: no parameter {key}"


def test_the_documented_one_value_overrides_run_on_the_demo(kedro_project: Path, tmp_path) -> None:
    # conf/README.md's example, on the demo environment's own data.
    run(
        kedro_project,
        tmp_path / "unused",
        ["preprocessing", "training"],
        env="demo",
        **{
            "model.n_factors": 60,
            "model.l2": 0.2,
            "training.rating.options.hyperparameters": "fixed",
            "training.recommending.options.hyperparameters": "fixed",
        },
    )
    assert (kedro_project / "data/demo/06_models/rating_model.pt").is_dir()
