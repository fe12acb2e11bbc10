"""The views materialised as tables in the event store's own database.

- :func:`catch_up` reads the notifications the views have not processed, in batches,
  folds them and upserts the changed rows; each batch's rows and the views' new
  position are written in one transaction, so every event counts exactly once, also
  after a crash or when two processes catch up at once.
- :func:`rebuild` folds the whole log (streamed in batches) and replaces every table in
  one transaction; :func:`compare_with_rebuild` does the same in memory and lists the
  rows that differ from the stored ones (``lifecycle audit projections``).
- :func:`status` tells each view's position against the log's.
- :func:`load_report_rows` / :func:`report_from_db` answer the report from the tables
  alone.

Positions are notification ids, which may have gaps (PostgreSQL): the code never
assumes they are contiguous. Table and column meanings: ``docs/projections.md``.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import orjson
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from lifecycle.domain.base import event_class_for_topic
from lifecycle.domain.duo import Duo
from lifecycle.domain.programme import Programme
from lifecycle.interpreters import available_processes, can_start_workers
from lifecycle.persistence import OrjsonTranscoder, PydanticMapper
from projections import schema as s
from projections.dialect import Dialect
from projections.fold import (
    HANDLERS,
    TOPICS,
    ProjectionError,
    contract_id,
    evolve_stored,
    initial,
)
from projections.report import (
    Ints,
    ProgrammeRows,
    ReportRows,
    UnknownProgramme,
    build_report,
    facts_array,
    facts_at,
)
from projections.views import ReadModel

BATCH_SIZE: Final = 5_000
_RECRUITED: Final = Duo.Recruited.TOPIC
_OPENED: Final = Programme.Opened.TOPIC
_DUO_TOPICS: Final = tuple(t for t in TOPICS
                           if event_class_for_topic(t).__qualname__.startswith("Duo."))
_ROWS_PER_INSERT: Final = 100
"""Rows per INSERT statement of a rebuild (fewer when the database allows fewer
parameters)."""
_IN_CHUNK: Final = 500
_EXCLUDE: Final = {"originator_id", "originator_version"}

Decoded = tuple[str, str, int, dict[str, Any]]
"""An event as the fold's fast path takes it: topic, stream id, version, payload."""
Progress = Callable[[int, int], None]
"""Called with (position reached, log position aimed at) after each batch."""


class Recorder(Protocol):
    """The part of eventsourcing's ``ApplicationRecorder`` the views use."""

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> Sequence[Notification]: ...

    def max_notification_id(self) -> int | None: ...


class EventMapper(Protocol):
    def to_domain_event(self, stored_event: Any) -> Any: ...


# ---------------------------------------------------------------------- reading
Raw = tuple[int, str, int, str, bytes]
"""A notification as read: id, stream id, version, topic, stored state."""


def _read(recorder: Recorder, start: int, stop: int, limit: int) -> Sequence[Raw]:
    """Up to ``limit`` followed notifications with ``start < id <= stop``, in order.

    From the library's SQLite recorder they are read with one plain query on its own
    connection: building a ``Notification`` per row would cost more than the fold.
    """
    if isinstance(recorder, SQLiteApplicationRecorder):
        with _sqlite_reader(recorder) as cursor:
            cursor.execute(_SQLITE_READ.format(table=recorder.events_table_name),
                           (start, stop, *TOPICS, limit))
            rows: Sequence[Raw] = cursor.fetchall()
            return rows
    return [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in recorder.select_notifications(start, limit, stop=stop, topics=TOPICS,
                                                   inclusive_of_start=False)]


@contextmanager
def _sqlite_reader(recorder: SQLiteApplicationRecorder) -> Iterator[sqlite3.Cursor]:
    """A plain ``sqlite3`` cursor of the recorder's, in a read transaction, giving rows
    as tuples (the library's connections make ``sqlite3.Row`` objects, which cost a
    third more to make and to unpack)."""
    with recorder.datastore.transaction(commit=False) as wrapped, wrapped as cursor:
        cursor.row_factory = None
        yield cursor


_SQLITE_READ: Final = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
    f"WHERE rowid > ? AND rowid <= ? AND topic IN ({', '.join('?' * len(TOPICS))}) "
    "ORDER BY rowid LIMIT ?")


