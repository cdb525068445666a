"""``training.recommending``: the implicit model, recommendations, similar artists, ranking holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from music_recommender.pipelines.ranking_holdout import (
    BeyondAccuracyParams,
    RankingParams,
    RecommendParams,
    holdout_side,
    plan_holdout,
    split_holdout,
)
from music_recommender.pipelines.training import recommending
from music_recommender.pipelines.training.rating.nodes import train_model
from music_recommender.pipelines.training.recommending.cold_start import ColdStartParams
from music_recommender.pipelines.training.recommending.nodes import (
    RecommendingOptions,
    choose_ranker,
    fit_implicit_model,
    recommend_all,
    similar_artists,
)
from music_recommender.pmf.solver import ImplicitConfig
from music_recommender.retrieval import IndexParams

IMPLICIT = ImplicitConfig(n_factors=4, alpha=10.0, reg=5.0, bias_reg=5.0, iterations=3, seed=0)
RECOMMEND = RecommendParams(objective="implicit", n=5, similar_n=3, memory_budget_mb=0.01)
RANKING = RankingParams(holdout_fraction=0.2, k=5, seed=0, max_users=None)
RECIPE = {
    "n_factors": 4,
    "optimizer": "adam",
    "batch_size": 256,
    "schedule": [[0.05, 2]],
    "seed": 1,
}


@pytest.fixture(scope="module")
def implicit_model(model_input):
    return fit_implicit_model(
        model_input["interactions"], model_input["id_index"], IMPLICIT.to_dict()
    )


@pytest.fixture(scope="module")
def rating_model(model_input):
    return train_model(
        model_input["train"],
        model_input["validation"],
        model_input["id_index"],
        model_input["rating_scaler"],
        RECIPE,
    )[0]


def test_implicit_model_covers_every_user_and_artist_and_keeps_its_settings(
    implicit_model, model_input
) -> None:
    assert implicit_model.n_users == model_input["user_map"].shape[0]
    assert implicit_model.n_items == model_input["artist_map"].shape[0]
    assert implicit_model.fitted.n_factors == 4 and implicit_model.fitted.biases
    assert ImplicitConfig.of(implicit_model.fitted) == IMPLICIT == implicit_model.config
    assert implicit_model.id_maps == model_input["id_index"]["fingerprint"]


def test_recommendations_exclude_played_artists_and_carry_names(
    rating_model, implicit_model, model_input
) -> None:
    # A budget of 0.01 MB scores a few listeners per batch: the batching is exercised.
    ranker = choose_ranker(rating_model, implicit_model, RECOMMEND)
    assert ranker is implicit_model
    args = (model_input["interactions"], model_input["user_map"], model_input["artist_map"])
    recs = recommend_all(ranker, *args, RECOMMEND)
    assert list(recs.columns) == ["user_id", "rank", "artist_id", "artist_name", "score"]
    assert len(recs) == 5 * len(model_input["user_map"])
    played = set(
        zip(
            model_input["interactions"]["user_id"],
            model_input["interactions"]["artist_id"],
            strict=True,
        )
    )
    assert not any(pair in played for pair in zip(recs["user_id"], recs["artist_id"], strict=True))
    names = model_input["artist_map"].set_index("artist_id")["artist_name"]
    assert recs["artist_name"].tolist() == names.loc[recs["artist_id"]].tolist()
    first = recs[recs["user_id"] == recs["user_id"].iloc[0]]
    assert first["rank"].tolist() == [1, 2, 3, 4, 5] and first["score"].is_monotonic_decreasing
    rating = RecommendParams("rating", 5, 3, 0.01)
    other = recommend_all(choose_ranker(rating_model, implicit_model, rating), *args, rating)
    assert not other["artist_id"].equals(recs["artist_id"])
    with pytest.raises(
        ValueError,
        match=r"training\.recommending\.recommend\.objective must be one of implicit, rating",
    ):
        RecommendParams("bpr", 5, 3, 1.0)
    with pytest.raises(ValueError, match=r"'explicit' is now called 'rating'"):
        RecommendParams("explicit", 5, 3, 1.0)  # the old name: refused, not a silent alias


def test_similar_artists_by_cosine(implicit_model, model_input) -> None:
    table = similar_artists(implicit_model, model_input["artist_map"], RECOMMEND)
    assert list(table.columns) == [
        "artist_id",
        "artist_name",
        "artist_tags",
        "rank",
        "similar_artist_id",
        "similar_artist_name",
        "similar_artist_tags",
        "similarity",
    ]
    assert (table["artist_tags"] == "").all()  # no side files: no tags, the same lists
    assert len(table) == 3 * len(model_input["artist_map"])
    assert (table["artist_id"] != table["similar_artist_id"]).all()
    assert table["similarity"].between(-1.0001, 1.0001).all()
    one = table[table["artist_id"] == table["artist_id"].iloc[0]]
    assert one["similarity"].is_monotonic_decreasing


def _run_recommending(
    model_input,
    rating_model,
    interactions: pd.DataFrame,
    ranking: RankingParams = RANKING,
    index: IndexParams | None = None,
    side: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> dict:
    tag_input, friend_input = side or (
        pd.DataFrame(columns=["user_index", "artist_index", "tag_index"], dtype="int64"),
        pd.DataFrame(columns=["user_index", "friend_index"], dtype="int64"),
    )
    inputs = {
        "tag_only_input": pd.DataFrame(
            {"artist_id": [], "artist_name": [], "user_index": [], "tag_index": []}
        ),
        "params:recommending.cold_start": ColdStartParams(0.1, 5, 0),
        "tag_only_plays": pd.DataFrame({"user_index": [], "artist_id": []}),
        "tag_input": tag_input,
        "friend_input": friend_input,
        "tag_map": pd.DataFrame(
            {"tag_index": range(tag_input["tag_index"].max() + 1 if len(tag_input) else 0)}
        ).assign(tag=lambda f: "t" + f["tag_index"].astype(str)),
        "interactions": interactions,
        "id_index": model_input["id_index"],
        "rating_scaler": model_input["rating_scaler"],
        "recipe": RECIPE,
        "rating_model": rating_model,
        "user_map": model_input["user_map"],
        "artist_map": model_input["artist_map"],
        "params:recommending.implicit": IMPLICIT,
        "params:recommending.recommend": RECOMMEND,
        "params:recommending.ranking": ranking,
        "params:recommending.options": RecommendingOptions("fixed"),
        "params:recommending.beyond_accuracy": BeyondAccuracyParams(0.8, 4, [0.0, 0.1], 0),
        "recommending_best_params": {},
        "explicit_parameters": {},  # registered by hooks/overrides.py in a real run
        "params:recommending.index": index or IndexParams(),
    }
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    # The runner hands back the outputs no node consumes: ranking, recommendations, neighbours,
    # and the shipped model, passed on once more (choose_ranker reads it, so it is not free).
    shipped = Pipeline([Node(lambda model: model, "implicit_model", "shipped_model")])
    free = SequentialRunner().run(recommending.create_pipeline() + shipped, catalog)
    out = {name: dataset.load() for name, dataset in free.items()}
    return out | {"implicit_model": out.pop("shipped_model")}


def test_ranking_holdout_reports_every_model(model_input, rating_model) -> None:
    out = _run_recommending(model_input, rating_model, model_input["interactions"])
    ranking = out["ranking_metrics"]
    assert set(ranking["models"]) == {"implicit", "rating", "popularity"}
    for metrics in ranking["models"].values():
        assert {"precision@5", "recall@5", "ndcg@5", "map@5", "coverage"} <= set(metrics)
        assert {"arp", "aplt", "novelty", "gini", "entropy", "ild"} <= set(metrics)
    assert set(ranking["groups"]) == {"mainstreaminess", "activity"}
    assert set(ranking["groups"]["mainstreaminess"]) == {"low", "mid", "high"}
    assert set(ranking["tradeoff"]) == {"lambda_0", "lambda_0.1"}
    assert ranking["protocol"]["k"] == 5 and ranking["protocol"]["held_out_pairs"] > 0
    assert ranking["protocol"]["artists"] == model_input["id_index"]["n_items"]


def test_an_artist_seen_only_in_the_held_out_rows_still_has_a_row(
    model_input, rating_model
) -> None:
    # Once a model was sized by max() + 1 of the holdout's visible pairs: an IndexError when the
    # highest artist index was held out. Tables are sized by id_index, whatever a subset holds.
    interactions = model_input["interactions"]
    last = model_input["id_index"]["n_items"] - 1
    listener = int(interactions["user_index"].iloc[0])
    mine = interactions[interactions["user_index"] == listener]
    others = interactions[
        (interactions["user_index"] != listener) & (interactions["artist_index"] != last)
    ]
    moved = mine.assign(
        artist_index=np.where(np.arange(len(mine)) == 0, last, mine["artist_index"])
    )
    data = pd.concat([others, moved.drop_duplicates(["user_index", "artist_index"])])
    data = data.sort_values(["user_index", "artist_index"], ignore_index=True)
    for seed in range(50):
        seen, held_out = split_holdout(data, RankingParams(0.2, 5, seed, None))
        if last in set(held_out["artist_index"]) and last not in set(seen["artist_index"]):
            break
    else:
        pytest.fail("no seed holds the last artist out")
    out = _run_recommending(model_input, rating_model, data, RankingParams(0.2, 5, seed, None))
    assert out["ranking_metrics"]["protocol"]["held_out_pairs"] == len(held_out)
    assert out["ranking_metrics"]["protocol"]["artists"] == last + 1


def test_ranking_on_a_sample_of_listeners(model_input, rating_model) -> None:
    sample = RankingParams(holdout_fraction=0.2, k=5, seed=0, max_users=20)
    out = _run_recommending(model_input, rating_model, model_input["interactions"], sample)
    protocol = out["ranking_metrics"]["protocol"]
    assert protocol["sampled_users"] == 20 and protocol["users"] <= 20


def test_a_big_catalogue_goes_through_the_index_with_the_same_lists(
    model_input, rating_model
) -> None:
    pytest.importorskip("faiss")
    interactions = model_input["interactions"]
    exact = _run_recommending(model_input, rating_model, interactions)
    through = _run_recommending(
        model_input, rating_model, interactions, index=IndexParams(min_artists=1)
    )
    for name in ("recommendations", "similar_artists"):
        key = "user_id" if name == "recommendations" else "artist_id"
        column = "artist_id" if name == "recommendations" else "similar_artist_id"
        a = exact[name].groupby(key)[column].apply(set)
        b = through[name].groupby(key)[column].apply(set)
        overlap = np.mean([len(a[k] & b[k]) / len(a[k]) for k in a.index])
        assert overlap >= 0.98, (name, overlap)
    # Each run that indexes reports the recall it measured against exact scoring.
    assert exact["index_quality"] == {"indexed": False}
    quality = through["index_quality"]
    assert (
        quality["indexed"] and quality["recall@5"] >= 0.98 and quality["similar_recall@5"] >= 0.98
    )
    assert quality["listeners_checked"] == model_input["id_index"]["n_users"]


def _pairs(frame: pd.DataFrame) -> set:
    return set(zip(frame["user_index"], frame["artist_index"], strict=True))


def test_each_protocol_keeps_the_ranked_listeners_held_out_pairs_out_of_the_fit(
    model_input,
) -> None:
    interactions, index = model_input["interactions"], model_input["id_index"]
    everyone = _pairs(interactions)
    plans = {}
    for protocol in ("refit", "shipped", "fold_in"):
        ranking = RankingParams(0.2, 5, 0, max_users=20, protocol=protocol)
        fit, seen, held_out, plan = plan_holdout(interactions, index, ranking)
        assert plan["protocol"] == protocol and plan["shipped_fit_pairs"] == len(fit)
        ranked = set(ranking.sample_users(index["n_users"]))
        mine = {p for p in _pairs(held_out) if p[0] in ranked}
        plans[protocol] = mine
        assert _pairs(seen) | _pairs(held_out) <= everyone and not _pairs(seen) & _pairs(held_out)
        if protocol == "refit":  # the second fit sees seen; the shipped fit sees everything
            assert _pairs(fit) == everyone
        else:
            assert not _pairs(fit) & mine and _pairs(held_out) == mine
        if protocol == "fold_in":  # strong generalisation: no pair of a ranked listener
            assert not set(fit["user_index"]) & ranked
    assert plans["refit"] == plans["shipped"] == plans["fold_in"]  # paired: the same held-out pairs


def test_auto_measures_the_shipped_model_only_when_it_keeps_few_pairs_out(model_input) -> None:
    interactions, index = model_input["interactions"], model_input["id_index"]
    every = plan_holdout(interactions, index, RankingParams(0.2, 5, 0, None))[3]
    assert every["protocol"] == "refit" and every["held_out_share"] > 0.05
    few = plan_holdout(interactions, index, RankingParams(0.2, 5, 0, 3))[3]
    assert few["protocol"] == "shipped" and few["held_out_share"] <= 0.05
    with pytest.raises(ValueError, match=r"protocol fold_in .* needs max_users below"):
        plan_holdout(interactions, index, RankingParams(0.2, 5, 0, None, protocol="fold_in"))
    with pytest.raises(ValueError, match=r"ranking\.protocol must be one of auto, shipped"):
        RankingParams(0.2, 5, 0, None, protocol="once")


@pytest.mark.parametrize("protocol", ["shipped", "fold_in"])
def test_the_shipped_model_is_the_measured_one_with_every_pair_added_back(
    model_input, rating_model, protocol
) -> None:
    interactions = model_input["interactions"]
    ranking = RankingParams(0.2, 5, 0, max_users=20, protocol=protocol)
    out = _run_recommending(model_input, rating_model, interactions, ranking)
    metrics = out["ranking_metrics"]
    assert metrics["protocol"]["protocol"] == protocol and metrics["protocol"]["asked"] == protocol
    assert metrics["models"]["implicit"]["users"] <= 20
    shipped = out["implicit_model"]
    # Every played pair, the held-out ones included, is in the shipped model and filtered out.
    assert shipped.user_items.nnz == len(interactions)
    recs = out["recommendations"]
    played = set(zip(interactions["user_id"], interactions["artist_id"], strict=True))
    assert not any(p in played for p in zip(recs["user_id"], recs["artist_id"], strict=True))
    # The ranked listeners' rows were solved again on their whole histories.
    _, _, held_out, _ = plan_holdout(interactions, model_input["id_index"], ranking)
    u = int(held_out["user_index"].iloc[0])
    mine = interactions[interactions["user_index"] == u]
    vector, _ = shipped.recalculate_user(mine["artist_index"], mine["weight"])
    torch.testing.assert_close(shipped.fitted.user_factors.weight[u], vector, atol=1e-4, rtol=1e-3)


def test_the_rating_comparison_can_be_left_out(model_input, rating_model) -> None:
    ranking = RankingParams(0.2, 5, 0, max_users=20, compare_rating=False)
    out = _run_recommending(model_input, rating_model, model_input["interactions"], ranking)
    assert set(out["ranking_metrics"]["models"]) == {"implicit", "popularity"}
    groups = out["ranking_metrics"]["groups"]["activity"]["low"]
    assert "rating" not in groups and "implicit" in groups


def _leaky_tags(interactions: pd.DataFrame) -> pd.DataFrame:
    """A tag on every played pair, each listener's own: a tag row that marks their artists."""
    return pd.DataFrame(
        {
            "user_index": interactions["user_index"].to_numpy(),
            "artist_index": interactions["artist_index"].to_numpy(),
            "tag_index": interactions["user_index"].to_numpy(),
        }
    )


