"""Reporting figures: loss curves, the grid, the bias distribution and the artist map.

Plot nodes return matplotlib ``Figure`` objects built without pyplot (no global state, no GUI);
the catalog saves them as PNG.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from music_recommender.pipelines.reporting.labels import (
    check_name_fonts,
    name_fonts,
    place_labels,
    short,
)
from music_recommender.pipelines.reporting.tables import BiasReportParams
from music_recommender.pmf.recommender import FactorRecommender

_STAGE_COLOURS = ("#f2f2f2", "#dde8f3")


def plot_lr_range_test(lr_test: dict[str, Any], metrics: dict[str, Any]) -> Figure:
    """Loss against learning rate on a log axis: the suggested rate, and the one training used."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    lrs, curve = np.asarray(lr_test["lr"]), np.asarray(lr_test["smoothed_loss"])
    ax.plot(lrs, lr_test["loss"], color="#bbbbbb", linewidth=0.6, alpha=0.6, label="batch loss")
    ax.plot(lrs, curve, color="#1f77b4", linewidth=2, label="loss on a fixed probe sample")
    suggested = float(lr_test["suggested_lr"])
    used = float(metrics["best_params"]["schedule"][0][0])
    same = np.isclose(used, suggested, rtol=1e-3)
    ax.axvline(
        suggested,
        color="#d62728",
        linestyle="--",
        label=f"suggested rate {suggested:.3g}" + ("" if same else " (not used)"),
    )
    if not same:
        ax.axvline(used, color="#2ca02c", linestyle=":", label=f"training's first rate {used:.3g}")
    ax.set(
        xscale="log",
        xlabel="learning rate (log scale)",
        ylabel="MSE",
        title=f"Learning-rate range test ({lr_test.get('optimizer', '')})",
    )
    # Keep the blow-up at the end from flattening the interesting part of the curve.
    low, top = float(curve.min()), float(np.percentile(curve, 95))
    span = max(top - low, 1e-9)
    ax.set_ylim(low - 0.5 * span, top + 0.5 * span)
    ax.legend(loc="upper left")
    return fig


