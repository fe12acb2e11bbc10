"""The report's figures at the limits of their input, worked out by hand: a month's
contact states that lack the state before the month, the per-duo figures of a store
without programmes, and the at-risk counts of the retention estimates on the day a
mentee has been followed exactly t days, per programme and as recorded by ``as_at``."""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import numpy as np
import pytest
from projection_builders import Log, d

from lifecycle.domain.duo import Duo
from projections.comparisons import logrank
from projections.extras import DuoExtras
from projections.fold import fold
from projections.report import (
    ReportRows,
    at_risk,
    build_breakdown,
    build_report,
    duo_figures,
    facts_at,
    report_rows,
)
from projections.views import ReadModel


def test_a_months_states_without_the_state_before_the_month_are_refused() -> None:
    """One duo's header (mark, facts 0-4; settled, facts 5-6, zeros) and no state
    line: its counts at 2025-03-15 are nowhere."""
    recruited, settled = date(2025, 1, 1).toordinal(), date(2025, 4, 1).toordinal()
    header = [-1, recruited, 0, 0, 0, 0, settled, 0, 0, 0, 0, 0]
    states = struct.pack("<12i", *header)
    with pytest.raises(ValueError) as refused:
        facts_at(states, date(2025, 3, 15))
    assert str(refused.value) == "a month's contact states lack the state before the month"


def test_the_figures_of_a_store_without_programmes_are_whole_numbers() -> None:
    figures = duo_figures(fold([]), d(100))
    assert figures.facts.shape == (0, 13)
    assert figures.facts.dtype == np.int64
    assert len(figures.contacts_per_30_days) == 0