class _Decoder:
    """Turns notifications into :data:`Decoded` events, or folds them straight away.

    With the engine's own mapper (no cipher, no compressor) the stored JSON already is
    the payload the fold reads (``model_dump(mode="json")``), so it is decoded without
    building pydantic models; with any other mapper, through the mapper.
    """

    def __init__(self, mapper: EventMapper) -> None:
        self.mapper = mapper
        self.loads: Callable[[bytes], Any] | None = None
        if (isinstance(mapper, PydanticMapper) and mapper.cipher is None
                and mapper.compressor is None):
            transcoder = mapper.transcoder
            # The engine's transcoder is orjson itself: calling it directly saves a frame
            # per event.
            self.loads = (orjson.loads if type(transcoder) is OrjsonTranscoder
                          else transcoder.decode)

    @property
    def plain(self) -> bool:
        """Whether stored states are plain orjson (what a worker interpreter decodes
        without the mapper, and so without any key)."""
        return self.loads is orjson.loads

    def __call__(self, raw: Raw) -> Decoded:
        _, stream_id, version, topic, state = raw
        if self.loads is not None:
            return self._upcast(topic, stream_id, version, self.loads(state))
        event = self.mapper.to_domain_event(StoredEvent(stream_id, version, topic, state))
        return (type(event).TOPIC, event.originator_id, event.originator_version,
                event.model_dump(mode="json", exclude=_EXCLUDE))

    @staticmethod
    def _upcast(topic: str, stream_id: str, version: int,
                payload: dict[str, Any]) -> Decoded:
        stored_version = payload.pop("class_version", 1)
        cls = event_class_for_topic(topic)
        while stored_version < cls.class_version:
            getattr(cls, f"upcast_v{stored_version}_v{stored_version + 1}")(payload)
            stored_version += 1
        return topic, stream_id, version, payload

    def fold(self, state: ReadModel, batch: Iterable[Stored]) -> None:
        """Apply ``batch`` to ``state``: what :func:`evolve_stored` does for each decoded
        event, in one loop (the hot path of a rebuild)."""
        loads = self.loads
        if loads is None:
            for stream_id, version, topic, blob in batch:
                evolve_stored(state, *self((0, stream_id, version, topic, blob)))
            return
        handlers = HANDLERS
        if _UPCAST:
            for stream_id, version, topic, blob in batch:
                evolve_stored(state, *self._upcast(topic, stream_id, version, loads(blob)))
            return
        # No followed class is above version 1, so no payload needs upcasting (one
        # stored with a class_version keeps it as a key the handlers do not read).
        for stream_id, version, topic, blob in batch:
            handler = handlers.get(topic)
            if handler is not None:
                handler(state, stream_id.partition(":")[2], version, loads(blob))


_UPCAST: Final = frozenset(topic for topic in TOPICS
                           if event_class_for_topic(topic).class_version > 1)
"""Topics whose stored payloads may need upcasting (none while every class is at v1)."""

Stored = tuple[str, int, str, bytes]
"""An event as a rebuild reads it: stream id, version, topic, stored state."""



@dataclass(frozen=True)
class _Pass:
    """What one pass of a rebuild reads: every event of the duos whose stream ids lie in
    ``[low, high)`` (None: unbounded), plus the events every pass needs.

    A rebuild of a large log folds its duos in several passes over the log, each
    holding only its own duos' records, so that its memory does not grow with the log.
    Every pass also folds the programmes (a recruitment reads its programme's country)
    and every recruitment (which links a predecessor to its successor across ranges);
    the first pass also folds the sites and mentors.
    """

    low: str | None = None
    high: str | None = None
    first: bool = True

    @property
    def whole(self) -> bool:
        return self.low is None and self.high is None

    @property
    def topics(self) -> tuple[str, ...]:
        return TOPICS if self.first else (_OPENED, *_DUO_TOPICS)

    @property
    def shared_topics(self) -> tuple[str, ...]:
        """Topics read whatever their stream (every other one only in range)."""
        return (*(t for t in TOPICS if t not in _DUO_TOPICS), _RECRUITED) if self.first \
            else (_OPENED, _RECRUITED)

    def where(self) -> tuple[str, tuple[Any, ...]]:
        """The SQL condition on a notification (``topic``, ``originator_id``)."""
        topics = self.topics
        sql = f"topic IN ({', '.join('?' * len(topics))})"
        if self.whole:
            return sql, topics
        bounds = [(">=", self.low), ("<", self.high)]
        in_range = " AND ".join(f"originator_id {op} ?" for op, at in bounds if at is not None)
        shared = self.shared_topics
        # The range first: most rows fail it at once (the shared topics are among the
        # followed ones), which makes the scan of each pass about a third cheaper.
        return (f"(({in_range}) AND {sql}) OR topic IN ({', '.join('?' * len(shared))})",
                (*(f"duo:{at}" for _, at in bounds if at is not None), *topics, *shared))

    def as_tuple(self) -> tuple[str | None, str | None, bool]:
        return self.low, self.high, self.first

    def holds(self, duo_id: str) -> bool:
        return ((self.low is None or duo_id >= self.low)
                and (self.high is None or duo_id < self.high))


PASS_EVENTS: Final = 400_000
"""Duo events one pass of a rebuild folds at most (a pass holds about 250 bytes of
records per event); a log with more is rebuilt in several passes."""


def _passes(recorder: Recorder, stop: int, per_pass: int | None = None) -> list[_Pass]:
    """The passes that rebuild the log up to ``stop``: one unless its duos have more than
    ``per_pass`` events (default :data:`PASS_EVENTS`), then ranges of duos in stream
    order, each with about that many (a duo is never split). Only the library's SQLite
    recorder is read in several passes."""
    per_pass = PASS_EVENTS if per_pass is None else max(1, per_pass)
    if not isinstance(recorder, SQLiteApplicationRecorder) or stop <= per_pass:
        return [_Pass()]
    with _sqlite_reader(recorder) as cursor:
        # Counted from the primary key's index alone ("duo;" is the first string after
        # every "duo:..." one).
        cursor.execute(f"SELECT originator_id, count(*) FROM {recorder.events_table_name} "
                       "WHERE originator_id >= 'duo:' AND originator_id < 'duo;' "
                       "AND rowid <= ? GROUP BY originator_id ORDER BY originator_id",
                       (stop,))
        counts: list[tuple[str, int]] = cursor.fetchall()
    starts: list[str | None] = [None]
    held = 0
    for stream_id, events in counts:
        if held and held + events > per_pass:
            starts.append(contract_id(stream_id))
            held = 0
        held += events
    return [_Pass(low, high, first=i == 0)
            for i, (low, high) in enumerate(zip(starts, [*starts[1:], None], strict=True))]


