"""Publishing with small-cell suppression (CONTRACT §6): each rule on a small report
worked out by hand, then properties over random stores and random v2 reports, checked
by an independent restatement of the rules (not by the module's own table)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from projection_builders import Log, d, random_log

from projections.fold import fold
from projections.publish import (
    GROUPS,
    RULES,
    PublishError,
    Unclassified,
    classify,
    parse_path,
    path_text,
    publish,
)
from projections.report import at_risk, build_breakdown, build_report, contact_minutes

V2_EXAMPLE = "small-pilot-v2.report-2025-12-31.json"
"""The contract's v2 worked report (in the shared examples, when at hand)."""

MEASURES = ("wellbeing", "stress", "integration", "confidence")


def blank() -> dict[str, Any]:
    """A v2 report of an empty store (CONTRACT §4), plus the text report's contact
    minutes section."""
    summary = {"n": 0, "median": None, "mean": None}
    survey = {"pairs": 0, "mean_change": None, "median_change": None,
              "improved": 0, "unchanged": 0, "worsened": 0}
    return copy.deepcopy({
        "as_of": "2025-07-31",
        "duos": {"total": 0, "by_state": {"recruited": 0, "selected": 0, "matched": 0,
                                          "active": 0, "closed": 0}},
        "duration": {"time_to_match_days": summary, "time_to_first_meeting_days": summary,
                     "relationship_days": summary},
        "contact_frequency": {"contacts": 0, "by_function": {"psychosocial": 0, "career": 0},
                              "contacts_per_30_days": summary, "overdue_active_duos": 0},
        "dropouts": {
            "count": 0, "rate": None,
            "by_stage": {"recruited": 0, "selected": 0, "matched": 0, "active": 0},
            "by_reason": {"mentee_withdrew": 0, "mentor_withdrew": 0,
                          "mentee_left_service": 0, "mentor_left_service": 0,
                          "mismatch": 0, "no_mentor_available": 0, "other": 0},
            "survival": {"30": None, "90": None, "182": None, "365": None},
            "by_month": {}, "median_survival_days": None, "survival_curve": []},
        "first_meeting": {"on_time": 0, "late": 0, "waiting_overdue": 0},
        "monitoring": {"reviews": 0, "windows_due": 0, "windows_met": 0, "compliance": None,
                       "latest_health": summary},
        "closure": {"closed": 0, "from_active": 0, "completed": 0, "early": 0,
                    "early_rate": None, "beyond_max_active": 0, "exit_interviews": 0,
                    "exit_interview_rate": None},
        "retention": {"mentees": 0, "departed": 0,
                      "by_reason": {"resigned": 0, "dismissed": 0, "retired": 0, "other": 0},
                      "in_service": {"90": None, "182": None, "365": None}},
        "surveys": {r: {m: survey for m in MEASURES} for r in ("mentee", "mentor")},
    })


def put(report: dict[str, Any], **figures: Any) -> dict[str, Any]:
    """Set figures by path, ``__`` standing for the dot (``dropouts__count=3``)."""
    for name, value in figures.items():
        *parents, last = name.split("__")
        node = report
        for key in parents:
            node = node[key]
        node[last] = value
    return report


def hidden(published: dict[str, Any]) -> set[str]:
    return set(published["suppressed"])


def curve(*rows: tuple[int, int, int, int]) -> list[dict[str, Any]]:
    """Curve rows from (t, at_risk, events, censored); S multiplied out as lifelines
    would (the band is not what publishing looks at, so it is S)."""
    s, out = 1.0, []
    for t, risk, events, censored in rows:
        s *= 1 - events / risk
        out.append({"t": t, "at_risk": risk, "events": events, "censored": censored,
                    "s": s, "lower": s, "upper": s})
    return out


# ---------------------------------------------------------------------- threshold
@pytest.mark.parametrize("bad", [2, 0, -5, True, 3.0, "10", None])
def test_a_threshold_that_is_not_an_int_of_at_least_three_is_refused(bad: Any) -> None:
    with pytest.raises(PublishError, match="threshold"):
        publish(blank(), bad)


def test_the_threshold_and_the_sorted_suppressed_paths_close_the_report() -> None:
    published = publish(put(blank(), contact_frequency__overdue_active_duos=2), 3)
    assert list(published)[-2:] == ["suppressed", "threshold"]
    assert published["threshold"] == 3
    assert published["suppressed"] == ["contact_frequency.overdue_active_duos"]
    assert publish(blank())["threshold"] == 10


# ---------------------------------------------------------------------- primary
@pytest.mark.parametrize(("value", "suppressed"), [(0, False), (1, True), (9, True),
                                                   (10, False), (250, False)])
def test_counts_of_one_to_k_minus_one_are_suppressed_and_zero_is_published(
        value: int, suppressed: bool) -> None:
    published = publish(put(blank(), contact_frequency__overdue_active_duos=value))
    shown = published["contact_frequency"]["overdue_active_duos"]
    assert shown == (None if suppressed else value)
    assert ("contact_frequency.overdue_active_duos" in hidden(published)) is suppressed


def test_a_median_and_mean_over_fewer_than_k_duos_are_suppressed_with_their_n() -> None:
    report = put(blank(), duration__time_to_match_days={"n": 9, "median": 3, "mean": 4.5},
                 duration__relationship_days={"n": 10, "median": 100, "mean": 120.5})
    published = publish(report, 10)
    assert published["duration"]["time_to_match_days"] == {
        "n": None, "median": None, "mean": None}
    assert published["duration"]["relationship_days"] == {
        "n": 10, "median": 100, "mean": 120.5}
    assert hidden(published) == {"duration.time_to_match_days.n",
                                 "duration.time_to_match_days.median",
                                 "duration.time_to_match_days.mean"}


def test_a_summary_of_no_duo_is_already_null_and_not_listed() -> None:
    assert publish(blank())["suppressed"] == []


