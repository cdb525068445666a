"""`music-recommender recommend|similar`: ask the trained model from a terminal.

    music-recommender recommend --user 2 -n 10
    music-recommender recommend --listen "Depeche Mode=1200" --listen "The Cure=300"
    music-recommender similar --artist "Depeche Mode"

`music-recommender run [options]` is Kedro's own `run`; with no sub-command it prints its help.
The model, id maps and parameters come through the project's catalog, so `--env` works as for
`kedro run` and the latest versioned model is used.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.pmf import PMF
from music_recommender.pmf.implicit import fold_in
from music_recommender.pmf.ranking import (
    factor_scorer,
    pairs_matrix,
    recommend,
    similar_items,
    vector_scores,
)
from music_recommender.top_n import top_n_table

COMMANDS = ("recommend", "similar")


class UnknownNameError(ValueError):
    """An unknown user or artist; the message lists the closest matches."""


@dataclass(frozen=True)
class Assets:
    """What the commands need, loaded once."""

    model: PMF
    interactions: pd.DataFrame
    user_map: pd.DataFrame
    artist_map: pd.DataFrame
    memory_budget_mb: float


def load_assets(project_path: Path, env: str | None = None, objective: str = "implicit") -> Assets:
    """Load the model and maps through a KedroSession of the project at ``project_path``."""
    # A terminal answer, not a pipeline log: keep Kedro's INFO lines and deprecation notes out.
    logging.disable(logging.INFO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _load(project_path, env, objective)
        finally:
            logging.disable(logging.NOTSET)


def _load(project_path: Path, env: str | None, objective: str) -> Assets:
    from kedro.framework.session import KedroSession  # noqa: PLC0415 (only the CLI needs Kedro)
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        context = session.load_context()
        catalog = context.catalog
        name = {"implicit": "implicit_model", "explicit": "pmf_model"}[objective]
        if not catalog.exists(name):
            raise SystemExit(f"No trained model '{name}' yet. Run `kedro run` first.")
        try:
            model = catalog.load(name)
        except Exception as exc:
            raise SystemExit(
                f"The latest '{name}' cannot be used: {_reason(exc)}. "
                "Run `kedro run` to train a new one."
            ) from None
        user_map, artist_map = catalog.load("user_map"), catalog.load("artist_map")
        _check_maps(model, user_map, artist_map)
        return Assets(
            model,
            catalog.load("interactions"),
            user_map,
            artist_map,
            _budget(context.params["training"]["recommending"]["recommend"]),
        )


def _reason(error: BaseException) -> str:
    """The innermost message of a load failure (the model file's own, not the dataset's wrapper)."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.rstrip(".")


def _budget(recommend: Any) -> float:
    """``memory_budget_mb`` of the recommend parameters (Kedro may hand them over typed)."""
    if isinstance(recommend, dict):
        return float(recommend["memory_budget_mb"])
    return float(recommend.memory_budget_mb)


def _check_maps(model: PMF, user_map: pd.DataFrame, artist_map: pd.DataFrame) -> None:
    """Stop when the model's rows are not today's listeners and artists (data changed since)."""
    from music_recommender.pipelines.preprocessing.nodes import describe_ids  # noqa: PLC0415

    saved = model.trained_with.get("id_maps")
    if saved is not None and saved != describe_ids(user_map, artist_map)["fingerprint"]:
        raise SystemExit(
            "The trained model does not match data/03_primary's id maps (the data was "
            "preprocessed again since it was trained). Run `kedro run` to retrain it."
        )


def _artist_index(assets: Assets, name: str) -> int:
    names = assets.artist_map["artist_name"].astype(str)
    exact = assets.artist_map[names.str.casefold() == name.casefold()]
    if len(exact):
        return int(exact["artist_index"].iloc[0])
    close = difflib.get_close_matches(name, names.tolist(), n=5, cutoff=0.5)
    if not close:
        close = (
            names[names.str.casefold().str.contains(name.casefold(), regex=False)].head(5).tolist()
        )
    hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
    raise UnknownNameError(f"unknown artist {name!r}{hint}")


def _table(
    index: np.ndarray, scores: np.ndarray, assets: Assets, score_name: str = "score"
) -> pd.DataFrame:
    table = top_n_table(index[None], scores[None], assets.artist_map, score_name=score_name)
    table[score_name] = table[score_name].round(4)
    return table[["rank", "artist_name", score_name]].rename(columns={"artist_name": "artist"})


def recommend_user(assets: Assets, user_id: int, n: int = 10) -> pd.DataFrame:
    """The top ``n`` artists a known listener has not played yet."""
    match = assets.user_map[assets.user_map["user_id"] == user_id]
    if match.empty:
        ids = assets.user_map["user_id"].to_numpy()
        closest = ids[np.argsort(np.abs(ids - user_id), kind="stable")[:5]]
        raise UnknownNameError(
            f"unknown user {user_id}; closest ids: {', '.join(map(str, sorted(closest)))}"
        )
    u = int(match["user_index"].iloc[0])
    mine = assets.interactions[assets.interactions["user_index"] == u]
    played = pairs_matrix(np.zeros(len(mine), int), mine["artist_index"], 1, assets.model.n_items)
    n = _available(n, assets.model.n_items - played.nnz)
    index, values = factor_scorer(assets.model).top_n(np.array([u]), played, n)
    return _table(index[0], values[0], assets)


