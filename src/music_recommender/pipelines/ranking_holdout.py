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
from music_recommender.pmf.side import SideInformation

OBJECTIVES = ("implicit", "rating")
PAIRS = ["user_index", "artist_index", "weight"]


@dataclass(frozen=True)
class RecommendParams:
    """What to recommend and with which model (``training.recommending.recommend``)."""

    objective: str  # implicit: the implicit-feedback model; rating: the article's rating model
    n: int  # recommendations per listener
    similar_n: int  # similar artists per artist
    memory_budget_mb: float  # scores held at once while ranking (rows per batch follow from it)
    # Rank by score - popularity_penalty * log(1 + listeners): 0 = the plain lists.
    popularity_penalty: float = 0.0
    tags_shown: int = 3  # each artist's most assigned tags in similar_artists (side files)
    tag_only_n: int = 3  # artists below the filter suggested to each listener, from their tags

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
        if self.tag_only_n < 1:
            raise ValueError(
                f"training.recommending.recommend.tag_only_n must be >= 1; got {self.tag_only_n!r}"
            )
        if self.tags_shown < 0:
            raise ValueError(
                f"training.recommending.recommend.tags_shown must be >= 0; got {self.tags_shown!r}"
            )
        if not 0 <= self.popularity_penalty < float("inf"):
            raise ValueError(
                "training.recommending.recommend.popularity_penalty must be a finite number >= 0; "
                f"got {self.popularity_penalty!r}"
            )


PROTOCOLS = ("auto", "shipped", "fold_in", "refit")


@dataclass(frozen=True)
class RankingParams:
    """The per-user holdout of ``ranking_metrics.json`` (``training.recommending.ranking``)."""

    holdout_fraction: float
    k: int
    seed: int
    # Rank for a seeded sample of this many listeners (null = all): scoring every artist for
    # every listener, three models over, is what ranking costs at Last.fm-360K's size.
    max_users: int | None
    # Which implicit model the ranking measures (docs/evaluation.md): shipped = the one shipped,
    # fitted without the ranked listeners' held-out pairs, which are added back afterwards;
    # fold_in = fitted without the ranked listeners at all, who are solved from their visible
    # pairs (strong generalisation); refit = a second fit on the visible pairs of everyone;
    # auto = shipped when its held-out pairs are at most shipped_max_share of the rows, else refit.
    protocol: str = "auto"
    shipped_max_share: float = 0.05
    # Also refit the article's rating model on the visible pairs and rank it alongside (a
    # third model, a second fit of it); false: the implicit model and popularity only.
    compare_rating: bool = True

    def __post_init__(self) -> None:
        check_field_types(self, "training.recommending.ranking")
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                "training.recommending.ranking.protocol must be one of "
                f"{', '.join(PROTOCOLS)}; got {self.protocol!r}"
            )
        if not 0 <= self.shipped_max_share <= 1:
            raise ValueError(
                "training.recommending.ranking.shipped_max_share must be in [0, 1]; "
                f"got {self.shipped_max_share!r}"
            )
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(
                "training.recommending.ranking.holdout_fraction must be in (0, 1); "
                f"got {self.holdout_fraction!r}"
            )
        if self.k < 1:
            raise ValueError(f"training.recommending.ranking.k must be >= 1; got {self.k!r}")
        if self.max_users is not None and self.max_users < 1:
            raise ValueError(
                "training.recommending.ranking.max_users must be null (every listener) or an "
                f"integer >= 1; got {self.max_users!r}"
            )

    def sample_users(self, n_users: int) -> np.ndarray | None:
        """The seeded listeners to rank for (None: all of them)."""
        if self.max_users is None or self.max_users >= n_users:
            return None
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(n_users, self.max_users, replace=False))


