"""Reporting nodes on small inputs: figure axes and labels, the bias table, the HTML page."""

from __future__ import annotations

import base64
import io
import logging
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

import music_recommender.pipelines.reporting.labels as labels_module
import music_recommender.pipelines.reporting.page as page_module
from music_recommender.pipelines.reporting.figures import (
    plot_artist_map,
    plot_bias_distribution,
    plot_grid_search,
    plot_lr_range_test,
    plot_training_loss,
)
from music_recommender.pipelines.reporting.page import (
    FIGURE_TITLES,
    build_report,
    embed_figures,
)
from music_recommender.pipelines.reporting.tables import (
    BiasReportParams,
    artist_bias_table,
    example_listeners,
)
from music_recommender.pmf import PMF
from music_recommender.pmf.recommender import ImplicitRecommender

PARAMS = BiasReportParams(flag_gap=0.5, table_rows=3, named=2, map_labels=2)
SEARCH = {
    "settings": {"alpha": 27.5, "n_factors": 128, "plays_scale": "user_median"},
    "validation": {
        "ndcg@10": 0.2168,
        "coverage": 0.438,
        "conf_ndcg@10": 0.2154,
        "conf_coverage": 0.341,
        "gain_over_conf": 0.0066,
    },
    "trials": {"total": 30, "best": 15, "feasible": 11, "complete": 16, "pruned": 14},
    "seconds": 21.7,
    "protocol": {"k": 10, "coverage_floor": 0.3, "listeners": 1881},
}


@pytest.fixture
def biases() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 12
    return pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "artist_id": np.arange(100, 100 + n),
            "artist_index": np.arange(n),
            "artist_name": [f"Artist {i}" for i in range(n - 1)] + ["浜崎あゆみ"],
            "bias": np.sort(rng.normal(0, 1, n))[::-1],
            "listeners": [5, 300, 200, 6, 50, 40, 30, 20, 10, 400, 8, 7],
            "total_plays": rng.integers(100, 10_000, n),
        }
    )


def _texts(fig: Figure) -> str:
    return " ".join(
        t.get_text()
        for ax in fig.axes
        for t in [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]
    )


def test_lr_plot_has_log_rate_axis_and_marks_the_suggestion() -> None:
    lrs = list(np.logspace(-6, 0, 50))
    curve = [1 - 0.5 * np.exp(-((np.log10(x) + 1) ** 2)) for x in lrs]
    test = {
        "lr": lrs,
        "loss": curve,
        "smoothed_loss": curve,
        "suggested_lr": 0.1,
        "optimizer": "sgd",
    }
    fig = plot_lr_range_test(test, {"best_params": {"schedule": [[0.1, 3], [0.05, 3]]}})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "learning rate" in ax.get_xlabel() and ax.get_ylabel() == "MSE"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "suggested rate 0.1" in legend
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"] == [0.1]
    # Training that does not start at the suggested rate: the figure says so.
    fig = plot_lr_range_test(test, {"best_params": {"schedule": [[0.05, 3]]}})
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "suggested rate 0.1 (not used)" in legend and "training's first rate 0.05" in legend


def test_grid_plot_one_line_per_l2_and_the_choice_marked() -> None:
    grid = pd.DataFrame(
        {
            "n_factors": [20, 40, 20, 40],
            "l2": [0.1, 0.1, 1.0, 1.0],
            "val_loss": [0.5, 0.4, 0.45, 0.42],
            "epochs": 3,
            "lr": 0.1,
        }
    )
    fig = plot_grid_search(grid, {"n_factors": 40, "l2": 0.1, "val_loss": 0.4})
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    assert "latent size" in ax.get_xlabel() and "validation" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "chosen: 40 factors, L2 0.1" in labels


def test_training_plot_shades_each_stage() -> None:
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4],
            "stage": [0, 0, 1, 1],
            "lr": [0.1, 0.1, 0.01, 0.01],
            "train_loss": [1.0, 0.8, 0.7, 0.65],
            "val_loss": [0.9, 0.85, 0.8, 0.82],
            "best": [False, False, True, False],
            "kept": [False, False, True, False],
        }
    )
    fig = plot_training_loss(history)
    ax = fig.axes[0]
    assert len(ax.patches) == 2  # one shaded span per stage
    assert {t.get_text() for t in ax.texts} == {"lr 0.1", "lr 0.01"}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "train",
        "validation",
        "kept (best validation)",
    ]
    assert ax.get_xlabel() == "epoch"


