"""Beyond-accuracy metrics against hand-computed values, and groups on a planted case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from music_recommender.pmf.beyond_accuracy import (
    Catalogue,
    average_popularity,
    co_listening,
    gini,
    intra_list_diversity,
    list_metrics,
    long_tail_share,
    mainstreaminess,
    novelty,
    recommendation_counts,
    shannon_entropy,
    short_head,
    tag_diversity,
    tag_profiles,
    thirds,
)

# Four artists: reach 0.5, 0.25, 0.125, 0.125 of the listeners; artist 0 holds 70 % of plays.
LISTENERS = np.array([0.5, 0.25, 0.125, 0.125])
TAIL = np.array([False, False, True, True])
LISTS = np.array([[0, 1], [2, -1]])  # the second list is one artist long (padded)


def test_average_popularity_is_the_mean_of_each_lists_mean_reach() -> None:
    assert average_popularity(LISTS, LISTENERS) == pytest.approx(((0.5 + 0.25) / 2 + 0.125) / 2)


def test_long_tail_share_counts_each_lists_tail_artists() -> None:
    assert long_tail_share(LISTS, TAIL) == pytest.approx((0 / 2 + 1 / 1) / 2)


def test_novelty_is_the_mean_self_information_of_what_is_shown() -> None:
    assert novelty(LISTS, LISTENERS) == pytest.approx((1 + 2 + 3) / 3)  # -log2 .5, .25, .125


def test_gini_of_recommendation_counts() -> None:
    assert gini([5, 5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 8]) == pytest.approx(0.75)  # (n - 1) / n when one artist has it all
    # sorted 1, 2, 3: sum((2i - n - 1) c_i) / (n sum c) = (-2 + 0 + 6) / (3 * 6)
    assert gini([3, 1, 2]) == pytest.approx(4 / 18)


def test_shannon_entropy_in_bits() -> None:
    assert shannon_entropy([1, 1, 1, 1]) == pytest.approx(2.0)
    assert shannon_entropy([0, 4, 0]) == 0.0
    assert shannon_entropy([1, 3]) == pytest.approx(
        -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    )


def test_intra_list_diversity_from_unit_vectors() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # list 1: orthogonal pair -> 1; list 2: identical pair -> 0; a single artist has no pairs
    lists = np.array([[0, 1], [0, 2], [1, -1]])
    assert intra_list_diversity(lists, vectors) == pytest.approx(0.5)
    triple = np.array([[0, 1, 2]])  # cosines 0, 1, 0 -> mean 1/3
    assert intra_list_diversity(triple, vectors) == pytest.approx(1 - 1 / 3)


def test_tag_diversity_matches_the_dense_intra_list_diversity() -> None:
    # artists 0 and 2 share their tags' proportions; artist 1 is all tag 2; artist 3 has none
    tags = (np.array([0, 1, 2, 0, 1]), np.array([0, 0, 1, 2, 2]), np.array([1.0, 3.0, 5.0, 2, 6]))
    profiles = tag_profiles(tags, n_items=4)
    dense = profiles.toarray()
    lists = np.array([[0, 1, 2], [0, 2, -1], [3, 0, 1], [1, -1, -1]])
    assert tag_diversity(lists, profiles) == pytest.approx(intra_list_diversity(lists, dense))
    assert tag_diversity(np.array([[0, 2]]), profiles) == pytest.approx(0.0)  # alike: 0
    assert tag_diversity(np.array([[0, 3]]), profiles) == pytest.approx(1.0)  # untagged: unlike
    catalogue = Catalogue.from_pairs(
        np.array([0, 1]), np.array([0, 1]), np.array([1, 1]), 2, 4, dims=1, tags=tags
    )
    assert "tag_ild" in list_metrics(lists, catalogue)


def test_short_head_holds_the_share_of_plays() -> None:
    plays = np.array([10.0, 70.0, 15.0, 5.0])
    assert short_head(plays, 0.7).tolist() == [False, True, False, False]
    assert short_head(plays, 0.8).tolist() == [False, True, True, False]
    assert short_head(plays, 1.0).all()
    with pytest.raises(ValueError, match=r"share of plays must be in \(0, 1\]"):
        short_head(plays, 0.0)


def test_catalogue_from_pairs_and_every_metric_at_once() -> None:
    users = np.array([0, 1, 2, 3, 0, 1, 2, 0])
    items = np.array([0, 0, 0, 0, 1, 1, 2, 3])
    plays = np.array([50, 50, 50, 50, 10, 10, 3, 1.0])
    catalogue = Catalogue.from_pairs(users, items, plays, 4, 4, head_share=0.8, dims=2)
    np.testing.assert_allclose(catalogue.listeners, [1.0, 0.5, 0.25, 0.25])
    assert catalogue.tail.tolist() == [False, True, True, True]  # artist 0 alone holds 200/224
    np.testing.assert_allclose(np.linalg.norm(catalogue.reference, axis=1), 1.0)
    out = list_metrics(np.array([[1, 2], [3, 0]]), catalogue)
    assert set(out) == {"arp", "aplt", "novelty", "gini", "entropy", "coverage", "ild"}
    assert out["coverage"] == 1.0 and out["gini"] == 0.0 and out["entropy"] == pytest.approx(2.0)
    assert recommendation_counts(np.array([[1, -1]]), 4).tolist() == [0, 1, 0, 0]


def test_mainstreaminess_and_thirds() -> None:
    users, items = np.array([0, 0, 1, 2]), np.array([0, 1, 2, 2])
    values = mainstreaminess(users, items, 4, LISTENERS)
    np.testing.assert_allclose(values[:3], [0.375, 0.125, 0.125])
    assert np.isnan(values[3])  # no training pairs
    assert thirds(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])).tolist() == [
        "low", "low", "mid", "mid", "high", "high",
    ]  # fmt: skip


def test_co_listening_cosines_are_float64_svds_within_1e4() -> None:
    # The reference embedding runs ARPACK in float32: its cosines must stay those of float64.
    rng = np.random.default_rng(3)
    pairs = np.unique(np.stack([rng.integers(0, 300, 4000), rng.integers(0, 120, 4000)], 1), axis=0)
    users, items = pairs[:, 0], pairs[:, 1]
    ours = co_listening(users, items, 300, 120, 8, seed=0)
    dense = np.zeros((120, 300))
    dense[items, users] = 1.0
    left, values, _ = np.linalg.svd(dense, full_matrices=False)
    want = left[:, :8] * values[:8]
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(ours @ ours.T, want @ want.T, atol=1e-4)
