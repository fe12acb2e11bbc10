"""The coordinator's queries from the tables (``projections.coordinator``): attention,
the mentor pool and suggestions, each against a count made independently from the
in-memory read model (day by day, duo by duo) on hand-made and random logs."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projection_builders import Log, MemoryRecorder, d, random_log

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from projections import catchup
from projections.coordinator import (
    REASONS,
    NotSelected,
    UnknownDuo,
    attention,
    load_chains,
    mentor_pool,
    score,
    suggest,
)
from projections.fold import fold
from projections.listing import list_duos
from projections.report import UnknownProgramme
from projections.views import ReadModel

MAPPER = PydanticMapper(transcoder=OrjsonTranscoder())


def tables(log: Log) -> sqlite3.Connection:
    recorder, conn = MemoryRecorder(), sqlite3.connect(":memory:")
    recorder.append(log.events)
    catchup.catch_up(recorder, MAPPER, conn)
    return conn


@pytest.fixture
def conn_of() -> Iterator[Any]:
    made: list[sqlite3.Connection] = []

    def make(log: Log) -> sqlite3.Connection:
        made.append(tables(log))
        return made[-1]

    yield make
    for conn in made:
        conn.close()


# ---------------------------------------------------------------------- the reference
def _reviews_in_latest_window(model: ReadModel, duo_id: str, as_of: date) -> tuple[int, int]:
    """(window index, reviews in it) of the latest window of the duo's schedule that
    ended on or before ``as_of``, found by walking the days from its match."""
    duo = model.duos[duo_id]
    policy = model.programmes[duo.programme_id]
    matched = date.fromisoformat(duo.matched_on or "")
    every = policy.review_interval_days
    index, day, latest = 0, matched, -1
    while day <= as_of:
        if (day - matched).days % every == every - 1:
            latest = index
            index += 1
        day += timedelta(days=1)
    if latest < 0:
        return -1, 0
    start = matched + timedelta(days=latest * every)
    end = start + timedelta(days=every - 1)
    count = sum(1 for r in duo.reviews
                if start <= date.fromisoformat(r.occurred_on) <= end)
    return latest, count


def reference_attention(model: ReadModel, as_of: date) -> list[tuple[str, str, list[str]]]:
    text = as_of.isoformat()
    departed = {duo.chain_id for duo in model.duos.values()
                if duo.departed_on is not None and duo.departed_on <= text}
    found = []
    for row in list_duos(model, as_of):
        if row.state == "closed":
            continue
        duo = model.duos[row.duo_id]
        policy = model.programmes[duo.programme_id]
        reasons = []
        if row.state == "matched" and (as_of - date.fromisoformat(
                row.matched_on or "")).days > policy.first_meeting_within_days:
            reasons.append("first_meeting_overdue")
        if row.overdue:
            reasons.append("contact_overdue")
        if row.state in ("matched", "active"):
            window, reviews = _reviews_in_latest_window(model, row.duo_id, as_of)
            if window >= 0 and reviews < (policy.reviews_first_interval if window == 0
                                          else 1):
                reasons.append("review_overdue")
        if row.state == "active" and (row.active_days or 0) > policy.max_duration_days:
            reasons.append("beyond_max_duration")
        if row.state in ("matched", "active"):
            mentor = model.mentors[duo.mentor_id or ""]
            if mentor.deregistered_on is not None and mentor.deregistered_on <= text:
                reasons.append("mentor_deregistered")
        if duo.chain_id in departed:
            reasons.append("mentee_departed")
        if reasons:
            found.append((row.duo_id, row.state, reasons))
    return found


# ---------------------------------------------------------------------- attention
def test_each_reason_on_a_hand_made_log(conn_of: Any) -> None:
    log = Log().world(first_meeting_within_days=5, contact_interval_days=10,
                      min_duration_days=20, max_duration_days=30, review_interval_days=10,
                      reviews_first_interval=2)
    log.duo("WAIT", 0, 1, 2)                      # matched on day 2, never met
    log.duo("QUIET", 0, 1, 2, 3).contact("QUIET", "K-1", 5)
    log.review("QUIET", 3).review("QUIET", 4).review("QUIET", 13)
    log.duo("LONG", 0, 1, 2, 3).review("LONG", 3).review("LONG", 4).review("LONG", 13)
    for day in (13, 18, 23, 28, 33):
        log.contact("LONG", f"K-{day}", day)
    log.duo("GONE", 0, 1).depart("GONE", 10)
    log.duo("DONE", 0, 1, 2, 3, closed=8)
    conn = conn_of(log)
    rows = attention(conn, d(16))
    assert [(r.duo_id, r.state, list(r.reasons)) for r in rows] == [
        ("GONE", "selected", ["mentee_departed"]),
        ("QUIET", "active", ["contact_overdue"]),  # LONG's contact of day 13 counts
        ("WAIT", "matched", ["first_meeting_overdue", "review_overdue"]),
    ]
    assert [r.duo_id for r in attention(conn, d(34))] == ["GONE", "LONG", "QUIET", "WAIT"]
    assert attention(conn, d(34))[1].reasons == ("review_overdue", "beyond_max_duration")
    assert [r.duo_id for r in attention(conn, d(16), reason="contact_overdue")] == ["QUIET"]
    assert attention(conn, d(16), "P-1") == rows
    assert rows[0].as_json() == {"duo_id": "GONE", "programme_id": "P-1", "site_id": "S-1",
                                 "state": "selected", "reasons": ["mentee_departed"]}


def test_the_first_window_needs_its_reviews_and_a_later_one_needs_one(conn_of: Any) -> None:
    log = Log().world(review_interval_days=30, reviews_first_interval=2,
                      contact_interval_days=400)
    log.duo("D-1", 0, 0, 0, 1).review("D-1", 5)
    conn = conn_of(log)
    assert attention(conn, d(28)) == []            # no window ended yet
    assert attention(conn, d(29))[0].reasons == ("review_overdue",)  # window 0: 1 of 2
    log.review("D-1", 29)
    conn = conn_of(log)
    assert attention(conn, d(29)) == []
    assert attention(conn, d(59))[0].reasons == ("review_overdue",)  # window 1: none
    log.review("D-1", 30)
    assert attention(conn_of(log), d(59)) == []


def test_a_mentor_leaving_the_pool_flags_the_open_duos_matched_to_it(conn_of: Any) -> None:
    log = Log().world(review_interval_days=400, contact_interval_days=400)
    log.duo("A", 0, 1, 2, 3).duo("B", 0, 1)
    log.deregister("M-1", 20)
    conn = conn_of(log)
    assert attention(conn, d(19)) == []
    assert [(r.duo_id, r.reasons) for r in attention(conn, d(20))] == [
        ("A", ("mentor_deregistered",))]


def test_a_departure_flags_every_open_duo_of_the_chain(conn_of: Any) -> None:
    log = Log().world(review_interval_days=400).duo("A", 0, 1, closed=5, reason="rematched")
    log.recruit("B", 6, mentee_id="E-A", predecessor="A").depart("A", 9)
    assert [(r.duo_id, r.reasons) for r in attention(conn_of(log), d(9))] == [
        ("B", ("mentee_departed",))]


def test_an_unknown_programme_or_reason_is_refused(conn_of: Any) -> None:
    conn = conn_of(Log().world())
    with pytest.raises(UnknownProgramme):
        attention(conn, d(5), "P-404")
    with pytest.raises(ValueError, match="unknown reason"):
        attention(conn, d(5), reason="bored")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_attention_equals_a_duo_by_duo_count_on_random_logs(rnd: random.Random) -> None:
    log = random_log(rnd, v2=True)
    model = fold(log.events)
    conn = tables(log)
    try:
        for day in (0, 20, 45, 90, 130, 200, 300, 390, 450):
            as_of = d(day)
            got = [(r.duo_id, r.state, list(r.reasons)) for r in attention(conn, as_of)]
            assert got == reference_attention(model, as_of), day
            for reason in REASONS:
                assert [r.duo_id for r in attention(conn, as_of, reason=reason)] == [
                    duo for duo, _, reasons in got if reason in reasons]
    finally:
        conn.close()


# ---------------------------------------------------------------------- the mentor pool
def test_the_pool_at_a_date_counts_open_and_all_duos_of_each_mentor(conn_of: Any) -> None:
    log = Log().world().mentor("M-2", trained_on=None).mentor("M-3", on=50, trained_on=50)
    log.duo("A", 0, 1, 2, 3, closed=20).duo("B", 0, 1, 5).duo("C", 0, 1, 30, mentor_id="M-1")
    log.deregister("M-1", 25)
    conn = conn_of(log)
    rows = {r.mentor_id: r for r in mentor_pool(conn, d(10))}
    assert list(rows) == ["M-1", "M-2"]
    assert (rows["M-1"].open_duos, rows["M-1"].duos, rows["M-1"].trained_on,
            rows["M-1"].deregistered_on) == (2, 2, d(0).isoformat(), None)
    assert rows["M-2"].trained_on is None
    later = {r.mentor_id: r for r in mentor_pool(conn, d(60))}
    assert (later["M-1"].open_duos, later["M-1"].duos, later["M-1"].deregistered_on) == (
        2, 3, d(25).isoformat())
    assert later["M-3"].as_json() == {
        "mentor_id": "M-3", "programme_id": "P-1", "site_id": "S-1",
        "trained_on": d(50).isoformat(), "deregistered_on": None, "open_duos": 0, "duos": 0}
    with pytest.raises(UnknownProgramme):
        mentor_pool(conn, d(60), "P-404")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(0, 450))
def test_the_pool_equals_a_count_over_the_listing_on_random_logs(
        rnd: random.Random, day: int) -> None:
    log = random_log(rnd, v2=True)
    model = fold(log.events)
    as_of = d(day)
    rows = list_duos(model, as_of)
    expected = [(m.mentor_id, sum(1 for r in rows if r.mentor_id == m.mentor_id
                                  and r.state in ("matched", "active")),
                 sum(1 for r in rows if r.mentor_id == m.mentor_id))
                for m in sorted(model.mentors.values(), key=lambda m: m.mentor_id)
                if m.registered_on <= as_of.isoformat()]
    conn = tables(log)
    try:
        assert [(r.mentor_id, r.open_duos, r.duos) for r in mentor_pool(conn, as_of)] == \
            expected
    finally:
        conn.close()


# ---------------------------------------------------------------------- suggestions
def _pool(log: Log) -> Log:
    """Four trained mentors at S-1 besides M-1 (early shift, wing-A, 4 years)."""
    log.mentor("M-SHIFT", shifts=("late", "early"), department="wing-B", years=1)
    log.mentor("M-DEPT", shifts=("night",), department="wing-C", years=12)
    log.mentor("M-NONE", shifts=(), department="wing-Z", years=0)
    log.mentor("M-OTHER", site_id="S-2", shifts=("early",), department="wing-C", years=9)
    return log


def test_score_adds_the_points_of_each_part() -> None:
    assert score(shared_shifts=2, same_department=True, open_duos=0, max_duos=3,
                 years_experience=15, mentor_kind="peer") == {
        "shift_overlap": 40, "same_department": 25, "load": 20, "experience": 10, "peer": 5}
    assert score(shared_shifts=0, same_department=False, open_duos=4, max_duos=3,
                 years_experience=3, mentor_kind="supervisor") == {
        "shift_overlap": 0, "same_department": 0, "load": 0, "experience": 3, "peer": 0}
    assert score(shared_shifts=0, same_department=False, open_duos=1, max_duos=3,
                 years_experience=0, mentor_kind="peer")["load"] == 13


def test_suggestions_rank_the_mentors_match_accepts_best_first(conn_of: Any) -> None:
    log = _pool(Log().world().site("S-2"))
    log.recruit("D-1", 10, department="wing-C", shifts=("early", "night")).select("D-1", 11)
    rows = suggest(conn_of(log), "D-1", d(12))
    assert [(r.mentor_id, r.rank, r.score) for r in rows] == [
        ("M-DEPT", 1, 25 + 20 + 10 + 5 + 40),   # shares the night shift and the department
        ("M-1", 2, 40 + 20 + 4 + 5),
        ("M-SHIFT", 3, 40 + 20 + 1 + 5),
        ("M-NONE", 4, 20 + 5)]
    assert rows[0].reasons == {
        "shift_overlap": True, "shared_shifts": ["night"], "same_department": True,
        "open_duos": 0, "max_duos_per_mentor": 3, "years_experience": 12,
        "mentor_kind": "peer", "points": {"shift_overlap": 40, "same_department": 25,
                                          "load": 20, "experience": 10, "peer": 5}}


def test_a_full_mentor_comes_after_all_others_whatever_its_score(conn_of: Any) -> None:
    log = _pool(Log().world(max_duos_per_mentor=2).site("S-2"))
    log.duo("X", 0, 1, 2, mentor_id="M-DEPT").duo("Y", 0, 1, 3, mentor_id="M-DEPT")
    log.recruit("D-1", 10, department="wing-C", shifts=("night",)).select("D-1", 11)
    rows = suggest(conn_of(log), "D-1", d(12))
    assert rows[-1].mentor_id == "M-DEPT" and rows[-1].reasons["open_duos"] == 2
    assert rows[-1].score > rows[0].score


def test_only_mentors_match_accepts_on_the_date_are_suggested(conn_of: Any) -> None:
    log = _pool(Log().world().site("S-2"))
    log.mentor("M-UNTRAINED", trained_on=None).mentor("M-LATE", on=20, trained_on=20)
    log.deregister("M-SHIFT", 12)
    log.recruit("D-1", 10).select("D-1", 11)
    ids = [r.mentor_id for r in suggest(conn_of(log), "D-1", d(12))]
    assert sorted(ids) == ["M-1", "M-DEPT", "M-NONE"]
    assert "M-LATE" in [r.mentor_id for r in suggest(conn_of(log), "D-1", d(20))]


def test_without_required_training_an_untrained_mentor_is_suggested(conn_of: Any) -> None:
    log = Log().world(require_trained_mentor=False).mentor("M-2", trained_on=None)
    log.recruit("D-1", 10).select("D-1", 11)
    assert [r.mentor_id for r in suggest(conn_of(log), "D-1", d(12))] == ["M-1", "M-2"]


def test_the_kind_is_the_mentors_last_one_when_the_policy_allows_it(conn_of: Any) -> None:
    log = Log().world().recruit("X", 0).select("X", 1).match("X", 2, kind="supervisor")
    log.recruit("D-1", 10).select("D-1", 11)
    [row] = suggest(conn_of(log), "D-1", d(12))
    assert row.reasons["mentor_kind"] == "supervisor"
    assert row.reasons["points"]["peer"] == 0


@pytest.mark.parametrize(("day", "state"), [(10, "recruited"), (13, "matched")])
def test_a_duo_not_selected_on_the_date_has_no_suggestions(
        conn_of: Any, day: int, state: str) -> None:
    conn = conn_of(Log().world().duo("D-1", 10, 11, 13))
    with pytest.raises(NotSelected):
        suggest(conn, "D-1", d(day))
    with pytest.raises(UnknownDuo):
        suggest(conn, "D-404", d(12))


def test_at_match_ranks_as_on_the_morning_of_the_match(conn_of: Any) -> None:
    log = _pool(Log().world().site("S-2"))
    log.recruit("D-1", 10, department="wing-C", shifts=("night",)).select("D-1", 11)
    log.match("D-1", 12, "M-NONE")
    rows = suggest(conn_of(log), "D-1", d(40), at_match=True)
    chosen = [r for r in rows if r.reasons["chosen"]]
    assert [(r.mentor_id, r.rank, r.reasons["open_duos"]) for r in chosen] == [
        ("M-NONE", 4, 0)]
    with pytest.raises(NotSelected):
        suggest(conn_of(Log().world().duo("D-2", 0, 1)), "D-2", d(5), at_match=True)


# ---------------------------------------------------------------------- chains
def test_chains_have_their_first_recruitment_and_departure(conn_of: Any) -> None:
    log = Log().world().duo("A", 3, closed=5, reason="rematched")
    log.recruit("B", 6, mentee_id="E-A", predecessor="A").depart("B", 9, "retired")
    log.duo("C", 4).correct("A", 20, "recruited_on", 2, 3)
    rows = load_chains(conn_of(log))
    assert [(r.chain_id, r.first_recruited_on, r.departed_on, r.departure_reason,
             r.departure_duo_id) for r in rows] == [
        ("A", d(2).isoformat(), d(9).isoformat(), "retired", "B"),
        ("C", d(4).isoformat(), None, None, None)]
