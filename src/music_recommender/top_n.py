"""Top-N index lists to tables with artist names: one function for nodes and the command line."""

from __future__ import annotations

import numpy as np
import pandas as pd


def top_n_table(
    index: np.ndarray,
    scores: np.ndarray,
    artist_map: pd.DataFrame,
    keys: dict[str, np.ndarray] | None = None,
    score_name: str = "score",
    prefix: str = "",
) -> pd.DataFrame:
    """One row per (list, rank) with ids, names and scores; padding past the catalogue is dropped.

    ``index`` and ``scores`` are ``lists x n`` (from ``pmf.ranking``); ``keys`` are columns with one
    value per list (``{"user_id": ...}``), repeated down each list; ``prefix`` names the artist
    columns (``similar_`` gives ``similar_artist_id``).
    """
    index, scores = np.asarray(index), np.asarray(scores)
    n_lists, width = index.shape
    names = artist_map.sort_values("artist_index")  # artist_index is 0..n-1 (preprocessing)
    frame = pd.DataFrame({k: np.repeat(np.asarray(v), width) for k, v in (keys or {}).items()})
    frame["rank"] = np.tile(np.arange(1, width + 1), n_lists)
    frame[f"{prefix}artist_id"] = names["artist_id"].to_numpy()[index.ravel()]
    frame[f"{prefix}artist_name"] = names["artist_name"].to_numpy()[index.ravel()]
    frame[score_name] = scores.ravel()
    # A list runs out when fewer artists are left than asked for: those slots score -inf.
    return frame[np.isfinite(frame[score_name].to_numpy())].reset_index(drop=True)
