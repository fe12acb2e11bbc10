"""Our chained recorders pass the eventsourcing library's own recorder contract suites.

``ChainedSQLiteApplicationRecorder`` and ``ChainedPostgresApplicationRecorder`` extend
the library's recorders with the audit hash chain (table ``event_chain``). Here each one
is run through the library's abstract suites (``ApplicationRecorderTestCase`` and
``NonInterleavingNotificationIDsBaseCase`` from ``eventsourcing.tests.persistence``),
exactly as the library tests its own recorders, and every test of those suites ends by
checking that the chain over whatever the test inserted still verifies
(:func:`lifecycle.adapters.audit.verify`). A few tests of our own show that the chain check is
not vacuous (it catches an altered row) and that a rejected insert leaves no link.

The stores run with ``originator_id_type="text"``, as the engine's stores do
(:mod:`lifecycle.adapters.store`); the suites' originator ids are therefore text (a UUID's
string form) rather than ``UUID`` objects.

The module imports the library's suites as a module, never the abstract classes by
name, so pytest does not collect the abstract bases themselves.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import TestCase
from uuid import uuid4

import eventsourcing.tests.persistence as es_persistence
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg import sql

from lifecycle.adapters.audit import ChainReader, Verification, verify
from lifecycle.adapters.chain import GENESIS, link
from lifecycle.adapters.recorders import (
    CHAIN_TABLE,
    ChainedPostgresApplicationRecorder,
    ChainedSQLiteApplicationRecorder,
)
from lifecycle.adapters.store import StoreTarget, resolve_target

Recorder = ChainedSQLiteApplicationRecorder | ChainedPostgresApplicationRecorder


# ---------------------------------------------------------------------- store fixtures
class SQLiteStore:
    """A file-based SQLite datastore per recorder, in a temporary folder of the test."""

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        folder = tempfile.TemporaryDirectory(prefix="lifecycle-recorders-")
        self.addCleanup(folder.cleanup)  # type: ignore[attr-defined]
        self.folder = Path(folder.name)
        self.made: list[tuple[Recorder, StoreTarget]] = []

    def create_recorder(self) -> ChainedSQLiteApplicationRecorder:
        path = self.folder / f"store-{len(self.made)}.db"
        # Resolved before the file exists: resolve_target reads an existing file's
        # header with a plain open()/close(), which drops this process's SQLite locks.
        target = resolve_target(str(path))
        datastore = SQLiteDatastore(db_name=str(path), lock_timeout=30,
                                    originator_id_type="text")
        self.addCleanup(datastore.close)  # type: ignore[attr-defined]
        recorder = ChainedSQLiteApplicationRecorder(datastore)
        recorder.create_table()
        self.made.append((recorder, target))
        return recorder

    def new_originator_id(self) -> str:
        return f"duo:{uuid4()}"


class PostgresStore:
    """A PostgreSQL datastore in the fresh schema of conftest's ``postgres_url``."""

    @pytest.fixture(autouse=True)
    def _fresh_schema(self, postgres_url: str) -> Iterator[None]:
        self.target = resolve_target(postgres_url)
        self.made: list[tuple[Recorder, StoreTarget]] = []
        self.datastores: list[PostgresDatastore] = []
        yield
        # The schema is dropped by the fixture once every connection is closed.
        for datastore in self.datastores:
            datastore.close()

    def create_recorder(self) -> ChainedPostgresApplicationRecorder:
        env = self.target.env
        datastore = PostgresDatastore(
            dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"], schema=self.target.schema or "",
            pool_size=4, max_overflow=12, lock_timeout=30, originator_id_type="text",
        )
        self.datastores.append(datastore)
        recorder = ChainedPostgresApplicationRecorder(datastore)
        recorder.create_table()
        self.made.append((recorder, self.target))
        return recorder

    def new_originator_id(self) -> str:
        return f"duo:{uuid4()}"


class ChainChecked:
    """Every test ends by verifying the audit chain of each store it wrote to."""

    made: list[tuple[Recorder, StoreTarget]]

    def tearDown(self) -> None:
        for recorder, target in self.made:
            assert_chain_verifies(recorder, target)
        super().tearDown()  # type: ignore[misc]


