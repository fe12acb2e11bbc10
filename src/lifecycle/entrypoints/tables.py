"""Human-readable renderings of the report, breakdowns and the duo listing (CLI only)."""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from projections.coordinator import AttentionRow, PoolRow, Suggestion
from projections.listing import COLUMNS, DuoRow
from projections.publish import parse_path


class Hidden(str):
    """A figure suppressed for publication, as a table shows it."""

    __slots__ = ()


HIDDEN = Hidden("[c]")
"""The mark of a suppressed figure ("c" for confidential, as ONS tables mark them)."""


def marked(value: dict[str, Any]) -> dict[str, Any]:
    """A published report (or breakdown) with each suppressed figure as :data:`HIDDEN`
    (a copy; an unpublished report is returned as it is)."""
    if "suppressed" not in value:
        return value
    copied = copy.deepcopy(value)
    for path in value["suppressed"]:
        *parents, last = parse_path(path)
        node: Any = copied
        try:
            for key in parents:
                node = node[int(key)] if isinstance(node, list) else node[key]
            if isinstance(node, list):
                node[int(last)] = HIDDEN
            elif last in node:
                node[last] = HIDDEN
        except (KeyError, IndexError, TypeError, ValueError):
            continue  # a dropped curve row, or a section this table does not show
    return copied


def _footer(value: dict[str, Any]) -> list[str]:
    if "threshold" not in value:
        return []
    k, count = value["threshold"], len(value["suppressed"])
    return [f"{HIDDEN} suppressed for publication ({count} figures; threshold {k}): a count "
            f"of 1 to {k - 1}, a figure over fewer than {k} duos, or one that would let a "
            f"suppressed figure be worked out from the others."]


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _percent(rate: Any) -> str:
    return _num(100 * rate if isinstance(rate, float | int) else rate)


def _summary(name: str, summary: dict[str, Any], unit: str = "days") -> str:
    suffix = f" {unit}" if unit else ""
    return (f"  {name:<34} n={summary['n']:<6} median {_num(summary['median'])}{suffix}, "
            f"mean {_num(summary['mean'])}{suffix}")


def report(value: dict[str, Any], minutes: dict[str, Any] | None,
           programme: str | None) -> str:
    """The CONTRACT §4 report as text (a published one: its contact minutes may be a
    section of it, suppressed figures shown as :data:`HIDDEN`, with a footer)."""
    minutes = value.get("contact_minutes", minutes)
    duos, duration = value["duos"], value["duration"]
    contacts, dropouts = value["contact_frequency"], value["dropouts"]
    scope = f"programme {programme}" if programme else "all programmes"
    states = ", ".join(f"{k} {v}" for k, v in duos["by_state"].items())
    lines = [
        f"Report as of {value['as_of']} ({scope})",
        f"Duos: {duos['total']} ({states})",
        "Duration:",
        _summary("time to match", duration["time_to_match_days"]),
        _summary("time to first meeting", duration["time_to_first_meeting_days"]),
        _summary("relationship (closed from active)", duration["relationship_days"]),
        "Contact frequency:",
        f"  contacts {contacts['contacts']} (psychosocial "
        f"{contacts['by_function']['psychosocial']}, career "
        f"{contacts['by_function']['career']}); overdue active duos "
        f"{contacts['overdue_active_duos']}",
        _summary("contacts per 30 active days", contacts["contacts_per_30_days"], ""),
    ]
    if minutes is not None:
        per = minutes["minutes_per_30_days"]
        lines.append(
            f"  minutes per 30 active days         median {_num(per['median'])}, mean "
            f"{_num(per['mean'])} (benchmark {minutes['benchmark_minutes_per_30_days']}; "
            f"{minutes['duos_meeting_benchmark']} of {per['n']} duos meet it)")
    rate = dropouts["rate"]
    survival = ", ".join(f"S({t})={_num(v, 3)}" for t, v in dropouts["survival"].items())
    lines += [
        "Dropouts:",
        f"  {dropouts['count']} dropouts, rate {_percent(rate)} %",
        "  by stage: " + ", ".join(f"{k} {v}" for k, v in dropouts["by_stage"].items()),
        "  by reason: " + ", ".join(f"{k} {v}" for k, v in dropouts["by_reason"].items() if v)
        if dropouts["count"] else "  by reason: none",
        f"  survival of active relationships: {survival}",
        *_evaluation(value),
        *_footer(value),
    ]
    return "\n".join(lines)


