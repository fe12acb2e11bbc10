"""The report's definitions (CONTRACT §4) on small hand-made logs, every number worked
out here.

Day numbers count from 2025-01-01 (day 0); ``AS_OF`` is 2025-03-31, day 89.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import statistics
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from projection_builders import Log, d, random_log, truncated

from projections.fold import fold
from projections.report import (
    ReportRows,
    UnknownProgramme,
    build_breakdown,
    build_report,
    contact_minutes,
    report_rows,
    summary,
)

AS_OF = d(89)

CONTRACT_TEMPLATE: dict[str, Any] = {
    "as_of": "2025-07-31",
    "duos": {"total": 0, "by_state": {"recruited": 0, "selected": 0, "matched": 0,
                                      "active": 0, "closed": 0}},
    "duration": {
        "time_to_match_days": {"n": 0, "median": None, "mean": None},
        "time_to_first_meeting_days": {"n": 0, "median": None, "mean": None},
        "relationship_days": {"n": 0, "median": None, "mean": None},
    },
    "contact_frequency": {
        "contacts": 0,
        "by_function": {"psychosocial": 0, "career": 0},
        "contacts_per_30_days": {"n": 0, "median": None, "mean": None},
        "overdue_active_duos": 0,
    },
    "dropouts": {
        "count": 0,
        "rate": None,
        "by_stage": {"recruited": 0, "selected": 0, "matched": 0, "active": 0},
        "by_reason": {"mentee_withdrew": 0, "mentor_withdrew": 0, "mentee_left_service": 0,
                      "mentor_left_service": 0, "mismatch": 0, "no_mentor_available": 0,
                      "other": 0},
        "survival": {"30": None, "90": None, "182": None, "365": None},
        "by_month": {},
        "median_survival_days": None,
        "survival_curve": [],
    },
    "first_meeting": {"on_time": 0, "late": 0, "waiting_overdue": 0},
    "monitoring": {"reviews": 0, "windows_due": 0, "windows_met": 0, "compliance": None,
                   "latest_health": {"n": 0, "median": None, "mean": None}},
    "closure": {"closed": 0, "from_active": 0, "completed": 0, "early": 0,
                "early_rate": None, "beyond_max_active": 0, "exit_interviews": 0,
                "exit_interview_rate": None},
    "retention": {"mentees": 0, "departed": 0,
                  "by_reason": {"resigned": 0, "dismissed": 0, "retired": 0, "other": 0},
                  "in_service": {"90": None, "182": None, "365": None}},
    "surveys": {respondent: {measure: {
        "pairs": 0, "mean_change": None, "median_change": None, "improved": 0,
        "unchanged": 0, "worsened": 0}
        for measure in ("wellbeing", "stress", "integration", "confidence")}
        for respondent in ("mentee", "mentor")},
}
"""The contract's report (v1 and v2 keys) with every value at its empty default, in the
contract's order."""

V1_DROPOUTS = ("count", "rate", "by_stage", "by_reason", "survival")


def v1(report: dict[str, Any]) -> dict[str, Any]:
    """The report's v1 keys only (the v2 sections are checked on their own)."""
    kept = {k: report[k] for k in ("as_of", "duos", "duration", "contact_frequency")}
    return {**kept, "dropouts": {k: report["dropouts"][k] for k in V1_DROPOUTS}}


def _keys(value: Any) -> Any:
    """The nested keys of a report; ``by_month`` keys are data (months), not structure."""
    if isinstance(value, dict):
        return [(k, None if k == "by_month" else _keys(v)) for k, v in value.items()]
    return None