def test_a_rate_over_fewer_than_k_is_suppressed_and_a_rate_of_nothing_is_not_listed(
        ) -> None:
    small = put(blank(), duos__total=9, duos__by_state__recruited=9, dropouts__rate=0.0)
    assert publish(small)["dropouts"]["rate"] is None
    assert "dropouts.rate" in hidden(publish(small))
    empty = publish(blank())  # total 0: the rate is null by §4, nothing hidden
    assert empty["dropouts"]["rate"] is None and "dropouts.rate" not in hidden(empty)
    zero = put(blank(), duos__total=40, duos__by_state__active=40, dropouts__rate=0.0)
    assert publish(zero)["dropouts"]["rate"] == 0.0


def test_a_rate_whose_numerator_is_suppressed_is_suppressed_too() -> None:
    """count = rate × total: a published rate would give the hidden count back."""
    report = put(blank(), duos__total=40, duos__by_state__active=36,
                 duos__by_state__closed=4, closure__closed=4, dropouts__count=4,
                 dropouts__rate=0.1, dropouts__by_stage__active=4,
                 dropouts__by_reason__other=4)
    published = publish(report)
    assert published["dropouts"]["count"] is None
    assert published["dropouts"]["rate"] is None


def test_compliance_needs_k_duos_behind_its_windows() -> None:
    """Many windows may belong to one duo: the duos matched count too."""
    report = put(blank(), monitoring__windows_due=30, monitoring__windows_met=20,
                 monitoring__compliance=20 / 30, monitoring__reviews=40)
    report = put(report, duration__time_to_match_days={"n": 2, "median": 5, "mean": 5})
    assert publish(report)["monitoring"]["compliance"] is None
    report = put(report, duration__time_to_match_days={"n": 12, "median": 5, "mean": 5})
    assert publish(report)["monitoring"]["compliance"] == 20 / 30


def test_contact_minutes_of_fewer_than_k_contacts_are_suppressed() -> None:
    minutes = {"minutes": 900, "benchmark_minutes_per_30_days": 240,
               "minutes_per_30_days": {"n": 0, "median": None, "mean": None},
               "duos_meeting_benchmark": 0, "share_meeting_benchmark": None}
    few = put(blank(), contact_frequency__contacts=6, contact_minutes=copy.deepcopy(minutes))
    published = publish(few, 10)
    assert published["contact_minutes"]["minutes"] is None
    assert published["contact_minutes"]["benchmark_minutes_per_30_days"] == 240
    many = put(blank(), contact_frequency__contacts=12, contact_minutes=minutes)
    assert publish(many, 10)["contact_minutes"]["minutes"] == 900


SMALL_CURVE = curve((0, 20, 0, 0), (10, 20, 1, 4), (40, 15, 0, 3), (100, 12, 2, 1),
                    (150, 9, 0, 6), (200, 3, 1, 2))
"""At risk: 20 from t = 0 to 10, 15 to 40, 12 to 100, 9 to 150, 3 to 200."""


@pytest.mark.parametrize(("t", "published"), [("30", True), ("90", True),
                                              ("182", False), ("365", False)])
def test_a_survival_point_needs_k_at_risk_at_its_time(t: str, published: bool) -> None:
    """At risk at t: duos with duration ≥ t, i.e. the curve's first row at or after t
    (30 → the row at 40: 15; 90 → 100: 12; 182 → 200: 3; 365 → none: 0)."""
    report = put(blank(), dropouts__survival_curve=SMALL_CURVE,
                 dropouts__survival={"30": 0.95, "90": 0.95, "182": 0.8, "365": 0.0})
    shown = publish(report, 10)["dropouts"]["survival"][t]
    assert (shown is not None) is published


def test_the_curve_is_cut_at_the_first_row_with_fewer_than_k_at_risk() -> None:
    report = put(blank(), dropouts__survival_curve=copy.deepcopy(SMALL_CURVE))
    published = publish(report, 10)
    rows = published["dropouts"]["survival_curve"]
    assert [row["t"] for row in rows] == [0, 10, 40, 100]
    # in the rows kept, events and censored of 1 … K − 1 are hidden too
    assert [(row["events"], row["censored"]) for row in rows] == [
        (0, 0), (None, None), (0, None), (None, None)]
    assert [row["s"] for row in rows] == [row["s"] for row in SMALL_CURVE[:4]]
    assert hidden(published) == {
        "dropouts.survival_curve.4", "dropouts.survival_curve.5",
        "dropouts.survival_curve.1.events", "dropouts.survival_curve.1.censored",
        "dropouts.survival_curve.2.censored", "dropouts.survival_curve.3.events",
        "dropouts.survival_curve.3.censored"}


def test_a_curve_with_fewer_than_k_at_risk_at_zero_is_null_and_an_empty_one_stays() -> None:
    few = put(blank(), dropouts__survival_curve=curve((0, 5, 0, 0), (30, 5, 1, 4)),
              dropouts__survival={"30": 0.8, "90": 0.8, "182": None, "365": None})
    published = publish(few, 10)
    assert published["dropouts"]["survival_curve"] is None
    assert published["dropouts"]["survival"] == {"30": None, "90": None, "182": None,
                                                 "365": None}
    assert hidden(published) == {"dropouts.survival_curve", "dropouts.survival.30",
                                 "dropouts.survival.90"}
    assert publish(blank())["dropouts"]["survival_curve"] == []


@pytest.mark.parametrize(("median", "published"), [(100, True), (150, False)])
def test_the_median_survival_needs_k_at_risk_at_the_median(median: int,
                                                           published: bool) -> None:
    report = put(blank(), dropouts__survival_curve=SMALL_CURVE,
                 dropouts__median_survival_days=median)
    shown = publish(report, 10)["dropouts"]["median_survival_days"]
    assert (shown is not None) is published


def test_survival_without_at_risk_counts_in_the_report_is_suppressed() -> None:
    """A v1 report has no curve, and staying in the service has none at all: the
    at-risk counts are unknown, so the estimates are not published (fail closed)."""
    report = blank()
    del report["dropouts"]["survival_curve"]
    report = put(report, dropouts__survival={"30": 0.9, "90": None, "182": None,
                                             "365": None},
                 retention__in_service={"90": 0.97, "182": 0.9, "365": None})
    published = publish(report, 3)
    assert published["dropouts"]["survival"]["30"] is None
    assert published["retention"]["in_service"] == {"90": None, "182": None, "365": None}


