"""Loading from the views' tables: read-model records (for a catch-up's prefetch, a
listing or a report ``--as-at``) and the compact report rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, Final

import numpy as np

from projections import schema as s
from projections.dialect import Dialect
from projections.fold import (
    contract_id,
    initial,
)
from projections.reading import RECRUITED, Decoded
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

_IN_CHUNK: Final = 500


# ---------------------------------------------------------------------- rows in
def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(keys), _IN_CHUNK):
        yield keys[i:i + _IN_CHUNK]


def select(cursor: Any, dialect: Dialect, table: s.Table, column: str | None = None,
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


def load(cursor: Any, dialect: Dialect, model: ReadModel, *,
          programmes: Sequence[str] | None = None, sites: Sequence[str] | None = None,
          mentors: Sequence[str] | None = None, duos: Sequence[str] | None = None) -> None:
    """Read the given records (all of them for a None) from the tables into ``model``."""
    for row in select(cursor, dialect, s.PROGRAMMES, "programme_id", programmes):
        model.programmes[row[0]] = s.programme_from_row(row)
    for row in select(cursor, dialect, s.SITES, "site_id", sites):
        model.sites[row[0]] = s.site_from_row(row)
    for row in select(cursor, dialect, s.MENTORS, "mentor_id", mentors):
        model.mentors[row[0]] = s.mentor_from_row(row)
    for row in select(cursor, dialect, s.DUOS, "duo_id", duos):
        model.duos[row[0]] = s.duo_from_row(row)
    for row in select(cursor, dialect, s.CONTACTS, "duo_id", duos, "duo_id, logged_version"):
        contact = s.contact_from_row(row)
        model.duos[row[0]].contacts[contact.contact_id] = contact
    for row in select(cursor, dialect, s.REVIEWS, "duo_id", duos):
        model.duos[row[0]].reviews.append(s.review_from_row(row))
    for row in select(cursor, dialect, s.SURVEYS, "duo_id", duos):
        survey = s.survey_from_row(row)
        model.duos[row[0]].surveys[survey.respondent, survey.phase] = survey
    for row in select(cursor, dialect, s.CORRECTIONS, "duo_id", duos):
        model.duos[row[0]].corrections.append(s.correction_from_row(row))


def prefetch(cursor: Any, dialect: Dialect, model: ReadModel,
              events: Sequence[Decoded]) -> None:
    """Load the records the events will read or change and ``model`` lacks."""
    duos: set[str] = set()
    programmes: set[str] = set()
    mentors: set[str] = set()
    for topic, stream_id, _, payload in events:
        kind, key = stream_id.partition(":")[0], contract_id(stream_id)
        if kind == "duo":
            duos.add(key)
            if topic == RECRUITED:
                programmes.add(payload["programme_id"])
                if payload.get("predecessor_duo_id"):
                    duos.add(payload["predecessor_duo_id"])
        elif kind == "mentor":
            mentors.add(key)
    load(cursor, dialect, model, programmes=sorted(programmes - model.programmes.keys()),
          sites=[], mentors=sorted(mentors - model.mentors.keys()),
          duos=sorted(duos - model.duos.keys()))


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
        load(cursor, dialect, model, duos=duos)
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
