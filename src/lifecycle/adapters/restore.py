"""Restore: load a verified export into an empty store, positions and bytes unchanged.

Only the log is written here — each event with its position, stream, version, topic and
payload exactly as exported, its chain link, and the signed heads (ADR 26) — in one
transaction that first checks the store is still empty, so a restore is whole or
nothing. The positions are the
chain's own (every link hashes its position), which is why the rows are inserted with
them instead of through the recorders. The views are then rebuilt from the restored
log by the caller (the command line), as after any change of projection code.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from lifecycle.adapters.export import ExportReader, Row
from lifecycle.adapters.recorders import CHAIN_TABLE
from lifecycle.adapters.signing import SIGNATURES_TABLE
from lifecycle.adapters.store import StoreError, StoreTarget, connect

COPY_ROWS = 20_000
"""Rows per pair of COPY statements on PostgreSQL (each COPY has a fixed cost)."""
SQLITE_EVENTS = "stored_events"
POSTGRES_EVENTS = "lifecycle_events"


class StoreNotEmpty(Exception):
    """The target store already holds a history (a restore never merges)."""


def events_table(target: StoreTarget) -> str:
    """The name of the engine's events table on this kind of store."""
    return POSTGRES_EVENTS if target.is_postgres else SQLITE_EVENTS


def has_history(target: StoreTarget) -> bool:
    """Whether the store holds any event or chain link (without creating anything)."""
    if target.is_postgres:
        try:
            conn = connect(target)
        except Exception as exc:  # psycopg's errors, without importing psycopg here
            raise StoreError(f"cannot open store '{target.location}': {exc}") from None
        with conn:
            return any(_pg_rows(conn, target, table) for table in _TABLES[True])
    path = Path(target.location)
    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = connect(target, read_only=True)
    try:
        return _sqlite_has_rows(conn)
    finally:
        conn.close()


_TABLES = {False: (SQLITE_EVENTS, CHAIN_TABLE, SIGNATURES_TABLE),
           True: (POSTGRES_EVENTS, CHAIN_TABLE, SIGNATURES_TABLE)}
"""The tables of a history, by ``target.is_postgres``."""


def load(target: StoreTarget, source: ExportReader) -> int:
    """Insert every event, link and signed head of ``source`` (an export already
    verified) into the store's empty tables, in one transaction; returns the number of
    events.

    Raises:
        StoreNotEmpty: the store holds a history (checked inside the transaction).
    """
    if target.is_postgres:
        return _load_postgres(target, source)
    conn = connect(target)
    conn.isolation_level = None  # transactions by hand: BEGIN IMMEDIATE below
    try:
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: no writer slips in between
        try:
            if _sqlite_has_rows(conn):
                raise StoreNotEmpty(f"store '{target.location}' is not empty")
            count = 0
            for records in source.batches():
                rows, signed = _split(records)
                conn.executemany(
                    f"INSERT INTO {SQLITE_EVENTS} (rowid, originator_id, originator_version, "
                    "topic, state) VALUES (?, ?, ?, ?, ?)",
                    [(r[0], _text(r[1]), r[2], _text(r[3]), r[4]) for r in rows])
                conn.executemany(f"INSERT INTO {CHAIN_TABLE} (position, link) VALUES (?, ?)",
                                 [(r[0], r[5]) for r in rows])
                conn.executemany(f"INSERT INTO {SIGNATURES_TABLE} (position, head, signature) "
                                 "VALUES (?, ?, ?)", signed)
                count += len(rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return count


def _split(records: list[Row]) -> tuple[list[Row], list[Row]]:
    """The events and the signed heads of a batch of a verified export's records (which
    holds no link without its event)."""
    return ([r for r in records if len(r) == 6], [r for r in records if len(r) == 3])


def _text(value: bytes) -> str | bytes:
    # The engine stores ids and topics as text; bytes that are not UTF-8 (which only a
    # forged, yet verifying, export can hold) stay bytes, so they hash as exported.
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value


def _sqlite_has_rows(conn: sqlite3.Connection) -> bool:
    tables = {name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    return any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
               for table in _TABLES[False] if table in tables)


def _qualified(target: StoreTarget, table: str) -> Any:
    from psycopg.sql import Identifier

    return Identifier(target.schema or "public", table)


def _pg_rows(conn: Any, target: StoreTarget, table: str) -> bool:
    from psycopg.sql import SQL

    name = f'"{target.schema or "public"}"."{table}"'
    if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is None:
        return False
    return bool(conn.execute(SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
        _qualified(target, table))).fetchone()[0])


def _load_postgres(target: StoreTarget, source: ExportReader) -> int:
    from psycopg.sql import SQL

    events, chain = _qualified(target, POSTGRES_EVENTS), _qualified(target, CHAIN_TABLE)
    signatures = _qualified(target, SIGNATURES_TABLE)
    count = 0
    with connect(target) as conn, conn.transaction():
        # The lock the engine's writers take: none of them can insert before the commit.
        conn.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events))
        if any(_pg_rows(conn, target, table) for table in _TABLES[True]):
            raise StoreNotEmpty(f"store '{target.location}' is not empty")
        with conn.cursor() as cursor:
            pending: list[Row] = []
            for records in source.batches():
                pending += records
                if len(pending) >= COPY_ROWS:
                    count += _copy(cursor, (events, chain, signatures), *_split(pending))
                    pending = []
            count += _copy(cursor, (events, chain, signatures), *_split(pending))
            # New events must follow the restored ones: the id sequence resumes after them.
            cursor.execute(SQL(
                "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), "
                "GREATEST((SELECT max(notification_id) FROM {}), 1), "
                "(SELECT max(notification_id) FROM {}) IS NOT NULL)").format(events, events),
                (f'"{target.schema or "public"}"."{POSTGRES_EVENTS}"',))
    return count


def _copy(cursor: Any, tables: tuple[Any, Any, Any], rows: list[Row],
          signed: list[Row]) -> int:
    """COPY events, their links and the signed heads into the three tables."""
    from psycopg.sql import SQL

    events, chain, signatures = tables
    with cursor.copy(SQL("COPY {} (notification_id, originator_id, originator_version, "
                         "topic, state) FROM STDIN").format(events)) as copy:
        for r in rows:
            copy.write_row((r[0], r[1].decode(), r[2], r[3].decode(), r[4]))
    with cursor.copy(SQL("COPY {} (position, link) FROM STDIN").format(chain)) as copy:
        for r in rows:
            copy.write_row((r[0], r[5]))
    if signed:
        with cursor.copy(SQL("COPY {} (position, head, signature) FROM STDIN").format(
                signatures)) as copy:
            for r in signed:
                copy.write_row(r)
    return len(rows)
