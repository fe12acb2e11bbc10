"""Audit: the digest an auditor keeps, and verification of the stored history.

Verification walks the events and their chain links in log order side by side,
recomputes every link from the bytes as stored, and reports the first position where
anything was altered, removed, reordered or inserted. Given a saved digest, it also
checks that the history still begins with the one the digest describes (so a truncated
or rewritten tail is caught even when the chain was recomputed after tampering).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lifecycle.chain import GENESIS, HEADER, link_bytes
from lifecycle.recorders import CHAIN_TABLE
from lifecycle.store import StoreTarget

FETCH = 20_000
ALGORITHM = "sha256-chain-v1"

EventRow = tuple[int, bytes, Any, bytes, bytes]
"""(position, originator_id bytes, version as stored, topic bytes, state bytes)."""
LinkRow = tuple[int, bytes]


@dataclass(frozen=True)
class Digest:
    """What an auditor keeps: the count of events, the last position and the head link."""

    events: int
    position: int
    head: str
    created_at: str
    store: str

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "position": self.position, "head": self.head,
                "algorithm": ALGORITHM, "created_at": self.created_at,
                "store": self.store}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Digest:
        try:
            events, position, head = data["events"], data["position"], data["head"]
        except (KeyError, TypeError, IndexError):
            raise ValueError("not a digest: needs events, position and head") from None
        if not (isinstance(events, int) and isinstance(position, int)
                and isinstance(head, str)) or isinstance(events, bool) or isinstance(
                    position, bool):
            raise ValueError("not a digest: events and position are ints, head a string")
        if events < 0 or position < 0:
            raise ValueError("not a digest: events and position cannot be negative")
        if len(head) != 64 or any(c not in "0123456789abcdef" for c in head):
            raise ValueError("not a digest: head must be 64 lower-case hex digits (SHA-256)")
        algorithm = data.get("algorithm", ALGORITHM)
        if algorithm != ALGORITHM:
            raise ValueError(f"not a digest of this engine: algorithm {algorithm!r}, "
                             f"expected {ALGORITHM!r}")
        return cls(events, position, head, str(data.get("created_at", "")),
                   str(data.get("store", "")))


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`."""

    ok: bool
    events: int
    head: str
    problem: str | None = None
    position: int | None = None
    last_position: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "head": self.head,
                "last_position": self.last_position, "problem": self.problem,
                "position": self.position}


class ChainReader:
    """Streams a store's events and chain links in position order."""

    def __init__(self, target: StoreTarget, events_table: str) -> None:
        self.target = target
        self.events_table = events_table

    def _sqlite(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.target.location}?mode=ro", uri=True)

    def _pg(self) -> Any:
        import psycopg

        env = self.target.env
        return psycopg.connect(
            dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
            port=int(env["POSTGRES_PORT"]), user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None)

    def _qualified(self, table: str) -> str:
        if self.target.is_postgres:
            schema = self.target.schema or "public"
            return f'"{schema}"."{table}"'
        return table

    def _columns(self, alias: str = "") -> str:
        # On SQLite, read the id and topic as raw bytes: a hand-edited cell need not be
        # valid UTF-8 (nor text at all), and must show up as a mismatch, not a crash.
        if self.target.is_postgres:
            return (f"{alias}notification_id, {alias}originator_id, "
                    f"{alias}originator_version, {alias}topic, {alias}state")
        return (f"{alias}rowid, CAST({alias}originator_id AS BLOB), "
                f"{alias}originator_version, CAST({alias}topic AS BLOB), {alias}state")

    def _event_sql(self) -> str:
        position = "notification_id" if self.target.is_postgres else "rowid"
        return (f"SELECT {self._columns()} "
                f"FROM {self._qualified(self.events_table)} ORDER BY {position}")

    def _link_sql(self) -> str:
        return f"SELECT position, link FROM {self._qualified(CHAIN_TABLE)} ORDER BY position"

    def _joined_sql(self) -> str:
        position = "e.notification_id" if self.target.is_postgres else "e.rowid"
        columns = self._columns("e.")
        return (f"SELECT {columns}, c.link FROM {self._qualified(self.events_table)} e LEFT JOIN "
                f"{self._qualified(CHAIN_TABLE)} c ON c.position = {position} "
                f"ORDER BY {position}")

    def joined(self) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
        """Batches of (position, oid, version, topic, state, link or None) in log order,
        then (as the last item) an empty batch with the count of chain links."""
        if self.target.is_postgres:
            with self._pg() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                with conn.cursor(name="audit_joined") as cursor:
                    cursor.itersize = FETCH
                    cursor.execute(self._joined_sql())
                    while rows := cursor.fetchmany(FETCH):
                        yield rows, 0
                count = conn.execute(
                    f"SELECT count(*) FROM {self._qualified(CHAIN_TABLE)}").fetchone()[0]
                yield [], int(count)
            return
        conn = self._sqlite()
        try:
            conn.execute("BEGIN")
            cursor = conn.execute(self._joined_sql())
            while rows := cursor.fetchmany(FETCH):
                yield rows, 0
            count = conn.execute(f"SELECT count(*) FROM {CHAIN_TABLE}").fetchone()[0]
            yield [], int(count)
        finally:
            conn.close()

    def walk(self) -> Iterator[tuple[EventRow | None, LinkRow | None]]:
        """Pairs of (event, link) merged on position; None where one side is missing."""
        if self.target.is_postgres:
            with self._pg() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                with conn.cursor(name="audit_events") as events, \
                        conn.cursor(name="audit_links") as links:
                    events.itersize = links.itersize = FETCH
                    events.execute(self._event_sql())
                    links.execute(self._link_sql())
                    yield from _merge(map(_event_row, events), map(_link_row, links))
            return
        conn = self._sqlite()
        try:
            conn.execute("BEGIN")  # one snapshot for both cursors
            events_cur = conn.execute(self._event_sql())
            links_cur = conn.execute(self._link_sql())
            yield from _merge(map(_event_row, _batched(events_cur)),
                              map(_link_row, _batched(links_cur)))
        finally:
            conn.close()