def plot_grid_search(grid: pd.DataFrame, best_params: dict[str, Any]) -> Figure:
    """Validation loss against latent size, one line per L2 strength, the chosen point marked."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for l2, rows in grid.sort_values("n_factors").groupby("l2"):
        ax.plot(rows["n_factors"], rows["val_loss"], marker="o", label=f"L2 {l2:g}")
    ax.scatter(
        [best_params["n_factors"]],
        [best_params["val_loss"]],
        s=220,
        facecolors="none",
        edgecolors="#d62728",
        linewidths=2,
        zorder=3,
        label=f"chosen: {best_params['n_factors']} factors, L2 {best_params['l2']:g}",
    )
    epochs = int(grid["epochs"].iloc[0]) if len(grid) else 0
    ax.set(
        xlabel="latent size (factors)",
        ylabel="validation MSE",
        title=f"Grid search: {epochs} epochs per candidate at rate {grid['lr'].iloc[0]:.3g}",
    )
    ax.set_xticks(sorted(grid["n_factors"].unique()))
    ax.legend()
    return fig


def _mark_epochs(ax: Axes, history: pd.DataFrame) -> None:
    """Circle the epoch whose weights were kept; say whether it is the best on validation."""
    if history["val_loss"].isna().all():
        return
    kept = history[history["kept"].astype(bool)]
    best = history[history["best"].astype(bool)]
    same = len(kept) and len(best) and int(kept["epoch"].iloc[0]) == int(best["epoch"].iloc[0])
    style = {"facecolors": "none", "linewidths": 2, "zorder": 3}
    ax.scatter(
        kept["epoch"],
        kept["val_loss"],
        s=200,
        edgecolors="#d62728",
        label="kept (best validation)" if same else "kept (last epoch)",
        **style,
    )
    if not same and len(best):
        ax.scatter(
            best["epoch"],
            best["val_loss"],
            s=120,
            edgecolors="#2ca02c",
            label="best validation",
            **style,
        )


def plot_training_loss(history: pd.DataFrame) -> Figure:
    """Train and validation loss per epoch, each learning-rate stage shaded and labelled."""
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    for k, (_, rows) in enumerate(history.groupby("stage", sort=True)):
        lo, hi = rows["epoch"].min() - 0.5, rows["epoch"].max() + 0.5
        ax.axvspan(lo, hi, color=_STAGE_COLOURS[k % 2], zorder=0)
        ax.text(
            (lo + hi) / 2,
            1.0,
            f"lr {rows['lr'].iloc[0]:g}",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.plot(history["epoch"], history["train_loss"], marker="o", label="train")
    if history["val_loss"].notna().any():
        ax.plot(history["epoch"], history["val_loss"], marker="o", label="validation")
    _mark_epochs(ax, history)
    ax.set(xlabel="epoch", ylabel="MSE (normalised ratings)")
    ax.set_title("Training loss per epoch", pad=18)
    ax.set_xticks(history["epoch"])
    ax.legend()
    return fig


def plot_bias_distribution(table: pd.DataFrame, params: BiasReportParams) -> Figure:
    """The article's Figure 9: the spread of artist biases, the top and bottom artists named."""
    fig = Figure(figsize=(11, 5), layout="constrained")
    ax_hist, ax_names = fig.subplots(1, 2, width_ratios=[3, 2])
    ax_hist.hist(table["bias"], bins=60, color="#1f77b4")
    ax_hist.set(
        xlabel="learned artist bias (normalised rating units)",
        ylabel="artists",
        title=f"Artist bias distribution ({len(table):,} artists)",
    )
    k = min(params.named, len(table) // 2)
    for value in table["bias"].head(k):
        ax_hist.axvline(value, color="#2ca02c", alpha=0.35, linewidth=1)
    for value in table["bias"].tail(k):
        ax_hist.axvline(value, color="#d62728", alpha=0.35, linewidth=1)
    ax_names.axis("off")
    lines = [
        ("Highest bias", "#2ca02c", table.head(k)),
        ("Lowest bias", "#d62728", table.tail(k)[::-1]),
    ]
    check_name_fonts(name for _, _, rows in lines for name in rows["artist_name"])
    y = 1.0
    for title, colour, rows in lines:
        ax_names.text(0, y, title, fontsize=11, fontweight="bold", color=colour, va="top")
        y -= 0.06
        for row in rows.itertuples():
            label = f"{row.bias:+.2f}  {short(row.artist_name, 34)}  ({row.listeners} listeners)"
            ax_names.text(0.02, y, label, fontsize=9, va="top", family=name_fonts())
            y -= 0.05
        y -= 0.04
    return fig


def plot_artist_map(
    ranker: FactorRecommender,
    table: pd.DataFrame,
    artist_map: pd.DataFrame,
    params: BiasReportParams,
) -> Figure:
    """Artist vectors of the recommending (implicit) model in 2-D by PCA; top artists labelled.

    Labelled: the most-listened artists and the highest-bias artists of the rating model.
    """
    model = ranker.fitted
    vectors = model.item_factors.weight.detach().cpu().numpy()
    coords = PCA(n_components=2, random_state=0).fit(vectors)
    xy = coords.transform(vectors)
    index = artist_map.set_index("artist_id")["artist_index"]
    frame = table.assign(artist_index=index.loc[table["artist_id"]].to_numpy())
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(xy[:, 0], xy[:, 1], s=6, color="#c7c7c7", label="all artists")
    by_listeners = frame.nlargest(params.map_labels, "listeners")
    by_bias = frame.head(params.map_labels)
    # Frame the bulk of the artists and every labelled one; a few far-out vectors would
    # otherwise shrink the picture to a dot.
    shown = np.vstack(
        [
            np.percentile(xy, [0.5, 99.5], axis=0),
            xy[np.r_[by_listeners["artist_index"], by_bias["artist_index"]]],
        ]
    )
    low, high = shown.min(axis=0), shown.max(axis=0)
    pad = 0.15 * (high - low)
    ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
    ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
    groups = [(by_listeners, "#1f77b4", "most listeners"), (by_bias, "#d62728", "highest bias")]
    points, labels, colours = [], [], []
    for rows, colour, name in groups:
        pts = xy[rows["artist_index"].to_numpy()]
        ax.scatter(pts[:, 0], pts[:, 1], s=30, color=colour, label=name, zorder=3)
        points += list(map(tuple, pts))
        labels += [short(n, 22) for n in rows["artist_name"]]
        colours += [colour] * len(rows)
    check_name_fonts(labels)
    place_labels(fig, ax, points, labels, colours)
    var = coords.explained_variance_ratio_
    norm = float(np.median(np.linalg.norm(vectors, axis=1)))
    ax.set(
        xlabel=f"PC 1 ({100 * var[0]:.0f} % of variance)",
        ylabel=f"PC 2 ({100 * var[1]:.0f} % of variance)",
        title=f"Artist vectors of the recommending model ({model.n_factors} factors, median norm {norm:.3g}), PCA",
    )
    ax.legend(loc="lower right")
    return fig


def plot_search_history(study: Any, choice: dict[str, Any]) -> Figure:
    """Each trial's validation NDCG in order, the best so far, the conf values' trial marked."""
    import optuna  # noqa: PLC0415 (the search's own types)

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    complete = optuna.trial.TrialState.COMPLETE
    trials = [t for t in study.trials if t.state == complete]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    numbers = np.array([t.number for t in trials])
    values = np.array([t.value for t in trials])
    floor = choice["protocol"]["coverage_floor"]
    feasible = np.array([t.user_attrs.get("coverage", 0.0) >= floor for t in trials], dtype=bool)
    ax.scatter(numbers[feasible], values[feasible], color="#1f77b4", label="trial")
    ax.scatter(
        numbers[~feasible], values[~feasible], color="#bbbbbb", label="below the coverage floor"
    )
    for t in pruned:  # the last value each pruned trial reported
        last = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
        if last is not None:
            ax.scatter(t.number, last, marker="x", color="#d62728", s=20)
    ax.scatter([], [], marker="x", color="#d62728", s=20, label="pruned (last report)")
    if feasible.any():
        best = np.maximum.accumulate(np.where(feasible, values, -np.inf))
        ax.step(numbers, np.where(np.isfinite(best), best, np.nan), where="post", color="#ff7f0e",
                label="best feasible so far")  # fmt: skip
    conf = next((t for t in trials if t.user_attrs.get("origin") == "conf"), None)
    if conf is not None:
        ax.annotate("conf values", (conf.number, conf.value), textcoords="offset points",
                    xytext=(8, -12), fontsize=8)  # fmt: skip
    k = choice["protocol"]["k"]
    ax.set(
        xlabel="trial",
        ylabel=f"validation NDCG@{k}",
        title="Search of the implicit model's settings",
    )
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_search_importances(study: Any) -> Figure:
    """How much of the validation NDCG's variation each setting explains (Optuna's fANOVA)."""
    import optuna  # noqa: PLC0415

    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.subplots()
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        ax.text(0.5, 0.5, "too few complete trials to weigh the settings", ha="center")
        ax.set_axis_off()
        return fig
    importances = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
    )
    names, shares = list(importances)[::-1], list(importances.values())[::-1]
    ax.barh(names, shares, color="#1f77b4")
    ax.set(xlabel="share of the validation NDCG's variance", title="Which settings mattered")
    return fig


