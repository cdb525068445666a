"""Tune the model that recommends: a seeded Optuna search over the implicit recommender's settings.

Each trial fits ``ImplicitRecommender`` on a validation split's visible pairs and scores NDCG@k on
its held-out pairs (every unplayed artist ranked), reporting after each sweep to Optuna's pruner.
A trial whose top-k lists cover less of the catalogue than ``coverage_floor`` is infeasible
(Optuna's trial constraint, which TPE weighs), so a narrow popularity chart never wins on NDCG alone. The conf
values are the first trial: the chosen setting is never worse than them on validation.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import optuna
import pandas as pd

from music_recommender.pipelines.ranking_holdout import (
    PAIRS,
    RankingParams,
    RecommendParams,
    side_information,
)
from music_recommender.pmf.checks import check_field_types
from music_recommender.pmf.ranking import HoldoutTask, per_user_holdout
from music_recommender.pmf.recommender import ImplicitRecommender
from music_recommender.pmf.solver import PLAYS_SCALES, ImplicitConfig

logger = logging.getLogger(__name__)
KEY = "tuning.recommending.search"
LOG_RANGES = (
    "alpha", "reg", "frequency_reg", "bias_reg", "tag_weight", "tag_alpha", "friend_weight",
    "tag_prior",
)  # searched log-uniformly  # fmt: skip
# Searched only when the data has what they weigh (the side files may be absent).
NEEDS = {"tag_weight": "tags", "tag_alpha": "tags", "tag_prior": "tags", "friend_weight": "friends"}
CHOICES = ("n_factors", "plays_scale")  # searched among the listed values
SETTINGS = LOG_RANGES + CHOICES


@dataclass(frozen=True)
class SearchParams:
    """The search (``tuning.recommending.search``): budget, validation split, space, pruning."""

    n_trials: int
    timeout_s: float | None  # null: no limit; a running trial stops at its next report
    seed: int
    k: int
    coverage_floor: float  # a trial's top-k lists must cover this share of artists
    validation_fraction: float  # of each listener's visible artists, held out to score trials
    validation_seed: int
    # Trials fit on a seeded sample of this many listeners (null: all); training refits the
    # chosen setting on everyone.
    max_users: int | None
    eval_users: int | None  # listeners ranked at each report (null: all of the sample)
    report_every: int  # sweeps between reports to the pruner (the last sweep always reports)
    startup_trials: int  # complete trials before TPE models the space and the pruner prunes
    warmup_sweeps: int  # a trial is never pruned before this sweep
    resume: bool  # add the previous run's trials to this study first (a continued search)
    space: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_field_types(self, KEY)
        for name in ("n_trials", "k", "report_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{KEY}.{name} must be >= 1; got {getattr(self, name)!r}")
        for name in ("startup_trials", "warmup_sweeps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{KEY}.{name} must be >= 0; got {getattr(self, name)!r}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ValueError(f"{KEY}.timeout_s must be null or > 0; got {self.timeout_s!r}")
        if not 0 <= self.coverage_floor <= 1:
            raise ValueError(f"{KEY}.coverage_floor must be in [0, 1]; got {self.coverage_floor!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"{KEY}.validation_fraction must be in (0, 1); got {self.validation_fraction!r}"
            )
        for name in ("max_users", "eval_users"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{KEY}.{name} must be null or >= 1; got {value!r}")
        _check_space(self.space)


def _check_space(space: dict[str, list[Any]]) -> None:
    where = f"{KEY}.space"
    unknown = set(space) - set(SETTINGS)
    if unknown:
        raise ValueError(
            f"{where} has unknown setting(s) {sorted(unknown)}; known: {list(SETTINGS)}"
        )
    for name in LOG_RANGES:
        bounds = space.get(name)
        if bounds is None:
            continue
        ok = isinstance(bounds, list | tuple) and len(bounds) == 2
        if (
            not ok
            or not all(isinstance(b, int | float) and b > 0 for b in bounds)
            or bounds[0] > bounds[1]
        ):
            raise ValueError(
                f"{where}.{name} must be [low, high] with 0 < low <= high; got {bounds!r}"
            )
    factors = space.get("n_factors", [])
    if any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in factors):
        raise ValueError(f"{where}.n_factors must be a list of integers >= 1; got {factors!r}")
    scales = space.get("plays_scale", [])
    if any(s not in PLAYS_SCALES for s in scales):
        raise ValueError(
            f"{where}.plays_scale must list some of {', '.join(PLAYS_SCALES)}; got {scales!r}"
        )


def validation_task(
    interactions: pd.DataFrame,
    ranking: RankingParams,
    search: SearchParams,
    tag_input: pd.DataFrame | None = None,
    friend_input: pd.DataFrame | None = None,
) -> HoldoutTask:
    """The pairs a search may use: the ranking holdout's visible part, cut again for validation.

    The same per-listener split as ``training.recommending``'s holdout first (its held-out pairs
    are never seen here), then, on a seeded sample of ``max_users`` listeners (renumbered, every
    artist kept), ``validation_fraction`` of each listener's remaining artists held out. The
    side information loses the tags of both holdouts' pairs.
    """
    users = interactions["user_index"].to_numpy()
    visible = per_user_holdout(users, ranking.holdout_fraction, ranking.seed).train
    pairs = interactions.loc[visible, PAIRS]
    side = None
    if tag_input is not None and friend_input is not None:
        held = interactions.loc[~visible]
        side = side_information(tag_input, friend_input).holding_out(
            held["user_index"].to_numpy(), held["artist_index"].to_numpy()
        )
    listeners = np.unique(pairs["user_index"].to_numpy())
    if search.max_users is not None and search.max_users < len(listeners):
        rng = np.random.default_rng(search.validation_seed)
        listeners = np.sort(rng.choice(listeners, search.max_users, replace=False))
        pairs = pairs[np.isin(pairs["user_index"].to_numpy(), listeners)]
    rows = np.searchsorted(listeners, pairs["user_index"].to_numpy())
    n_items = int(interactions["artist_index"].max()) + 1
    logger.info(
        "Search on %s listeners, %s pairs (%.0f%% of each listener's held out to score trials)",
        f"{len(listeners):,}",
        f"{len(pairs):,}",
        100 * search.validation_fraction,
    )
    return HoldoutTask.split(
        rows,
        pairs["artist_index"].to_numpy(),
        pairs["weight"].to_numpy(),
        search.validation_fraction,
        search.validation_seed,
        len(listeners),
        n_items,
        side=None if side is None else side.for_listeners(listeners),
    )


def _usable(space: dict[str, list[Any]], task: HoldoutTask) -> dict[str, list[Any]]:
    """The space without the weights of side information the data does not have."""
    side = task.side
    has = {
        "tags": side is not None and side.has_tags,
        "friends": side is not None and side.has_friends,
    }
    return {name: bounds for name, bounds in space.items() if has.get(NEEDS.get(name, ""), True)}


def _within(conf: dict[str, Any], space: dict[str, list[Any]]) -> dict[str, Any]:
    """Conf's values for the first trial, a ranged one outside its range at the nearer end (a
    weight of 0, off, cannot be searched log-uniformly: its range's low end stands for it)."""
    return {
        name: min(max(value, space[name][0]), space[name][1]) if name in LOG_RANGES else value
        for name, value in conf.items()
    }


