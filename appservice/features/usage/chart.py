"""The report as one PNG: adoption per department, the off-hours trend (does the quiet rule
work?) and the warnings trend. Japanese labels are drawn with IPAexGothic, the font that the
`matplotlib-fontja` package ships (a dependency), so every machine renders the same glyphs
and never tofu boxes; `font` overrides it with another CJK font file.

matplotlib is imported on first use (it takes a moment) and drawn with its object API (no
pyplot, no global figure state), under a lock, meant to run in a worker thread.
"""

from __future__ import annotations

import importlib.util
import io
import threading
from collections.abc import Mapping
from pathlib import Path

from appservice.features.usage.groups import OTHER
from appservice.features.usage.report import Report

_LOCK = threading.Lock()
_ADDED: set[str] = set()   # font files registered with matplotlib's font manager
_FONT_FILE = ("fonts", "ipaexg.ttf")
_COLORS = {"bar": "#3b6ea8", "off": "#d9822b", "line": "#a63d40", "pii": "#a63d40",
           "screenshots": "#6b4c9a", "reminders": "#d9822b", "grid": "#dddddd"}


class ChartUnavailable(RuntimeError):
    """No CJK font to draw Japanese with (the report goes out without its chart)."""


def bundled_font() -> Path | None:
    """IPAexGothic from matplotlib-fontja, found without importing it (its import changes
    matplotlib's global settings)."""
    spec = importlib.util.find_spec("matplotlib_fontja")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder).joinpath(*_FONT_FILE)
        if path.is_file():
            return path
    return None


def render(report: Report, labels: Mapping[str, str], *, font: Path | None = None) -> bytes:
    """PNG bytes. `labels`: the locale's texts (title, panel titles, legend, other, total)."""
    font = font or bundled_font()
    if font is None or not font.is_file():
        raise ChartUnavailable("no CJK font (pip install matplotlib-fontja)")
    with _LOCK:
        return _render(report, labels, font)


def _render(report: Report, labels: Mapping[str, str], font: Path) -> bytes:
    from matplotlib import font_manager, rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if str(font) not in _ADDED:
        font_manager.fontManager.addfont(str(font))
        _ADDED.add(str(font))
    family = font_manager.FontProperties(fname=str(font)).get_name()
    rows = report.rows
    names = [labels["other"] if r.group == OTHER else r.group for r in rows]
    # Laid out by hand (no bbox_inches="tight": that draws everything twice — seconds with 80
    # departments): room on the left for the longest department name, the bars' panel grows
    # with the number of departments.
    bars_h = max(2.0, 0.27 * len(rows) + 0.8)
    width, top, bottom = 10.0, 1.0, 0.6
    height = bars_h + 6.6 + top + bottom
    left = min(3.6, 0.35 + 0.14 * max((len(n) for n in names), default=4))
    with rc_context({"font.family": family, "font.size": 10, "axes.unicode_minus": False}):
        fig = Figure(figsize=(width, height), dpi=100)
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(3, 1, height_ratios=[bars_h, 3, 3], hspace=0.9 / ((bars_h + 6) / 3),
                                left=left / width, right=1 - 0.75 / width, top=1 - top / height,
                                bottom=bottom / height)
        fig.suptitle(labels["title"], fontsize=14, y=1 - 0.25 / height)

        ax = fig.add_subplot(grid[0])
        values = [r.adoption or 0.0 for r in rows]
        y = list(range(len(rows)))[::-1]
        ax.barh(y, values, color=_COLORS["bar"], height=0.6)
        ax.set_yticks(y, names)
        ax.set_xlim(0, 115)
        ax.set_xlabel(labels["adoption_axis"])
        ax.set_title(labels["adoption"], loc="left")
        for yy, r, v in zip(y, rows, values, strict=True):
            ax.text(v + 1, yy, f"{v:.0f}%  ({r.active}/{r.staff})", va="center", fontsize=8.5)
        ax.grid(axis="x", color=_COLORS["grid"])

        trend = report.trend
        x = list(range(len(trend)))
        ticks = [p.period.label for p in trend]
        ax2 = fig.add_subplot(grid[1])
        off = [p.counts["off_hours"] for p in trend]
        share = [100.0 * p.counts["off_hours"] / p.counts["messages"] if p.counts["messages"] else float("nan")
                 for p in trend]  # no messages: no point (a gap, not 0 %)
        ax2.bar(x, off, color=_COLORS["off"], width=0.6, label=labels["off_hours"])
        ax2.set_xticks(x, ticks)
        ax2.set_ylim(0, max(4, *off) * 1.35)  # headroom for the legend
        ax2.set_ylabel(labels["count_axis"])
        ax2.set_title(labels["off_trend"], loc="left")
        ax2.grid(axis="y", color=_COLORS["grid"])
        twin = ax2.twinx()
        twin.plot(x, share, color=_COLORS["line"], marker="o", label=labels["off_share"])
        twin.set_ylabel(labels["share_axis"])
        twin.set_ylim(0, max(10.0, *(v for v in share if v == v)) * 1.35)
        handles = ax2.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax2.legend(handles, [labels["off_hours"], labels["off_share"]], loc="upper left", fontsize=9)

        ax3 = fig.add_subplot(grid[2])
        width = 0.26
        kinds = ("pii", "screenshots", "reminders")
        for i, key in enumerate(kinds):
            ax3.bar([v + (i - 1) * width for v in x], [p.counts[key] for p in trend], width=width,
                    color=_COLORS[key], label=labels[key])
        ax3.set_xticks(x, ticks)
        ax3.set_ylim(0, max(4, *(p.counts[k] for p in trend for k in kinds)) * 1.45)
        ax3.set_ylabel(labels["count_axis"])
        ax3.set_title(labels["warnings_trend"], loc="left")
        ax3.legend(loc="upper left", fontsize=9, ncols=3)
        ax3.grid(axis="y", color=_COLORS["grid"])
        for a in (ax2, ax3):
            a.yaxis.set_major_locator(MaxNLocator(integer=True))

        out = io.BytesIO()
        fig.savefig(out, format="png", pil_kwargs={"compress_level": 3})
    return out.getvalue()
