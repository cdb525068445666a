"""The questions the command line answers, apart from its argument parsing (``cli.py``).

Files are read where the project's catalog says they are (its config, resolved for the
environment and ``--outputs-dir``), without a KedroSession: a query starts in about a second.
The latest finished model version answers (or ``--model-version``), never one written by a run
that has not finished (``unfinished.py``). Names and ids in, tables out; every ranking is the
recommender object's own (``pmf.recommender``).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from music_recommender.errors import UserError
from music_recommender.top_n import top_n_table
from music_recommender.unfinished import unfinished_versions

if TYPE_CHECKING:
    from music_recommender.pmf.recommender import FactorRecommender

OBJECTIVES = ("implicit", "rating")
MODELS = {"implicit": "implicit_model", "rating": "rating_model"}
_CSV = ("pandas.CSVDataset", "kedro_datasets.pandas.CSVDataset")
_PARQUET = ("pandas.ParquetDataset", "kedro_datasets.pandas.ParquetDataset")


class UnknownNameError(UserError, ValueError):
    """An unknown user or artist; the message lists the closest matches."""


class ModelUnavailableError(UserError):
    """No trained model to answer from, or one that cannot be used; the message says what to run."""


@dataclass(frozen=True)
class Assets:
    """What the commands need, loaded once; ``source`` says in one line what answers."""

    recommender: FactorRecommender
    user_map: pd.DataFrame
    artist_map: pd.DataFrame
    interactions_path: Path | None = None
    interactions: pd.DataFrame | None = None
    source: str = ""
    filtered_out: frozenset[int] = frozenset()  # raw listeners the sparsity filter removed
    filter_rule: str = ""  # the filter's parameters, named when one of them is asked for

    def played(self, user_index: int) -> np.ndarray:
        """The artists a listener has played (all of them, not only the training split's)."""
        pairs = self.recommender.user_items
        if self.recommender.objective == "implicit" and pairs is not None:
            return pairs[user_index].indices  # fitted on every pair of interactions: the same
        return self.history(user_index)[0]

    def history(self, user_index: int) -> tuple[np.ndarray, np.ndarray]:
        """A listener's (artist rows, plays), from the interactions table."""
        if self.interactions is not None:
            frame = self.interactions
        elif self.interactions_path is not None:
            frame = _interactions(self.interactions_path, user_index)
        else:
            raise ModelUnavailableError("the interactions table is not there to read plays from")
        mine = frame[frame["user_index"] == user_index]
        return mine["artist_index"].to_numpy(), mine["weight"].to_numpy(dtype=np.float64)


def load_assets(
    project_path: Path,
    env: str | None = None,
    objective: str = "implicit",
    model_version: str | None = None,
    outputs_dir: str | None = None,
) -> Assets:
    """Load the model and maps of the project at ``project_path`` for ``env``."""
    with warnings.catch_warnings():  # a terminal answer: no library's deprecation notes
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.INFO)
        try:
            return _load(Path(project_path).resolve(), env, objective, model_version, outputs_dir)
        finally:
            logging.disable(previous)


def _load(
    project: Path, env: str | None, objective: str, version: str | None, outputs: str | None
) -> Assets:
    config = _config(project, env, outputs)
    catalog, parameters = config["catalog"], config["parameters"]  # each read once: ~50 ms a read
    registered = _from_registry(config, project, objective)
    if registered is not None:
        return registered
    run = (
        "kedro run"
        + (f" --env {env}" if env else "")
        + (f" --params outputs_dir={outputs}" if outputs else "")
    )  # the hint names the environment and folder the user asked about
    folder = _path(project, str(_globals(config, outputs)))
    name = MODELS[objective]
    path, chosen, skipped = _model_file(project, catalog, name, folder, version, run)
    recommender = _recommender(path, name, run)
    user_map = _frame(project, catalog, "user_map", run)
    artist_map = _frame(project, catalog, "artist_map", run)
    _check_maps(recommender, _json(project, catalog, "id_index"), folder)
    budget = float(parameters["training"]["recommending"]["recommend"]["memory_budget_mb"])
    data = _json(project, catalog, "data_source") or {}
    source = (
        f"the {objective} model {chosen or '(unversioned)'} in {_shown(folder)}/ "
        f"({recommender.n_users:,} listeners x {recommender.n_items:,} artists"
        + (f", from {data['raw_data']}" if data.get("raw_data") else "")
        + ")"
        + (f"; skipped {skipped} version(s) of a run that has not finished" if skipped else "")
    )
    entry = catalog.get("interactions") or {}
    interactions, interactions_path = None, None
    if entry.get("type") in _PARQUET:  # one listener's rows are read when asked for
        interactions_path = _path(project, entry["filepath"])
    elif objective == "rating" or recommender.user_items is None:
        interactions = _kedro_load("interactions", entry, project)  # another engine's files
    return Assets(
        recommender.with_budget(budget),
        user_map,
        artist_map,
        interactions_path,
        interactions,
        source,
        frozenset(int(u) for u in data.get("filtered_out_users", [])),
        _filter_rule(parameters),
    )


