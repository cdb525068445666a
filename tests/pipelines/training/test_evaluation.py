"""The holdout's verdict per listener group, and the popularity-penalty knob."""

from __future__ import annotations

import numpy as np
import pandas as pd

from music_recommender.pipelines.training.recommending.evaluation import (
    group_quality,
    judge,
    tradeoff,
    worst_served,
)
from music_recommender.pmf import ImplicitConfig, ImplicitRecommender
from music_recommender.pmf.beyond_accuracy import Catalogue
from music_recommender.pmf.ranking import HoldoutTask, popularity_scorer


def _planted() -> HoldoutTask:
    """Mainstream listeners play the 10 most popular artists; niche ones, a niche of their own."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(90):
        if user % 3 == 0:  # niche: 8 of 30 niche artists
            picks = 10 + rng.choice(30, 8, replace=False)
        else:  # mainstream: 8 of the 10 popular artists
            picks = rng.choice(10, 8, replace=False)
        rows += [(user, a, int(rng.integers(5, 100))) for a in picks]
    frame = pd.DataFrame(rows, columns=["u", "a", "w"])
    return HoldoutTask.split(frame.u, frame.a, frame.w, 0.25, 0, 90, 40)


def test_the_low_mainstreaminess_group_is_served_worse_by_the_chart() -> None:
    task = _planted()
    catalogue = Catalogue.from_pairs(task.users, task.items, task.plays, 90, 40, dims=4)
    ranked = {"popularity": task.rank(popularity_scorer(task.items, 40), 10, 64.0)}
    groups = group_quality(task, ranked, catalogue, 10)
    cells = groups["mainstreaminess"]
    assert cells["low"]["popularity"]["ndcg@10"] < 0.5 * cells["high"]["popularity"]["ndcg@10"]
    assert cells["low"]["played_arp"] < cells["high"]["played_arp"]
    worst = worst_served(groups, "popularity", 10)["mainstreaminess"]
    assert worst["group"] == "low" and worst["gap"] > 0.5
    metrics = judge(task, ranked["popularity"], catalogue, 10)
    assert metrics["aplt"] < 0.5 and 0 <= metrics["gini"] <= 1


def test_a_popularity_penalty_reaches_into_the_tail_and_zero_changes_nothing() -> None:
    task = _planted()
    catalogue = Catalogue.from_pairs(task.users, task.items, task.plays, 90, 40, dims=4)
    config = ImplicitConfig(n_factors=4, alpha=5.0, reg=1.0, bias_reg=1.0, iterations=5)
    rec = ImplicitRecommender(config).fit(task.users, task.items, task.plays, 90, 40)
    users = np.arange(90)
    plain = rec.recommend(users, 10)
    same = rec.recommend(users, 10, popularity_penalty=0.0, popularity=np.ones(40))
    for got, want in zip(same, plain, strict=True):
        np.testing.assert_array_equal(got, want)  # lambda = 0: byte-identical lists
    listeners = np.bincount(task.items, minlength=40)
    curve = tradeoff(
        task, {p: rec.scorer(p, listeners) for p in (0.0, 1.0)}, catalogue, 10, 64.0, None
    )
    assert curve["lambda_1"]["aplt"] > curve["lambda_0"]["aplt"]
    assert curve["lambda_1"]["arp"] < curve["lambda_0"]["arp"]
