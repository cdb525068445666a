"""The HTML report: one self-contained page assembled from the run's outputs."""

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
from matplotlib.figure import Figure
from PIL.Image import Image

from music_recommender.pipelines.reporting.tables import (
    BiasReportParams,
    beyond_table,
    facts_table,
    groups_table,
    metrics_table,
    ranking_table,
)


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
        whole = math.isfinite(value) and float(value).is_integer() and abs(value) >= 100
        text = f"{value:,.0f}" if whole else floats.format(value) if math.isfinite(value) else ""
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
    if isinstance(value, float):
        return [(prefix, f"{value:.6g}")]
    return [(prefix, str(value))]


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
code{background:#f4f6f8;padding:0 .25rem}.run{color:#555;font-size:.9rem}.note{background:#fff8e1;border-left:4px solid #f0c000;
padding:.5rem .8rem}
"""


FIGURE_TITLES = {
    "weight_distribution": "Play counts before and after filtering, and the two normalisations",
    "lr_range_test": "Learning-rate range test: loss as the rate rises every step",
    "grid_search": "Grid search: validation loss per latent size",
    "training_loss": "Training and validation loss per epoch, learning-rate stages shaded",
    "artist_bias": "Distribution of learned artist biases, top and bottom artists named",
    "artist_map": "Artist vectors of the recommending model in two dimensions (PCA)",
    "search_history": "Search over the recommending model settings: validation NDCG per trial",
    "search_importances": "Which recommending model settings the validation NDCG depends on",
    "group_calibration": "Popularity of what listeners play against what each model recommends, by mainstreaminess",
    "tradeoff": "Popularity penalty: holdout NDCG against long-tail share and coverage",
}


def embed_figures(**images: Image | Figure) -> dict[str, str]:
    """The run's figures as base64 PNG keyed by caption, so the page is one file that opens anywhere."""
    unknown = set(images) - set(FIGURE_TITLES)
    if unknown:
        raise ValueError(
            f"no title for figure(s) {sorted(unknown)}; expected some of {sorted(FIGURE_TITLES)}"
        )
    return {FIGURE_TITLES[key]: _png(images[key]) for key in FIGURE_TITLES if key in images}


@dataclass(frozen=True)
class ReportContent:
    """Everything the page shows, gathered from the run's outputs by ``build_report``."""

    summary: dict[str, Any]
    metrics: dict[str, Any]
    ranking: dict[str, Any]
    search: dict[str, Any]
    artists: pd.DataFrame
    examples: pd.DataFrame
    parameters: pd.DataFrame
    files: pd.DataFrame
    figures: dict[str, str]
    table_rows: int
    run: dict[str, str]
    implicit: dict[str, Any] | None = None  # the settings the recommending model was fitted with
    cold_start: dict[str, Any] | None = None  # cold_start.json (side files)
    tag_only: pd.DataFrame | None = None  # artists below the filter, vectors from their tags


def build_report(
    summary: dict[str, Any],
    metrics: dict[str, Any],
    best_params: dict[str, Any],
    preprocessing: dict[str, Any],
    table: pd.DataFrame,
    locations: dict[str, str],
    params: BiasReportParams,
    ranking: dict[str, Any],
    search: dict[str, Any],
    implicit: dict[str, Any],
    examples: pd.DataFrame,
    run: dict[str, str],
    cold_start: dict[str, Any] | None = None,
    tag_only: pd.DataFrame | None = None,
    **images: Image | Figure,
) -> str:
    """The page from persisted outputs only, so `--from-nodes reporting.build_report` rebuilds it."""
    recipe = metrics["best_params"]
    content = ReportContent(
        summary=summary,
        metrics=metrics,
        ranking=ranking,
        search=search,
        artists=table.assign(flag=table["flag"].fillna("")),
        examples=examples,
        parameters=pd.DataFrame(
            _flatten(
                {
                    "preprocessing": preprocessing,
                    "model": recipe,
                    "tuning": best_params,
                    "implicit": implicit,
                }
            ),
            columns=["parameter", "value"],
        ),
        files=pd.DataFrame(sorted(locations.items()), columns=["dataset", "file"]),
        figures=embed_figures(**images),
        table_rows=params.table_rows,
        run=run,
        implicit=implicit,
        cold_start=cold_start,
        tag_only=tag_only,
    )
    return render_report(content)