def _types(value: Any) -> Any:
    """The type of every number of a report, key by key: ``==`` alone takes 20 for 20.0,
    JSON does not (``20`` and ``20.0`` are different texts)."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    return type(value).__name__


STATES = ("recruited", "selected", "matched", "active", "closed")


def pilot() -> Log:
    """Two programmes and ten duos covering every definition (see the test below)."""
    log = Log().world("P-1", "S-1", "M-1", country="DK", contact_interval_days=14)
    log.world("P-2", "S-2", "M-2", country="PT", contact_interval_days=5)
    # A: active since day 15; K-3 retracted on day 50, K-4 only on day 100, K-5 after as_of
    log.duo("A", 0, 2, 10, 15)
    log.contact("A", "K-1", 20, minutes=60, functions=["psychosocial"])
    log.contact("A", "K-2", 30, minutes=120, functions=["psychosocial", "career"])
    log.contact("A", "K-3", 40, minutes=500, functions=["career"])
    log.contact("A", "K-4", 45, minutes=90, functions=["psychosocial"])
    log.retract("A", "K-3", 50).retract("A", "K-4", 100)
    log.contact("A", "K-5", 95, minutes=30)
    # B: closed from active on day 60 (dropout); K-2 logged after the closure
    log.duo("B", 5, 6, 12, 20).contact("B", "K-1", 25, minutes=300)
    log.close("B", 60, "mentee_withdrew")
    log.contact("B", "K-2", 59, minutes=200, functions=["career"])
    log.duo("C", 10, 11, closed=20, reason="no_mentor_available")     # from selected
    log.duo("D", 30, closed=31, reason="programme_ended")              # not a dropout
    log.duo("E", 40, 41, 50, 60, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    log.contact("E", "K-1", 85, minutes=10)
    log.duo("F", 50, 55, 60, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    log.duo("G", 80, programme_id="P-2", site_id="S-2")
    log.duo("H", 60, 61, 62, 70, closed=70, reason="completed")       # 0 active days
    log.duo("I", 95, 96)                                               # after as_of
    log.duo("J", 20, 21, 22, closed=23, reason="mismatch", programme_id="P-2",
            site_id="S-2", mentor_id="M-2")                           # from matched
    return log


def test_every_v1_field_of_the_report_on_a_worked_pilot() -> None:
    report = v1(build_report(fold(pilot().events), AS_OF))
    expected = {
        "as_of": "2025-03-31",
        # recruited by day 89: A B C D E F G H J (I on day 95 is not)
        "duos": {"total": 9, "by_state": {"recruited": 1, "selected": 0, "matched": 1,
                                          "active": 2, "closed": 5}},
        "duration": {
            # A 10, B 7, E 10, F 10, H 2, J 2 -> 2 2 7 10 10 10
            "time_to_match_days": {"n": 6, "median": 8.5, "mean": 41 / 6},
            # A 5, B 8, E 10, H 8 -> 5 8 8 10
            "time_to_first_meeting_days": {"n": 4, "median": 8.0, "mean": 7.75},
            # closed from active: B 40, H 0 -> a whole mean stays an int
            "relationship_days": {"n": 2, "median": 20.0, "mean": 20},
        },
        "contact_frequency": {
            # A: K-1 K-2 K-4 (K-3 retracted on day 50, K-4's retraction is after as_of,
            # K-5 after as_of); B: K-1 and the late K-2; E: K-1
            "contacts": 6,
            "by_function": {"psychosocial": 5, "career": 2},
            # A 3*30/74, B 2*30/40, E 1*30/29; H has no active day
            "contacts_per_30_days": {"n": 3, "median": 90 / 74,
                                     "mean": (90 / 74 + 1.5 + 30 / 29) / 3},
            # A: latest counted contact day 45, 44 days > 14; E: day 85, 4 days <= 5
            "overdue_active_duos": 1,
        },
        "dropouts": {
            "count": 3,
            "rate": 3 / 9,
            "by_stage": {"recruited": 0, "selected": 1, "matched": 1, "active": 1},
            "by_reason": {"mentee_withdrew": 1, "mentor_withdrew": 0,
                          "mentee_left_service": 0, "mentor_left_service": 0,
                          "mismatch": 1, "no_mentor_available": 1, "other": 0},
            # activated: A 74 (censored), B 40 (event), E 29 and H 0 (censored);
            # at 40: 2 at risk, 1 event -> 0.5; longest 74: beyond it null
            "survival": {"30": 1.0, "90": None, "182": None, "365": None},
        },
    }
    assert report == expected
    assert _types(report) == _types(expected)


def _band(s: float, variance: float) -> tuple[float, float]:
    spread = 1.959963984540054 * math.sqrt(variance) / math.log(s)
    centre = math.log(-math.log(s))
    return math.exp(-math.exp(centre - spread)), math.exp(-math.exp(centre + spread))


def test_every_v2_field_of_the_report_on_a_worked_pilot() -> None:
    report = build_report(fold(pilot().events), AS_OF)
    # matched by day 89: A B E F H J; activated A (wait 5), B 8, E 10, H 8: all within
    # 14 days; F matched on day 60 waits 29 days > 14
    assert report["first_meeting"] == {"on_time": 4, "late": 0, "waiting_overdue": 1}
    # windows of 30 days from the match, due when over by day 89 (and by the close):
    # A (10, open) 80 days → 2, B (12, closed 60) 49 → 1, E (50) 40 → 1, F (60) 30 → 1,
    # H (62, closed 70) 9 → 0, J (22, closed 23) 2 → 0; no review at all
    assert report["monitoring"] == {
        "reviews": 0, "windows_due": 5, "windows_met": 0, "compliance": 0.0,
        "latest_health": {"n": 0, "median": None, "mean": None}}
    # closed: B C D H J; from active B (40 days) and H (0 days): both under 182
    assert report["closure"] == {
        "closed": 5, "from_active": 2, "completed": 1, "early": 2, "early_rate": 1.0,
        "beyond_max_active": 0, "exit_interviews": 0, "exit_interview_rate": 0.0}
    # nine mentees, none departed: in service 1.0 up to 89 days, unknown beyond
    assert report["retention"] == {
        "mentees": 9, "departed": 0,
        "by_reason": {"resigned": 0, "dismissed": 0, "retired": 0, "other": 0},
        "in_service": {"90": None, "182": None, "365": None}}
    dropouts = report["dropouts"]
    # C closed on day 20 and J on day 23 (January), B on day 60 (1 March)
    assert dropouts["by_month"] == {"2025-01": 2, "2025-03": 1}
    assert list(dropouts["by_month"]) == ["2025-01", "2025-03"]
    # activated: H 0 (censored), E 29 (censored), B 40 (dropout), A 74 (censored)
    lower, upper = _band(0.5, 1 / (2 * 1))
    assert dropouts["survival_curve"] == [
        {"t": 0, "at_risk": 4, "events": 0, "censored": 1, "s": 1.0, "lower": 1.0,
         "upper": 1.0},
        {"t": 29, "at_risk": 3, "events": 0, "censored": 1, "s": 1.0, "lower": 1.0,
         "upper": 1.0},
        {"t": 40, "at_risk": 2, "events": 1, "censored": 0, "s": 0.5,
         "lower": pytest.approx(lower, abs=1e-12), "upper": pytest.approx(upper, abs=1e-12)},
        {"t": 74, "at_risk": 1, "events": 0, "censored": 1, "s": 0.5,
         "lower": pytest.approx(lower, abs=1e-12), "upper": pytest.approx(upper, abs=1e-12)},
    ]
    assert dropouts["median_survival_days"] == 40
    assert report["surveys"] == CONTRACT_TEMPLATE["surveys"]


def test_survey_tests_are_added_only_when_asked_for() -> None:
    log = pilot()
    for duo, pre, post in (("A", 2, 4), ("B", 3, 4), ("E", 4, 1)):
        log.survey(duo, 30, phase="pre", scores={**scores_of(pre)})
        log.survey(duo, 80, phase="post", scores={**scores_of(post)})
    model = fold(log.events)
    plain = build_report(model, AS_OF)["surveys"]["mentee"]["wellbeing"]
    tested = build_report(model, AS_OF, tests=True)["surveys"]["mentee"]["wellbeing"]
    assert "signed_rank" not in plain
    # changes +2, +1, −3: |c| ranks 2, 1, 3 → W+ = 3, W− = 3
    assert tested == {**plain, "signed_rank": {"n": 3, "statistic": 3.0,
                                               "p_value": pytest.approx(1.0)}}
    assert plain == {"pairs": 3, "mean_change": 0.0, "median_change": 1, "improved": 2,
                     "unchanged": 0, "worsened": 1}


def scores_of(score: int) -> dict[str, int]:
    return {"wellbeing": score, "stress": 3, "integration": 3, "confidence": 3}


def test_the_report_has_the_contracts_keys_in_the_contracts_order() -> None:
    report = build_report(fold(pilot().events), AS_OF)
    assert _keys(report) == _keys(CONTRACT_TEMPLATE)
    assert list(json.loads(json.dumps(report))) == list(CONTRACT_TEMPLATE)


def test_an_empty_store_gives_zeros_and_nulls() -> None:
    report = build_report(fold([]), date(2025, 7, 31))
    assert report == CONTRACT_TEMPLATE


def test_before_anything_happened_the_rate_and_every_summary_are_null() -> None:
    report = build_report(fold(pilot().events), date(2024, 12, 31))
    assert report == {**CONTRACT_TEMPLATE, "as_of": "2024-12-31"}


def test_a_later_as_of_counts_the_retraction_and_contacts_that_came_later() -> None:
    report = build_report(fold(pilot().events), d(200))
    # A: K-1 K-2 K-5 (K-3 and K-4 retracted by day 100); B 2; E 1
    assert report["contact_frequency"]["contacts"] == 6
    assert report["contact_frequency"]["by_function"] == {"psychosocial": 5, "career": 2}
    assert report["duos"]["total"] == 10
    assert report["duos"]["by_state"] == {"recruited": 1, "selected": 1, "matched": 1,
                                          "active": 2, "closed": 5}


def test_a_contact_logged_late_counts_by_its_own_date_and_as_at_hides_it() -> None:
    log = pilot()
    model = fold(log.events)
    late = next(e for e in log.events if getattr(e, "contact_id", None) == "K-2"
                and e.originator_id == "duo:B")
    assert build_report(model, d(58))["contact_frequency"]["contacts"] == 4  # A 3, B 1
    assert build_report(model, d(59))["contact_frequency"]["contacts"] == 5
    before = late.timestamp - timedelta(seconds=1)
    # recorded by then: A's three contacts and B's first
    hidden = build_report(model, AS_OF, as_at=before)
    assert hidden["contact_frequency"]["contacts"] == 4
    assert hidden["duos"]["total"] == 2  # A and B: the others were recorded later
    shown = build_report(model, AS_OF, as_at=late.timestamp)
    assert shown["contact_frequency"]["contacts"] == 5
    assert build_report(model, AS_OF, as_at=log.clock) == build_report(model, AS_OF)


def test_as_at_leaves_out_duos_and_steps_recorded_later() -> None:
    log = Log().world().duo("D-1", 1, 2, 3, 4)
    activated_at = log.events[-1].timestamp
    log.duo("D-2", 1)
    model = fold(log.events)
    report = build_report(model, d(10), as_at=activated_at - timedelta(seconds=1))
    assert report["duos"] == {"total": 1, "by_state": {"recruited": 0, "selected": 0,
                                                       "matched": 1, "active": 0,
                                                       "closed": 0}}
    assert build_report(model, d(10), as_at="2030-01-01T00:00:00Z")["duos"]["total"] == 2


def test_a_retraction_dated_after_as_of_does_not_remove_the_contact() -> None:
    log = Log().world().duo("D-1", 0, 0, 0, 0).contact("D-1", "K-1", 5).retract("D-1", "K-1", 9)
    model = fold(log.events)
    assert build_report(model, d(8))["contact_frequency"]["contacts"] == 1
    assert build_report(model, d(9))["contact_frequency"]["contacts"] == 0


@pytest.mark.parametrize(("steps", "stage"), [
    (0, "recruited"), (1, "selected"), (2, "matched"), (3, "active")])
def test_a_dropout_counts_under_the_state_it_was_closed_from(steps: int, stage: str) -> None:
    log = Log().world()
    log.duo("D-1", *range(steps + 1), closed=10, reason="mentor_withdrew")  # type: ignore[arg-type]
    report = build_report(fold(log.events), d(10))
    assert report["duos"]["by_state"]["closed"] == 1
    assert report["dropouts"]["count"] == 1
    assert report["dropouts"]["by_stage"] == {s: int(s == stage) for s in
                                              ("recruited", "selected", "matched", "active")}
    assert report["dropouts"]["by_reason"]["mentor_withdrew"] == 1
    assert report["duration"]["relationship_days"]["n"] == (1 if stage == "active" else 0)
    # the day before, the duo is still open in the state it was closed from
    assert report["dropouts"]["rate"] == 1.0
    assert build_report(fold(log.events), d(9))["duos"]["by_state"][stage] == 1


@pytest.mark.parametrize("reason", ["completed", "programme_ended", "rematched"])
def test_completed_programme_ended_and_rematched_are_not_dropouts(reason: str) -> None:
    log = Log().world().duo("D-1", 0, 1, 2, 3, closed=40, reason=reason)
    report = build_report(fold(log.events), d(50))
    assert report["dropouts"]["count"] == 0
    assert report["dropouts"]["rate"] == 0.0
    assert report["duration"]["relationship_days"] == {"n": 1, "median": 37, "mean": 37}
    # censored at 37 days: known (1.0) up to 37, unknown beyond
    assert report["dropouts"]["survival"] == {"30": 1.0, "90": None, "182": None,
                                              "365": None}


@pytest.mark.parametrize(("as_of", "overdue"), [(14, 0), (15, 1)])
def test_overdue_is_strictly_more_than_the_interval_since_activation_without_contacts(
        as_of: int, overdue: int) -> None:
    log = Log().world(contact_interval_days=14).duo("D-1", 0, 0, 0, 0)
    report = build_report(fold(log.events), d(as_of))
    assert report["contact_frequency"]["overdue_active_duos"] == overdue


def test_overdue_uses_the_latest_counted_contact_and_each_programmes_interval() -> None:
    log = Log().world("P-1", "S-1", "M-1", contact_interval_days=14)
    log.world("P-2", "S-2", "M-2", contact_interval_days=3)
    log.duo("A", 0, 0, 0, 0).contact("A", "K-1", 10)                       # 10 days ago
    log.duo("B", 0, 0, 0, 0, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    log.contact("B", "K-1", 10)                                            # 10 > 3
    log.duo("C", 0, 0, 0, 0).contact("C", "K-1", 18).retract("C", "K-1", 19)  # 20 > 14
    log.duo("D", 0, 0, 0, 0, closed=1, reason="other")                     # not active
    report = build_report(fold(log.events), d(20))
    assert report["contact_frequency"]["overdue_active_duos"] == 2
    assert build_report(fold(log.events), d(20), "P-1")["contact_frequency"][
        "overdue_active_duos"] == 1


def test_contacts_per_30_days_leave_out_duos_without_an_active_day() -> None:
    log = Log().world().duo("A", 0, 0, 0, 10).contact("A", "K-1", 10)  # 0 active days
    log.duo("B", 0, 0, 0, 0).contact("B", "K-1", 3).contact("B", "K-2", 4, functions=[
        "psychosocial", "career"])
    report = build_report(fold(log.events), d(10))
    assert report["contact_frequency"]["contacts_per_30_days"] == {"n": 1, "median": 6.0,
                                                                   "mean": 6.0}
    assert report["contact_frequency"]["by_function"] == {"psychosocial": 3, "career": 1}


def test_no_activated_duo_gives_null_survival_and_no_frequency() -> None:
    log = Log().world().duo("A", 0, 1, 2).duo("B", 0, closed=3, reason="other")
    report = build_report(fold(log.events), d(400))
    assert report["dropouts"]["survival"] == {"30": None, "90": None, "182": None,
                                              "365": None}
    assert report["contact_frequency"]["contacts_per_30_days"]["n"] == 0


def test_survival_that_reaches_zero_stays_zero() -> None:
    log = Log().world().duo("A", 0, 0, 0, 0, closed=10, reason="mismatch")
    log.duo("B", 0, 0, 0, 0, closed=20, reason="other")
    report = build_report(fold(log.events), d(300))
    assert report["dropouts"]["survival"] == {"30": 0.0, "90": 0.0, "182": 0.0, "365": 0.0}


def test_survival_of_a_long_open_relationship_is_known_up_to_its_duration() -> None:
    log = Log().world().duo("A", 0, 0, 0, 0).duo("B", 0, 0, 0, 0, closed=100,
                                                 reason="mentee_left_service")
    # B: event at 100 with A and B at risk -> 0.5; A censored at 400 (as_of day 400)
    report = build_report(fold(log.events), d(400))
    assert report["dropouts"]["survival"] == {"30": 1.0, "90": 1.0, "182": 0.5, "365": 0.5}
    report = build_report(fold(log.events), d(200))
    assert report["dropouts"]["survival"] == {"30": 1.0, "90": 1.0, "182": 0.5, "365": None}


def test_medians_and_means_of_whole_days_follow_the_statistics_module() -> None:
    assert summary([9, 3, 5], whole=True) == {"n": 3, "median": 5, "mean": 17 / 3}
    assert summary([4, 2], whole=True) == {"n": 2, "median": 3.0, "mean": 3}
    assert summary([1, 2], whole=True) == {"n": 2, "median": 1.5, "mean": 1.5}
    assert summary([], whole=True) == {"n": 0, "median": None, "mean": None}
    assert summary([0.5], whole=False) == {"n": 1, "median": 0.5, "mean": 0.5}
    odd = summary([1, 2, 4], whole=True)
    assert isinstance(odd["median"], int) and isinstance(odd["mean"], float)


def _summary_by_sorting(values: list[int] | list[float], *, whole: bool) -> dict[str, Any]:
    """The summary as the report computed it one duo at a time: sort, take the middle,
    an exact integer mean, or the exactly rounded sum of the floats over n."""
    if not values:
        return {"n": 0, "median": None, "mean": None}
    ordered, n = sorted(values), len(values)
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    if whole:
        total = sum(ordered)
        return {"n": n, "median": median, "mean": total // n if total % n == 0 else total / n}
    return {"n": n, "median": median, "mean": math.fsum(ordered) / n}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**40), 2**40)), st.lists(st.floats(0, 1e6)))
def test_medians_and_means_are_those_of_sorting_the_values(
        whole: list[int], fractional: list[float]) -> None:
    for values, is_whole in ((whole, True), (fractional, False)):
        want = _summary_by_sorting(values, whole=is_whole)
        for given_as in (values, np.array(values)):
            got = summary(given_as, whole=is_whole)
            assert got == want
            # the same JSON types: an int stays an int, a float a float
            assert [type(v) for v in got.values()] == [type(v) for v in want.values()]
        if values:  # and the statistics module agrees (its mean rounds only once)
            assert want["median"] == statistics.median(values)
            assert want["mean"] == pytest.approx(statistics.mean(values), rel=1e-15)


def test_the_programme_filter_restricts_every_number() -> None:
    model = fold(pilot().events)
    report = build_report(model, AS_OF, "P-2")
    assert report["duos"] == {"total": 4, "by_state": {"recruited": 1, "selected": 0,
                                                       "matched": 1, "active": 1,
                                                       "closed": 1}}
    assert report["dropouts"]["by_stage"]["matched"] == 1
    assert report["contact_frequency"]["contacts"] == 1
    with pytest.raises(UnknownProgramme, match=r"^programme 'P-9' was never opened$"):
        build_report(model, AS_OF, "P-9")


def test_the_report_does_not_depend_on_the_order_of_the_duos() -> None:
    log = pilot()
    model = fold(log.events)
    reversed_model = fold([])
    reversed_model.programmes = dict(reversed(list(model.programmes.items())))
    reversed_model.duos = dict(reversed(list(model.duos.items())))
    assert json.dumps(build_report(reversed_model, AS_OF)) == json.dumps(
        build_report(model, AS_OF))
    # also when some duos were recorded, or recruited, later than asked for
    early = next(e.timestamp for e in log.events if e.originator_id == "duo:E")
    assert json.dumps(build_report(reversed_model, AS_OF, as_at=early)) == json.dumps(
        build_report(model, AS_OF, as_at=early))
    for by in ("programme", "site", "country", "month"):
        assert json.dumps(build_breakdown(reversed_model, AS_OF, by)) == json.dumps(
            build_breakdown(model, AS_OF, by))  # type: ignore[arg-type]


def test_breakdowns_by_programme_country_site_and_recruitment_month() -> None:
    model = fold(pilot().events)
    by_programme = build_breakdown(model, AS_OF, "programme")
    assert {k: v["duos"]["total"] for k, v in by_programme["groups"].items()} == {
        "P-1": 5, "P-2": 4}
    assert by_programme["groups"]["P-2"]["duos"] == build_report(model, AS_OF, "P-2")["duos"]
    by_country = build_breakdown(model, AS_OF, "country")
    assert list(by_country["groups"]) == ["DK", "PT"]
    assert by_country["groups"]["DK"]["dropouts"] == by_programme["groups"]["P-1"]["dropouts"]
    by_site = build_breakdown(model, AS_OF, "site")
    assert {k: v["duos"]["total"] for k, v in by_site["groups"].items()} == {
        "S-1": 5, "S-2": 4}
    by_month = build_breakdown(model, AS_OF, "month")
    # A B C D J in January, E F in February, G H in March (I is after as_of)
    assert {k: v["duos"]["total"] for k, v in by_month["groups"].items()} == {
        "2025-01": 5, "2025-02": 2, "2025-03": 2}
    with pytest.raises(ValueError, match=r"^unknown breakdown 'mentor' \(one of programme, "
                       r"site, country, month, quarter, setting, newcomer_kind, mentor_kind, "
                       r"shift_overlap, same_department, outcome\)$"):
        build_breakdown(model, AS_OF, "mentor")  # type: ignore[arg-type]


def test_contact_minutes_per_30_days_against_the_four_hour_benchmark() -> None:
    result = contact_minutes(fold(pilot().events), AS_OF)
    # A 60+120+90 = 270 over 74 days, B 300+200 = 500 over 40, E 10 over 29
    expected = {
        "as_of": "2025-03-31",
        "minutes": 780,
        "benchmark_minutes_per_30_days": 240,
        "minutes_per_30_days": {"n": 3, "median": 270 * 30 / 74,
                                "mean": math.fsum([8100 / 74, 375.0, 300 / 29]) / 3},
        "duos_meeting_benchmark": 1,
        "share_meeting_benchmark": 1 / 3,
    }
    assert result == expected
    assert _types(result) == _types(expected)


def test_report_rows_of_the_read_model_give_the_same_report() -> None:
    model = fold(pilot().events)
    assert build_report(report_rows(model), AS_OF) == build_report(model, AS_OF)
    with pytest.raises(ValueError, match=r"^as_at needs the read model, not report rows$"):
        build_report(report_rows(model), AS_OF, as_at=datetime(2030, 1, 1))


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 400))
def test_the_report_as_of_a_date_equals_the_report_of_the_log_cut_at_that_date(
        rnd: random.Random, day: int) -> None:
    log = random_log(rnd)
    as_of = d(day)
    whole = build_report(fold(log.events), as_of)
    assert whole == build_report(fold(truncated(log.events, as_of)), as_of)
    for programme in ("P-0", "P-1"):
        if programme in fold(log.events).programmes:
            assert build_report(fold(log.events), as_of, programme) == build_report(
                fold(truncated(log.events, as_of)), as_of, programme)


# ---------------------------------------------------------------------- boundaries
EMPTY = {"n": 0, "median": None, "mean": None}


@pytest.mark.parametrize(("as_of", "state", "matched", "met", "ended"), [
    (9, None, False, False, False),
    (10, "recruited", False, False, False),
    (19, "recruited", False, False, False),
    (20, "selected", False, False, False),
    (29, "selected", False, False, False),
    (30, "matched", True, False, False),
    (39, "matched", True, False, False),
    (40, "active", True, True, False),
    (49, "active", True, True, False),
    (50, "closed", True, True, True),
])
def test_each_lifecycle_step_counts_from_its_own_day(
        as_of: int, state: str | None, matched: bool, met: bool, ended: bool) -> None:
    """Recruited day 10, selected 20, matched 30, activated 40, closed (a dropout) 50: an
    as-of equal to a step's day counts the step."""
    log = Log().world().duo("D-1", 10, 20, 30, 40, closed=50, reason="mismatch")
    model = fold(log.events)
    report = build_report(model, d(as_of))
    assert report["duos"] == {"total": int(state is not None),
                              "by_state": {s: int(s == state) for s in STATES}}
    expected = {
        # one whole number of days each: an int median (and mean), as statistics gives
        "time_to_match_days": {"n": 1, "median": 20, "mean": 20} if matched else EMPTY,
        "time_to_first_meeting_days": {"n": 1, "median": 10, "mean": 10} if met else EMPTY,
        "relationship_days": {"n": 1, "median": 10, "mean": 10} if ended else EMPTY,
    }
    assert report["duration"] == expected
    assert _types(report["duration"]) == _types(expected)
    assert report["dropouts"]["count"] == int(ended)
    assert report["dropouts"]["by_stage"]["active"] == int(ended)
    months = build_breakdown(model, d(as_of), "month")["groups"]
    assert {k: v["duos"]["total"] for k, v in months.items()} == (
        {"2025-01": 1} if state else {})