def test_staying_in_the_service_is_shown_where_the_caller_gives_k_at_risk() -> None:
    report = put(blank(), retention__mentees=40,
                 retention__in_service={"90": 0.97, "182": 0.9, "365": 0.8})
    published = publish(report, 10, at_risk={"retention.in_service": {
        "90": 30, "182": 10, "365": 9}})
    assert published["retention"]["in_service"] == {"90": 0.97, "182": 0.9, "365": None}
    assert "retention.in_service.365" in hidden(published)


def test_the_at_risk_counts_of_a_breakdown_are_given_per_group() -> None:
    group = {"retention": {"mentees": 40, "in_service": {"90": 0.9, "182": 0.8, "365": None}}}
    split = breakdown({"s.1": copy.deepcopy(group), "s-2": copy.deepcopy(group)})
    overall = {"retention": {"mentees": 80, "in_service": {"90": 0.9, "182": 0.8,
                                                           "365": None}}}
    published = publish(split, 10, overall=overall, at_risk={
        'groups["s.1"].retention.in_service': {"90": 12, "182": 4, "365": 0},
        "groups.s-2.retention.in_service": {"90": 3, "182": 1, "365": 0}})
    assert published["groups"]["s.1"]["retention"]["in_service"] == {
        "90": 0.9, "182": None, "365": None}
    assert published["groups"]["s-2"]["retention"]["in_service"] == {
        "90": None, "182": None, "365": None}


def test_the_reports_at_risk_counts_are_the_mentees_followed_long_enough() -> None:
    """Three mentees: E-A recruited on day 0, E-B on day 10 (departed on day 50), E-C
    on day 200; as of day 300 they were followed 300, 40 and 100 days."""
    log = Log().world()
    log.duo("A", 0).duo("B", 10).duo("C", 200).depart("B", 50)
    model = fold(log.events)
    counts = {"90": 2, "182": 1, "365": 0}
    assert at_risk(model, d(300)) == {"retention.in_service": counts}
    assert at_risk(model, d(300), by="month") == {
        "groups.2025-01.retention.in_service": {"90": 1, "182": 1, "365": 0},
        "groups.2025-07.retention.in_service": {"90": 1, "182": 0, "365": 0}}
    report = build_report(model, d(300))
    assert report["retention"]["mentees"] == 3
    shown = publish(report, 3, at_risk=at_risk(model, d(300)))["retention"]["in_service"]
    assert shown["90"] is None  # two at risk, fewer than 3


def test_a_figure_no_rule_names_is_suppressed_and_labels_are_kept() -> None:
    report = put(blank(), novel={"share": 0.5, "count": 40, "names": ["a", "b"]})
    published = publish(report)
    assert published["novel"] == {"share": None, "count": None, "names": [None, None]}
    assert {"novel.share", "novel.count", "novel.names.0", "novel.names.1"} <= hidden(
        published)
    assert published["as_of"] == "2025-07-31"


# ---------------------------------------------------------------------- secondary
def dropouts(by_reason: dict[str, int], k_stage: str = "active") -> dict[str, Any]:
    """A report whose dropouts are as given by reason (all from one stage), enough
    other duos for every total to be published."""
    count = sum(by_reason.values())
    report = put(blank(), duos__total=count + 50, duos__by_state__active=50,
                 duos__by_state__closed=count, closure__closed=count,
                 dropouts__count=count, dropouts__rate=count / (count + 50))
    report["dropouts"]["by_stage"][k_stage] = count
    report["dropouts"]["by_reason"].update(by_reason)
    return report


def test_a_single_suppressed_cell_takes_the_smallest_other_non_zero_cell_with_it() -> None:
    published = publish(dropouts({"mismatch": 3, "other": 12, "mentee_withdrew": 25}))
    assert published["dropouts"]["by_reason"] == {
        "mentee_withdrew": 25, "mentor_withdrew": 0, "mentee_left_service": 0,
        "mentor_left_service": 0, "mismatch": None, "no_mentor_available": 0,
        "other": None}
    assert published["dropouts"]["count"] == 40


def test_among_equal_cells_the_first_in_the_reports_order_goes() -> None:
    published = publish(dropouts({"mentee_withdrew": 12, "mismatch": 3, "other": 12}))
    reasons = published["dropouts"]["by_reason"]
    assert (reasons["mentee_withdrew"], reasons["mismatch"], reasons["other"]) == (
        None, None, 12)


def test_two_suppressed_cells_that_can_only_be_ones_take_a_third() -> None:
    """Zeros are published, so hidden cells are ≥ 1: two hidden cells adding up to 2
    (total minus the cells shown) would be two ones."""
    report = put(blank(), duos__total=57, duos__by_state={
        "recruited": 1, "selected": 0, "matched": 1, "active": 15, "closed": 40},
        closure__closed=40)
    published = publish(report, 10)
    assert published["duos"]["by_state"] == {
        "recruited": None, "selected": 0, "matched": None, "active": None, "closed": 40}
    assert published["duos"]["total"] == 57


def test_when_every_non_zero_cell_is_a_hidden_one_the_total_goes() -> None:
    published = publish(dropouts({"mentee_withdrew": 1, "mentor_withdrew": 1,
                                  "mismatch": 1, "other": 1}), 3)
    assert published["dropouts"]["count"] is None
    assert published["dropouts"]["rate"] is None
    # the other groups adding up to the count now have a hidden total: a cell goes
    assert published["dropouts"]["by_stage"]["active"] is None


def test_a_figure_equal_to_a_suppressed_one_is_suppressed_with_it() -> None:
    """``closure.closed`` is ``duos.by_state.closed``: hiding one hides the other."""
    report = put(blank(), duos__total=60, duos__by_state={
        "recruited": 0, "selected": 0, "matched": 0, "active": 3, "closed": 57},
        closure__closed=57, closure__from_active=57, closure__exit_interviews=20,
        closure__exit_interview_rate=20 / 57,
        duration__relationship_days={"n": 57, "median": 200, "mean": 210})
    published = publish(report, 10)
    assert published["duos"]["by_state"]["closed"] is None  # with active's 3
    assert published["closure"]["closed"] is None
    assert published["closure"]["exit_interview_rate"] is None  # closed = 20 / rate
    # activated = active + closed from active: the latter goes, and its equal n
    assert published["closure"]["from_active"] is None
    assert published["duration"]["relationship_days"]["n"] is None
    assert published["duration"]["relationship_days"]["median"] == 200