def verify_chain(recorder: Recorder, target: StoreTarget) -> Verification:
    """:func:`lifecycle.adapters.audit.verify` on the recorder's store."""
    return verify(ChainReader(target, recorder.events_table_name))


def assert_chain_verifies(recorder: Recorder, target: StoreTarget) -> None:
    """The chain verifies and has exactly one link per stored event."""
    result = verify_chain(recorder, target)
    assert result.ok, result.problem
    assert result.events == stored_count(recorder)


def stored_count(recorder: Recorder) -> int:
    return len(recorder.select_notifications(start=None, limit=10**9))


# ---------------------------------------------------------------------- the library's suites
class TestChainedSQLiteRecorderPassesLibrarySuite(
        ChainChecked, SQLiteStore, es_persistence.ApplicationRecorderTestCase):
    """The library's application-recorder suite, on the chained SQLite recorder."""


class TestChainedSQLiteRecorderDoesNotInterleaveNotificationIds(
        ChainChecked, SQLiteStore, es_persistence.NonInterleavingNotificationIDsBaseCase):
    """Two concurrent batches get non-interleaved ids (and one chain) on SQLite."""


@pytest.mark.postgres
class TestChainedPostgresRecorderPassesLibrarySuite(
        ChainChecked, PostgresStore, es_persistence.ApplicationRecorderTestCase):
    """The library's application-recorder suite, on the chained PostgreSQL recorder."""


@pytest.mark.postgres
class TestChainedPostgresRecorderDoesNotInterleaveNotificationIds(
        ChainChecked, PostgresStore, es_persistence.NonInterleavingNotificationIDsBaseCase):
    """Two concurrent batches get non-interleaved ids (and one chain) on PostgreSQL."""


# ---------------------------------------------------------------------- the chain itself
def _events(originator_id: str, first: int, count: int, tag: str) -> list[StoredEvent]:
    return [StoredEvent(originator_id, version, f"topic-{tag}", f"{tag}-{version}".encode())
            for version in range(first, first + count)]


class ChainContract(ABC):
    """What the chain promises beyond the library's suites, for any chained recorder."""

    made: list[tuple[Recorder, StoreTarget]]

    @abstractmethod
    def create_recorder(self) -> Recorder:
        """A new chained recorder on this store."""

    @abstractmethod
    def new_originator_id(self) -> str:
        """An id no stored stream has yet."""

    @abstractmethod
    def read_links(self, recorder: Recorder, target: StoreTarget) -> list[tuple[int, bytes]]:
        """The stored chain, in position order."""

    @abstractmethod
    def alter_state(self, target: StoreTarget, position: int, state: bytes) -> None:
        """Overwrite one stored event's state behind the engine's back."""

    def test_each_link_hashes_its_event_onto_the_previous_link(self) -> None:
        recorder = self.create_recorder()
        first, second = self.new_originator_id(), self.new_originator_id()
        recorder.insert_events(_events(first, 1, 3, "a"))
        recorder.insert_events(_events(second, 1, 2, "b") + _events(first, 4, 1, "c"))
        notifications = recorder.select_notifications(start=None, limit=100)
        links = self.read_links(recorder, self.made[-1][1])
        previous = GENESIS
        expected = []
        for n in notifications:
            previous = link(previous, n.id, str(n.originator_id), n.originator_version,
                            n.topic, n.state)
            expected.append((n.id, previous))
        assert links == expected

    def test_a_rejected_insert_writes_no_link_and_the_chain_continues(self) -> None:
        recorder = self.create_recorder()
        originator = self.new_originator_id()
        recorder.insert_events(_events(originator, 1, 2, "a"))
        with pytest.raises(IntegrityError):
            # A new event and a clash on version 2: all or nothing.
            recorder.insert_events(_events(self.new_originator_id(), 1, 1, "x")
                                   + _events(originator, 2, 1, "clash"))
        recorder.insert_events(_events(originator, 3, 2, "b"))
        target = self.made[-1][1]
        assert len(self.read_links(recorder, target)) == stored_count(recorder) == 4
        assert_chain_verifies(recorder, target)

    def test_concurrent_writers_extend_one_verifiable_chain(self) -> None:
        recorder = self.create_recorder()
        errors: list[BaseException] = []
        start = threading.Barrier(6)

        def write(worker: int) -> None:
            try:
                start.wait()
                for batch in range(20):
                    recorder.insert_events(
                        _events(self.new_originator_id(), 1, 1 + batch % 4, f"w{worker}"))
            except BaseException as exc:  # reported after join
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert stored_count(recorder) == 6 * sum(1 + b % 4 for b in range(20))
        assert_chain_verifies(recorder, self.made[-1][1])

    def test_verification_catches_an_event_altered_in_the_store(self) -> None:
        recorder = self.create_recorder()
        recorder.insert_events(_events(self.new_originator_id(), 1, 5, "a"))
        target = self.made[-1][1]
        position = recorder.select_notifications(start=None, limit=10)[2].id
        self.alter_state(target, position, b"forged")
        result = verify_chain(recorder, target)
        assert not result.ok
        assert result.position == position


