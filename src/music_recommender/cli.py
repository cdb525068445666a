"""`music-recommender recommend|similar|run`: ask the trained model from a terminal, or run it.

    music-recommender recommend --user 2 -n 10
    music-recommender recommend --listen "Depeche Mode=1200" --listen "The Cure=300"
    music-recommender similar --artist "Depeche Mode"
    music-recommender explain --user 2 --artist "Depeche Mode"
    music-recommender run --pipelines preprocessing   # Kedro's own `run`, every option

A click group, as Kedro's own command line: `run` is Kedro's `run` command itself, and Kedro
adds this group's commands to `kedro` too (`kedro recommend --user 2`). The answers come from
``queries.py``; this module only parses arguments. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

import click

from music_recommender.errors import UserError

OBJECTIVES = ("implicit", "rating")
_RENAMED = {"explicit": "rating"}


def _objective(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``implicit`` or ``rating``; the old name ``explicit`` is refused with its new name."""
    if value in _RENAMED:
        raise click.BadParameter(
            f"{value!r} is now called {_RENAMED[value]!r} (the article's rating model): "
            f"use --objective {_RENAMED[value]}"
        )
    if value is not None and value not in OBJECTIVES:
        raise click.BadParameter(f"must be one of {', '.join(OBJECTIVES)}; got {value!r}")
    return value


def _shared(command: Any) -> Any:
    """--env, --objective, --project: accepted before or after the sub-command."""
    for option in reversed(
        [
            click.option(
                "--env", help="Kedro environment whose outputs to read (as `kedro run --env`)"
            ),
            click.option(
                "--objective",
                callback=_objective,
                help="which trained model answers: implicit (default) or rating",
            ),
            click.option(
                "--project",
                type=click.Path(file_okay=False, path_type=Path),
                help="project folder (default: here)",
            ),
        ]
    ):
        command = option(command)
    return command


def _model_choice(command: Any) -> Any:
    """--model-version, --outputs-dir: which model answers (the latest of data/ by default)."""
    command = click.option(
        "--outputs-dir",
        help="the data folder a run wrote with --params outputs_dir=... (default: the "
        "environment's)",
    )(command)
    return click.option(
        "--model-version",
        metavar="VERSION",
        help="an older model, by its version folder (e.g. 2026-12-01T14.25.07.977Z); "
        "default: the latest finished run's",
    )(command)


def kedro_run_command() -> click.Command:
    """Kedro's own ``run`` command, imported on first use.

    Importing it configures Kedro's logging, which announces itself at INFO on standard output:
    a query's answer must be the table alone, so the announcement is held back here.
    """
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        from kedro.framework.cli.project import run  # noqa: PLC0415
    finally:
        logging.disable(previous)
    return _ending_stops_cleanly(run)


def _ending_stops_cleanly(command: click.Command) -> click.Command:
    """Kedro's ``run`` whose stop by a signal ends with the resume line and exit 128 + signal,
    and with ``--verbose``.

    The run itself has already removed its versions and closed its MLflow run as KILLED
    (``hooks/safe_run.py``); without this, the stop would end as a traceback.
    """
    from music_recommender.errors import RunStopped  # noqa: PLC0415

    original = command.callback
    assert original is not None

    @functools.wraps(original)
    def callback(*args: Any, verbose: bool = False, **kwargs: Any) -> Any:
        if verbose:  # read by the error hook (hooks/error_messages.py) and the log filter
            os.environ["MUSIC_RECOMMENDER_VERBOSE"] = "1"
        try:
            return original(*args, **kwargs)
        except RunStopped as stop:
            click.echo(f"\n{stop.message()}", err=True)
            sys.exit(stop.exit_code)

    wrapped = copy.copy(command)  # Kedro's own command object stays as it is
    wrapped.callback = callback
    wrapped.params = [
        *command.params,
        click.Option(
            ["--verbose"],
            is_flag=True,
            help="every dataset's load and save in the log, and the traceback of an error",
        ),
    ]
    return wrapped


class _Commands(click.Group):
    """The group's commands, with Kedro's ``run`` loaded only when asked for or listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "run"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "run":
            return kedro_run_command()
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_Commands,
    name="music-recommender",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="`music-recommender run [kedro run options]` runs the pipelines, as `kedro run`.",
)
@_shared
@click.pass_context
def cli(ctx: click.Context, env: str | None, objective: str | None, project: Path | None) -> None:
    """Ask the trained music recommender, or run its pipelines."""
    ctx.obj = {"env": env, "objective": objective, "project": project}
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit(0)
    if ctx.invoked_subcommand == "run":
        _enter_project(project or Path.cwd())
        if env is not None:  # `music-recommender --env demo run`: as `run --env demo`
            ctx.default_map = {"run": {"env": env}}


def _enter_project(path: Path) -> None:
    """Make ``path`` the project Kedro's ``run`` finds (its settings, pipelines, conf)."""
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    path = path.resolve()
    bootstrap_project(path)
    os.chdir(path)