def test_first_meetings_on_time_and_late_add_up_to_those_activated() -> None:
    report = put(blank(), duration__time_to_first_meeting_days={"n": 32, "median": 5,
                                                                "mean": 6},
                 first_meeting={"on_time": 30, "late": 2, "waiting_overdue": 0})
    published = publish(report, 10)
    assert published["first_meeting"] == {"on_time": None, "late": None,
                                          "waiting_overdue": 0}


def test_improved_unchanged_and_worsened_add_up_to_the_pairs() -> None:
    report = put(blank(), surveys__mentee__stress={
        "pairs": 20, "mean_change": -0.4, "median_change": 0, "improved": 8,
        "unchanged": 1, "worsened": 11})
    published = publish(report, 5)
    assert published["surveys"]["mentee"]["stress"] == {
        "pairs": 20, "mean_change": -0.4, "median_change": 0, "improved": None,
        "unchanged": None, "worsened": 11}


def test_departures_by_reason_add_up_to_those_departed() -> None:
    report = put(blank(), retention__mentees=80, retention__departed=30,
                 retention__by_reason={"resigned": 25, "dismissed": 2, "retired": 3,
                                       "other": 0})
    published = publish(report, 3)
    # dismissed 2 is hidden; the smallest other non-zero cell is retired's 3
    assert published["retention"]["by_reason"] == {"resigned": 25, "dismissed": None,
                                                   "retired": None, "other": 0}


def test_dropouts_by_month_add_up_to_the_count() -> None:
    report = dropouts({"other": 31})
    report["dropouts"]["by_month"] = {"2025-01": 12, "2025-02": 17, "2025-03": 2}
    published = publish(report)
    assert published["dropouts"]["by_month"] == {"2025-01": None, "2025-02": 17,
                                                 "2025-03": None}


# ---------------------------------------------------------------------- breakdowns
def breakdown(groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"as_of": "2025-07-31", "by": "site", "groups": groups}


def test_a_breakdown_needs_its_unbroken_report() -> None:
    with pytest.raises(PublishError, match="unbroken"):
        publish(breakdown({"A": {"duos": {"total": 3}}}))
    with pytest.raises(PublishError, match=r"duos\.total"):
        publish(breakdown({"A": {"duos": {"total": 3}}}), overall={"as_of": "2025-07-31"})


def test_a_column_hides_a_second_cell_against_the_unbroken_figure() -> None:
    """Total dropouts 35 is published: B's 3 would be 35 − 12 − 20 without A's 12."""
    groups = {"A": {"dropouts": {"count": 12}}, "B": {"dropouts": {"count": 3}},
              "C": {"dropouts": {"count": 20}}}
    published = publish(breakdown(groups), 10, overall={"dropouts": {"count": 35}})
    assert {g: v["dropouts"]["count"] for g, v in published["groups"].items()} == {
        "A": None, "B": None, "C": 20}
    assert published["suppressed"] == ["groups.A.dropouts.count", "groups.B.dropouts.count"]
    assert (published["by"], published["threshold"]) == ("site", 10)


def test_a_column_whose_unbroken_figure_is_suppressed_does_not_add_up_to_it() -> None:
    """The unbroken report hides ``other`` (12) beside ``mismatch`` (3); were A's 12
    shown, B's 0 and A's 12 would give it back, and with it the hidden 3."""
    reasons = {"mismatch": 3, "other": 12, "mentee_withdrew": 25}
    overall = {"dropouts": {"count": 40, "by_reason": dict(reasons)}}
    groups = {
        "A": {"dropouts": {"count": 37,
                           "by_reason": {"mismatch": 0, "other": 12, "mentee_withdrew": 25}}},
        "B": {"dropouts": {"count": 3,
                           "by_reason": {"mismatch": 3, "other": 0, "mentee_withdrew": 0}}}}
    published = publish(breakdown(groups), 10, overall=overall)
    a = published["groups"]["A"]["dropouts"]
    # A's other goes; A's 25 equals the unbroken 25 (B has none), so hiding it would
    # protect nothing: A's count goes instead
    assert a == {"count": None, "by_reason": {"mismatch": 0, "other": None,
                                              "mentee_withdrew": 25}}
    assert published["groups"]["B"]["dropouts"] == {
        "count": None, "by_reason": {"mismatch": None, "other": 0, "mentee_withdrew": 0}}


def test_rows_and_columns_are_suppressed_until_nothing_changes() -> None:
    """B's 4 recruited duos (row B, column recruited) start a chain through both."""
    def site(recruited: int, active: int) -> dict[str, Any]:
        return {"duos": {"total": recruited + active,
                         "by_state": {"recruited": recruited, "active": active}}}

    groups = {"A": site(20, 30), "B": site(4, 40), "C": site(25, 35)}
    overall = site(49, 105)
    published = publish(breakdown(groups), 10, overall=overall)
    cells = {g: v["duos"]["by_state"] for g, v in published["groups"].items()}
    # row B: 4 hidden, so 40 goes; column recruited: 4 hidden, so A's 20 goes; row A:
    # 20 hidden, so A's 30 goes; column active now has A and B hidden: done
    assert cells == {"A": {"recruited": None, "active": None},
                     "B": {"recruited": None, "active": None},
                     "C": {"recruited": 25, "active": 35}}
    assert [published["groups"][g]["duos"]["total"] for g in "ABC"] == [50, 44, 60]


def test_an_identity_whose_cells_the_report_lacks_is_not_applied() -> None:
    """Activated = active + closed from active needs ``closure``, which a v1 report has
    not: A's hidden ``n`` (the partner of B's 2) must not take A's active with it."""
    def site(n: int, active: int) -> dict[str, Any]:
        return {"duos": {"total": 20, "by_state": {"active": active, "closed": 20 - active}},
                "duration": {"time_to_first_meeting_days": {"n": n, "median": 5,
                                                            "mean": 5}}}

    groups = {"A": site(4, 3), "B": site(2, 0)}
    published = publish(breakdown(groups), 3, overall={
        "duos": {"total": 40, "by_state": {"active": 3, "closed": 37}},
        "duration": {"time_to_first_meeting_days": {"n": 6, "median": 5, "mean": 5}}})
    a = published["groups"]["A"]
    assert a["duration"]["time_to_first_meeting_days"]["n"] is None
    assert a["duos"]["by_state"]["active"] == 3