def _bias_note(recipe: dict[str, Any]) -> str:
    ridge = recipe.get("item_bias_ridge", 0.0)
    if not ridge:
        return (
            "Artists are ranked by the bias the model learned, with no penalty that depends on an "
            "artist's reach: biases of artists that few people play are barely held back."
        )
    return (
        f"Artists are ranked by the bias the model learned. Each artist's bias carries a ridge penalty "
        f"of {ridge:g} per epoch, whatever its reach: a bias backed by few listeners is pulled toward "
        f"zero far more than one backed by hundreds, so the top of the list holds artists that "
        f"listeners broadly favour rather than niches a handful of people play a lot."
    )


def _run_line(run: dict[str, str]) -> str:
    parts = [
        f"Run <code>{html.escape(run.get('version', ''))}</code>",
        html.escape(run.get("started", "")),
        f"environment <code>{html.escape(run.get('environment', ''))}</code>",
        f"data <code>{html.escape(run.get('data', ''))}</code>",
        f"code <code>{html.escape(run.get('commit', ''))}</code>",
    ]
    return f'<p class="run">{" · ".join(parts)}</p>'


def _validation(rows: int) -> str:
    if not rows:
        return "with no validation split (early stopping and tuning hold out part of train)"
    return f"validated on {rows:,}"


def search_sentence(search: dict[str, Any]) -> str:
    """One sentence: which setting the search chose and what it gained over conf on validation."""
    if not search:
        return "The recommending model's settings were not searched in this run (conf values)."
    k, val, trials = search["protocol"]["k"], search["validation"], search["trials"]
    chosen = ", ".join(
        f"{name} {value:.3g}" if isinstance(value, float) else f"{name} {value}"
        for name, value in search["settings"].items()
    )
    conf = val.get(f"conf_ndcg@{k}")
    against = (
        f", against {conf:.4f} for the conf values ({val['gain_over_conf']:+.1%})"
        if conf is not None
        else ""
    )
    return (
        f"A seeded Optuna search tried {trials['total']} settings "
        f"({trials.get('pruned', 0)} pruned early) in {search['seconds']:.0f} s on "
        f"{search['protocol']['listeners']:,} listeners' validation split and chose {chosen}: "
        f"validation NDCG@{k} {val[f'ndcg@{k}']:.4f}, coverage {val['coverage']:.3f}{against}."
    )


def _verdict(metrics: dict[str, Any]) -> str:
    """One sentence: do the factors beat the bias-only baseline on this data?"""
    ours, bias = metrics["test_mse"], metrics["baseline_bias_mse"]
    if ours < bias:
        return (
            f"The factors beat the bias-only baseline by {1 - ours / bias:.1%} "
            f"({ours:.4f} against {bias:.4f})."
        )
    return (
        f"On this data the factors do not beat the bias-only baseline on rating error "
        f"({ours:.4f} against {bias:.4f}): what a listener plays a lot is mostly how much they "
        "play and how popular the artist is; the factors earn their keep in ranking, below."
    )


# The settings of the recommending model a reader looks for first, in this order.
_SHOWN_SETTINGS = (
    "n_factors",
    "alpha",
    "plays_scale",
    "reg",
    "frequency_reg",
    "bias_reg",
    "negative_exponent",
    "iterations",
)


def metric_sentence(k: int) -> str:
    """What each ranking metric means, in one sentence each."""
    return (
        f"P@{k}: of the {k} artists shown to a listener, the share that are among their held-out "
        f"artists. R@{k}: of their held-out artists, the share shown. NDCG@{k}: the same hits "
        "weighted by place, so a hit at the top counts most (1 = the held-out artists fill the top "
        "places). Coverage: the share of the catalogue that appears in anyone's list."
    )


def _recommender_section(implicit: dict[str, Any] | None) -> str:
    """The model that recommends: what it is and the settings it was fitted with."""
    if not implicit:
        return ""
    shown = [(name, implicit[name]) for name in _SHOWN_SETTINGS if name in implicit]
    settings = ", ".join(
        f"<code>{html.escape(name)}</code> {value:.4g}"
        if isinstance(value, float)
        else f"<code>{html.escape(name)}</code> {html.escape(str(value))}"
        for name, value in shown
    )
    return f"""<h2>The recommending model</h2>
<p>What listeners get: the same factor model trained on every listener-artist pair, played or
not (implicit feedback, a confidence of <code>1 + alpha * log1p(plays)</code> per played pair,
solved by alternating least squares). It was fitted with {settings}
(<code>data/06_models/implicit_settings.json</code>: the search's choice unless training ran with
fixed settings; a value given with <code>--params</code> beats it).</p>
"""