def _two_programmes() -> tuple[ReadModel, datetime]:
    """E-A (P-1) and E-B (P-2) recruited on day 0, then E-C (P-1) on day 0 recorded
    after the stamp returned (the time E-B's recruitment was recorded)."""
    log = Log().world().world("P-2", "S-2", "M-2")
    log.duo("A", 0).duo("B", 0, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    stamp = log.clock
    log.duo("C", 0)
    return fold(log.events), stamp


def _counts(n90: int) -> dict[str, int]:
    return {"90": n90, "182": 0, "365": 0}


def test_a_mentee_followed_exactly_t_days_is_at_risk_at_t() -> None:
    """As of day 90 each of the three mentees was followed 90 days: all at risk at
    90, none at 182 or 365."""
    model, _ = _two_programmes()
    assert at_risk(model, d(90)) == {"retention.in_service": _counts(3)}
    assert at_risk(model, d(89)) == {"retention.in_service": _counts(0)}


def test_the_at_risk_counts_follow_the_programme_and_as_at() -> None:
    model, stamp = _two_programmes()
    assert at_risk(model, d(100), "P-1") == {"retention.in_service": _counts(2)}
    assert at_risk(model, d(100), "P-2") == {"retention.in_service": _counts(1)}
    assert at_risk(model, d(100), as_at=stamp) == {"retention.in_service": _counts(2)}
    assert at_risk(model, d(100), "P-1", as_at=stamp) == {
        "retention.in_service": _counts(1)}


def test_the_at_risk_counts_of_a_breakdown_follow_the_programme_and_as_at() -> None:
    model, stamp = _two_programmes()
    group = "groups.2025-01.retention.in_service"
    assert at_risk(model, d(100), by="month") == {group: _counts(3)}
    assert at_risk(model, d(100), "P-1", by="month") == {group: _counts(2)}
    assert at_risk(model, d(100), by="month", as_at=stamp) == {group: _counts(2)}
    assert at_risk(model, d(100), "P-1", by="month", as_at=stamp) == {group: _counts(1)}


def test_the_figures_follow_as_at() -> None:
    model, stamp = _two_programmes()
    assert len(duo_figures(model, d(100)).facts) == 3
    assert len(duo_figures(model, d(100), as_at=stamp).facts) == 2
    assert duo_figures(model, d(100), "P-1", as_at=stamp).facts[:, 0].tolist() == [
        d(0).toordinal()]


def _totals(breakdown: dict[str, Any]) -> dict[str, int]:
    return {key: group["duos"]["total"] for key, group in breakdown["groups"].items()}


def test_the_match_labels_as_recorded_by_as_at() -> None:
    """A matched with a peer (shifts overlap, other department), B with a supervisor
    (no overlap, same department), C never matched; ``before`` is a time after B's
    recruitment and before its match, ``matched`` the time of B's match."""
    log = Log().world()
    log.duo("A", 0, 2, 5).duo("C", 0).duo("B", 0, 2)
    before = log.clock
    log.add(Duo.Matched, "duo:B", 6, mentor_id="M-1", mentor_kind="supervisor",
            shift_overlap=False, same_department=True)
    matched = log.clock
    model = fold(log.events)
    for as_at in (None, matched):
        assert _totals(build_breakdown(model, d(10), "mentor_kind", as_at=as_at)) == {
            "peer": 1, "supervisor": 1, "unmatched": 1}
        assert _totals(build_breakdown(model, d(10), "shift_overlap", as_at=as_at)) == {
            "false": 1, "true": 1, "unmatched": 1}
        assert _totals(build_breakdown(model, d(10), "same_department", as_at=as_at)) == {
            "false": 1, "true": 1, "unmatched": 1}
    assert _totals(build_breakdown(model, d(10), "mentor_kind", as_at=before)) == {
        "peer": 1, "unmatched": 2}
    assert _totals(build_breakdown(model, d(10), "shift_overlap", as_at=before)) == {
        "true": 1, "unmatched": 2}
    # Matched on day 6: as of day 5 B waits to be matched, but the label is its match's.
    assert _totals(build_breakdown(model, d(5), "mentor_kind")) == {
        "peer": 1, "supervisor": 1, "unmatched": 1}


def test_a_duo_of_a_site_never_registered_is_in_the_setting_unknown() -> None:
    log = Log().world()
    log.duo("A", 0).duo("B", 0, site_id="S-9")
    assert _totals(build_breakdown(fold(log.events), d(10), "setting")) == {
        "adult": 1, "unknown": 1}


def test_a_report_at_an_earlier_as_of_leaves_the_rows_as_they_are() -> None:
    """A's two contacts (days 5 and 20): as of day 10 one counts; the rows then give
    both as of day 30."""
    log = Log().world()
    log.duo("A", 0, 1, 2, 3).contact("A", "K-1", 5).contact("A", "K-2", 20)
    rows = report_rows(fold(log.events))
    assert build_report(rows, d(10))["contact_frequency"]["contacts"] == 1
    assert build_report(rows, d(30))["contact_frequency"]["contacts"] == 2


def test_rows_without_the_extras_of_their_duos_are_refused() -> None:
    log = Log().world()
    log.duo("A", 0)
    rows = report_rows(fold(log.events))
    lacking = ReportRows({"P-1": replace(rows.programmes["P-1"],
                                         extras=DuoExtras.empty())})
    with pytest.raises(ValueError) as refused:
        build_report(lacking, d(10))
    assert str(refused.value) == ("rows were loaded without what the evaluation "
                                  "sections need")


def test_a_duo_recruited_on_the_as_of_day_counts_everywhere() -> None:
    log = Log().world()
    log.duo("A", 10)
    model = fold(log.events)
    report = build_report(model, d(10))
    assert report["duos"]["total"] == 1
    assert report["retention"]["mentees"] == 1
    assert _totals(build_breakdown(model, d(10), "site")) == {"S-1": 1}
    assert build_breakdown(model, d(10), "site")["groups"]["S-1"]["retention"][
        "mentees"] == 1


def test_a_breakdown_has_the_survey_tests_only_when_asked_for() -> None:
    log = Log().world()
    log.duo("A", 0, 1, 2, 3).survey("A", 10, phase="pre").survey("A", 40, phase="post")
    model = fold(log.events)
    plain = build_breakdown(model, d(50), "programme")["groups"]["P-1"]["surveys"]
    tested = build_breakdown(model, d(50), "programme", tests=True)["groups"]["P-1"][
        "surveys"]
    assert "signed_rank" not in plain["mentee"]["wellbeing"]
    assert "signed_rank" in tested["mentee"]["wellbeing"]


def test_a_breakdown_compares_the_survival_of_its_groups() -> None:
    """P-1's duo active from day 3, dropped out on day 20 (17 days, an event); P-2's
    active from day 3, open as of day 100 (97 days, censored)."""
    log = Log().world().world("P-2", "S-2", "M-2")
    log.duo("A", 0, 1, 2, 3, 20, reason="mentee_withdrew")
    log.duo("B", 0, 1, 2, 3, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    found = build_breakdown(fold(log.events), d(100), "programme")["comparison"]
    assert found["survival_logrank"] is not None
    assert found["survival_logrank"] == logrank({"P-1": [(17, True)], "P-2": [(97, False)]})


def test_a_breakdown_by_quarter_takes_the_extras_by_their_own_recruitment_day() -> None:
    """A recruited on day 0 (2025-Q1), B on day 200 (2025-07-20, Q3), the extras of
    the rows in the other order: as of day 300 A was followed 300 days, B 100."""
    log = Log().world()
    log.duo("A", 0).duo("B", 200)
    complete = report_rows(fold(log.events)).programmes["P-1"]
    assert complete.facts[:, 0].tolist() == [d(0).toordinal(), d(200).toordinal()]
    rows = ReportRows({"P-1": replace(complete, extras=complete.extras.subset([1, 0]))})
    assert at_risk(rows, d(300), by="quarter") == {
        "groups.2025-Q1.retention.in_service": {"90": 1, "182": 1, "365": 0},
        "groups.2025-Q3.retention.in_service": {"90": 1, "182": 0, "365": 0}}


def test_the_facts_of_a_month_without_states_are_an_empty_table_of_whole_numbers() -> None:
    found = facts_at(b"", date(2025, 3, 15))
    assert found.shape == (0, 13)
    assert found.dtype == np.int64


def test_as_at_leaves_out_a_departure_recorded_later() -> None:
    """E-A departed on day 50, recorded after ``stamp``: as recorded by then, as of
    day 100, nobody had departed."""
    log = Log().world()
    log.duo("A", 0)
    stamp = log.clock
    log.depart("A", 50)
    model = fold(log.events)
    assert build_report(model, d(100))["retention"]["departed"] == 1
    assert build_report(model, d(100), as_at=stamp)["retention"]["departed"] == 0
