"""The materialised views on real stores: the engine's SQLite file and a PostgreSQL
schema, with the views' tables in the same database as the events.

One contract suite (:class:`ViewsContract`) runs against each store: catch-up while
commands arrive, a crash in the middle of a catch-up, ids with gaps, rebuild, status,
the comparison used by ``lifecycle audit projections`` and the report from the tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from lifecycle.adapters.store import connect, resolve_target
from lifecycle.application import Lifecycle
from lifecycle.domain.base import DomainEvent
from lifecycle.domain.markers import AppliedCommand
from projections import catchup, compare, loading, rebuild
from projections.dialect import Dialect
from projections.fold import fold
from projections.report import build_report

TODAY = date(2026, 1, 1)
AS_OFS = (date(2025, 2, 10), date(2025, 3, 1), date(2025, 6, 30))


def commands(stream: Any) -> list[dict[str, Any]]:
    """A small pilot: a contact logged late, a retraction, a rematch, dropouts."""
    s = stream.base()
    s.duo("active", "D-1", start="2025-02-01")
    s.add("log_contact", "2025-02-05", duo_id="D-1", contact_id="K-1")
    s.add("log_contact", "2025-02-06", duo_id="D-1", contact_id="K-2",
          functions=["career", "psychosocial"], minutes=45)
    s.add("retract_contact", "2025-02-20", duo_id="D-1", contact_id="K-2")
    s.duo("closed", "D-2", start="2025-02-02", close_reason="mismatch")
    s.duo("matched", "D-3", start="2025-02-03")
    s.add("close", "2025-02-10", duo_id="D-3", reason="rematched")
    s.add("recruit", "2025-02-11", duo_id="D-4", mentee_id="mentee-D-3",
          predecessor_duo_id="D-3")
    s.duo("active", "D-5", start="2025-02-04")
    s.add("close", "2025-03-01", duo_id="D-5", reason="completed")
    s.add("log_contact", "2025-02-28", duo_id="D-5", contact_id="K-1", minutes=300)
    s.add("review", "2025-02-12", duo_id="D-1", health=2)
    s.add("record_survey", "2025-02-13", duo_id="D-1")
    return list(s.commands)


def submit_all(engine: Lifecycle, raws: list[dict[str, Any]]) -> None:
    from lifecycle.application.commands import parse_command

    for raw in raws:
        engine.execute(parse_command(raw), raw)


def all_events(engine: Lifecycle) -> list[DomainEvent]:
    recorder, mapper = engine.app.recorder, engine.app.mapper
    top = recorder.max_notification_id() or 0
    return [mapper.to_domain_event(n) for n in recorder.select_notifications(1, top + 1)]


class ViewsContract:
    """What each store must do. Each store's subclass defines the fixture ``store``,
    (engine, views connection), which every test here asks for (pytest refuses a
    subclass that lacks it: "fixture 'store' not found")."""

    def test_catch_up_follows_the_engine_and_equals_the_fold(
            self, store: tuple[Lifecycle, Any], stream: Any) -> None:
        engine, conn = store
        raws = commands(stream)
        recorder, mapper = engine.app.recorder, engine.app.mapper
        for part in (raws[:12], raws[12:20], raws[20:]):
            submit_all(engine, part)
            catchup.catch_up(recorder, mapper, conn, batch_size=4)
        assert compare.compare_with_rebuild(recorder, mapper, conn) == []
        model = fold(all_events(engine))
        for as_of in AS_OFS:
            assert loading.report_from_db(conn, as_of) == build_report(model, as_of)
        assert all(v.up_to_date for v in catchup.status(recorder, conn))
        row = self.fetch(conn, "SELECT successor_duo_id FROM proj_duos WHERE duo_id = 'D-3'")
        assert row == [("D-4",)]

    def test_a_crash_inside_a_batch_is_rolled_back_and_resumed_exactly_once(
            self, store: tuple[Lifecycle, Any], stream: Any,
            monkeypatch: pytest.MonkeyPatch) -> None:
        engine, conn = store
        recorder, mapper = engine.app.recorder, engine.app.mapper
        raws = commands(stream)
        submit_all(engine, raws[:10])
        catchup.catch_up(recorder, mapper, conn)
        submit_all(engine, raws[10:])
        real = catchup.set_position
        calls = {"n": 0}

        def crash_on_second(cursor: Any, dialect: Dialect, position: int) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("power cut")
            real(cursor, dialect, position)

        monkeypatch.setattr(catchup, "set_position", crash_on_second)
        with pytest.raises(RuntimeError, match="power cut"):
            catchup.catch_up(recorder, mapper, conn, batch_size=3)
        assert compare.compare_with_rebuild(recorder, mapper, conn) == []
        monkeypatch.setattr(catchup, "set_position", real)
        catchup.catch_up(recorder, mapper, conn, batch_size=3)
        assert compare.compare_with_rebuild(recorder, mapper, conn) == []
        contacts = self.fetch(conn, "SELECT count(*) FROM proj_contacts")
        assert contacts == [(3,)]
        model = fold(all_events(engine))
        assert loading.report_from_db(conn, AS_OFS[-1]) == build_report(model, AS_OFS[-1])

    def test_rebuild_gives_the_same_report_bytes_and_fixes_altered_rows(
            self, store: tuple[Lifecycle, Any], stream: Any) -> None:
        engine, conn = store
        recorder, mapper = engine.app.recorder, engine.app.mapper
        submit_all(engine, commands(stream))
        catchup.catch_up(recorder, mapper, conn, batch_size=5)
        before = [json.dumps(loading.report_from_db(conn, as_of)) for as_of in AS_OFS]
        self.execute(conn, "UPDATE proj_duos SET state = 'active' WHERE duo_id = 'D-2'")
        assert [(x.table, x.key) for x in compare.compare_with_rebuild(recorder, mapper, conn)
                ] == [("proj_duos", ("D-2",))]
        rebuild.rebuild(recorder, mapper, conn)
        assert compare.compare_with_rebuild(recorder, mapper, conn) == []
        assert [json.dumps(loading.report_from_db(conn, as_of)) for as_of in AS_OFS] == before

    def test_positions_follow_ids_with_gaps(
            self, store: tuple[Lifecycle, Any], stream: Any) -> None:
        engine, conn = store
        recorder, mapper = engine.app.recorder, engine.app.mapper
        raws = commands(stream)
        submit_all(engine, raws[:10])
        catchup.catch_up(recorder, mapper, conn)
        self.waste_ids(engine)
        submit_all(engine, raws[10:])
        catchup.catch_up(recorder, mapper, conn, batch_size=2)
        assert compare.compare_with_rebuild(recorder, mapper, conn) == []
        top = recorder.max_notification_id()
        assert {v.position for v in catchup.status(recorder, conn)} == {top}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def fetch(conn: Any, query: str) -> list[tuple[Any, ...]]:
        with Dialect(conn).transaction(write=False) as cursor:
            cursor.execute(query)
            return [tuple(row) for row in cursor.fetchall()]

    @staticmethod
    def execute(conn: Any, query: str) -> None:
        with Dialect(conn).transaction() as cursor:
            cursor.execute(query)

    @staticmethod
    def waste_ids(engine: Lifecycle) -> None:
        """Make the next ids skip some: an insert that fails after taking ids (on
        PostgreSQL the sequence keeps them; SQLite may reuse them)."""
        recorder = engine.app.recorder
        taken = AppliedCommand.stream_id("c-0001")
        fresh = StoredEvent("command:gap", 1, AppliedCommand.Applied.TOPIC,
                            b'{"timestamp":"2025-01-01T00:00:00Z","occurred_on":"2025-01-01",'
                            b'"command_id":null,"digest":"x"}')
        with pytest.raises(IntegrityError):
            recorder.insert_events([fresh, StoredEvent(taken, 1, fresh.topic, fresh.state)])


class TestSQLiteViews(ViewsContract):
    @pytest.fixture
    def store(self, db_path: Path) -> Iterator[tuple[Lifecycle, Any]]:
        target = resolve_target(str(db_path))
        engine = Lifecycle(target.env, today=lambda: TODAY)
        conn = connect(target)
        yield engine, conn
        conn.close()
        engine.shutdown()

    def test_the_views_live_in_the_store_file(self, store: tuple[Lifecycle, Any],
                                              stream: Any) -> None:
        engine, conn = store
        submit_all(engine, commands(stream))
        catchup.catch_up(engine.app.recorder, engine.app.mapper, conn)
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"stored_events", "proj_duos", "proj_tracking"} <= tables


@pytest.mark.postgres
class TestPostgresViews(ViewsContract):
    @pytest.fixture
    def store(self, postgres_url: str) -> Iterator[tuple[Lifecycle, Any]]:
        target = resolve_target(postgres_url)
        engine = Lifecycle(target.env, today=lambda: TODAY)
        conn = connect(target)
        yield engine, conn
        conn.close()
        engine.shutdown()

    def test_ids_really_have_a_gap(self, store: tuple[Lifecycle, Any], stream: Any) -> None:
        engine, conn = store
        raws = commands(stream)
        submit_all(engine, raws[:3])
        before = engine.app.recorder.max_notification_id()
        self.waste_ids(engine)
        submit_all(engine, raws[3:4])
        ids = [n.id for n in engine.app.recorder.select_notifications(before, 10)]
        assert ids[1] > before + 1
        catchup.catch_up(engine.app.recorder, engine.app.mapper, conn)
        assert compare.compare_with_rebuild(engine.app.recorder, engine.app.mapper, conn) == []