PROTOCOL_SENTENCES = {
    "shipped": (
        "The implicit model measured is the one shipped: fitted without the ranked listeners' "
        "held-out pairs, which were added back to their rows afterwards."
    ),
    "fold_in": (
        "The ranked listeners were left out of the implicit model's fit and solved from their "
        "visible pairs against its artists (strong generalisation); the shipped model then "
        "solves them again on everything they played."
    ),
    "refit": (
        "The models were fitted again on the visible pairs for this measurement; the shipped "
        "implicit model is fitted on every pair."
    ),
}


def protocol_sentence(protocol: dict[str, Any]) -> str:
    """Which fit the ranking measured (``training.recommending.ranking.protocol``)."""
    return PROTOCOL_SENTENCES.get(protocol.get("protocol", "refit"), "")


def _ranking_section(ranking: dict[str, Any], search: dict[str, Any]) -> str:
    """The recommending model's holdout ranking against the baselines, and how it was tuned."""
    protocol = ranking["protocol"]
    rating = (
        " The rating objective learns only from played pairs, never what people do not play, so "
        "it ranks below the popularity chart; the implicit objective counts every unplayed pair "
        "as a weak zero."
        if "rating" in ranking["models"]
        else ""
    )
    return f"""<h2>Recommending: top-{protocol["k"]} ranking</h2>
<p>{html.escape(metric_sentence(protocol["k"]))}</p>
<p>{protocol["holdout_fraction"]:.0%} of each ranked listener's artists held out; every artist the
listener did not play in training is ranked ({protocol["users"]:,} listeners,
{protocol["artists"]:,} artists). {html.escape(protocol_sentence(protocol))}{html.escape(rating)}
Coverage: the share of all artists that appear in anyone's top list.</p>
{_table(ranking_table(ranking))}
<h3>Tuning the recommending model</h3>
<p>{html.escape(search_sentence(search))} Its settings are never chosen on the holdout
above: the search scores a second split cut from the pairs that holdout lets a model see.</p>
"""


