"""Application recorders that extend the library's with the audit hash chain.

Each insert of events also writes their chain links (table ``event_chain``) in the
same transaction, so a committed event always has its link and a link never exists
without its event. The recorder takes the chain's head after its own inserts, while it
holds the store's write lock (SQLite's single writer; PostgreSQL's table lock taken by
the library before inserting), so concurrent writers extend the chain one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from lifecycle.chain import GENESIS, link

CHAIN_TABLE = "event_chain"
_IN_CHUNK = 500
_FEW_ROWS = 16
"""Up to this many events, a save inserts them row by row (see ``_insert_linked``)."""


@runtime_checkable
class SelectsStreams(Protocol):
    """A recorder that loads many aggregates' events in one query."""

    def select_streams(self, originator_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """Events of each given stream that has any, in version order."""


def _links(previous: bytes, ids: Sequence[int],
           stored_events: Sequence[StoredEvent]) -> list[tuple[int, bytes]]:
    rows = []
    for position, event in zip(ids, stored_events, strict=True):
        previous = link(previous, position, str(event.originator_id),
                        event.originator_version, event.topic, event.state)
        rows.append((position, previous))
    return rows


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
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

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
            "position INTEGER PRIMARY KEY, link BLOB NOT NULL)",
        ]

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.transaction(commit=True) as c:
            ids, head = self._insert_linked(c, stored_events)
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
            c.executemany(self.insert_events_statement, params)
            c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name}")
            last = c.fetchone()[0]
        else:
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
        rows = _links(previous, ids, stored_events)
        c.executemany(f"INSERT INTO {CHAIN_TABLE} (position, link) VALUES (?, ?)", rows)
        return ids, rows[-1]

    def select_streams(self, originator_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        found: dict[str, list[StoredEvent]] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(originator_ids), _IN_CHUNK):
                chunk = originator_ids[start:start + _IN_CHUNK]
                c.execute(
                    "SELECT originator_id, originator_version, topic, state FROM "
                    f"{self.events_table_name} WHERE originator_id IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version",
                    chunk,
                )
                for oid, version, topic, state in c.fetchall():
                    found.setdefault(oid, []).append(StoredEvent(oid, version, topic, state))
        return found


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder):
    """PostgreSQL recorder with the hash chain (links written under the table lock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        self.chain_table = Identifier(CHAIN_TABLE)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
            "position bigint PRIMARY KEY, link bytea NOT NULL)"
        ).format(schema=schema, table=self.chain_table))
        self.select_chain_head = SQL(
            "SELECT link FROM {schema}.{table} WHERE position < %s "
            "ORDER BY position DESC LIMIT 1"
        ).format(schema=schema, table=self.chain_table)
        self.select_streams_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(schema=schema, table=Identifier(self.events_table_name))
        self.insert_chain = SQL(
            "INSERT INTO {schema}.{table} (position, link) VALUES (%s, %s)"
        ).format(schema=schema, table=self.chain_table)

    def select_streams(self, originator_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        found: dict[str, list[StoredEvent]] = {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_streams_statement, (list(originator_ids),))
            for row in curs.fetchall():
                oid = row["originator_id"]
                found.setdefault(oid, []).append(StoredEvent(
                    oid, row["originator_version"], row["topic"], bytes(row["state"])))
        return found

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:
            raise ProgrammingError("the audit chain needs POSTGRES_ENABLE_DB_FUNCTIONS off")
        ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        return ids

    def _fetch_ids_after_insert_events(self, curs: Cursor[DictRow],
                                       stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if not ids:
            return ids
        # Still inside the transaction holding the events table's EXCLUSIVE lock.
        curs.execute(self.select_chain_head, (ids[0],))
        head = curs.fetchone()
        rows = _links(bytes(head["link"]) if head else GENESIS, ids, stored_events)
        curs.executemany(self.insert_chain, rows)
        return ids
