"""The implicit-feedback objective: exact row updates, and rankings that beat random and popularity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from music_recommender import synthetic
from music_recommender.pmf import PMF, ImplicitRecommender, solver
from music_recommender.pmf.implicit_feedback import fit_implicit, fold_in
from music_recommender.pmf.ranking import (
    HoldoutTask,
    factor_scorer,
    pairs_matrix,
    popularity_scorer,
    recommend,
    vector_scores,
)
from music_recommender.pmf.solver import ImplicitConfig, PlayedPairs, confidence, solve_side


@pytest.mark.parametrize("frequency", [False, True])
def test_row_update_solves_the_weighted_least_squares_exactly(frequency: bool) -> None:
    torch.manual_seed(0)
    n_rows, n_cols, k = 5, 6, 2
    other, other_bias = (
        torch.randn(n_cols, k, dtype=torch.float64),
        torch.randn(n_cols, dtype=torch.float64),
    )
    rows = torch.tensor([0, 0, 1, 2, 3, 3])
    cols = torch.tensor([1, 4, 0, 5, 2, 3])
    conf = torch.tensor([3.0, 5.0, 2.0, 4.0, 6.0, 2.5], dtype=torch.float64)
    reg = torch.tensor([0.5, 0.5, 0.1], dtype=torch.float64)
    neg_own = torch.tensor([1.0, 2.0, 0.5, 1.0, 0.8], dtype=torch.float64)
    neg_other = torch.tensor([1.0, 0.3, 2.0, 1.0, 1.5, 0.7], dtype=torch.float64)
    # Pairs given out of order; row 4 has none (its update sees only the unplayed weights).
    shuffle = torch.randperm(len(rows))
    rows, cols, conf = rows[shuffle], cols[shuffle], conf[shuffle]
    pairs = PlayedPairs.build(rows.numpy(), cols.numpy(), conf, neg_own, neg_other)
    # Frequency-scaled L2: each row's factors get 0.7 x its played pairs on top of reg.
    per_row = 0.7 * torch.bincount(rows, minlength=n_rows).double()[:, None] if frequency else None
    got = solve_side(
        torch.zeros(n_rows, k + 1, dtype=torch.float64),
        other,
        other_bias,
        pairs,
        (reg, per_row),
        k + 1,
        neg_own,
        neg_other,
    )
    ridges = reg.repeat(n_rows, 1)
    if per_row is not None:
        ridges[:, :-1] += per_row
    _assert_exact(got, other, other_bias, rows, cols, conf, ridges, neg_own, neg_other)


def _assert_exact(got, other, other_bias, rows, cols, conf, ridges, neg_own, neg_other) -> None:
    n_rows, n_cols = len(neg_own), len(neg_other)
    # Dense reference: weights and targets for every (row, col) pair.
    feats = torch.cat([other, torch.ones(n_cols, 1, dtype=torch.float64)], 1)
    weights = neg_own[:, None] * neg_other[None, :]
    prefs = torch.zeros(n_rows, n_cols, dtype=torch.float64)
    weights[rows, cols] = conf
    prefs[rows, cols] = 1.0
    for r in range(n_rows):
        w = weights[r]
        a = feats.T @ (feats * w[:, None]) + torch.diag(ridges[r])
        b = feats.T @ (w * (prefs[r] - other_bias))
        torch.testing.assert_close(got[r], torch.linalg.solve(a, b))


@pytest.fixture(scope="module")
def planted():
    # Users pick artists by taste (planted factors) as well as popularity.
    data = synthetic.generate(
        n_users=300, n_artists=200, artists_per_user=20, n_factors=4, seed=11, taste=3.0
    )
    users = np.searchsorted(data.user_ids, data.user_artists["userID"].to_numpy())
    items = np.searchsorted(data.artist_ids, data.user_artists["artistID"].to_numpy())
    return (
        users,
        items,
        data.user_artists["weight"].to_numpy(),
        len(data.user_ids),
        len(data.artist_ids),
    )


def test_ranks_held_out_artists_above_random_and_popularity(planted) -> None:
    users, items, plays, n_users, n_items = planted
    task = HoldoutTask.split(users, items, plays, 0.2, 0, n_users, n_items)

    def ndcg(scorer) -> float:
        return task.evaluate(scorer, 10, budget_mb=1.0)["ndcg@10"]

    config = ImplicitConfig(n_factors=8, alpha=10, reg=5, bias_reg=5, iterations=10)
    model = config.build(n_users, n_items)
    fit_implicit(model, task.users, task.items, task.plays, config)
    ours = ndcg(factor_scorer(model))
    popular = ndcg(popularity_scorer(task.items, n_items))
    generator = torch.Generator().manual_seed(0)
    rand = ndcg(lambda batch: torch.rand(len(batch), n_items, generator=generator))
    assert ours > popular > rand
    assert ours > 1.2 * popular


def test_fit_is_seeded_and_writes_the_pmf(planted) -> None:
    users, items, plays, n_users, n_items = planted
    config = ImplicitConfig(n_factors=4, iterations=2, seed=3)
    a, b = config.build(n_users, n_items), config.build(n_users, n_items)
    fit_implicit(a, users, items, plays, config)
    history = fit_implicit(b, users, items, plays, config)
    assert len(history) == 2
    assert torch.equal(a.item_factors.weight, b.item_factors.weight)
    assert a.item_bias.weight.abs().sum() > 0 and a.global_bias.item() == 0.0


def test_needs_biases_and_valid_config() -> None:
    with pytest.raises(ValueError, match="keeps the biases"):
        fit_implicit(PMF(2, 2, 1, biases=False), [0], [0], [1])
    with pytest.raises(ValueError, match="the model has 1 factors but the config asks for 128"):
        fit_implicit(PMF(2, 2, 1), [0], [0], [1])
    with pytest.raises(ValueError, match="plays_scale must be one of raw, user_median"):
        ImplicitConfig(plays_scale="log")
    with pytest.raises(ValueError, match="iterations must be an integer >= 1"):
        ImplicitConfig(iterations=0)


def test_confidence_per_user_median() -> None:
    c = confidence(
        np.array([0, 0, 0, 1]),
        np.array([10.0, 20.0, 40.0, 5.0]),
        alpha=1.0,
        plays_scale="user_median",
    )
    np.testing.assert_allclose(c.numpy(), 1 + np.log1p([0.5, 1.0, 2.0, 1.0]), rtol=1e-6)
    raw = confidence(np.array([0]), np.array([np.e - 1]), alpha=2.0, plays_scale="raw")
    assert raw.item() == pytest.approx(3.0)


def test_confidence_median_equals_a_loop_over_listeners() -> None:
    rng = np.random.default_rng(4)
    users = rng.integers(0, 30, 500)
    plays = rng.integers(1, 1000, 500).astype(float)
    got = confidence(users, plays, alpha=3.0, plays_scale="user_median").numpy()
    medians = np.array([np.median(plays[users == u]) for u in users])
    np.testing.assert_allclose(got, 1 + 3.0 * np.log1p(plays / medians), rtol=1e-5)


def test_fold_in_of_a_known_history_recommends_like_the_trained_user(planted) -> None:
    users, items, plays, n_users, n_items = planted
    config = ImplicitConfig(n_factors=8, alpha=10, reg=5, bias_reg=5, iterations=10)
    model = config.build(n_users, n_items)
    fit_implicit(model, users, items, plays, config)
    seen = pairs_matrix(users, items, n_users, n_items)
    trained, _ = recommend(factor_scorer(model), np.arange(n_users), 10, seen, 1.0, n_items)
    overlaps = []
    for u in range(0, n_users, 15):
        mine = users == u
        # No config given: fold_in reads the settings the model was fitted with from the model.
        vector, _ = fold_in(model, items[mine], plays[mine])
        folded, _ = recommend(
            lambda _, v=vector: vector_scores(model, v[None]), [u], 10, seen[[u]], 1.0, n_items
        )
        overlaps.append(len(set(folded[0]) & set(trained[u])) / 10)
    assert np.mean(overlaps) >= 0.8


def test_fold_in_uses_the_models_own_settings_not_todays(planted) -> None:
    users, items, plays, n_users, n_items = planted
    trained_with = ImplicitConfig(n_factors=8, alpha=10, reg=5, bias_reg=5, iterations=5)
    model = trained_with.build(n_users, n_items)
    fit_implicit(model, users, items, plays, trained_with)
    mine = users == 0
    own = fold_in(model, items[mine], plays[mine])[0]
    explicit = fold_in(model, items[mine], plays[mine], trained_with)[0]
    torch.testing.assert_close(own, explicit)
    other = fold_in(model, items[mine], plays[mine], ImplicitConfig(n_factors=8, reg=500.0))[0]
    assert not torch.allclose(own, other)
    with pytest.raises(ValueError, match="not fitted with the implicit objective"):
        fold_in(PMF(2, 3, 2), [0], [1.0])


def test_fold_in_needs_a_history() -> None:
    with pytest.raises(ValueError, match="at least one artist"):
        fold_in(PMF(2, 3, 2), [], [])


def test_frequency_scaled_l2_holds_back_a_popular_artist_more() -> None:
    rng = np.random.default_rng(0)
    users = np.r_[np.arange(60), rng.integers(0, 60, 120)]
    items = np.r_[np.zeros(60, int), rng.integers(1, 40, 120)]  # artist 0: every listener
    plays = rng.integers(1, 50, len(users)).astype(float)
    keep = ~pd.DataFrame({"u": users, "i": items}).duplicated().to_numpy()
    users, items, plays = users[keep], items[keep], plays[keep]
    norms = []
    for frequency_reg in (0.0, 2.0):
        config = ImplicitConfig(n_factors=4, frequency_reg=frequency_reg, iterations=4, seed=1)
        model = config.build(60, 40)
        fit_implicit(model, users, items, plays, config)
        norms.append(model.item_factors.weight.detach().norm(dim=1))
    shrink = norms[1] / norms[0]
    assert shrink[0] < shrink[1:].median()  # the artist every listener played shrinks most
    assert ImplicitConfig(frequency_reg=0.5).frequency_reg == 0.5
    with pytest.raises(ValueError, match="frequency_reg must be >= 0"):
        ImplicitConfig(frequency_reg=-1.0)


@pytest.mark.parametrize("frequency_reg", [0.0, 0.5])
def test_an_explanation_splits_the_fold_in_score_exactly(planted, frequency_reg: float) -> None:
    from music_recommender.pmf import ImplicitRecommender  # noqa: PLC0415

    users, items, plays, n_users, n_items = planted
    config = ImplicitConfig(
        n_factors=8, alpha=10, reg=5, bias_reg=5, iterations=6, frequency_reg=frequency_reg
    )
    rec = ImplicitRecommender(config).fit(users, items, plays, n_users, n_items)
    mine = users == 7
    history, counts = items[mine], plays[mine]
    top, scores = rec.recommend_new(history, counts, n=3)
    for artist, served in zip(top, scores, strict=True):
        why = rec.explain(history, counts, int(artist))
        assert why.baseline + why.contributions.sum() == pytest.approx(why.score, abs=1e-9)
        assert why.score == pytest.approx(float(served), abs=1e-4)  # the score the list showed
        assert sorted(why.artists.tolist()) == sorted(history.tolist())
        assert (np.diff(why.contributions) <= 0).all()  # largest share first
    # A listener of one artist: that artist's share is all the score beyond the baseline.
    single = rec.explain(history[:1], counts[:1], int(top[0]))
    assert single.contributions[0] == pytest.approx(single.score - single.baseline)
    with pytest.raises(IndexError, match="item must be row indices"):
        rec.explain(history, counts, n_items)


@pytest.mark.parametrize("frequency_reg", [0.0, 0.3])
def test_partial_fit_users_solves_each_listener_as_fold_in_does(planted, frequency_reg) -> None:
    users, items, plays, n_users, n_items = planted
    config = ImplicitConfig(
        n_factors=8, alpha=10, reg=5, bias_reg=5, iterations=4, frequency_reg=frequency_reg
    )
    # Listeners 0-29 are kept out of the fit entirely, then solved from their histories.
    out = users < 30
    rec = ImplicitRecommender(config).fit(users[~out], items[~out], plays[~out], n_users, n_items)
    before = rec.fitted.user_factors.weight[30:].clone()
    artists_before = rec.fitted.item_factors.weight.clone()
    assert rec.user_items[:30].nnz == 0
    rec.partial_fit_users(users[out], items[out], plays[out])
    for u in (0, 7, 29):
        mine = users == u
        vector, bias = fold_in(rec.fitted, items[mine], plays[mine])
        torch.testing.assert_close(rec.fitted.user_factors.weight[u], vector, atol=1e-4, rtol=1e-3)
        assert abs(rec.fitted.user_bias.weight[u].item() - bias) < 1e-4
    # The other listeners and every artist are as fitted; the played pairs now hold the new ones.
    assert torch.equal(rec.fitted.user_factors.weight[30:], before)
    assert torch.equal(rec.fitted.item_factors.weight, artists_before)
    assert rec.user_items.nnz == len(users)
    assert set(rec.user_items[0].indices) == set(items[users == 0])
    lists, _ = rec.recommend([0], 5)
    assert not set(lists[0]) & set(items[users == 0])  # the new history is filtered out
    with pytest.raises(IndexError, match="users must be row indices"):
        rec.partial_fit_users([n_users], [0], [1.0])


def test_sparse_products_never_read_stale_output(monkeypatch) -> None:
    # sum_rows writes its first tile with beta 0 and dots reuses one buffer: garbage (NaN, inf)
    # left in either must not leak into the next product.
    monkeypatch.setattr(solver, "_ROW_WALK_SHARE", 1e9)  # keep 8,192-row tiles: two of them
    rows, cols = np.array([0, 0, 1, 2]), np.array([1, 9000, 3, 2])
    pairs = PlayedPairs.build(rows, cols, torch.ones(4), torch.ones(3), torch.ones(9001))
    assert len(pairs.tiles) == 2
    other = torch.randn(9001, 2)
    expected = torch.stack([other[1] + other[9000], other[3], other[2]])
    in_order = [
        (torch.repeat_interleave(torch.arange(3), t.crow.long().diff()), t.col.long() + t.offset)
        for t in pairs.tiles
    ]
    order_rows = torch.cat([r for r, _ in in_order])
    order_cols = torch.cat([c for _, c in in_order])
    for stale in (float("nan"), float("inf")):
        got = pairs.sum_rows(torch.ones(4), other, torch.full((3, 2), stale))
        torch.testing.assert_close(got, expected)
        pairs.dots_out.fill_(stale)
        own = torch.randn(3, 2)
        dots = pairs.dots(own, pairs.split_columns(other))
        torch.testing.assert_close(dots, (own[order_rows] * other[order_cols]).sum(1))


def test_tiles_widen_when_row_walks_would_cost() -> None:
    # 8,192 rows a tile at 100 k x 59 k (4.75 M pairs); wider at 359 k x 198 k (17 M pairs).
    assert 8_192 <= solver.tile_rows(100_000, 59_000, 4_750_000) < 8_400
    assert solver.tile_rows(1_000, 2_000, 50_000) == 8_192
    assert 25_000 < solver.tile_rows(359_347, 197_592, 17_000_000) < 30_000


def test_tiles_stay_within_a_share_of_a_small_last_level_cache(tmp_path, monkeypatch) -> None:
    # A 32 MB L3 caps the scale shape's tiles at 8,192 rows (4 MB of vectors); a 256 MB one
    # leaves the row-walk rule's width; an unknown cache changes nothing.
    shape = (359_347, 197_592, 17_000_000)
    assert solver.tile_rows(*shape, cache=32 * 2**20) == 8_192
    assert solver.tile_rows(*shape, cache=256 * 2**20) == solver.tile_rows(*shape)
    assert solver.tile_rows(*shape, cache=None) == solver.tile_rows(*shape)
    for level, size in (("index0", "32K"), ("index3", "32768K")):
        (tmp_path / level).mkdir()
        (tmp_path / level / "size").write_text(size + "\n")
    real_path = solver.Path
    monkeypatch.setattr(
        solver, "Path", lambda p: tmp_path if "cpu0/cache" in str(p) else real_path(p)
    )
    solver.last_level_cache.cache_clear()
    try:
        assert solver.last_level_cache() == 32 * 2**20
    finally:
        monkeypatch.undo()
        solver.last_level_cache.cache_clear()
