"""The human-readable renderings of the CLI (``lifecycle.entrypoints.tables``): report text,
breakdown lines, the duo table and its CSV."""

from __future__ import annotations

import csv
import io
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lifecycle.entrypoints import tables
from projections.fold import fold
from projections.listing import COLUMNS, DuoRow, list_duos
from projections.publish import publish
from projections.report import build_breakdown, build_report, contact_minutes

sys.path.insert(0, str(Path(__file__).parents[2] / "projections"))
from projection_builders import Log, d

AS_OF = d(89)
DASH = "—"
LONG_ID = "D." + "x" * 62
"""A duo id of the longest length CONTRACT §1 allows (64 characters)."""


def pilot() -> Log:
    """Two programmes: active duos (one overdue), a dropout, a completed duo, a rematch."""
    log = Log().world("P-1", "S-1", "M-1", contact_interval_days=14)
    log.world("P-2", "S-2", "M-2", country="PT", contact_interval_days=30)
    log.duo("A", 0, 2, 10, 15).contact("A", "K-1", 20, minutes=60)
    log.contact("A", "K-2", 30, minutes=90, functions=["psychosocial", "career"])
    log.duo("B", 5, 6, 12, 20, closed=60, reason="mentee_withdrew")
    log.contact("B", "K-1", 25, minutes=300)
    log.duo("C", 10, 11, closed=20, reason="rematched")
    log.recruit("C2", 25, mentee_id="E-C", predecessor="C")
    log.duo("E", 40, 41, 50, 60, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    log.contact("E", "K-1", 85, minutes=10, functions=["career"])
    log.duo("F", 30, 31, 32, 33, closed=80, reason="completed")
    return log


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    model = fold(pilot().events)
    report = build_report(model, AS_OF)
    minutes = contact_minutes(model, AS_OF)
    return {"model": model, "report": report, "minutes": minutes,
            "text": tables.report(report, minutes, None)}


# ---------------------------------------------------------------------- the report
def test_the_report_text_has_a_line_for_every_section_and_metric(
        rendered: dict[str, Any]) -> None:
    text, report = rendered["text"], rendered["report"]
    lines = text.splitlines()
    assert lines[0] == "Report as of 2025-03-31 (all programmes)"
    for heading in ("Duration:", "Contact frequency:", "Dropouts:"):
        assert heading in lines
    states = report["duos"]["by_state"]
    assert lines[1] == (f"Duos: {report['duos']['total']} (recruited {states['recruited']}, "
                        f"selected {states['selected']}, matched {states['matched']}, "
                        f"active {states['active']}, closed {states['closed']})")
    for label in ("time to match", "time to first meeting",
                  "relationship (closed from active)", "contacts per 30 active days",
                  "minutes per 30 active days", "by stage:", "by reason:",
                  "survival of active relationships:"):
        assert sum(label in line for line in lines) == 1, label
    frequency = report["contact_frequency"]
    assert (f"contacts {frequency['contacts']} (psychosocial "
            f"{frequency['by_function']['psychosocial']}, career "
            f"{frequency['by_function']['career']}); overdue active duos "
            f"{frequency['overdue_active_duos']}") in text
    dropouts = report["dropouts"]
    assert f"{dropouts['count']} dropouts, rate {100 * dropouts['rate']:.1f} %" in text
    assert "mentee_withdrew 1" in text
    for t in ("30", "90", "182", "365"):
        assert f"S({t})=" in text
    minutes = rendered["minutes"]
    assert f"benchmark {minutes['benchmark_minutes_per_30_days']}" in text
    assert f"{minutes['duos_meeting_benchmark']} of " in text


def test_the_report_text_names_the_programme_it_is_restricted_to(
        rendered: dict[str, Any]) -> None:
    model = rendered["model"]
    text = tables.report(build_report(model, AS_OF, "P-2"),
                         contact_minutes(model, AS_OF, "P-2"), "P-2")
    assert text.splitlines()[0] == "Report as of 2025-03-31 (programme P-2)"
    assert text.splitlines()[1].startswith("Duos: 1 ")


def test_the_report_text_renders_without_the_minutes_section(
        rendered: dict[str, Any]) -> None:
    text = tables.report(rendered["report"], None, None)
    assert "minutes per 30 active days" not in text
    assert text.splitlines() == [line for line in rendered["text"].splitlines()
                                 if "minutes per 30 active days" not in line]


def test_null_medians_means_rate_and_survival_are_shown_as_a_dash() -> None:
    model = fold(Log().world().events)
    report = build_report(model, AS_OF)
    text = tables.report(report, contact_minutes(model, AS_OF), "P-1")
    for label in ("time to match", "time to first meeting",
                  "relationship (closed from active)", "contacts per 30 active days",
                  "minutes per 30 active days"):
        line = next(line for line in text.splitlines() if label in line)
        assert f"median {DASH}" in line and f"mean {DASH}" in line, line
        assert "None" not in line
    assert f"0 dropouts, rate {DASH} %" in text
    assert f"S(30)={DASH}, S(90)={DASH}, S(182)={DASH}, S(365)={DASH}" in text
    assert "by reason: none" in text
    assert "None" not in text and "null" not in text


def test_numbers_are_rounded_for_reading(rendered: dict[str, Any]) -> None:
    text = rendered["text"]
    match = rendered["report"]["duration"]["time_to_match_days"]
    assert f"n={match['n']}" in text
    assert re.search(r"survival of active relationships: S\(30\)=\d\.\d{3}", text)


def test_a_unitless_summary_has_no_stray_space_before_its_comma(
        rendered: dict[str, Any]) -> None:
    line = next(line for line in rendered["text"].splitlines()
                if "contacts per 30 active days" in line)
    assert " ," not in line, line


# ---------------------------------------------------------------------- breakdowns
@pytest.mark.parametrize("by", ["programme", "site", "country", "month"])
def test_a_breakdown_is_one_line_per_group_under_a_header(
        rendered: dict[str, Any], by: str) -> None:
    value = build_breakdown(rendered["model"], AS_OF, by)  # type: ignore[arg-type]
    lines = tables.breakdown(value).splitlines()
    assert lines[0] == f"Breakdown by {by} as of 2025-03-31"
    header, rule = lines[1], lines[2]
    body, after = lines[3:3 + len(value["groups"])], lines[3 + len(value["groups"]):]
    assert header.split()[0] == by
    assert set(rule) == {"-"} and len(rule) == len(header)
    assert [line.split()[0] for line in body] == list(value["groups"])
    # then the log-rank comparison of the groups, when there is one, and nothing else
    test = value["comparison"]["survival_logrank"]
    assert after == ([] if test is None else [
        f"Log-rank test of survival between the groups: chi-square "
        f"{test['statistic']:.3f}, df {test['df']}, p {test['p_value']:.4f} "
        f"(a difference between groups, not its cause)"])
    assert len(body) == len(value["groups"]) >= 2
    for line, sections in zip(body, value["groups"].values(), strict=True):
        cells = line.split()
        assert cells[1:4] == [str(sections["duos"]["total"]),
                              str(sections["duos"]["by_state"]["active"]),
                              str(sections["duos"]["by_state"]["closed"])]
        assert cells[5] == str(sections["contact_frequency"]["contacts"])


def test_a_breakdown_shows_null_values_as_a_dash(rendered: dict[str, Any]) -> None:
    value = build_breakdown(rendered["model"], AS_OF, "programme")
    line = next(line for line in tables.breakdown(value).splitlines()
                if line.startswith("P-2"))
    # P-2's only duo is active with one contact: no dropout curve beyond 29 days
    assert value["groups"]["P-2"]["dropouts"]["survival"]["182"] is None
    assert line.split()[-1] == DASH


def test_a_breakdown_of_nothing_is_its_header_alone() -> None:
    value = build_breakdown(fold(Log().world().events), AS_OF, "site")
    assert len(tables.breakdown(value).splitlines()) == 3


# ---------------------------------------------------------------------- the duo listing
def listing(rendered: dict[str, Any]) -> list[DuoRow]:
    return list_duos(rendered["model"], AS_OF)


def test_the_duo_table_has_a_title_a_header_and_one_line_per_duo(
        rendered: dict[str, Any]) -> None:
    rows = listing(rendered)
    lines = tables.duos_table(rows, AS_OF).splitlines()
    assert lines[0] == f"{len(rows)} duos as of 2025-03-31"
    assert lines[1].split()[:4] == ["duo", "programme", "site", "state"]
    assert set(lines[2]) == {"-"}
    body = lines[3:]
    assert len(body) == len(rows)
    for line, found in zip(body, rows, strict=True):
        cells = line.split()
        assert cells[:5] == [found.duo_id, found.programme_id, found.site_id, found.state,
                             found.recruited_on]
        assert (cells[-1] == "yes") is found.overdue
        assert (found.activated_on or DASH) in cells
        assert str(found.contacts) in cells
    overdue = [found.duo_id for found in rows if found.overdue]
    assert overdue == ["A"]  # last contact day 30, 59 days before day 89


def test_the_duo_table_of_no_duos_is_its_header() -> None:
    lines = tables.duos_table([], date(2025, 1, 1)).splitlines()
    assert lines[0] == "0 duos as of 2025-01-01"
    assert len(lines) == 3


def test_the_duo_table_stays_aligned_with_the_longest_allowed_ids() -> None:
    rows = list_duos(fold(long_id_log().events), AS_OF)
    lines = tables.duos_table(rows, AS_OF).splitlines()
    header, rule, body = lines[1], lines[2], lines[3:]
    assert len(rule) == len(header)
    state_column = header.index("state")
    for line, found in zip(body, rows, strict=True):
        assert len(line) == len(header), line
        assert line[state_column:].startswith(found.state), line


def long_id_log() -> Log:
    """A duo with a 64-character id (and a short mentee id) active from day 3, and D-2."""
    log = Log().world().recruit(LONG_ID, 0, mentee_id="E-long")
    log.select(LONG_ID, 1).match(LONG_ID, 2).activate(LONG_ID, 3)
    return log.duo("D-2", 0)


def _csv(rows: list[DuoRow]) -> list[list[str]]:
    return list(csv.reader(io.StringIO(tables.duos_csv(rows))))


def test_the_duo_csv_has_the_listing_columns_and_round_trips_through_a_reader(
        rendered: dict[str, Any]) -> None:
    rows = listing(rendered)
    header, *body = _csv(rows)
    assert header == list(COLUMNS)
    assert len(body) == len(rows)
    for values, found in zip(body, rows, strict=True):
        expected = {key: "" if value is None else str(value)
                    for key, value in found.as_json().items()}
        assert dict(zip(header, values, strict=True)) == expected
    by_id = {values[0]: dict(zip(header, values, strict=True)) for values in body}
    assert by_id["C"]["successor_duo_id"] == "C2"
    assert by_id["C2"]["predecessor_duo_id"] == "C"
    assert by_id["A"]["mentor_id"] == "M-1"
    assert by_id["A"]["selected_on"] == "2025-01-03"
    assert by_id["C2"]["activated_on"] == ""
    assert int(by_id["B"]["contact_minutes"]) == 300


def test_the_duo_csv_of_no_duos_is_its_header_line() -> None:
    assert tables.duos_csv([]) == ",".join(COLUMNS) + "\n"


def test_the_duo_csv_keeps_long_ids_whole() -> None:
    header, *body = _csv(list_duos(fold(long_id_log().events), AS_OF))
    values = next(v for v in body if v[header.index("duo_id")].startswith("D.x"))
    assert values[header.index("duo_id")] == LONG_ID


def test_a_published_breakdown_marks_every_figure_secondary_suppression_hides() -> None:
    """The column of ones (CONTRACT §6, ADR 20): January's pairs are hidden only so that
    its worsened cannot be worked out; the tables mark it as they mark the others."""
    def month(pairs: int, improved: int, worsened: int) -> dict[str, Any]:
        return {"surveys": {"mentee": {"wellbeing": {
            "pairs": pairs, "improved": improved, "unchanged": 0, "worsened": worsened}}}}

    split = {"as_of": "2025-07-31", "by": "month", "groups": {
        "2025-01": month(3, 1, 2), "2025-02": month(2, 1, 1), "2025-03": month(1, 1, 0)}}
    published = publish(split, 3, overall=month(6, 3, 3))
    assert "groups.2025-01.surveys.mentee.wellbeing.pairs" in published["suppressed"]
    shown = tables.marked(published)["groups"]
    assert shown["2025-01"]["surveys"]["mentee"]["wellbeing"] == {
        "pairs": tables.HIDDEN, "improved": tables.HIDDEN, "unchanged": 0,
        "worsened": tables.HIDDEN}
    assert shown["2025-03"]["surveys"]["mentee"]["wellbeing"]["worsened"] == 0