class _Trials:
    """The objective: fit a suggested setting, report NDCG@k per sweep, stop on prune or time."""

    def __init__(
        self, task: HoldoutTask, base: ImplicitConfig, search: SearchParams, budget_mb: float
    ) -> None:
        self.task, self.base, self.search, self.budget_mb = task, base, search, budget_mb
        self.space = _with_conf(_usable(search.space, task), base)
        self.deadline = (
            math.inf if search.timeout_s is None else time.monotonic() + search.timeout_s
        )
        self.eval_users = None
        if search.eval_users is not None and search.eval_users < task.n_users:
            rng = np.random.default_rng(search.validation_seed + 1)
            self.eval_users = np.sort(rng.choice(task.n_users, search.eval_users, replace=False))

    def settings(self, trial: optuna.Trial) -> dict[str, Any]:
        space, chosen = self.space, {}
        for name in LOG_RANGES:
            if name in space:
                chosen[name] = trial.suggest_float(name, *map(float, space[name]), log=True)
        for name in CHOICES:
            if name in space:
                chosen[name] = trial.suggest_categorical(name, list(space[name]))
        return chosen

    def __call__(self, trial: optuna.Trial) -> float:
        config = replace(self.base, **self.settings(trial))
        k, last = self.search.k, config.iterations
        scores: dict[str, float] = {}

        def after_sweep(sweep: int, rec: ImplicitRecommender) -> None:
            if sweep % self.search.report_every and sweep != last:
                return
            metrics = self.task.evaluate(rec.scorer(), k, self.budget_mb, self.eval_users)
            scores.update(ndcg=metrics[f"ndcg@{k}"], coverage=metrics["coverage"])
            trial.set_user_attr("coverage", scores["coverage"])
            trial.set_user_attr("sweeps", sweep)
            trial.report(scores["ndcg"], sweep)
            stop = sweep != last and self._stop(trial)
            if sweep == last or stop:  # <= 0: feasible (TPE weighs infeasible trials down)
                trial.set_constraint("coverage", self.search.coverage_floor - scores["coverage"])
            if stop:
                raise optuna.TrialPruned()

        task = self.task
        rec = ImplicitRecommender(config, self.budget_mb).fit(
            task.users,
            task.items,
            task.plays,
            task.n_users,
            task.n_items,
            after_sweep=after_sweep,
            side=task.side,
        )
        if not scores:  # a fit across processes reports no sweeps: scored once, at the end
            after_sweep(last, rec)
        return scores["ndcg"]

    def _stop(self, trial: optuna.Trial) -> bool:
        """Prune a hopeless trial; past the deadline, stop this one and the study (once one is done)."""
        done = any(t.state == optuna.trial.TrialState.COMPLETE for t in trial.study.trials)
        if done and time.monotonic() > self.deadline:
            trial.set_user_attr("stopped", "timeout")
            trial.study.stop()
            return True
        return trial.should_prune()


