"""One contract for every recommender object, as implicit's shared test mixin: both objectives,
on the CPU and again on CUDA when a GPU is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from music_recommender.pmf import (
    ImplicitConfig,
    ImplicitRecommender,
    RatingRecommender,
    Ratings,
    Recipe,
    TrainConfig,
    load_recommender,
)
from music_recommender.pmf.scaling import RatingScaler

N_USERS, N_ITEMS, OWN, OTHER = 60, 40, 12, 3
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine"),
    ),
]


def planted() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two taste groups: a listener plays 12 of their group's 20 artists a lot and 3 others a
    little; one more of their group's artists is withheld (the one a model must find)."""
    rng = np.random.default_rng(3)
    users, items, plays, withheld = [], [], [], []
    for u in range(N_USERS):
        group = u % 2
        own = rng.permutation(np.arange(group, N_ITEMS, 2))
        other = rng.permutation(np.arange(1 - group, N_ITEMS, 2))[:OTHER]
        withheld.append(own[OWN])
        for i in own[:OWN]:
            users.append(u), items.append(i), plays.append(rng.integers(200, 400))
        for i in other:
            users.append(u), items.append(i), plays.append(rng.integers(1, 4))
    return np.array(users), np.array(items), np.array(plays, float), np.array(withheld)


def fit(objective: str, device: str) -> ImplicitRecommender | RatingRecommender:
    users, items, plays, _ = planted()
    if objective == "implicit":
        config = ImplicitConfig(n_factors=6, alpha=5, reg=1, bias_reg=10, device=device)
        return ImplicitRecommender(config).fit(users, items, plays, N_USERS, N_ITEMS)
    scaler = RatingScaler.fit(plays, "log_zscore")
    train = TrainConfig(
        schedule=((0.05, 40),), batch_size=64, l2=0.01, item_bias_ridge=1.0, patience=None,
        device=device,
    )  # fmt: skip
    rec = RatingRecommender(Recipe(n_factors=6, train=train), scaler=scaler.to_dict())
    ratings = Ratings.from_arrays(users, items, scaler.transform(plays))
    return rec.fit(ratings, n_users=N_USERS, n_items=N_ITEMS)


@pytest.fixture(scope="module", params=["implicit", "rating"])
def objective(request) -> str:
    return request.param


@pytest.fixture(scope="module", params=DEVICES)
def rec(request, objective):
    return fit(objective, request.param)


def _played(rec) -> list[set[int]]:
    matrix = rec.user_items
    return [set(matrix.indices[matrix.indptr[u] : matrix.indptr[u + 1]]) for u in range(N_USERS)]


def test_never_recommends_a_played_artist(rec) -> None:
    ids, scores = rec.recommend(np.arange(N_USERS), n=20)
    played = _played(rec)
    assert ids.shape == (N_USERS, 20) and np.isfinite(scores).all()
    assert all(not (set(row) & played[u]) for u, row in enumerate(ids))
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def test_recovers_the_withheld_artist_of_a_planted_taste(rec) -> None:
    *_, withheld = planted()
    ids, _ = rec.recommend(np.arange(N_USERS), n=10)
    hits = np.mean([w in row for w, row in zip(withheld, ids, strict=True)])
    assert hits >= 0.8, hits


def test_similar_items_never_lists_the_artist_itself(rec) -> None:
    ids, sims = rec.similar_items(np.arange(N_ITEMS), n=5)
    assert ids.shape == (N_ITEMS, 5) and (np.diff(sims, axis=1) <= 1e-6).all()
    assert all(i not in row for i, row in enumerate(ids))
    # a planted group's nearest artists are mostly of its own group
    assert np.mean(ids % 2 == np.arange(N_ITEMS)[:, None] % 2) >= 0.8


def test_allow_and_deny_lists_hold(rec) -> None:
    allowed = np.arange(0, N_ITEMS, 3)
    denied = np.arange(0, N_ITEMS, 2)
    ids, scores = rec.recommend(np.arange(N_USERS), n=6, items=allowed, exclude=denied)
    shown = ids[np.isfinite(scores)]
    assert set(shown) <= set(allowed) - set(denied)
    for u, row in enumerate(ids):
        assert not (set(row[row >= 0]) & _played(rec)[u])
    ids, _ = rec.recommend(np.arange(N_USERS), n=6, exclude=denied)
    assert not (set(ids.ravel()) & set(denied))
    # fewer artists allowed than asked for: the rest is padding (-1, -inf), never a played one
    ids, scores = rec.recommend([0], n=5, items=[1, 2], filter_played=False)
    assert sorted(ids[0, :2]) == [1, 2] and (ids[0, 2:] == -1).all()
    assert np.isneginf(scores[0, 2:]).all()


def test_save_and_load_give_identical_answers(rec, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    rec.save(path)
    again = load_recommender(path)
    assert type(again) is type(rec) and again.settings == rec.settings
    for ask in (
        lambda r: r.recommend(np.arange(N_USERS), n=7),
        lambda r: r.recommend(np.arange(5), n=4, items=np.arange(20), exclude=[3]),
        lambda r: r.similar_items(np.arange(N_ITEMS), n=4),
        lambda r: r.recommend_new([0, 2, 4], [300.0, 250.0, 200.0], n=5),
    ):
        for got, want in zip(ask(again), ask(rec), strict=True):
            np.testing.assert_array_equal(got, want)


def test_fold_in_of_a_training_listener_is_close_to_its_own_row(rec) -> None:
    users, items, plays, _ = planted()
    trained = rec.fitted.user_factors.weight.detach().cpu()
    cosines, overlaps = [], []
    for u in range(0, N_USERS, 5):
        mine = users == u
        vector, _ = rec.recalculate_user(items[mine], plays[mine])
        cosines.append(float(torch.nn.functional.cosine_similarity(vector, trained[u], dim=0)))
        folded, _ = rec.recommend_new(items[mine], plays[mine], n=10)
        own, _ = rec.recommend([u], n=10)
        overlaps.append(len(set(folded) & set(own[0])) / 10)
    assert np.mean(cosines) >= 0.9, cosines
    assert np.mean(overlaps) >= 0.7, overlaps


def test_settings_and_id_maps_are_on_the_object(objective) -> None:
    rec = fit(objective, "cpu")
    assert rec.settings["objective"] == objective == rec.objective
    assert rec.id_maps is None
    rec.set_model(rec.fitted, rec.user_items, id_maps="abc")
    assert rec.id_maps == "abc" and rec.with_budget(1.0).memory_budget_mb == 1.0


def test_bad_requests_are_clear_errors(rec) -> None:
    with pytest.raises(IndexError, match=r"users must be row indices in \[0, 60\)"):
        rec.recommend([N_USERS])
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        rec.recommend([0], n=0)
    with pytest.raises(ValueError, match="not fitted"):
        ImplicitRecommender().recommend([0])
