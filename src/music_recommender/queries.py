"""The questions the command line answers, apart from its argument parsing (``cli.py``).

The model, id maps and parameters come through the project's catalog, so an environment works
as for ``kedro run`` and the latest versioned model answers. Names and ids in, tables out; every
ranking is the recommender object's own (``pmf.recommender``).
"""

from __future__ import annotations

import difflib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from music_recommender.errors import UserError
from music_recommender.top_n import top_n_table

if TYPE_CHECKING:
    from music_recommender.pmf.recommender import FactorRecommender

OBJECTIVES = ("implicit", "rating")
MODELS = {"implicit": "implicit_model", "rating": "rating_model"}


class UnknownNameError(UserError, ValueError):
    """An unknown user or artist; the message lists the closest matches."""


class ModelUnavailableError(UserError):
    """No trained model to answer from, or one that cannot be used; the message says what to run."""


@dataclass(frozen=True)
class Assets:
    """What the commands need, loaded once."""

    recommender: FactorRecommender
    interactions: pd.DataFrame
    user_map: pd.DataFrame
    artist_map: pd.DataFrame


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
        name = MODELS[objective]
        run = f"kedro run --env {env}" if env else "kedro run"  # the hint names the environment
        if not catalog.exists(name):
            raise ModelUnavailableError(f"No trained model '{name}' yet. Run `{run}` first.")
        try:
            recommender = catalog.load(name)
        except Exception as exc:
            raise ModelUnavailableError(
                f"The latest '{name}' cannot be used: {_reason(exc)}. "
                f"Run `{run}` to train a new one."
            ) from None
        user_map, artist_map = catalog.load("user_map"), catalog.load("artist_map")
        _check_maps(recommender, user_map, artist_map)
        budget = _budget(context.params["training"]["recommending"]["recommend"])
        return Assets(
            recommender.with_budget(budget), catalog.load("interactions"), user_map, artist_map
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


def _check_maps(
    recommender: FactorRecommender, user_map: pd.DataFrame, artist_map: pd.DataFrame
) -> None:
    """Stop when the model's rows are not today's listeners and artists (data changed since)."""
    from music_recommender.pipelines.preprocessing.rules import describe_ids  # noqa: PLC0415

    saved = recommender.id_maps
    if saved is not None and saved != describe_ids(user_map, artist_map)["fingerprint"]:
        raise ModelUnavailableError(
            "The trained model does not match data/03_primary's id maps (the data was "
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
    match = assets.user_map[assets.user_map["user_id"] == user_id]
    if match.empty:
        ids = assets.user_map["user_id"].to_numpy()
        closest = ids[np.argsort(np.abs(ids - user_id), kind="stable")[:5]]
        raise UnknownNameError(
            f"unknown user {user_id}; closest ids: {', '.join(map(str, sorted(closest)))}"
        )
    u = int(match["user_index"].iloc[0])
    rec = assets.recommender
    mine = assets.interactions[assets.interactions["user_index"] == u]
    played = pairs_of(mine["artist_index"].to_numpy(), rec.n_items)
    n = _available(n, rec.n_items - played.nnz)
    index, values = rec.recommend([u], n, user_items=played)
    return _table(index[0], values[0], assets)


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
