"""Figures beyond CONTRACT §4 that the HTML report draws: duos by state month by month,
and how contact frequency and contact minutes per 30 active days are distributed.

Each is computed from the same per-duo facts as the report
(:func:`projections.report.duo_figures`), so it follows ``as_of``, ``as_at`` and the
programme filter exactly as the report does, and its last point agrees with the report:
the states at ``as_of`` are ``duos.by_state``, the histograms hold
``contacts_per_30_days.n`` duos, and the minute bins from the benchmark up hold
``duos_meeting_benchmark``.

Bins are fixed (not fitted to the data), so two reports can be compared bin by bin and
a bin is a count that publishing can suppress like any other (:func:`publish`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, Final

import numpy as np

from projections.facts import OPEN_STATES
from projections.report import BENCHMARK_MINUTES, Floats, Ints, Source, duo_figures

STATES: Final[tuple[str, ...]] = (*OPEN_STATES, "closed")
CONTACT_BIN_WIDTH: Final = 1
CONTACT_BINS: Final = 10
"""Contacts per 30 active days: bins [0, 1), [1, 2), …, [9, 10), then 10 or more."""
MINUTE_BIN_WIDTH: Final = 60
MINUTE_BINS: Final = 10
"""Minutes per 30 active days: bins [0, 60), …, [540, 600), then 600 or more; the
benchmark (240) is a bin edge, so the bins from it up are the duos meeting it."""


MAX_MONTHS: Final = 240
"""The most months ``states_by_month`` runs over (twenty years): the HTML report draws
and tabulates every one, so an ``as_of`` centuries after the data would make a page of
many megabytes and minutes of work."""


class SeriesTooLong(ValueError):
    """``as_of`` is more than :data:`MAX_MONTHS` months after the first recruitment."""


def months_between(first: date, as_of: date) -> int:
    """How many months ``month_ends(first, as_of)`` gives (0 when ``as_of`` is earlier)."""
    return max(0, (as_of.year - first.year) * 12 + as_of.month - first.month + 1)


def month_ends(first: date, as_of: date) -> list[date]:
    """The last day of each month from ``first``'s to ``as_of``'s, the last one
    replaced by ``as_of`` itself."""
    ends: list[date] = []
    year, month = first.year, first.month
    while (year, month) <= (as_of.year, as_of.month):
        if (year, month) == (as_of.year, as_of.month):
            ends.append(as_of)  # also in December of the last year a date can name
            break
        following = date(year + month // 12, month % 12 + 1, 1)
        ends.append(following - timedelta(days=1))
        year, month = following.year, following.month
    return ends


def states_at(facts: Ints, day: date) -> dict[str, int]:
    """How many of the duos recruited by ``day`` are in each state on ``day`` (the
    rule of ``duos.by_state``: a duo is in the last lifecycle step it reached by then).
    """
    ordinal = day.toordinal()
    recruited, selected, matched, activated, closed = (facts[:, i] for i in range(5))
    counted = recruited <= ordinal
    is_closed = counted & (closed <= ordinal)
    is_active = counted & ~is_closed & (activated <= ordinal)
    is_matched = counted & ~is_closed & ~is_active & (matched <= ordinal)
    is_selected = (counted & ~is_closed & ~is_active & ~is_matched
                   & (selected <= ordinal))
    is_recruited = counted & ~is_closed & ~is_active & ~is_matched & ~is_selected
    masks = (is_recruited, is_selected, is_matched, is_active, is_closed)
    return {state: int(np.count_nonzero(mask)) for state, mask in zip(STATES, masks,
                                                                       strict=True)}


def histogram(values: Floats, width: int, bins: int) -> list[dict[str, Any]]:
    """Counts of ``values`` in ``bins`` bins of ``width`` from 0 and one open bin after:
    ``[{"from", "to" (None for the open bin), "duos"}]``."""
    index = np.minimum(np.floor(values / width), bins).astype(np.int64)
    counts = np.bincount(index, minlength=bins + 1).tolist()
    return [{"from": i * width, "to": (i + 1) * width if i < bins else None,
             "duos": counts[i]} for i in range(bins + 1)]


def build_series(source: Source, as_of: date, programme: str | None = None, *,
                 as_at: datetime | str | None = None) -> dict[str, Any]:
    """Duos by state at each month's end, and the distributions of contact frequency
    and minutes; arguments as :func:`projections.report.build_report`.

    Returns:
        ``{"as_of", "states_by_month": [{"month": "YYYY-MM", "on": DATE, "total",
        <each state>}], "contacts_per_30_days": {"n", "bins"}, "minutes_per_30_days":
        {"n", "benchmark_minutes", "meeting_benchmark", "bins"}}``, each list of bins
        as :func:`histogram` gives it; ``states_by_month`` runs from the month of the
        first recruitment to ``as_of`` (empty without duos), each month at its last day
        (the last one at ``as_of``).

    Raises:
        SeriesTooLong: that is more than :data:`MAX_MONTHS` months.
    """
    figures = duo_figures(source, as_of, programme, as_at=as_at)
    facts = figures.facts
    months: list[dict[str, Any]] = []
    if len(facts):
        first = date.fromordinal(int(facts[:, 0].min()))
        if months_between(first, as_of) > MAX_MONTHS:
            raise SeriesTooLong(
                f"as_of {as_of.isoformat()} is {months_between(first, as_of)} months from "
                f"the first recruitment ({first.isoformat()[:7]}); the page draws at most "
                f"{MAX_MONTHS}")
        for end in month_ends(first, as_of):
            counts = states_at(facts, end)
            months.append({"month": end.isoformat()[:7], "on": end.isoformat(),
                           "total": sum(counts.values()), **counts})
    minutes = figures.minutes_per_30_days
    return {
        "as_of": as_of.isoformat(),
        "states_by_month": months,
        "contacts_per_30_days": {
            "n": len(figures.contacts_per_30_days),
            "bins": histogram(figures.contacts_per_30_days, CONTACT_BIN_WIDTH,
                              CONTACT_BINS)},
        "minutes_per_30_days": {
            "n": len(minutes),
            "benchmark_minutes": BENCHMARK_MINUTES,
            "meeting_benchmark": int(np.count_nonzero(minutes >= BENCHMARK_MINUTES)),
            "bins": histogram(minutes, MINUTE_BIN_WIDTH, MINUTE_BINS)},
    }


def suppress(cells: dict[str, int], groups: list[tuple[str | None, list[str]]],
             threshold: int, hidden: Iterable[str] = ()) -> dict[str, int | None]:
    """Counts as publishing shows them (CONTRACT §6).

    Args:
        cells: every count, by path.
        groups: additive groups, each ``(total, parts)``: the path of the count the
            parts add up to (None for a total published elsewhere), and the parts' paths.
        threshold: K.
        hidden: cells suppressed already (elsewhere in the same publication).

    Returns:
        The cells (``hidden`` as None) with every count from 1 to K − 1 replaced by
        None (primary), and
        then, until nothing changes, every part of a group whose total is hidden
        hidden too, and in a group whose total is shown and that has exactly one part
        hidden, its smallest other non-zero part (the first path of equals), so no
        hidden cell follows from a total by subtraction (secondary).
    """
    already = set(hidden)
    out: dict[str, int | None] = {
        path: None if path in already or 0 < value < threshold else value
        for path, value in cells.items()}
    changed = True
    while changed:
        changed = False
        for total, parts in groups:
            if total is not None and out[total] is None:
                # A hidden total hides its whole group: its parts would give it away.
                if any(out[p] is not None for p in parts):
                    out.update(dict.fromkeys(parts))
                    changed = True
                continue
            hidden = [p for p in parts if out[p] is None]
            if len(hidden) != 1:
                continue
            others = [(value, p) for p in parts if (value := out[p]) is not None and value > 0]
            if others:
                out[min(others)[1]] = None
                changed = True
    return out


def publish(series: dict[str, Any], threshold: int,
            published: dict[str, int | None]) -> tuple[dict[str, Any], list[str]]:
    """The series as a published report may show them, with the paths suppressed.

    The rules of CONTRACT §6 (:func:`suppress`) applied to these figures: each
    histogram's bins add up to its ``n``; the minute bins from the benchmark up to
    ``meeting_benchmark`` and those below it to the rest. ``states_by_month`` is left
    out (None): the difference between two months' counts is the number of duos that
    moved in between, often a small count that no cell shows but any reader could
    compute.

    Args:
        series: as :func:`build_series` gives them.
        threshold: K.
        published: the figures these series repeat, as the published report shows
            them (``contacts_per_30_days.n``, ``minutes_per_30_days.n``,
            ``minutes_per_30_days.meeting_benchmark``): one suppressed there is
            suppressed here too, so the page never shows what the report hides.

    Returns:
        The published series and the sorted JSON paths replaced by null (relative to
        the series, e.g. ``"minutes_per_30_days.bins.4"``).
    """
    cells: dict[str, int] = {}
    groups: list[tuple[str | None, list[str]]] = []
    for name in ("contacts_per_30_days", "minutes_per_30_days"):
        cells[f"{name}.n"] = series[name]["n"]
        bins = [f"{name}.bins.{i}" for i in range(len(series[name]["bins"]))]
        cells.update({path: b["duos"] for path, b in zip(bins, series[name]["bins"],
                                                        strict=True)})
        groups.append((f"{name}.n", bins))
    minutes = series["minutes_per_30_days"]
    cells["minutes_per_30_days.meeting_benchmark"] = minutes["meeting_benchmark"]
    cells["minutes_per_30_days.below_benchmark"] = minutes["n"] - minutes["meeting_benchmark"]
    hidden = {path for path, shown_there in published.items() if shown_there is None}
    if "minutes_per_30_days.meeting_benchmark" in hidden:  # n − below would give it
        hidden.add("minutes_per_30_days.below_benchmark")
    start = minutes["benchmark_minutes"] // MINUTE_BIN_WIDTH
    bins = [f"minutes_per_30_days.bins.{i}" for i in range(len(minutes["bins"]))]
    groups += [("minutes_per_30_days.meeting_benchmark", bins[start:]),
               ("minutes_per_30_days.below_benchmark", bins[:start])]
    shown = suppress(cells, groups, threshold, hidden)
    del shown["minutes_per_30_days.below_benchmark"]
    suppressed = sorted(path for path, value in shown.items() if value is None)

    def value(path: str) -> int | None:
        return shown[path]

    out: dict[str, Any] = {"as_of": series["as_of"], "states_by_month": None}
    for name in ("contacts_per_30_days", "minutes_per_30_days"):
        out[name] = {**series[name], "n": value(f"{name}.n"),
                     "bins": [{**b, "duos": value(f"{name}.bins.{i}")}
                              for i, b in enumerate(series[name]["bins"])]}
    out["minutes_per_30_days"]["meeting_benchmark"] = value(
        "minutes_per_30_days.meeting_benchmark")
    return out, suppressed
