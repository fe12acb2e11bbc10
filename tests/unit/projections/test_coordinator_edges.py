"""Edges of the coordinator's queries (``projections.coordinator``), each worked out by
hand: what happens on the ``as_of`` day itself, the ranking's tie-breaks, and the
programme filters with more than one programme (written for mutation testing:
docs/mutation.md)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from projection_builders import Log, MemoryRecorder, d

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from projections import catchup
from projections.coordinator import (
    NotSelected,
    UnknownDuo,
    attention,
    load_chains,
    mentor_pool,
    suggest,
)
from projections.report import UnknownProgramme

MAPPER = PydanticMapper(transcoder=OrjsonTranscoder())


@pytest.fixture
def conn_of() -> Iterator[Any]:
    made: list[sqlite3.Connection] = []

    def make(log: Log) -> sqlite3.Connection:
        recorder, conn = MemoryRecorder(), sqlite3.connect(":memory:")
        recorder.append(log.events)
        catchup.catch_up(recorder, MAPPER, conn)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


def _two_programmes() -> Log:
    log = Log().world().world("P-2", "S-2", "M-2")
    log.duo("A", 0, 1, 2).duo("B", 0, 1, 2, programme_id="P-2", site_id="S-2",
                              mentor_id="M-2")
    return log.depart("A", 5).depart("B", 6)


# ---------------------------------------------------------------------- the mentor pool
def test_the_pool_shows_training_and_leaving_from_their_own_day_on(conn_of: Any) -> None:
    log = Log().world().mentor("M-T", trained_on=10).deregister("M-T", 10)
    conn = conn_of(log)
    [before] = [r for r in mentor_pool(conn, d(9)) if r.mentor_id == "M-T"]
    assert (before.trained_on, before.deregistered_on) == (None, None)
    [on] = [r for r in mentor_pool(conn, d(10)) if r.mentor_id == "M-T"]
    assert (on.trained_on, on.deregistered_on) == (d(10).isoformat(), d(10).isoformat())


def test_the_pool_of_one_programme_among_two(conn_of: Any) -> None:
    conn = conn_of(_two_programmes())
    assert [(r.mentor_id, r.programme_id, r.open_duos, r.duos)
            for r in mentor_pool(conn, d(10), "P-2")] == [("M-2", "P-2", 1, 1)]
    assert [r.mentor_id for r in mentor_pool(conn, d(10))] == ["M-1", "M-2"]


# ---------------------------------------------------------------------- attention
def test_attention_of_one_programme_among_two(conn_of: Any) -> None:
    conn = conn_of(_two_programmes())
    assert [(r.duo_id, r.programme_id, r.reasons) for r in attention(conn, d(6), "P-2")] \
        == [("B", "P-2", ("mentee_departed",))]
    assert [r.duo_id for r in attention(conn, d(6))] == ["A", "B"]
    assert [r.duo_id for r in attention(conn, d(5))] == ["A"]


def test_a_duo_activated_on_the_day_is_active(conn_of: Any) -> None:
    log = Log().world(review_interval_days=400).duo("A", 0, 1, 2, 9).depart("A", 3)
    conn = conn_of(log)
    assert [r.state for r in attention(conn, d(8))] == ["matched"]
    assert [r.state for r in attention(conn, d(9))] == ["active"]


# ---------------------------------------------------------------------- chains
def test_the_chains_of_one_programme_among_two(conn_of: Any) -> None:
    conn = conn_of(_two_programmes())
    assert [(r.chain_id, r.programme_id, r.departed_on) for r in load_chains(conn, "P-2")] \
        == [("B", "P-2", d(6).isoformat())]
    assert [r.chain_id for r in load_chains(conn)] == ["A", "B"]


# ---------------------------------------------------------------------- suggestions
def test_ties_go_to_fewer_open_duos_then_more_years(conn_of: Any) -> None:
    """All share the early shift and wing-A, all as peers (40 + 25 + 5 = 70), max 3 duos.
    M-D 15 years and M-C 12 (10 points each), no duo: 100 each, M-D first by years.
    M-1 4 years; its duo Y closes on the day asked about, so it has none: 20 + 4 = 94.
    M-A no year, no duo: 90; M-B 7 years and one open duo (20 × 2 // 3 = 13): 90,
    after M-A by its open duo (by years it would come first)."""
    log = Log().world(max_duos_per_mentor=3)
    log.mentor("M-A", years=0).mentor("M-B", years=7).mentor("M-C", years=12)
    log.mentor("M-D", years=15)
    log.duo("X", 0, 1, 2, mentor_id="M-B").duo("Y", 0, 1, 2, closed=12)
    log.recruit("D-1", 10).select("D-1", 11)
    rows = suggest(conn_of(log), "D-1", d(12))
    assert [(r.mentor_id, r.rank, r.score, r.reasons["open_duos"]) for r in rows] == [
        ("M-D", 1, 100, 0), ("M-C", 2, 100, 0), ("M-1", 3, 94, 0), ("M-A", 4, 90, 0),
        ("M-B", 5, 90, 1)]


def test_a_duo_is_selected_from_its_select_day_to_the_day_before_it_closes(
        conn_of: Any) -> None:
    log = Log().world().duo("D-1", 10, 11, closed=13, reason="mentee_withdrew")
    conn = conn_of(log)
    assert [r.mentor_id for r in suggest(conn, "D-1", d(11))] == ["M-1"]
    assert [r.mentor_id for r in suggest(conn, "D-1", d(12))] == ["M-1"]
    with pytest.raises(NotSelected, match="is not in 'selected'"):
        suggest(conn, "D-1", d(13))


def test_a_duo_selected_or_matched_on_the_day_is_in_that_state(conn_of: Any) -> None:
    log = Log().world(review_interval_days=400).duo("A", 0, 4, 6).depart("A", 1)
    conn = conn_of(log)
    assert [r.state for r in attention(conn, d(3))] == ["recruited"]
    assert [r.state for r in attention(conn, d(4))] == ["selected"]
    assert [r.state for r in attention(conn, d(5))] == ["selected"]
    assert [r.state for r in attention(conn, d(6))] == ["matched"]


def test_the_refusals_name_what_was_asked(conn_of: Any) -> None:
    conn = conn_of(Log().world().duo("D-1", 0, 1))
    with pytest.raises(ValueError, match=r"^unknown reason 'bored' \(one of first_meeting_"
                       r"overdue, contact_overdue, "):
        attention(conn, d(5), reason="bored")
    with pytest.raises(UnknownProgramme, match=r"^programme 'P-404' was never opened$"):
        attention(conn, d(5), "P-404")
    with pytest.raises(UnknownProgramme, match=r"^programme 'P-404' was never opened$"):
        mentor_pool(conn, d(5), "P-404")
    with pytest.raises(UnknownDuo, match=r"^duo 'D-404' does not exist$"):
        suggest(conn, "D-404", d(5))
    with pytest.raises(NotSelected, match=r"^duo 'D-1' was never matched$"):
        suggest(conn, "D-1", d(5), at_match=True)


def test_at_match_counts_the_duos_of_mentors_listed_after_the_chosen_one(
        conn_of: Any) -> None:
    log = Log().world().mentor("M-2").duo("X", 0, 1, 5, mentor_id="M-2")
    log.recruit("D-1", 10).select("D-1", 11).match("D-1", 12)
    rows = suggest(conn_of(log), "D-1", d(40), at_match=True)
    assert [(r.mentor_id, r.reasons["open_duos"], r.reasons["chosen"]) for r in rows] == [
        ("M-1", 0, True), ("M-2", 1, False)]


def test_a_suggestion_as_json_is_its_fields(conn_of: Any) -> None:
    log = Log().world().recruit("D-1", 10).select("D-1", 11)
    [row] = suggest(conn_of(log), "D-1", d(12))
    assert row.as_json() == {"mentor_id": "M-1", "rank": 1, "score": 94,
                             "reasons": row.reasons}
