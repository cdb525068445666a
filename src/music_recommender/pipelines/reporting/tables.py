"""Reporting tables: artists by bias with flags, example listeners, and the page's summary tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.pmf.checks import check_field_types
from music_recommender.top_n import artist_tags


@dataclass(frozen=True)
class BiasReportParams:
    """How the artist-bias table flags artists (``reporting.artist_bias``)."""

    # An artist is flagged when its bias percentile and its popularity percentile differ by more.
    flag_gap: float = 0.5
    # Rows of the top / bottom tables on the page.
    table_rows: int = 25
    # Artists named at each end of the bias distribution figure.
    named: int = 8
    # Artists labelled on the embedding map, by listeners and by bias each.
    map_labels: int = 10

    def __post_init__(self) -> None:
        check_field_types(self, "reporting.artist_bias")
        if not 0 < self.flag_gap < 1:
            raise ValueError(
                f"reporting.artist_bias.flag_gap must be in (0, 1); got {self.flag_gap!r}"
            )
        for name in ("table_rows", "named", "map_labels"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"reporting.artist_bias.{name} must be >= 0; got {getattr(self, name)!r}"
                )


def artist_bias_table(biases: pd.DataFrame, params: BiasReportParams) -> pd.DataFrame:
    """Every artist by learned bias, with its reach and a flag where bias and reach disagree.

    ``popularity_rank`` ranks by listeners (ties by total plays). An artist is ``over-rated``
    when its bias percentile is ``flag_gap`` above its popularity percentile (its listeners play
    it far more than its reach suggests) and ``under-rated`` when it is that far below.
    """
    table = biases.sort_values("bias", ascending=False, ignore_index=True)
    n = len(table)
    popularity = table.sort_values(["listeners", "total_plays"], ascending=False).index
    pop_rank = pd.Series(np.arange(1, n + 1), index=popularity).sort_index()
    gap = (pop_rank.to_numpy() - np.arange(1, n + 1)) / max(n, 1)
    table = table.assign(
        rank=np.arange(1, n + 1),
        popularity_rank=pop_rank.to_numpy(),
        flag=np.select(
            [gap > params.flag_gap, gap < -params.flag_gap], ["over-rated", "under-rated"], ""
        ),
    )
    return table[
        [
            "rank",
            "artist_id",
            "artist_name",
            "bias",
            "listeners",
            "total_plays",
            "popularity_rank",
            "flag",
        ]
    ]


def example_listeners(
    interactions: pd.DataFrame,
    artist_map: pd.DataFrame,
    recommendations: pd.DataFrame,
    n_users: int,
    n_items: int,
    tag_input: pd.DataFrame | None = None,
    tag_map: pd.DataFrame | None = None,
    n_tags: int = 0,
) -> pd.DataFrame:
    """A few listeners (spread over the id range): their most-played artists beside what they
    are recommended, each recommended artist with its ``n_tags`` most assigned tags."""
    ids = np.sort(interactions["user_id"].unique())
    chosen = (
        ids[np.linspace(0, len(ids) - 1, num=min(n_users, len(ids))).astype(int)]
        if len(ids)
        else ids
    )
    names = artist_map.set_index("artist_id")["artist_name"]
    tags = pd.Series(dtype=object)
    if tag_input is not None and len(tag_input) and n_tags:
        tags = pd.Series(
            artist_tags(tag_input, tag_map, len(artist_map), n_tags)[artist_map["artist_index"]],
            index=artist_map["artist_id"].to_numpy(),
        )
    rows = []
    for user in chosen:
        played = interactions[interactions["user_id"] == user].nlargest(n_items, "weight")
        recs = recommendations[recommendations["user_id"] == user].sort_values("rank").head(n_items)
        rows.append(
            {
                "user_id": str(user),
                "most played": ", ".join(
                    f"{names.get(a, a)} ({int(w):,})"
                    for a, w in zip(played["artist_id"], played["weight"], strict=True)
                ),
                "recommended": ", ".join(
                    f"{name} ({tags[a]})" if tags.get(a) else str(name)
                    for a, name in zip(recs["artist_id"], recs["artist_name"], strict=True)
                ),
            }
        )
    return pd.DataFrame(rows)


MODEL_LABELS = {
    "implicit": "PMF, implicit objective",
    "rating": "PMF, rating objective",
    "popularity": "most popular",
}
BEYOND = {
    "arp": "ARP",
    "aplt": "long-tail share",
    "novelty": "novelty (bits)",
    "gini": "Gini",
    "entropy": "entropy (bits)",
    "ild": "diversity (ILD)",
    "tag_ild": "tag diversity (ILD)",
    "coverage": "coverage",
}


def beyond_table(ranking: dict[str, Any]) -> pd.DataFrame:
    """What each model's lists are made of: popularity, long tail, novelty, spread, diversity."""
    shown = {k: v for k, v in BEYOND.items() if any(k in m for m in ranking["models"].values())}
    rows = [
        {
            "model": MODEL_LABELS.get(name, name),
            **{label: m.get(key) for key, label in shown.items()},
        }
        for name, m in ranking["models"].items()
    ]
    return pd.DataFrame(rows)


def groups_table(ranking: dict[str, Any], split: str) -> pd.DataFrame:
    """NDCG@k, recall@k and ARP per listener group and model, beside what the group plays."""
    k = ranking["protocol"]["k"]
    rows = []
    for group, cell in ranking["groups"][split].items():
        row: dict[str, Any] = {split: group, "listeners": cell["listeners"]}
        row["played ARP"] = cell["played_arp"]
        for name in ranking["models"]:
            row[f"{name} NDCG@{k}"] = cell[name][f"ndcg@{k}"]
            row[f"{name} ARP"] = cell[name]["arp"]
        rows.append(row)
    return pd.DataFrame(rows)


def ranking_table(ranking: dict[str, Any]) -> pd.DataFrame:
    k = ranking["protocol"]["k"]
    labels = MODEL_LABELS
    columns = {"precision": "P", "recall": "R", "ndcg": "NDCG", "map": "MAP"}
    rows = [
        {
            "model": labels.get(name, name),
            **{f"{short}@{k}": m[f"{key}@{k}"] for key, short in columns.items()},
            "coverage": m["coverage"],
        }
        for name, m in ranking["models"].items()
    ]
    return pd.DataFrame(rows)


def facts_table(summary: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, facts in (("raw", summary["raw"]), ("after filter", summary["filtered"])):
        w = facts["weight"]
        rows.append(
            {
                "data": name,
                "rows": facts["rows"],
                "users": facts["users"],
                "artists": facts["artists"],
                "density": f"{facts['density_percent']:.2f} %",
                "plays mean": w["mean"],
                "plays std": w["std"],
                "plays max": w["max"],
            }
        )
    return pd.DataFrame(rows)


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = [
        ("this model (PMF)", metrics["test_mse"], metrics["test_rmse"]),
        ("bias-only baseline", metrics["baseline_bias_mse"], metrics["baseline_bias_rmse"]),
        ("global-mean baseline", metrics["baseline_global_mse"], metrics["baseline_global_rmse"]),
    ]
    return pd.DataFrame(rows, columns=["model", "test MSE", "test RMSE"])
