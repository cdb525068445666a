"""What the recommending pipelines of tuning and training share: their settings and the holdout.

``tuning.recommending`` searches on a validation split cut from the very pairs that
``training.recommending``'s ranking holdout lets a model see, so the search never sees the
pairs the reported ranking metrics are measured on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.ranking import HoldoutTask, per_user_holdout

OBJECTIVES = ("implicit", "rating")
PAIRS = ["user_index", "artist_index", "weight"]


@dataclass(frozen=True)
class RecommendParams:
    """What to recommend and with which model (``training.recommending.recommend``)."""

    objective: str  # implicit: the implicit-feedback model; rating: the article's rating model
    n: int  # recommendations per listener
    similar_n: int  # similar artists per artist
    memory_budget_mb: float  # scores held at once while ranking (rows per batch follow from it)

    def __post_init__(self) -> None:
        check_field_types(self, "training.recommending.recommend")
        if self.objective == "explicit":
            raise ValueError(
                "training.recommending.recommend.objective 'explicit' is now called 'rating' "
                "(the article's rating model); set objective: rating"
            )
        if self.objective not in OBJECTIVES:
            raise ValueError(
                "training.recommending.recommend.objective must be one of "
                f"{', '.join(OBJECTIVES)}; got {self.objective!r}"
            )
        for name in ("n", "similar_n", "memory_budget_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"training.recommending.recommend.{name} must be > 0; got {getattr(self, name)!r}"
                )


@dataclass(frozen=True)
class RankingParams:
    """The per-user holdout of ``ranking_metrics.json`` (``training.recommending.ranking``)."""

    holdout_fraction: float
    k: int
    seed: int
    # Rank for a seeded sample of this many listeners (null = all): scoring every artist for
    # every listener, three models over, is what ranking costs at Last.fm-360K's size.
    max_users: int | None

    def __post_init__(self) -> None:
        check_field_types(self, "training.recommending.ranking")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(
                "training.recommending.ranking.holdout_fraction must be in (0, 1); "
                f"got {self.holdout_fraction!r}"
            )
        if self.k < 1:
            raise ValueError(f"training.recommending.ranking.k must be >= 1; got {self.k!r}")

    def sample_users(self, n_users: int) -> np.ndarray | None:
        """The seeded listeners to rank for (None: all of them)."""
        if self.max_users is None or self.max_users >= n_users:
            return None
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(n_users, self.max_users, replace=False))


def holdout_task(
    seen: pd.DataFrame, held_out: pd.DataFrame, id_index: dict[str, Any]
) -> HoldoutTask:
    """The holdout frames of ``split_holdout`` as a task to score (tables sized by ``id_index``)."""
    return HoldoutTask(
        *(seen[c].to_numpy() for c in PAIRS),
        held_out=tuple(held_out[c].to_numpy() for c in PAIRS),
        n_users=id_index["n_users"],
        n_items=id_index["n_items"],
    )


def split_holdout(
    interactions: pd.DataFrame, ranking: RankingParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out ``holdout_fraction`` of each listener's artists: (what models see, what they must find)."""
    split = per_user_holdout(
        interactions["user_index"].to_numpy(), ranking.holdout_fraction, ranking.seed
    )
    pairs = interactions[PAIRS]
    return pairs[split.train].reset_index(drop=True), pairs[split.test].reset_index(drop=True)