def test_a_group_key_with_a_dot_is_quoted_in_the_paths() -> None:
    groups = {"s.1": {"duos": {"total": 3}}, "s-2": {"duos": {"total": 30}}}
    published = publish(breakdown(groups), 10, overall={"duos": {"total": 33}})
    assert published["suppressed"] == ["groups.s-2.duos.total", 'groups["s.1"].duos.total']
    assert parse_path('groups["s.1"].duos.total') == ("groups", "s.1", "duos", "total")
    assert path_text(("dropouts", "survival_curve", 3, "events")) == (
        "dropouts.survival_curve.3.events")


def test_a_column_of_ones_adding_up_to_the_unbroken_figure_hides_their_rows_more() -> None:
    """Found by the property test on a random store (by month, K = 3): the unbroken
    report shows 6 pairs, 3 improved and 3 worsened. The months' improved are 1, 1, 1
    (and a 0): hidden, but three hidden cells of at least 1 adding up to the 3 shown
    are three ones, whatever the breakdown hides. From them, March's pairs are 1 and
    February's 2, so January's worsened (2) was its pairs (3, shown) minus 1, and
    February's worsened 3 − 2: January's pairs must go too."""
    def month(pairs: int, improved: int, worsened: int) -> dict[str, Any]:
        return {"surveys": {"mentee": {"wellbeing": {
            "pairs": pairs, "improved": improved, "unchanged": 0, "worsened": worsened}}}}

    groups = {"2025-01": month(3, 1, 2), "2025-02": month(2, 1, 1),
              "2025-03": month(1, 1, 0), "2025-07": month(0, 0, 0)}
    overall = month(6, 3, 3)
    published = publish(breakdown(groups), 3, overall=overall)
    cells = {g: v["surveys"]["mentee"]["wellbeing"] for g, v in published["groups"].items()}
    assert cells["2025-01"] == {"pairs": None, "improved": None, "unchanged": 0,
                                "worsened": None}
    assert cells["2025-03"] == {"pairs": None, "improved": None, "unchanged": 0,
                                "worsened": 0}
    assert cells["2025-07"] == overall["surveys"]["mentee"]["wellbeing"] | {
        "pairs": 0, "improved": 0, "worsened": 0}
    given_away = assert_nothing_recoverable(
        {"overall": overall, **{f"group {g}": v for g, v in groups.items()}},
        {"overall": publish(overall, 3),
         **{f"group {g}": v for g, v in published["groups"].items()}}, 3, "overall")
    # what no breakdown can hide: the ones, and March's pairs equal to its one
    assert given_away == {(f"group {g}", "surveys.mentee.wellbeing.improved")
                          for g in ("2025-01", "2025-02", "2025-03")} | {
        ("group 2025-03", "surveys.mentee.wellbeing.pairs")}


def test_a_row_total_is_hidden_when_its_partners_are_given_by_the_unbroken_report() -> None:
    """Found on random v2 groups (K = 3): the matched dropouts 1, 1, 1 add up to the 3
    shown, so C's count (its one matched) is 1 and A + B's counts are 5; with A's 3
    shown, B's 2 and both active cells followed. A's count goes."""
    def site(count: int, matched: int, active: int) -> dict[str, Any]:
        return {"dropouts": {"count": count, "by_stage": {"matched": matched,
                                                         "active": active}}}

    groups = {"A": site(3, 1, 2), "B": site(2, 1, 1), "C": site(1, 1, 0)}
    published = publish(breakdown(groups), 3, overall=site(6, 3, 3))
    assert {g: v["dropouts"] for g, v in published["groups"].items()} == {
        "A": {"count": None, "by_stage": {"matched": None, "active": None}},
        "B": {"count": None, "by_stage": {"matched": None, "active": None}},
        "C": {"count": None, "by_stage": {"matched": None, "active": 0}}}


def test_a_group_without_a_month_holds_a_zero_cell_of_that_months_column() -> None:
    """B has no dropout in January: A's 12 is all of the unbroken 12, so hiding it
    would protect nothing; A's hidden 2 in February is protected by A's count instead,
    and B's February by the column."""
    def site(count: int, months: dict[str, int]) -> dict[str, Any]:
        return {"dropouts": {"count": count, "by_month": months}}

    groups = {"A": site(14, {"2025-01": 12, "2025-02": 2}), "B": site(10, {"2025-02": 10})}
    overall = site(24, {"2025-01": 12, "2025-02": 12})
    published = publish(breakdown(groups), 10, overall=overall)
    assert published["groups"] == {"A": site(None, {"2025-01": 12, "2025-02": None}),
                                   "B": site(None, {"2025-02": None})}  # type: ignore[arg-type]
    assert_nothing_recoverable(
        {"overall": overall, **{f"group {g}": v for g, v in groups.items()}},
        {"overall": publish(overall, 10),
         **{f"group {g}": v for g, v in published["groups"].items()}}, 10, "overall")


# ---------------------------------------------------------------------- whole reports
@pytest.fixture(scope="module")
def v2_report(shared_examples: Path) -> dict[str, Any]:
    """The contract's v2 worked report (skipped, or failed when required, if absent)."""
    loaded: dict[str, Any] = json.loads((shared_examples / V2_EXAMPLE).read_text(
        encoding="utf-8"))
    return loaded


