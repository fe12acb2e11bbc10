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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Protocol

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from lifecycle.domain.base import event_class_for_topic
from lifecycle.domain.duo import Duo
from lifecycle.persistence import PydanticMapper
from projections import schema as s
from projections.dialect import Dialect
from projections.facts import FACTS
from projections.fold import TOPICS, ProjectionError, contract_id, evolve_stored, initial
from projections.report import ProgrammeRows, ReportRows, UnknownProgramme, build_report
from projections.views import ReadModel

BATCH_SIZE: Final = 5_000
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
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(_SQLITE_READ.format(table=recorder.events_table_name),
                           (start, stop, *TOPICS, limit))
            rows: Sequence[Raw] = cursor.fetchall()
            return rows
    return [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in recorder.select_notifications(start, limit, stop=stop, topics=TOPICS,
                                                   inclusive_of_start=False)]


_SQLITE_READ: Final = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
    f"WHERE rowid > ? AND rowid <= ? AND topic IN ({', '.join('?' * len(TOPICS))}) "
    "ORDER BY rowid LIMIT ?")


class _Decoder:
    """Turns notifications into :data:`Decoded` events.

    With the engine's own mapper (no cipher, no compressor) the stored JSON already is
    the payload the fold reads (``model_dump(mode="json")``), so it is decoded without
    building pydantic models; with any other mapper, through the mapper.
    """

    def __init__(self, mapper: EventMapper) -> None:
        self.mapper = mapper
        self.loads: Callable[[bytes], Any] | None = None
        if (isinstance(mapper, PydanticMapper) and mapper.cipher is None
                and mapper.compressor is None):
            self.loads = mapper.transcoder.decode

    def __call__(self, raw: Raw) -> Decoded:
        _, stream_id, version, topic, state = raw
        if self.loads is not None:
            payload: dict[str, Any] = self.loads(state)
            stored_version = payload.pop("class_version", 1)
            cls = event_class_for_topic(topic)
            while stored_version < cls.class_version:
                getattr(cls, f"upcast_v{stored_version}_v{stored_version + 1}")(payload)
                stored_version += 1
            return topic, stream_id, version, payload
        event = self.mapper.to_domain_event(StoredEvent(stream_id, version, topic, state))
        return (type(event).TOPIC, event.originator_id, event.originator_version,
                event.model_dump(mode="json", exclude=_EXCLUDE))


def _batches(recorder: Recorder, start: int, stop: int,
             size: int) -> Iterator[tuple[Sequence[Raw], int]]:
    """The followed notifications after ``start`` up to ``stop``, ``size`` at a time,
    each batch with the position it reaches (``stop`` for the last one)."""
    position = start
    while position < stop:
        batch = _read(recorder, position, stop, size)
        position = batch[-1][0] if len(batch) == size else stop
        yield batch, position


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
              stop: int, size: int, progress: Progress | None) -> int:
    count = 0
    for batch, position in _batches(recorder, start, stop, size):
        for raw in batch:
            evolve_stored(state, *decoder(raw))
        count += len(batch)
        if progress is not None:
            progress(position, stop)
    return count


# ---------------------------------------------------------------------- schema
def _ddl(dialect: Dialect, table: s.Table) -> list[str]:
    columns = [f"{c.name} {dialect.types[c.type]}{' NOT NULL' if c.not_null else ''}"
               for c in table.columns]
    clustered = " WITHOUT ROWID" if table.clustered and not dialect.is_postgres else ""
    statements = [f"CREATE TABLE IF NOT EXISTS {table.name} ("
                  f"{', '.join(columns)}, PRIMARY KEY ({', '.join(table.key)})){clustered}"]
    statements += [f"CREATE INDEX IF NOT EXISTS {table.name}_{'_'.join(cols)} "
                   f"ON {table.name} ({', '.join(cols)})" for cols in table.indexes]
    return statements


def _create(cursor: Any, dialect: Dialect) -> None:
    for table in s.ALL_TABLES:
        for statement in _ddl(dialect, table):
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


def _insert_sql(dialect: Dialect, table: s.Table) -> str:
    names = table.column_names
    return dialect.sql(f"INSERT INTO {table.name} ({', '.join(names)}) "
                       f"VALUES ({', '.join('?' * len(names))})")


def _all_rows(model: ReadModel, views: Iterable[str]) -> dict[str, list[s.Row]]:
    """Every row of the given views' tables, by table name."""
    rows: dict[str, list[s.Row]] = {}
    for view in views:
        if view == "programmes":
            rows[s.PROGRAMMES.name] = [s.programme_row(p) for p in model.programmes.values()]
        elif view == "sites":
            rows[s.SITES.name] = [s.site_row(x) for x in model.sites.values()]
        elif view == "mentors":
            rows[s.MENTORS.name] = [s.mentor_row(m) for m in model.mentors.values()]
        else:
            duos = model.duos.values()
            pairs = [s.duo_rows(d) for d in duos]
            rows[s.DUOS.name] = [duo for duo, _ in pairs]
            rows[s.DUO_FACTS.name] = [facts for _, facts in pairs]
            rows[s.CONTACTS.name] = [s.contact_row(d.duo_id, c) for d in duos
                                     for c in d.contacts.values()]
            rows[s.REVIEWS.name] = [s.review_row(d.duo_id, r) for d in duos for r in d.reviews]
            rows[s.SURVEYS.name] = [s.survey_row(d.duo_id, v) for d in duos
                                    for v in d.surveys.values()]
    return rows


