"""Reporting nodes: loss plots, the artist-bias table and figures, and one self-contained HTML page.

Plot nodes return matplotlib ``Figure`` objects built without pyplot (no global state, no GUI);
the catalog saves them as PNG.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL.Image import Image
from sklearn.decomposition import PCA

from music_recommender.pmf import PMF

_STAGE_COLOURS = ("#f2f2f2", "#dde8f3")
# Artist names come in many scripts: fall back to a CJK font where one is installed
# (e.g. Debian's fonts-wqy-zenhei or fonts-noto-cjk); DejaVu Sans covers Latin, Greek, Cyrillic.
_NAME_FONTS = ("DejaVu Sans", "WenQuanYi Zen Hei", "Noto Sans CJK JP", "Droid Sans Fallback")


def _name_fonts() -> list[str]:
    """The installed subset of ``_NAME_FONTS`` (asking for a missing one only makes warnings)."""
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in _NAME_FONTS if name in installed] or ["DejaVu Sans"]


@dataclass(frozen=True)
class BiasReportParams:
    """How the artist-bias table flags artists (``reporting.artist_bias``)."""

    # An artist is flagged when its bias percentile and its popularity percentile differ by more.
    flag_gap: float = 0.5
    # Rows of the top / bottom tables on the page.
    table_rows: int = 25
    # Artists named at each end of the bias distribution figure.
    named: int = 8
    # Artists labelled on the embedding map, by listeners and by bias each.
    map_labels: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.flag_gap < 1:
            raise ValueError(
                f"reporting.artist_bias.flag_gap must be in (0, 1); got {self.flag_gap!r}"
            )
        for name in ("table_rows", "named", "map_labels"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"reporting.artist_bias.{name} must be >= 0; got {getattr(self, name)!r}"
                )


# --------------------------------------------------------------------------- loss plots


def plot_lr_range_test(lr_test: dict[str, Any]) -> Figure:
    """Loss against learning rate on a log axis, with the suggested rate marked."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    lrs, curve = np.asarray(lr_test["lr"]), np.asarray(lr_test["smoothed_loss"])
    ax.plot(lrs, lr_test["loss"], color="#bbbbbb", linewidth=0.6, alpha=0.6, label="batch loss")
    ax.plot(lrs, curve, color="#1f77b4", linewidth=2, label="loss on a fixed probe sample")
    suggested = float(lr_test["suggested_lr"])
    ax.axvline(suggested, color="#d62728", linestyle="--", label=f"suggested rate {suggested:.3g}")
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
    best = history[history["best"].astype(bool)]
    if len(best) and best["val_loss"].notna().all():
        ax.scatter(
            best["epoch"],
            best["val_loss"],
            s=200,
            facecolors="none",
            edgecolors="#d62728",
            linewidths=2,
            zorder=3,
            label="kept (best validation)",
        )
    ax.set(xlabel="epoch", ylabel="MSE (normalised ratings)")
    ax.set_title("Training loss per epoch", pad=18)
    ax.set_xticks(history["epoch"])
    ax.legend()
    return fig


# --------------------------------------------------------------------------- artist biases


def artist_bias_table(biases: pd.DataFrame, params: BiasReportParams) -> pd.DataFrame:
    """Every artist by learned bias, with its reach and a flag where bias and reach disagree.

    ``popularity_rank`` ranks by listeners (ties by total plays). An artist is ``over-rated``
    when its bias percentile is ``flag_gap`` above its popularity percentile (its listeners play
    it far more than its reach suggests) and ``under-rated`` when it is that far below.
    """
    table = biases.sort_values("bias", ascending=False, ignore_index=True)
    n = len(table)
    popularity = table.sort_values(["listeners", "total_plays"], ascending=False).index
    pop_rank = pd.Series(np.arange(1, n + 1), index=popularity).sort_index()
    gap = (pop_rank.to_numpy() - np.arange(1, n + 1)) / max(n, 1)
    table = table.assign(
        rank=np.arange(1, n + 1),
        popularity_rank=pop_rank.to_numpy(),
        flag=np.select(
            [gap > params.flag_gap, gap < -params.flag_gap], ["over-rated", "under-rated"], ""
        ),
    )
    return table[
        [
            "rank",
            "artist_id",
            "artist_name",
            "bias",
            "listeners",
            "total_plays",
            "popularity_rank",
            "flag",
        ]
    ]


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
    y = 1.0
    for title, colour, rows in lines:
        ax_names.text(0, y, title, fontsize=11, fontweight="bold", color=colour, va="top")
        y -= 0.06
        for row in rows.itertuples():
            label = f"{row.bias:+.2f}  {_short(row.artist_name, 34)}  ({row.listeners} listeners)"
            ax_names.text(0.02, y, label, fontsize=9, va="top", family=_name_fonts())
            y -= 0.05
        y -= 0.04
    return fig


