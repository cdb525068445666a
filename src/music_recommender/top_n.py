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


def artist_tags(
    tag_input: pd.DataFrame | None, tag_map: pd.DataFrame | None, n_items: int, per_artist: int
) -> np.ndarray:
    """Each artist row's ``per_artist`` most assigned tags, most first, joined by ", " (an
    empty string for an artist with none, or without the side files): what a listener reads."""
    out = np.full(n_items, "", dtype=object)
    if tag_input is None or tag_map is None or not len(tag_input) or per_artist < 1:
        return out
    counts = tag_input.groupby(["artist_index", "tag_index"]).size().rename("n").reset_index()
    counts = counts[counts["artist_index"] < n_items]
    counts = counts.sort_values(["artist_index", "n", "tag_index"], ascending=[True, False, True])
    top = counts.groupby("artist_index").head(per_artist)
    names = tag_map.set_index("tag_index")["tag"].astype(str)
    top = top.assign(tag=names.reindex(top["tag_index"]).to_numpy())
    joined = top.groupby("artist_index", sort=True)["tag"].agg(", ".join)
    out[joined.index.to_numpy()] = joined.to_numpy()
    return out