def test_one_active_day_is_enough_for_a_contact_frequency() -> None:
    """Activated on day 5 with an 8-minute contact that day: none on day 5 itself (no
    active day yet), 1 contact and 8 minutes per day from day 6 (30 and 240 per 30 days)."""
    log = Log().world().duo("D-1", 0, 0, 0, 5).contact("D-1", "K-1", 5, minutes=8)
    model = fold(log.events)
    assert build_report(model, d(5))["contact_frequency"]["contacts_per_30_days"] == EMPTY
    assert contact_minutes(model, d(5))["share_meeting_benchmark"] is None
    frequency = build_report(model, d(6))["contact_frequency"]["contacts_per_30_days"]
    assert frequency == {"n": 1, "median": 30.0, "mean": 30.0}
    assert _types(frequency) == {"n": "int", "median": "float", "mean": "float"}
    minutes = contact_minutes(model, d(6))
    assert minutes["minutes_per_30_days"] == {"n": 1, "median": 240.0, "mean": 240.0}
    assert (minutes["duos_meeting_benchmark"], minutes["share_meeting_benchmark"]) == (1, 1.0)


def test_exactly_240_minutes_per_30_days_meets_the_benchmark_239_does_not() -> None:
    log = Log().world().duo("A", 0, 0, 0, 0).contact("A", "K-1", 10, minutes=240)
    log.duo("B", 0, 0, 0, 0).contact("B", "K-1", 10, minutes=239)
    result = contact_minutes(fold(log.events), d(30))
    expected = {
        "as_of": "2025-01-31",
        "minutes": 479,
        "benchmark_minutes_per_30_days": 240,
        "minutes_per_30_days": {"n": 2, "median": 239.5, "mean": 239.5},
        "duos_meeting_benchmark": 1,
        "share_meeting_benchmark": 0.5,
    }
    assert result == expected
    assert _types(result) == _types(expected)