def plot_artist_map(
    model: PMF, table: pd.DataFrame, artist_map: pd.DataFrame, params: BiasReportParams
) -> Figure:
    """Artist vectors of the recommending (implicit) model in 2-D by PCA; top artists labelled.

    Labelled: the most-listened artists and the highest-bias artists of the rating model.
    """
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
        labels += [_short(n, 22) for n in rows["artist_name"]]
        colours += [colour] * len(rows)
    _place_labels(fig, ax, points, labels, colours)
    var = coords.explained_variance_ratio_
    norm = float(np.median(np.linalg.norm(vectors, axis=1)))
    ax.set(
        xlabel=f"PC 1 ({100 * var[0]:.0f} % of variance)",
        ylabel=f"PC 2 ({100 * var[1]:.0f} % of variance)",
        title=f"Artist vectors of the recommending model ({model.n_factors} factors, median norm {norm:.3g}), PCA",
    )
    ax.legend(loc="lower right")
    return fig


def _short(name: str, width: int) -> str:
    name = str(name)
    return name if len(name) <= width else name[: width - 1] + "…"


def _place_labels(
    fig: Figure, ax: Axes, points: list, labels: list[str], colours: list[str]
) -> None:
    """Greedy label placement: try offsets around each point until its box overlaps no other."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    placed = []
    angles = np.deg2rad(np.arange(0, 360, 30))
    offsets = [
        (r * np.cos(a), r * np.sin(a)) for r in (10, 22, 36, 52, 70, 90, 115, 140) for a in angles
    ]
    seen: set[tuple] = set()
    for (x, y), label, colour in zip(points, labels, colours, strict=True):
        if (x, y, label) in seen:
            continue
        seen.add((x, y, label))
        for dx, dy in offsets:
            text = ax.annotate(
                label,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=8,
                color=colour,
                family=_name_fonts(),
                ha="left" if dx >= 0 else "right",
                va="center",
                arrowprops={"arrowstyle": "-", "color": colour, "alpha": 0.5, "lw": 0.6},
            )
            # The text alone: an Annotation's own extent includes its leader line.
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer).expanded(1.05, 1.15)
            inside = ax.get_window_extent(renderer).contains(
                box.x0, box.y0
            ) and ax.get_window_extent(renderer).contains(box.x1, box.y1)
            clear = not any(box.overlaps(other) for other in placed)
            if inside and clear:
                placed.append(box)
                break
            text.remove()


# --------------------------------------------------------------------------- recommendations


def example_listeners(
    interactions: pd.DataFrame,
    artist_map: pd.DataFrame,
    recommendations: pd.DataFrame,
    n_users: int,
    n_items: int,
) -> pd.DataFrame:
    """A few listeners (spread over the id range): their most-played artists beside what they are recommended."""
    ids = np.sort(interactions["user_id"].unique())
    chosen = (
        ids[np.linspace(0, len(ids) - 1, num=min(n_users, len(ids))).astype(int)]
        if len(ids)
        else ids
    )
    names = artist_map.set_index("artist_id")["artist_name"]
    rows = []
    for user in chosen:
        played = interactions[interactions["user_id"] == user].nlargest(n_items, "weight")
        recs = recommendations[recommendations["user_id"] == user].sort_values("rank").head(n_items)
        rows.append(
            {
                "user_id": str(user),
                "most played": ", ".join(
                    f"{names.get(a, a)} ({int(w):,})"
                    for a, w in zip(played["artist_id"], played["weight"], strict=True)
                ),
                "recommended": ", ".join(str(x) for x in recs["artist_name"]),
            }
        )
    return pd.DataFrame(rows)


def _ranking_table(ranking: dict[str, Any]) -> pd.DataFrame:
    k = ranking["protocol"]["k"]
    labels = {
        "implicit": "PMF, implicit objective",
        "explicit": "PMF, rating objective",
        "popularity": "most popular",
    }
    columns = {"precision": "P", "recall": "R", "ndcg": "NDCG", "map": "MAP"}
    rows = [
        {
            "model": labels.get(name, name),
            **{f"{short}@{k}": m[f"{key}@{k}"] for key, short in columns.items()},
            "coverage": m["coverage"],
        }
        for name, m in ranking["models"].items()
    ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- HTML page


def _png(image: Image | Figure) -> str:
    buffer = io.BytesIO()
    if isinstance(image, Figure):
        image.savefig(buffer, format="png", dpi=100)
    else:
        image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _cell(value: Any, floats: str) -> str:
    """A table cell: numbers right-aligned and formatted, text left-aligned, missing values blank."""
    if isinstance(value, bool | np.bool_):
        return f"<td>{value}</td>"
    if isinstance(value, float | np.floating):
        text = floats.format(value) if math.isfinite(value) else ""
        return f'<td class="num">{html.escape(text)}</td>'
    if isinstance(value, int | np.integer):
        return f'<td class="num">{value:,}</td>'
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _table(frame: pd.DataFrame, floats: str = "{:.3f}") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = [
        "<tr>" + "".join(_cell(v, floats) for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    ]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted.key, value)`` rows for a nested parameter block (dataclasses included)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        rows = []
        for key, inner in value.items():
            rows += _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, list | tuple):
        return [(prefix, json.dumps(value, default=str))]
    return [(prefix, str(value))]


def _facts_table(summary: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, facts in (("raw", summary["raw"]), ("after filter", summary["filtered"])):
        w = facts["weight"]
        rows.append(
            {
                "data": name,
                "rows": facts["rows"],
                "users": facts["users"],
                "artists": facts["artists"],
                "density": f"{facts['density_percent']:.2f} %",
                "plays mean": w["mean"],
                "plays std": w["std"],
                "plays max": w["max"],
            }
        )
    return pd.DataFrame(rows)


def _metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = [
        ("this model (PMF)", metrics["test_mse"], metrics["test_rmse"]),
        ("bias-only baseline", metrics["baseline_bias_mse"], metrics["baseline_bias_rmse"]),
        ("global-mean baseline", metrics["baseline_global_mse"], metrics["baseline_global_rmse"]),
    ]
    return pd.DataFrame(rows, columns=["model", "test MSE", "test RMSE"])


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .55rem}
th{background:#f4f6f8;text-align:left}
td{text-align:left}td.num{text-align:right}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem}.cols{display:flex;gap:2rem;flex-wrap:wrap}
code{background:#f4f6f8;padding:0 .25rem}.note{background:#fff8e1;border-left:4px solid #f0c000;
padding:.5rem .8rem}
"""


