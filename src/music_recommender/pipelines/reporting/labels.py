"""Artist-name labels on figures: fonts for every script, and placement that avoids overlaps."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable

import numpy as np
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

# Artist names come in many scripts: fall back to a CJK font where one is installed
# (e.g. Debian's fonts-wqy-zenhei or fonts-noto-cjk); DejaVu Sans covers Latin, Greek, Cyrillic.
_NAME_FONTS = ("DejaVu Sans", "WenQuanYi Zen Hei", "Noto Sans CJK JP", "Droid Sans Fallback")


def name_fonts() -> list[str]:
    """The installed subset of ``_NAME_FONTS`` (asking for a missing one only makes warnings)."""
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in _NAME_FONTS if name in installed] or ["DejaVu Sans"]


logger = logging.getLogger(__name__)
# Han, kana, hangul: the scripts DejaVu Sans lacks and Last.fm names use.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def check_name_fonts(names: Iterable[str]) -> bool:
    """Whether every name can be drawn; if not, one warning naming the font package to install.

    matplotlib would warn once per missing glyph at every save (15 warnings a run on hetrec-2k):
    those are silenced here (the figure is saved by the catalog, after the node), this one
    warning with the fix replaces them.
    """
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)
    cjk = [name for name in names if _CJK.search(str(name))]
    if not cjk or len(name_fonts()) > 1:
        return True
    logger.warning(
        "%d artist name(s) in CJK scripts (e.g. %s) show as boxes in the figures: no CJK font is "
        "installed (Debian: apt-get install fonts-noto-cjk or fonts-wqy-zenhei)",
        len(cjk),
        cjk[0],
    )
    return False


def short(name: str, width: int) -> str:
    name = str(name)
    return name if len(name) <= width else name[: width - 1] + "…"


def place_labels(
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
                family=name_fonts(),
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