def test_a_whole_median_of_whole_days_stays_an_int_and_a_half_one_is_a_float() -> None:
    log = Log().world()
    for duo_id, matched in (("A", 10), ("B", 20), ("C", 40)):
        log.duo(duo_id, 0, 0, matched)
    report = build_report(fold(log.events), d(50))
    assert report["duration"]["time_to_match_days"] == {"n": 3, "median": 20,
                                                        "mean": 70 / 3}
    assert _types(report["duration"]["time_to_match_days"]) == {
        "n": "int", "median": "int", "mean": "float"}
    log.duo("D", 0, 0, 30)
    report = build_report(fold(log.events), d(50))
    assert report["duration"]["time_to_match_days"] == {"n": 4, "median": 25.0, "mean": 25}
    assert _types(report["duration"]["time_to_match_days"]) == {
        "n": "int", "median": "float", "mean": "int"}


def test_whole_numbers_are_summarised_exactly_however_large() -> None:
    big = 2**60 + 1  # not a float64: a float conversion would give 2**60
    got = summary([big], whole=True)
    assert got == {"n": 1, "median": big, "mean": big}
    assert _types(got) == {"n": "int", "median": "int", "mean": "int"}


@pytest.mark.parametrize("size", [999, 1000, 1001, 2000])
def test_the_median_of_many_values_is_that_of_the_statistics_module(size: int) -> None:
    """Large counts, where a partial sort leaves the values below the middle unordered."""
    for seed in range(40):
        rnd = random.Random(seed)
        values = [rnd.randint(0, 10**6) for _ in range(size)]
        assert summary(values, whole=True)["median"] == statistics.median(values), seed
        floats = [v / 7 for v in values]
        assert summary(floats, whole=False)["median"] == statistics.median(floats), seed