FIGURE_TITLES = {
    "weight_distribution": "Play counts before and after filtering, and the two normalisations",
    "lr_range_test": "Learning-rate range test: loss as the rate rises every step",
    "grid_search": "Grid search: validation loss per latent size",
    "training_loss": "Training and validation loss per epoch, learning-rate stages shaded",
    "artist_bias": "Distribution of learned artist biases, top and bottom artists named",
    "artist_map": "Artist vectors of the recommending model in two dimensions (PCA)",
}


def build_report(
    summary: dict[str, Any],
    metrics: dict[str, Any],
    best_params: dict[str, Any],
    preprocessing: dict[str, Any],
    table: pd.DataFrame,
    locations: dict[str, str],
    params: BiasReportParams,
    ranking: dict[str, Any],
    examples: pd.DataFrame,
    **images: Image | Figure,
) -> str:
    """One page that explains the run without the code: parameters, data, figures, metrics, artists.

    ``images`` are keyed like ``FIGURE_TITLES``; they are embedded as PNG data, so the page is one
    file that opens anywhere.
    """
    unknown = set(images) - set(FIGURE_TITLES)
    if unknown:
        raise ValueError(
            f"no title for figure(s) {sorted(unknown)}; expected some of {sorted(FIGURE_TITLES)}"
        )
    figures = {FIGURE_TITLES[key]: images[key] for key in FIGURE_TITLES if key in images}
    recipe = metrics.get("best_params", {})
    ridge = recipe.get("item_bias_ridge", 0.0)
    ranking_note = (
        f"Artists are ranked by the bias the model learned. Each artist's bias carries a ridge penalty "
        f"of {ridge:g} per epoch, whatever its reach: a bias backed by few listeners is pulled toward "
        f"zero far more than one backed by hundreds, so the top of the list holds artists that "
        f"listeners broadly favour rather than niches a handful of people play a lot."
        if ridge
        else "Artists are ranked by the bias the model learned, with no penalty that depends on an "
        "artist's reach: biases of artists that few people play are barely held back."
    )
    n = params.table_rows
    shown = ["rank", "artist_name", "bias", "listeners", "total_plays", "popularity_rank", "flag"]
    figure_html = "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{_png(image)}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for title, image in figures.items()
    )
    files = pd.DataFrame(sorted(locations.items()), columns=["dataset", "file"])
    parameters = pd.DataFrame(
        _flatten({"preprocessing": preprocessing, "model": recipe, "tuning": best_params}),
        columns=["parameter", "value"],
    )
    table = table.assign(flag=table["flag"].fillna(""))
    split = summary["split"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>music-recommender run report</title>
<style>{_CSS}</style></head><body>
<h1>music-recommender: run report</h1>
<p>Probabilistic matrix factorisation of Last.fm play counts: each (user, artist) rating is predicted
as <code>mean + user bias + artist bias + user vector · artist vector</code>, trained on
{split["train"]:,} ratings, validated on {split["validation"]:,}, tested on {split["test"]:,}.</p>
<h2>Test metrics</h2>
<p>Mean squared error on the held-out test ratings, on the normalised scale
(<code>{html.escape(str(summary["normalisation"]["method"]))}</code>).</p>
{_table(_metrics_table(metrics), "{:.4f}")}
<p>{metrics["epochs"]} epochs trained; the weights kept are those of epoch {metrics.get("best_epoch")}.</p>
<h2>Recommending: top-{ranking["protocol"]["k"]} ranking</h2>
<p>{ranking["protocol"]["holdout_fraction"]:.0%} of each listener's artists held out; every artist the
listener did not play in training is ranked ({ranking["protocol"]["users"]:,} listeners,
{ranking["protocol"]["artists"]:,} artists). The rating objective learns only from played pairs, never
what people do not play, so it ranks below the popularity chart; the implicit objective counts every
unplayed pair as a weak zero. Coverage: the share of all artists that appear in anyone's top list.</p>
{_table(_ranking_table(ranking))}
<h3>Example listeners</h3>
{_table(examples)}
<h2>Data</h2>
{_table(_facts_table(summary), "{:,.1f}")}
<h2>Figures</h2>
{figure_html}
<h2>Artists by learned bias</h2>
<p class="note">{html.escape(ranking_note)} <em>Over-rated</em>: bias rank far above the artist's
popularity rank (its listeners play it much more than its reach suggests); <em>under-rated</em>: far
below (widely heard, played little).</p>
<div class="cols"><div><h3>Top {n}</h3>{_table(table[shown].head(n))}</div>
<div><h3>Bottom {n}</h3>{_table(table[shown].tail(n)[::-1])}</div></div>
<h2>Parameters of this run</h2>
<p><code>model</code> is the recipe the model was trained with; <code>tuning</code> is what the
tuning pipeline chose (used for <code>model</code> unless training ran with fixed parameters).</p>
{_table(parameters)}
<h2>Where the files are</h2>
{_table(files)}
</body></html>
"""
