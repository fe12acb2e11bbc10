"""The HTML report's series (duos by state month by month, contact distributions) and
their publishing: on hand-made logs, and against the report on random logs.

Day numbers count from 2025-01-01 (day 0).
"""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest
from projection_builders import Log, d, random_log

from projections.fold import fold
from projections.report import build_report, contact_minutes
from projections.series import (
    MAX_MONTHS,
    SeriesTooLong,
    build_series,
    histogram,
    month_ends,
    publish,
    suppress,
)


def test_month_ends_run_to_the_as_of_date() -> None:
    assert month_ends(date(2024, 12, 15), date(2025, 3, 10)) == [
        date(2024, 12, 31), date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 10)]
    assert month_ends(date(2025, 3, 1), date(2025, 3, 1)) == [date(2025, 3, 1)]
    # December of the last year a date can name has no following month to step back from.
    assert month_ends(date(9999, 11, 5), date(9999, 12, 31)) == [
        date(9999, 11, 30), date(9999, 12, 31)]
    assert month_ends(date(2025, 3, 1), date(2025, 2, 1)) == []


def test_the_months_by_state_run_over_at_most_max_months() -> None:
    log = Log().world()
    log.duo("A", 3, selected=10)  # recruited in January 2025
    events = fold(log.events)
    last = date(2025 + (MAX_MONTHS - 1) // 12, (MAX_MONTHS - 1) % 12 + 1, 28)
    assert len(build_series(events, last)["states_by_month"]) == MAX_MONTHS
    following = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    with pytest.raises(SeriesTooLong, match="as_of"):
        build_series(events, following)
    with pytest.raises(SeriesTooLong):
        build_series(events, date(9999, 12, 31))


def test_histogram_bins_from_zero_with_an_open_last_bin() -> None:
    bins = histogram(np.array([0.0, 0.99, 1.0, 2.5, 10.0, 57.0]), 1, 3)
    assert bins == [{"from": 0, "to": 1, "duos": 2}, {"from": 1, "to": 2, "duos": 1},
                    {"from": 2, "to": 3, "duos": 1}, {"from": 3, "to": None, "duos": 2}]


def test_states_month_by_month_on_a_small_log() -> None:
    log = Log().world()
    log.duo("A", 3, selected=10, matched=40, activated=45, closed=70, reason="mismatch")
    log.duo("B", 35, selected=36)
    log.contact("A", "K-1", 46, minutes=300)
    series = build_series(fold(log.events), d(75))  # 2025-03-17
    assert series["states_by_month"] == [
        {"month": "2025-01", "on": "2025-01-31", "total": 1, "recruited": 0,
         "selected": 1, "matched": 0, "active": 0, "closed": 0},
        {"month": "2025-02", "on": "2025-02-28", "total": 2, "recruited": 0,
         "selected": 1, "matched": 0, "active": 1, "closed": 0},
        {"month": "2025-03", "on": "2025-03-17", "total": 2, "recruited": 0,
         "selected": 1, "matched": 0, "active": 0, "closed": 1}]
    # A: 1 contact of 300 minutes over 25 active days -> 1.2 per 30 days, 360 minutes
    assert [b["duos"] for b in series["contacts_per_30_days"]["bins"]][:3] == [0, 1, 0]
    assert series["minutes_per_30_days"]["meeting_benchmark"] == 1
    assert series["minutes_per_30_days"]["bins"][6] == {"from": 360, "to": 420, "duos": 1}


def test_an_empty_store_has_no_months_and_empty_bins() -> None:
    series = build_series(fold(Log().world().events), d(30))
    assert series["states_by_month"] == []
    assert series["contacts_per_30_days"]["n"] == 0
    assert {b["duos"] for b in series["minutes_per_30_days"]["bins"]} == {0}


@pytest.mark.parametrize("seed", range(12))
def test_the_series_agree_with_the_report_on_random_logs(seed: int) -> None:
    rnd = random.Random(seed)
    model = fold(random_log(rnd).events)
    as_of = d(rnd.randrange(20, 200))
    programme = rnd.choice([None, *sorted(model.programmes)])
    series = build_series(model, as_of, programme)
    for row in series["states_by_month"]:
        report = build_report(model, date.fromisoformat(row["on"]), programme)
        assert {s: row[s] for s in report["duos"]["by_state"]} == report["duos"]["by_state"]
        assert row["total"] == report["duos"]["total"]
    report = build_report(model, as_of, programme)
    minutes = contact_minutes(model, as_of, programme)
    n = report["contact_frequency"]["contacts_per_30_days"]["n"]
    assert series["contacts_per_30_days"]["n"] == n
    assert sum(b["duos"] for b in series["contacts_per_30_days"]["bins"]) == n
    assert sum(b["duos"] for b in series["minutes_per_30_days"]["bins"]) == n
    meeting = minutes["duos_meeting_benchmark"]
    assert series["minutes_per_30_days"]["meeting_benchmark"] == meeting
    assert sum(b["duos"] for b in series["minutes_per_30_days"]["bins"][4:]) == meeting


def test_suppress_hides_small_counts_and_one_more_in_a_group_of_one_hidden() -> None:
    cells = {"t": 40, "a": 3, "b": 20, "c": 12, "d": 0, "e": 5}
    shown = suppress(cells, [("t", ["a", "b", "c", "d"])], 10)
    # a is small; b + c + d alone would give it away: the smallest other non-zero, c
    assert shown == {"t": 40, "a": None, "b": 20, "c": None, "d": 0, "e": None}


def test_suppress_hides_a_whole_group_whose_total_is_hidden() -> None:
    shown = suppress({"t": 4, "a": 0, "b": 4}, [("t", ["a", "b"])], 10)
    assert shown == {"t": None, "a": None, "b": None}


@pytest.mark.parametrize("k", [3, 5, 8])
def test_publishing_the_series_leaves_nothing_to_recover_by_subtraction(k: int) -> None:
    rnd = random.Random(7)
    model = fold(random_log(rnd, max_duos=30).events)
    series = build_series(model, d(150))
    n = series["contacts_per_30_days"]["n"]
    published, paths = publish(series, k, {
        "contacts_per_30_days.n": n, "minutes_per_30_days.n": n,
        "minutes_per_30_days.meeting_benchmark":
            series["minutes_per_30_days"]["meeting_benchmark"]})
    # month-to-month differences would show small flows: no months in a publication
    assert published["states_by_month"] is None
    for name in ("contacts_per_30_days", "minutes_per_30_days"):
        values = [b["duos"] for b in published[name]["bins"]]
        assert all(v is None or v == 0 or v >= k for v in values)
        assert sum(v is None for v in values) != 1
    minute_bins = [b["duos"] for b in published["minutes_per_30_days"]["bins"]]
    if published["minutes_per_30_days"]["meeting_benchmark"] is not None:
        assert sum(v is None for v in minute_bins[4:]) != 1
        assert sum(v is None for v in minute_bins[:4]) != 1
    assert paths == sorted(paths)
    hidden = [f"{name}.bins.{i}" for name in ("contacts_per_30_days", "minutes_per_30_days")
              for i, b in enumerate(published[name]["bins"]) if b["duos"] is None]
    hidden += [f"{name}.n" for name in ("contacts_per_30_days", "minutes_per_30_days")
               if published[name]["n"] is None]
    if published["minutes_per_30_days"]["meeting_benchmark"] is None:
        hidden.append("minutes_per_30_days.meeting_benchmark")
    assert paths == sorted(hidden)
    assert k == 3 or paths  # the random pilot has small bins
    assert all(p.startswith(("contacts_per_30_days.", "minutes_per_30_days.")) for p in paths)


def test_a_figure_the_report_hides_is_hidden_in_the_series_too() -> None:
    rnd = random.Random(7)
    series = build_series(fold(random_log(rnd, max_duos=30).events), d(150))
    n = series["contacts_per_30_days"]["n"]
    published, paths = publish(series, 3, {
        "contacts_per_30_days.n": n, "minutes_per_30_days.n": n,
        "minutes_per_30_days.meeting_benchmark": None})
    minutes = published["minutes_per_30_days"]
    assert minutes["meeting_benchmark"] is None
    assert "minutes_per_30_days.meeting_benchmark" in paths
    # with meeting hidden, neither side of the benchmark may leave one bin to subtract
    assert sum(b["duos"] is None for b in minutes["bins"][4:]) != 1