def test_the_v2_worked_example_at_the_default_threshold(v2_report: dict[str, Any]) -> None:
    """The example's 24 duos (as of 2025-12-31), worked out by hand at K = 10."""
    report = copy.deepcopy(v2_report)
    published = publish(report)
    assert published["duos"] == {"total": 24, "by_state": {
        "recruited": 0, "selected": 0, "matched": 0, "active": None, "closed": None}}
    # 4 dropouts: every cell of theirs is 1 … 9
    assert published["dropouts"]["count"] is None and published["dropouts"]["rate"] is None
    assert set(published["dropouts"]["by_reason"].values()) == {0, None}
    # 19 activated, 16 of them closed from active (3 active: hidden, so 16 goes too)
    assert published["duration"]["time_to_first_meeting_days"]["n"] == 19
    assert published["closure"]["from_active"] is None
    assert published["duration"]["relationship_days"] == {"n": None, "median": 178.5,
                                                          "mean": 160.3125}
    # 11 mentee pairs (published), 9 mentor pairs (hidden, with their changes)
    assert published["surveys"]["mentee"]["wellbeing"]["pairs"] == 11
    assert published["surveys"]["mentor"]["wellbeing"] == {
        "pairs": None, "mean_change": None, "median_change": None, "improved": None,
        "unchanged": None, "worsened": None}
    # the curve keeps the rows with 10 or more at risk
    kept = published["dropouts"]["survival_curve"]
    assert all(row["at_risk"] >= 10 for row in kept)
    assert len(kept) == sum(row["at_risk"] >= 10 for row in report["dropouts"]["survival_curve"])
    assert published["monitoring"]["compliance"] == report["monitoring"]["compliance"]
    assert published["contact_frequency"] == report["contact_frequency"]


def test_publishing_leaves_the_report_as_it_was_and_gives_the_same_bytes(
        v2_report: dict[str, Any]) -> None:
    report = copy.deepcopy(v2_report)
    before = json.dumps(report)
    first = json.dumps(publish(report, 4))
    assert json.dumps(report) == before
    assert json.dumps(publish(json.loads(before), 4)) == first


