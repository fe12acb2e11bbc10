"""Writing the views' rows: the tables' DDL, the tracking of positions, and the rows
of a read model (all of them, or those changed since the last write).

Table and column meanings: ``docs/projections.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from operator import itemgetter
from typing import Any, Final

from projections import schema as s
from projections.dialect import Dialect
from projections.views import CorrectionView, ReadModel, ReviewView, SurveyView

_ROWS_PER_INSERT: Final = 100
"""Rows per INSERT statement of a rebuild (fewer when the database allows fewer
parameters)."""


# ---------------------------------------------------------------------- schema
def table_ddl(dialect: Dialect, table: s.Table) -> str:
    columns = [f"{c.name} {dialect.types[c.type]}{' NOT NULL' if c.not_null else ''}"
               for c in table.columns]
    clustered = " WITHOUT ROWID" if table.clustered and not dialect.is_postgres else ""
    return (f"CREATE TABLE IF NOT EXISTS {table.name} ("
            f"{', '.join(columns)}, PRIMARY KEY ({', '.join(table.key)})){clustered}")


def index_ddl(table: s.Table) -> list[str]:
    return [f"CREATE INDEX IF NOT EXISTS {table.name}_{'_'.join(cols)} "
            f"ON {table.name} ({', '.join(cols)})" for cols in table.indexes]


def create(cursor: Any, dialect: Dialect, *, indexes: bool = True) -> None:
    """Create the tables (and their secondary indexes unless told not to: a rebuild
    builds them after loading the rows, at once) and the tracking rows at position 0."""
    for table in s.ALL_TABLES:
        cursor.execute(table_ddl(dialect, table))
        if indexes:
            for statement in index_ddl(table):
                cursor.execute(statement)
    cursor.executemany(dialect.sql(
        f"INSERT INTO {s.TRACKING.name} (view_name, position, schema_version) "
        "VALUES (?, 0, ?) ON CONFLICT (view_name) DO NOTHING"),
        [(view, s.SCHEMA_VERSION) for view in s.VIEWS])


def ensure_schema(conn: Any) -> None:
    """Create the views' tables (empty, at position 0) where they do not exist yet.

    Tables of another schema version are left as they are, without today's secondary
    indexes (whose columns they may lack): the next catch-up rebuilds them all.
    """
    dialect = Dialect(conn)
    with dialect.transaction() as cursor:
        current = (not dialect.table_exists(cursor, s.TRACKING.name) or {
            version for _, version in read_tracking(cursor, dialect).values()
        } <= {s.SCHEMA_VERSION})
        create(cursor, dialect, indexes=current)


def read_tracking(cursor: Any, dialect: Dialect, *,
                  lock: bool = False) -> dict[str, tuple[int, int]]:
    """Each view's (position, schema version) as the tracking table holds them."""
    cursor.execute(f"SELECT view_name, position, schema_version FROM {s.TRACKING.name}"
                   + (dialect.for_update if lock else ""))
    return {name: (position, version) for name, position, version in cursor.fetchall()}


def common_position(tracking: dict[str, tuple[int, int]]) -> int | None:
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


def _insert_sql(dialect: Dialect, table: s.Table, rows: int = 1, *,
                bulk: bool = False) -> str:
    """An INSERT of ``rows`` rows at once (``bulk``: into a rebuild's new table, see
    :data:`BULK_INSERT`)."""
    names = table.column_names
    values = ", ".join([f"({', '.join('?' * len(names))})"] * rows)
    head = BULK_INSERT if bulk and not dialect.is_postgres else "INSERT INTO"
    return dialect.sql(f"{head} {table.name} ({', '.join(names)}) VALUES {values}")


BULK_INSERT: Final = "INSERT OR FAIL INTO"
"""How a rebuild's statements that insert many rows at once begin on SQLite.

With the default conflict resolution (``ABORT``) a statement that writes several rows
must be able to undo itself alone: before it first changes a page the database held
when it began, SQLite copies the page into a statement journal (a temporary file past
64 KiB). A rebuild's new tables reuse the pages its drop of the old ones freed, so every
page each statement changed was copied: 881 MB of copies on a rebuild of the
benchmark's store, for 180 MB of views. ``FAIL`` keeps the rows a failing statement
wrote before its error, so there is nothing to copy; a rebuild keeps none of them
anyway, since any error rolls its whole transaction back (or discards a worker's
scratch file). The rows written are the same (ADR 47). PostgreSQL has no such clause
and no such copy."""


