"""The SQLite recorder with the audit hash chain (see :mod:`.base`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from lifecycle.adapters.chain import GENESIS
from lifecycle.adapters.keyring import PEOPLE_TABLE
from lifecycle.adapters.recorders.base import (
    CHAIN_TABLE,
    IN_CHUNK,
    ChainedRecorder,
    links,
)
from lifecycle.adapters.signing import SIGNATURES_TABLE, signer_from_environment

_FEW_ROWS = 16
"""Up to this many events, a save inserts them row by row (see ``_insert_linked``)."""
BULK_PRAGMAS = ("PRAGMA cache_size = -65536", "PRAGMA wal_autocheckpoint = 10000")
"""Set on a connection once it inserts many events at a time (ADR 42). A bulk import's
inserts land all over the index of ``(originator_id, version)``: with SQLite's default
2 MB page cache its pages were read again from the file at almost every insert (the
cache takes memory only as pages are read), and with the default checkpoint every
1,000 pages (4 MB) of write-ahead log, nearly every commit copied its pages into the
database file and flushed it, so an index page changed by ten consecutive commits was
written there ten times. A checkpoint every 10,000 pages (40 MB) writes a quarter less
in all; every commit is still flushed to the log (``synchronous=FULL``, ADR 11)."""
SMALL_PRAGMA = "PRAGMA wal_autocheckpoint = 1000"
"""Put back by the next save of a few events on a connection that did a bulk insert: single
commands on a store whose log was left to grow to 40 MB ran a third slower (P1 2.2×
instead of 3.0× in one idle run; ADR 42)."""


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder, ChainedRecorder):
    """SQLite recorder with the hash chain.

    It remembers the position and link of the last event it committed: when its next
    insert directly follows that position (no other writer came in between), that
    link is the chain's head and need not be read. The pair is taken only after the
    commit, and a committed row never changes its position or link, so a remembered
    head is never wrong, only possibly not the latest (then it is read, as before).
    """

    def __init__(self, datastore: SQLiteDatastore,
                 events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self._committed_head: tuple[int, bytes] | None = None
        self._bulk_connections: set[int] = set()
        """The connections (by id) whose last insert was a bulk one (see SMALL_PRAGMA)."""
        self.signer = signer_from_environment()

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
            "position INTEGER PRIMARY KEY, link BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {SIGNATURES_TABLE} ("
            "position INTEGER PRIMARY KEY, head BLOB NOT NULL, signature BLOB NOT NULL)",
        ]

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        """Insert events with their links (and, in a sealed store, ``people``: which of
        their streams name whom, ADR 35) in one transaction."""
        people = kwargs.get("people")
        with self.datastore.transaction(commit=True) as c:
            ids, head = self._insert_linked(c, stored_events)
            if people:
                c.executemany(f"INSERT OR IGNORE INTO {PEOPLE_TABLE} VALUES (?, ?)", people)
        if head is not None:
            self._committed_head = head
        return ids

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **_: Any) -> Sequence[int] | None:
        # The library's hook, still linking for any caller of it (insert_events above
        # does without it, to learn the head it commits).
        return self._insert_linked(c, stored_events)[0]

    def _insert_linked(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]
                       ) -> tuple[list[int], tuple[int, bytes] | None]:
        """Insert events and their links; returns their positions and the new head."""
        if not stored_events:
            return [], None
        params = [(s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                   s.originator_version, s.topic, s.state) for s in stored_events]
        # Inside the write transaction, SQLite gives new rows max(rowid) + 1 in turn.
        # A few rows are inserted one by one, the last one's rowid at hand; for more,
        # one executemany and a query of the last rowid cost less.
        if len(params) > _FEW_ROWS:
            # On each bulk insert: the pool's connections are the library's to create.
            for pragma in BULK_PRAGMAS:
                c.execute(pragma)
            self._bulk_connections.add(id(c.sqlite_cursor.connection))
            c.executemany(self.insert_events_statement, params)
            c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name}")
            last = c.fetchone()[0]
        else:
            connection = id(c.sqlite_cursor.connection)
            if connection in self._bulk_connections:
                c.execute(SMALL_PRAGMA)
                self._bulk_connections.discard(connection)
            for row in params:
                c.execute(self.insert_events_statement, row)
            last = c.lastrowid
        ids = list(range(last - len(params) + 1, last + 1))
        head = self._committed_head
        if head is not None and head[0] == ids[0] - 1:
            previous = head[1]
        else:
            c.execute(f"SELECT link FROM {CHAIN_TABLE} WHERE position < ? "
                      "ORDER BY position DESC LIMIT 1", (ids[0],))
            found = c.fetchone()
            previous = found[0] if found else GENESIS
        rows = links(previous, ids, stored_events)
        c.executemany(f"INSERT INTO {CHAIN_TABLE} (position, link) VALUES (?, ?)", rows)
        signed = self.signature_row(rows[-1])
        if signed is not None:
            c.execute(f"INSERT INTO {SIGNATURES_TABLE} (position, head, signature) "
                      "VALUES (?, ?, ?)", signed)
        return ids, rows[-1]

    def select_streams(self, originator_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        found: dict[str, list[StoredEvent]] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(originator_ids), IN_CHUNK):
                chunk = originator_ids[start:start + IN_CHUNK]
                c.execute(
                    "SELECT originator_id, originator_version, topic, state FROM "
                    f"{self.events_table_name} WHERE originator_id IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version",
                    chunk,
                )
                for oid, version, topic, state in c.fetchall():
                    found.setdefault(oid, []).append(StoredEvent(oid, version, topic, state))
        return found