def _batches(recorder: Recorder, start: int, stop: int, size: int,
             scope: _Pass = _Pass()) -> Iterator[tuple[list[Stored], int]]:
    """The events of ``scope`` after ``start`` up to ``stop``, in order, a batch per
    ``size`` notification ids, each with the position it reaches (``stop`` at last).

    From the library's SQLite recorder they are read in one transaction, so the whole
    range comes from one snapshot of the log, with one plain query per batch on its
    own connection. (A pass's rows found by their positions in the stream index instead
    of a scan measured no faster, and took more memory.)
    """
    if isinstance(recorder, SQLiteApplicationRecorder):
        where, params = scope.where()
        query = (f"SELECT originator_id, originator_version, topic, state "
                 f"FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ? "
                 f"AND ({where})")
        with _sqlite_reader(recorder) as cursor:
            for low in range(start, stop, size):
                high = min(low + size, stop)
                cursor.execute(query, (low, high, *params))
                yield cursor.fetchall(), high
        return
    if not scope.whole:
        raise ValueError("only the SQLite recorder is read in passes")
    position = start
    while position < stop:
        found = _read(recorder, position, stop, size)
        position = found[-1][0] if len(found) == size else stop
        yield [raw[1:] for raw in found], position


@contextmanager
def _bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector while a fold builds many objects.

    The records hold no reference cycles, and a collection pass over hundreds of
    thousands of live records after every few hundred allocations would triple the
    time of a rebuild.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fold_log(recorder: Recorder, decoder: _Decoder, state: ReadModel, start: int,
              stop: int, size: int, progress: Progress | None,
              scope: _Pass = _Pass()) -> int:
    """Fold the events of ``scope`` from ``start`` to ``stop`` into ``state``; return
    how many were new to the rebuild (a later pass re-reads the shared ones).

    The caller writes every record afterwards, so the changes are not kept (they would
    grow with the log); the duos out of the pass's range are dropped as they come.
    """
    count = 0
    shared = frozenset(() if scope.first else scope.shared_topics)
    for batch, position in _batches(recorder, start, stop, size, scope):
        decoder.fold(state, batch)
        if not scope.whole:
            duos = state.duos
            for duo_id in state.changes.duos:
                if not scope.holds(duo_id):
                    duos.pop(duo_id, None)
        state.changes.clear()
        count += sum(1 for event in batch if event[2] not in shared) if shared else len(batch)
        if progress is not None:
            progress(position, stop)
    return count


# ---------------------------------------------------------------------- schema
def _table_ddl(dialect: Dialect, table: s.Table) -> str:
    columns = [f"{c.name} {dialect.types[c.type]}{' NOT NULL' if c.not_null else ''}"
               for c in table.columns]
    clustered = " WITHOUT ROWID" if table.clustered and not dialect.is_postgres else ""
    return (f"CREATE TABLE IF NOT EXISTS {table.name} ("
            f"{', '.join(columns)}, PRIMARY KEY ({', '.join(table.key)})){clustered}")


def _index_ddl(table: s.Table) -> list[str]:
    return [f"CREATE INDEX IF NOT EXISTS {table.name}_{'_'.join(cols)} "
            f"ON {table.name} ({', '.join(cols)})" for cols in table.indexes]


def _create(cursor: Any, dialect: Dialect, *, indexes: bool = True) -> None:
    """Create the tables (and their secondary indexes unless told not to: a rebuild
    builds them after loading the rows, at once) and the tracking rows at position 0."""
    for table in s.ALL_TABLES:
        cursor.execute(_table_ddl(dialect, table))
        if indexes:
            for statement in _index_ddl(table):
                cursor.execute(statement)
    cursor.executemany(dialect.sql(
        f"INSERT INTO {s.TRACKING.name} (view_name, position, schema_version) "
        "VALUES (?, 0, ?) ON CONFLICT (view_name) DO NOTHING"),
        [(view, s.SCHEMA_VERSION) for view in s.VIEWS])


def ensure_schema(conn: Any) -> None:
    """Create the views' tables (empty, at position 0) where they do not exist yet."""
    dialect = Dialect(conn)
    with dialect.transaction() as cursor:
        _create(cursor, dialect)


def _tracking(cursor: Any, dialect: Dialect, *, lock: bool = False) -> dict[str, tuple[int, int]]:
    cursor.execute(f"SELECT view_name, position, schema_version FROM {s.TRACKING.name}"
                   + (dialect.for_update if lock else ""))
    return {name: (position, version) for name, position, version in cursor.fetchall()}


def _common_position(tracking: dict[str, tuple[int, int]]) -> int | None:
    """The views' shared position, or None when they must be rebuilt (missing, of
    another schema version, or apart)."""
    positions = {tracking[v][0] for v in s.VIEWS if v in tracking}
    versions = {tracking[v][1] for v in s.VIEWS if v in tracking}
    if len(tracking) < len(s.VIEWS) or versions != {s.SCHEMA_VERSION} or len(positions) != 1:
        return None
    return positions.pop()


# ---------------------------------------------------------------------- rows out
def _upsert_sql(dialect: Dialect, table: s.Table) -> str:
    names = table.column_names
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in table.key)
    return dialect.sql(
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"VALUES ({', '.join('?' * len(names))}) "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}")