def view_rows(model: ReadModel, views: Iterable[str], *,
              release: bool = False) -> Iterator[tuple[s.Table, Iterable[s.Row]]]:
    """Every row of the given views' tables, table by table, each in key order.

    The rows of the per-contact, per-review and per-survey tables are made as they are
    consumed, so writing them never holds them all.

    ``proj_report_packs`` joins the facts of every duo of a programme's month: with
    ``release`` it is left out, as a rebuild writes it once all its passes' facts are
    written (:func:`write_packs`).

    With ``release`` (a rebuild, which writes a model once and drops it), each duo is
    taken out of ``model`` as its rows are made, while its contacts' rows are written:
    a duo's contacts, most of what a pass holds, are let go as the rows of its other
    tables grow, instead of being held beside all of them. Each table's rows must then
    be consumed before the next table is asked for (as writing them does).
    """
    for view in views:
        if view == "programmes":
            yield s.PROGRAMMES, [s.PROGRAMMES.row(model.programmes[k])
                                 for k in sorted(model.programmes)]
        elif view == "sites":
            yield s.SITES, [s.SITES.row(model.sites[k]) for k in sorted(model.sites)]
        elif view == "mentors":
            yield s.MENTORS, [s.mentor_row(model.mentors[k]) for k in sorted(model.mentors)]
        elif release:
            yield from _released_duo_rows(model)
        else:
            ids = sorted(model.duos)
            duos = [model.duos[k] for k in ids]
            programmes = model.programmes
            made = [s.duo_rows(d, programmes.get(d.programme_id)) for d in duos]
            yield from _whole_duo_rows(made)
            yield s.REPORT_PACKS, pack_rows(_pack_members(rows.facts for rows in made))
            del made
            contact_row = s.CONTACTS.row
            yield s.CONTACTS, (contact_row(contacts[c], k)
                               for k, d in zip(ids, duos, strict=True)
                               for contacts in (d.contacts,) for c in sorted(contacts))
            yield from _event_rows([(k, d.reviews, d.surveys, d.corrections)
                                    for k, d in zip(ids, duos, strict=True)])


_Kept = tuple[str, list[ReviewView], dict[tuple[str, str], SurveyView], list[CorrectionView]]
"""A duo's id and the records of its per-review, per-survey and per-correction rows."""


def _whole_duo_rows(made: list[s.DuoRows]) -> Iterator[tuple[s.Table, Iterable[s.Row]]]:
    """The rows of the tables made from each duo as a whole, in key order."""
    yield s.DUOS, [rows.duo for rows in made]
    yield s.DUO_FACTS, sorted((rows.facts for rows in made), key=_FACTS_KEY)
    yield s.DUO_MONTHS, sorted((row for rows in made for row in rows.months),
                               key=_MONTHS_KEY)
    yield s.DUO_DAYS, sorted((rows.days for rows in made), key=_FACTS_KEY)
    yield s.DEPARTURES, sorted(rows.departure for rows in made
                               if rows.departure is not None)
    yield s.ATTENTION_SPANS, sorted(row for rows in made for row in rows.spans)


def _event_rows(kept: list[_Kept]) -> Iterator[tuple[s.Table, Iterable[s.Row]]]:
    """The rows of the per-review, per-survey and per-correction tables, in key order."""
    review_row, survey_row, correction_row = s.review_row, s.SURVEYS.row, s.CORRECTIONS.row
    # A duo's reviews are kept in version order (its events are folded in order).
    yield s.REVIEWS, (review_row(k, r) for k, reviews, _, _ in kept for r in reviews)
    yield s.SURVEYS, (survey_row(surveys[r], k) for k, _, surveys, _ in kept
                      for r in sorted(surveys))
    yield s.CORRECTIONS, (correction_row(c, k) for k, _, _, corrections in kept
                          for c in corrections)


def _released_duo_rows(model: ReadModel) -> Iterator[tuple[s.Table, Iterable[s.Row]]]:
    """The duos' rows as :func:`view_rows` makes them with ``release``: the contacts'
    first, each duo's other rows made (and the duo taken out of ``model``) as its
    contacts' rows are consumed."""
    duos, programmes = model.duos, model.programmes
    made: list[s.DuoRows] = []
    kept: list[_Kept] = []

    def contacts() -> Iterator[s.Row]:
        contact_row = s.CONTACTS.row
        for k in sorted(duos):
            d = duos.pop(k)
            made.append(s.duo_rows(d, programmes.get(d.programme_id)))
            kept.append((k, d.reviews, d.surveys, d.corrections))
            found = d.contacts
            for c in sorted(found):
                yield contact_row(found[c], k)

    yield s.CONTACTS, contacts()
    yield from _whole_duo_rows(made)
    del made[:]
    yield from _event_rows(kept)


