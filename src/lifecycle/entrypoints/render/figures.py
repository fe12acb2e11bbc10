"""The HTML report's figures: matplotlib drawings rendered to inline SVG (ADR 21).

Every figure is drawn on its own :class:`matplotlib.figure.Figure` (no pyplot, so no
global figure state and no GUI backend) under fixed settings, so the same data give the
same bytes: a fixed hash salt for the SVG's ids, no date in its metadata, text kept as
text (no glyphs embedded from whatever fonts the machine has), and matplotlib's own
DejaVu Sans for the layout. Ids are then prefixed with the figure's name, so several
SVGs share one page without clashing.

Colours are the Okabe–Ito palette (distinguishable with the common colour-vision
deficiencies); every series also differs by line style, marker or hatch, so a page
printed in black and white still tells them apart.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Any, Final, ParamSpec

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MaxNLocator, PercentFormatter

OKABE_ITO: Final = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
                    "#F0E442", "#000000")
"""Okabe & Ito (2008), blue first: the order series take their colours in."""
LINE_STYLES: Final = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)),
                      (0, (8, 2)), (0, (3, 1, 1, 1)))
MARKERS: Final = ("o", "s", "^", "D", "v", "P", "X", "*")
HATCHES: Final = ("", "///", "...", "xxx", "\\\\\\", "+++", "---", "ooo")
MAX_SERIES: Final = len(OKABE_ITO)
"""Series one figure can tell apart (more groups are listed in tables only)."""
INK: Final = "#222222"
GRID: Final = "#d9d9d9"

_STYLE: Final[dict[str, Any]] = {
    "svg.hashsalt": "lifecycle-report",
    "svg.fonttype": "none",
    "svg.image_inline": True,
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "axes.titlesize": 10.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
    "hatch.linewidth": 0.8,
    "hatch.color": INK,
    "legend.frameon": False,
    "path.simplify": True,
}
_ID: Final = re.compile(r'\bid="([^"]+)"')
_REF: Final = re.compile(r'(url\(#|xlink:href="#|href="#)([^")]+)')


P = ParamSpec("P")


_SETTINGS_LOCK: Final = threading.RLock()
"""matplotlib's settings are global: one thread at a time draws under them (the HTTP
service renders pages on several reader threads; another thread's ``rc_context``
ending mid-drawing would change the bytes)."""


@contextmanager
def style() -> Iterator[None]:
    """The fixed settings every figure is drawn and saved under."""
    with _SETTINGS_LOCK, rc_context(_STYLE):  # type: ignore[arg-type]  # a Literal of keys
        yield


def _styled(draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw under :func:`style` (settings are read when artists are made)."""
    @wraps(draw)
    def drawn(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with style():
            return draw(*args, **kwargs)
    return drawn


def new_figure(width: float = 7.2, height: float = 3.0, **kwargs: Any) -> Figure:
    """A figure of ``width`` × ``height`` inches laid out by the constrained engine."""
    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def to_svg(figure: Figure, name: str, label: str) -> str:
    """The figure as an inline ``<svg>`` element, the same bytes for the same figure.

    Args:
        figure: the drawn figure.
        name: a page-unique slug; every id in the SVG is prefixed with it.
        label: what the figure shows, for assistive technology (``aria-label``).
    """
    buffer = io.StringIO()
    with style():
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # no XML declaration or DOCTYPE inside HTML
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    text = _ID.sub(lambda m: f'id="{name}-{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{name}-{m.group(2)}", text)
    # Scale with the page: keep the viewBox, let CSS set the size.
    text = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"',
                  lambda m: f'<svg{m.group(1)} class="figure" role="img" '
                            f'aria-label="{_attr(label)}"', text, count=1)
    return text.strip()


def _attr(value: str) -> str:
    return (value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


# --------------------------------------------------------------------------- survival
@dataclass(frozen=True)
class Curve:
    """One Kaplan–Meier curve to draw: the rows of ``dropouts.survival_curve``."""

    label: str
    times: Sequence[int]
    estimates: Sequence[float]
    lower: Sequence[float]
    upper: Sequence[float]


@_styled
def survival(curves: Sequence[Curve], ticks: Sequence[int],
             risk_rows: Sequence[tuple[str, Sequence[str]]], *,
             suppressed: bool = False) -> Figure:
    """Kaplan–Meier curves with their 95 % bands, and under them the number-at-risk
    table at ``ticks`` (KMunicate: one row per line of ``risk_rows``, a label and one
    cell per tick); ``suppressed`` says in its title what "[c]" means."""
    rows = len(risk_rows)
    figure = new_figure(7.2, 3.4 + 0.22 * rows)
    ax, table = figure.subplots(2, 1, sharex=True,
                                height_ratios=(3.2, 0.25 + 0.22 * rows))
    right = max(ticks[-1], max((c.times[-1] for c in curves if c.times), default=0))
    for i, curve in enumerate(curves):
        colour = OKABE_ITO[i % MAX_SERIES]
        times = list(curve.times)
        # Several bands overlap: fainter, so the curves stay readable.
        ax.fill_between(times, curve.lower, curve.upper, step="post", color=colour,
                        alpha=0.18 if len(curves) == 1 else 0.08, linewidth=0)
        ax.step(times, curve.estimates, where="post", color=colour,
                linestyle=LINE_STYLES[i % MAX_SERIES], linewidth=1.8,
                label=curve.label)
        if times:
            ax.plot(times[-1:], curve.estimates[-1:], marker=MARKERS[i % MAX_SERIES],
                    color=colour, markersize=4.5, linestyle="none")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, right * 1.02 if right else 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("relationships still running")
    ax.set_xticks(list(ticks))
    ax.tick_params(axis="x", labelbottom=True)
    if len(curves) > 1:
        ax.legend(loc="lower left", ncols=2, fontsize=8)
    ax.set_xlabel("active days")
    table.set_axis_off()
    table.set_ylim(rows, -0.6)
    title = "Number at risk (events, censored before)"
    table.text(0, -0.6, title + ("; [c] suppressed" if suppressed else ""), fontsize=8,
               fontweight="bold", transform=table.get_yaxis_transform(), ha="left",
               va="center", color=INK)
    for row, (label, cells) in enumerate(risk_rows):
        table.text(-0.06, row + 0.4, label, transform=table.get_yaxis_transform(),
                   ha="right", va="center", fontsize=8, color=INK)
        for tick, cell in zip(ticks, cells, strict=True):
            table.text(tick, row + 0.4, cell, ha="center", va="center", fontsize=8,
                       color=INK)
    return figure


# --------------------------------------------------------------------------- bars
# The bar figures are laid out by hand: margins measured from their own labels. The
# constrained layout engine would draw each figure twice (once to measure, once to
# save), which doubled the time of a page (bench P10).
_PAD: Final = 0.12
"""Inches between a figure's edge and its outermost text."""
_TICK: Final = 0.1
"""Inches taken by a tick and the gap to its label."""
_LINE: Final = 0.2
"""Inches of one line of 9-point text (an axis label)."""


def _text_width(labels: Iterable[str], size: float = 9.0) -> float:
    """The width in inches of the widest of ``labels`` in DejaVu Sans at ``size`` points."""
    font = FontProperties(family="DejaVu Sans", size=size)
    return max((text_to_path.get_text_width_height_descent(label, font, ismath=False)[0]
                for label in labels), default=0.0) / 72


def _label_depth(labels: Sequence[str], rotation: float) -> float:
    """The height in inches that tick labels rotated by ``rotation`` degrees take."""
    angle = math.radians(rotation)
    return _text_width(labels) * math.sin(angle) + 0.13 * math.cos(angle)


def _numbers_width(values: Sequence[float], percent: bool) -> float:
    """The width of the widest tick label a value axis up to ``max(values)`` gets."""
    top = max(values, default=0)
    return _text_width(["100%"] if percent else [f"{top * 1.1:.0f}", "0"])


def _place(figure: Figure, *, left: float, bottom: float, right: float = _PAD,
           top: float = _PAD) -> None:
    """Fix the axes' margins (inches from each edge)."""
    width, height = figure.get_size_inches()
    figure.subplots_adjust(left=left / width, right=1 - right / width,
                           bottom=bottom / height, top=1 - top / height)


def _value_axis(ax: Axes, horizontal: bool, percent: bool, empty: bool) -> None:
    axis = ax.xaxis if horizontal else ax.yaxis
    if empty:  # nothing to count: a plain axis from 0, not one around it
        (ax.set_xlim if horizontal else ax.set_ylim)(0, 1)
    if percent:
        axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        (ax.set_xlim if horizontal else ax.set_ylim)(0, 1)
    else:
        axis.set_major_locator(MaxNLocator(integer=True))


def _mark_suppressed(ax: Axes, values: Sequence[float | None], horizontal: bool) -> None:
    """Say "suppressed" where a published value was left out (its bar has no length)."""
    for i, value in enumerate(values):
        if value is None:
            ax.annotate("suppressed", (0, i) if horizontal else (i, 0),
                        xytext=(4, 0) if horizontal else (0, 3), textcoords="offset points",
                        ha="left" if horizontal else "center",
                        va="center" if horizontal else "bottom",
                        rotation=0 if horizontal else 90, fontsize=7, fontstyle="italic",
                        color=INK)


@_styled
def bars(labels: Sequence[str], values: Sequence[int | float | None], *,
         horizontal: bool = False, value_label: str = "duos", percent: bool = False,
         colour: str = OKABE_ITO[0], width: float = 7.2,
         height: float | None = None) -> Figure:
    """One series of bars; a None (suppressed) value is marked as such."""
    shown = [0 if v is None else v for v in values]
    figure = Figure(figsize=(width, height or (0.75 + 0.28 * len(labels) if horizontal
                                               else 2.8)))
    ax = figure.subplots()
    positions = list(range(len(labels)))
    if horizontal:
        ax.barh(positions, shown, color=colour, height=0.65)
    else:
        ax.bar(positions, shown, color=colour, width=0.7)
    _mark_suppressed(ax, values, horizontal)
    rotation = 45 if not horizontal and len(labels) > 8 else 0
    if horizontal:
        ax.set_yticks(positions, list(labels))
        ax.invert_yaxis()
        ax.set_xlabel(value_label)
        ax.grid(axis="y", visible=False)
        _place(figure, left=_PAD + _text_width(labels) + _TICK,
               bottom=_PAD + _TICK + 0.15 + _LINE, right=0.3)
    else:
        ax.set_xticks(positions, list(labels), rotation=rotation,
                      ha="right" if rotation else "center")
        ax.set_ylabel(value_label)
        ax.grid(axis="x", visible=False)
        _place(figure, left=_PAD + _LINE + _numbers_width(shown, percent) + _TICK,
               bottom=_PAD + _TICK + _label_depth(labels, rotation))
    _value_axis(ax, horizontal, percent, not any(shown))
    return figure


@_styled
def stacked(categories: Sequence[str], series: Sequence[tuple[str, Sequence[int | None]]],
            *, value_label: str = "duos", horizontal: bool = False,
            share: bool = False, width: float = 7.2, height: float | None = None,
            colours: Sequence[str] = OKABE_ITO) -> Figure:
    """Stacked bars, one bar per category and one hatched colour per series; a
    suppressed (None) part is left out of its bar. With ``share``, each bar shows
    shares of its own total; ``colours`` are the series' colours in order."""
    figure = Figure(figsize=(width, height or (1.2 + 0.3 * len(categories) if horizontal
                                               else 3.0)))
    ax = figure.subplots()
    positions = list(range(len(categories)))
    totals = [sum(v or 0 for v in (s[1][i] for s in series)) for i in positions]
    base = [0.0] * len(categories)
    for k, (label, values) in enumerate(series):
        heights = [0.0 if v is None else (v / totals[i] if share and totals[i] else float(v))
                   for i, v in enumerate(values)]
        style: dict[str, Any] = {"color": colours[k % len(colours)],
                                 "hatch": HATCHES[k % MAX_SERIES], "edgecolor": "white",
                                 "linewidth": 0.4, "label": label}
        if horizontal:
            ax.barh(positions, heights, left=base, height=0.7, **style)
        else:
            ax.bar(positions, heights, bottom=base, width=0.8, **style)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    names = [label for label, _ in series]
    if horizontal:
        ax.set_yticks(positions, list(categories))
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(value_label)
        figure.legend(loc="lower center", ncols=min(len(series), 5), fontsize=8,
                      bbox_to_anchor=(0.5, 0.0))
        _place(figure, left=_PAD + _text_width(categories) + _TICK,
               bottom=_PAD + _TICK + 0.15 + _LINE + 0.3, right=0.3)
    else:
        step = max(1, len(categories) // 12)
        shown = list(categories)[::step]
        rotation = 45 if len(categories) > 6 else 0
        ax.set_xticks(positions[::step], shown, rotation=rotation,
                      ha="right" if rotation else "center")
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(value_label)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        _place(figure, left=_PAD + _LINE + _numbers_width(base, share) + _TICK,
               bottom=_PAD + _TICK + _label_depth(shown, rotation),
               right=_PAD + _text_width(names, 8) + 0.45)
    _value_axis(ax, horizontal, share, not any(base))
    return figure


@_styled
def histogram(edges: Sequence[str], counts: Sequence[int | None], *, value_label: str,
              threshold: int | None = None, threshold_label: str = "") -> Figure:
    """Bars of a binned distribution (labels of the bins in ``edges``); with
    ``threshold`` (a bin index), a dashed line before that bin, and the bins before it
    hatched (for instance: below a benchmark)."""
    shown = [0 if c is None else c for c in counts]
    figure = Figure(figsize=(7.2, 2.9))
    ax = figure.subplots()
    positions = list(range(len(edges)))
    drawn = ax.bar(positions, shown, width=0.92, color=OKABE_ITO[0])
    _mark_suppressed(ax, counts, False)
    for i, (patch, count) in enumerate(zip(drawn.patches, counts, strict=True)):
        if count is not None and threshold is not None and i < threshold:
            patch.set_facecolor(OKABE_ITO[1])
            patch.set_hatch("\\\\\\")
    if threshold is not None:
        ax.axvline(threshold - 0.5, color=INK, linestyle="--", linewidth=1.2)
        ax.text(threshold - 0.45, 0.97, threshold_label, transform=ax.get_xaxis_transform(),
                ha="left", va="top", fontsize=8, color=INK)
    ax.set_xticks(positions, list(edges), rotation=30, ha="right")
    ax.set_xlabel(value_label)
    ax.set_ylabel("duos")
    ax.grid(axis="x", visible=False)
    _value_axis(ax, False, False, not any(shown))
    _place(figure, left=_PAD + _LINE + _numbers_width(shown, False) + _TICK,
           bottom=_PAD + _TICK + _label_depth(edges, 30) + _LINE)
    return figure
