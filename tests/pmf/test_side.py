"""Side information in the implicit objective: tags as rows sharing the artist factors, friends as
a pull toward their mean, and a holdout that drops every tag of a held-out pair."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from music_recommender.pmf import ImplicitRecommender, SideInformation, implicit_feedback
from music_recommender.pmf.implicit_feedback import fit_implicit
from music_recommender.pmf.ranking import HoldoutTask
from music_recommender.pmf.solver import ImplicitConfig, PlayedPairs, solve_side


def test_a_shift_pulls_each_row_toward_its_prior_exactly() -> None:
    # min sum_j c (p - b - x.f)^2 + ridge ||x||^2 + w ||x - m||^2 on the factor columns:
    # ridge + w on the diagonal, w * m joins the right-hand side.
    torch.manual_seed(0)
    n_rows, n_cols, k = 4, 5, 2
    other = torch.randn(n_cols, k, dtype=torch.float64)
    bias = torch.randn(n_cols, dtype=torch.float64)
    rows, cols = np.array([0, 0, 1, 2, 3]), np.array([1, 4, 0, 2, 3])
    conf = torch.tensor([3.0, 5.0, 2.0, 4.0, 6.0], dtype=torch.float64)
    ones_own, ones_other = torch.ones(n_rows, dtype=torch.float64), torch.ones(n_cols).double()
    pairs = PlayedPairs.build(rows, cols, conf, ones_own, ones_other)
    reg = torch.tensor([0.5, 0.5, 0.1], dtype=torch.float64)
    pull = torch.tensor([[2.0], [0.0], [1.0], [3.0]], dtype=torch.float64)
    prior = torch.randn(n_rows, k, dtype=torch.float64)
    got = solve_side(
        torch.zeros(n_rows, k + 1, dtype=torch.float64), other, bias, pairs, (reg, pull),
        k + 1, ones_own, ones_other, shift=pull * prior,
    )  # fmt: skip
    feats = torch.cat([other, torch.ones(n_cols, 1, dtype=torch.float64)], 1)
    for r in range(n_rows):
        w = torch.ones(n_cols, dtype=torch.float64)
        p = torch.zeros(n_cols, dtype=torch.float64)
        played = rows == r
        w[cols[played]] = conf[played]
        p[cols[played]] = 1.0
        ridge = reg.clone()
        ridge[:k] += pull[r, 0]
        a = feats.T @ (feats * w[:, None]) + torch.diag(ridge)
        b = feats.T @ (w * (p - bias))
        b[:k] += pull[r, 0] * prior[r]
        torch.testing.assert_close(got[r], torch.linalg.solve(a, b))


def _tagged(seed: int = 0, n_users: int = 300, n_items: int = 600, n_genres: int = 30):
    """Listeners who each play 6 artists of their one genre, and a tag per artist naming its
    genre: too few plays to learn 20 artists per genre from, which the tags tell."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, n_genres, n_items)
    taste = rng.integers(0, n_genres, n_users)
    chosen = [rng.choice(np.flatnonzero(genre == g), 6, replace=False) for g in taste]
    users, items = np.repeat(np.arange(n_users), 6), np.concatenate(chosen)
    plays = rng.integers(1, 100, len(users)).astype(float)
    side = SideInformation.build((rng.integers(0, n_users, n_items), np.arange(n_items), genre))
    return users, items, plays, n_users, n_items, side


def test_tag_rows_are_listeners_that_share_the_artist_factors() -> None:
    # With tag_weight 1 and tag_alpha = alpha on raw plays, a tag row is exactly a listener who
    # played each tagged artist "percent" times: the same fit as appending those listeners
    # (the tag prior off: it acts on the artists, which appended listeners cannot).
    users, items, plays, n_users, n_items, side = _tagged()
    config = ImplicitConfig(
        n_factors=4, alpha=5.0, plays_scale="raw", iterations=3, tag_weight=1.0, tag_alpha=5.0,
        tag_prior=0.0,
    )  # fmt: skip
    with_side = config.build(n_users, n_items)
    fit_implicit(with_side, users, items, plays, config, side=side)
    tags, tagged, percent = side.tag_pairs(n_items)
    appended = config.build(n_users + side.n_tags, n_items)
    fit_implicit(
        appended,
        np.r_[users, n_users + tags],
        np.r_[items, tagged],
        np.r_[plays, percent],
        config,
    )
    torch.testing.assert_close(with_side.item_factors.weight, appended.item_factors.weight)
    torch.testing.assert_close(
        with_side.user_factors.weight, appended.user_factors.weight[:n_users]
    )
    assert with_side.trained_with["side"]["tag_artist_pairs"] == len(tags)


