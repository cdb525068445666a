"""Top-10 ranking on equal footing: this project's implicit PMF against tuned EASE^R, iALS and ALS.

    python benchmarks/ranking_quality.py [RAW_DIR] [--factors 64 128 256] [--holdout 0.3]
        [--seeds 0 1 2] [--trials 20] [--side tags,friends] [--env ENV] [--params "k=v,..."]

The data comes through the project's preprocessing pipeline in a KedroSession (RAW_DIR defaults
to the catalog's raw_data_dir). Protocol: per seed, a random share (--holdout, 20 %) of each
listener's artists is the test holdout; every artist the listener did not play in training is
ranked; top 10. Every model picks its settings on a validation holdout cut the same way from the
training part, then is refitted on all of it; the test holdout is never used for a choice. Each
keeps the validation-best setting among those whose validation top-10 lists cover at least 30 %
of the artists (the best overall when none does).

Every factor model gets the same number of factors (--factors, default 128; several = a sweep)
and the same search budget: a seeded Optuna TPE study of --trials settings (20) on validation,
its first trial each model's best point of the earlier 12-setting grids, a setting whose lists
cover less than 30 % of the artists infeasible, no pruning (the anchors report no sweeps). Every
model is offered the same confidences of a played pair: the raw log (1 + a log1p(plays)) and the
per-listener median (1 + a log1p(plays / median)), and binary where the model is defined on it:
- this project's PMF, implicit objective (biases, 10 sweeps, 3 CG steps): alpha, L2, the
  frequency-scaled L2 (`frequency_reg`), the bias L2, the confidence (the pipeline's space);
- iALS (Rendle et al. 2022: uniform weight alpha0 on unplayed pairs, L2 scaled by each row's
  frequency; 12 sweeps of 4 CG steps): alpha0, lambda, {binary, listener median};
- implicit's ALS (15 iterations): alpha, regularisation, {raw log, listener median};
- EASE^R: lambda, {binary, listener median};
plus the rating PMF (the `model` recipe), popularity and random. Every model's test lists are
also judged beyond accuracy (ARP, long-tail share, novelty, Gini, entropy, intra-list diversity:
``pmf/beyond_accuracy.py``), per third of listeners by mainstreaminess and by activity (ours, ALS
and the chart), and ours is tested against the best anchor over listeners (a paired bootstrap
95 % interval of the NDCG@10 difference and a Wilcoxon signed-rank p-value). Fit CPU seconds are those of
the final refit, tuning CPU seconds those of the whole search (one thread, `time.process_time`).
With ``--side tags,friends`` (or one of them) the side files join: this PMF also with each side
file alone and with all (their weights searched with the rest: ``tag_weight``, ``tag_alpha``,
``friend_weight``), and LightFM (WARP) with the artists' tags as item features, a hybrid anchor
given the same tags; every tag assignment of a held-out (listener, artist) pair, test or
validation, is removed before any fit. The anchors above stay interaction-only.
The last line is one JSON object of medians over seeds (the first factor size).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _anchors import fit_als, fit_ease, fit_ials, fit_lightfm, weights
from _common import add_compute_arguments, add_project_arguments, model_input, set_threads

from music_recommender.pipelines.ranking_holdout import side_information
from music_recommender.pipelines.training.recommending.evaluation import group_quality, judge
from music_recommender.pmf import (
    ImplicitConfig,
    ImplicitRecommender,
    RatingRecommender,
    Ratings,
    Recipe,
    SideInformation,
)
from music_recommender.pmf.beyond_accuracy import Catalogue
from music_recommender.pmf.ranking import HoldoutTask, per_user_metrics, popularity_scorer
from music_recommender.pmf.scaling import RatingScaler

K = 10
MIN_COVERAGE = 0.30
BUDGET_MB = 256.0
UM, RAW, BIN = "user_median", "raw", "binary"
# The search space of each model, as tuning.recommending searches ours: [low, high] log-uniform
# or a list of choices. Each model's first trial is its best setting of the earlier 12-point
# grids, so no model starts worse than it did there.
SPACES: dict[str, dict[str, Any]] = {
    "ours": {
        "alpha": [2.0, 100.0], "reg": [2.0, 400.0], "frequency_reg": [0.01, 3.0],
        "bias_reg": [1.0, 10000.0], "scale": [UM, RAW],
    },
    "ials": {"alpha0": [0.01, 1.0], "lam": [0.001, 0.3], "scale": [BIN, UM]},
    "als": {"alpha": [0.3, 100.0], "reg": [0.1, 1000.0], "scale": [RAW, UM]},
    "ease": {"lam": [10.0, 10000.0], "scale": [BIN, UM]},
}  # fmt: skip
FIRST = {
    "ours": {"alpha": 20.0, "reg": 40.0, "frequency_reg": 0.3, "bias_reg": 1000.0, "scale": UM},
    "ials": {"alpha0": 0.1, "lam": 0.03, "scale": UM},
    "als": {"alpha": 10.0, "reg": 100.0, "scale": RAW},
    "ease": {"lam": 200.0, "scale": UM},
}

Fitter = Callable[..., Callable[[np.ndarray], torch.Tensor]]
SIDE_SPACE = {"tags": {"tag_weight": [0.3, 30.0], "tag_alpha": [0.1, 10.0], "tag_prior": [0.3, 100.0]},
              "friends": {"friend_weight": [0.3, 100.0]}}  # fmt: skip
SIDE_FIRST = {"tags": {"tag_weight": 3.0, "tag_alpha": 1.0, "tag_prior": 30.0},
              "friends": {"friend_weight": 10.0}}  # fmt: skip


def ours(task: HoldoutTask, setting, factors, seed, parts: tuple[str, ...] = ()):
    """This project's PMF with the implicit objective (and the side information in ``parts``)."""
    side = {name: float(setting[name]) for part in parts for name in SIDE_SPACE[part]}
    config = ImplicitConfig(
        n_factors=factors,
        alpha=float(setting["alpha"]),
        reg=float(setting["reg"]),
        frequency_reg=float(setting["frequency_reg"]),
        bias_reg=float(setting["bias_reg"]),
        iterations=10,
        seed=seed,
        plays_scale=setting["scale"],
        tag_weight=side.get("tag_weight", 0.0),
        tag_alpha=side.get("tag_alpha", 1.0),
        friend_weight=side.get("friend_weight", 0.0),
        tag_prior=side.get("tag_prior", 0.0),
    )
    rec = ImplicitRecommender(config)
    return rec.fit(*_pairs(task), task.n_users, task.n_items, side=task.side).scorer()