@dataclass(frozen=True)
class BeyondAccuracyParams:
    """How lists are judged besides accuracy (``training.recommending.beyond_accuracy``)."""

    head_share: float  # the short head: the most played artists that hold this share of plays
    reference_dims: int  # co-listening SVD dimensions: the vectors intra-list diversity uses
    penalties: list[float]  # popularity penalties whose trade-off the report shows
    seed: int
    # Listeners ranked for the trade-off curve (a seeded sample of the ranked ones; null = all):
    # each penalty re-ranks every artist exactly for each of them.
    tradeoff_users: int | None = None

    def __post_init__(self) -> None:
        check_field_types(self, "training.recommending.beyond_accuracy")
        where = "training.recommending.beyond_accuracy"
        if not 0 < self.head_share <= 1:
            raise ValueError(f"{where}.head_share must be in (0, 1]; got {self.head_share!r}")
        if self.reference_dims < 1:
            raise ValueError(f"{where}.reference_dims must be >= 1; got {self.reference_dims!r}")
        if any(not 0 <= p < float("inf") for p in self.penalties):
            raise ValueError(
                f"{where}.penalties must be finite numbers >= 0; got {self.penalties!r}"
            )
        if self.tradeoff_users is not None and self.tradeoff_users < 1:
            raise ValueError(
                f"{where}.tradeoff_users must be null or >= 1; got {self.tradeoff_users!r}"
            )

    def tradeoff_sample(self, users: np.ndarray) -> np.ndarray:
        """The seeded listeners the trade-off curve ranks for, among ``users``."""
        if self.tradeoff_users is None or self.tradeoff_users >= len(users):
            return users
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(users, self.tradeoff_users, replace=False))


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


def plan_holdout(
    interactions: pd.DataFrame, id_index: dict[str, Any], ranking: RankingParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(pairs the implicit model is fitted on, what the ranked models see, what they must find,
    the protocol chosen) for ``ranking.protocol``.

    The held-out pairs of a ranked listener are the same under every protocol (one seeded
    ``split_holdout``), so the protocols' metrics are paired; ``refit`` also holds out the
    unranked listeners' pairs from the second fit, as it always has.
    """
    users = interactions["user_index"].to_numpy()
    split = per_user_holdout(users, ranking.holdout_fraction, ranking.seed)
    sample = ranking.sample_users(id_index["n_users"])
    ranked = np.ones(len(users), dtype=bool) if sample is None else np.isin(users, sample)
    kept_out = split.test & ranked
    share = float(kept_out.mean()) if len(users) else 0.0
    protocol = ranking.protocol
    if protocol == "auto":
        protocol = "shipped" if share <= ranking.shipped_max_share else "refit"
    if protocol == "fold_in" and sample is None:
        raise ValueError(
            "training.recommending.ranking.protocol fold_in leaves the ranked listeners out of the "
            "fit, so it needs max_users below the number of listeners "
            f"({id_index['n_users']}); got max_users {ranking.max_users!r}"
        )
    pairs = interactions[PAIRS]
    plan = {
        "protocol": protocol,
        "asked": ranking.protocol,
        "held_out_share": share,
        "shipped_max_share": ranking.shipped_max_share,
    }
    if protocol == "refit":
        seen, held_out = pairs[split.train], pairs[split.test]
        fit = pairs
    else:
        seen, held_out = pairs[~kept_out], pairs[kept_out]
        fit = seen if protocol == "shipped" else pairs[~ranked]
    plan["shipped_fit_pairs"] = len(fit)
    frames = (fit, seen, held_out)
    return (*(frame.reset_index(drop=True) for frame in frames), plan)  # type: ignore[return-value]


def side_information(tag_input: pd.DataFrame, friend_input: pd.DataFrame) -> SideInformation:
    """The side tables of preprocessing's ``side_model_input`` as the library takes them (empty
    when the side files are absent: the fit is then the plays alone)."""
    tags = tag_input[["user_index", "artist_index", "tag_index"]].to_numpy(dtype=np.int64)
    friends = friend_input[["user_index", "friend_index"]].to_numpy(dtype=np.int64)
    return SideInformation.build(tuple(tags.T), tuple(friends.T))


def holdout_side(
    tag_input: pd.DataFrame,
    friend_input: pd.DataFrame,
    held_out: pd.DataFrame,
    plan: dict[str, Any],
) -> tuple[SideInformation, SideInformation]:
    """(the side information the shipped fit sees, the one the holdout's models see): every tag
    of a held-out pair removed from the latter, and from the former unless the protocol refits
    (then the shipped fit sees every pair, so every tag)."""
    side = side_information(tag_input, friend_input)
    fair = side.holding_out(held_out["user_index"].to_numpy(), held_out["artist_index"].to_numpy())
    return (side if plan["protocol"] == "refit" else fair), fair