def _from_registry(config: Any, project: Path, objective: str) -> Assets | None:
    """The registry's champion, when tracking.yml says ``registry.answer_from: registry``."""
    try:
        tracking = dict(config["tracking"])
    except Exception:  # no tracking.yml
        return None
    registry = dict(tracking.get("registry") or {})
    if registry.get("answer_from", "files") != "registry":
        return None
    name = registry.get("name")
    if objective != "implicit" or not name:
        raise ModelUnavailableError(
            "the registry holds the implicit model (tracking.registry.name); ask it with "
            "--objective implicit, or set tracking.registry.answer_from: files"
        )
    from music_recommender.tracking import local_uri  # noqa: PLC0415

    uri, _ = local_uri(str(tracking["uri"]), project)
    source = f"models:/{name}@champion"
    try:
        import mlflow  # noqa: PLC0415 (only in this mode: ~2 s)

        mlflow.set_tracking_uri(uri)
        folder = Path(mlflow.artifacts.download_artifacts(source)) / "artifacts"
    except Exception as exc:
        raise ModelUnavailableError(
            f"no {source} in {uri} ({_reason(exc)}): run `kedro run` with tracking on first"
        ) from None
    from music_recommender.serving import Served  # noqa: PLC0415

    served = Served.from_files(*(folder / f for f in _REGISTRY_FILES))
    plays = served.plays.tocoo()
    interactions = pd.DataFrame(
        {"user_index": plays.row, "artist_index": plays.col, "weight": plays.data}
    )
    rec = served.recommender
    return Assets(
        rec,
        pd.read_csv(folder / "user_map.csv"),
        pd.read_csv(folder / "artist_map.csv", keep_default_na=False),
        None,
        interactions,
        f"{source} ({rec.n_users:,} listeners x {rec.n_items:,} artists, from {uri})",
    )


_REGISTRY_FILES = ("implicit_model.pt", "user_map.csv", "artist_map.csv", "plays.npz")


def _config(project: Path, env: str | None, outputs: str | None) -> Any:
    """The project's config loader for ``env``, as ``kedro run --env`` would build it."""
    from music_recommender.config_loader import (  # noqa: PLC0415 (Kedro's config only)
        CONFIG_LOADER_ARGS,
        ProjectConfigLoader,
    )

    conf = project / "conf"
    if not conf.is_dir():
        raise ModelUnavailableError(f"{project} is not this project's folder (no conf/ in it)")
    if env is not None and not (conf / env).is_dir():
        known = ", ".join(sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "base"))
        raise ModelUnavailableError(f"no environment {env!r}: conf/{env}/ does not exist ({known})")
    runtime = {"outputs_dir": outputs} if outputs else {}
    return ProjectConfigLoader(
        conf_source=str(conf), env=env, runtime_params=runtime, **CONFIG_LOADER_ARGS
    )


def _globals(config: Any, outputs: str | None) -> str:
    from music_recommender.catalog_files import outputs_dir  # noqa: PLC0415

    return outputs or outputs_dir(config)