def _with_conf(space: dict[str, list[Any]], conf: ImplicitConfig) -> dict[str, list[Any]]:
    """The space with conf's own choice among the choices, so the first trial is always valid."""
    out = dict(space)
    for name in CHOICES:
        if name in out and getattr(conf, name) not in out[name]:
            logger.info("%s %r (conf) added to the search's choices", name, getattr(conf, name))
            out[name] = [getattr(conf, name), *out[name]]
    return out


def search_recommender(
    task: HoldoutTask,
    implicit: ImplicitConfig,
    search: SearchParams,
    recommend: RecommendParams,
    previous: optuna.Study | None,
) -> tuple[optuna.Study, dict[str, Any], pd.DataFrame]:
    """Run the search; (the study, the chosen setting with its validation gain, every trial)."""
    optuna.logging.disable_default_handler()  # trials are logged through the run's own logging
    optuna.logging.enable_propagation()
    sampler = optuna.samplers.TPESampler(
        seed=search.seed, n_startup_trials=max(search.startup_trials, 1)
    )
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=search.startup_trials, n_warmup_steps=search.warmup_sweeps
    )
    study = optuna.create_study(
        study_name="recommending", direction="maximize", sampler=sampler, pruner=pruner
    )
    if search.resume and previous is not None:
        study.add_trials(previous.trials)
        logger.info("Search resumed with %d earlier trials", len(previous.trials))
    space = _usable(search.space, task)
    conf = _within({name: getattr(implicit, name) for name in SETTINGS if name in space}, space)
    study.enqueue_trial(conf, user_attrs={"origin": "conf"}, skip_if_exists=True)
    start = time.monotonic()
    study.optimize(
        _Trials(task, implicit, search, recommend.memory_budget_mb),
        n_trials=search.n_trials,
        timeout=search.timeout_s,
    )
    choice = _choice(study, search, conf, time.monotonic() - start)
    choice["protocol"] = {
        "k": search.k,
        "coverage_floor": search.coverage_floor,
        "listeners": task.n_users,
        "validation_pairs": len(task.held_out[0]),
        "n_trials": search.n_trials,
        "timeout_s": search.timeout_s,
    }
    return study, choice, _table(study)


def _choice(
    study: optuna.Study, search: SearchParams, conf: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """The best feasible complete trial (the best complete one when none is feasible)."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    feasible = [t for t in complete if t.user_attrs.get("coverage", 0.0) >= search.coverage_floor]
    if not feasible:
        logger.warning(
            "No trial covered %.0f%% of the artists (tuning.recommending.search.coverage_floor): "
            "keeping the best NDCG regardless",
            100 * search.coverage_floor,
        )
    best = max(feasible or complete, key=lambda t: t.value)
    default = next((t for t in complete if t.params == conf), None)
    k = search.k
    gain = None if default is None or not default.value else best.value / default.value - 1
    states = pd.Series([t.state.name.lower() for t in study.trials]).value_counts().to_dict()
    choice = {
        "settings": {name: best.params.get(name, conf.get(name)) for name in conf},
        "validation": {
            f"ndcg@{k}": best.value,
            "coverage": best.user_attrs.get("coverage"),
            f"conf_ndcg@{k}": None if default is None else default.value,
            "conf_coverage": None if default is None else default.user_attrs.get("coverage"),
            "gain_over_conf": gain,
        },
        "trials": {
            "total": len(study.trials),
            "best": best.number,
            "feasible": len(feasible),
            **states,
        },
        "seconds": seconds,
    }
    logger.info(
        "Search chose %s: validation NDCG@%d %.4f (conf values %s, gain %s) in %d trials, %.0f s",
        choice["settings"],
        k,
        best.value,
        "-" if default is None else f"{default.value:.4f}",
        "-" if gain is None else f"{gain:+.1%}",
        len(study.trials),
        seconds,
    )
    return choice


def _table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: its number, state, value, settings, coverage and duration."""
    frame = study.trials_dataframe(
        attrs=("number", "state", "value", "params", "user_attrs", "duration")
    )
    if "duration" in frame:
        frame["duration"] = frame["duration"].dt.total_seconds()
    return frame.rename(columns=lambda c: c.removeprefix("params_").removeprefix("user_attrs_"))
