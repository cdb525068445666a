"""Top-N and similar artists through the faiss index: the exact lists, nearly, and never a play."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from music_recommender import synthetic
from music_recommender.pmf import ImplicitConfig, ImplicitRecommender
from music_recommender.pmf.errors import SettingError
from music_recommender.retrieval import IndexedRecommender, IndexParams, indexed

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def fitted() -> ImplicitRecommender:
    data = synthetic.generate(
        n_users=600, n_artists=3000, artists_per_user=30, n_factors=8, seed=5, taste=3.0
    )
    users = np.searchsorted(data.user_ids, data.user_artists["userID"].to_numpy())
    items = np.searchsorted(data.artist_ids, data.user_artists["artistID"].to_numpy())
    config = ImplicitConfig(n_factors=32, alpha=10, reg=5, bias_reg=50, iterations=6)
    return ImplicitRecommender(config).fit(
        users,
        items,
        data.user_artists["weight"].to_numpy(),
        len(data.user_ids),
        len(data.artist_ids),
    )


def _recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(
        np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact, strict=True)])
    )


def test_the_index_finds_the_exact_top_10_and_never_a_played_artist(fitted) -> None:
    index = IndexedRecommender(fitted, IndexParams(min_artists=1))
    users = np.arange(fitted.n_users)
    exact, exact_scores = fitted.recommend(users, 10)
    approx, scores = index.recommend(users, 10, fitted.user_items[users])
    assert _recall(approx, exact) >= 0.98
    played = fitted.user_items
    assert not any(set(approx[u]) & set(played[u].indices) for u in users)
    same = approx == exact
    assert np.allclose(scores[same], exact_scores[same], atol=1e-4)  # the scores are exact
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def test_similar_artists_through_the_index_match_the_exact_ones(fitted) -> None:
    params = IndexParams(min_artists=1, similar=True, neighbours=32, search_depth=128)
    index = IndexedRecommender(fitted, params)
    # Artists someone played (an artist nobody played has no direction: its ties are arbitrary,
    # and the pipeline's catalogue holds only artists with listeners).
    listeners = np.diff(fitted.user_items.tocsc().indptr)
    items = np.flatnonzero(listeners >= 3)[::3]
    exact, _ = fitted.similar_items(items, 10)
    approx, sims = index.similar_items(items, 10)
    assert _recall(approx, exact) >= 0.98
    assert not (approx == items[:, None]).any()
    assert (sims <= 1 + 1e-5).all()


def test_a_small_catalogue_is_scored_exactly_and_bad_settings_are_named(fitted) -> None:
    assert indexed(fitted, IndexParams(min_artists=fitted.n_items + 1)) is fitted
    with pytest.raises(SettingError, match=r"index\.search_depth must be an integer >= 1"):
        IndexParams(search_depth=0)


def test_histories_of_every_length_are_searched_in_groups_and_never_recommended(fitted) -> None:
    # Histories of 0 to 1,500 artists: a group per power of two, the longest (over max_extra)
    # scored exactly; none of them may come back, and the lists match exact scoring.
    rng = np.random.default_rng(0)
    users = np.arange(60)
    lengths = np.r_[0, 1, 2, 3, 5, 9, 17, 33, 70, 130, 600, 1500, rng.integers(0, 80, 48)]
    rows = np.repeat(users, lengths)
    cols = np.concatenate([rng.choice(fitted.n_items, size, replace=False) for size in lengths])
    played = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(60, fitted.n_items))
    index = IndexedRecommender(fitted, IndexParams(min_artists=1, max_extra=256))
    approx, scores = index.recommend(users, 10, played)
    exact, _ = fitted.recommend(users, 10, user_items=played)
    assert _recall(approx, exact) >= 0.98
    assert not any(set(approx[u]) & set(played[u].indices) for u in users)
    assert (approx >= 0).all() and np.isfinite(scores).all()


def test_without_the_similar_graph_similar_artists_are_exact(fitted) -> None:
    index = IndexedRecommender(fitted, IndexParams(min_artists=1))
    items = np.arange(0, fitted.n_items, 7)
    got, sims = index.similar_items(items, 10)
    want, want_sims = fitted.similar_items(items, 10)
    assert np.array_equal(got, want) and np.allclose(sims, want_sims)
    with pytest.raises(SettingError, match=r"index\.similar must be true or false"):
        IndexParams(similar="yes")