def _evaluation(value: dict[str, Any]) -> list[str]:
    """The v2 evaluation sections of the text report (those the report holds)."""
    lines: list[str] = []
    dropouts = value["dropouts"]
    if "median_survival_days" in dropouts:
        months = ", ".join(f"{k} {v}" for k, v in dropouts["by_month"].items()) or "none"
        lines += [f"  by month: {months}",
                  f"  median survival: {_num(dropouts['median_survival_days'])} days "
                  f"({len(dropouts['survival_curve'] or [])} rows of the curve in --json)"]
    if "first_meeting" in value:
        first = value["first_meeting"]
        lines += ["First meetings:",
                  f"  on time {first['on_time']}, late {first['late']}, waiting overdue "
                  f"{first['waiting_overdue']}"]
    if "monitoring" in value:
        m = value["monitoring"]
        lines += ["Monitoring (coordinator check-ins):",
                  f"  reviews {m['reviews']}; windows due {m['windows_due']}, met "
                  f"{m['windows_met']}; compliance {_percent(m['compliance'])} %",
                  _summary("health at the latest review", m["latest_health"], "")]
    if "closure" in value:
        c = value["closure"]
        lines += ["Closure:",
                  f"  closed {c['closed']} ({c['from_active']} from active, "
                  f"{c['completed']} completed); early {c['early']} "
                  f"({_percent(c['early_rate'])} % of those from active); still active "
                  f"beyond the maximum {c['beyond_max_active']}",
                  f"  exit interviews {c['exit_interviews']} "
                  f"({_percent(c['exit_interview_rate'])} % of closed duos)"]
    if "retention" in value:
        r = value["retention"]
        reasons = ", ".join(f"{k} {v}" for k, v in r["by_reason"].items() if v) or "none"
        stays = ", ".join(f"{t} days {_num(v, 3)}" for t, v in r["in_service"].items())
        lines += ["Staying in the prison service:",
                  f"  mentees {r['mentees']}, departed {r['departed']} ({reasons})",
                  f"  still in service (Kaplan-Meier): {stays}"]
    if "surveys" in value:
        lines.append("Survey change (post - pre; pairs, mean, improved/unchanged/worsened):")
        for respondent, measures in value["surveys"].items():
            cells = [f"{name} {m['pairs']}, {_num(m['mean_change'], 2)}, "
                     f"{m['improved']}/{m['unchanged']}/{m['worsened']}"
                     + (f", p {_num(m['signed_rank']['p_value'], 3)}"
                        if isinstance(m.get("signed_rank"), dict) else "")
                     for name, m in measures.items()]
            lines.append(f"  {respondent}: " + "; ".join(cells))
    return lines


def breakdown(value: dict[str, Any]) -> str:
    """A breakdown as one line per group."""
    header = (f"{value['by']:<14} {'duos':>6} {'active':>7} {'closed':>7} {'match d':>8} "
              f"{'contacts':>9} {'per 30d':>8} {'min/30d':>8} {'dropout %':>9} {'S(182)':>7}")
    lines = [f"Breakdown by {value['by']} as of {value['as_of']}", header, "-" * len(header)]
    for key, sections in value["groups"].items():
        duos = sections["duos"]
        rate = sections["dropouts"]["rate"]
        lines.append(
            f"{key:<14} {duos['total']:>6} {duos['by_state']['active']:>7} "
            f"{duos['by_state']['closed']:>7} "
            f"{_num(sections['duration']['time_to_match_days']['median']):>8} "
            f"{sections['contact_frequency']['contacts']:>9} "
            f"{_num(sections['contact_frequency']['contacts_per_30_days']['median']):>8} "
            f"{_num(sections['contact_minutes']['minutes_per_30_days']['median'], 0):>8} "
            f"{_percent(rate):>9} "
            f"{_num(sections['dropouts']['survival']['182'], 2):>7}")
    test = value.get("comparison", {}).get("survival_logrank")
    if test is not None:
        lines.append(f"Log-rank test of survival between the groups: chi-square "
                     f"{_num(test['statistic'], 3)}, df {test['df']}, p "
                     f"{_num(test['p_value'], 4)} (a difference between groups, not its "
                     f"cause)")
    return "\n".join([*lines, *_footer(value)])


