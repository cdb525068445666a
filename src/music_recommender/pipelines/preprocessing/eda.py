"""The article's EDA facts and the play-count figure, from either engine's frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from music_recommender.pipelines.preprocessing.engine import engine_for
from music_recommender.pmf.scaling import METHODS, RatingScaler


def _facts(frame: pd.DataFrame) -> dict[str, Any]:
    stats = engine_for(frame).stats(frame)
    rows, users, artists = (int(stats[k]) for k in ("rows", "users", "artists"))
    density = rows / (users * artists) if users and artists else 0.0
    return {
        "rows": rows,
        "users": users,
        "artists": artists,
        "density": density,
        "density_percent": round(100 * density, 2),
        "weight": {k: float(stats[k]) for k in ("mean", "std", "min", "median", "max")},
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows (numpy scalars and NaN become Python values and null)."""
    return [
        {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def summarize(
    user_artists_raw: pd.DataFrame,
    artists_raw: pd.DataFrame,
    user_artists: pd.DataFrame,
    filtered: pd.DataFrame,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame,
    scaler: dict[str, Any],
    sample_rows: int,
    side: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The article's EDA facts, before and after filtering, and the side files' (friends, tags:
    ``side_files.validate_side_files``), as one JSON-ready dict."""
    engine = engine_for(user_artists_raw)
    parts = {"train": train, "validation": validation, "test": test}
    return {
        "raw": {
            **_facts(user_artists),
            "nulls": {
                "user_artists": engine.null_counts(user_artists_raw),
                "artists": engine_for(artists_raw).null_counts(artists_raw),
            },
            "artists_in_names_file": engine_for(artists_raw).count(artists_raw),
            "sample": _records(engine.head(user_artists_raw, sample_rows)),
            "artist_sample": _records(
                engine_for(artists_raw).head(artists_raw, sample_rows)[["id", "name"]]
            ),
        },
        "filtered": {
            **_facts(filtered),
            "sample": _records(engine_for(filtered).head(filtered, sample_rows)),
        },
        "split": {name: engine_for(part).count(part) for name, part in parts.items()},
        "normalisation": scaler,
        "side_files": side or {},
    }


def plot_weight_distribution(
    user_artists: pd.DataFrame, filtered: pd.DataFrame, scaler: dict[str, Any]
) -> Figure:
    """Show why play counts need a log scale: a heavy tail that z-scoring alone keeps."""
    # A bare Figure (no pyplot): no global figure registry, no GUI backend, nothing to close.
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax_raw, ax_scaled = fig.subplots(1, 2)
    # Counts per play value, not the rows: the same picture from a pandas or a Spark frame.
    every = engine_for(user_artists).weight_counts(user_artists)
    kept = engine_for(filtered).weight_counts(filtered)
    top = max(float(every.index.max()), 10.0)
    # Edges at half-integers: play counts are whole numbers, so no bin falls between two of them.
    bins = np.unique(np.round(np.logspace(0, np.log10(top) + 0.05, 60))) - 0.5
    ax_raw.hist(
        every.index,
        weights=every.to_numpy(),
        bins=bins,
        alpha=0.5,
        label=f"all rows ({int(every.sum()):,})",
    )
    ax_raw.hist(
        kept.index,
        weights=kept.to_numpy(),
        bins=bins,
        histtype="step",
        linewidth=1.5,
        label=f"after filter ({int(kept.sum()):,})",
    )
    ax_raw.set(
        xscale="log",
        yscale="log",
        xlabel="plays per (user, artist), log scale",
        ylabel="rows, log scale",
        title="Play counts are heavy-tailed",
    )
    ax_raw.legend()
    weights = kept.index.to_numpy(dtype=np.float64)
    scaled = {m: RatingScaler.fit_counts(kept.index, kept, m).transform(weights) for m in METHODS}
    low = min(float(v.min()) for v in scaled.values())
    high = max(float(v.max()) for v in scaled.values())
    edges = np.arange(np.floor(low), high + 0.25, 0.25)
    for method, values in scaled.items():
        label = method + (" (used)" if method == scaler["method"] else "")
        ax_scaled.hist(values, weights=kept.to_numpy(), bins=edges, alpha=0.55, label=label)
    ax_scaled.set(
        yscale="log",
        xlabel="normalised rating (standard deviations)",
        ylabel="rows, log scale",
        title="After normalisation: log1p keeps the tail within a few std",
    )
    ax_scaled.legend()
    return fig