def test_tags_that_describe_artists_lift_the_ranking() -> None:
    users, items, plays, n_users, n_items, side = _tagged()
    task = HoldoutTask.split(users, items, plays, 0.3, 0, n_users, n_items, side=side)
    config = ImplicitConfig(n_factors=8, alpha=10, reg=5, bias_reg=5, frequency_reg=0.0)

    def ndcg(tag_weight: float) -> float:
        rec = ImplicitRecommender(ImplicitConfig(**{**config.to_dict(), "tag_weight": tag_weight}))
        rec.fit(task.users, task.items, task.plays, n_users, n_items, side=task.side)
        return task.evaluate(rec.scorer(), 10, 1.0)["ndcg@10"]

    plain, tagged = ndcg(0.0), ndcg(3.0)
    assert tagged > 1.15 * plain  # measured: 0.270 -> 0.338


def test_a_holdout_drops_every_tag_of_a_held_out_pair_and_a_leak_would_show() -> None:
    users, items, plays, n_users, n_items, _ = _tagged()
    # A leaking tag: each listener tags every artist they play with a tag of their own, so the
    # tag row of listener u marks exactly u's artists, held-out ones included.
    leaky = SideInformation.build((users, items, users))
    task = HoldoutTask.split(users, items, plays, 0.3, 0, n_users, n_items, side=leaky)
    held = set(zip(*task.held_out[:2], strict=True))
    kept = set(zip(task.side.tag_users, task.side.tag_items, strict=True))
    assert len(kept) == len(task.users) and not kept & held
    config = ImplicitConfig(n_factors=8, alpha=10, reg=5, bias_reg=5, tag_weight=3.0)

    def ndcg(side: SideInformation) -> float:
        rec = ImplicitRecommender(config).fit(
            task.users, task.items, task.plays, n_users, n_items, side=side
        )
        return task.evaluate(rec.scorer(), 10, 1.0)["ndcg@10"]

    # Had the split kept the held-out pairs' tags, the ranking would find them far more often.
    assert ndcg(leaky) > 1.3 * ndcg(task.side)  # measured: 0.431 against 0.291


def test_friends_pull_listener_vectors_together() -> None:
    users, items, plays, n_users, n_items, _ = _tagged()
    friends = np.arange(0, n_users - 1, 2)
    side = SideInformation.build(friends=(np.r_[friends, friends + 1], np.r_[friends + 1, friends]))

    def spread(friend_weight: float) -> float:
        config = ImplicitConfig(n_factors=4, iterations=4, friend_weight=friend_weight)
        rec = ImplicitRecommender(config).fit(users, items, plays, n_users, n_items, side=side)
        vectors = rec.fitted.user_factors.weight.detach()
        gap = (vectors[friends] - vectors[friends + 1]).norm(dim=1)
        return float((gap / vectors[friends].norm(dim=1).clamp_min(1e-9)).mean())

    assert spread(100.0) < 0.5 * spread(0.0)


def test_side_information_renumbers_and_counts() -> None:
    side = SideInformation.build(
        tags=([5, 7, 7, -1, 9], [0, 0, 1, 1, 3], [0, 1, 1, 1, 2]),
        friends=([5, 7, 9], [7, 5, 5]),
    )
    tags, items, percent = side.tag_pairs(n_items=2)  # artist 3 is not a row of this model
    assert list(zip(tags, items, strict=True)) == [(0, 0), (1, 0), (1, 1)]
    np.testing.assert_allclose(percent, [50.0, 50.0, 100.0])
    sub = side.for_listeners([5, 9])
    assert list(sub.tag_users) == [0, -1, -1, -1, 1]
    assert list(zip(sub.friend_users, sub.friend_rows, strict=True)) == [(1, 0)]
    assert side.holding_out([7], [1]).tag_items.tolist() == [0, 0, 1, 3]  # -1's tag stays
    with pytest.raises(ValueError, match="n_tags is 2 but tag row 2 occurs"):
        SideInformation.build(tags=([0], [0], [2]), n_tags=2)
    with pytest.raises(ValueError, match="integer rows"):
        SideInformation.build(tags=([0.5], [0], [0]))
    with pytest.raises(ValueError, match="one process"):
        config = ImplicitConfig(n_factors=2, processes=2)
        fit_implicit(config.build(10, 2), [0], [0], [1.0], config, side=side)