class TestChainedSQLiteRecorderKeepsTheChain(SQLiteStore, ChainContract, TestCase):
    """The chain contract on SQLite."""

    def test_uuid_originator_ids_are_stored_as_the_library_stores_them(self) -> None:
        datastore = SQLiteDatastore(db_name=str(self.folder / "uuid.db"),
                                    originator_id_type="uuid")
        self.addCleanup(datastore.close)
        recorder = ChainedSQLiteApplicationRecorder(datastore)
        recorder.create_table()
        originator = uuid4()
        recorder.insert_events([StoredEvent(originator, 1, "topic", b"state")])
        assert len(recorder.select_events(originator)) == 1

    def read_links(self, recorder: Recorder, target: StoreTarget) -> list[tuple[int, bytes]]:
        conn = sqlite3.connect(f"file:{target.location}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                f"SELECT position, link FROM {CHAIN_TABLE} ORDER BY position").fetchall()
        finally:
            conn.close()
        return [(int(p), bytes(v)) for p, v in rows]

    def alter_state(self, target: StoreTarget, position: int, state: bytes) -> None:
        conn = sqlite3.connect(target.location)
        try:
            with conn:
                conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                             (state, position))
        finally:
            conn.close()


@pytest.mark.postgres
class TestChainedPostgresRecorderKeepsTheChain(PostgresStore, ChainContract, TestCase):
    """The chain contract on PostgreSQL."""

    def _connect(self, target: StoreTarget) -> psycopg.Connection[Any]:
        env = target.env
        return psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                               port=int(env["POSTGRES_PORT"]), user=env["POSTGRES_USER"],
                               password=env["POSTGRES_PASSWORD"] or None, autocommit=True)

    def read_links(self, recorder: Recorder, target: StoreTarget) -> list[tuple[int, bytes]]:
        with self._connect(target) as conn:
            rows = conn.execute(sql.SQL("SELECT position, link FROM {}.{} ORDER BY position")
                                .format(sql.Identifier(target.schema or "public"),
                                        sql.Identifier(CHAIN_TABLE))).fetchall()
        return [(int(p), bytes(v)) for p, v in rows]

    def alter_state(self, target: StoreTarget, position: int, state: bytes) -> None:
        with self._connect(target) as conn:
            conn.execute(sql.SQL("UPDATE {}.{} SET state = %s WHERE notification_id = %s")
                         .format(sql.Identifier(target.schema or "public"),
                                 sql.Identifier("stored_events")), (state, position))

    def test_chain_reader_closes_its_postgres_cursors(self) -> None:
        """No server cursor is left open (its ResourceWarning would fail under -W error)."""
        recorder = self.create_recorder()
        recorder.insert_events(_events(self.new_originator_id(), 1, 3, "a"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert verify(ChainReader(self.made[-1][1], recorder.events_table_name)).ok
        assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