_FACTS_KEY: Final = itemgetter(*s.DUO_FACTS.key_positions)
_MONTHS_KEY: Final = itemgetter(*s.DUO_MONTHS.key_positions)
_NAN_FOR_NONE: Final[dict[Any, Any]] = {None: float("nan")}


def all_rows(model: ReadModel, views: Iterable[str]) -> dict[str, list[s.Row]]:
    """Every row of the given views' tables, by table name."""
    return {table.name: list(rows) for table, rows in view_rows(model, views)}


def insert_all(cursor: Any, dialect: Dialect, table: s.Table, rows: Iterable[s.Row]) -> None:
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

    cursor.executemany(_insert_sql(dialect, table, per, bulk=True), full())
    if tail and tail[0]:
        cursor.execute(_insert_sql(dialect, table, len(tail[0]) // width, bulk=True),
                       tail[0])


def changed_rows(model: ReadModel) -> dict[str, list[s.Row]]:
    """The rows of the records changed since the changes were last cleared."""
    ch, duos = model.changes, model.duos
    reviews = []
    for duo_id, version in sorted(ch.reviews):
        found = next(r for r in duos[duo_id].reviews if r.version == version)
        reviews.append(s.review_row(duo_id, found))
    programmes = model.programmes
    made = [s.duo_rows(duos[k], programmes.get(duos[k].programme_id)) for k in sorted(ch.duos)]
    corrections = []
    for duo_id, version in sorted(ch.corrections):
        correction = next(c for c in duos[duo_id].corrections if c.version == version)
        corrections.append(s.CORRECTIONS.row(correction, duo_id))
    return {
        s.PROGRAMMES.name: [s.PROGRAMMES.row(model.programmes[k]) for k in sorted(ch.programmes)],
        s.SITES.name: [s.SITES.row(model.sites[k]) for k in sorted(ch.sites)],
        s.MENTORS.name: [s.mentor_row(model.mentors[k]) for k in sorted(ch.mentors)],
        s.DUOS.name: [rows.duo for rows in made],
        s.DUO_FACTS.name: [rows.facts for rows in made],
        # A duo's months only ever extend (the latest change of its contacts never goes
        # back), so an upsert of its months leaves none behind; but for a corrected duo,
        # whose old months are deleted first (see forget_derived_rows).
        s.DUO_MONTHS.name: [row for rows in made for row in rows.months],
        s.DUO_DAYS.name: [rows.days for rows in made],
        s.DEPARTURES.name: [rows.departure for rows in made if rows.departure is not None],
        # Replacing the changed duos' spans, deleted first (see forget_derived_rows).
        s.ATTENTION_SPANS.name: [row for rows in made for row in rows.spans],
        s.CORRECTIONS.name: corrections,
        s.CONTACTS.name: [s.CONTACTS.row(duos[d].contacts[c], d)
                            for d, c in sorted(ch.contacts)],
        s.REVIEWS.name: reviews,
        s.SURVEYS.name: [s.SURVEYS.row(duos[d].surveys[r, p], d)
                           for d, r, p in sorted(ch.surveys)],
    }


def forget_derived_rows(cursor: Any, dialect: Dialect, model: ReadModel) -> None:
    """Delete the stored rows that the changed duos' rows replace rather than update:
    the attention spans of every changed duo (a new contact or review ends a span), and
    the months of the duos corrected (a corrected recruitment may start them later)."""
    duos = model.duos
    changed = sorted((duos[k].programme_id, k) for k in model.changes.duos)
    if changed:
        cursor.executemany(dialect.sql(
            f"DELETE FROM {s.ATTENTION_SPANS.name} WHERE programme_id = ? AND duo_id = ?"),
            changed)
    corrected = sorted((duos[k].programme_id, k) for k in model.changes.corrected)
    if corrected:
        cursor.executemany(dialect.sql(
            f"DELETE FROM {s.DUO_MONTHS.name} WHERE programme_id = ? AND duo_id = ?"),
            corrected)


# ---------------------------------------------------------------------- report packs
PackMember = tuple[str, str, str, bytes, bytes]
"""A duo as its report pack holds it: (programme, recruited on, duo, report facts,
evaluation entries)."""

_FACTS_CELLS: Final = itemgetter(*(s.DUO_FACTS.position(c) for c in (
    "programme_id", "recruited_on", "duo_id", "report_facts", "evaluation_entries")))
_MEMBERS_SQL: Final = (f"SELECT programme_id, recruited_on, duo_id, report_facts, "
                       f"evaluation_entries FROM {s.DUO_FACTS.name}")


def _pack_members(facts_rows: Iterable[s.Row]) -> Iterator[PackMember]:
    """The pack members of ``proj_duo_facts`` rows."""
    for row in facts_rows:
        yield _FACTS_CELLS(row)


def pack_rows(members: Iterable[Sequence[Any]]) -> list[s.Row]:
    """The ``proj_report_packs`` rows of the given duos (each a :data:`PackMember`,
    blobs as bytes or memoryviews), one per programme and month of recruitment, in key
    order; within a row, the duos in the order of their ids (as Python orders strings,
    the same on every database), so that the same duos always give the same bytes."""
    groups: dict[tuple[str, str], list[tuple[str, bytes, bytes]]] = {}
    for programme_id, recruited_on, duo_id, facts, entries in members:
        if recruited_on is None:
            continue
        groups.setdefault((programme_id, recruited_on[:7]), []).append(
            (duo_id, facts, b"" if entries is None else entries))
    found: list[s.Row] = []
    for (programme_id, month), duos in sorted(groups.items()):
        duos.sort(key=itemgetter(0))
        found.append((programme_id, month, len(duos), b"".join([d[1] for d in duos]),
                      b"".join([d[2] for d in duos])))
    return found


def write_packs(cursor: Any, dialect: Dialect) -> None:
    """Write every report pack from the stored ``proj_duo_facts`` (into an empty
    ``proj_report_packs``: a rebuild's last step)."""
    cursor.execute(_MEMBERS_SQL)
    insert_all(cursor, dialect, s.REPORT_PACKS, pack_rows(cursor.fetchall()))


def refresh_packs(cursor: Any, dialect: Dialect, model: ReadModel,
                  facts_rows: Sequence[s.Row]) -> None:
    """Write again the report packs that hold the changed duos (``facts_rows``: their
    new ``proj_duo_facts`` rows, already written): the pack of each one's month of
    recruitment, or every pack of a programme where a duo's recruitment was corrected
    (its old month is not known here; corrections are rare)."""
    duos = model.duos
    whole = sorted({duos[k].programme_id for k in model.changes.corrected})
    months = sorted({(programme_id, recruited_on[:7])
                     for programme_id, recruited_on, *_ in _pack_members(facts_rows)
                     if recruited_on is not None and programme_id not in whole})
    packs = s.REPORT_PACKS.name
    found: list[s.Row] = []
    for programme_id in whole:
        cursor.execute(dialect.sql(f"DELETE FROM {packs} WHERE programme_id = ?"),
                       (programme_id,))
        cursor.execute(dialect.sql(f"{_MEMBERS_SQL} WHERE programme_id = ?"),
                       (programme_id,))
        found += pack_rows(cursor.fetchall())
    for programme_id, month in months:
        cursor.execute(dialect.sql(
            f"DELETE FROM {packs} WHERE programme_id = ? AND month = ?"),
            (programme_id, month))
        # Every ISO day of the month sorts between its 01 and its 31.
        cursor.execute(dialect.sql(
            f"{_MEMBERS_SQL} WHERE programme_id = ? AND recruited_on >= ? "
            f"AND recruited_on <= ?"), (programme_id, f"{month}-01", f"{month}-31"))
        found += pack_rows(cursor.fetchall())
    if found:
        cursor.executemany(_insert_sql(dialect, s.REPORT_PACKS), found)


def write(cursor: Any, dialect: Dialect, rows: dict[str, list[s.Row]], *,
           upsert: bool) -> None:
    for table in s.VIEW_TABLES:
        found = rows.get(table.name)
        if found:
            # In key order, a b-tree grows at its end: twice as fast as in random order.
            found.sort(key=itemgetter(*table.key_positions))
            statement = _upsert_sql(dialect, table) if upsert else _insert_sql(dialect, table)
            cursor.executemany(statement, found)


def set_position(cursor: Any, dialect: Dialect, position: int) -> None:
    cursor.execute(dialect.sql(f"UPDATE {s.TRACKING.name} SET position = ?"), (position,))


def insert_duo_rows(cursor: Any, dialect: Dialect, state: ReadModel) -> None:
    """Insert the rows of the duos of ``state`` (a rebuild's pass), taking the duos out
    of it as they are written."""
    for table, rows in view_rows(state, ("duos",), release=True):
        insert_all(cursor, dialect, table, rows)