def _shown(path: Path) -> str:
    """A path as short as it is clear: relative to here when under here."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def _path(project: Path, filepath: str) -> Path:
    path = Path(filepath)
    return path if path.is_absolute() else project / path


def _model_file(
    project: Path,
    catalog: dict[str, Any],
    name: str,
    folder: Path,
    version: str | None,
    run: str,
) -> tuple[Path, str | None, int]:
    """The model file to answer from, its version and how many unfinished versions were skipped."""
    entry = catalog.get(name)
    if entry is None:
        raise ModelUnavailableError(f"the catalog has no '{name}' entry")
    base = _path(project, entry["filepath"])
    if not entry.get("versioned"):
        if not base.is_file():
            raise ModelUnavailableError(f"No trained model '{name}' yet. Run `{run}` first.")
        return base, None, 0
    found = (
        sorted(p.name for p in base.glob("*") if (p / base.name).is_file()) if base.is_dir() else []
    )
    unfinished = unfinished_versions(folder)
    finished = [v for v in found if (base / v).resolve() not in unfinished]
    if version is not None:
        if version not in found:
            recent = ", ".join(reversed(finished[-3:])) or "none yet"
            raise ModelUnavailableError(
                f"no version {version!r} of '{name}' in {base}; the latest are: {recent}"
            )
        if version not in finished:
            raise ModelUnavailableError(
                f"version {version!r} of '{name}' was written by a run that has not finished"
            )
        return base / version / base.name, version, 0
    if not finished:
        if found:
            raise ModelUnavailableError(
                f"the only '{name}' versions were written by a run that has not finished. "
                f"Wait for it, or run `{run}`."
            )
        raise ModelUnavailableError(f"No trained model '{name}' yet. Run `{run}` first.")
    skipped = sum(v > finished[-1] for v in found if v not in finished)
    return base / finished[-1] / base.name, finished[-1], skipped


def _recommender(path: Path, name: str, run: str) -> FactorRecommender:
    from music_recommender.pmf.recommender import FactorRecommender  # noqa: PLC0415 (torch)

    try:
        return FactorRecommender.from_bytes(path.read_bytes(), str(path))
    except Exception as exc:
        raise ModelUnavailableError(
            f"The latest '{name}' cannot be used: {_reason(exc)}. Run `{run}` to train a new one."
        ) from None


def _frame(project: Path, catalog: dict[str, Any], name: str, run: str) -> pd.DataFrame:
    """A table of the catalog, read as its dataset would (pandas files directly)."""
    entry = catalog.get(name) or {}
    kind, load_args = entry.get("type"), dict(entry.get("load_args") or {})
    if kind not in _CSV + _PARQUET or entry.get("versioned"):
        return _kedro_load(name, entry, project)
    path = _path(project, entry["filepath"])
    if not path.exists():
        raise ModelUnavailableError(f"No '{name}' at {path} yet. Run `{run}` first.")
    return pd.read_csv(path, **load_args) if kind in _CSV else pd.read_parquet(path, **load_args)


def _json(project: Path, catalog: dict[str, Any], name: str) -> dict[str, Any] | None:
    entry = catalog.get(name) or {}
    try:
        return json.loads(_path(project, entry["filepath"]).read_text(encoding="utf-8"))
    except (KeyError, OSError, ValueError):
        return None


def _kedro_load(name: str, entry: dict[str, Any], project: Path) -> Any:
    """Any other dataset type (Spark's listener blocks), through Kedro's own class."""
    from kedro.io.core import AbstractDataset  # noqa: PLC0415

    entry = dict(entry)
    if "filepath" in entry:
        entry["filepath"] = str(_path(project, entry["filepath"]))
    try:
        return AbstractDataset.from_config(name, entry).load()
    except Exception as exc:
        raise ModelUnavailableError(f"'{name}' cannot be read: {_reason(exc)}") from None


def _interactions(path: Path, user_index: int) -> pd.DataFrame:
    """One listener's rows of the interactions table (a filter pushed down to the Parquet file)."""
    return pd.read_parquet(
        path,
        columns=["user_index", "artist_index", "weight"],
        filters=[("user_index", "==", user_index)],
    )


def _filter_rule(parameters: dict[str, Any]) -> str:
    """The sparsity filter's settings, to name it when a raw listener has no row."""
    try:
        rule = parameters["preprocessing"]["filter"]
    except (KeyError, TypeError):
        return ""
    return ", ".join(f"preprocessing.filter.{k}={v}" for k, v in rule.items())


def _reason(error: BaseException) -> str:
    """The innermost message of a load failure (the model file's own, not the dataset's wrapper)."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text.rstrip(".")


def _check_maps(
    recommender: FactorRecommender, id_index: dict[str, Any] | None, folder: Path
) -> None:
    """Stop when the model's rows are not today's listeners and artists (data changed since)."""
    saved = recommender.id_maps
    today = (id_index or {}).get("fingerprint")
    if saved is not None and today is not None and saved != today:
        raise ModelUnavailableError(
            f"The trained model does not match {folder}'s id maps (the data was "
            "preprocessed again since it was trained). Run `kedro run` (with the same --env) to "
            "retrain it."
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
    u = _user_row(assets, user_id)
    rec = assets.recommender
    played = pairs_of(assets.played(u), rec.n_items)
    n = _available(n, rec.n_items - played.nnz)
    index, values = rec.recommend([u], n, user_items=played)
    return _table(index[0], values[0], assets)


def explain(
    assets: Assets,
    artist: str,
    n: int = 5,
    user_id: int | None = None,
    listens: dict[str, float] | None = None,
) -> tuple[str, pd.DataFrame]:
    """Why ``artist`` is recommended: the played artists whose plays make most of its score."""
    rec = assets.recommender
    if not hasattr(rec, "explain"):
        raise UnknownNameError("explanations come from the implicit model: --objective implicit")
    item = _artist_index(assets, artist)
    if user_id is not None:
        history, plays = assets.history(_user_row(assets, user_id))
        who = f"listener {user_id}"
    else:
        history = np.array([_artist_index(assets, name) for name in listens or {}])
        plays, who = np.array(list((listens or {}).values()), dtype=np.float64), "this listener"
    why = rec.explain(history, plays, item)
    names = assets.artist_map.set_index("artist_index")["artist_name"]
    played = dict(zip(history.tolist(), plays.tolist(), strict=True))
    top = slice(0, min(n, len(why.artists)))
    table = pd.DataFrame(
        {
            "rank": np.arange(1, top.stop + 1),
            "because of": [str(names.get(a, f"artist {a}")) for a in why.artists[top]],
            "plays": [int(played[a]) for a in why.artists[top].tolist()],
            "share": np.round(why.contributions[top], 4),
        }
    )
    rest = why.contributions[top.stop :].sum()
    headline = (
        f"{names.get(item, artist)} for {who}: score {why.score:.4f} = {why.baseline:.4f} "
        f"(its own baseline) + {why.contributions.sum():.4f} from {len(history)} played "
        f"artist(s)"
        + (f" ({rest:+.4f} from the {len(history) - top.stop} not shown)" if rest else "")
    )
    return headline, table


def _user_row(assets: Assets, user_id: int) -> int:
    """A listener's row, or one line on why there is none (filtered out, or no such id)."""
    match = assets.user_map[assets.user_map["user_id"] == user_id]
    if match.empty and user_id in assets.filtered_out:
        raise UnknownNameError(
            f"listener {user_id} is in the raw data but was removed by the sparsity filter "
            f"({assets.filter_rule}): none of their artists has enough listeners. Ask for them "
            'with their history instead: --listen "ARTIST=PLAYS" (repeated)'
        )
    if match.empty:
        ids = assets.user_map["user_id"].to_numpy()
        closest = ids[np.argsort(np.abs(ids - user_id), kind="stable")[:5]]
        raise UnknownNameError(
            f"unknown user {user_id}; closest ids: {', '.join(map(str, sorted(closest)))}"
        )
    return int(match["user_index"].iloc[0])


def recommend_new(assets: Assets, listens: dict[str, float], n: int = 10) -> pd.DataFrame:
    """Fold a new listener in from ``{artist name: plays}`` with the model's own settings."""
    items = [_artist_index(assets, name) for name in listens]
    rec = assets.recommender
    n = _available(n, rec.n_items - len(set(items)))
    index, values = rec.recommend_new(items, list(listens.values()), n)
    return _table(index, values, assets)


def pairs_of(artists: np.ndarray, n_items: int) -> Any:
    """One listener's played artists as a one-row CSR matrix."""
    from music_recommender.pmf.ranking import pairs_matrix  # noqa: PLC0415 (torch: only to answer)

    return pairs_matrix(np.zeros(len(artists), dtype=np.int64), artists, 1, n_items)


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
    n = _available(n, assets.recommender.n_items - 1)
    index, sims = assets.recommender.similar_items([i], n)
    return _table(index[0], sims[0], assets, "similarity")