@pytest.mark.parametrize("protocol", ["refit", "shipped"])
def test_no_fit_the_ranking_measures_sees_a_held_out_pairs_tags(model_input, protocol) -> None:
    interactions = model_input["interactions"]
    ranking = RankingParams(0.2, 5, 0, max_users=None, protocol=protocol)
    _, seen, held_out, plan = plan_holdout(interactions, model_input["id_index"], ranking)
    friends = pd.DataFrame({"user_index": [0, 1], "friend_index": [1, 0]})
    fit_side, seen_side = holdout_side(_leaky_tags(interactions), friends, held_out, plan)
    held = _pairs(held_out)
    measured = set(zip(seen_side.tag_users, seen_side.tag_items, strict=True))
    assert measured == _pairs(seen) and not measured & held
    shipped = set(zip(fit_side.tag_users, fit_side.tag_items, strict=True))
    # refit: the shipped fit is not measured and sees every pair; shipped: it is the measured one.
    assert bool(shipped & held) == (protocol == "refit")
    assert seen_side.has_friends and fit_side.has_friends


def test_a_run_with_side_information_fits_it_and_records_it(model_input, rating_model) -> None:
    interactions = model_input["interactions"]
    tags = _leaky_tags(interactions)
    friends = pd.DataFrame({"user_index": [0, 1, 2, 3], "friend_index": [1, 0, 3, 2]})
    out = _run_recommending(model_input, rating_model, interactions, RANKING, side=(tags, friends))
    side = out["implicit_model"].fitted.trained_with["side"]
    assert side["tag_assignments"] == len(tags) and side["friend_rows"] == 4
    cold = out["cold_start_metrics"]
    assert cold["checked"] and cold["tags_left_on_held_out"] == 0  # the tags were all leaks
    assert out["tag_only_artists"].empty and out["tag_only_recommendations"].empty  # none here
    assert out["ranking_metrics"]["models"]["implicit"]["ndcg@5"] > 0


def test_similar_artists_carry_each_artists_top_tags(implicit_model, model_input) -> None:
    artist_map = model_input["artist_map"]
    tag_input = pd.DataFrame(  # artist 0: rock twice, jazz once; artist 1: jazz
        {"user_index": [0, 1, 2, 0], "artist_index": [0, 0, 0, 1], "tag_index": [1, 1, 0, 0]}
    )
    tag_map = pd.DataFrame({"tag_index": [0, 1], "tag": ["jazz", "rock"]})
    table = similar_artists(implicit_model, artist_map, RECOMMEND, None, tag_input, tag_map)
    ids = artist_map.set_index("artist_index")["artist_id"]
    tags = dict(zip(table["artist_id"], table["artist_tags"], strict=True))
    assert tags[ids[0]] == "rock, jazz" and tags[ids[1]] == "jazz" and tags[ids[2]] == ""
    listed = dict(zip(table["similar_artist_id"], table["similar_artist_tags"], strict=True))
    assert all(listed[a] == tags[a] for a in listed)