@pytest.mark.parametrize("tag_prior", [0.0, 30.0])
def test_an_artist_known_only_by_its_tags_gets_the_row_the_fit_would_give_it(
    tmp_path, tag_prior: float
) -> None:
    users, items, plays, n_users, n_items, side = _tagged()
    # The last 50 artists lose every play: in the fit only their tags describe them (and, with
    # the tag prior, the mix of their tags' prior vectors, which travel with the model too).
    played = items < n_items - 50
    config = ImplicitConfig(
        n_factors=4, iterations=6, cg_steps=8, tag_weight=3.0, tag_prior=tag_prior
    )
    rec = ImplicitRecommender(config).fit(
        users[played], items[played], plays[played], n_users, n_items, side=side
    )
    tags, tagged, percent = side.tag_pairs(n_items)
    cold = tagged >= n_items - 50
    vectors, biases = rec.vectors_from_tags(
        tagged[cold] - (n_items - 50), tags[cold], percent[cold]
    )
    model = rec.fitted
    torch.testing.assert_close(vectors, model.item_factors.weight[-50:], atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(biases, model.item_bias.weight[-50:, 0], atol=1e-4, rtol=1e-3)
    # The tag rows travel with the model file.
    rec.save(tmp_path / "model.pt")
    again = ImplicitRecommender.load(tmp_path / "model.pt")
    assert again.tag_vectors is not None and torch.equal(again.tag_vectors, rec.tag_vectors)
    if tag_prior:
        assert torch.equal(again.tag_prior_vectors, rec.tag_prior_vectors)
    else:
        assert rec.tag_prior_vectors is None and again.tag_prior_vectors is None
    with pytest.raises(ValueError, match="fitted with tags"):
        ImplicitRecommender(config).fit(users, items, plays).vectors_from_tags([0], [0], [100.0])


def test_the_tag_prior_pulls_artists_toward_the_mix_of_their_tags() -> None:
    # Tags as a prior only (no tag rows): artists of one genre share their one tag, so a strong
    # prior draws their factors to that tag's vector, and the ranking gains as from tag rows.
    users, items, plays, n_users, n_items, side = _tagged()
    genre = side.tag_rows

    def fitted(tag_prior: float) -> ImplicitRecommender:
        config = ImplicitConfig(
            n_factors=8, alpha=10, reg=5, bias_reg=5, frequency_reg=0.0, tag_weight=0.0,
            tag_prior=tag_prior,
        )  # fmt: skip
        return ImplicitRecommender(config).fit(users, items, plays, n_users, n_items, side=side)

    def spread(rec: ImplicitRecommender) -> float:
        vectors = rec.fitted.item_factors.weight.detach()
        means = (
            torch.zeros(side.n_tags, vectors.shape[1]).index_add_(
                0, torch.from_numpy(genre), vectors
            )
            / torch.from_numpy(np.bincount(genre, minlength=side.n_tags)).clamp_min(1)[:, None]
        )
        return float(((vectors - means[genre]).norm(dim=1) / vectors.norm(dim=1)).mean())

    assert spread(fitted(100.0)) < 0.5 * spread(fitted(0.0))
    assert fitted(100.0).fitted.trained_with["tag_prior"] == 100.0


def test_the_tag_vectors_solve_their_ridge_regression() -> None:
    # After an artist sweep the tag vectors G minimise ||V - A G||^2 + ridge ||G||^2 (A: each
    # artist's tag shares): (A'A + ridge I) G = A'V, here with fewer tags than CG steps.
    rng = np.random.default_rng(0)
    items, tags = rng.integers(0, 40, 120), rng.integers(0, 9, 120)
    side = SideInformation.build((np.zeros(120, np.int64), items, tags))
    mix = side.tag_mix(40, torch.device("cpu"))
    k = 3
    item = torch.randn(40, k + 1)
    problem = SimpleNamespace(mix=mix, tag_vectors=torch.zeros(side.n_tags, k), item=item)
    implicit_feedback._solve_tag_vectors(problem, ImplicitConfig(n_factors=k))
    a = mix.matrix.to_dense().double()
    shares = a.sum(1)
    assert torch.allclose(shares[shares > 0], torch.ones_like(shares[shares > 0]))
    ridge = implicit_feedback._MIX_RIDGE
    want = torch.linalg.solve(a.T @ a + ridge * torch.eye(side.n_tags), a.T @ item[:, :k].double())
    torch.testing.assert_close(problem.tag_vectors.double(), want, atol=1e-4, rtol=1e-4)


def test_a_negative_tag_prior_is_refused() -> None:
    with pytest.raises(ValueError, match="tag_prior must be >= 0"):
        ImplicitConfig(tag_prior=-1.0)