def test_an_as_at_equal_to_a_duos_recording_time_counts_the_duo() -> None:
    log = Log().world().duo("D-1", 1)
    recruited = log.events[-1]
    model = fold(log.events)
    assert build_report(model, d(10), as_at=recruited.timestamp)["duos"]["total"] == 1
    before = recruited.timestamp - timedelta(microseconds=1)
    assert build_report(model, d(10), as_at=before)["duos"]["total"] == 0


def test_breakdowns_and_contact_minutes_take_the_programme_and_as_at_filters() -> None:
    log = pilot()
    model = fold(log.events)
    late = next(e for e in log.events if getattr(e, "contact_id", None) == "K-2"
                and e.originator_id == "duo:B")
    before = late.timestamp - timedelta(seconds=1)

    by_site = build_breakdown(model, AS_OF, "site", "P-2")
    assert list(by_site["groups"]) == ["S-2"]
    assert by_site["groups"]["S-2"]["duos"] == build_report(model, AS_OF, "P-2")["duos"]
    # recorded by then: duos A and B only, both of P-1 (and B's late contact not yet)
    hidden = build_breakdown(model, AS_OF, "programme", as_at=before)
    assert list(hidden["groups"]) == ["P-1"]
    assert hidden["groups"]["P-1"]["contact_minutes"]["minutes"] == 270 + 300
    assert hidden["groups"]["P-1"]["duos"]["total"] == 2
    with pytest.raises(UnknownProgramme, match="'P-9'"):
        build_breakdown(model, AS_OF, "site", "P-9")

    # E: 10 minutes over 29 active days
    assert contact_minutes(model, AS_OF, "P-2")["minutes_per_30_days"] == {
        "n": 1, "median": 300 / 29, "mean": 300 / 29}
    assert contact_minutes(model, AS_OF, "P-1")["minutes"] == 270 + 500
    # by B's late contact: A 270 and B 500 (E and its contact were recorded later)
    shown = contact_minutes(model, AS_OF, as_at=late.timestamp)
    assert (shown["minutes"], contact_minutes(model, AS_OF, as_at=before)["minutes"]) == (
        770, 570)
    with pytest.raises(UnknownProgramme, match="'P-9'"):
        contact_minutes(model, AS_OF, "P-9")


