"""Audit: the digest an auditor keeps, and verification of the stored history.

Verification walks the events and their chain links in log order side by side,
recomputes every link from the bytes as stored, and reports the first position where
anything was altered, removed, reordered or inserted. Given a saved digest, it also
checks that the history still begins with the one the digest describes (so a truncated
or rewritten tail is caught even when the chain was recomputed after tampering).

It runs in two passes. The fast pass reads each event joined with its link, in small
batches, and only says whether everything holds; at the first doubt (a mismatch, a
count that differs, a digest that does not match) the exact pass merges events and
links by position in one snapshot and names the first problem precisely. The fast pass
never names a broken chain itself (only a history shorter than the digest's).

Checking that every stored link equals the hash of the stored link before it and its
event (the first one from the genesis link) is the same as recomputing the whole chain.
So on SQLite the fast pass of a large log is split into ranges of positions, the first
checked in this process and each other by a worker interpreter of its own (``python -I
-c``, which imports only this module), each range starting from the stored link before
it. The ranges' results are then tied together: each must start from the link the range
before it ended with and hold as many links as events, and the digest's position is a
range boundary, so its check is exact too. A small log, PostgreSQL, or a worker that
cannot answer leaves the whole fast pass to this process.

The verifier reads a :class:`ChainSource`: the store's tables (:class:`ChainReader`) or
an export file (``lifecycle.adapters.export.ExportReader``) give it the same rows, so
both get the same verdicts and messages. A source that cannot go on (an export line
that is not a record, a missing trailer) raises :class:`Damaged`, which the exact pass
reports as the first problem at the point it was reached.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from operator import itemgetter
from typing import Any, Protocol, runtime_checkable

from lifecycle.adapters import interpreters
from lifecycle.adapters.chain import GENESIS, HEADER, link_bytes
from lifecycle.adapters.interpreters import available_processes, can_start_workers
from lifecycle.adapters.store import StoreTarget, connect

FETCH = 20_000
BATCH = 512
"""Rows per fast-pass batch on SQLite: small batches stay in the CPU's caches."""
RECORD_BATCH = 256
"""Records per batch of an export on SQLite (:meth:`RecordSnapshot.batches`): 1-4 % less
CPU an event than 512 (ADR 41)."""
SPLIT_MIN = 100_000
"""Positions each process must have to check before the fast pass is split."""
ALGORITHM = "sha256-chain-v1"

EventRow = tuple[int, bytes, Any, bytes, bytes]
"""(position, originator_id bytes, version as stored, topic bytes, state bytes)."""
LinkRow = tuple[int, bytes]
Record = tuple[Any, ...]
"""An event: (position, originator_id, version, topic, state, link or None), its cells
as stored; a chain link without its event: (position, link); or the signature of the
chain's head at a position (ADR 26): (position, head, signature), after the record at
that position."""


