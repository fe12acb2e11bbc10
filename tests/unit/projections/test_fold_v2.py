"""The read models and contract v2's events: corrections (the corrected fact everywhere,
the original for an ``as_at`` before the correction), departures on a chain of duos and
mentors leaving the pool; their rows, catch-up and rebuild agreeing."""

from __future__ import annotations

import sqlite3
from datetime import date

from projection_builders import Log, MemoryRecorder, d

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from projections import catchup, compare, loading, rebuild
from projections.fold import fold
from projections.listing import list_duos
from projections.report import build_report
from projections.views import as_recorded, canonical_timestamp

MAPPER = PydanticMapper(transcoder=OrjsonTranscoder())


def _stamp(log: Log, index: int = -1) -> str:
    return canonical_timestamp(log.events[index].timestamp)


def test_a_correction_replaces_the_fact_and_keeps_what_it_replaced() -> None:
    log = Log().world().duo("D-1", 10, 11, 12, 13, closed=40, reason="mismatch")
    log.correct("D-1", 60, "closed_on", 45, 40)
    log.correct("D-1", 61, "close_reason", "mentee_withdrew", "mismatch")
    duo = fold(log.events).duos["D-1"]
    assert (duo.closed_on, duo.close_reason) == (d(45).isoformat(), "mentee_withdrew")
    assert [(c.fact, c.value, c.previous) for c in duo.corrections] == [
        ("closed_on", d(45).isoformat(), d(40).isoformat()),
        ("close_reason", "mentee_withdrew", "mismatch")]
    assert duo.state == "closed" and duo.closed_from == "active"


def test_as_recorded_undoes_the_corrections_recorded_later() -> None:
    log = Log().world().duo("D-1", 10, 11, 12, 13)
    before_any = _stamp(log)
    log.correct("D-1", 60, "recruited_on", 5, 10)
    between = _stamp(log)
    log.correct("D-1", 61, "recruited_on", 8, 5)
    duo = fold(log.events).duos["D-1"]
    assert duo.recruited_on == d(8).isoformat()
    assert as_recorded(duo, before_any).recruited_on == d(10).isoformat()
    assert as_recorded(duo, between).recruited_on == d(5).isoformat()
    assert as_recorded(duo, _stamp(log)) is duo
    assert as_recorded(duo, None) is duo


def test_every_as_of_uses_the_corrected_dates_and_as_at_before_shows_the_original() -> None:
    log = Log().world().duo("D-1", 10, 11, 12, 13, closed=40, reason="mismatch")
    before = _stamp(log)
    log.correct("D-1", 90, "closed_on", 60, 40)
    model = fold(log.events)
    # As of day 50, before the correction was made (day 90): the duo ran until day 60.
    [row] = list_duos(model, d(50))
    assert (row.state, row.closed_on) == ("active", None)
    assert build_report(model, d(50))["duos"]["by_state"]["active"] == 1
    [original] = list_duos(model, d(50), as_at=before)
    assert (original.state, original.closed_on) == ("closed", d(40).isoformat())
    report = build_report(model, d(50), as_at=before)
    assert report["duos"]["by_state"]["closed"] == 1
    assert report["duration"]["relationship_days"]["median"] == 27


def test_a_chain_is_named_by_its_first_duo_and_a_departure_by_the_duo_it_names() -> None:
    log = Log().world().duo("A", 0, 1, closed=5, reason="rematched")
    log.recruit("B", 6, mentee_id="E-A", predecessor="A").close("B", 7, "rematched")
    log.recruit("C", 8, mentee_id="E-A", predecessor="B").duo("Z", 3)
    log.depart("C", 30, "dismissed")
    model = fold(log.events)
    assert {k: v.chain_id for k, v in model.duos.items()} == {
        "A": "A", "B": "A", "C": "A", "Z": "Z"}
    assert (model.duos["C"].departed_on, model.duos["C"].departure_reason) == (
        d(30).isoformat(), "dismissed")
    assert model.duos["A"].departed_on is None


def test_a_mentor_leaving_the_pool_is_kept_with_its_date_and_reason() -> None:
    log = Log().world().deregister("M-1", 50, "withdrew")
    mentor = fold(log.events).mentors["M-1"]
    assert (mentor.deregistered_on, mentor.deregistration_reason) == (d(50).isoformat(),
                                                                      "withdrew")
    assert mentor.deregistered_at == _stamp(log)


def _tables(conn: sqlite3.Connection, *names: str) -> dict[str, list[tuple[object, ...]]]:
    return {n: conn.execute(f"SELECT * FROM {n} ORDER BY 1, 2").fetchall() for n in names}


def test_catch_up_after_a_later_recruitment_leaves_no_month_behind() -> None:
    """The duo's months begin in its corrected month (and so do the report's figures)."""
    log = Log().world().duo("D-1", "2025-01-20", "2025-03-01", "2025-03-02", "2025-03-03")
    log.contact("D-1", "K-1", "2025-03-10")
    recorder, conn = MemoryRecorder(), sqlite3.connect(":memory:")
    recorder.append(log.events)
    catchup.catch_up(recorder, MAPPER, conn)
    months = conn.execute("SELECT month FROM proj_duo_months ORDER BY month").fetchall()
    assert months[0] == ("2025-01",)
    log.correct("D-1", "2025-04-01", "recruited_on", "2025-02-15", "2025-01-20")
    recorder.append(log.events[-1:])
    catchup.catch_up(recorder, MAPPER, conn)
    months = conn.execute("SELECT month FROM proj_duo_months ORDER BY month").fetchall()
    assert months[0] == ("2025-02",)
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
    assert loading.report_from_db(conn, date(2025, 1, 31))["duos"]["total"] == 0
    assert loading.report_from_db(conn, date(2025, 3, 31)) == build_report(
        fold(log.events), date(2025, 3, 31))
    conn.close()


def test_the_v2_rows_of_a_catch_up_equal_those_of_a_rebuild() -> None:
    log = Log().world().duo("A", 0, 1, 2, 3, closed=20, reason="rematched")
    log.recruit("B", 21, mentee_id="E-A", predecessor="A").review("B", 22)
    log.correct("B", 40, "recruited_on", 20, 21).depart("B", 41, "retired")
    log.deregister("M-1", 42)
    recorder, conn = MemoryRecorder(), sqlite3.connect(":memory:")
    for event in log.events:
        recorder.append([event])
        catchup.catch_up(recorder, MAPPER, conn)
    tables = ("proj_duos", "proj_duo_days", "proj_departures", "proj_corrections",
              "proj_mentors", "proj_reviews")
    caught_up = _tables(conn, *tables)
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
    rebuild.rebuild(recorder, MAPPER, conn)
    assert _tables(conn, *tables) == caught_up
    assert caught_up["proj_departures"] == [
        ("A", "B", "P-1", d(41).isoformat(), _stamp(log, -2), "retired", 0)]
    [correction] = caught_up["proj_corrections"]
    assert correction[2:5] == ("recruited_on", d(20).isoformat(), d(21).isoformat())
    loaded = loading.load_read_model(conn)
    assert loaded.duos["B"].corrections == fold(log.events).duos["B"].corrections
    assert loaded.mentors["M-1"] == fold(log.events).mentors["M-1"]
    conn.close()
