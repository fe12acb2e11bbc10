"""The SQL adapter on SQLite with an in-memory recorder (notification ids with gaps):
catch-up, exactly-once, rebuild, status, comparison, and the report from the tables."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projection_builders import Log, MemoryRecorder, d, random_log

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from projections import catchup, compare, loading, reading, rebuild, writing
from projections.dialect import Dialect, OpenTransaction
from projections.fold import TOPICS, fold
from projections.report import UnknownProgramme, build_breakdown, build_report
from projections.schema import ALL_TABLES, SCHEMA_VERSION, VIEWS
from projections.views import ReadModel

MAPPER = PydanticMapper(transcoder=OrjsonTranscoder())


def pilot_log() -> Log:
    log = Log().world("P-1", "S-1", "M-1").world("P-2", "S-2", "M-2", country="GR")
    log.marker("c-1")
    log.duo("A", 0, 1, 2, 3).contact("A", "K-1", 4, minutes=50).contact("A", "K-2", 6)
    log.retract("A", "K-2", 7).review("A", 8).survey("A", 2).marker("c-2")
    log.duo("B", 1, 2, 3, 4, closed=30, reason="mismatch").contact("B", "K-1", 20)
    log.duo("C", 2, 3, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    log.duo("D", 3, closed=5, reason="rematched").recruit("E", 6, predecessor="D")
    log.survey("B", 40, "mentee", "post").marker("c-3").marker("c-4")
    return log


def same_records(left: ReadModel, right: ReadModel) -> bool:
    return ((left.programmes, left.sites, left.mentors, left.duos)
            == (right.programmes, right.sites, right.mentors, right.duos))


def positions(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT view_name, position FROM proj_tracking").fetchall())


def test_views_of_an_older_schema_are_opened_and_rebuilt_not_refused(
        conn: sqlite3.Connection) -> None:
    """A store whose views predate today's tables (a column that an index of today
    needs is missing) opens, and the next catch-up rebuilds every view."""
    log = pilot_log()
    recorder = MemoryRecorder()
    recorder.append(log.events)
    catchup.catch_up(recorder, MAPPER, conn)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                "AND name LIKE 'proj_%'").fetchall():
        conn.execute(f"DROP INDEX {name}")
    conn.execute("ALTER TABLE proj_duos DROP COLUMN programme_id")
    conn.execute("UPDATE proj_tracking SET schema_version = ?", (SCHEMA_VERSION - 1,))
    conn.commit()
    writing.ensure_schema(conn)
    assert not any(v.up_to_date for v in catchup.status(recorder, conn))
    assert catchup.catch_up(recorder, MAPPER, conn) == len(log.events) - 4
    assert all(v.up_to_date for v in catchup.status(recorder, conn))
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
    assert same_records(loading.load_read_model(conn), fold(log.events))


def test_catch_up_materialises_every_view_and_records_the_log_position(
        conn: sqlite3.Connection) -> None:
    log = pilot_log()
    recorder = MemoryRecorder()
    recorder.append(log.events)
    applied = catchup.catch_up(recorder, MAPPER, conn)
    assert applied == len(log.events) - 4  # the four markers are not read
    top = recorder.max_notification_id()
    assert positions(conn) == dict.fromkeys(VIEWS, top)
    assert all(v.up_to_date for v in catchup.status(recorder, conn))
    assert same_records(loading.load_read_model(conn), fold(log.events))
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
    row = conn.execute("SELECT state, successor_duo_id, contacts_logged, contacts_retracted, "
                       "contact_minutes, last_contact_on, contacts_settled_on, reviews "
                       "FROM proj_duos WHERE duo_id = 'A'").fetchone()
    assert row == ("active", None, 2, 1, 50, "2025-01-05", "2025-01-08", 1)
    assert conn.execute("SELECT successor_duo_id FROM proj_duos WHERE duo_id = 'D'"
                        ).fetchone() == ("E",)


def test_catch_up_in_small_batches_over_gaps_and_markers_reaches_the_last_id(
        conn: sqlite3.Connection) -> None:
    log = pilot_log()
    recorder = MemoryRecorder(seed=3)
    recorder.append(log.events[:20])
    catchup.catch_up(recorder, MAPPER, conn, batch_size=3)
    recorder.append(log.events[20:])
    seen: list[tuple[int, int]] = []
    catchup.catch_up(recorder, MAPPER, conn, batch_size=2,
                  progress=lambda at, top: seen.append((at, top)))
    top = recorder.max_notification_id()
    assert seen[-1] == (top, top)
    assert [at for at, _ in seen] == sorted(at for at, _ in seen)
    assert set(positions(conn).values()) == {top}
    assert same_records(loading.load_read_model(conn), fold(log.events))
    assert catchup.catch_up(recorder, MAPPER, conn) == 0


def test_a_failure_inside_a_batch_leaves_the_previous_batch_and_resume_counts_once(
        conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    log = pilot_log()
    recorder = MemoryRecorder()
    recorder.append(log.events[:12])
    catchup.catch_up(recorder, MAPPER, conn)  # the views exist and are at a position
    recorder.append(log.events[12:])
    before = positions(conn)
    calls = {"n": 0}
    real = catchup.set_position

    def failing(cursor: Any, dialect: Dialect, position: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the third batch's rows are written, then it fails
            raise RuntimeError("crash")
        real(cursor, dialect, position)

    monkeypatch.setattr(catchup, "set_position", failing)
    with pytest.raises(RuntimeError, match="crash"):
        catchup.catch_up(recorder, MAPPER, conn, batch_size=2)
    reached = positions(conn)
    assert before["duos"] < reached["duos"] < recorder.max_notification_id()
    # the stored views are exactly a rebuild up to the position they record
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
    monkeypatch.setattr(catchup, "set_position", real)
    catchup.catch_up(recorder, MAPPER, conn, batch_size=2)
    assert same_records(loading.load_read_model(conn), fold(log.events))
    as_of = d(60)
    assert loading.report_from_db(conn, as_of) == build_report(fold(log.events), as_of)


def test_a_concurrent_catch_up_is_noticed_and_nothing_counts_twice(tmp_path: Path) -> None:
    path = tmp_path / "views.db"
    first, second = sqlite3.connect(path), sqlite3.connect(path)
    log = pilot_log()
    recorder = MemoryRecorder()
    recorder.append(log.events[:8])
    catchup.catch_up(recorder, MAPPER, first)
    recorder.append(log.events[8:])
    done: list[int] = []

    def meanwhile(at: int, top: int) -> None:
        if not done:  # after the first's first batch, another process does the rest
            done.append(catchup.catch_up(recorder, MAPPER, second, batch_size=3))

    catchup.catch_up(recorder, MAPPER, first, batch_size=2, progress=meanwhile)
    assert done and done[0] > 0
    assert compare.compare_with_rebuild(recorder, MAPPER, first) == []
    assert same_records(loading.load_read_model(first), fold(log.events))
    first.close()
    second.close()


def test_rebuild_gives_the_same_rows_and_report_bytes(conn: sqlite3.Connection) -> None:
    log = pilot_log()
    recorder = MemoryRecorder()
    recorder.append(log.events[:15])
    catchup.catch_up(recorder, MAPPER, conn, batch_size=4)
    recorder.append(log.events[15:])
    catchup.catch_up(recorder, MAPPER, conn, batch_size=4)
    dump = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("proj_duos", "proj_duo_facts", "proj_contacts", "proj_reviews",
                      "proj_surveys", "proj_programmes", "proj_sites", "proj_mentors")}
    report = json.dumps(loading.report_from_db(conn, d(45)))
    seen: list[tuple[int, int]] = []
    assert rebuild.rebuild(recorder, MAPPER, conn, batch_size=5,
                        progress=lambda at, top: seen.append((at, top))) == len(log.events) - 4
    assert seen[-1][0] == recorder.max_notification_id()
    assert dump == {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                    for t in dump}
    assert json.dumps(loading.report_from_db(conn, d(45))) == report


def test_compare_lists_altered_missing_and_extra_rows(conn: sqlite3.Connection) -> None:
    recorder = MemoryRecorder()
    recorder.append(pilot_log().events)
    catchup.catch_up(recorder, MAPPER, conn)
    conn.execute("UPDATE proj_contacts SET minutes = 99 WHERE duo_id = 'A' AND contact_id = 'K-1'")
    conn.execute("DELETE FROM proj_reviews")
    conn.execute("INSERT INTO proj_surveys VALUES ('X', 'mentee', 'pre', '2025-01-01', "
                 "'2025-01-01T00:00:00.000000Z', 1, 1, 1, 1)")
    conn.commit()
    differences = compare.compare_with_rebuild(recorder, MAPPER, conn)
    assert [(x.table, x.key, x.stored is None, x.expected is None) for x in differences] == [
        ("proj_contacts", ("A", "K-1"), False, False),
        ("proj_reviews", ("A", 8), True, False),
        ("proj_surveys", ("X", "mentee", "pre"), False, True),
    ]
    rebuild.rebuild(recorder, MAPPER, conn)
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []


def test_a_view_behind_the_log_is_not_a_difference_but_status_shows_it(
        conn: sqlite3.Connection) -> None:
    log = pilot_log()
    recorder = MemoryRecorder()
    recorder.append(log.events[:10])
    catchup.catch_up(recorder, MAPPER, conn)
    recorder.append(log.events[10:])
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
    status = catchup.status(recorder, conn)
    assert [v.up_to_date for v in status] == [False] * len(VIEWS)
    assert status[0].log_position == recorder.max_notification_id()


def test_status_without_tables_shows_no_position(conn: sqlite3.Connection) -> None:
    recorder = MemoryRecorder()
    status = catchup.status(recorder, conn)
    assert [(v.name, v.position, v.up_to_date) for v in status] == [
        (view, None, False) for view in VIEWS]
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []


def test_views_of_another_schema_version_are_rebuilt_by_catch_up(
        conn: sqlite3.Connection) -> None:
    recorder = MemoryRecorder()
    recorder.append(pilot_log().events)
    catchup.catch_up(recorder, MAPPER, conn)
    conn.execute("UPDATE proj_tracking SET schema_version = 0 WHERE view_name = 'duos'")
    conn.execute("DELETE FROM proj_contacts")
    conn.commit()
    assert {x.table for x in compare.compare_with_rebuild(recorder, MAPPER, conn)} == {
        "proj_tracking", "proj_contacts"}
    catchup.catch_up(recorder, MAPPER, conn)
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
    assert sorted(conn.execute("SELECT view_name, schema_version FROM proj_tracking")) == (
        sorted((view, SCHEMA_VERSION) for view in VIEWS))


def test_a_connection_with_an_open_transaction_is_refused(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE other (x INTEGER)")
    conn.execute("INSERT INTO other VALUES (1)")
    assert conn.in_transaction
    with pytest.raises(OpenTransaction):
        catchup.catch_up(MemoryRecorder(), MAPPER, conn)


def test_any_other_mapper_decodes_through_the_mapper(conn: sqlite3.Connection) -> None:
    mapper = PydanticMapper(transcoder=OrjsonTranscoder(), compressor=ZlibCompressor())
    log = pilot_log()
    recorder = MemoryRecorder(mapper=mapper)
    recorder.append(log.events)
    catchup.catch_up(recorder, mapper, conn, batch_size=7)
    assert same_records(loading.load_read_model(conn), fold(log.events))


def test_the_report_from_the_tables_alone(conn: sqlite3.Connection) -> None:
    log = pilot_log()
    recorder = MemoryRecorder()
    recorder.append(log.events)
    catchup.catch_up(recorder, MAPPER, conn)
    model = fold(log.events)
    for day in (0, 5, 6, 7, 25, 45, 400):
        assert loading.report_from_db(conn, d(day)) == build_report(model, d(day))
        assert loading.report_from_db(conn, d(day), "P-2") == build_report(model, d(day), "P-2")
    stamp = log.events[30].timestamp
    assert loading.report_from_db(conn, d(45), as_at=stamp) == build_report(
        model, d(45), as_at=stamp)
    rows = loading.load_report_rows(conn, d(45))
    with pytest.raises(ValueError, match="as_of"):
        build_report(rows, d(46))
    with pytest.raises(UnknownProgramme):
        loading.report_from_db(conn, d(45), "P-9")
    with pytest.raises(UnknownProgramme):
        loading.report_from_db(conn, d(45), "P-9", as_at=stamp)
    with_sites = loading.load_report_rows(conn, d(45), sites=True)
    assert build_breakdown(with_sites, d(45), "site") == build_breakdown(model, d(45), "site")
    assert build_breakdown(rows, d(45), "month") == build_breakdown(model, d(45), "month")
    with pytest.raises(ValueError, match="sites"):
        build_breakdown(rows, d(45), "site")
    everything = loading.load_report_rows(conn)
    assert build_report(everything, d(6)) == build_report(model, d(6))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.lists(st.integers(1, 40), min_size=1,
                                                   max_size=4),
       st.integers(1, 7), st.integers(0, 300))
def test_materialised_rows_agree_with_the_in_memory_fold(
        rnd: random.Random, cuts: list[int], batch_size: int, day: int) -> None:
    log = random_log(rnd, v2=True)
    recorder = MemoryRecorder(seed=rnd.randint(0, 99))
    conn = sqlite3.connect(":memory:")
    try:
        start = 0
        for cut in [*sorted(cuts), len(log.events)]:
            recorder.append(log.events[start:cut])
            start = max(start, cut)
            catchup.catch_up(recorder, MAPPER, conn, batch_size=batch_size)
        model = fold(log.events)
        assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
        assert same_records(loading.load_read_model(conn), model)
        as_of = d(day)
        assert loading.report_from_db(conn, as_of) == build_report(model, as_of)
    finally:
        conn.close()


def test_date_helpers_stay_in_iso_order() -> None:
    # stored dates are ISO text: comparing them as text orders them as dates
    days = sorted(d(n) for n in (400, 3, 45, 31))
    assert sorted(x.isoformat() for x in days) == [x.isoformat() for x in days]
    assert date(2025, 1, 1) == d(0)


def _sqlite_store(path: Path, events: list[Any]) -> SQLiteApplicationRecorder:
    recorder = SQLiteApplicationRecorder(SQLiteDatastore(str(path), originator_id_type="text"))
    recorder.create_table()
    recorder.insert_events([MAPPER.to_stored_event(e) for e in events])
    return recorder


def _dump(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    return {t.name: conn.execute(f"SELECT * FROM {t.name} ORDER BY {', '.join(t.key)}"
                                 ).fetchall() for t in ALL_TABLES}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(1, 12))
def test_a_large_log_is_rebuilt_in_passes_over_ranges_of_duos_to_the_same_rows(
        rnd: random.Random, events_per_pass: int) -> None:
    log = random_log(rnd, max_duos=12, v2=True)
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.db"
        recorder = _sqlite_store(path, log.events)
        conn = sqlite3.connect(path)
        try:
            single = rebuild.rebuild(recorder, MAPPER, conn)
            assert len(reading.plan_passes(recorder, recorder.max_notification_id() or 0)) == 1
            expected = _dump(conn)
            top = recorder.max_notification_id() or 0
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(reading, "PASS_EVENTS", events_per_pass)
                passes = reading.plan_passes(recorder, top)
                seen: list[int] = []
                count = rebuild.rebuild(recorder, MAPPER, conn, batch_size=7,
                                     progress=lambda at, _: seen.append(at), processes=1)
            duos = [e.originator_id for e in log.events if e.originator_id.startswith("duo:")]
            assert len(passes) > 1 or len(set(duos)) <= 1 or len(duos) <= events_per_pass
            assert count == single == len([e for e in log.events
                                           if type(e).TOPIC in TOPICS])
            assert _dump(conn) == expected  # the rematch links across ranges included
            assert seen == sorted(seen) and seen[-1] == top
            assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
        finally:
            conn.close()
            recorder.datastore.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(0, 400))
def test_every_breakdown_from_the_tables_equals_the_in_memory_fold(
        rnd: random.Random, day: int) -> None:
    """The rows a breakdown loads (compact facts for programme, country, month and
    quarter; with labels, chains and departures for the others) give the read model's
    breakdown, v2 sections and log-rank comparison included."""
    log = random_log(rnd, max_duos=10, v2=True)
    recorder = MemoryRecorder(seed=rnd.randint(0, 99))
    recorder.append(log.events)
    conn = sqlite3.connect(":memory:")
    try:
        catchup.catch_up(recorder, MAPPER, conn)
        model, as_of = fold(log.events), d(day)
        compact = loading.load_report_rows(conn, as_of)
        labelled = loading.load_report_rows(conn, as_of, labels=True)
        for by in ("programme", "country", "month", "quarter"):
            assert build_breakdown(compact, as_of, by) == build_breakdown(model, as_of, by)
        for by in ("site", "setting", "newcomer_kind", "mentor_kind", "shift_overlap",
                   "same_department", "outcome", "month"):
            assert build_breakdown(labelled, as_of, by) == build_breakdown(model, as_of, by)
    finally:
        conn.close()


def test_a_departure_on_a_rematched_mentees_second_duo_counts_for_the_first_duos_chain(
        ) -> None:
    log = Log().world().duo("A", 0, 1, 2, 3, closed=40, reason="rematched")
    log.recruit("B", 41, mentee_id="E-A", predecessor="A").depart("B", 50, "retired")
    log.duo("C", 10)
    recorder = MemoryRecorder()
    recorder.append(log.events)
    conn = sqlite3.connect(":memory:")
    try:
        catchup.catch_up(recorder, MAPPER, conn)
        for as_of, departed in ((d(49), 0), (d(50), 1)):
            retention = loading.report_from_db(conn, as_of)["retention"]
            assert retention["mentees"] == 2
            assert retention["departed"] == departed
            assert retention["by_reason"]["retired"] == departed
            assert retention == build_report(fold(log.events), as_of)["retention"]
        # before the successor was recruited the chain is still one mentee
        assert loading.report_from_db(conn, d(40))["retention"]["mentees"] == 2
    finally:
        conn.close()