def duos_table(rows: Sequence[DuoRow], as_of: date) -> str:
    """The duo listing as a table whose columns fit their longest value."""
    heads = ("duo", "programme", "site", "state", "recruited", "activated", "closed",
             "reason", "contacts", "overdue")
    cells = [(row.duo_id, row.programme_id, row.site_id, row.state, row.recruited_on,
              row.activated_on or "—", row.closed_on or "—", row.close_reason or "—",
              str(row.contacts), "yes" if row.overdue else "") for row in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(heads)]
    numeric = {8}  # right-aligned columns

    def line(values: Sequence[str]) -> str:
        return " ".join(v.rjust(w) if i in numeric else v.ljust(w)
                        for i, (v, w) in enumerate(zip(values, widths, strict=True)))

    header = line(heads)
    return "\n".join([f"{len(rows)} duos as of {as_of}", header, "-" * len(header),
                      *(line(c) for c in cells)])


def duos_csv(rows: Sequence[DuoRow]) -> str:
    """The duo listing as CSV with a header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        data = row.as_json()
        writer.writerow(["" if data[c] is None else data[c] for c in COLUMNS])
    return out.getvalue()


def _aligned(heads: Sequence[str], cells: Sequence[Sequence[str]],
             numeric: frozenset[int] = frozenset()) -> list[str]:
    """A header, a rule and one line per row, each column as wide as its longest value
    (``numeric`` columns right-aligned)."""
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(heads)]

    def line(values: Sequence[str]) -> str:
        return " ".join(v.rjust(w) if i in numeric else v.ljust(w)
                        for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    header = line(heads)
    return [header, "-" * len(header), *(line(c) for c in cells)]


def attention_table(rows: Sequence[AttentionRow], as_of: date) -> str:
    """The duos needing attention, one a line with their reasons."""
    cells = [(r.duo_id, r.programme_id, r.site_id, r.state, ", ".join(r.reasons))
             for r in rows]
    return "\n".join([f"{len(rows)} duos need attention as of {as_of}",
                      *_aligned(("duo", "programme", "site", "state", "reasons"), cells)])


def mentors_table(rows: Sequence[PoolRow], as_of: date) -> str:
    """The mentor pool, one mentor a line."""
    cells = [(r.mentor_id, r.programme_id, r.site_id, r.trained_on or "—",
              r.deregistered_on or "—", str(r.open_duos), str(r.duos)) for r in rows]
    heads = ("mentor", "programme", "site", "trained", "left pool", "open duos", "duos")
    return "\n".join([f"{len(rows)} mentors in the pool as of {as_of}",
                      *_aligned(heads, cells, frozenset({5, 6}))])


def suggestions_table(rows: Sequence[Suggestion], duo_id: str) -> str:
    """The ranked mentors for a duo, with the points behind each score."""
    cells = []
    for r in rows:
        reasons, points = r.reasons, r.reasons["points"]
        shifts = ",".join(reasons["shared_shifts"]) or "—"
        chosen = " (chosen)" if reasons.get("chosen") else ""
        cells.append((str(r.rank), r.mentor_id + chosen, str(r.score), shifts,
                      "yes" if reasons["same_department"] else "no",
                      f"{reasons['open_duos']}/{reasons['max_duos_per_mentor']}",
                      str(reasons["years_experience"]), reasons["mentor_kind"],
                      "+".join(str(v) for v in points.values())))
    heads = ("rank", "mentor", "score", "shared shifts", "same dept", "load", "years",
             "kind", "points")
    return "\n".join([f"{len(rows)} mentors for duo {duo_id} (points: shift overlap + "
                      "department + load + experience + peer)",
                      *_aligned(heads, cells, frozenset({0, 2, 6}))])