def test_training_plot_says_when_the_kept_epoch_is_not_the_best() -> None:
    # No early stopping: the last epoch is kept although an earlier one validated better.
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "stage": [0, 0, 0],
            "lr": [0.1] * 3,
            "train_loss": [1.0, 0.8, 0.7],
            "val_loss": [0.9, 0.8, 0.85],
            "best": [False, True, False],
            "kept": [False, False, True],
        }
    )
    legend = plot_training_loss(history).axes[0].get_legend().get_texts()
    assert [t.get_text() for t in legend] == [
        "train",
        "validation",
        "kept (last epoch)",
        "best validation",
    ]


def test_training_plot_without_validation() -> None:
    history = pd.DataFrame(
        {
            "epoch": [1, 2],
            "stage": [0, 0],
            "lr": [0.1, 0.1],
            "train_loss": [1.0, 0.9],
            "val_loss": [np.nan, np.nan],
            "best": [False, False],
            "kept": [False, True],
        }
    )
    assert [t.get_text() for t in plot_training_loss(history).axes[0].get_legend().get_texts()] == [
        "train"
    ]


def test_bias_table_sorted_with_columns_and_flags(biases: pd.DataFrame) -> None:
    table = artist_bias_table(biases.sample(frac=1, random_state=1), PARAMS)
    assert list(table.columns) == [
        "rank",
        "artist_id",
        "artist_name",
        "bias",
        "listeners",
        "total_plays",
        "popularity_rank",
        "flag",
    ]
    assert table["bias"].is_monotonic_decreasing and table["rank"].tolist() == list(range(1, 13))
    # Highest bias, 5 listeners (popularity rank 12 of 12): far above its reach.
    assert table.iloc[0]["flag"] == "over-rated" and table.iloc[0]["popularity_rank"] == 12
    # Most listeners (400) but bias rank 10: far below.
    top = table.set_index("listeners").loc[400]
    assert top["popularity_rank"] == 1 and top["flag"] == "under-rated"
    assert set(table["flag"]) <= {"", "over-rated", "under-rated"}


def test_bias_params_validate() -> None:
    with pytest.raises(ValueError, match=r"reporting\.artist_bias\.flag_gap"):
        BiasReportParams(flag_gap=1.5)


def test_bias_distribution_names_top_and_bottom(biases: pd.DataFrame) -> None:
    table = artist_bias_table(biases, PARAMS)
    fig = plot_bias_distribution(table, PARAMS)
    text = _texts(fig)
    for name in list(table["artist_name"].head(2)) + list(table["artist_name"].tail(2)):
        assert name in text
    assert "Highest bias" in text and "Lowest bias" in text
    assert "bias" in fig.axes[0].get_xlabel()


