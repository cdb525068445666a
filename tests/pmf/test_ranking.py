"""Ranking helpers: per-user holdout, top-N without played artists, metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from music_recommender.pmf import PMF
from music_recommender.pmf.ranking import (
    model_scores,
    per_user_holdout,
    popularity_scores,
    ranking_metrics,
    relevant_sets,
    seen_matrix,
    top_n,
)


def test_per_user_holdout_takes_the_fraction_of_every_user() -> None:
    users = np.repeat(np.arange(4), [10, 5, 1, 2])
    split = per_user_holdout(users, 0.2, seed=0)
    assert not (split.train & split.test).any() and (split.train | split.test).all()
    assert [int(split.test[users == u].sum()) for u in range(4)] == [
        2,
        1,
        0,
        0,
    ]  # round(0.2 * n); singletons stay
    again = per_user_holdout(users, 0.2, seed=0)
    other = per_user_holdout(users, 0.2, seed=1)
    assert (again.test == split.test).all() and not (other.test == split.test).all()
    with pytest.raises(ValueError, match=r"holdout fraction must be in \(0, 1\)"):
        per_user_holdout(users, 1.0)


def test_top_n_never_returns_played_artists() -> None:
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    seen = seen_matrix(np.array([0, 1]), np.array([0, 3]), 2, 4)
    index, values = top_n(scores, seen, 2)
    assert index.tolist() == [[1, 2], [2, 1]]
    assert values.tolist() == [[4.0, 3.0], [3.0, 2.0]]


def test_metrics_against_hand_computed_values() -> None:
    recommended = np.array([[1, 2, 3], [4, 5, 6]])
    relevant = [np.array([2, 9]), np.array([7])]
    m = ranking_metrics(recommended, relevant, n_items=10, k=3)
    # User 0: one hit at rank 2 of 2 relevant; user 1: no hit.
    assert m["precision@3"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["recall@3"] == pytest.approx((1 / 2 + 0) / 2)
    dcg = 1 / math.log2(3)
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx((dcg / idcg) / 2)
    assert m["map@3"] == pytest.approx(((1 / 2) / 2 + 0) / 2)
    assert m["coverage"] == pytest.approx(6 / 10)
    assert m["users"] == 2


def test_perfect_ranking_scores_one_and_users_without_holdout_are_skipped() -> None:
    m = ranking_metrics(
        np.array([[3, 1], [0, 2]]), [np.array([1, 3]), np.array([], dtype=int)], n_items=4, k=2
    )
    assert (m["precision@2"], m["recall@2"], m["ndcg@2"], m["map@2"], m["users"]) == (
        1.0,
        1.0,
        1.0,
        1.0,
        1,
    )


def test_relevant_sets_and_popularity() -> None:
    sets = relevant_sets(np.array([2, 0, 2]), np.array([5, 1, 7]), n_users=3)
    assert [sorted(s.tolist()) for s in sets] == [[1], [], [5, 7]]
    pop = popularity_scores(np.array([1, 1, 2]), n_users=2, n_items=3)
    assert pop.tolist() == [[0.0, 2.0, 1.0], [0.0, 2.0, 1.0]]


def test_model_scores_rank_by_dot_product_plus_artist_bias() -> None:
    model = PMF(2, 3, n_factors=2)
    with torch.no_grad():
        model.user_factors.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model.item_factors.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
        model.item_bias.weight.copy_(torch.tensor([[0.0], [0.0], [0.6]]))
        model.user_bias.weight.copy_(torch.tensor([[100.0], [-100.0]]))
    scores = model_scores(model)
    torch.testing.assert_close(scores, torch.tensor([[1.0, 0.0, 1.1], [0.0, 1.0, 1.1]]))