def _changed_rows(model: ReadModel) -> dict[str, list[s.Row]]:
    """The rows of the records changed since the changes were last cleared."""
    ch, duos = model.changes, model.duos
    reviews = []
    for duo_id, version in sorted(ch.reviews):
        found = next(r for r in duos[duo_id].reviews if r.version == version)
        reviews.append(s.review_row(duo_id, found))
    pairs = [s.duo_rows(duos[k]) for k in sorted(ch.duos)]
    return {
        s.PROGRAMMES.name: [s.programme_row(model.programmes[k]) for k in sorted(ch.programmes)],
        s.SITES.name: [s.site_row(model.sites[k]) for k in sorted(ch.sites)],
        s.MENTORS.name: [s.mentor_row(model.mentors[k]) for k in sorted(ch.mentors)],
        s.DUOS.name: [duo for duo, _ in pairs],
        s.DUO_FACTS.name: [facts for _, facts in pairs],
        s.CONTACTS.name: [s.contact_row(d, duos[d].contacts[c]) for d, c in sorted(ch.contacts)],
        s.REVIEWS.name: reviews,
        s.SURVEYS.name: [s.survey_row(d, duos[d].surveys[r, p]) for d, r, p in sorted(ch.surveys)],
    }


def _write(cursor: Any, dialect: Dialect, rows: dict[str, list[s.Row]], *,
           upsert: bool) -> None:
    for table in s.VIEW_TABLES:
        found = rows.get(table.name)
        if found:
            at = table.key_positions
            # In key order, a b-tree grows at its end: twice as fast as in random order.
            found.sort(key=lambda row: tuple(row[i] for i in at))
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


_RECRUITED: Final = Duo.Recruited.TOPIC


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
    apart from each other are rebuilt instead. Each batch is one transaction (rows and
    position together); an error rolls the batch back and leaves the views at the
    previous batch's position, from where the next call resumes.

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
            _write(cursor, dialect, _changed_rows(state), upsert=True)
            _set_position(cursor, dialect, reached)
        state.changes.clear()
        position = reached
        applied += len(events)
        if progress is not None:
            progress(position, stop)
    return applied


def rebuild(recorder: Recorder, mapper: EventMapper, conn: Any, *,
            batch_size: int = BATCH_SIZE, progress: Progress | None = None) -> int:
    """Drop the views and build them again from the whole log; return the events applied.

    The log is read in batches; the new tables replace the old ones in one transaction,
    so readers see either the old views or the new ones.
    """
    dialect = Dialect(conn)
    stop = recorder.max_notification_id() or 0
    state = initial()
    with _bulk():
        count = _fold_log(recorder, _Decoder(mapper), state, 0, stop, batch_size, progress)
        rows = _all_rows(state, s.VIEWS)
        with dialect.transaction() as cursor:
            for table in reversed(s.ALL_TABLES):
                cursor.execute(f"DROP TABLE IF EXISTS {table.name}")
            _create(cursor, dialect)
            _write(cursor, dialect, rows, upsert=False)
            _set_position(cursor, dialect, stop)
    return count


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
    site = ", site_id" if sites else ""
    table = s.DUO_FACTS.name
    if as_of is None:
        query = (f"SELECT report_facts, contact_timeline{site} FROM {table} "
                 "WHERE programme_id = ?")
    else:
        query = (f"SELECT report_facts, CASE WHEN contacts_settled_on > ? THEN "
                 f"contact_timeline END{site} FROM {table} "
                 "WHERE programme_id = ? AND recruited_on <= ?")
    groups: dict[str, ProgrammeRows] = {}
    with dialect.transaction(write=False) as cursor:
        cursor.execute(f"SELECT programme_id, country, contact_interval_days "
                       f"FROM {s.PROGRAMMES.name} ORDER BY programme_id")
        programmes = cursor.fetchall()
        if programme is not None and programme not in {p[0] for p in programmes}:
            raise UnknownProgramme(f"programme '{programme}' was never opened")
        for programme_id, country, interval in programmes:
            rows: list[Any] = []
            if programme is None or programme == programme_id:
                day = None if as_of is None else as_of.isoformat()
                params = (programme_id,) if day is None else (day, programme_id, day)
                cursor.execute(dialect.sql(query), params)
                rows = cursor.fetchall()
            site_ids = [r[2] for r in rows] if sites else None
            # Unpacked all at once (in C), the facts cost the report loop nothing more.
            facts = FACTS.iter_unpack(b"".join([r[0] for r in rows]))
            timelines = [r[1] for r in rows]
            if dialect.is_postgres:
                timelines = [None if x is None else bytes(x) for x in timelines]
            groups[programme_id] = ProgrammeRows(
                programme_id, country, interval, list(zip(facts, timelines, strict=True)),
                site_ids)
    return ReportRows(groups, as_of)


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