class Damaged(Exception):
    """A source of rows that cannot be read on (e.g. an export line that is not a record).

    Args:
        problem: what is wrong and where, as the verdict's ``problem`` says it.
        position: the log position concerned, when known.
    """

    def __init__(self, problem: str, position: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.position = position


class ChainSource(Protocol):
    """What :func:`verify` reads: a history's events and chain links in log order."""

    @property
    def location(self) -> str:
        """Where the history is (a store's path or URL, an export's path)."""

    def joined(self) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
        """Batches of (position, oid bytes, version, topic bytes, state bytes, link or
        None) in log order, then (as the last item) an empty batch with the count of
        chain links."""

    def walk(self) -> Iterator[tuple[EventRow | None, LinkRow | None]]:
        """Pairs of (event, link) merged on position; None where one side is missing."""


@runtime_checkable
class SplitSource(Protocol):
    """A source whose fast pass can be split across processes."""

    def split_spans(self, mark: int | None, progress: Callable[[int], None] | None,
                    processes: int | None) -> list[Span] | None:
        """The fast pass as consecutive spans covering the whole history (``mark``: the
        digest's position, where a span notes its count and head), or None when the
        history is not split (then the fast pass runs in this process)."""


@dataclass(frozen=True)
class SignedHead:
    """A row of the signed chain heads (ADR 26): the head link at ``position``, its
    signature, and the chain's own link at that position (None when unknown or none)."""

    position: int
    head: bytes
    signature: bytes
    link: bytes | None


@dataclass(frozen=True)
class Digest:
    """What an auditor keeps: the count of events, the last position and the head link."""

    events: int
    position: int
    head: str
    created_at: str
    store: str
    signature: dict[str, Any] | None = None
    """The latest signed head (ADR 26) at or before ``position``: ``{"position", "head",
    "signature"}`` (hex, hex, base64); None when the history has none."""

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "position": self.position, "head": self.head,
                "algorithm": ALGORITHM, "created_at": self.created_at,
                "store": self.store, "signature": self.signature}

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
        signature = data.get("signature")
        return cls(events, position, head, str(data.get("created_at", "")),
                   str(data.get("store", "")),
                   signature if isinstance(signature, dict) else None)


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`."""

    ok: bool
    events: int
    head: str
    problem: str | None = None
    position: int | None = None
    last_position: int = 0
    signed: dict[str, Any] | None = None
    """With a public key (ADR 26): ``{"position", "signatures", "key"}``, the last
    signed position, the number of signatures checked and the key's fingerprint."""

    def as_json(self) -> dict[str, Any]:
        found = {"ok": self.ok, "events": self.events, "head": self.head,
                 "last_position": self.last_position, "problem": self.problem,
                 "position": self.position}
        return found if self.signed is None else {**found, "signed": self.signed}


class ChainReader:
    """Streams a store's events and chain links in position order.

    ``chain_table`` defaults to the recorders' table of links.
    """

    def __init__(self, target: StoreTarget, events_table: str,
                 chain_table: str | None = None) -> None:
        self.target = target
        self.events_table = events_table
        self.chain_table = chain_table if chain_table is not None else _chain_table()

    @property
    def location(self) -> str:
        return self.target.location

    def _sqlite(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = connect(self.target, read_only=True)
        return conn

    def _pg(self) -> Any:
        return connect(self.target)

    def _qualified(self, table: str) -> str:
        if self.target.is_postgres:
            schema = self.target.schema or "public"
            return f'"{schema}"."{table}"'
        return table

    def _columns(self, alias: str = "") -> str:
        # Read the id and topic as the UTF-8 bytes the chain hashes. On SQLite, read them
        # and the state (and links) as raw bytes: a hand-edited cell need not be valid
        # UTF-8 (nor text at all), and must show up as a mismatch, not a crash.
        if self.target.is_postgres:
            return (f"{alias}notification_id, "
                    f"convert_to({alias}originator_id::text, 'UTF8'), "
                    f"{alias}originator_version, convert_to({alias}topic, 'UTF8'), "
                    f"{alias}state")
        return (f"{alias}rowid, CAST({alias}originator_id AS BLOB), "
                f"{alias}originator_version, CAST({alias}topic AS BLOB), "
                f"CAST({alias}state AS BLOB)")

    def _event_sql(self) -> str:
        position = "notification_id" if self.target.is_postgres else "rowid"
        return (f"SELECT {self._columns()} "
                f"FROM {self._qualified(self.events_table)} ORDER BY {position}")

    def _link(self) -> str:
        return "link" if self.target.is_postgres else "CAST(link AS BLOB)"

    def _link_sql(self) -> str:
        return (f"SELECT position, {self._link()} FROM {self._qualified(self.chain_table)} "
                "ORDER BY position")

    def _joined_sql(self, lo: int | None = None, hi: int | None = None) -> str:
        """Events joined with their links; on SQLite, only positions in (lo, hi] when
        given (as parameters, see :func:`_between`)."""
        position = "e.notification_id" if self.target.is_postgres else "e.rowid"
        columns = self._columns("e.")
        link = "c.link" if self.target.is_postgres else "CAST(c.link AS BLOB)"
        return (f"SELECT {columns}, {link} FROM {self._qualified(self.events_table)} e "
                f"LEFT JOIN {self._qualified(self.chain_table)} c ON c.position = {position}"
                f"{_between(position, lo, hi)[0]} ORDER BY {position}")

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
                    f"SELECT count(*) FROM {self._qualified(self.chain_table)}").fetchone()[0]
                yield [], int(count)
            return
        conn = self._sqlite()
        try:
            conn.execute("BEGIN")
            cursor = conn.execute(self._joined_sql())
            while rows := cursor.fetchmany(BATCH):
                yield rows, 0
            count = conn.execute(f"SELECT count(*) FROM {self.chain_table}").fetchone()[0]
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

    def record_batches(self) -> Iterator[list[Record]]:
        """Every event with its link, and every link without its event, in log order,
        in batches, in one snapshot: the cells as stored (id, topic and state as bytes;
        the version as its cell holds it). Stops reading when the caller stops.

        Links without their event exist only in a store edited by hand; they are
        looked for only in a batch's range of positions whose count of links is not
        its count of linked events (one small count per batch, not a scan of the whole
        chain per export)."""
        if not self.target.is_postgres:
            with self.record_snapshot() as snapshot:  # one snapshot for every query
                yield from snapshot.batches()
            return
        within = "position > %s AND position <= %s"
        count_sql, orphans_sql = self._range_sql(within, "notification_id")
        with self._pg() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            with conn.cursor(name="export_events") as cursor:
                cursor.execute(self._joined_sql())
                yield from _record_batches(
                    lambda: [_postgres_row(r) for r in cursor.fetchmany(FETCH)],
                    lambda sql, bounds: [tuple(bytes(v) if isinstance(v, memoryview)
                                               else v for v in row)
                                         for row in conn.execute(sql, bounds).fetchall()],
                    count_sql, orphans_sql, self._signatures_sql(conn, f"s.{within}"))

    def _range_sql(self, within: str, position: str) -> tuple[str, str]:
        """The count of links in a range of positions, and the links there whose event
        is missing."""
        events, chain = self._qualified(self.events_table), self._qualified(self.chain_table)
        return (f"SELECT count(*) FROM {chain} WHERE {within}",
                f"SELECT position, {self._link()} FROM {chain} c WHERE {within} AND "
                f"NOT EXISTS (SELECT 1 FROM {events} e WHERE e.{position} = c.position) "
                "ORDER BY position")

    @contextmanager
    def record_snapshot(self) -> Iterator[RecordSnapshot]:
        """On SQLite, one snapshot of the store, read in ranges of positions (an export
        split across processes, ADR 41)."""
        conn = self._sqlite()
        try:
            conn.execute("BEGIN")
            yield RecordSnapshot(self, conn)
        finally:
            conn.close()

    def _signatures_sql(self, conn: Any, where: str = "", *,
                        with_link: bool = False) -> str | None:
        """The query of the signed heads (those ``where`` says; with the chain's link
        at each one's position when ``with_link``), in position order; None when the
        store has no table of them (one made before signing existed, not yet opened by
        the engine since)."""
        table = _signatures_table()
        if self.target.is_postgres:
            found = conn.execute("SELECT to_regclass(%s)",
                                 (self._qualified(table),)).fetchone()[0]
        else:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = ?", (table,)).fetchone()
        if found is None:
            return None
        postgres = self.target.is_postgres
        cells = ("s.position, s.head, s.signature" if postgres else
                 "s.position, CAST(s.head AS BLOB), CAST(s.signature AS BLOB)")
        joined = ""
        if with_link:
            cells += ", c.link" if postgres else ", CAST(c.link AS BLOB)"
            joined = (f" LEFT JOIN {self._qualified(self.chain_table)} c "
                      "ON c.position = s.position")
        return (f"SELECT {cells} FROM {self._qualified(table)} s{joined}"
                f"{' WHERE ' + where if where else ''} ORDER BY s.position")

    def signed_heads(self) -> Iterator[SignedHead]:
        """Every signed head in position order, with the chain's link stored at its
        position (None when there is none), in one snapshot."""
        with self._snapshot() as conn:
            query = self._signatures_sql(conn, with_link=True)
            if query is None:
                return
            cursor = conn.execute(query)
            while rows := cursor.fetchmany(FETCH):
                for position, head, signature, chained in rows:
                    yield SignedHead(int(position), _as_bytes(head), _as_bytes(signature),
                                     None if chained is None else _as_bytes(chained))

    def events_after(self, position: int) -> tuple[int, int | None]:
        """The number of events after ``position``, and the first one's position."""
        column = "notification_id" if self.target.is_postgres else "rowid"
        mark = "%s" if self.target.is_postgres else "?"
        with self._snapshot() as conn:
            count, first = conn.execute(
                f"SELECT count(*), min({column}) FROM {self._qualified(self.events_table)} "
                f"WHERE {column} > {mark}", (position,)).fetchone()
        return int(count), first

    def latest_signature(self, at_most: int | None = None) -> SignedHead | None:
        """The signed head at the highest position (at most ``at_most``), as stored;
        None when there is none."""
        mark = "%s" if self.target.is_postgres else "?"
        with self._snapshot() as conn:
            where = "" if at_most is None else f"s.position <= {mark}"
            query = self._signatures_sql(conn, where)
            if query is None:
                return None
            found = conn.execute(f"{query} DESC LIMIT 1",
                                 () if at_most is None else (at_most,)).fetchone()
        if found is None:
            return None
        return SignedHead(int(found[0]), _as_bytes(found[1]), _as_bytes(found[2]), None)

    @contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """A connection reading one snapshot of the store."""
        if self.target.is_postgres:
            with self._pg() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                yield conn
            return
        conn = self._sqlite()
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    def split_spans(self, mark: int | None, progress: Callable[[int], None] | None,
                    processes: int | None) -> list[Span] | None:
        """On SQLite, a large log in ranges of positions, one per process (ADR 14)."""
        if self.target.is_postgres:
            return None
        return _split_spans(self, mark, progress, processes)

    def check_span(self, conn: sqlite3.Connection, lo: int | None, hi: int | None,
                   mark: int | None = None,
                   progress: Callable[[int], None] | None = None) -> Span:
        """The fast pass over the positions in (lo, hi] of an SQLite store, in the
        transaction ``conn`` has begun; None is no bound. ``mark``, a position in the
        range, is where the span also notes its count, last position and head."""
        start = GENESIS
        if lo is not None:
            found = conn.execute(f"SELECT {self._link()} FROM {self.chain_table} "
                                 "WHERE position <= ? ORDER BY position DESC LIMIT 1",
                                 (lo,)).fetchone()
            if found is not None:
                start = found[0]
                if type(start) is not bytes:
                    return Span(False)
        previous, count, last, at_mark = start, 0, None, None
        for low, high in ((lo, mark), (mark, hi)) if mark is not None else ((lo, hi),):
            cursor = conn.execute(self._joined_sql(low, high),
                                  tuple(p for p in (low, high) if p is not None))
            while rows := cursor.fetchmany(BATCH):
                head = _chain(previous, rows)
                if head is None:
                    return Span(False)
                previous = head
                count += len(rows)
                last = rows[-1][0]
                if progress is not None:
                    progress(count)
            if mark is not None and high == mark:
                at_mark = (count, last, previous)
        where, params = _between("position", lo, hi)
        links = conn.execute(f"SELECT count(*) FROM {self.chain_table}{where}",
                             params).fetchone()[0]
        return Span(True, start, count, int(links), last, previous, at_mark)


class RecordSnapshot:
    """A snapshot of an SQLite store (a transaction begun on ``conn``), whose records
    :meth:`ChainReader.record_batches` yields can be read a range of positions at a
    time."""

    def __init__(self, reader: ChainReader, conn: sqlite3.Connection) -> None:
        self.reader, self.conn = reader, conn

    def bounds(self) -> tuple[int, int] | None:
        """The lowest and highest positions of any record (an event, a link, a signed
        head) in the snapshot; None when it holds none."""
        reader, conn = self.reader, self.conn
        found = [conn.execute(f"SELECT min(rowid), max(rowid) FROM {reader.events_table}"
                              ).fetchone(),
                 conn.execute(f"SELECT min(position), max(position) FROM {reader.chain_table}"
                              ).fetchone()]
        if reader._signatures_sql(conn) is not None:
            found.append(conn.execute("SELECT min(position), max(position) FROM "
                                      f"{_signatures_table()}").fetchone())
        lows = [low for low, _ in found if low is not None]
        highs = [high for _, high in found if high is not None]
        return (min(lows), max(highs)) if lows and highs else None

    def batches(self, lo: int | None = None, hi: int | None = None) -> Iterator[list[Record]]:
        """The records of :meth:`ChainReader.record_batches` at positions in (lo, hi]
        (None: no bound), in batches."""
        reader, conn = self.reader, self.conn
        within = "position > ? AND position <= ?"
        count_sql, orphans_sql = reader._range_sql(within, "rowid")
        cursor = conn.execute(reader._joined_sql(lo, hi),
                              tuple(p for p in (lo, hi) if p is not None))
        yield from _record_batches(lambda: cursor.fetchmany(RECORD_BATCH),
                                   lambda sql, bounds: conn.execute(sql, bounds).fetchall(),
                                   count_sql, orphans_sql,
                                   reader._signatures_sql(conn, f"s.{within}"),
                                   _LOWEST if lo is None else lo,
                                   _HIGHEST if hi is None else hi)


def _signatures_table() -> str:
    from lifecycle.adapters.signing import SIGNATURES_TABLE  # as _chain_table

    return SIGNATURES_TABLE


def _chain_table() -> str:
    # Imported here, not at the top: the workers of a split verification import this
    # module and need none of the engine (the recorders import the whole library).
    from lifecycle.adapters.recorders import CHAIN_TABLE

    return CHAIN_TABLE


def _between(column: str, lo: int | None, hi: int | None) -> tuple[str, tuple[int, ...]]:
    """A WHERE clause for ``lo < column <= hi`` (None: unbounded) and its parameters."""
    terms, params = [], []
    if lo is not None:
        terms.append(f"{column} > ?")
        params.append(lo)
    if hi is not None:
        terms.append(f"{column} <= ?")
        params.append(hi)
    return (f" WHERE {' AND '.join(terms)}" if terms else ""), tuple(params)


@dataclass(frozen=True)
class Span:
    """What the fast pass found in a range of positions (see :meth:`ChainReader.check_span`).

    ``ok`` is False at the first doubt, and the rest is then meaningless.
    """

    ok: bool
    start: bytes = GENESIS
    """The stored link before the range (the genesis link when none)."""
    events: int = 0
    links: int = 0
    last: int | None = None
    head: bytes = GENESIS
    mark: tuple[int, int | None, bytes] | None = None
    """(events, last position, head) up to and including the mark."""

    def as_json(self) -> dict[str, Any]:
        mark = None if self.mark is None else [self.mark[0], self.mark[1],
                                                self.mark[2].hex()]
        return {"ok": self.ok, "start": self.start.hex(), "events": self.events,
                "links": self.links, "last": self.last, "head": self.head.hex(),
                "mark": mark}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Span:
        mark = data["mark"]
        return cls(bool(data["ok"]), bytes.fromhex(data["start"]), int(data["events"]),
                   int(data["links"]), data["last"], bytes.fromhex(data["head"]),
                   None if mark is None else (int(mark[0]), mark[1], bytes.fromhex(mark[2])))


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


def _chain(previous: bytes, rows: Sequence[tuple[Any, ...]],
           sha256: Callable[[bytes], Any] = hashlib.sha256,
           join: Callable[[Any], bytes] = b"".join,
           pack: Callable[..., bytes] = HEADER.pack) -> bytes | None:
    """The link after ``rows`` of (position, oid, version, topic, state, stored link),
    given the one before them; None when a row does not match its stored link.

    The hot path takes the cells as SQLite returns them for an untouched store; any
    other cell (text, NULL, a float) raises or mismatches there, and the rows are then
    checked again one by one, converted as the exact pass converts them.
    """
    head = previous
    try:
        for position, oid, version, topic, state, stored in rows:
            # The same bytes as lifecycle.adapters.chain.link, inlined: this loop is the hot path.
            head = sha256(join((head, pack(position, version, len(oid), len(topic)), oid,
                                topic, state))).digest()
            if head != stored:
                break
        else:
            return head
    except (TypeError, struct.error):
        pass
    for position, oid, version, topic, state, stored in rows:
        expected = _expected_link(previous, (position, oid, version, topic, state))
        if expected is None or stored is None or expected != _as_bytes(stored):
            return None
        previous = expected
    return previous


def _batched(cursor: sqlite3.Cursor) -> Iterator[Any]:
    while rows := cursor.fetchmany(FETCH):
        yield from rows


def _postgres_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # psycopg may return bytea as memoryview: the chain and the export want bytes.
    position, oid, version, topic, state, chained = row
    return (position, oid, version, topic, None if state is None else bytes(state),
            None if chained is None else bytes(chained))


_LOWEST, _HIGHEST = -(2**63), 2**63 - 1
"""Bounds of a 64-bit position, around the first and after the last batch."""


def _record_batches(fetch: Callable[[], list[Any]],
                    query: Callable[[str, tuple[int, int]], list[Any]],
                    count_sql: str, orphans_sql: str,
                    signatures_sql: str | None, lowest: int = -(2**63),
                    highest: int = 2**63 - 1) -> Iterator[list[Record]]:
    """Batches of records from batches of joined rows (position, oid, version, topic,
    state, link or None), with the links of their range whose event is missing and the
    signed heads of their range; the rows' positions, and those of the records added,
    are in (lowest, highest]."""
    low = lowest
    while rows := fetch():
        high = rows[-1][0]
        linked = len(rows) - list(map(_LINK, rows)).count(None)
        if query(count_sql, (low, high))[0][0] != linked:
            orphans = [(p, _as_bytes(x)) for p, x in query(orphans_sql, (low, high))]
            rows = sorted(rows + orphans, key=_POSITION)
        if signatures_sql is not None:
            signed = [(p, _as_bytes(h), _as_bytes(x))
                      for p, h, x in query(signatures_sql, (low, high))]
            if signed:
                # A signature follows the record at its position.
                rows = sorted(rows + signed, key=_signatures_last)
        yield rows
        low = high
    tail: list[Record] = [(p, _as_bytes(x)) for p, x in query(orphans_sql, (low, highest))]
    if signatures_sql is not None:
        tail += [(p, _as_bytes(h), _as_bytes(x))
                 for p, h, x in query(signatures_sql, (low, highest))]
    if tail:
        yield sorted(tail, key=_signatures_last)


def _signatures_last(record: Record) -> tuple[int, bool]:
    """Sort key: by position, a signed head after the record at its position."""
    return record[0], len(record) == 3


_POSITION, _LINK = itemgetter(0), itemgetter(5)


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


def verify(reader: ChainSource, digest: Digest | None = None,
           progress: Callable[[int], None] | None = None, *,
           processes: int | None = None) -> Verification:
    """Recompute the chain and compare; stop at the first problem.

    A fast pass checks each event against its link; only when it finds a problem does a
    second, exact pass merge events and links to say precisely what happened where. On
    SQLite, the fast pass of a large log is split across processes.

    Args:
        reader: the history's events and links (a store's or an export's).
        digest: a saved digest the history must still begin with.
        progress: called with the number of events checked so far, now and then.
        processes: at most this many processes for the fast pass (default: one per
            available CPU, up to ``interpreters.MAX_PROCESSES``); 1 keeps it in this process.
    """
    if isinstance(reader, SplitSource):
        mark = digest.position if digest is not None and digest.events > 0 else None
        spans = reader.split_spans(mark, progress, processes)
        if spans is not None:
            result = _joined_spans(spans, digest)
            if result is None:
                return _exact(reader, digest)
            if progress is not None:
                progress(result.events)
            return result
    previous = GENESIS
    count = 0
    last = 0
    links = 0
    mark = digest.events if digest is not None else 0
    try:
        for rows, chain_count in reader.joined():
            links = chain_count
            if not rows:
                continue
            head = _chain(previous, rows)
            if head is None:
                return _exact(reader, digest)
            if count < mark <= count + len(rows):
                assert digest is not None
                position, *_, stored = rows[mark - count - 1]
                if position != digest.position or _as_bytes(stored).hex() != digest.head:
                    return _exact(reader, digest)
            previous = head
            count += len(rows)
            last = rows[-1][0]
            if progress is not None:
                progress(count)
    except Damaged:
        return _exact(reader, digest)  # which names it, or an earlier problem
    if links != count:
        return _exact(reader, digest)
    if digest is not None and count < digest.events:
        return _truncated(digest, count, previous)
    return Verification(True, count, previous.hex(), last_position=last)


def _split_spans(reader: ChainReader, mark: int | None,
                 progress: Callable[[int], None] | None,
                 processes: int | None) -> list[Span] | None:
    """The fast pass of an SQLite log split into ranges of positions: the first checked
    here, each other by a worker. None when the log is too small to split, or a worker
    could not give its answer (the caller then checks the log in this process alone)."""
    wanted = available_processes() if processes is None else processes
    if wanted < 2 or not can_start_workers():
        return None  # no interpreter to start (or a frozen application's own binary)
    workers: list[subprocess.Popen[bytes]] = []
    conn = reader._sqlite()
    try:
        conn.execute("BEGIN")
        table = reader.events_table
        first = conn.execute(f"SELECT min(rowid) FROM {table}").fetchone()[0]
        last = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0]
        if first is None:
            return None
        span = last - first + 1
        wanted = min(wanted, span // SPLIT_MIN)
        if wanted < 2:
            return None
        cuts = [None, *(first - 1 + span * i // wanted for i in range(1, wanted)), None]
        ranges = list(pairwise(cuts))
        marks = [mark if mark is not None and (lo is None or lo < mark)
                 and (hi is None or mark <= hi) else None for lo, hi in ranges]
        for (lo, hi), at in zip(ranges[1:], marks[1:], strict=True):
            worker = _start_worker(reader, lo, hi, at)
            if worker is None:
                return None
            workers.append(worker)
        lo, hi = ranges[0]
        spans = [reader.check_span(conn, lo, hi, marks[0], progress)]
        if spans[0].ok:
            for worker in workers:
                found = worker_span(worker)
                if found is None:
                    return None
                spans.append(found)
    finally:
        conn.close()
        for worker in workers:
            interpreters.stop(worker)
    return spans


WORKER_MAIN = "lifecycle.adapters.audit:worker_main"


def _start_worker(reader: ChainReader, lo: int | None, hi: int | None,
                  mark: int | None) -> subprocess.Popen[bytes] | None:
    """A worker interpreter checking (lo, hi]; it imports only this module and the
    standard library."""
    job = {"location": reader.target.location, "events": reader.events_table,
           "chain": reader.chain_table, "lo": lo, "hi": hi, "mark": mark}
    return interpreters.start(WORKER_MAIN, json.dumps(job))


def worker_span(worker: subprocess.Popen[bytes]) -> Span | None:
    """The span a worker printed; None when it failed."""
    found, _ = interpreters.answer(worker)
    if found is None:
        return None
    try:
        return Span.from_json(found)
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def worker_main(argument: str) -> None:
    """A worker's main: check the job's range and print its :class:`Span` as JSON."""
    job = json.loads(argument)
    reader = ChainReader(StoreTarget("sqlite", job["location"], {}), job["events"],
                         job["chain"])
    conn = reader._sqlite()
    try:
        conn.execute("BEGIN")
        span = reader.check_span(conn, job["lo"], job["hi"], job["mark"])
    finally:
        conn.close()
    sys.stdout.write(json.dumps(span.as_json()))


def _joined_spans(spans: list[Span], digest: Digest | None) -> Verification | None:
    """The verdict of consecutive spans that together cover every position, or None at
    the first doubt (for the exact pass to name)."""
    previous = GENESIS
    count = 0
    last = 0
    begins = digest is None or digest.events == 0
    for span in spans:
        if not span.ok or span.start != previous or span.links != span.events:
            return None
        if digest is not None and span.mark is not None:
            events, position, head = span.mark
            begins = begins or (count + events == digest.events
                                and position == digest.position
                                and head.hex() == digest.head)
        previous = span.head
        count += span.events
        if span.last is not None:
            last = span.last
    if digest is not None and count < digest.events:
        return _truncated(digest, count, previous)
    if not begins:
        return None
    return Verification(True, count, previous.hex(), last_position=last)


def _exact(reader: ChainSource, digest: Digest | None) -> Verification:
    """The exact pass: merge events and links by position and name the first problem
    (or find none, when what the fast pass doubted holds in this one snapshot)."""
    previous = GENESIS
    count = 0
    last = 0
    pairs = reader.walk()
    while True:
        try:
            pair = next(pairs, None)
        except Damaged as damage:
            return _broken(count, previous, damage.position, damage.problem)
        if pair is None:
            break
        event, chained = pair
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
        last = position
        if digest is not None and count == digest.events and (
                position != digest.position or previous.hex() != digest.head):
            return _broken(count, previous, position,
                           f"history differs from the digest: the event at position "
                           f"{position} (number {count}) is not the one the digest "
                           "describes (the history was rewritten)")
    if digest is not None and count < digest.events:
        return _truncated(digest, count, previous)
    return Verification(True, count, previous.hex(), last_position=last)


def _truncated(digest: Digest, count: int, previous: bytes) -> Verification:
    return _broken(count, previous, None,
                   f"history was truncated: the digest describes {digest.events} "
                   f"events, the store has {count}")


def _broken(count: int, previous: bytes, position: int | None, problem: str) -> Verification:
    return Verification(False, count, previous.hex(), problem, position)


def make_digest(reader: ChainSource) -> Digest:
    """The digest of the history as it stands (after verifying it), with the latest
    signed head at or before its last position when the source has signed heads."""
    result = verify(reader)
    if not result.ok:
        raise ValueError(f"cannot make a digest of a broken history: {result.problem}")
    latest = (reader.latest_signature(result.last_position)
              if isinstance(reader, ChainReader) else None)
    signature = None if latest is None else {
        "position": latest.position, "head": latest.head.hex(),
        "signature": base64.b64encode(latest.signature).decode()}
    return Digest(result.events, result.last_position, result.head,
                  datetime.now(UTC).isoformat(timespec="seconds"), reader.location,
                  signature)


@dataclass(frozen=True)
class Head:
    """The last link of the chain as stored, read without verifying it: the
    ``position`` and ``head`` of a digest taken now (``audit verify --digest`` checks
    them). Both None without events."""

    position: int | None
    head: str | None


def stored_head(reader: ChainReader) -> Head:
    """The last chain link as stored: one indexed lookup (no count, which would read
    the whole chain table)."""
    table = reader._qualified(reader.chain_table)
    query = f"SELECT position, {reader._link()} FROM {table} ORDER BY position DESC LIMIT 1"
    if reader.target.is_postgres:
        with reader._pg() as conn:
            found = conn.execute(query).fetchone()
    else:
        conn = reader._sqlite()
        try:
            found = conn.execute(query).fetchone()
        finally:
            conn.close()
    if found is None:
        return Head(None, None)
    return Head(int(found[0]), _as_bytes(found[1]).hex())