def test_a_group_without_duos_by_as_of_is_left_out_of_a_breakdown() -> None:
    log = Log().world("P-1", "S-1", "M-1").world("P-2", "S-2", "M-2", country="PT")
    log.duo("D-1", 5, programme_id="P-2", site_id="S-2")
    groups = build_breakdown(fold(log.events), d(10), "programme")["groups"]
    assert list(groups) == ["P-2"]
    assert groups["P-2"]["duos"]["total"] == 1


def test_a_subset_of_programme_rows_keeps_the_programme_and_renumbers_the_rows() -> None:
    rows = report_rows(fold(pilot().events)).programmes["P-1"]
    # P-1's rows: A B C D H I; A (row 0) and B (row 1) have contacts, so timelines
    assert sorted(rows.timelines) == [0, 1]
    part = rows.subset([4, 1])
    assert (part.programme_id, part.country, part.contact_interval_days) == ("P-1", "DK", 14)
    assert part.facts.tolist() == [rows.facts[4].tolist(), rows.facts[1].tolist()]
    assert dict(part.timelines) == {1: rows.timelines[1]}
    assert rows.sites is not None
    assert part.sites == [rows.sites[4], rows.sites[1]]


def test_report_rows_that_cannot_answer_are_refused_naming_why() -> None:
    model = fold(pilot().events)
    rows = report_rows(model)
    with pytest.raises(ValueError, match=r"^rows were loaded for as_of 2025-01-02, not "
                                         r"2025-03-31$"):
        build_report(ReportRows(rows.programmes, loaded_for=d(1)), AS_OF)
    without_timelines = ReportRows({p: dataclasses.replace(r, timelines={})
                                    for p, r in rows.programmes.items()})
    with pytest.raises(ValueError, match=r"^a timeline is missing: rows loaded for another "
                                         r"as_of$"):
        build_report(without_timelines, AS_OF)
    without_sites = ReportRows({p: dataclasses.replace(r, sites=None, labels={})
                                for p, r in rows.programmes.items()})
    assert build_breakdown(without_sites, AS_OF, "month") == build_breakdown(model, AS_OF,
                                                                            "month")
    for by in ("site", "setting"):
        with pytest.raises(ValueError, match=rf"^{by} breakdown needs rows loaded with their "
                                             r"sites and labels$"):
            build_breakdown(without_sites, AS_OF, by)  # type: ignore[arg-type]


def test_a_duo_of_a_programme_the_read_model_lacks_is_named_in_the_error() -> None:
    model = fold(Log().recruit("D-1", 0).events)  # programme P-1 was never opened
    with pytest.raises(UnknownProgramme, match=r"^duo 'D-1' names unknown programme 'P-1'$"):
        build_report(model, d(10))


def test_a_breakdown_by_quarter_groups_duos_by_the_quarter_of_their_recruitment() -> None:
    log = Log().world()
    for duo_id, day in (("A", 9), ("B", 89), ("C", 90), ("D", 364), ("E", 400)):
        log.duo(duo_id, day)  # 01-10, 03-31, 04-01 and 12-31 of 2025; E in 2026
    groups = build_breakdown(fold(log.events), d(380), "quarter")["groups"]
    # E, recruited after as_of (2026-01-16), is in no group
    assert {k: v["duos"]["total"] for k, v in groups.items()} == {
        "2025-Q1": 2, "2025-Q2": 1, "2025-Q4": 1}
