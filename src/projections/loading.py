"""Loading from the views' tables: read-model records (for a catch-up's prefetch, a
listing or a report ``--as-at``) and the compact report rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from projections import schema as s
from projections.dialect import Dialect
from projections.evaluation import DEPARTURE_REASONS
from projections.extras import (
    HEAD_INTS,
    DuoExtras,
    PackedExtras,
    PolicyDays,
)
from projections.facts import FACT_COUNT, NEVER
from projections.facts import day as day_of
from projections.fold import (
    contract_id,
    initial,
)
from projections.reading import RECRUITED, Decoded
from projections.report import (
    LABELLED,
    SETTLED,
    Ints,
    ProgrammeRows,
    ReportRows,
    UnknownProgramme,
    build_report,
    facts_array,
    match_labels,
    month_facts,
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
        model.programmes[row[0]] = s.PROGRAMMES.read(row)
    for row in select(cursor, dialect, s.SITES, "site_id", sites):
        model.sites[row[0]] = s.SITES.read(row)
    for row in select(cursor, dialect, s.MENTORS, "mentor_key", mentors):
        mentor = s.mentor_from_row(row)
        model.mentors[mentor.mentor_key] = mentor
    for row in select(cursor, dialect, s.DUOS, "duo_id", duos):
        model.duos[row[0]] = s.DUOS.read(row)
    for row in select(cursor, dialect, s.CONTACTS, "duo_id", duos, "duo_id, logged_version"):
        contact = s.CONTACTS.read(row)
        model.duos[row[0]].contacts[contact.contact_id] = contact
    for row in select(cursor, dialect, s.REVIEWS, "duo_id", duos):
        model.duos[row[0]].reviews.append(s.REVIEWS.read(row))
    for row in select(cursor, dialect, s.SURVEYS, "duo_id", duos):
        survey = s.SURVEYS.read(row)
        model.duos[row[0]].surveys[survey.respondent, survey.phase] = survey
    for row in select(cursor, dialect, s.CORRECTIONS, "duo_id", duos):
        model.duos[row[0]].corrections.append(s.CORRECTIONS.read(row))


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
    # Every programme at first (a handful): a duo's rows are judged by its programme's
    # policy (its attention spans), whatever event changed it.
    load(cursor, dialect, model,
         programmes=None if not model.programmes else sorted(
             programmes - model.programmes.keys()),
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


_POLICY_COLUMNS: Final = ("first_meeting_within_days", "min_duration_days",
                          "max_duration_days", "reviews_first_interval",
                          "review_interval_days")


def load_report_rows(conn: Any, as_of: date | None = None, programme: str | None = None,
                     *, sites: bool = False, labels: bool = False) -> ReportRows:
    """The report rows from the tables alone.

    For an ``as_of`` (without sites or labels), the facts and evaluation extras come as
    blobs per programme, concatenated by the database: the extras of every duo
    recruited by then and the facts of those whose contacts had settled by then from
    one pass over the facts table's covering index, and the others' facts from the
    contact states of that month (their counts at ``as_of`` without their timelines);
    see :func:`_facts_at`. The extras are then in an order of their own, not the
    facts' (see :class:`~projections.report.ProgrammeRows`). The chains' departures by
    ``as_of`` come from their own index.

    Args:
        conn: connection to the views' database.
        as_of: load only what this date needs (duos recruited by then; contact
            timelines only of duos whose contacts changed after it); None loads all.
        programme: load only this programme's duos.
        sites: also load each duo's site (for a breakdown by site).
        labels: also load each duo's breakdown labels and chain (for every breakdown
            within a programme).

    Raises:
        UnknownProgramme: ``programme`` was never opened.
    """
    dialect = Dialect(conn)
    groups: dict[str, ProgrammeRows] = {}
    with dialect.transaction(write=False) as cursor:
        cursor.execute(f"SELECT programme_id, country, contact_interval_days, "
                       f"{', '.join(_POLICY_COLUMNS)} "
                       f"FROM {s.PROGRAMMES.name} ORDER BY programme_id")
        programmes = cursor.fetchall()
        if programme is not None and programme not in {p[0] for p in programmes}:
            raise UnknownProgramme(f"programme '{programme}' was never opened")
        for programme_id, country, interval, *policy_values in programmes:
            wanted = programme is None or programme == programme_id
            policy = PolicyDays(*policy_values)
            if not wanted:
                groups[programme_id] = ProgrammeRows(
                    programme_id, country, interval, facts_array(b""), policy=policy,
                    extras=DuoExtras.empty(), sites=[] if sites or labels else None,
                    labels={k: [] for k in LABELLED} if labels else {})
                continue
            if as_of is not None and not sites and not labels:
                facts, extras = _facts_at(cursor, dialect, programme_id, as_of)
                extras = _with_departures(extras, _departures(
                    cursor, dialect, programme_id, as_of, later_duos=True))
                groups[programme_id] = ProgrammeRows(programme_id, country, interval, facts,
                                                     policy=policy, extras=extras)
                continue
            rows = _fact_rows(cursor, dialect, programme_id, as_of, sites or labels, labels)
            departures = _departures(cursor, dialect, programme_id,
                                     None if labels else as_of, later_duos=not labels)
            records = _records(b"".join([bytes(r[0]) for r in rows]))
            groups[programme_id] = ProgrammeRows(
                programme_id, country, interval,
                records[:, :FACT_COUNT].astype(np.int64),
                {i: bytes(r[1]) for i, r in enumerate(rows) if r[1]},
                [r[3] for r in rows] if sites or labels else None,
                policy, _row_extras(rows, records[:, FACT_COUNT:], departures, labels),
                {key: [r[5 + i] for r in rows] for i, key in enumerate(LABELLED[1:])}
                if labels else {})
    return ReportRows(groups, as_of)


def _records(joined: bytes) -> npt.NDArray[np.int32]:
    """``report_facts`` cells joined, as an ``(n, 18)`` array: the facts, then the
    head of the evaluation extras."""
    found: npt.NDArray[np.int32] = np.frombuffer(joined, dtype="<i4").reshape(
        -1, FACT_COUNT + HEAD_INTS)
    return found


def _row_extras(rows: Sequence[Any], head: npt.NDArray[np.int32],
                departures: Sequence[Any], labels: bool) -> DuoExtras:
    """The extras of rows read by :func:`_fact_rows` (``head``: their heads), given
    the departures recorded on the later duos of chains (see :func:`_with_departures`)
    or, when the rows hold their chain ids, all departures (each put on every duo of
    its chain)."""
    packed = PackedExtras.of(head, b"".join([bytes(r[2]) for r in rows]))
    if not labels:
        return _with_departures(packed, departures).decoded()
    by_chain = {chain: (day_of(on), DEPARTURE_REASONS.index(reason))
                for _, on, reason, chain in departures}
    chain_ids = [r[4] for r in rows]
    numbers: dict[str, int] = {}
    chain = np.array([numbers.setdefault(c, len(numbers)) for c in chain_ids],
                     dtype=np.int64)
    found = [by_chain.get(c, (NEVER, -1)) for c in chain_ids]
    return PackedExtras(packed.head, packed.entries,
                        np.array([f[0] for f in found], dtype=np.int64),
                        np.array([f[1] for f in found], dtype=np.int64)).decoded(chain)


def _departures(cursor: Any, dialect: Dialect, programme_id: str,
                as_of: date | None, *, later_duos: bool = False) -> list[Any]:
    """(first duo's recruitment day, departure date, reason, chain) of every departure
    recorded in the programme (one row per departed mentee in ``proj_departures``), by
    ``as_of`` when given (a later departure leaves every figure as none does); with
    ``later_duos``, only those recorded on a duo that is not the first of its chain
    (the others are in their duo's extras, see :func:`projections.extras.pack_extras`).
    A chain's duos are all of one programme (rule 12)."""
    by = "" if as_of is None else " AND p.departed_on <= ?"
    if later_duos:
        # A chain of one duo departed on its first: the index's range skips them.
        by = f" AND p.single = 0{by} AND p.duo_id != p.chain_id"
    cursor.execute(dialect.sql(
        f"SELECT r.recruited, p.departed_on, p.reason, p.chain_id "
        f"FROM {s.DEPARTURES.name} p JOIN {s.DUO_DAYS.name} r "
        f"ON r.programme_id = p.programme_id AND r.duo_id = p.chain_id "
        f"WHERE p.programme_id = ?{by}"),
        (programme_id,) if as_of is None else (programme_id, as_of.isoformat()))
    found: list[Any] = cursor.fetchall()
    return found


def _with_departures(extras: PackedExtras, departures: Sequence[Any]) -> PackedExtras:
    """``extras`` with each departure recorded on a later duo of a chain put on a first
    duo recruited on its chain's first day that carries none of its own (rows without
    chain ids: which of several such duos carries it does not change any figure, which
    count chains by their first day and departure alone; each chain has at most one
    departure, rule 17, so there are enough)."""
    if not departures:
        return extras
    wanted = np.array([d[0] for d in departures], dtype=np.int64)
    # Only first duos recruited on a day some departure's chain began on can carry one.
    recruited = extras.recruited
    firsts = np.flatnonzero(extras.first_of_chain & (extras.chain_departed == NEVER)
                            & np.isin(recruited, wanted))
    firsts = firsts[np.argsort(recruited[firsts], kind="stable")]
    first_days = recruited[firsts]
    by_day = np.argsort(wanted, kind="stable")
    wanted = wanted[by_day]
    # The i-th departure of a first day goes to the i-th first duo of that day, if any.
    rank = np.arange(len(wanted)) - np.searchsorted(wanted, wanted, side="left")
    begin = np.searchsorted(first_days, wanted, side="left")
    end = np.searchsorted(first_days, wanted, side="right")
    placed = rank < end - begin
    rows = firsts[(begin + rank)[placed]]
    chosen = by_day[placed]
    departed, reason = extras.chain_departed.copy(), extras.chain_reason.copy()
    departed[rows] = _ordinals([departures[i][1] for i in chosen.tolist()])
    codes = {r: i for i, r in enumerate(DEPARTURE_REASONS)}
    reason[rows] = [codes[departures[i][2]] for i in chosen.tolist()]
    return replace(extras, chain_departed=departed, chain_reason=reason)


_EPOCH: Final = date(1970, 1, 1).toordinal()


def _ordinals(days: Sequence[str]) -> Ints:
    """The ordinals of ISO dates, parsed all at once."""
    found: Ints = np.array(days, dtype="datetime64[D]").astype(np.int64) + _EPOCH
    return found


def _fact_rows(cursor: Any, dialect: Dialect, programme_id: str, as_of: date | None,
               sites: bool, labels: bool = False) -> list[Any]:
    """(facts and extras' head, timeline or None, extras' entries, site, chain,
    labels…) of each duo of the programme (site onwards when asked for), recruited by
    ``as_of`` when given (then with the timeline only where that date needs it)."""
    table = s.DUO_FACTS.name
    extras = "f.evaluation_entries"
    more = ", f.site_id" if sites else ""
    join = ""
    if labels:
        more += (", d.chain_id, COALESCE(st.setting, 'unknown'), d.newcomer_kind, "
                 "d.mentor_kind, d.shift_overlap, d.same_department")
        join = (f" JOIN {s.DUOS.name} d ON d.duo_id = f.duo_id "
                f"LEFT JOIN {s.SITES.name} st ON st.site_id = f.site_id")
    if as_of is None:
        cursor.execute(dialect.sql(
            f"SELECT f.report_facts, f.contact_timeline, {extras}{more} "
            f"FROM {table} f{join} WHERE f.programme_id = ? ORDER BY f.duo_id"),
            (programme_id,))
    else:
        day = as_of.isoformat()
        cursor.execute(dialect.sql(
            f"SELECT f.report_facts, CASE WHEN f.contacts_settled_on > ? THEN "
            f"f.contact_timeline END, {extras}{more} FROM {table} f{join} "
            f"WHERE f.programme_id = ? AND f.recruited_on <= ? ORDER BY f.duo_id"),
            (day, programme_id, day))
    found: list[Any] = cursor.fetchall()
    if labels:
        found = [(*r[:5], *_label_values(r[5:])) for r in found]
    return found


def _label_values(values: Sequence[Any]) -> tuple[str, ...]:
    setting, newcomer_kind, mentor_kind, overlap, department = values
    return (setting, newcomer_kind, *match_labels(
        mentor_kind, None if overlap is None else bool(overlap),
        None if department is None else bool(department)))


def _facts_at(cursor: Any, dialect: Dialect, programme_id: str,
              as_of: date) -> tuple[Ints, PackedExtras]:
    """The facts at ``as_of`` of the programme's duos recruited by then, and their
    extras (as loaded): the facts and extras of those recruited in earlier months from
    their months' report packs, of those recruited in the month of ``as_of`` from a
    pass over the covering index; then instead of the facts of those whose contacts
    settled after ``as_of``, their facts from their contact states of the month of
    ``as_of`` (one short record each, not their timelines). The extras are not in the
    order of the facts."""
    day = as_of.isoformat()
    month = day[:7]
    cursor.execute(dialect.sql(
        f"SELECT report_facts, evaluation_entries FROM {s.REPORT_PACKS.name} "
        "WHERE programme_id = ? AND month < ?"), (programme_id, month))
    packs = cursor.fetchall()
    cursor.execute(dialect.sql(
        f"SELECT {dialect.concatenated('report_facts')}, "
        f"{dialect.concatenated('evaluation_entries')} FROM {s.DUO_FACTS.name} "
        "WHERE programme_id = ? AND recruited_on >= ? AND recruited_on <= ?"),
        (programme_id, f"{month}-01", day))
    packs.append(cursor.fetchone())
    # A pack's (or the month's) facts and entries are in the same order of duos.
    records = _records(b"".join([p[0] for p in packs if p[0] is not None]))
    facts = records[records[:, SETTLED] <= as_of.toordinal(), :FACT_COUNT].astype(np.int64)
    found = PackedExtras.of(records[:, FACT_COUNT:],
                            b"".join([p[1] for p in packs if p[1] is not None]))
    cursor.execute(dialect.sql(
        f"SELECT {dialect.concatenated('contact_states')} FROM {s.DUO_MONTHS.name} "
        "WHERE programme_id = ? AND month = ?"), (programme_id, day[:7]))
    (states,) = cursor.fetchone()
    if states is None:
        return facts, found
    later, kept = month_facts(bytes(states), as_of)
    return np.concatenate([facts, later[kept]]), found


def report_from_db(conn: Any, as_of: date, programme: str | None = None, *,
                   as_at: datetime | str | None = None,
                   tests: bool = False) -> dict[str, Any]:
    """The report of CONTRACT §4 from the tables alone (see :func:`build_report`).

    With ``as_at`` the full read model is loaded (every recorded time is needed);
    without it, only the compact report rows.
    """
    if as_at is not None:
        model = load_read_model(conn, programme)
        if programme is not None and programme not in model.programmes:
            raise UnknownProgramme(f"programme '{programme}' was never opened")
        return build_report(model, as_of, programme, as_at=as_at, tests=tests)
    return build_report(load_report_rows(conn, as_of, programme), as_of, programme,
                        tests=tests)