def _as_bytes(value: Any) -> bytes:
    # A hand-edited SQLite cell may come back as text, a number or NULL: hash its bytes.
    if isinstance(value, bytes):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if value is None:
        return b""
    return str(value).encode()


def _event_row(row: Any) -> EventRow:
    position, originator_id, version, topic, state = row
    return (int(position), _as_bytes(originator_id), version, _as_bytes(topic),
            _as_bytes(state))


def _expected_link(previous: bytes, event: EventRow) -> bytes | None:
    """The link the event should have, or None when its version is not even an int."""
    position, oid, version, topic, state = event
    if type(version) is not int:
        return None
    return link_bytes(previous, position, _as_bytes(oid), version, _as_bytes(topic),
                      _as_bytes(state))


def _link_row(row: Any) -> LinkRow:
    return (int(row[0]), _as_bytes(row[1]))


def _batched(cursor: sqlite3.Cursor) -> Iterator[Any]:
    while rows := cursor.fetchmany(FETCH):
        yield from rows


def _merge(events: Iterator[EventRow],
           links: Iterator[LinkRow]) -> Iterator[tuple[EventRow | None, LinkRow | None]]:
    event = next(events, None)
    chained = next(links, None)
    while event is not None or chained is not None:
        if chained is None or (event is not None and event[0] < chained[0]):
            yield event, None
            event = next(events, None)
        elif event is None or chained[0] < event[0]:
            yield None, chained
            chained = next(links, None)
        else:
            yield event, chained
            event = next(events, None)
            chained = next(links, None)


def verify(reader: ChainReader, digest: Digest | None = None,
           progress: Callable[[int], None] | None = None) -> Verification:
    """Recompute the chain and compare; stop at the first problem.

    A fast pass joins each event with its link; only when it finds a problem does a
    second, exact pass merge events and links to say precisely what happened where.

    Args:
        reader: the store's events and links.
        digest: a saved digest the history must still begin with.
        progress: called with the number of events checked so far, now and then.
    """
    previous = GENESIS
    count = 0
    last = 0
    sha256 = hashlib.sha256
    pack = HEADER.pack
    join = b"".join
    links = 0
    for rows, chain_count in reader.joined():
        links = chain_count
        for position, oid, version, topic, state, stored_link in rows:
            if type(state) is not bytes:
                state = _as_bytes(state)
            oid_bytes = oid if type(oid) is bytes else _as_bytes(oid)
            topic_bytes = topic if type(topic) is bytes else _as_bytes(topic)
            if type(version) is not int:
                return _exact(reader, digest)
            # The same bytes as lifecycle.chain.link, inlined: this loop is the hot path.
            expected = sha256(join((previous, pack(position, version, len(oid_bytes),
                                                   len(topic_bytes)),
                                    oid_bytes, topic_bytes, state))).digest()
            if stored_link is None or expected != _as_bytes(stored_link):
                return _exact(reader, digest)
            previous = expected
            count += 1
            last = position
            if digest is not None and count == digest.events and (
                    position != digest.position or previous.hex() != digest.head):
                return _exact(reader, digest)
        if progress is not None and rows:
            progress(count)
    if links != count:
        return _exact(reader, digest)
    if digest is not None and count < digest.events:
        return _broken(count, previous, None,
                       f"history was truncated: the digest describes {digest.events} "
                       f"events, the store has {count}")
    return Verification(True, count, previous.hex(), last_position=last)


def _exact(reader: ChainReader, digest: Digest | None) -> Verification:
    """The exact pass: merge events and links by position and name the first problem."""
    previous = GENESIS
    count = 0
    for event, chained in reader.walk():
        if event is None:
            assert chained is not None
            return _broken(count, previous, chained[0],
                           f"event at position {chained[0]} was removed (its chain link "
                           "remains)")
        position = event[0]
        if chained is None:
            return _broken(count, previous, position,
                           f"event at position {position} has no chain link (inserted "
                           "outside the engine)")
        expected = _expected_link(previous, event)
        if expected is None or expected != chained[1]:
            oid = event[1]
            shown = oid.decode(errors="replace") if isinstance(oid, bytes) else str(oid)
            return _broken(count, previous, position,
                           f"event at position {position} ({shown} v{event[2]}) does "
                           "not match the chain (altered, reordered or forged)")
        previous = expected
        count += 1
        if digest is not None and count == digest.events and (
                position != digest.position or previous.hex() != digest.head):
            return _broken(count, previous, position,
                           f"history differs from the digest: the event at position "
                           f"{position} (number {count}) is not the one the digest "
                           "describes (the history was rewritten)")
    raise AssertionError("the fast pass found a problem the exact pass did not")


def _broken(count: int, previous: bytes, position: int | None, problem: str) -> Verification:
    return Verification(False, count, previous.hex(), problem, position)


def make_digest(reader: ChainReader) -> Digest:
    """The digest of the history as it stands (after verifying it)."""
    result = verify(reader)
    if not result.ok:
        raise ValueError(f"cannot make a digest of a broken history: {result.problem}")
    return Digest(result.events, result.last_position, result.head,
                  datetime.now(UTC).isoformat(timespec="seconds"), reader.target.location)