def _pairs(task: HoldoutTask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return task.users, task.items, task.plays


def ials(task: HoldoutTask, setting, factors, seed):
    """iALS with frequency-scaled L2 (the listener-median confidence uses alpha 2)."""
    value = weights(task.users, task.plays, 2.0, setting["scale"])
    return fit_ials(
        task.users, task.items, value, task.n_users, task.n_items, factors=factors,
        lam=setting["lam"], alpha0=setting["alpha0"], sweeps=12, seed=seed,
    )  # fmt: skip


def als(task: HoldoutTask, setting, factors, seed):
    """implicit's ALS."""
    value = weights(task.users, task.plays, setting["alpha"], setting["scale"]) - 1.0
    return fit_als(
        task.users, task.items, value, task.n_users, task.n_items, factors=factors,
        reg=setting["reg"], sweeps=15, seed=seed,
    )  # fmt: skip


def ease(task: HoldoutTask, setting, factors, seed):
    """EASE^R (no factors)."""
    value = weights(task.users, task.plays, 1.0, setting["scale"])
    return fit_ease(task.users, task.items, value, task.n_users, task.n_items, setting["lam"])


def lightfm(task: HoldoutTask, setting, factors, seed):
    """LightFM, WARP, the artists' tags as item features (the hybrid anchor)."""
    tags = task.side.tag_pairs(task.n_items) if task.side is not None else None
    return fit_lightfm(
        task.users, task.items, weights(task.users, task.plays, 1.0, setting["scale"]),
        task.n_users, task.n_items, tags, factors=factors,
        learning_rate=float(setting["learning_rate"]), item_alpha=float(setting["item_alpha"]),
        user_alpha=float(setting["user_alpha"]), epochs=int(setting["epochs"]), seed=seed,
        threads=torch.get_num_threads(),
    )  # fmt: skip


MODELS: dict[str, Fitter] = {"ours": ours, "ials": ials, "als": als, "ease": ease}
LABELS = {
    "random": "random",
    "popularity": "most popular",
    "rating": "PMF, rating objective (the model recipe)",
    "ease": "EASE^R (tuned)",
    "als": "implicit's ALS (tuned)",
    "ials": "iALS, frequency-scaled L2 (tuned)",
    "ours": "PMF, implicit objective (tuned)",
}
ANCHORS = ("ease", "als", "ials")


def with_side(parts: list[str]) -> None:
    """Register ``--side``'s models: ours with each side file alone and together, LightFM."""
    SPACES["lightfm"] = {
        "learning_rate": [0.005, 0.2], "item_alpha": [1e-8, 1e-3], "user_alpha": [1e-8, 1e-3],
        "epochs": [10, 30, 60], "scale": [BIN, UM],
    }  # fmt: skip
    FIRST["lightfm"] = {
        "learning_rate": 0.05, "item_alpha": 1e-6, "user_alpha": 1e-6, "epochs": 30, "scale": BIN,
    }  # fmt: skip
    if "tags" in parts:
        BEYOND.append("tag_ild")
        MODELS["lightfm"] = lightfm
        LABELS["lightfm"] = "LightFM, WARP, tags as artist features (tuned)"
    variants = {f"ours+{p}": (p,) for p in parts} | (
        {"ours+side": tuple(parts)} if len(parts) > 1 else {}
    )
    for name, used in variants.items():
        MODELS[name] = functools.partial(ours, parts=used)
        SPACES[name] = SPACES["ours"] | {k: v for p in used for k, v in SIDE_SPACE[p].items()}
        FIRST[name] = FIRST["ours"] | {k: v for p in used for k, v in SIDE_FIRST[p].items()}
        LABELS[name] = f"PMF, implicit objective + {' + '.join(used)} (tuned)"


BEYOND = ["arp", "aplt", "novelty", "gini", "entropy", "ild"]  # + tag_ild with --side tags


def judged(test: HoldoutTask, scorer: Any, catalogue: Catalogue) -> dict[str, Any]:
    """Test metrics, accuracy and beyond, plus the lists and per-listener NDCG for the groups
    and the paired test."""
    ranked = test.rank(scorer, K, BUDGET_MB)
    metrics = judge(test, ranked, catalogue, K)
    per_user = per_user_metrics(ranked[1], test.relevant()[ranked[0]], K)
    return metrics | {"ranked": ranked, "per_user_ndcg": per_user[f"ndcg@{K}"]}


def paired(runs: list[dict[str, dict]], ours: str, anchor: str, seed: int = 0) -> dict[str, Any]:
    """Ours against the anchor over listeners (every seed's pooled): the mean NDCG@k difference,
    its 95 % paired-bootstrap interval and the Wilcoxon signed-rank p-value."""
    diff = np.concatenate([r[ours]["per_user_ndcg"] - r[anchor]["per_user_ndcg"] for r in runs])
    rng = np.random.default_rng(seed)
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
    low, high = np.quantile(means, [0.025, 0.975])
    return {
        "anchor": anchor,
        "listeners": len(diff),
        "mean_ndcg10_difference": float(diff.mean()),
        "ci95": [float(low), float(high)],
        "wilcoxon_p": float(stats.wilcoxon(diff).pvalue) if np.any(diff) else 1.0,
    }


def _suggest(trial: optuna.Trial, space: dict[str, Any]) -> dict[str, Any]:
    return {
        name: trial.suggest_categorical(name, bounds)
        if isinstance(bounds[0], str) or all(isinstance(b, int) for b in bounds)
        else trial.suggest_float(name, *bounds, log=True)
        for name, bounds in space.items()
    }


def tune_and_fit(name, val, test, factors, seed, trials, catalogue) -> dict[str, Any]:
    """The same seeded TPE budget for every model on validation; refit on all of train; test."""
    fitter = MODELS[name]

    def objective(trial: optuna.Trial) -> float:
        setting = _suggest(trial, SPACES[name])
        m = val.evaluate(fitter(val, setting, factors, seed), K, BUDGET_MB)
        trial.set_constraint("coverage", MIN_COVERAGE - m["coverage"])
        trial.set_user_attr("coverage", m["coverage"])
        return m[f"ndcg@{K}"]

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(FIRST[name])
    start = time.process_time()
    study.optimize(objective, n_trials=trials)
    tuning_s = time.process_time() - start
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    feasible = [t for t in done if t.user_attrs["coverage"] >= MIN_COVERAGE] or done
    best = max(feasible, key=lambda t: t.value)
    start = time.process_time()
    scorer = fitter(test, best.params, factors, seed)
    seconds = time.process_time() - start
    m = judged(test, scorer, catalogue)
    print(  # a line per model: the searches take minutes
        f"seed {seed}, {factors} factors, {name}: best of {trials} trials on validation "
        f"{best.params} (NDCG@{K} {best.value:.4f}); test NDCG@{K} {m[f'ndcg@{K}']:.4f}",
        flush=True,
    )
    return {
        **m,
        "fit_cpu_s": seconds,
        "tuning_cpu_s": tuning_s,
        "validation_ndcg10": best.value,
        "setting": best.params,
    }


def baselines(val, test, params, seed, catalogue) -> dict[str, dict]:
    """The rating PMF, popularity and random on the same holdout."""
    u, i, w = val.users, val.items, val.plays
    vu, vi, vw = val.held_out
    scaler = RatingScaler.fit(w, params["preprocessing"]["normalisation"])
    recipe = Recipe.from_dict(params["model"]).replace(seed=seed, device="cpu")
    start = time.process_time()
    train = Ratings.from_arrays(u, i, scaler.transform(w))
    valid = Ratings.from_arrays(vu, vi, scaler.transform(vw))
    rec = RatingRecommender(recipe).fit(train, valid, test.n_users, test.n_items)
    rating = {
        **judged(test, rec.scorer(), catalogue),
        "fit_cpu_s": time.process_time() - start,
    }
    generator = torch.Generator().manual_seed(seed)
    return {
        "rating": rating,
        "popularity": {
            **judged(test, popularity_scorer(test.items, test.n_items), catalogue),
            "fit_cpu_s": 0.0,
        },
        "random": {
            **judged(
                test, lambda b: torch.rand(len(b), test.n_items, generator=generator), catalogue
            ),
            "fit_cpu_s": 0.0,
        },
    }


def side_of(data: dict[str, Any], parts: list[str]) -> SideInformation | None:
    """The side files' tables (``--side``): tags, friends or both; None for the plays alone."""
    if not parts:
        return None
    tags = data["tag_input"] if "tags" in parts else data["tag_input"].iloc[:0]
    friends = data["friend_input"] if "friends" in parts else data["friend_input"].iloc[:0]
    side = side_information(tags, friends)
    if ("tags" in parts and not side.has_tags) or ("friends" in parts and not side.has_friends):
        raise SystemExit(f"--side {','.join(parts)}: the side files are not in the raw folder")
    return side


def one_seed(data, params, seed, factor_sizes, holdout, trials, parts) -> dict[int, dict]:
    """Every model at every factor size on one holdout (EASE once: it has no factors). Every
    tag of a held-out pair, test or validation, is dropped before any fit (``HoldoutTask``)."""
    inter = data["interactions"]
    u, i, w = (inter[c].to_numpy() for c in ("user_index", "artist_index", "weight"))
    n_users, n_items = data["id_index"]["n_users"], data["id_index"]["n_items"]
    test = HoldoutTask.split(u, i, w, holdout, seed, n_users, n_items, side=side_of(data, parts))
    val = HoldoutTask.split(
        test.users, test.items, test.plays, holdout, seed + 1000, n_users, n_items, side=test.side
    )
    tags = test.side.tag_pairs(n_items) if test.side is not None and test.side.has_tags else None
    catalogue = Catalogue.from_pairs(
        test.users, test.items, test.plays, n_users, n_items, tags=tags
    )
    ease_ = tune_and_fit("ease", val, test, 0, seed, trials, catalogue)
    shared = baselines(val, test, params, seed, catalogue) | {"ease": ease_}
    out = {}
    for f in factor_sizes:
        fitted = {
            n: tune_and_fit(n, val, test, f, seed, trials, catalogue) for n in MODELS if n != "ease"
        }
        models = shared | fitted
        ranked = {n: models[n]["ranked"] for n in ("ours", "als", "popularity")}
        out[f] = models | {"groups": group_quality(test, ranked, catalogue, K)}
    return out


def summary(runs: list[dict[str, dict]]) -> dict[str, dict[str, float]]:
    """Medians over seeds of each model's metrics."""
    cols = [f"precision@{K}", f"recall@{K}", f"ndcg@{K}", f"map@{K}", "coverage", *BEYOND]
    tuned = ["fit_cpu_s", "validation_ndcg10", "tuning_cpu_s"]
    return {
        n: {c: statistics.median(r[n].get(c, float("nan")) for r in runs) for c in cols + tuned}
        for n in LABELS
    }


def print_groups(per_seed: list[dict[str, Any]]) -> None:
    """Median over seeds of NDCG@k and ARP per listener group: ours, ALS and the chart."""
    for split in ("mainstreaminess", "activity"):
        print(
            f"\n| {split} | played ARP | ours NDCG | ALS NDCG | chart NDCG | ours ARP | ALS ARP | chart ARP |"
        )
        print("| --- " * 8 + "|")
        for group in ("low", "mid", "high"):
            cells = [s[split][group] for s in per_seed]
            values = [statistics.median(c["played_arp"] for c in cells)]
            for key in (f"ndcg@{K}", "arp"):
                values += [
                    statistics.median(c[n][key] for c in cells)
                    for n in ("ours", "als", "popularity")
                ]
            print(f"| {group} | " + " | ".join(f"{v:.3f}" for v in values) + " |")


def headline(runs, args, parts: list[str]) -> dict[str, Any]:
    """The last line: the lead model (ours with every side file asked for) against the best
    interaction-only anchor, the paired test, each side file's gain, LightFM with tags."""
    first = [r[args.factors[0]] for r in runs]
    med = summary(first)
    lead = "ours" if not parts else ("ours+side" if len(parts) > 1 else f"ours+{parts[0]}")
    anchor = max(ANCHORS, key=lambda n: med[n][f"ndcg@{K}"])
    test = paired(first, lead, anchor)
    print(
        f"{lead} - {anchor}, NDCG@{K} per listener over {test['listeners']:,} (listener, seed) "
        f"pairs: {test['mean_ndcg10_difference']:+.4f}, 95 % CI [{test['ci95'][0]:+.4f}, "
        f"{test['ci95'][1]:+.4f}], Wilcoxon p = {test['wilcoxon_p']:.3g}"
    )
    ndcg = {n: med[n][f"ndcg@{K}"] for n in MODELS}
    out = {
        "ndcg10": round(ndcg[lead], 4),
        "model": lead,
        "best_anchor": anchor,
        "best_anchor_ndcg10": round(ndcg[anchor], 4),
        "over_best_anchor": round(ndcg[lead] / ndcg[anchor], 4),
        "coverage": round(med[lead]["coverage"], 4),
        "fit_cpu_s": round(med[lead]["fit_cpu_s"], 3),
        "best_anchor_fit_cpu_s": round(med[anchor]["fit_cpu_s"], 3),
        "validation_ndcg10": round(med[lead]["validation_ndcg10"], 4),
        "tuning_cpu_s": {n: round(med[n]["tuning_cpu_s"], 1) for n in MODELS},
        "trials": args.trials,
        "paired": test,
        "beyond": {n: {c: round(med[n][c], 4) for c in BEYOND} for n in (lead, anchor)},
        "factors": args.factors[0],
        "holdout": args.holdout,
    }
    if parts:
        out["side"] = parts
        out["plays_only_ndcg10"] = round(ndcg["ours"], 4)
        gains = {n: round(ndcg[n] / ndcg["ours"] - 1, 4) for n in MODELS if n.startswith("ours+")}
        out["gain_over_plays_only"] = gains
        if "lightfm" in MODELS:
            out["lightfm_ndcg10"] = round(ndcg["lightfm"], 4)
            out["paired_lightfm"] = paired(first, lead, "lightfm")
    return out


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_project_arguments(parser)
    add_compute_arguments(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--factors", type=int, nargs="+", default=[128])
    parser.add_argument(
        "--trials", type=int, default=20, help="seeded TPE trials per model on validation"
    )
    parser.add_argument(
        "--holdout", type=float, default=0.2, help="share of each listener's artists"
    )
    parser.add_argument(
        "--side", default="", help="side files to fit beside the plays: tags, friends or both"
    )
    args = parser.parse_args()
    parts = [p for p in ("tags", "friends") if p in args.side.split(",")]
    if set(filter(None, args.side.split(","))) - set(parts):
        parser.error(f"--side takes tags, friends or tags,friends; got {args.side!r}")
    with_side(parts)
    data, params = model_input(args)
    set_threads(args, params)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs = [
        one_seed(data, params, s, args.factors, args.holdout, args.trials, parts)
        for s in args.seeds
    ]
    for factors in args.factors:
        med = summary([r[factors] for r in runs])
        cols = list(next(iter(med.values())))
        print(f"\n{factors} factors, holdout {args.holdout:.0%}, seeds {args.seeds} (medians)")
        print(f"| model | {' | '.join(cols)} |\n|" + " --- |" * (len(cols) + 1))
        for n, label in LABELS.items():
            print(f"| {label} | " + " | ".join(f"{med[n][c]:.3f}" for c in cols) + " |")
        for n in MODELS:
            print(f"{n}: settings per seed: {[r[factors][n]['setting'] for r in runs]}")
        print_groups([r[factors]["groups"] for r in runs])
    print(json.dumps(headline(runs, args, parts)))


if __name__ == "__main__":
    main()