def _figures(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[
        tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _figures(item, (*path, key))
    elif isinstance(value, list) and path[-1:] != ("survival_curve",):
        for i, item in enumerate(value):
            yield from _figures(item, (*path, i))
    else:
        yield path, value


def _reports(v2_report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every report shape the engine prints: the whole store, a breakdown group with
    its contact minutes, an empty store, and the v2 worked example."""
    model = fold(random_log(random.Random(7), max_duos=30).events)
    group = next(iter(build_breakdown(model, d(300), "site")["groups"].values()))
    minutes = contact_minutes(model, d(300))
    del minutes["as_of"]
    # an empty store's report: every summary, rate and test null
    return [build_report(model, d(300), tests=True), group,
            build_report(fold([]), d(300), tests=True),
            {**copy.deepcopy(v2_report), "contact_minutes": minutes}]


def test_the_rule_table_classifies_every_figure_the_engine_reports(
        v2_report: dict[str, Any]) -> None:
    unclassified = [path_text(path) for report in _reports(v2_report)
                    for path, _ in _figures(report)
                    if isinstance(classify(path)[0], Unclassified)]
    assert unclassified == []


def test_every_rule_and_every_group_matches_a_figure_of_the_engines_reports(
        v2_report: dict[str, Any]) -> None:
    """No dead row: a pattern with a typo would match nothing."""
    reports = _reports(v2_report)
    paths = {tuple(str(k) for k in path) for report in reports
             for path, _ in _figures(report)}
    for pattern, _ in RULES:
        assert any(classify(p, [(pattern, RULES[0][1])])[0] == RULES[0][1] for p in paths
                   ), pattern
    for group in GROUPS:
        for pattern in (group.total, *group.cells):
            assert any(classify(p, [(pattern, RULES[0][1])])[0] == RULES[0][1]
                       for p in paths), pattern


# ---------------------------------------------------------------------- properties
# The rules restated independently of the module's table, as CONTRACT §6 words them.
NOT_COUNTS = {"t", "median", "mean", "median_change", "mean_change",
              "median_survival_days", "benchmark_minutes_per_30_days", "minutes"}
"""Whole numbers that are not counts of people or things."""

ADDITIVE_GROUPS: list[tuple[str, list[str]]] = [
    ("duos.total", [f"duos.by_state.{s}" for s in
                    ("recruited", "selected", "matched", "active", "closed")]),
    ("dropouts.count", [f"dropouts.by_stage.{s}" for s in
                        ("recruited", "selected", "matched", "active")]),
    ("dropouts.count", [f"dropouts.by_reason.{r}" for r in
                        ("mentee_withdrew", "mentor_withdrew", "mentee_left_service",
                         "mentor_left_service", "mismatch", "no_mentor_available", "other")]),
    ("dropouts.count", ["dropouts.by_month.*"]),
    ("duration.time_to_first_meeting_days.n", ["first_meeting.on_time", "first_meeting.late"]),
    ("retention.departed", [f"retention.by_reason.{r}" for r in
                            ("resigned", "dismissed", "retired", "other")]),
    *[(f"surveys.{r}.{m}.pairs", [f"surveys.{r}.{m}.{c}"
                                  for c in ("improved", "unchanged", "worsened")])
      for r in ("mentee", "mentor") for m in MEASURES],
]


def at(report: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


def cells_of(report: dict[str, Any], patterns: list[str]) -> list[str]:
    out = []
    for pattern in patterns:
        if pattern.endswith(".*"):
            out += [f"{pattern[:-2]}.{k}" for k in at(report, pattern[:-2]) or {}]
        elif at(report, pattern) is not None:
            out.append(pattern)
    return out


def assert_no_small_count(published: dict[str, Any], k: int) -> None:
    for path, value in _figures(published):
        if path[-1] in NOT_COUNTS or path[-2:-1] in (("survival",), ("in_service",)):
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            assert not 0 < value < k, (path_text(path), value)
    for row in at(published, "dropouts.survival_curve") or []:
        assert row["at_risk"] >= k
        for key in ("events", "censored"):
            assert row[key] is None or not 0 < row[key] < k


def assert_groups_safe(original: dict[str, Any], published: dict[str, Any]) -> None:
    """No hidden cell can be worked out by subtraction within its group: if a cell is
    hidden, the total is hidden or at least two cells are, and not all ones; a hidden
    total has a hidden cell beside it."""
    for total, patterns in ADDITIVE_GROUPS:
        if at(original, total) is None:
            continue
        cells = cells_of(original, patterns)
        if not cells:
            continue
        hidden_cells = [c for c in cells if at(published, c) is None]
        total_hidden = at(published, total) is None
        shown_sum = sum(at(published, c) for c in cells if c not in hidden_cells)
        if total_hidden:
            if at(original, total):
                assert hidden_cells, (total, "the cells add up to the hidden total")
            continue
        if hidden_cells:
            assert len(hidden_cells) >= 2, (total, hidden_cells)
            assert at(original, total) - shown_sum > len(hidden_cells), (total, "all ones")


IDENTITIES: list[tuple[str, list[str]]] = [
    ("duration.time_to_first_meeting_days.n", ["duos.by_state.active", "closure.from_active"]),
    ("duos.by_state.closed", ["closure.closed"]),
    ("duration.relationship_days.n", ["closure.from_active"]),
    ("contact_frequency.contacts_per_30_days.n", ["contact_minutes.minutes_per_30_days.n"]),
]
"""Identities of the report's definitions (CONTRACT §4) that subtraction exploits as
well as §6's groups: activated = active + closed from active, and equal figures."""

COLUMN_SKIP = NOT_COUNTS - {"minutes"}
"""Whole numbers that do not add up across a breakdown's groups (minutes do)."""

Key = tuple[str, str]
"""A figure of a publication: (the report it is in, its dotted path)."""


def equations(report: dict[str, Any], name: str) -> list[tuple[Key, list[Key]]]:
    """The report's additive groups and identities, where they hold in its figures."""
    found = []
    for total, patterns in [*ADDITIVE_GROUPS, *IDENTITIES]:
        cells = cells_of(report, patterns)
        if not cells or at(report, total) is None or (
                at(report, total) != sum(at(report, c) for c in cells)):
            continue
        found.append(((name, total), [(name, c) for c in cells]))
    return found


def counts_of(report: dict[str, Any]) -> dict[str, int]:
    """The report's counts (and contact minutes), by dotted path."""
    return {".".join(map(str, path)): value for path, value in _figures(report)
            if isinstance(value, int) and not isinstance(value, bool)
            and str(path[-1]) not in COLUMN_SKIP | {"statistic", "p_value", "df"}
            and not {"survival", "in_service"} & set(map(str, path))}


def worked_out(known: set[Key], eqs: list[tuple[Key, list[Key]]],
               values: dict[Key, int]) -> set[Key]:
    """``known`` and every figure subtraction gives from it along the equations, chained:
    the one unknown member of an equation, and unknown cells adding up to as many as
    they are (a hidden figure is at least 1, zeros being shown: so each is 1)."""
    known = set(known)
    changed = True
    while changed:
        changed = False
        for total, cells in eqs:
            unknown = [m for m in (total, *cells) if m not in known]
            rest = values[total] - sum(values[c] for c in cells if c in known)
            if unknown and (len(unknown) == 1 or (total in known and rest == len(unknown))):
                known.update(unknown)
                changed = True
    return known


def assert_nothing_recoverable(originals: dict[str, dict[str, Any]],
                               publications: dict[str, dict[str, Any]], k: int,
                               overall: str | None = None) -> set[Key]:
    """No hidden count of the reports is worked out by subtraction along any chain of
    their groups and (with ``overall``, the name of the unbroken report, whose figure
    each column adds up to) of a breakdown's rows and columns — except one that the
    unbroken report's shown figures and the zeros give alone, which nothing hidden in
    the breakdown could protect: such a figure of the breakdown must be a count of
    1 … K − 1 (hidden by the primary rule, never hidden in vain). Returns those figures
    (the unbroken report's among them)."""
    values: dict[Key, int] = {}
    eqs: list[tuple[Key, list[Key]]] = []
    for name, report in originals.items():
        values.update({(name, path): v for path, v in counts_of(report).items()})
        eqs += equations(report, name)
    if overall is not None:
        for path, total in counts_of(originals[overall]).items():
            cells = [(g, path) for g in originals if g != overall and (g, path) in values]
            if cells and sum(values[c] for c in cells) == total:
                eqs.append(((overall, path), cells))
    shown = {key for key in values if at(publications[key[0]], key[1]) is not None}
    hidden = set(values) - shown
    given_alone = worked_out({key for key in shown if key[0] == overall}
                             | {key for key, v in values.items() if v == 0}, eqs, values)
    recovered = (worked_out(shown, eqs, values) & hidden) - given_alone
    assert not recovered, sorted(recovered)
    unprotectable = given_alone & hidden
    # (The unbroken report's own hidden figures among them are its business: the
    # breakdown cannot hide what the unbroken report shows, ADR 20.)
    assert all(0 < values[key] < k for key in unprotectable if key[0] != overall), sorted(
        unprotectable)
    return unprotectable


def assert_primary_respected(original: dict[str, Any], published: dict[str, Any],
                             k: int) -> None:
    """Nothing printed that the rules hide: summaries over n ≥ K, rates over ≥ K,
    survival with ≥ K at risk."""
    for path, value in _figures(published):
        if value is None:
            continue
        name = path[-1]
        parent = ".".join(str(p) for p in path[:-1])
        if name in ("median", "mean"):
            assert at(original, f"{parent}.n") >= k
        if name in ("mean_change", "median_change"):
            assert at(original, f"{parent}.pairs") >= k
    if at(published, "dropouts.rate") is not None:
        assert at(original, "duos.total") >= k
        assert at(published, "dropouts.count") is not None
    rows = at(original, "dropouts.survival_curve") or []
    for t, value in (at(published, "dropouts.survival") or {}).items():
        if value is not None:
            assert next(r["at_risk"] for r in rows if r["t"] >= int(t)) >= k


def assert_published(original: dict[str, Any], k: int) -> dict[str, Any]:
    published = publish(original, k)
    assert json.dumps(publish(copy.deepcopy(original), k)) == json.dumps(published)
    for path, value in _figures(published):
        if path[0] not in ("suppressed", "threshold") and value is None:
            assert at(original, ".".join(map(str, path))) is None or any(
                s == path_text(path) for s in published["suppressed"]), path
    assert_no_small_count(published, k)
    assert_groups_safe(original, published)
    assert_nothing_recoverable({"report": original}, {"report": published}, k)
    assert_primary_respected(original, published, k)
    return published


def assert_breakdown_published(split: dict[str, Any], overall: dict[str, Any],
                               k: int) -> dict[str, Any]:
    published = publish(split, k, overall=overall)
    assert json.dumps(published) == json.dumps(
        publish(copy.deepcopy(split), k, overall=copy.deepcopy(overall)))
    for group in published["groups"].values():
        assert_no_small_count(group, k)
    assert_nothing_recoverable(
        {"overall": overall, **{f"group {g}": v for g, v in split["groups"].items()}},
        {"overall": publish(overall, k),
         **{f"group {g}": v for g, v in published["groups"].items()}}, k, "overall")
    return published


THRESHOLDS = st.sampled_from([3, 4, 5, 10])


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 300), THRESHOLDS, st.booleans(),
       st.sampled_from(["programme", "site", "month"]))
def test_random_stores_publish_no_small_count_and_no_recoverable_cell(
        rnd: random.Random, day: int, k: int, v2: bool, by: str) -> None:
    model = fold(random_log(rnd, max_duos=40, v2=v2).events)
    report = build_report(model, d(day))
    assert_published(report, k)
    risks = at_risk(model, d(day))
    shown = publish(report, k, at_risk=risks)["retention"]["in_service"]
    for t, value in shown.items():
        if value is not None:
            assert risks["retention.in_service"][t] >= k
    minutes = contact_minutes(model, d(day))
    del minutes["as_of"]
    overall = {**report, "contact_minutes": minutes}
    split = build_breakdown(model, d(day), by)  # type: ignore[arg-type]
    assert_breakdown_published(split, overall, k)


@st.composite
def v2_reports(draw: st.DrawFn) -> dict[str, Any]:
    """Random v2 reports whose figures keep the report's identities (cells adding up
    to their totals, equal figures equal, a curve starting at those activated)."""
    def parts(total: int, n: int) -> list[int]:
        cuts = sorted(draw(st.lists(st.integers(0, total), min_size=n - 1,
                                    max_size=n - 1)))
        return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]

    # Small counts half the time: where suppression, and its chains, happen.
    small = st.one_of(st.integers(0, 6), st.integers(0, 30))
    report = blank()
    states = [draw(small) for _ in range(4)]
    from_active = draw(small)
    closed_early = parts(draw(small), 3)
    closed = from_active + sum(closed_early)
    by_state = dict(zip(("recruited", "selected", "matched", "active"), states, strict=True))
    report["duos"] = {"total": sum(states) + closed, "by_state": {**by_state,
                                                                 "closed": closed}}
    activated = states[3] + from_active
    report["closure"].update(closed=closed, from_active=from_active,
                             completed=draw(st.integers(0, from_active)))
    report["duration"]["relationship_days"] = {"n": from_active, "median": 1 if from_active
                                               else None, "mean": 1 if from_active else None}
    report["duration"]["time_to_first_meeting_days"] = {
        "n": activated, "median": 2 if activated else None, "mean": 2 if activated else None}
    on_time = draw(st.integers(0, activated))
    report["first_meeting"].update(on_time=on_time, late=activated - on_time)
    count = draw(st.integers(0, closed))
    report["dropouts"]["count"] = count
    report["dropouts"]["rate"] = count / report["duos"]["total"] if report["duos"][
        "total"] else None
    report["dropouts"]["by_stage"] = dict(zip(("recruited", "selected", "matched", "active"),
                                              parts(count, 4), strict=True))
    report["dropouts"]["by_reason"] = dict(zip(report["dropouts"]["by_reason"],
                                               parts(count, 7), strict=True))
    months = parts(count, 3)
    report["dropouts"]["by_month"] = {f"2025-0{i + 1}": m for i, m in enumerate(months) if m}
    if activated:
        rows, at_risk, t = [(0, activated, 0, 0)], activated, 0
        while at_risk:
            t += draw(st.integers(1, 60))
            gone = draw(st.integers(1, at_risk))
            events = draw(st.integers(0, gone))
            rows.append((t, at_risk, events, gone - events))
            at_risk -= gone
        report["dropouts"]["survival_curve"] = curve(*rows)
        table = report["dropouts"]["survival_curve"]
        report["dropouts"]["survival"] = {
            str(h): next((r["s"] for r in reversed(table) if r["t"] <= h), 1.0)
            if h <= t else None for h in (30, 90, 182, 365)}
    departed = draw(small)
    report["retention"].update(mentees=departed + draw(small), departed=departed,
                               by_reason=dict(zip(("resigned", "dismissed", "retired",
                                                   "other"), parts(departed, 4), strict=True)))
    for respondent in ("mentee", "mentor"):
        for measure in MEASURES:
            pairs = draw(small)
            improved, unchanged, worsened = parts(pairs, 3)
            report["surveys"][respondent][measure] = {
                "pairs": pairs, "mean_change": 0.5 if pairs else None,
                "median_change": 0 if pairs else None, "improved": improved,
                "unchanged": unchanged, "worsened": worsened}
    return report


