"""tuning.recommending: the Optuna search on a validation split, its budget, its choice."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import optuna
import pandas as pd
import pytest

from music_recommender.datasets import OptunaStudyDataset
from music_recommender.pipelines.ranking_holdout import RankingParams, RecommendParams
from music_recommender.pipelines.training.recommending.nodes import (
    RecommendingOptions,
    resolve_implicit,
)
from music_recommender.pipelines.tuning.recommending.nodes import (
    SearchParams,
    search_recommender,
    validation_task,
)
from music_recommender.pmf.ranking import per_user_holdout
from music_recommender.pmf.solver import ImplicitConfig

RANKING = RankingParams(holdout_fraction=0.2, k=10, seed=0, max_users=None)
RECOMMEND = RecommendParams("implicit", 10, 10, 64.0)
# Deliberately bad: biases free to learn popularity alone, a crushing L2 on the factors.
BAD = ImplicitConfig(
    n_factors=8, alpha=2.0, reg=400.0, frequency_reg=0.01, bias_reg=1.0, iterations=6
)
SPACE = {
    "alpha": [2.0, 100.0],
    "reg": [1.0, 400.0],
    "frequency_reg": [0.01, 3.0],
    "bias_reg": [1.0, 10000.0],
    "n_factors": [8],
    "plays_scale": ["user_median", "raw"],
}


def _search(**changes: object) -> SearchParams:
    base = dict(
        n_trials=12, timeout_s=None, seed=0, k=10, coverage_floor=0.0, validation_fraction=0.2,
        validation_seed=1, max_users=None, eval_users=None, report_every=1, startup_trials=4,
        warmup_sweeps=2, resume=False, space=SPACE,
    )  # fmt: skip
    return SearchParams(**{**base, **changes})


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    """Four taste groups of equally popular artists: only factors can tell a listener's group."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(200):
        own = np.arange(user % 4, 100, 4)
        other = np.setdiff1d(np.arange(100), own)
        rows += [(user, a, rng.integers(20, 500)) for a in rng.choice(own, 12, replace=False)]
        rows += [(user, a, rng.integers(1, 20)) for a in rng.choice(other, 3, replace=False)]
    return pd.DataFrame(rows, columns=["user_index", "artist_index", "weight"])


@pytest.fixture(scope="module")
def task(planted):
    return validation_task(planted, RANKING, _search())


def test_the_search_never_sees_the_ranking_holdouts_held_out_pairs(planted, task) -> None:
    interactions = planted
    held = ~per_user_holdout(interactions["user_index"].to_numpy(), 0.2, 0).train
    hidden = set(
        zip(interactions["user_index"][held], interactions["artist_index"][held], strict=True)
    )
    seen = set(zip(task.users, task.items, strict=True)) | set(zip(*task.held_out[:2], strict=True))
    assert seen and not (seen & hidden)
    assert len(seen) == len(interactions) - len(hidden)


def test_the_search_beats_a_deliberately_bad_conf_point(task) -> None:
    _, choice, trials = search_recommender(task, BAD, _search(), RECOMMEND, None)
    val = choice["validation"]
    assert trials.loc[0, "origin"] == "conf"  # the conf values are the first trial
    assert val["ndcg@10"] > 2 * val["conf_ndcg@10"] > 0  # measured: 0.254 against 0.054
    assert choice["settings"] != {name: getattr(BAD, name) for name in SPACE}
    # training fits what the search chose, every other setting from conf
    chosen = resolve_implicit(BAD, choice, RecommendingOptions("tuned"))
    assert chosen == replace(BAD, **choice["settings"]).to_dict()
    again = search_recommender(task, BAD, _search(), RECOMMEND, None)[1]
    assert again["settings"] == choice["settings"]  # seeded: the same search, the same choice


def test_a_setting_given_for_the_run_beats_the_searched_one() -> None:
    choice = {"settings": {"alpha": 99.0, "reg": 7.0}}
    given = {"training.recommending.implicit.alpha": BAD.alpha}
    chosen = resolve_implicit(BAD, choice, RecommendingOptions("tuned"), given)
    assert chosen["alpha"] == BAD.alpha and chosen["reg"] == 7.0


def test_fixed_skips_the_search_and_tuned_without_one_says_what_to_run() -> None:
    choice = {"settings": {"alpha": 99.0}}
    assert resolve_implicit(BAD, choice, RecommendingOptions("fixed")) == BAD.to_dict()
    with pytest.raises(ValueError, match="run the tuning pipeline first"):
        resolve_implicit(BAD, {}, RecommendingOptions("tuned"))


def test_the_search_stops_at_its_timeout(task) -> None:
    budget = 1.5
    start = time.monotonic()
    study, choice, _ = search_recommender(
        task, BAD, _search(n_trials=10_000, timeout_s=budget), RECOMMEND, None
    )
    elapsed = time.monotonic() - start
    one_trial = min(t.duration.total_seconds() for t in study.trials if t.duration)
    assert elapsed < budget + 2 * one_trial + 1.0, (elapsed, one_trial)
    assert choice["trials"]["complete"] >= 1 and len(study.trials) < 10_000


