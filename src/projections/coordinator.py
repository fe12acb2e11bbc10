"""The coordinator's queries (CONTRACT §3 v2), answered from the materialised views:
the duos needing attention at a date, the mentor pool, and ranked match suggestions.

Each is a few SQL queries: ``attention`` over the duos' attention spans
(``proj_attention_spans``, see :mod:`projections.attention`) and small joins of the
mentors who left the pool and the departures to ``proj_duo_days`` (lifecycle days as
integers, compared alike on SQLite and PostgreSQL); the pool and the suggestions over
``proj_mentors`` and ``proj_duo_days``. Python only finishes the rows the SQL selected.
Every date used is the corrected one (a correction fixes when something happened).

Definitions (each duo judged by its own programme's policy):

- *attention* at ``as_of``: the duos open at ``as_of`` (recruited by then, not closed by
  then) with at least one reason, in this order —
  ``first_meeting_overdue`` (in ``matched``, ``as_of − matched_on >
  first_meeting_within_days``), ``contact_overdue`` (in ``active``, its latest counted
  contact by ``as_of`` — or its activation without one — more than
  ``contact_interval_days`` before ``as_of``), ``review_overdue`` (in ``matched`` or
  ``active``, and the latest window of its monitoring schedule that ended on or before
  ``as_of`` holds fewer reviews than it requires: window k covers ``matched_on + k·R``
  to ``matched_on + (k+1)·R − 1`` with R = ``review_interval_days``; window 0 requires
  ``reviews_first_interval`` reviews, every later one one), ``beyond_max_duration``
  (in ``active`` with more than ``max_duration_days`` active days),
  ``mentor_deregistered`` (in ``matched`` or ``active``, its mentor deregistered on or
  before ``as_of``), ``mentee_departed`` (a departure of its chain dated on or before
  ``as_of``).
- the *mentor pool* at ``as_of``: every mentor registered by then, with the date it
  became trained and the date it left the pool (each when on or before ``as_of``), its
  duos in ``matched`` or ``active`` at ``as_of`` and every duo matched to it by then.
- *suggestions* for a duo in ``selected`` at ``as_of``: see :func:`score` and
  :func:`suggest` (ADR 0029).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Final, NamedTuple

from projections import schema as s
from projections.attention import (
    MENTEE_DEPARTED,
    MENTOR_DEREGISTERED,
    REASONS,
    SHORT,
)
from projections.dialect import Dialect
from projections.report import UnknownProgramme
from projections.views import ACTIVE, MATCHED, RECRUITED, SELECTED


class UnknownDuo(LookupError):
    """The duo was never recruited (in the views)."""


class NotSelected(ValueError):
    """The duo is not in ``selected`` at the date asked about."""


def _state(day: int, selected: int, matched: int, activated: int) -> str:
    """The state at ``day`` of a duo open then."""
    if activated <= day:
        return ACTIVE
    if matched <= day:
        return MATCHED
    return SELECTED if selected <= day else RECRUITED


# ---------------------------------------------------------------------- attention
class AttentionRow(NamedTuple):
    """A duo that needs a coordinator at ``as_of``, and why (a tuple: an attention list
    at 100,000 duos may hold thousands)."""

    duo_id: str
    programme_id: str
    site_id: str
    state: str
    reasons: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"duo_id": self.duo_id, "programme_id": self.programme_id,
                "site_id": self.site_id, "state": self.state, "reasons": list(self.reasons)}


def attention(conn: Any, as_of: date, programme: str | None = None,
              reason: str | None = None) -> list[AttentionRow]:
    """The duos that need a coordinator at ``as_of`` (see the module's definitions),
    ordered by duo id; with ``reason``, only those with that reason.

    Four reasons come from the duos' attention spans (``projections.attention``): the
    short spans holding at ``as_of`` began less than :data:`~projections.attention.SHORT`
    days before it, so both they and the long ones are read by a range of an index,
    never by judging every open duo again; the other two come from the mentors who left
    the pool and the departures recorded by then, joined to their duos. One query per
    programme.

    Raises:
        UnknownProgramme: ``programme`` was never opened.
        ValueError: ``reason`` is not one of :data:`REASONS`.
    """
    if reason is not None and reason not in REASONS:
        raise ValueError(f"unknown reason '{reason}' (one of {', '.join(REASONS)})")
    dialect = Dialect(conn)
    day, text = as_of.toordinal(), as_of.isoformat()
    rows: list[AttentionRow] = []
    order = {r: i for i, r in enumerate(REASONS)}
    with dialect.transaction(write=False) as cursor:
        cursor.execute(f"SELECT programme_id FROM {s.PROGRAMMES.name} ORDER BY programme_id")
        programmes = [row[0] for row in cursor.fetchall()]
        if programme is not None and programme not in programmes:
            raise UnknownProgramme(f"programme '{programme}' was never opened")
        query = dialect.sql(_ATTENTION)
        for programme_id in programmes if programme is None else [programme]:
            cursor.execute(query, (programme_id, day - SHORT, day, day,
                                   programme_id, day, day,
                                   programme_id, text, day, day,
                                   programme_id, text, day, day))
            current: list[Any] = []
            for duo_id, site_id, selected, matched, activated, why in cursor.fetchall():
                if current and current[0] == duo_id:
                    current[5].append(why)
                    continue
                if current:
                    rows.append(_attention_row(programme_id, current, order, day))
                current = [duo_id, site_id, selected, matched, activated, [why]]
            if current:
                rows.append(_attention_row(programme_id, current, order, day))
    rows.sort()
    return [row for row in rows if reason is None or reason in row.reasons]


def _attention_row(programme_id: str, found: list[Any], order: dict[str, int],
                   day: int) -> AttentionRow:
    duo_id, site_id, selected, matched, activated, reasons = found
    return AttentionRow(duo_id, programme_id, site_id,
                        _state(day, selected, matched, activated),
                        (reasons[0],) if len(reasons) == 1
                        else tuple(sorted(set(reasons), key=order.__getitem__)))


_ATTENTION: Final = f"""
    SELECT duo_id, site_id, selected, matched, activated, reason
      FROM {s.ATTENTION_SPANS.name}
      WHERE programme_id = ? AND long = 0 AND start_day > ? AND start_day <= ?
      AND end_day > ?
    UNION ALL
    SELECT duo_id, site_id, selected, matched, activated, reason
      FROM {s.ATTENTION_SPANS.name}
      WHERE programme_id = ? AND long = 1 AND start_day <= ? AND end_day > ?
    UNION ALL
    SELECT d.duo_id, d.site_id, d.selected, d.matched, d.activated, '{MENTOR_DEREGISTERED}'
      FROM {s.MENTORS.name} m JOIN {s.DUO_DAYS.name} d ON d.mentor_id = m.mentor_id
      WHERE m.programme_id = ? AND m.deregistered_on <= ? AND d.matched <= ?
      AND d.closed > ?
    UNION ALL
    SELECT d.duo_id, d.site_id, d.selected, d.matched, d.activated, '{MENTEE_DEPARTED}'
      FROM {s.DEPARTURES.name} x JOIN {s.DUO_DAYS.name} d ON d.chain_id = x.chain_id
      WHERE x.programme_id = ? AND x.single = 0 AND x.departed_on <= ?
      AND d.recruited <= ? AND d.closed > ?
    ORDER BY 1"""
"""Per programme, each duo needing attention at a date once per reason: its spans
holding then (short ones began less than SHORT days before; a departure recorded on a
duo that is its chain alone is one of them), the duos in ``matched`` or ``active`` whose
mentor left the pool by then, and the open duos of the longer chains a departure was
recorded for by then (a mentee's chain stays in one programme: rule 12).
"""


# ---------------------------------------------------------------------- the mentor pool
@dataclass(frozen=True, slots=True)
class PoolRow:
    """A mentor of the pool at ``as_of``."""

    mentor_id: str
    programme_id: str
    site_id: str
    trained_on: str | None
    deregistered_on: str | None
    open_duos: int
    duos: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def mentor_pool(conn: Any, as_of: date, programme: str | None = None) -> list[PoolRow]:
    """Every mentor registered on or before ``as_of`` (also those who left), ordered
    by mentor id.

    Raises:
        UnknownProgramme: ``programme`` was never opened.
    """
    dialect = Dialect(conn)
    day, text = as_of.toordinal(), as_of.isoformat()
    with dialect.transaction(write=False) as cursor:
        _check_programme(cursor, dialect, programme)
        where = "" if programme is None else " AND m.programme_id = ?"
        cursor.execute(dialect.sql(
            f"SELECT m.mentor_id, m.programme_id, m.site_id, m.trained_on, "
            f"m.deregistered_on, "
            f"(SELECT count(*) FROM {s.DUO_DAYS.name} a WHERE a.mentor_id = m.mentor_id "
            f"AND a.matched <= ? AND a.closed > ?), "
            f"(SELECT count(*) FROM {s.DUO_DAYS.name} a WHERE a.mentor_id = m.mentor_id "
            f"AND a.matched <= ?) "
            f"FROM {s.MENTORS.name} m WHERE m.registered_on <= ?{where} "
            f"ORDER BY m.mentor_id"),
            (day, day, day, text) + (() if programme is None else (programme,)))
        return [PoolRow(mentor_id, programme_id, site_id,
                        trained_on if trained_on is not None and trained_on <= text else None,
                        left if left is not None and left <= text else None,
                        open_duos, duos)
                for mentor_id, programme_id, site_id, trained_on, left, open_duos, duos
                in cursor.fetchall()]


def _check_programme(cursor: Any, dialect: Dialect, programme: str | None) -> None:
    if programme is None:
        return
    cursor.execute(dialect.sql(f"SELECT 1 FROM {s.PROGRAMMES.name} WHERE programme_id = ?"),
                   (programme,))
    if cursor.fetchone() is None:
        raise UnknownProgramme(f"programme '{programme}' was never opened")


# ---------------------------------------------------------------------- suggestions
POINTS: Final[dict[str, int]] = {
    "shift_overlap": 40, "same_department": 25, "load": 20, "experience": 10, "peer": 5}
"""The most points each part of the score gives (together 100); see :func:`score`."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A mentor a selected duo can be matched with, its rank and its score."""

    mentor_id: str
    rank: int
    score: int
    reasons: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def score(*, shared_shifts: int, same_department: bool, open_duos: int, max_duos: int,
          years_experience: int, mentor_kind: str) -> dict[str, int]:
    """The points of each part of a mentor's score for one mentee (their sum is the
    score, 0-100):

    - ``shift_overlap``: 40 when mentor and mentee share at least one shift code (they
      can meet on shift, the M4Pris article's first matching criterion);
    - ``same_department``: 25 when their departments are equal;
    - ``load``: ``20 × (max_duos − open_duos) // max_duos``, at least 0 — the room the
      mentor has below ``max_duos_per_mentor``;
    - ``experience``: a point a year of experience, at most 10;
    - ``peer``: 5 when the mentor would mentor as a ``peer`` (not as the newcomer's
      supervisor).
    """
    return {
        "shift_overlap": POINTS["shift_overlap"] if shared_shifts else 0,
        "same_department": POINTS["same_department"] if same_department else 0,
        "load": POINTS["load"] * max(0, max_duos - open_duos) // max_duos,
        "experience": min(years_experience, POINTS["experience"]),
        "peer": POINTS["peer"] if mentor_kind == "peer" else 0,
    }


@dataclass(frozen=True, slots=True)
class _Duo:
    programme_id: str
    site_id: str
    department: str
    shifts: tuple[str, ...]
    mentor_id: str | None
    state: str


def suggest(conn: Any, duo_id: str, as_of: date, *, at_match: bool = False
            ) -> list[Suggestion]:
    """The mentors the duo can be matched with on ``as_of``, best first (ADR 0029).

    The candidates are the mentors ``match`` accepts on that date: same site,
    registered on or before it, not deregistered on or before it, trained on or before
    it when the policy requires it. Each gets :func:`score`; mentors whose open duos
    reach ``max_duos_per_mentor`` come after all others, and within each group the
    order is score (highest first), open duos (fewest first), years of experience
    (most first), then mentor id — a total order, so the ranking is deterministic.
    ``mentor_kind`` is the kind the mentor was last matched as, when the policy
    allows it, else the first kind the policy allows, ``peer`` before ``supervisor``.

    Args:
        at_match: rank as on the morning of the duo's own match (``as_of`` is then its
            ``matched_on``, and the duo is counted in no mentor's load): what the
            chosen mentor's rank and score were when the coordinator matched it.

    Raises:
        UnknownDuo: no such duo.
        NotSelected: the duo is not in ``selected`` at ``as_of`` (with ``at_match``:
            it was never matched).
    """
    dialect = Dialect(conn)
    with dialect.transaction(write=False) as cursor:
        duo, as_of = _suggested_duo(cursor, dialect, duo_id, as_of, at_match)
        day, text = as_of.toordinal(), as_of.isoformat()
        cursor.execute(dialect.sql(
            f"SELECT mentor_kinds, require_trained_mentor, max_duos_per_mentor "
            f"FROM {s.PROGRAMMES.name} WHERE programme_id = ?"), (duo.programme_id,))
        kinds_text, require_trained, max_duos = cursor.fetchone()
        kinds = [k for k in ("peer", "supervisor") if k in kinds_text.split(",")]
        cursor.execute(dialect.sql(
            f"SELECT mentor_id, department, shifts, years_experience FROM {s.MENTORS.name} "
            "WHERE site_id = ? AND programme_id = ? AND registered_on <= ? "
            "AND (deregistered_on IS NULL OR deregistered_on > ?) "
            # A forgotten mentor (ADR 35) cannot be matched (rule 16).
            "AND years_experience IS NOT NULL "
            "AND (? = 0 OR trained_on <= ?) ORDER BY mentor_id"),
            (duo.site_id, duo.programme_id, text, text, int(bool(require_trained)), text))
        mentors = cursor.fetchall()
        loads, last_kinds = _loads(cursor, dialect, [m[0] for m in mentors], day,
                                   duo_id if at_match else None)
    ranked = []
    for mentor_id, department, shifts_text, years in mentors:
        shared = sorted(set(duo.shifts) & set(shifts_text.split(",") if shifts_text else ()))
        open_duos = loads.get(mentor_id, 0)
        last = last_kinds.get(mentor_id)
        kind = last if last in kinds else kinds[0]
        same_department = department is not None and department == duo.department
        points = score(shared_shifts=len(shared), same_department=same_department,
                       open_duos=open_duos, max_duos=max_duos, years_experience=years,
                       mentor_kind=kind)
        reasons = {"shift_overlap": bool(shared), "shared_shifts": shared,
                   "same_department": same_department, "open_duos": open_duos,
                   "max_duos_per_mentor": max_duos, "years_experience": years,
                   "mentor_kind": kind, "points": points}
        if at_match:
            reasons["chosen"] = mentor_id == duo.mentor_id
        total = sum(points.values())
        ranked.append(((open_duos >= max_duos, -total, open_duos, -years, mentor_id),
                       mentor_id, total, reasons))
    ranked.sort(key=lambda r: r[0])
    return [Suggestion(mentor_id, rank, total, reasons)
            for rank, (_, mentor_id, total, reasons) in enumerate(ranked, start=1)]


def _suggested_duo(cursor: Any, dialect: Dialect, duo_id: str, as_of: date,
                   at_match: bool) -> tuple[_Duo, date]:
    cursor.execute(dialect.sql(
        f"SELECT programme_id, site_id, department, shifts, mentor_id, selected_on, "
        f"matched_on, closed_on FROM {s.DUOS.name} WHERE duo_id = ?"), (duo_id,))
    found = cursor.fetchone()
    if found is None:
        raise UnknownDuo(f"duo '{duo_id}' does not exist")
    programme_id, site_id, department, shifts, mentor_id, selected, matched, closed = found
    if at_match:
        if matched is None:
            raise NotSelected(f"duo '{duo_id}' was never matched")
        as_of = date.fromisoformat(matched)
        state = SELECTED
    else:
        text = as_of.isoformat()
        open_then = closed is None or closed > text
        state = (SELECTED if selected is not None and selected <= text and open_then
                 and (matched is None or matched > text) else "other")
        if state != SELECTED:
            raise NotSelected(f"duo '{duo_id}' is not in 'selected' on {text}")
    return _Duo(programme_id, site_id, department,
                tuple(shifts.split(",")) if shifts else (), mentor_id, state), as_of


def _loads(cursor: Any, dialect: Dialect, mentor_ids: list[str], day: int,
           leave_out: str | None) -> tuple[dict[str, int], dict[str, str]]:
    """Each mentor's duos in ``matched`` or ``active`` at ``day`` (but ``leave_out``),
    and the kind the mentor was last matched as by then."""
    loads: dict[str, int] = {}
    kinds: dict[str, str] = {}
    if not mentor_ids:
        return loads, kinds
    marks = ", ".join("?" * len(mentor_ids))
    cursor.execute(dialect.sql(
        f"SELECT a.mentor_id, a.matched, a.closed, a.duo_id, a.mentor_kind "
        f"FROM {s.DUO_DAYS.name} a WHERE a.mentor_id IN ({marks}) AND a.matched <= ? "
        f"ORDER BY a.mentor_id, a.matched, a.duo_id"), (*mentor_ids, day))
    for mentor_id, _, closed, duo_id, kind in cursor.fetchall():
        if duo_id == leave_out:
            continue
        if closed > day:
            loads[mentor_id] = loads.get(mentor_id, 0) + 1
        kinds[mentor_id] = kind
    return loads, kinds


# ---------------------------------------------------------------------- chains
@dataclass(frozen=True, slots=True)
class ChainRow:
    """One mentee's chain of duos: its first duo, first recruitment and departure."""

    chain_id: str
    programme_id: str
    first_recruited_on: str
    departed_on: str | None
    departure_reason: str | None
    departure_duo_id: str | None


def load_chains(conn: Any, programme: str | None = None) -> list[ChainRow]:
    """Every chain (a chain belongs to the programme of its first duo), ordered by its
    first duo's id, with the (corrected) date its first duo was recruited and its
    departure from the service, if one was recorded."""
    dialect = Dialect(conn)
    where = "" if programme is None else " AND r.programme_id = ?"
    with dialect.transaction(write=False) as cursor:
        cursor.execute(dialect.sql(
            f"SELECT r.duo_id, r.programme_id, r.recruited_on, x.departed_on, x.reason, "
            f"x.duo_id FROM {s.DUOS.name} r LEFT JOIN {s.DEPARTURES.name} x "
            f"ON x.chain_id = r.duo_id WHERE r.chain_id = r.duo_id{where} ORDER BY r.duo_id"),
            () if programme is None else (programme,))
        return [ChainRow(*row) for row in cursor.fetchall()]


__all__ = ["REASONS", "AttentionRow", "ChainRow", "NotSelected", "PoolRow",
           "Suggestion", "UnknownDuo", "attention", "load_chains", "mentor_pool", "score",
           "suggest"]