def recommend_new(assets: Assets, listens: dict[str, float], n: int = 10) -> pd.DataFrame:
    """Fold a new listener in from ``{artist name: plays}`` with the model's own settings."""
    items = [_artist_index(assets, name) for name in listens]
    vector, _ = fold_in(assets.model, items, list(listens.values()))
    played = pairs_matrix(np.zeros(len(items), int), items, 1, assets.model.n_items)
    n = _available(n, assets.model.n_items - played.nnz)
    index, values = recommend(
        lambda _: vector_scores(assets.model, vector[None]),
        np.array([0]),
        n,
        played,
        assets.memory_budget_mb,
        assets.model.n_items,
    )
    return _table(index[0], values[0], assets)


def _available(n: int, unplayed: int) -> int:
    """``n``, or as many artists as there are left to recommend (never a played one)."""
    if unplayed < 1:
        raise UnknownNameError(
            "every artist in the catalogue is already played: nothing to recommend"
        )
    return min(n, unplayed)


def similar(assets: Assets, name: str, n: int = 10) -> pd.DataFrame:
    """Artists nearest to ``name`` by cosine similarity of their vectors."""
    i = _artist_index(assets, name)
    n = _available(n, assets.model.n_items - 1)
    index, sims = similar_items(assets.model, np.array([i]), n, assets.memory_budget_mb)
    return _table(index[0], sims[0], assets, "similarity")


def _listen(text: str) -> tuple[str, float]:
    name, sep, plays = text.rpartition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected ARTIST=PLAYS, got {text!r}")
    try:
        value = float(plays)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"plays must be a number in {text!r}") from exc
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"plays must be a finite number > 0 in {text!r}")
    return name.strip(), value


def _shared_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """--env, --objective, --project: accepted before or after the sub-command."""
    parser.add_argument(
        "--env",
        default=default,
        help="Kedro environment whose outputs to read (as `kedro run --env`)",
    )
    parser.add_argument(
        "--objective",
        choices=("implicit", "explicit"),
        default=default if default is argparse.SUPPRESS else "implicit",
        help="which trained model answers (default: implicit)",
    )
    parser.add_argument(
        "--project",
        type=Path,
        default=default if default is argparse.SUPPRESS else Path.cwd(),
        help="project folder (default: here)",
    )


def build_parser() -> argparse.ArgumentParser:
    """`recommend`, `similar`, and `run` (Kedro's, listed so that --help shows all three)."""
    parser = argparse.ArgumentParser(
        prog="music-recommender",
        description=__doc__.splitlines()[0],
        epilog="`music-recommender run [kedro run options]` runs the pipelines, as `kedro run`.",
    )
    _shared_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{recommend,similar,run}")
    rec = sub.add_parser("recommend", help="top-N artists for a listener")
    _shared_options(rec, argparse.SUPPRESS)
    who = rec.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", type=int, help="a userID from user_artists.dat")
    who.add_argument(
        "--listen",
        type=_listen,
        action="append",
        metavar="ARTIST=PLAYS",
        help="a new listener's history, repeated per artist",
    )
    rec.add_argument("-n", type=int, default=10, help="how many (default 10)")
    sim = sub.add_parser("similar", help="artists similar to one artist")
    _shared_options(sim, argparse.SUPPRESS)
    sim.add_argument("--artist", required=True)
    sim.add_argument("-n", type=int, default=10, help="how many (default 10)")
    sub.add_parser(
        "run", help="run the pipelines: the same options as `kedro run` (--env, --pipelines, ...)"
    )
    return parser


def run(argv: list[str]) -> int:
    """Parse, answer, print; exit status 2 with one line on an unknown user or artist."""
    args = build_parser().parse_args(argv)
    if args.n < 1:
        build_parser().error("-n must be >= 1")
    assets = load_assets(args.project, args.env, args.objective)
    try:
        if args.command == "similar":
            table = similar(assets, args.artist, args.n)
        elif args.user is not None:
            table = recommend_user(assets, args.user, args.n)
        else:
            if args.objective != "implicit":
                raise UnknownNameError(
                    "a new listener can be folded in with --objective implicit only"
                )
            table = recommend_new(assets, dict(args.listen), args.n)
    except UnknownNameError as exc:
        print(f"music-recommender: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(table.to_string(index=False))  # noqa: T201
    return 0


def main(argv: list[str] | None = None) -> Any:
    """`recommend` / `similar`; `run ...` is Kedro's run; nothing (or --help) prints the help."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "run" in argv and not any(c in argv[: argv.index("run")] for c in COMMANDS):
        from music_recommender.__main__ import main as kedro_main  # noqa: PLC0415

        before, after = argv[: argv.index("run")], argv[argv.index("run") + 1 :]
        env = before[before.index("--env") : before.index("--env") + 2] if "--env" in before else []
        return kedro_main([*env, *after])
    if not argv:
        build_parser().print_help()
        sys.exit(0)
    sys.exit(run(argv))