def _insert_sql(dialect: Dialect, table: s.Table, rows: int = 1) -> str:
    """An INSERT of ``rows`` rows at once."""
    names = table.column_names
    values = ", ".join([f"({', '.join('?' * len(names))})"] * rows)
    return dialect.sql(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {values}")


def _view_rows(model: ReadModel, views: Iterable[str]) -> Iterator[tuple[s.Table,
                                                                        Iterable[s.Row]]]:
    """Every row of the given views' tables, table by table, each in key order.

    The rows of the per-contact, per-review and per-survey tables are made as they are
    consumed, so writing them never holds them all.
    """
    for view in views:
        if view == "programmes":
            yield s.PROGRAMMES, [s.programme_row(model.programmes[k])
                                 for k in sorted(model.programmes)]
        elif view == "sites":
            yield s.SITES, [s.site_row(model.sites[k]) for k in sorted(model.sites)]
        elif view == "mentors":
            yield s.MENTORS, [s.mentor_row(model.mentors[k]) for k in sorted(model.mentors)]
        else:
            ids = sorted(model.duos)
            duos = [model.duos[k] for k in ids]
            made = [s.duo_rows(d) for d in duos]
            yield s.DUOS, [rows.duo for rows in made]
            yield s.DUO_FACTS, sorted((rows.facts for rows in made), key=_FACTS_KEY)
            yield s.DUO_MONTHS, sorted((row for rows in made for row in rows.months),
                                       key=_MONTHS_KEY)
            yield s.DUO_DAYS, sorted((rows.days for rows in made), key=_FACTS_KEY)
            yield s.DEPARTURES, sorted(rows.departure for rows in made
                                       if rows.departure is not None)
            del made
            contact_row, review_row, survey_row = s.contact_row, s.review_row, s.survey_row
            yield s.CONTACTS, (contact_row(k, contacts[c])
                               for k, d in zip(ids, duos, strict=True)
                               for contacts in (d.contacts,) for c in sorted(contacts))
            # A duo's reviews are kept in version order (its events are folded in order).
            yield s.REVIEWS, (review_row(k, r) for k, d in zip(ids, duos, strict=True)
                              for r in d.reviews)
            yield s.SURVEYS, (survey_row(k, surveys[r])
                              for k, d in zip(ids, duos, strict=True)
                              for surveys in (d.surveys,) for r in sorted(surveys))
            yield s.CORRECTIONS, (s.correction_row(k, c) for k, d in zip(ids, duos, strict=True)
                                  for c in d.corrections)


_FACTS_KEY: Final = itemgetter(*s.DUO_FACTS.key_positions)
_MONTHS_KEY: Final = itemgetter(*s.DUO_MONTHS.key_positions)
_NAN_FOR_NONE: Final[dict[Any, Any]] = {None: float("nan")}


def _all_rows(model: ReadModel, views: Iterable[str]) -> dict[str, list[s.Row]]:
    """Every row of the given views' tables, by table name."""
    return {table.name: list(rows) for table, rows in _view_rows(model, views)}


def _insert_all(cursor: Any, dialect: Dialect, table: s.Table, rows: Iterable[s.Row]) -> None:
    """Insert ``rows`` into the empty ``table``, many rows per statement.

    Binding a parameter costs the same either way, but running a statement has a cost
    of its own: with one statement per row, a rebuild's inserts take half as long again.
    """
    width = len(table.columns)
    per = max(1, min(_ROWS_PER_INSERT, dialect.max_parameters // width))
    flat = chain.from_iterable
    source = iter(rows)
    tail: list[tuple[Any, ...]] = []
    # SQLite stores a NaN parameter as NULL, and Python's sqlite3 binds a float at once
    # where it binds None through its adaptation protocol, several times slower.
    nulls = None if dialect.is_postgres else _NAN_FOR_NONE.get

    def full() -> Iterator[tuple[Any, ...]]:
        while True:
            params = tuple(flat(islice(source, per)))
            if nulls is not None:
                params = tuple(map(nulls, params, params))
            if len(params) < per * width:
                tail.append(params)
                return
            yield params

    cursor.executemany(_insert_sql(dialect, table, per), full())
    if tail and tail[0]:
        cursor.execute(_insert_sql(dialect, table, len(tail[0]) // width), tail[0])


def _changed_rows(model: ReadModel) -> dict[str, list[s.Row]]:
    """The rows of the records changed since the changes were last cleared."""
    ch, duos = model.changes, model.duos
    reviews = []
    for duo_id, version in sorted(ch.reviews):
        found = next(r for r in duos[duo_id].reviews if r.version == version)
        reviews.append(s.review_row(duo_id, found))
    made = [s.duo_rows(duos[k]) for k in sorted(ch.duos)]
    corrections = []
    for duo_id, version in sorted(ch.corrections):
        correction = next(c for c in duos[duo_id].corrections if c.version == version)
        corrections.append(s.correction_row(duo_id, correction))
    return {
        s.PROGRAMMES.name: [s.programme_row(model.programmes[k]) for k in sorted(ch.programmes)],
        s.SITES.name: [s.site_row(model.sites[k]) for k in sorted(ch.sites)],
        s.MENTORS.name: [s.mentor_row(model.mentors[k]) for k in sorted(ch.mentors)],
        s.DUOS.name: [rows.duo for rows in made],
        s.DUO_FACTS.name: [rows.facts for rows in made],
        # A duo's months only ever extend (the latest change of its contacts never goes
        # back), so an upsert of its months leaves none behind; but for a corrected duo,
        # whose old months are deleted first (see _write).
        s.DUO_MONTHS.name: [row for rows in made for row in rows.months],
        s.DUO_DAYS.name: [rows.days for rows in made],
        s.DEPARTURES.name: [rows.departure for rows in made if rows.departure is not None],
        s.CORRECTIONS.name: corrections,
        s.CONTACTS.name: [s.contact_row(d, duos[d].contacts[c]) for d, c in sorted(ch.contacts)],
        s.REVIEWS.name: reviews,
        s.SURVEYS.name: [s.survey_row(d, duos[d].surveys[r, p]) for d, r, p in sorted(ch.surveys)],
    }


def _forget_months(cursor: Any, dialect: Dialect, model: ReadModel) -> None:
    """Delete the stored months of the duos corrected since the changes were cleared: a
    corrected recruitment date may start a duo's months later than they were."""
    keys = sorted((model.duos[k].programme_id, k) for k in model.changes.corrected)
    if keys:
        cursor.executemany(dialect.sql(
            f"DELETE FROM {s.DUO_MONTHS.name} WHERE programme_id = ? AND duo_id = ?"), keys)


def _write(cursor: Any, dialect: Dialect, rows: dict[str, list[s.Row]], *,
           upsert: bool) -> None:
    for table in s.VIEW_TABLES:
        found = rows.get(table.name)
        if found:
            # In key order, a b-tree grows at its end: twice as fast as in random order.
            found.sort(key=itemgetter(*table.key_positions))
            statement = _upsert_sql(dialect, table) if upsert else _insert_sql(dialect, table)
            cursor.executemany(statement, found)


def _set_position(cursor: Any, dialect: Dialect, position: int) -> None:
    cursor.execute(dialect.sql(f"UPDATE {s.TRACKING.name} SET position = ?"), (position,))


# ---------------------------------------------------------------------- rows in
def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(keys), _IN_CHUNK):
        yield keys[i:i + _IN_CHUNK]


def _select(cursor: Any, dialect: Dialect, table: s.Table, column: str | None = None,
            keys: Sequence[str] | None = None, order: str | None = None) -> list[Any]:
    base = f"SELECT {', '.join(table.column_names)} FROM {table.name}"
    tail = f" ORDER BY {order or ', '.join(table.key)}"
    if keys is None:
        cursor.execute(base + tail)
        return list(cursor.fetchall())
    found: list[Any] = []
    for chunk in _chunks(keys):
        cursor.execute(dialect.sql(
            f"{base} WHERE {column} IN ({', '.join('?' * len(chunk))}){tail}"), tuple(chunk))
        found += cursor.fetchall()
    return found


def _load(cursor: Any, dialect: Dialect, model: ReadModel, *,
          programmes: Sequence[str] | None = None, sites: Sequence[str] | None = None,
          mentors: Sequence[str] | None = None, duos: Sequence[str] | None = None) -> None:
    """Read the given records (all of them for a None) from the tables into ``model``."""
    for row in _select(cursor, dialect, s.PROGRAMMES, "programme_id", programmes):
        model.programmes[row[0]] = s.programme_from_row(row)
    for row in _select(cursor, dialect, s.SITES, "site_id", sites):
        model.sites[row[0]] = s.site_from_row(row)
    for row in _select(cursor, dialect, s.MENTORS, "mentor_id", mentors):
        model.mentors[row[0]] = s.mentor_from_row(row)
    for row in _select(cursor, dialect, s.DUOS, "duo_id", duos):
        model.duos[row[0]] = s.duo_from_row(row)
    for row in _select(cursor, dialect, s.CONTACTS, "duo_id", duos, "duo_id, logged_version"):
        contact = s.contact_from_row(row)
        model.duos[row[0]].contacts[contact.contact_id] = contact
    for row in _select(cursor, dialect, s.REVIEWS, "duo_id", duos):
        model.duos[row[0]].reviews.append(s.review_from_row(row))
    for row in _select(cursor, dialect, s.SURVEYS, "duo_id", duos):
        survey = s.survey_from_row(row)
        model.duos[row[0]].surveys[survey.respondent, survey.phase] = survey
    for row in _select(cursor, dialect, s.CORRECTIONS, "duo_id", duos):
        model.duos[row[0]].corrections.append(s.correction_from_row(row))


def _prefetch(cursor: Any, dialect: Dialect, model: ReadModel,
              events: Sequence[Decoded]) -> None:
    """Load the records the events will read or change and ``model`` lacks."""
    duos: set[str] = set()
    programmes: set[str] = set()
    mentors: set[str] = set()
    for topic, stream_id, _, payload in events:
        kind, key = stream_id.partition(":")[0], contract_id(stream_id)
        if kind == "duo":
            duos.add(key)
            if topic == _RECRUITED:
                programmes.add(payload["programme_id"])
                if payload.get("predecessor_duo_id"):
                    duos.add(payload["predecessor_duo_id"])
        elif kind == "mentor":
            mentors.add(key)
    _load(cursor, dialect, model, programmes=sorted(programmes - model.programmes.keys()),
          sites=[], mentors=sorted(mentors - model.mentors.keys()),
          duos=sorted(duos - model.duos.keys()))


# ---------------------------------------------------------------------- operations
def catch_up(recorder: Recorder, mapper: EventMapper, conn: Any, *,
             batch_size: int = BATCH_SIZE, progress: Progress | None = None) -> int:
    """Bring the views up to the log's current end; return how many events were applied.

    Creates the tables when missing. Views that are empty, of another schema version, or
    apart from each other are rebuilt instead (empty views of an empty log are left as
    they are). Each batch is one transaction (rows and position together); an error
    rolls the batch back and leaves the views at the previous batch's position, from
    where the next call resumes.

    Args:
        recorder: the store's application recorder.
        mapper: the store's mapper (decodes notifications).
        conn: a ``sqlite3`` or ``psycopg`` connection to the store's database, with no
            transaction open.
        batch_size: notifications per batch (and transaction).
        progress: called after each batch with (position, target position).
    """
    dialect = Dialect(conn)
    ensure_schema(conn)
    with dialect.transaction(write=False) as cursor:
        position = _common_position(_tracking(cursor, dialect))
    if position == 0 and not recorder.max_notification_id():
        return 0  # empty views of an empty log: nothing to write (an idle worker commits nothing)
    if not position:
        return rebuild(recorder, mapper, conn, batch_size=batch_size, progress=progress)
    with _bulk():
        return _catch_up(recorder, _Decoder(mapper), dialect, position, batch_size, progress)


def _catch_up(recorder: Recorder, decoder: _Decoder, dialect: Dialect, position: int,
              batch_size: int, progress: Progress | None) -> int:
    stop = recorder.max_notification_id() or 0
    state, applied = initial(), 0
    while position < stop:
        batch = _read(recorder, position, stop, batch_size)
        reached = batch[-1][0] if len(batch) == batch_size else stop
        events = [decoder(raw) for raw in batch]
        with dialect.transaction() as cursor:
            current = _common_position(_tracking(cursor, dialect, lock=True))
            if current != position:
                if current is None:
                    raise ProjectionError("the views were changed meanwhile: rebuild them")
                # Another process advanced the views: what we hold may be stale.
                state, position = initial(), current
                continue
            _prefetch(cursor, dialect, state, events)
            for event in events:
                evolve_stored(state, *event)
            _forget_months(cursor, dialect, state)
            _write(cursor, dialect, _changed_rows(state), upsert=True)
            _set_position(cursor, dialect, reached)
        state.changes.clear()
        position = reached
        applied += len(events)
        if progress is not None:
            progress(position, stop)
    return applied


def rebuild(recorder: Recorder, mapper: EventMapper, conn: Any, *,
            batch_size: int = BATCH_SIZE, progress: Progress | None = None,
            processes: int | None = None) -> int:
    """Drop the views and build them again from the whole log; return the events applied.

    The log is read in batches, in one pass or, when it is large, in several passes
    over ranges of duos (see :class:`_Pass`), so a rebuild holds the records of one
    range at a time. On SQLite, the passes of a large log are shared out between this
    process and worker interpreters (``processes`` in all; default one per available
    CPU, at most four; 1 keeps it in this process; ADR 15). The new tables replace the
    old ones in one transaction, so readers see either the old views or the new ones;
    it is opened once the first pass is folded (with several passes, it stays open
    while the others are).
    """
    from projections import split

    dialect = Dialect(conn)
    stop = recorder.max_notification_id() or 0
    decoder = _Decoder(mapper)
    store = _sqlite_file(recorder) if decoder.plain and not dialect.is_postgres else None
    wanted = available_processes() if processes is None else max(1, processes)
    if wanted < 2 or store is None or not can_start_workers():
        wanted = 1
    # With workers, passes a share of the usual size: all processes together hold
    # about what one would.
    passes = _passes(recorder, stop, PASS_EVENTS // wanted)
    own, *others = split.shares(len(passes), min(wanted, len(passes)))

    def fold(i: int) -> tuple[ReadModel, int]:
        state = initial()
        report = None if progress is None else (
            lambda at, top: progress((i * top + at) // len(passes), top))
        return state, _fold_log(recorder, decoder, state, 0, stop, batch_size, report,
                                passes[i])

    def fold_and_insert(cursor: Any, indexes: Iterable[int]) -> int:
        count = 0
        for i in indexes:
            state, folded = fold(i)
            _insert_duo_rows(cursor, dialect, state)
            count += folded
        return count

    with ExitStack() as stack:
        stack.enter_context(_bulk())
        jobs = []
        if others and store is not None:
            tmp = stack.enter_context(split.scratch_dir(store))
            jobs = [split.Job(store, recorder.events_table_name,  # type: ignore[attr-defined]
                              [passes[i].as_tuple() for i in share], stop, batch_size,
                              str(tmp / f"part-{n}.db"))
                    for n, share in enumerate(others, 1)]
        started = stack.enter_context(split.workers(jobs))
        stack.callback(split.detach_all, conn, started)
        state, count = fold(own[0])
        with dialect.transaction() as cursor:
            for table in reversed(s.ALL_TABLES):
                cursor.execute(f"DROP TABLE IF EXISTS {table.name}")
            _create(cursor, dialect, indexes=False)
            for table, rows in _view_rows(state, s.VIEWS):
                _insert_all(cursor, dialect, table, rows)
            del state  # its records are written: make room for the next range's
            count += fold_and_insert(cursor, own[1:])
            for worker, share in zip(started, others, strict=True):
                folded = worker.result()
                if folded is None:  # not trusted: its passes are folded here
                    count += fold_and_insert(cursor, share)
                else:
                    worker.copy_into(cursor)
                    count += folded
            for table in s.ALL_TABLES:
                for statement in _index_ddl(table):
                    cursor.execute(statement)
            _set_position(cursor, dialect, stop)
    if progress is not None:
        progress(stop, stop)
    return count


def _insert_duo_rows(cursor: Any, dialect: Dialect, state: ReadModel) -> None:
    for table, rows in _view_rows(state, ("duos",)):
        _insert_all(cursor, dialect, table, rows)


def fold_passes_into(recorder: Recorder, mapper: EventMapper, conn: sqlite3.Connection,
                     passes: Sequence[tuple[str | None, str | None, bool]], stop: int,
                     batch_size: int) -> int:
    """A rebuild worker's part (``projections.split``): fold each pass ``(low, high,
    first)`` of the log up to ``stop`` and append its duos' rows to ``conn``'s tables
    of the same names; return the events folded."""
    decoder, dialect, cursor = _Decoder(mapper), Dialect(conn), conn.cursor()
    count = 0
    with _bulk():
        for low, high, first in passes:
            state = initial()
            count += _fold_log(recorder, decoder, state, 0, stop, batch_size, None,
                               _Pass(low, high, first))
            _insert_duo_rows(cursor, dialect, state)
            del state
    return count


def _sqlite_file(recorder: Recorder) -> str | None:
    """The file of the library's SQLite recorder (None for any other store, or an
    in-memory database)."""
    if not isinstance(recorder, SQLiteApplicationRecorder):
        return None
    name = str(recorder.datastore.pool.db_name)
    if name.startswith("file:") or ":memory:" in name or not Path(name).is_file():
        return None
    return name


@dataclass(frozen=True)
class ViewStatus:
    """One view's position against the log's.

    Attributes:
        name: the view.
        position: last notification id it processed (None: no tables yet).
        schema_version: version of its tables (None: no tables yet).
        log_position: the log's last notification id (0: empty log).
    """

    name: str
    position: int | None
    schema_version: int | None
    log_position: int

    @property
    def up_to_date(self) -> bool:
        return (self.position is not None and self.position >= self.log_position
                and self.schema_version == s.SCHEMA_VERSION)


def status(recorder: Recorder, conn: Any) -> list[ViewStatus]:
    """Each view's position against the log's last notification id."""
    dialect = Dialect(conn)
    top = recorder.max_notification_id() or 0
    with dialect.transaction(write=False) as cursor:
        tracking = (_tracking(cursor, dialect) if dialect.table_exists(cursor, s.TRACKING.name)
                    else {})
    views = []
    for view in s.VIEWS:
        position, version = tracking.get(view, (None, None))
        views.append(ViewStatus(view, position, version, top))
    return views


@dataclass(frozen=True)
class RowDifference:
    """A row that differs between the stored views and a rebuild.

    Attributes:
        table: the table.
        key: the row's primary key.
        stored: the stored row (None: missing).
        expected: the rebuilt row (None: should not exist).
    """

    table: str
    key: tuple[Any, ...]
    stored: tuple[Any, ...] | None
    expected: tuple[Any, ...] | None


def _keyed(table: s.Table, rows: Iterable[Sequence[Any]]) -> dict[tuple[Any, ...], s.Row]:
    at = table.key_positions
    keyed = {}
    for row in rows:
        clean = tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
        keyed[tuple(clean[i] for i in at)] = clean
    return keyed


def compare_with_rebuild(recorder: Recorder, mapper: EventMapper, conn: Any, *,
                         batch_size: int = BATCH_SIZE) -> list[RowDifference]:
    """Rebuild the views in memory and list every stored row that differs.

    Each view is rebuilt up to its own stored position, so a view that is merely behind
    the log is not a difference (:func:`status` tells that); a view whose tables are of
    another schema version shows as a difference of its tracking row.
    """
    with _bulk():
        return _compare(recorder, mapper, conn, batch_size)


def _compare(recorder: Recorder, mapper: EventMapper, conn: Any,
             batch_size: int) -> list[RowDifference]:
    dialect = Dialect(conn)
    stored: dict[str, dict[tuple[Any, ...], s.Row]] = {}
    with dialect.transaction(write=False) as cursor:
        tracked = dialect.table_exists(cursor, s.TRACKING.name)
        tracking = _tracking(cursor, dialect) if tracked else {}
        for table in s.ALL_TABLES:
            rows = (_select(cursor, dialect, table)
                    if dialect.table_exists(cursor, table.name) else [])
            stored[table.name] = _keyed(table, rows)
    # Without any views there is nothing stored to differ (status() tells they are missing).
    expected: dict[str, dict[tuple[Any, ...], s.Row]] = {
        s.TRACKING.name: {(v,): (v, tracking.get(v, (0, 0))[0], s.SCHEMA_VERSION)
                          for v in s.VIEWS} if tracked else {}}
    by_position: dict[int, list[str]] = {}
    for view in s.VIEWS:
        by_position.setdefault(tracking.get(view, (0, 0))[0], []).append(view)
    decoder, state, reached = _Decoder(mapper), initial(), 0
    for position in sorted(by_position):
        _fold_log(recorder, decoder, state, reached, position, batch_size, None)
        reached = max(reached, position)
        for name, rows in _all_rows(state, by_position[position]).items():
            table = next(t for t in s.ALL_TABLES if t.name == name)
            expected[name] = _keyed(table, rows)
    differences = []
    for table in s.ALL_TABLES:
        have, want = stored[table.name], expected.get(table.name, {})
        for key in sorted(have.keys() | want.keys(), key=repr):
            if have.get(key) != want.get(key):
                differences.append(RowDifference(table.name, key, have.get(key),
                                                 want.get(key)))
    return differences


def load_read_model(conn: Any, programme: str | None = None) -> ReadModel:
    """The read model as the tables hold it (every view; duos of ``programme`` only)."""
    dialect = Dialect(conn)
    model = initial()
    with dialect.transaction(write=False) as cursor:
        duos = None
        if programme is not None:
            cursor.execute(dialect.sql(f"SELECT duo_id FROM {s.DUOS.name} "
                                       "WHERE programme_id = ? ORDER BY duo_id"), (programme,))
            duos = [row[0] for row in cursor.fetchall()]
        _load(cursor, dialect, model, duos=duos)
    model.changes.clear()
    return model


def load_report_rows(conn: Any, as_of: date | None = None, programme: str | None = None,
                     *, sites: bool = False) -> ReportRows:
    """The report rows from the tables alone.

    For an ``as_of`` (without sites), the facts come as two blobs per programme,
    concatenated by the database: those of the duos whose contacts had settled by then
    from the facts table's covering index, and the contact states of that month of the
    others (their counts at ``as_of`` without their timelines); see :func:`_facts_at`.

    Args:
        conn: connection to the views' database.
        as_of: load only what this date needs (duos recruited by then; contact
            timelines only of duos whose contacts changed after it); None loads all.
        programme: load only this programme's duos.
        sites: also load each duo's site (for a breakdown by site).

    Raises:
        UnknownProgramme: ``programme`` was never opened.
    """
    dialect = Dialect(conn)
    groups: dict[str, ProgrammeRows] = {}
    with dialect.transaction(write=False) as cursor:
        cursor.execute(f"SELECT programme_id, country, contact_interval_days "
                       f"FROM {s.PROGRAMMES.name} ORDER BY programme_id")
        programmes = cursor.fetchall()
        if programme is not None and programme not in {p[0] for p in programmes}:
            raise UnknownProgramme(f"programme '{programme}' was never opened")
        for programme_id, country, interval in programmes:
            wanted = programme is None or programme == programme_id
            if as_of is not None and not sites:
                facts = (_facts_at(cursor, dialect, programme_id, as_of) if wanted
                         else facts_array(b""))
                groups[programme_id] = ProgrammeRows(programme_id, country, interval, facts)
                continue
            rows = _fact_rows(cursor, dialect, programme_id, as_of, sites) if wanted else []
            groups[programme_id] = ProgrammeRows(
                programme_id, country, interval,
                facts_array(b"".join([bytes(r[0]) for r in rows])),
                {i: bytes(r[1]) for i, r in enumerate(rows) if r[1]},
                [r[2] for r in rows] if sites else None)
    return ReportRows(groups, as_of)


def _fact_rows(cursor: Any, dialect: Dialect, programme_id: str, as_of: date | None,
               sites: bool) -> list[Any]:
    """(facts, timeline or None, site) of each duo of the programme, recruited by
    ``as_of`` when given (then with the timeline only where that date needs it)."""
    table, site = s.DUO_FACTS.name, ", site_id" if sites else ""
    if as_of is None:
        cursor.execute(dialect.sql(f"SELECT report_facts, contact_timeline{site} "
                                   f"FROM {table} WHERE programme_id = ?"), (programme_id,))
    else:
        day = as_of.isoformat()
        cursor.execute(dialect.sql(
            f"SELECT report_facts, CASE WHEN contacts_settled_on > ? THEN contact_timeline "
            f"END{site} FROM {table} WHERE programme_id = ? AND recruited_on <= ?"),
            (day, programme_id, day))
    found: list[Any] = cursor.fetchall()
    return found


def _facts_at(cursor: Any, dialect: Dialect, programme_id: str, as_of: date) -> Ints:
    """The facts at ``as_of`` of the programme's duos recruited by then: of those whose
    contacts had settled, as stored; of the others, from their contact states of the
    month of ``as_of`` (one short record each, not their timelines)."""
    day = as_of.isoformat()
    cursor.execute(dialect.sql(
        f"SELECT {dialect.concatenated('report_facts')} FROM {s.DUO_FACTS.name} "
        "WHERE programme_id = ? AND recruited_on <= ? "
        "AND (contacts_settled_on IS NULL OR contacts_settled_on <= ?)"),
        (programme_id, day, day))
    settled = cursor.fetchone()[0]
    cursor.execute(dialect.sql(
        f"SELECT {dialect.concatenated('contact_states')} FROM {s.DUO_MONTHS.name} "
        "WHERE programme_id = ? AND month = ?"), (programme_id, day[:7]))
    states = cursor.fetchone()[0]
    facts = facts_array(b"" if settled is None else bytes(settled))
    if states is None:
        return facts
    return np.concatenate([facts, facts_at(bytes(states), as_of)])


def report_from_db(conn: Any, as_of: date, programme: str | None = None, *,
                   as_at: datetime | str | None = None) -> dict[str, Any]:
    """The report of CONTRACT §4 from the tables alone (see :func:`build_report`).

    With ``as_at`` the full read model is loaded (every recorded time is needed);
    without it, only the compact report rows.
    """
    if as_at is not None:
        model = load_read_model(conn, programme)
        if programme is not None and programme not in model.programmes:
            raise UnknownProgramme(f"programme '{programme}' was never opened")
        return build_report(model, as_of, programme, as_at=as_at)
    return build_report(load_report_rows(conn, as_of, programme), as_of, programme)