def test_artist_map_labels_without_overlap(biases: pd.DataFrame) -> None:
    torch.manual_seed(0)
    model = PMF(3, 12, n_factors=4)
    artist_map = biases[["artist_id", "artist_index", "artist_name"]]
    ranker = ImplicitRecommender().set_model(model)
    fig = plot_artist_map(ranker, artist_bias_table(biases, PARAMS), artist_map, PARAMS)
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("PC 1") and ax.get_ylabel().startswith("PC 2")
    labels = [t for t in ax.texts if t.get_text()]
    assert labels, "the most-listened and highest-bias artists are labelled"
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    for t in labels:
        t.update_positions(renderer)
    boxes = [Text.get_window_extent(t, renderer) for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_report_has_every_figure_table_and_file(biases: pd.DataFrame) -> None:
    summary = {
        "raw": {
            "rows": 10,
            "users": 3,
            "artists": 4,
            "density_percent": 83.3,
            "weight": {"mean": 5.0, "std": 1.0, "max": 9.0},
        },
        "filtered": {
            "rows": 8,
            "users": 3,
            "artists": 3,
            "density_percent": 88.9,
            "weight": {"mean": 5.0, "std": 1.0, "max": 9.0},
        },
        "split": {"train": 6, "validation": 1, "test": 1},
        "normalisation": {"method": "log_zscore"},
    }
    metrics = {
        "test_mse": 0.34,
        "test_rmse": 0.58,
        "baseline_bias_mse": 0.36,
        "baseline_bias_rmse": 0.6,
        "baseline_global_mse": 1.0,
        "baseline_global_rmse": 1.0,
        "epochs": 9,
        "best_epoch": 9,
        "kept_epoch": 9,
        "best_params": {"n_factors": 4, "item_bias_ridge": 15.0},
    }
    image = Image.new("RGB", (4, 3), "white")
    figures = {key: image for key in FIGURE_TITLES}
    table = artist_bias_table(biases, PARAMS)
    ranking = {
        "models": {
            name: {
                "precision@10": 0.2,
                "recall@10": 0.25,
                "ndcg@10": 0.28,
                "map@10": 0.15,
                "coverage": 0.4,
            }
            for name in ("implicit", "rating", "popularity")
        },
        "protocol": {"k": 10, "holdout_fraction": 0.2, "users": 3, "artists": 4},
    }
    examples = pd.DataFrame(
        {"user_id": ["2"], "most played": ["Artist 1 (5)"], "recommended": ["Artist 2"]}
    )
    page = build_report(
        summary,
        metrics,
        {"n_factors": 4},
        {"normalisation": "log_zscore"},
        table,
        {"metrics": "data/08_reporting/metrics.json"},
        PARAMS,
        ranking,
        SEARCH,
        {"alpha": 27.5, "n_factors": 128},
        examples,
        {
            "version": "2026-11-29T01.00.00.000Z",
            "started": "2026-11-29 01:00 UTC",
            "environment": "demo",
            "data": "data/01_raw/synthetic-demo",
            "commit": "abc1234",
        },
        **figures,
    )
    for fact in ("2026-11-29T01.00.00.000Z", "2026-11-29 01:00 UTC", "demo", "synthetic-demo"):
        assert fact in page
    assert "abc1234" in page
    assert "The factors beat the bias-only baseline by 5.6%" in page
    assert page.startswith("<!DOCTYPE html>")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(FIGURE_TITLES)
    assert Image.open(io.BytesIO(base64.b64decode(images[0]))).size == (4, 3)
    for title in FIGURE_TITLES.values():
        assert title in page
    for name in list(table["artist_name"].head(3)) + list(table["artist_name"].tail(3)):
        assert name in page
    assert "0.3400" in page and "0.3600" in page and "1.0000" in page  # model and both baselines
    assert "data/08_reporting/metrics.json" in page
    assert "ridge penalty of 15" in page  # how the ranking was made
    assert "PMF, implicit objective" in page and "NDCG@10" in page and "Artist 2" in page
    # which setting the search chose, what it gained over conf, and the settings used
    assert "tried 30 settings (14 pruned early)" in page and "(+0.7%)" in page
    assert "implicit.alpha" in page
    # it leads with the model that recommends, its settings, and says what the metrics mean
    first, rating = page.index("<h2>The recommending model</h2>"), page.index("rating model</h2>")
    assert first < page.index("<h2>Recommending: top-10 ranking</h2>") < rating
    assert first < page.index("<h3>Example listeners</h3>") < rating
    assert "<code>alpha</code> 27.5" in page[first:rating]
    assert "NDCG@10: the same hits weighted by place" in page and "P@10: of the 10 artists" in page
    assert "Mean squared error (MSE)" in page[rating:]
    assert "artists too rare to train on" not in page  # no side files: no such section


def test_the_page_shows_the_cold_start_check_and_the_tag_only_artists() -> None:
    cold = {
        "checked": True, "held_out_artists": 283, "k": 10,
        "models": {"implicit": {"recall@10": 0.164, "ndcg@10": 0.268},
                   "random": {"recall@10": 0.008, "ndcg@10": 0.015}},
        "recommendable_artists": {"plays_only": 2828, "with_tags": 11834},
    }  # fmt: skip
    tag_only = pd.DataFrame(
        {
            "artist_id": [1, 1], "artist_name": ["MALICE MIZER"] * 2,
            "artist_tags": ["j-rock, visual kei"] * 2, "rank": [1, 2],
            "similar_artist_id": [8, 9], "similar_artist_name": ["DIR EN GREY", "X JAPAN"],
            "similarity": [0.9, 0.8], "from_tags": [True, True],
        }
    )  # fmt: skip
    section = page_module._side_section(cold, tag_only)
    assert "283 tagged artists were held out entirely" in section
    assert "2,828 from plays alone" in section and "11,834 with the tags" in section
    assert "0.164" in section and "MALICE MIZER" in section and "DIR EN GREY" in section
    assert page_module._side_section({"checked": False}, None) == ""


def test_the_page_says_when_the_factors_do_not_beat_the_baseline_and_formats_numbers() -> None:
    metrics = {"test_mse": 0.3374, "baseline_bias_mse": 0.3357}
    assert "do not beat the bias-only baseline" in page_module._verdict(metrics)
    assert "no validation split" in page_module._validation(0)
    assert page_module._cell(352698.0, "{:,.1f}") == '<td class="num">352,698</td>'
    assert page_module._cell(5.25, "{:,.1f}") == '<td class="num">5.2</td>'
    assert page_module._flatten({"l2": 0.3381254787819255}) == [("l2", "0.338125")]


def test_report_rejects_unknown_figures(biases: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no title for figure"):
        embed_figures(mystery=Image.new("RGB", (1, 1)))


def test_example_listeners_show_history_and_recommendations() -> None:
    interactions = pd.DataFrame(
        {"user_id": [2, 2, 2, 9], "artist_id": [1, 2, 3, 1], "weight": [5.0, 50.0, 7.0, 1.0]}
    )
    artist_map = pd.DataFrame({"artist_id": [1, 2, 3, 4], "artist_name": ["A", "B", "C", "D"]})
    recs = pd.DataFrame(
        {
            "user_id": [2, 9, 9],
            "rank": [1, 2, 1],
            "artist_id": [4, 3, 2],
            "artist_name": ["D", "C", "B"],
        }
    )
    table = example_listeners(interactions, artist_map, recs, n_users=2, n_items=2)
    assert table.to_dict("records") == [
        {"user_id": "2", "most played": "B (50), C (7)", "recommended": "D"},
        {"user_id": "9", "most played": "A (1)", "recommended": "B, C"},
    ]
    # With the side files: each recommended artist with its most assigned tags.
    indexed = artist_map.assign(artist_index=range(4))
    tag_input = pd.DataFrame(
        {"user_index": [0, 0, 1, 0], "artist_index": [3, 3, 3, 1], "tag_index": [0, 1, 1, 1]}
    )
    tag_map = pd.DataFrame({"tag_index": [0, 1], "tag": ["jazz", "rock"]})
    tagged = example_listeners(interactions, indexed, recs, 2, 2, tag_input, tag_map, 2)
    assert tagged["recommended"].tolist() == ["D (rock, jazz)", "B (rock), C"]


def test_cjk_names_without_a_cjk_font_give_one_warning_not_a_flood(monkeypatch, caplog) -> None:
    monkeypatch.setattr(labels_module, "name_fonts", lambda: ["DejaVu Sans"])
    with caplog.at_level(logging.WARNING):
        assert labels_module.check_name_fonts(["Björk", "浜崎あゆみ", "宇多田ヒカル"]) is False
    assert "2 artist name(s) in CJK scripts (e.g. 浜崎あゆみ)" in caplog.text
    assert "fonts-noto-cjk" in caplog.text
    assert labels_module.check_name_fonts(["Björk", "Сплин"])  # DejaVu covers these
    monkeypatch.setattr(labels_module, "name_fonts", lambda: ["DejaVu Sans", "Noto Sans CJK JP"])
    assert labels_module.check_name_fonts(["浜崎あゆみ"])
    # matplotlib's per-glyph warnings are filtered (the one warning above replaces them).
    assert any(
        action == "ignore" and message is not None and "Glyph" in message.pattern
        for action, message, *_ in warnings.filters
    )