def _listen(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float]:
    listens: dict[str, float] = {}
    for text in values:
        name, sep, plays = text.rpartition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected ARTIST=PLAYS, got {text!r}")
        try:
            value = float(plays)
        except ValueError:
            raise click.BadParameter(f"plays must be a number in {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise click.BadParameter(f"plays must be a finite number > 0 in {text!r}")
        listens[name.strip()] = value
    return listens


def _who(command: Any) -> Any:
    """--user (a known listener) or --listen (a new one's history): recommend and explain."""
    command = click.option(
        "--listen",
        multiple=True,
        metavar="ARTIST=PLAYS",
        callback=_listen,
        help="a new listener's history, repeated per artist",
    )(command)
    return click.option("--user", type=int, help="a userID from user_artists.dat")(command)


def _one_listener(user: int | None, listen: dict[str, float]) -> None:
    if (user is None) == (not listen):
        raise click.UsageError("give either --user or --listen (one or more), not both")


def _settings(ctx: click.Context, **given: Any) -> dict[str, Any]:
    """The sub-command's --env/--objective/--project, else the group's, else the defaults."""
    group = ctx.obj if isinstance(ctx.obj, dict) else {}  # under `kedro`: its metadata
    merged = {k: given[k] if given[k] is not None else group.get(k) for k in given}
    merged["objective"] = merged["objective"] or "implicit"
    merged["project"] = merged["project"] or Path.cwd()
    return merged


def _answer(settings: dict[str, Any], ask: Any) -> None:
    """Load the model and maps, ask, print the table; a user error is one line, exit 2.

    The table goes to standard output; the one line naming the model that answered (version,
    folder, data) to standard error, so that a pipe gets the table alone.
    """
    from music_recommender import queries  # noqa: PLC0415 (pandas, torch: only to answer)

    try:
        assets = queries.load_assets(
            settings["project"],
            settings["env"],
            settings["objective"],
            model_version=settings.get("model_version"),
            outputs_dir=settings.get("outputs_dir"),
        )
        table = ask(queries, assets)
    except UserError as exc:
        click.echo(f"music-recommender: {exc}", err=True)
        sys.exit(2)
    click.echo(f"answering from: {assets.source}", err=True)
    if isinstance(table, tuple):  # (headline, table)
        click.echo(table[0])
        table = table[1]
    click.echo(table.to_string(index=False))


@cli.command()
@_who
@click.option("-n", type=click.IntRange(min=1), default=10, show_default=True, help="how many")
@_model_choice
@_shared
@click.pass_context
def recommend(
    ctx: click.Context, user: int | None, listen: dict[str, float], n: int, **given: Any
) -> None:
    """Top-N artists for a known listener (--user) or a new one (--listen)."""
    _one_listener(user, listen)
    settings = _settings(ctx, **given)
    if listen and settings["objective"] != "implicit":
        click.echo(
            "music-recommender: a new listener can be folded in with --objective implicit only",
            err=True,
        )
        sys.exit(2)
    if user is not None:
        _answer(settings, lambda q, assets: q.recommend_user(assets, user, n))
    else:
        _answer(settings, lambda q, assets: q.recommend_new(assets, listen, n))


@cli.command()
@click.option("--artist", required=True, help="an artist's name (case does not matter)")
@click.option("-n", type=click.IntRange(min=1), default=10, show_default=True, help="how many")
@_model_choice
@_shared
@click.pass_context
def similar(ctx: click.Context, artist: str, n: int, **given: Any) -> None:
    """Artists similar to one artist (cosine of the model's artist vectors)."""
    _answer(_settings(ctx, **given), lambda q, assets: q.similar(assets, artist, n))


@cli.command()
@click.option("--artist", required=True, help="the recommended artist to explain")
@_who
@click.option("-n", type=click.IntRange(min=1), default=5, show_default=True, help="how many")
@_model_choice
@_shared
@click.pass_context
def explain(
    ctx: click.Context,
    artist: str,
    user: int | None,
    listen: dict[str, float],
    n: int,
    **given: Any,
) -> None:
    """Why an artist is recommended: the played artists whose plays make most of its score."""
    _one_listener(user, listen)
    settings = _settings(ctx, **given)
    _answer(settings, lambda q, assets: q.explain(assets, artist, n, user, listen))


@cli.command()
@click.option(
    "--model",
    "model_uri",
    default="models:/music-recommender@champion",
    show_default=True,
    help="an MLflow model URI (set MLFLOW_TRACKING_URI, or run in the project for its store)",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("-n", type=click.IntRange(min=1), default=10, show_default=True, help="per listener")
def batch(model_uri: str, out: Path, n: int) -> None:
    """Top-N for every listener from a registered MLflow model, into one Parquet file."""
    import os  # noqa: PLC0415

    os.environ.setdefault("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")  # the project's
    from music_recommender import serving  # noqa: PLC0415 (mlflow: only for this command)

    try:
        table = serving.batch(model_uri, n)
    except Exception as exc:  # a missing model or store: one line
        click.echo(
            f"music-recommender: {model_uri} cannot be read: {str(exc).splitlines()[0]}", err=True
        )
        sys.exit(2)
    from music_recommender.pmf.persistence import write_atomic  # noqa: PLC0415

    write_atomic(table.to_parquet(index=False), out)  # whole or not at all
    click.echo(
        f"{len(table):,} recommendations for {table['user_id'].nunique():,} listeners: {out}"
    )


def run(argv: list[str]) -> int:
    """Run the command line on ``argv``; returns its exit status (0 answered, 2 user error)."""
    try:
        cli.main(args=list(argv), prog_name="music-recommender", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


QUERIES = ("recommend", "similar", "explain")
_GROUP_VALUES = ("--env", "--objective", "--project")  # the group's options that take a value


def _command_of(argv: list[str]) -> str | None:
    """The sub-command ``argv`` names (``recommend`` in ``--env demo recommend --user 2``)."""
    values = iter(argv)
    for arg in values:
        if arg in _GROUP_VALUES:
            next(values, None)
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> None:
    """The `music-recommender` entry point."""
    argv = sys.argv[1:] if argv is None else argv
    code = run(argv)
    if _command_of(argv) in QUERIES:
        # A query wrote nothing and holds nothing to release; the interpreter's teardown with
        # torch loaded takes about 0.5 s more than the answer itself.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