def plot_group_calibration(ranking: dict[str, Any]) -> Figure:
    """Per third of listeners by mainstreaminess: how popular what they play is, against what
    each model recommends them (a calibrated model would track the played bars)."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    cells = ranking["groups"]["mainstreaminess"]
    groups = list(cells)
    series = {"played": [cells[g]["played_arp"] for g in groups]}
    series |= {name: [cells[g][name]["arp"] for g in groups] for name in ("implicit", "popularity")}
    width = 0.8 / len(series)
    colours = {"played": "#7f7f7f", "implicit": "#1f77b4", "popularity": "#ff7f0e"}
    labels = {"played": "what they play", "implicit": "PMF, implicit", "popularity": "most popular"}
    for i, (name, values) in enumerate(series.items()):
        xs = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
        heights = [np.nan if v is None else v for v in values]
        ax.bar(xs, heights, width, color=colours[name], label=labels[name])
    ax.set_xticks(np.arange(len(groups)), [f"{g} mainstreaminess" for g in groups])
    ax.set(
        ylabel="mean share of listeners of the artists",
        title="Popularity: played against recommended",
    )
    ax.legend(fontsize=8)
    return fig


def plot_tradeoff(ranking: dict[str, Any]) -> Figure:
    """NDCG@k against the long-tail share and coverage as the popularity penalty grows."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    k = ranking["protocol"]["k"]
    points = sorted(ranking["tradeoff"].values(), key=lambda p: p["penalty"])
    ndcg = [p[f"ndcg@{k}"] for p in points]
    ax.plot([p["aplt"] for p in points], ndcg, "o-", color="#1f77b4", label="long-tail share")
    ax.plot([p["coverage"] for p in points], ndcg, "s--", color="#2ca02c", label="coverage")
    for p in points:
        ax.annotate(f"λ={p['penalty']:g}", (p["aplt"], p[f"ndcg@{k}"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=8)  # fmt: skip
    ax.set(xlabel="share of the lists (long tail) / of all artists (coverage)",
           ylabel=f"holdout NDCG@{k}", title="Popularity penalty: accuracy against the long tail")  # fmt: skip
    ax.legend(fontsize=8)
    return fig