def test_a_trial_below_the_coverage_floor_is_never_chosen(task) -> None:
    floor = 0.95  # some settings' lists cover every artist here, some do not
    _, choice, trials = search_recommender(
        task, BAD, _search(coverage_floor=floor), RECOMMEND, None
    )
    complete = trials[trials["state"] == "COMPLETE"]
    assert (complete["coverage"] < floor).any() and choice["validation"]["coverage"] >= floor
    assert (
        choice["validation"]["ndcg@10"]
        == complete.loc[complete["coverage"] >= floor, "value"].max()
    )


def test_the_study_file_round_trips_and_a_search_resumes_it(task, tmp_path) -> None:
    path = tmp_path / "study.db"
    dataset = OptunaStudyDataset(filepath=str(path), study_name="recommending")
    study, _, _ = search_recommender(task, BAD, _search(n_trials=3), RECOMMEND, None)
    dataset.save(study)
    dataset.save(study)  # saving again replaces the file whole
    loaded = dataset.load()
    assert [t.value for t in loaded.trials] == [t.value for t in study.trials]
    assert not list(tmp_path.glob("*.partial-*"))
    assert (
        OptunaStudyDataset(
            filepath=str(tmp_path / "none.db"), study_name="x", missing_ok=True
        ).load()
        is None
    )
    resumed, _, _ = search_recommender(
        task, BAD, _search(n_trials=2, resume=True), RECOMMEND, loaded
    )
    assert len(resumed.trials) == 5  # the 3 earlier (the conf values among them) + 2 new


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"space": {"alpha": [0.0, 1.0]}}, r"space\.alpha must be \[low, high\] with 0 < low"),
        ({"space": {"alfa": [1.0, 2.0]}}, r"unknown setting\(s\) \['alfa'\]"),
        ({"space": {"plays_scale": ["log"]}}, r"space\.plays_scale must list some of"),
        ({"coverage_floor": 1.5}, r"coverage_floor must be in \[0, 1\]"),
        ({"timeout_s": 0}, r"timeout_s must be null or > 0"),
    ],
)
def test_bad_search_parameters_name_the_key(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        _search(**changes)


def test_sampled_listeners_are_renumbered_and_keep_every_artist(planted) -> None:
    task = validation_task(planted, RANKING, _search(max_users=30))
    assert task.n_users == 30 and task.users.max() < 30
    assert task.n_items == planted["artist_index"].max() + 1
    assert np.isin(np.unique(task.held_out[0]), np.arange(30)).all()
    assert optuna.__version__.startswith("5.")


def _own_tags(interactions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each listener tags every artist they play with a tag of their own (a leak, if kept)."""
    tags = pd.DataFrame(
        {
            "user_index": interactions["user_index"].to_numpy(),
            "artist_index": interactions["artist_index"].to_numpy(),
            "tag_index": interactions["user_index"].to_numpy(),
        }
    )
    return tags, pd.DataFrame({"user_index": [0, 1, 5], "friend_index": [1, 0, 6]})


def test_the_search_sees_no_tag_of_either_holdouts_pairs(planted) -> None:
    tags, friends = _own_tags(planted)
    task = validation_task(planted, RANKING, _search(max_users=150), tags, friends)
    listeners = np.unique(planted["user_index"])
    sampled = task.side.tag_users >= 0
    # the training pairs (renumbered to the sample) and nothing else keep a listener's tag
    assert set(zip(task.side.tag_users[sampled], task.side.tag_items[sampled], strict=True)) == set(
        zip(task.users, task.items, strict=True)
    )
    assert (~sampled).any() and len(listeners) == 200  # unsampled listeners' tags stay, as -1
    held = ~per_user_holdout(planted["user_index"].to_numpy(), 0.2, 0).train
    assert len(task.side.tag_items) == (~held).sum() - len(task.held_out[0])


def test_the_side_weights_are_searched_only_where_the_data_has_them(planted) -> None:
    space = SPACE | {
        "tag_weight": [0.3, 30.0],
        "tag_alpha": [0.1, 10.0],
        "tag_prior": [1.0, 50.0],
        "friend_weight": [1.0, 9.0],
    }
    tags, friends = _own_tags(planted)
    search = _search(space=space, n_trials=3)
    config = replace(BAD, tag_weight=1.0, friend_weight=3.0)
    without = search_recommender(
        validation_task(planted, RANKING, search), config, search, RECOMMEND, None
    )
    assert not {"tag_weight", "tag_alpha", "tag_prior", "friend_weight"} & set(
        without[1]["settings"]
    )
    friendless = friends.iloc[:0]
    task = validation_task(planted, RANKING, search, tags, friendless)
    with_tags = search_recommender(task, config, search, RECOMMEND, None)[1]["settings"]
    assert {"tag_weight", "tag_alpha", "tag_prior"} <= set(with_tags)
    assert "friend_weight" not in with_tags
