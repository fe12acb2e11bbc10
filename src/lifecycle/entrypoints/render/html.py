"""The report as one self-contained HTML page: figures, reading aids and tables.

:func:`render` takes the report as ``report --json`` prints it (published or not),
optionally a ``--by`` breakdown of it, the contact minutes and the
:mod:`series <projections.series>` behind the figures beyond the contract, and the
chain head of the store, and returns the page. It computes no figure: every number
shown is one of its inputs (or, under the Kaplan–Meier curve, a sum of the curve's own
rows), printed in a cell whose ``data-path`` names where it comes from
(``report/dropouts/rate``), so a test can hold each shown number against the JSON.

The page asks for nothing over the network: styles are inline, figures are inline SVG,
no font, script or image is loaded from anywhere. A section is left out when its key is
absent from the report (a report of an older engine, or one without the evaluation
sections); a null value is shown as "—", or as "suppressed" when publishing removed it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from lifecycle.entrypoints.render import figures
from projections.publish import path_text

Path = tuple[str | int, ...]

STATES: Final = ("recruited", "selected", "matched", "active", "closed")
STAGES: Final = ("recruited", "selected", "matched", "active")
MEASURES: Final = ("wellbeing", "stress", "integration", "confidence")
RESPONDENTS: Final = ("mentee", "mentor")
TICKS: Final = (0, 30, 90, 182, 273, 365, 456, 547, 638, 730)
"""Days at which the number-at-risk table is given (the report's survival points,
then quarters of a year)."""

REASON_LABELS: Final = {
    "mentee_withdrew": "mentee withdrew", "mentor_withdrew": "mentor withdrew",
    "mentee_left_service": "mentee left the service",
    "mentor_left_service": "mentor left the service", "mismatch": "mismatch",
    "no_mentor_available": "no mentor available", "other": "other",
    "resigned": "resigned", "dismissed": "dismissed", "retired": "retired",
}


@dataclass(frozen=True)
class ChainHead:
    """The store's hash chain as it stood when the report was made: the position and
    link of its last event (those of a digest taken then)."""

    position: int | None
    head: str | None


@dataclass
class _Cells:
    """Formats values into cells that say where they come from, and remembers
    whether the report was published (to tell a suppressed null from a missing one)."""

    suppressed: dict[str, set[str]] = field(default_factory=dict)
    published: bool = False

    def hidden(self, source: str, path: Path) -> bool:
        """Whether publishing suppressed the value at ``path`` or a whole it is part of
        (paths written as :func:`projections.publish.path_text` writes them)."""
        paths = self.suppressed.get(source, set())
        return any(path_text(path[:i]) in paths for i in range(1, len(path) + 1))

    def text(self, source: str, path: Path, value: Any, kind: str = "count") -> str:
        if value is None:
            hidden = self.published and self.hidden(source, path)
            shown = ('<span class="suppressed" title="suppressed: fewer than the '
                     'threshold">suppressed</span>' if hidden else
                     '<span class="none" title="no value">—</span>')
        else:
            shown = html.escape(number(value, kind))
        slash = "/".join(map(str, path))
        return f'<span data-path="{source}/{html.escape(slash)}" data-kind="{kind}">{shown}</span>'

    def td(self, source: str, path: Path, value: Any, kind: str = "count") -> str:
        return f'<td class="num">{self.text(source, path, value, kind)}</td>'


def number(value: Any, kind: str = "count") -> str:
    """A value as the page prints it.

    Kinds: ``count`` (1,234), ``days`` and ``mean`` (one decimal, a whole number as
    is), ``rate`` (a share as a percentage with one decimal), ``estimate`` (three
    decimals), ``per30`` (two decimals), ``minutes`` (whole minutes), ``change``
    (signed, two decimals), ``text`` (as is).
    """
    if kind == "text" or isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == "count":
        return f"{int(value):,}"
    if kind in ("days", "mean"):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    if kind == "rate":
        return f"{100 * value:.1f} %"
    if kind == "estimate":
        return f"{value:.3f}"
    if kind == "per30":
        return f"{value:.2f}"
    if kind == "minutes":
        return f"{value:,.0f}"
    if kind == "change":
        return f"{value:+.2f}"
    raise ValueError(f"unknown kind '{kind}'")


def _get(data: Any, path: Path) -> Any:
    for key in path:
        if data is None:
            return None
        data = data[key]
    return data


def _has(data: Any, path: Path) -> bool:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def _e(text: Any) -> str:
    return html.escape(str(text))


class _Page:
    """The page under construction, section by section."""

    def __init__(self, cells: _Cells) -> None:
        self.cells = cells
        self.parts: list[str] = []
        self.toc: list[tuple[str, str]] = []
        self._figures = 0

    def section(self, slug: str, title: str, body: str, intro: str = "") -> None:
        self.toc.append((slug, title))
        lead = f'<p class="intro">{intro}</p>' if intro else ""
        self.parts.append(f'<section id="{slug}" aria-labelledby="{slug}-h">'
                          f'<h2 id="{slug}-h">{_e(title)}</h2>{lead}{body}</section>')

    def figure(self, slug: str, title: str, aid: str, drawn: Any, table: str,
               note: str = "", *, wide: bool = False) -> str:
        """One figure: its heading, a one-line reading aid, the drawing and its table
        (beside the drawing, or under it when ``wide``)."""
        self._figures += 1
        svg = figures.to_svg(drawn, slug, f"{title}. {aid}")
        extra = f'<p class="note">{note}</p>' if note else ""
        layout = "chart wide" if wide else "chart"
        return (f'<figure id="{slug}" class="{layout}" aria-labelledby="{slug}-t">'
                f'<h3 id="{slug}-t">{_e(title)}</h3>'
                f'<p class="aid"><span class="aid-label">How to read:</span> {aid}</p>'
                f'<div class="plot">{svg}</div>'
                f'<figcaption class="table-alt">{table}</figcaption>{extra}</figure>')


def table(caption: str, head: Sequence[str], rows: Iterable[Sequence[str]], *,
          cls: str = "", row_heads: bool = True) -> str:
    """A table; cells already rendered (``<td>``) are kept, plain text is escaped.
    The first cell of each row is its header when ``row_heads``."""
    out = [f'<table class="{cls}"><caption>{_e(caption)}</caption><thead><tr>']
    out += [f'<th scope="col">{_e(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            if cell.startswith("<td"):
                out.append(cell)
            elif i == 0 and row_heads:
                out.append(f'<th scope="row">{_e(cell)}</th>')
            else:
                out.append(f"<td>{_e(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# ------------------------------------------------------------------ the sections
def _summary(page: _Page, report: dict[str, Any], minutes: dict[str, Any] | None) -> None:
    c = page.cells
    cards = [
        ("Duos recruited", ("duos", "total"), "count"),
        ("Active now", ("duos", "by_state", "active"), "count"),
        ("Dropouts", ("dropouts", "count"), "count"),
        ("Dropout rate", ("dropouts", "rate"), "rate"),
        ("Median relationship, days", ("duration", "relationship_days", "median"), "days"),
        ("Still running after 182 days", ("dropouts", "survival", "182"), "estimate"),
        ("Median contacts per 30 days",
         ("contact_frequency", "contacts_per_30_days", "median"), "per30"),
        ("Active duos overdue for a contact",
         ("contact_frequency", "overdue_active_duos"), "count"),
    ]
    out = ['<dl class="cards">']
    for label, path, kind in cards:
        if _has(report, path):
            out.append(f'<div class="card"><dt>{_e(label)}</dt>'
                       f'<dd>{c.text("report", path, _get(report, path), kind)}</dd></div>')
    if minutes is not None:
        share = ("share_meeting_benchmark",)
        out.append('<div class="card"><dt>Duos meeting the 240-minute benchmark</dt>'
                   f'<dd>{c.text("minutes", share, minutes[share[0]], "rate")}</dd></div>')
    out.append("</dl>")
    page.section("summary", "At a glance", "".join(out))


def _risk(rows: Sequence[dict[str, Any]], tick: int, cut: bool
          ) -> tuple[int | None, Path | None, int | None, int | None]:
    """At risk at ``tick`` (and the row it is read from), and events and censorings
    before it, from the curve's rows; None where publishing cut the curve or
    suppressed a count that the sum needs."""
    at_risk: int | None = None
    source: Path | None = None
    for i, row in enumerate(rows):
        if row["t"] >= tick:
            at_risk, source = row["at_risk"], (i, "at_risk")
            break
    else:
        at_risk = None if cut else 0
    before = [row for row in rows if row["t"] < tick]
    if cut and at_risk is None:
        return None, None, None, None
    events = [row["events"] for row in before]
    censored = [row["censored"] for row in before]
    return (at_risk, source, None if None in events else sum(events),
            None if None in censored else sum(censored))


def _survival(page: _Page, report: dict[str, Any], breakdown: dict[str, Any] | None) -> None:
    c = page.cells
    dropouts = report["dropouts"]
    parts: list[str] = []
    groups: list[tuple[str, str, Path, dict[str, Any]]] = []
    if breakdown is not None:
        for key, sections in breakdown["groups"].items():
            if "survival_curve" in sections["dropouts"]:
                groups.append((str(key), "breakdown", ("groups", key), sections))
    many = len(groups) > figures.MAX_SERIES
    if not groups or many:
        groups = [("all duos", "report", (), report)] if "survival_curve" in dropouts else []
    # A published curve with fewer than K at risk even at t = 0 is null: nothing to draw.
    groups = [g for g in groups if g[3]["dropouts"]["survival_curve"] is not None]
    if groups:
        curves, risk_rows, html_rows = [], [], []
        right = max((g[3]["dropouts"]["survival_curve"][-1]["t"] for g in groups
                     if g[3]["dropouts"]["survival_curve"]), default=0)
        ticks = [t for t in TICKS if t <= max(right, 1)] or [0]
        for label, source, base, sections in groups:
            rows = sections["dropouts"]["survival_curve"] or []
            path = (*base, "dropouts", "survival_curve")
            # Publishing cuts a curve where fewer than K are at risk: the first row it
            # dropped is listed as suppressed (or the whole curve, when it kept none).
            cut = c.hidden(source, (*path, len(rows)))
            curves.append(figures.Curve(label, [r["t"] for r in rows], [r["s"] for r in rows],
                                        [r["lower"] for r in rows],
                                        [r["upper"] for r in rows]))
            risks = [_risk(rows, t, cut) for t in ticks]
            prefix = "" if len(groups) == 1 else f"{label}: "
            shown = [("at risk", [r[0] for r in risks]), ("events", [r[2] for r in risks]),
                     ("censored", [r[3] for r in risks])]
            if len(groups) == 1:
                risk_rows += [(name, [_plain(v, c.published, "[c]") for v in values])
                              for name, values in shown]
            else:
                risk_rows.append((label, [
                    f"{_plain(r[0], c.published, '[c]')} ({_plain(r[2], c.published, '[c]')}, "
                    f"{_plain(r[3], c.published, '[c]')})" for r in risks]))
            for name, values in shown:
                cells = []
                for (at_risk, row_path, _, _), value in zip(risks, values, strict=True):
                    if name == "at risk" and row_path is not None:
                        cells.append(c.td(source, (*path, *row_path), at_risk))
                    else:
                        shown_value = (_plain(value) if value is not None or not c.published
                                       else '<span class="suppressed">suppressed</span>')
                        cells.append(f'<td class="num" data-derived="{name}">'
                                     f"{shown_value}</td>")
                html_rows.append([prefix + name, *cells])
        note = ""
        if many:
            note = (f"{len(breakdown['groups']) if breakdown else 0} groups are too many to "
                    "tell apart in one figure: the curve is that of all duos.")
        aid = ("each step down is a relationship that ended in a dropout; the line is the "
               "share still running after that many active days, the shaded band its 95 % "
               "confidence interval, and under the axis how many were still at risk.")
        if c.published:
            aid += " A published curve stops where fewer duos than the threshold are at risk."
        drawn = figures.survival(curves, ticks, risk_rows, suppressed=c.published)
        risk_table = table("Number at risk, and events and censorings before each day",
                           ["", *(f"day {t}" for t in ticks)], html_rows, cls="risk")
        parts.append(page.figure("km", "Kaplan–Meier curve of active relationships", aid,
                                 drawn, risk_table, note, wide=True))
        if len(groups) == 1 and groups[0][1] == "report":
            rows = dropouts["survival_curve"]
            full = table("Every step of the curve", ["day", "at risk", "events", "censored",
                                                     "S(t)", "95 % lower", "95 % upper"],
                         ([c.td("report", ("dropouts", "survival_curve", i, "t"), r["t"])] + [
                             c.td("report", ("dropouts", "survival_curve", i, k), r[k], kind)
                             for k, kind in (("at_risk", "count"), ("events", "count"),
                                             ("censored", "count"), ("s", "estimate"),
                                             ("lower", "estimate"), ("upper", "estimate"))]
                          for i, r in enumerate(rows)), cls="long")
            parts.append(f'<details class="long"><summary>Every step of the curve '
                         f"({len(rows)} rows)</summary>{full}</details>")
    points = [["S(t)", *(c.td("report", ("dropouts", "survival", t), v, "estimate")
                         for t, v in dropouts["survival"].items())]]
    if "median_survival_days" in dropouts:
        points[0].append(c.td("report", ("dropouts", "median_survival_days"),
                              dropouts["median_survival_days"], "days"))
    head = ["", *(f"after {t} days" for t in dropouts["survival"])]
    if "median_survival_days" in dropouts:
        head.append("median, days")
    parts.append(table("Share of active relationships still running (Kaplan–Meier)",
                       head, points))
    page.section("survival", "How long relationships last", "".join(parts),
                 "Population: every duo activated by the as-of date; a dropout ends a "
                 "relationship, every other duo counts until it closed or until the "
                 "as-of date (censored).")


def _plain(value: int | None, published: bool = False, mark: str = "suppressed") -> str:
    """A count of the risk table; one publishing left unknown (a suppressed count it
    sums, or a row it cut) reads ``mark`` ("[c]" in the figure, as the text report)."""
    if value is None:
        return mark if published else "—"
    return f"{value:,}"


def _states(page: _Page, report: dict[str, Any], series: dict[str, Any] | None) -> None:
    c = page.cells
    by_state = report["duos"]["by_state"]
    parts = []
    months = (series["states_by_month"] or []) if series else []
    if series is not None and series["states_by_month"] is None:
        parts.append('<p class="note">Duos by state month by month are left out of a '
                     "published report: the difference between two months would show how "
                     "many duos moved in between, often fewer than the threshold.</p>")
    if len(months) > 1:
        drawn = figures.stacked([m["month"] for m in months],
                                [(s, [m[s] for m in months]) for s in STATES])
        rows = [[m["on"], *(c.td("series", ("states_by_month", i, s), m[s])
                            for s in (*STATES, "total"))] for i, m in enumerate(months)]
        parts.append(page.figure(
            "states-over-time", "Duos by state over time",
            "each bar is the programme on the last day of a month (the last bar: the "
            "as-of date), split by the state each duo was in that day.", drawn,
            table("Duos by state at the end of each month", ["on", *STATES, "total"],
                  rows), wide=True))
    drawn = figures.bars(list(STATES), [by_state[s] for s in STATES], horizontal=True,
                         height=1.9)
    rows = [[s, c.td("report", ("duos", "by_state", s), by_state[s])] for s in STATES]
    rows.append(["total", c.td("report", ("duos", "total"), report["duos"]["total"])])
    parts.append(page.figure("states", "Duos by state on the as-of date",
                             "one bar per state; together they are every duo recruited "
                             "by the as-of date.", drawn,
                             table("Duos by state", ["state", "duos"], rows)))
    page.section("duos", "Duos", "".join(parts))


def _durations(page: _Page, report: dict[str, Any]) -> None:
    c = page.cells
    names = {"time_to_match_days": "recruitment to match",
             "time_to_first_meeting_days": "match to first meeting",
             "relationship_days": "first meeting to closure (closed from active)"}
    rows = [[label, *(c.td("report", ("duration", key, k), report["duration"][key][k], kind)
                      for k, kind in (("n", "count"), ("median", "days"), ("mean", "days")))]
            for key, label in names.items()]
    page.section("durations", "Time between the steps",
                 table("Days between lifecycle steps", ["interval", "duos", "median days",
                                                        "mean days"], rows))


def _dropouts(page: _Page, report: dict[str, Any]) -> None:
    c = page.cells
    d = report["dropouts"]
    parts = []
    stages = [d["by_stage"][s] for s in STAGES]
    parts.append(page.figure(
        "dropouts-stage", "Dropouts by the stage they left from",
        "one bar per state a dropout was closed from; most programmes lose duos while "
        "they are active.", figures.bars(list(STAGES), stages, horizontal=True, height=1.7),
        table("Dropouts by stage", ["stage", "dropouts"],
              [[s, c.td("report", ("dropouts", "by_stage", s), d["by_stage"][s])]
               for s in STAGES])))
    reasons = list(d["by_reason"])
    parts.append(page.figure(
        "dropouts-reason", "Dropouts by reason",
        "one bar per reason a dropout was closed with (completed, programme-ended and "
        "rematched duos are not dropouts).",
        figures.bars([REASON_LABELS.get(r, r) for r in reasons],
                     [d["by_reason"][r] for r in reasons], horizontal=True,
                     colour=figures.OKABE_ITO[5]),
        table("Dropouts by reason", ["reason", "dropouts"],
              [[REASON_LABELS.get(r, r), c.td("report", ("dropouts", "by_reason", r),
                                              d["by_reason"][r])] for r in reasons])))
    if d.get("by_month"):
        months = list(d["by_month"])
        parts.append(page.figure(
            "dropouts-month", "Dropouts by month",
            "one bar per calendar month in which dropouts were closed (months without "
            "any are left out).",
            figures.bars(months, [d["by_month"][m] for m in months],
                         colour=figures.OKABE_ITO[5]),
            table("Dropouts by month", ["month", "dropouts"],
                  [[m, c.td("report", ("dropouts", "by_month", m), d["by_month"][m])]
                   for m in months])))
    totals = table("Dropouts", ["", "value"], [
        ["dropouts", c.td("report", ("dropouts", "count"), d["count"])],
        ["share of duos recruited", c.td("report", ("dropouts", "rate"), d["rate"], "rate")]])
    page.section("dropouts", "Dropouts", totals + "".join(parts),
                 "A dropout is a duo closed with any reason but completed, programme "
                 "ended or rematched.")


def _contacts(page: _Page, report: dict[str, Any], minutes: dict[str, Any] | None,
              series: dict[str, Any] | None) -> None:
    c = page.cells
    f = report["contact_frequency"]
    rows = [
        ["contacts logged (not retracted)", c.td("report", ("contact_frequency", "contacts"),
                                                 f["contacts"])],
        ["… naming the psychosocial function",
         c.td("report", ("contact_frequency", "by_function", "psychosocial"),
              f["by_function"]["psychosocial"])],
        ["… naming the career function",
         c.td("report", ("contact_frequency", "by_function", "career"),
              f["by_function"]["career"])],
        ["duos with an active day", c.td("report", ("contact_frequency",
                                                    "contacts_per_30_days", "n"),
                                         f["contacts_per_30_days"]["n"])],
        ["contacts per 30 active days, median",
         c.td("report", ("contact_frequency", "contacts_per_30_days", "median"),
              f["contacts_per_30_days"]["median"], "per30")],
        ["contacts per 30 active days, mean",
         c.td("report", ("contact_frequency", "contacts_per_30_days", "mean"),
              f["contacts_per_30_days"]["mean"], "per30")],
        ["active duos overdue for a contact",
         c.td("report", ("contact_frequency", "overdue_active_duos"),
              f["overdue_active_duos"])],
    ]
    if minutes is not None:
        per = minutes["minutes_per_30_days"]
        rows += [
            ["minutes of contact", c.td("minutes", ("minutes",), minutes["minutes"])],
            ["minutes per 30 active days, median",
             c.td("minutes", ("minutes_per_30_days", "median"), per["median"], "minutes")],
            ["minutes per 30 active days, mean",
             c.td("minutes", ("minutes_per_30_days", "mean"), per["mean"], "minutes")],
            ["duos meeting the 240-minute benchmark",
             c.td("minutes", ("duos_meeting_benchmark",), minutes["duos_meeting_benchmark"])],
            ["share meeting it", c.td("minutes", ("share_meeting_benchmark",),
                                      minutes["share_meeting_benchmark"], "rate")],
        ]
    parts = [table("Contact frequency", ["", "value"], rows)]
    if series is not None:
        hist = series["contacts_per_30_days"]
        labels = [_bin(b) for b in hist["bins"]]
        parts.append(page.figure(
            "contacts-per-30", "Contacts per 30 active days",
            "each bar counts the activated duos whose contacts, scaled to 30 active days, "
            "fall in that range; the programme asks for a contact at least every "
            "contact interval (14 days by default: about two per 30 days).",
            figures.histogram(labels, [b["duos"] for b in hist["bins"]],
                              value_label="contacts per 30 active days"),
            table("Duos by contacts per 30 active days", ["contacts per 30 days", "duos"],
                  [[label, c.td("series", ("contacts_per_30_days", "bins", i, "duos"),
                                b["duos"])]
                   for i, (label, b) in enumerate(zip(labels, hist["bins"], strict=True))])))
        hist = series["minutes_per_30_days"]
        labels = [_bin(b) for b in hist["bins"]]
        benchmark = hist["benchmark_minutes"]
        edge = next(i for i, b in enumerate(hist["bins"]) if b["from"] >= benchmark)
        parts.append(page.figure(
            "minutes-per-30", f"Minutes of contact per 30 active days against the "
            f"{benchmark}-minute benchmark",
            f"each bar counts the duos in a range of minutes per 30 active days; bars left "
            f"of the dashed line (hatched) fall short of MENTOR's benchmark of "
            f"{benchmark} minutes a month.",
            figures.histogram(labels, [b["duos"] for b in hist["bins"]],
                              value_label="minutes per 30 active days", threshold=edge,
                              threshold_label=f"benchmark {benchmark} min"),
            table("Duos by minutes per 30 active days", ["minutes per 30 days", "duos"],
                  [[label, c.td("series", ("minutes_per_30_days", "bins", i, "duos"),
                                b["duos"])]
                   for i, (label, b) in enumerate(zip(labels, hist["bins"], strict=True))]
                  + [["meeting the benchmark",
                      c.td("series", ("minutes_per_30_days", "meeting_benchmark"),
                           hist["meeting_benchmark"])]])))
    page.section("contacts", "Contact frequency", "".join(parts),
                 "Over activated duos with at least one active day: their contacts and "
                 "minutes scaled to 30 active days.")


def _bin(b: dict[str, Any]) -> str:
    return f"{b['from']}–{b['to']}" if b["to"] is not None else f"{b['from']} or more"


def _standards(page: _Page, report: dict[str, Any]) -> None:
    """First meetings, monitoring, closure: each when the report holds it."""
    c = page.cells
    parts: list[str] = []
    shares: list[tuple[str, float | None]] = []
    if "first_meeting" in report:
        fm = report["first_meeting"]
        keys = ("on_time", "late", "waiting_overdue")
        labels = ("on time", "late", "still waiting, overdue")
        parts.append(page.figure(
            "first-meeting", "First meetings on time",
            "of the duos matched by the as-of date: met within the programme's first-"
            "meeting limit, met later, or not met yet and past the limit.",
            figures.bars(list(labels), [fm[k] for k in keys], horizontal=True, height=1.5,
                         colour=figures.OKABE_ITO[2]),
            table("First meetings", ["", "duos"],
                  [[label, c.td("report", ("first_meeting", k), fm[k])]
                   for k, label in zip(keys, labels, strict=True)])))
    tables: list[str] = []
    if "monitoring" in report:
        mo = report["monitoring"]
        health = mo["latest_health"]
        shares.append(("monitoring windows met", mo["compliance"]))
        tables.append(table("Monitoring: coordinators' reviews", ["", "value"], [
            ["reviews", c.td("report", ("monitoring", "reviews"), mo["reviews"])],
            ["review windows due", c.td("report", ("monitoring", "windows_due"),
                                        mo["windows_due"])],
            ["… met", c.td("report", ("monitoring", "windows_met"), mo["windows_met"])],
            ["compliance", c.td("report", ("monitoring", "compliance"), mo["compliance"],
                                "rate")],
            ["duos with a review", c.td("report", ("monitoring", "latest_health", "n"),
                                        health["n"])],
            ["latest health (1–5), median",
             c.td("report", ("monitoring", "latest_health", "median"), health["median"],
                  "days")],
            ["latest health (1–5), mean",
             c.td("report", ("monitoring", "latest_health", "mean"), health["mean"],
                  "mean")]]))
    if "closure" in report:
        cl = report["closure"]
        shares += [("closed early (of closed from active)", cl["early_rate"]),
                   ("closed with an exit interview", cl["exit_interview_rate"])]
        rows = [[label, c.td("report", ("closure", key), cl[key], kind)] for key, label, kind in (
            ("closed", "duos closed", "count"), ("from_active", "… from active", "count"),
            ("completed", "… completed", "count"),
            ("early", "closed from active before the minimum duration", "count"),
            ("early_rate", "early closure rate", "rate"),
            ("beyond_max_active", "active beyond the maximum duration", "count"),
            ("exit_interviews", "exit interviews", "count"),
            ("exit_interview_rate", "exit interview rate", "rate"))]
        tables.append(table("Closure", ["", "value"], rows))
    if tables:
        parts.append(f'<div class="tables">{"".join(tables)}</div>')
    if shares:
        parts.insert(0, page.figure(
            "standards", "Programme standards",
            "each bar is a share between 0 and 100 %: higher is better for monitoring and "
            "exit interviews, lower for early closure.",
            figures.bars([label for label, _ in shares], [v for _, v in shares],
                         horizontal=True, percent=True,
                         value_label="share", height=0.5 + 0.32 * len(shares),
                         colour=figures.OKABE_ITO[2]),
            table("Programme standards", ["", "share"],
                  [[label, _share_cell(c, label, value)]
                   for label, value in shares])))
    if parts:
        page.section("standards", "Following the programme's standards", "".join(parts))


def _share_cell(c: _Cells, label: str, value: float | None) -> str:
    paths = {"monitoring windows met": ("monitoring", "compliance"),
             "closed early (of closed from active)": ("closure", "early_rate"),
             "closed with an exit interview": ("closure", "exit_interview_rate")}
    return c.td("report", paths[label], value, "rate")


def _retention(page: _Page, report: dict[str, Any]) -> None:
    if "retention" not in report:
        return
    c = page.cells
    r = report["retention"]
    reasons = list(r["by_reason"])
    parts = [table("Staying in the prison service", ["", "value"], [
        ["mentees (chains of duos)", c.td("report", ("retention", "mentees"), r["mentees"])],
        ["left the service", c.td("report", ("retention", "departed"), r["departed"])],
        *([f"still in the service after {t} days",
           c.td("report", ("retention", "in_service", t), v, "estimate")]
          for t, v in r["in_service"].items())])]
    parts.append(page.figure(
        "departures", "Departures from the service by reason",
        "one bar per reason a mentee left the prison service.",
        figures.bars([REASON_LABELS.get(x, x) for x in reasons],
                     [r["by_reason"][x] for x in reasons], horizontal=True, height=1.6,
                     colour=figures.OKABE_ITO[3]),
        table("Departures by reason", ["reason", "mentees"],
              [[REASON_LABELS.get(x, x), c.td("report", ("retention", "by_reason", x),
                                              r["by_reason"][x])] for x in reasons])))
    page.section("retention", "Staying in the service", "".join(parts),
                 "Per mentee, from the first recruitment; the estimates are Kaplan–Meier "
                 "(a mentee still in service counts until the as-of date).")


def _surveys(page: _Page, report: dict[str, Any]) -> None:
    if "surveys" not in report:
        return
    c = page.cells
    s = report["surveys"]
    categories, improved, unchanged, worsened, rows = [], [], [], [], []
    # Beyond the contract, the engine may add a paired test of each change.
    tested = all("signed_rank" in s[who][m] for who in RESPONDENTS for m in MEASURES)
    for who in RESPONDENTS:
        for measure in MEASURES:
            m = s[who][measure]
            categories.append(f"{who}: {measure}")
            improved.append(m["improved"])
            unchanged.append(m["unchanged"])
            worsened.append(m["worsened"])
            path = ("surveys", who, measure)
            row = [f"{who}: {measure}", *(
                c.td("report", (*path, k), m[k], kind) for k, kind in (
                    ("pairs", "count"), ("mean_change", "change"),
                    ("median_change", "change"), ("improved", "count"),
                    ("unchanged", "count"), ("worsened", "count")))]
            if tested:
                test = m["signed_rank"] or {}
                row += [c.td("report", (*path, "signed_rank", k), test.get(k), kind)
                        for k, kind in (("n", "count"), ("statistic", "mean"),
                                        ("p_value", "estimate"))]
            rows.append(row)
    head = ["respondent: measure", "pairs", "mean change", "median change", "improved",
            "unchanged", "worsened"]
    if tested:
        head += ["signed-rank n", "W", "p"]
    drawn = figures.stacked(categories, [("improved", improved), ("unchanged", unchanged),
                                         ("worsened", worsened)],
                            horizontal=True, share=True, value_label="share of pairs",
                            # better, no change, worse: green, grey, vermillion
                            colours=(figures.OKABE_ITO[2], "#999999", figures.OKABE_ITO[5]))
    page.section("surveys", "Survey change, before and after", page.figure(
        "survey-change", "Change per measure between the pre and post survey",
        "each bar splits the duos with both surveys into improved, unchanged and "
        "worsened; for stress, less is better.", drawn,
        table("Survey change per measure", head, rows), wide=True,
        note="W and p: Wilcoxon's signed-rank test of the changes (pairs without change "
             "left out); a small p says the change is unlikely to be chance alone, not "
             "that the programme caused it." if tested else ""))


def _groups(page: _Page, breakdown: dict[str, Any]) -> None:
    c = page.cells
    by = breakdown["by"]
    rows = []
    for key, g in breakdown["groups"].items():
        base: Path = ("groups", key)
        cells = [str(key)]
        for path, kind in ((("duos", "total"), "count"), (("duos", "by_state", "active"), "count"),
                           (("duos", "by_state", "closed"), "count"),
                           (("dropouts", "count"), "count"), (("dropouts", "rate"), "rate"),
                           (("dropouts", "survival", "182"), "estimate"),
                           (("contact_frequency", "contacts_per_30_days", "median"), "per30"),
                           (("contact_frequency", "overdue_active_duos"), "count")):
            cells.append(c.td("breakdown", (*base, *path), _get(g, path), kind))
        if "contact_minutes" in g:
            cells.append(c.td("breakdown", (*base, "contact_minutes", "minutes_per_30_days",
                                            "median"),
                              g["contact_minutes"]["minutes_per_30_days"]["median"], "minutes"))
        else:
            cells.append("<td>—</td>")
        rows.append(cells)
    head = [by, "duos", "active", "closed", "dropouts", "dropout rate", "S(182)",
            "contacts / 30 d, median", "overdue", "minutes / 30 d, median"]
    reasons = []
    for key, g in breakdown["groups"].items():
        reasons.append([str(key), *(c.td("breakdown", ("groups", key, "dropouts", "by_reason",
                                                       r), v)
                                    for r, v in g["dropouts"]["by_reason"].items())])
    first = next(iter(breakdown["groups"].values()), None)
    reason_head = [by, *(REASON_LABELS.get(r, r) for r in (first["dropouts"]["by_reason"]
                                                           if first else {}))]
    comparison = ""
    logrank = (breakdown.get("comparison") or {}).get("survival_logrank")
    if logrank is not None:
        at: Path = ("comparison", "survival_logrank")
        comparison = table(f"Survival of active relationships compared between the "
                           f"{by} groups (log-rank test)", ["", "value"], [
            ["chi-square statistic", c.td("breakdown", (*at, "statistic"),
                                          logrank.get("statistic"), "mean")],
            ["degrees of freedom", c.td("breakdown", (*at, "df"), logrank.get("df"), "text")],
            ["p", c.td("breakdown", (*at, "p_value"), logrank.get("p_value"), "estimate")],
            ["smallest group, duos", c.td("breakdown", (*at, "smallest_group"),
                                          logrank.get("smallest_group"))]])
        comparison += ('<p class="note">A small p says the curves differ by more than '
                       "chance would make them; the groups differ in more than their "
                       f"{by}, so it says nothing about why.</p>")
    page.section("groups", f"By {by}", table(f"Key figures by {by}", head, rows) + table(
        f"Dropouts by reason and {by}", reason_head, reasons) + comparison,
        f"The same figures for each {by}; the survival curves above are drawn per {by} "
        f"when there are at most {figures.MAX_SERIES} groups.")


def _provenance(page: _Page, report: dict[str, Any], chain: ChainHead | None,
                as_at: str | None, programme: str | None,
                extra_suppressed: Sequence[str]) -> None:
    rows = [["as of (business date)", report["as_of"]],
            ["as at (recorded by)", as_at or "— (everything recorded)"],
            ["programme", programme or "all programmes"]]
    if chain is not None:
        rows += [["last position in the log",
                  "—" if chain.position is None else str(chain.position)],
                 ["head of the hash chain", chain.head or "— (empty store)"]]
    body = table("Where these figures come from", ["", ""], rows, cls="provenance")
    body += ('<p class="note">Check the history this report was made from with '
             "<code>lifecycle audit verify --digest FILE</code>: a digest taken then has "
             "this position and head.</p>") if chain is not None else ""
    if "threshold" in report:
        suppressed = [*report.get("suppressed", []),
                      *(f"series.{p}" for p in extra_suppressed)]
        listed = "".join(f"<li><code>{_e(p)}</code></li>" for p in suppressed)
        body += (f'<p>Published report: every count from 1 to {report["threshold"] - 1} '
                 f'(threshold {report["threshold"]}), every figure computed over fewer duos, '
                 "and any cell that would let one be recovered by subtraction is "
                 f"suppressed. {len(suppressed)} cells were suppressed:</p>"
                 f'<ul class="suppressed-list">{listed}</ul>')
    page.section("provenance", "Provenance", body)


# ------------------------------------------------------------------ the page
def render(report: dict[str, Any], *, chain: ChainHead | None = None,
           as_at: str | None = None, programme: str | None = None,
           minutes: dict[str, Any] | None = None, series: dict[str, Any] | None = None,
           breakdown: dict[str, Any] | None = None,
           series_suppressed: Sequence[str] = ()) -> str:
    """The report as one self-contained HTML page.

    Args:
        report: the report as ``report --json`` prints it (v1 keys at least; every
            evaluation section it holds is shown; published when it has ``threshold``).
        chain: the store's chain head when the report was made.
        as_at: the ``--as-at`` time, as given.
        programme: the ``--programme``, when given.
        minutes: contact minutes against the benchmark (``Views.contact_minutes``).
        series: states by month and contact distributions (:mod:`projections.series`),
            published when the report is.
        breakdown: a ``--by`` breakdown of the same report.
        series_suppressed: the paths suppressed in ``series``.

    Returns:
        The page: the same bytes for the same arguments.
    """
    published = "threshold" in report
    minutes_prefix = "contact_minutes."
    cells = _Cells({"report": set(report.get("suppressed", [])),
                    # the text report's publication: minutes are a section of the report
                    "minutes": {p[len(minutes_prefix):] for p in report.get("suppressed", [])
                                if p.startswith(minutes_prefix)},
                    "breakdown": set((breakdown or {}).get("suppressed", [])),
                    "series": set(series_suppressed)}, published)
    page = _Page(cells)
    _summary(page, report, minutes)
    if "survival" in report["dropouts"]:
        _survival(page, report, breakdown)
    _states(page, report, series)
    _dropouts(page, report)
    _contacts(page, report, minutes, series)
    _durations(page, report)
    _standards(page, report)
    _retention(page, report)
    _surveys(page, report)
    if breakdown is not None and breakdown["groups"]:
        _groups(page, breakdown)
    _provenance(page, report, chain, as_at, programme, series_suppressed)
    scope = f"programme {programme}" if programme else "all programmes"
    title = f"Mentoring programme report — {scope}, as of {report['as_of']}"
    subtitle = [f"as of {_e(report['as_of'])}"]
    if as_at:
        subtitle.append(f"as recorded at {_e(as_at)}")
    if breakdown is not None:
        subtitle.append(f"broken down by {_e(breakdown['by'])}")
    if published:
        subtitle.append(f"published with threshold {report['threshold']}")
    if chain is not None and chain.head:
        subtitle.append(f'chain head <code class="head">{_e(chain.head[:16])}…</code>')
    toc = "".join(f'<li><a href="#{slug}">{_e(name)}</a></li>' for slug, name in page.toc)
    badge = ('<p class="badge">Published: small counts are suppressed.</p>'
             if published else "")
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f'<meta name="generator" content="lifecycle report --html">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            f'<header><h1>Mentoring programme report</h1><p class="scope">{_e(scope)}</p>'
            f'<p class="subtitle">{" · ".join(subtitle)}</p>{badge}'
            f'<nav aria-label="Sections"><ul>{toc}</ul></nav></header>'
            f'<main>{"".join(page.parts)}</main>'
            "<footer><p>Made by <code>lifecycle report --html</code> from the store's "
            "materialised views; events hold pseudonymous identifiers only.</p></footer>"
            "</body></html>\n")


CSS: Final = """
:root{--ink:#222;--muted:#555;--line:#d0d0d0;--band:#f4f6f8;--accent:#0072B2;
font-family:"DejaVu Sans",Verdana,"Segoe UI",Arial,sans-serif;color:var(--ink);
line-height:1.45;font-size:15px}
body{margin:0;background:#fff}
header{padding:1.5rem 2rem 0.5rem;border-bottom:3px solid var(--accent);background:var(--band)}
h1{margin:0;font-size:1.6rem}
.scope{margin:.2rem 0 0;font-size:1.1rem}
.subtitle{margin:.3rem 0;color:var(--muted)}
.badge{display:inline-block;margin:.3rem 0;padding:.15rem .6rem;border:1px solid var(--ink);
border-radius:3px;font-weight:bold}
nav ul{list-style:none;padding:0;margin:.6rem 0 .4rem;display:flex;flex-wrap:wrap;gap:.3rem 1rem}
nav a{color:var(--accent)}
main{max-width:70rem;margin:0 auto;padding:0 2rem 2rem}
section{border-bottom:1px solid var(--line);padding:1rem 0 1.5rem}
h2{font-size:1.3rem;margin:.6rem 0 .3rem}
h3{font-size:1.05rem;margin:1rem 0 .2rem}
.intro{color:var(--muted);margin:.2rem 0 .8rem;max-width:52rem}
.aid{margin:.1rem 0 .4rem;color:var(--muted);font-size:.93rem;max-width:52rem}
.aid-label{font-weight:bold;color:var(--ink)}
figure.chart{margin:0 0 1.2rem;display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);
grid-template-areas:"title title" "aid aid" "plot table" "note note";gap:0 1.5rem;
align-items:start;break-inside:avoid}
figure.chart>h3{grid-area:title}
figure.chart>.aid{grid-area:aid}
figure.chart>.plot{grid-area:plot}
figure.chart>figcaption{grid-area:table;max-height:26rem;overflow:auto}
figure.chart>.note{grid-area:note}
figure.wide{grid-template-columns:1fr;grid-template-areas:"title" "aid" "plot" "table" "note"}
figure.wide>.plot{max-width:48rem}
figure#km>figcaption{max-height:none}
svg.figure{width:100%;height:auto;display:block}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.9rem;
font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:bold;padding:.2rem 0;color:var(--ink)}
th,td{border-bottom:1px solid var(--line);padding:.2rem .6rem;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid var(--ink)}
td.num{text-align:right;white-space:nowrap}
table.risk td{text-align:right}
.suppressed{font-style:italic;color:var(--muted);border-bottom:1px dotted var(--muted)}
.none{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(12rem,1fr));gap:.8rem;
margin:.5rem 0}
.card{border:1px solid var(--line);border-left:4px solid var(--accent);padding:.5rem .8rem;
background:#fff}
.card dt{font-size:.85rem;color:var(--muted)}
.card dd{margin:.2rem 0 0;font-size:1.5rem;font-weight:bold}
details.long summary{cursor:pointer;color:var(--accent);margin:.3rem 0}
details.long table{max-height:none}
.note{font-size:.9rem;color:var(--muted)}
.tables{display:flex;flex-wrap:wrap;gap:0 2.5rem;align-items:flex-start}
code.head,.provenance td{word-break:break-all}
.suppressed-list{columns:3 16rem;font-size:.85rem}
footer{max-width:70rem;margin:0 auto;padding:1rem 2rem 2rem;color:var(--muted);font-size:.85rem}
@media (max-width:60rem){figure.chart{grid-template-columns:1fr;
grid-template-areas:"title" "aid" "plot" "table" "note"}}
@media print{
:root{font-size:10.5pt}
header{background:none;border-bottom:2px solid #000;padding:0 0 .4rem}
nav,details.long{display:none}
main,footer{max-width:none;padding:0}
figure.chart>figcaption{max-height:none;overflow:visible}
figure.chart>figcaption table{font-size:8.5pt}
figure.wide>.plot{max-width:15cm}
figure.chart:not(.wide){grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:0 .8cm;
grid-template-areas:"title title" "aid aid" "plot table" "note note"}
@page{size:A4;margin:14mm 12mm}
section{break-inside:auto}
h2,h3{break-after:avoid}
table,.card{break-inside:avoid}
a{color:inherit;text-decoration:none}
.card{border-left-color:#000}
}
"""
