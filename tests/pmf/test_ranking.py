"""Ranking helpers: per-user holdout, batched top-N without played artists, metrics by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import sparse

from music_recommender.pmf import PMF
from music_recommender.pmf.ranking import (
    HoldoutTask,
    _grouped_shuffle,
    factor_scorer,
    pairs_matrix,
    per_user_holdout,
    popularity_scorer,
    ranking_metrics,
    recommend,
    rows_per_batch,
    similar_items,
    top_k_rows,
    top_n,
    vector_scores,
)
from music_recommender.pmf.similarity import all_nearest, block_rows


def test_per_user_holdout_takes_the_fraction_of_every_user() -> None:
    users = np.repeat(np.arange(4), [10, 5, 1, 2])
    split = per_user_holdout(users, 0.2, seed=0)
    assert not (split.train & split.test).any() and (split.train | split.test).all()
    # round(0.2 * n); singletons stay
    assert [int(split.test[users == u].sum()) for u in range(4)] == [2, 1, 0, 0]
    again = per_user_holdout(users, 0.2, seed=0)
    other = per_user_holdout(users, 0.2, seed=1)
    assert (again.test == split.test).all() and not (other.test == split.test).all()
    with pytest.raises(ValueError, match=r"holdout fraction must be in \(0, 1\)"):
        per_user_holdout(users, 1.0, seed=0)


def test_top_n_never_returns_played_artists() -> None:
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    seen = pairs_matrix(np.array([0, 1]), np.array([0, 3]), 2, 4)
    index, values = top_n(scores, seen, 2)
    assert index.tolist() == [[1, 2], [2, 1]]
    assert values.tolist() == [[4.0, 3.0], [3.0, 2.0]]


def test_pairs_beyond_the_table_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="beyond the table"):
        pairs_matrix(np.array([0]), np.array([4]), 1, 4)


def _random_model(n_users: int, n_items: int, seed: int = 0, factors: int = 3) -> PMF:
    torch.manual_seed(seed)
    model = PMF(n_users, n_items, n_factors=factors, init_std=1.0)
    with torch.no_grad():
        model.item_bias.weight.normal_()
    return model


def test_batched_top_n_equals_the_dense_result() -> None:
    model = _random_model(37, 23)
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 37, 200), rng.integers(0, 23, 200)
    played = pairs_matrix(users, items, 37, 23)
    dense = (
        model.user_factors.weight @ model.item_factors.weight.T + model.item_bias.weight[:, 0]
    ).detach()
    dense[torch.from_numpy(played.toarray().astype(bool))] = -torch.inf
    want_values, want_index = torch.topk(dense, 5, dim=1)
    for budget in (1e-4, 1e-3, 10.0):  # one row per batch, a few rows, everything at once
        index, values = recommend(factor_scorer(model), np.arange(37), 5, played, budget, 23)
        assert index.tolist() == want_index.tolist()
        np.testing.assert_allclose(values, want_values.numpy(), rtol=1e-6)
    assert rows_per_batch(23, 1e-4) == 1 and rows_per_batch(23, 10.0) > 37


@pytest.mark.parametrize("low", [0, 2**40])
def test_per_user_holdout_orders_as_lexsort_so_the_same_pairs_are_held_out(low: int) -> None:
    # The one-key sort must give lexsort's order exactly: a different permutation would hold out
    # other pairs and move every recorded figure.
    rng = np.random.default_rng(4)
    users = low + rng.integers(0, 300, 5000)
    draws = np.random.default_rng(9).random(len(users))
    assert (_grouped_shuffle(users, draws) == np.lexsort((draws, users))).all()
    assert (_grouped_shuffle(users.astype(float), draws) == np.lexsort((draws, users))).all()


def test_similar_items_batched_equals_dense_cosine() -> None:
    model = _random_model(5, 30, seed=2)
    vectors = torch.nn.functional.normalize(model.item_factors.weight.detach(), dim=1)
    dense = vectors @ vectors.T
    dense.fill_diagonal_(-torch.inf)
    want = torch.topk(dense, 4, dim=1).indices
    index, sims = similar_items(model, np.arange(30), 4, budget_mb=1e-3)
    assert index.tolist() == want.tolist()
    assert (index != np.arange(30)[:, None]).all() and (sims <= 1.0001).all()


def test_similar_items_bfloat16_candidates_give_the_float32_lists() -> None:
    # A catalogue wide enough for the bfloat16 pass (where the CPU has it) and its few extra
    # candidates: the lists and cosines of scoring every artist in float32.
    model = _random_model(5, 4000, seed=6, factors=64)
    vectors = torch.nn.functional.normalize(model.item_factors.weight.detach(), dim=1)
    queries = np.arange(0, 4000, 7)
    dense = vectors[queries] @ vectors.T
    dense[torch.arange(len(queries)), torch.as_tensor(queries)] = -torch.inf
    want = torch.topk(dense, 10, dim=1)
    index, sims = similar_items(model, queries, 10, budget_mb=8.0)
    assert (index == want.indices.numpy()).mean() > 0.995  # float32 ties may swap neighbours
    np.testing.assert_allclose(sims, want.values.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("n_items", [1000, 64 * 5 + 3])  # a last block narrower than a list
def test_similar_items_for_every_artist_equal_the_dense_lists(bf16: bool, n_items: int) -> None:
    # Asked for every artist, one pass over the upper triangle in blocks of 64 answers: the
    # lists of the dense float32 cosines, in the asked order, never the artist itself.
    model = _random_model(5, n_items, seed=3, factors=16)
    vectors = torch.nn.functional.normalize(model.item_factors.weight.detach(), dim=1)
    dense = vectors @ vectors.T
    dense.fill_diagonal_(-torch.inf)
    want = torch.topk(dense, 7, dim=1)
    tables = (vectors, vectors.to(torch.bfloat16) if bf16 else None)
    order = np.random.default_rng(1).permutation(n_items)
    index, sims = similar_items(model, order, 7, budget_mb=1e-3, tables=tables)
    assert block_rows(1e-3, 12, 17) == 64
    assert (index == want.indices.numpy()[order]).mean() > 0.995  # float ties may swap
    np.testing.assert_allclose(sims, want.values.numpy()[order], rtol=1e-5, atol=1e-6)
    assert (index != order[:, None]).all()
    for budget in (1e-3, 64.0):  # many tiles or one: the same lists
        again, _ = similar_items(model, np.arange(n_items), 7, budget_mb=budget, tables=tables)
        assert (again[order] == index).mean() > 0.995


def test_all_nearest_keeps_a_group_below_the_threshold_out_and_a_late_best_in() -> None:
    # Each row's best other row sits in the last tile it meets: a merge that kept stale lists,
    # or a group test against the wrong side's threshold, would miss it.
    table = torch.eye(256)
    table[255, 0] = table[0, 255] = 0.9  # rows 0 and 255 near each other, four tiles apart
    table = torch.nn.functional.normalize(table, dim=1)
    values, index = all_nearest(table, 1, 64)
    assert index[0, 0] == 255 and index[255, 0] == 0
    assert values[0, 0] == pytest.approx(float(table[0] @ table[255]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_all_nearest_with_negative_thresholds_and_a_zero_vector(dtype: torch.dtype) -> None:
    # Lists long enough that their last scores are negative (whose bits, read as integers, order
    # the other way: every group of such a row must be read), and a zero vector: the lists of
    # the dense products.
    torch.manual_seed(5)
    table = torch.nn.functional.normalize(torch.randn(300, 3), dim=1)
    table[17] = 0.0
    table = table.to(dtype)
    dense = (table @ table.T).float()
    dense.fill_diagonal_(-torch.inf)
    want = torch.topk(dense, 200, dim=1).values
    values, index = all_nearest(table, 200, 64)
    torch.testing.assert_close(values, want)
    got = torch.gather(dense, 1, index)  # each listed index really has the listed score
    torch.testing.assert_close(got, values)
    assert all(len(set(row)) == 200 for row in index.tolist())


def test_metrics_against_hand_computed_values() -> None:
    recommended = np.array([[1, 2, 3], [4, 5, 6]])
    relevant = pairs_matrix(np.array([0, 0, 1]), np.array([2, 9, 7]), 2, 10)
    m = ranking_metrics(recommended, relevant, k=3)
    # User 0: one hit at rank 2 of 2 relevant; user 1: no hit. Sums over both users.
    assert m["precision@3"] == pytest.approx(1 / 3)
    assert m["recall@3"] == pytest.approx(1 / 2)
    dcg = 1 / math.log2(3)
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx(dcg / idcg)
    assert m["map@3"] == pytest.approx((1 / 2) / 2)
    assert m["users"] == 2


def test_perfect_ranking_scores_one_and_users_without_holdout_are_skipped() -> None:
    relevant = pairs_matrix(np.array([0, 0]), np.array([1, 3]), 2, 4)
    m = ranking_metrics(np.array([[3, 1], [0, 2]]), relevant, k=2)
    assert (m["precision@2"], m["recall@2"], m["ndcg@2"], m["map@2"], m["users"]) == (
        1.0,
        1.0,
        1.0,
        1.0,
        1,
    )


def test_holdout_task_means_and_coverage_do_not_depend_on_the_batch() -> None:
    rng = np.random.default_rng(1)
    users, items = rng.integers(0, 40, 600), rng.integers(0, 25, 600)
    pairs = np.unique(np.stack([users, items], 1), axis=0)
    task = HoldoutTask.split(pairs[:, 0], pairs[:, 1], np.ones(len(pairs)), 0.3, 0, 40, 25)
    model = _random_model(40, 25, seed=3)
    small, large = (task.evaluate(factor_scorer(model), 5, b) for b in (1e-4, 100.0))
    assert small == pytest.approx(large)
    assert 0 < small["coverage"] <= 1 and small["users"] > 0


def test_popularity_and_vector_scores() -> None:
    pop = popularity_scorer(np.array([1, 1, 2]), n_items=3)(np.array([0, 1]))
    assert pop.tolist() == [[0.0, 2.0, 1.0], [0.0, 2.0, 1.0]]
    model = PMF(2, 3, n_factors=2)
    with torch.no_grad():
        model.user_factors.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model.item_factors.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
        model.item_bias.weight.copy_(torch.tensor([[0.0], [0.0], [0.6]]))
        model.user_bias.weight.copy_(torch.tensor([[100.0], [-100.0]]))
    # The user bias does not change a ranking: left out.
    want = torch.tensor([[1.0, 0.0, 1.1], [0.0, 1.0, 1.1]])
    torch.testing.assert_close(factor_scorer(model)(np.array([0, 1])), want)
    torch.testing.assert_close(vector_scores(model, torch.tensor([[1.0, 0.0]])), want[:1])


def test_fast_top_n_gives_the_float32_lists_and_exact_scores() -> None:
    # bfloat16 candidates, float32 re-scoring: the same lists and scores as scoring in float32.
    model = _random_model(200, 3000, seed=5)
    rng = np.random.default_rng(5)
    played = pairs_matrix(rng.integers(0, 200, 4000), rng.integers(0, 3000, 4000), 200, 3000)
    fast = factor_scorer(model)
    users = np.arange(200)
    index, values = fast.top_n(users, played[users], 10)
    want_index, want_values = top_n(fast(users), played[users], 10)
    assert (index == want_index).mean() > 0.99  # ties in float32 may swap neighbours
    np.testing.assert_allclose(values, want_values, rtol=1e-5, atol=1e-6)
    fast.fast = False  # the plain float32 path (CPUs without bfloat16 support)
    assert (fast.top_n(users, played[users], 10)[0] == want_index).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_top_k_rows_equals_torch_topk_on_wide_rows(dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(40, 20_000 + 37, generator=generator).to(dtype)  # a partial last group
    scores[:, 100:9_000] = -torch.inf  # masked artists, as played ones are
    scores[0, :] = -torch.inf
    scores[0, [5, 19_990, 20_030]] = torch.tensor([1.0, 3.0, 2.0]).to(dtype)  # fewer than k
    scores[1, 20_036] = 50.0  # the best in the partial group
    scores[2:6] -= 100.0  # every score negative: bfloat16's int16 shortcut does not hold
    scores[6, :] = -1.0  # ties below zero
    scores[6, 12_345] = 0.0
    for k in (1, 10, 35):
        want = torch.topk(scores, k, dim=1)
        values, index = top_k_rows(scores, k)
        assert torch.equal(values, want.values)
        assert torch.equal(torch.gather(scores, 1, index), values)
    assert top_k_rows(scores, 10)[1][1, 0] == 20_036
    narrow = torch.randn(5, 300)
    assert torch.equal(top_k_rows(narrow, 10)[0], torch.topk(narrow, 10, dim=1).values)


def test_the_popularity_chart_walk_matches_scoring_every_artist() -> None:
    rng = np.random.default_rng(4)
    items = rng.integers(0, 30, 400)
    chart = popularity_scorer(items, 30)
    users = np.arange(12)
    played = sparse.random(12, 30, density=0.4, random_state=5, format="csr")
    played[11] = 1.0  # a listener who played everything: padded with -inf
    played.eliminate_zeros()
    found, counts = chart.top_n(users, played, 10)
    scores = chart(users)
    want_counts = top_n(scores, played, 10)[1]
    np.testing.assert_array_equal(counts, want_counts)  # the same counts, in order
    assert np.isneginf(counts[11]).all()
    for row in range(11):
        assert not set(found[row]) & set(played[row].indices)  # never a played artist
        assert len(set(found[row])) == 10
        # equal counts: the lower artist index first
        for a, b in zip(found[row][:-1], found[row][1:], strict=True):
            assert (chart.counts[a], -a) > (chart.counts[b], -b)