def beyond_findings(ranking: dict[str, Any]) -> list[str]:
    """One sentence per finding: whom the lists serve worst, how popular they are, the knob."""
    k, models = ranking["protocol"]["k"], ranking["models"]
    if "groups" not in ranking:
        return []
    names = {"mainstreaminess": "mainstreaminess", "activity": "activity (artists played)"}
    found = []
    for split, worst in ranking.get("worst_served", {}).items():
        found.append(
            f"By {names[split]}, the {worst['group']} third is served worst: NDCG@{k} "
            f"{worst[f'ndcg@{k}']:.3f}, {worst['gap']:.0%} below the {worst['best_group']} third."
        )
    ours, chart = models["implicit"], models["popularity"]
    found.append(
        f"The recommending model's lists average a reach of {ours['arp']:.3f} of listeners against "
        f"{chart['arp']:.3f} for the popularity chart; {ours['aplt']:.1%} of what it shows is from "
        f"the long tail ({ranking['protocol']['long_tail_artists']:,} artists outside the short head "
        f"that holds {ranking['protocol']['head_share']:.0%} of plays)."
    )
    points = sorted(ranking["tradeoff"].values(), key=lambda p: p["penalty"])
    if len(points) > 1:
        base, mid = points[0], points[len(points) // 2]
        found.append(
            f"A popularity penalty of {mid['penalty']:g} moves the long-tail share from "
            f"{base['aplt']:.1%} to {mid['aplt']:.1%} and coverage from {base['coverage']:.3f} to "
            f"{mid['coverage']:.3f} for {1 - mid[f'ndcg@{k}'] / base[f'ndcg@{k}']:.0%} of NDCG@{k} "
            "(training.recommending.recommend.popularity_penalty; 0 today)."
        )
    return found


def _beyond_section(ranking: dict[str, Any]) -> str:
    """Popularity bias, novelty, diversity and quality per listener group."""
    findings = beyond_findings(ranking)
    if not findings:
        return ""
    items = "".join(f"<li>{html.escape(s)}</li>" for s in findings)
    return f"""<h2>Beyond accuracy</h2>
<ul>{items}</ul>
<p>ARP: the mean share of listeners who play a recommended artist; long-tail share: of the lists,
artists outside the short head; novelty: the mean <code>-log2</code> of that share; Gini and entropy:
how evenly all recommendations spread over the artists; diversity: 1 - the mean cosine between a
list's artists in one co-listening embedding shared by every model.</p>
{_table(beyond_table(ranking))}
<h3>Quality per listener group</h3>
<p>{html.escape(ranking["protocol"]["groups"])}.</p>
{_table(groups_table(ranking, "mainstreaminess"))}
{_table(groups_table(ranking, "activity"))}
"""


COLD_LABELS = {
    "implicit": "PMF, implicit objective (vectors from tags)",
    "tag_profile": "tag profile (listener's tag shares x the artist's)",
    "active_listeners": "most active listeners",
    "random": "random",
}


def _side_section(cold: dict[str, Any] | None, tag_only: pd.DataFrame | None) -> str:
    """Artists too rare to train on: the cold-start check and the artists tags bring in."""
    if not cold or not cold.get("checked"):
        return ""
    k = cold["k"]
    rows = [
        {"scored by": COLD_LABELS.get(name, name), **{m: v for m, v in scores.items()}}
        for name, scores in cold["models"].items()
    ]
    counts = cold["recommendable_artists"]
    examples = ""
    if tag_only is not None and len(tag_only):
        first = tag_only[tag_only["artist_id"].isin(tag_only["artist_id"].unique()[:5])]
        shown = first[first["rank"] <= 3][
            ["artist_name", "artist_tags", "rank", "similar_artist_name", "similarity"]
        ]
        examples = f"<h3>Artists below the filter, placed by their tags</h3>{_table(shown)}"
    return f"""<h2>Tags: artists too rare to train on</h2>
<p>{cold["held_out_artists"]:,} tagged artists were held out entirely (all their plays, and the tags
their own listeners gave them); the model gave each a vector from the tags others gave it, then
ranked every listener for it. Recall@{k} and NDCG@{k} of each artist's real listeners:</p>
{_table(pd.DataFrame(rows))}
<p>Artists that can be recommended or found as similar: {counts["plays_only"]:,} from plays alone,
{counts["with_tags"]:,} with the tags (<code>tag_only_artists.parquet</code>, flagged
<code>from_tags</code>).</p>
{examples}
"""


def render_report(content: ReportContent) -> str:
    """One page that explains the run without the code: parameters, data, figures, metrics, artists."""
    summary, metrics, ranking = content.summary, content.metrics, content.ranking
    ranking_note = _bias_note(metrics["best_params"])
    n, table, examples = content.table_rows, content.artists, content.examples
    shown = ["rank", "artist_name", "bias", "listeners", "total_plays", "popularity_rank", "flag"]
    figure_html = "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for title, png in content.figures.items()
    )
    files, parameters = content.files, content.parameters
    split = summary["split"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>music-recommender run report</title>
<style>{_CSS}</style></head><body>
<h1>music-recommender: run report</h1>
{_run_line(content.run)}
<p>Last.fm listeners' play counts turned into artist recommendations. First the model that
recommends and how well it ranks artists a listener went on to play; then the article's rating
model (probabilistic matrix factorisation of the play counts), the data, the figures and the
run's parameters.</p>
{_recommender_section(content.implicit)}
{_ranking_section(ranking, content.search)}<h3>Example listeners</h3>
<p>A few listeners' most-played artists beside what the model recommends them.</p>
{_table(examples)}
{_beyond_section(ranking)}
{_side_section(content.cold_start, content.tag_only)}
<h2>The article's rating model</h2>
<p>Probabilistic matrix factorisation of Last.fm play counts: each (user, artist) rating is predicted
as <code>mean + user bias + artist bias + user vector · artist vector</code>, trained on
{split["train"]:,} ratings, {_validation(split["validation"])}, tested on {split["test"]:,}.</p>
<h3>Test metrics</h3>
<p>Mean squared error (MSE) on the held-out test ratings, on the normalised scale
(<code>{html.escape(str(summary["normalisation"]["method"]))}</code>): the mean of the squared
gap between predicted and true rating, lower is better; beside two baselines that use no factors.
{html.escape(_verdict(metrics))}</p>
{_table(metrics_table(metrics), "{:.4f}")}
<p>{metrics["epochs"]} epochs trained; the weights kept are those of epoch {metrics["kept_epoch"]}.</p>
<h2>Data</h2>
<p>The play counts as read, and after the sparsity filter the model trains on.</p>
{_table(facts_table(summary), "{:,.1f}")}
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
<p>Paths relative to the project. Versioned outputs keep one folder per run, named by the run
version at the top of this page.</p>
{_table(files)}
</body></html>
"""