@settings(max_examples=150, deadline=None)
@given(v2_reports(), THRESHOLDS)
def test_random_v2_reports_publish_no_small_count_and_no_recoverable_cell(
        report: dict[str, Any], k: int) -> None:
    assert_published(report, k)


@settings(max_examples=150, deadline=None)
@given(st.lists(v2_reports(), min_size=1, max_size=5), THRESHOLDS)
def test_breakdowns_of_random_v2_groups_protect_rows_and_columns(
        groups: list[dict[str, Any]], k: int) -> None:
    """The unbroken report is the groups' sum (its counts; its other figures are
    those of the first group, which the column rules do not look at)."""
    overall = copy.deepcopy(groups[0])
    for path, _ in _figures(overall):
        if path[0] == "as_of" or path[-1] in NOT_COUNTS or "survival" in path[1:2]:
            continue
        values = [at(g, ".".join(map(str, path))) for g in groups]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            node = overall
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = sum(values)
    months = sorted({m for g in groups for m in g["dropouts"]["by_month"]})
    overall["dropouts"]["by_month"] = {
        m: sum(g["dropouts"]["by_month"].get(m, 0) for g in groups) for m in months}
    split = breakdown({f"g{i}": {key: v for key, v in g.items() if key != "as_of"}
                       for i, g in enumerate(groups)})
    assert_breakdown_published(split, overall, k)
