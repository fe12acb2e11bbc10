"""The report of CONTRACT §4, and breakdowns beyond it.

Everything is computed from per-duo :mod:`facts <projections.facts>` in one loop, from
either the in-memory read model (:class:`~projections.views.ReadModel`) or rows loaded
from the materialised tables (:class:`ReportRows`, see :func:`projections.sql.load_report_rows`).
The result does not depend on the order of the duos, so a rebuilt read model gives the
same bytes.

Number formats follow Python's ``statistics`` module, as the contract's worked example
does: a median of an odd count of whole days is an int, of an even count a float (the
mean of the two middle values); a mean of whole days is an int when it is whole; rates,
per-30-day frequencies and survival estimates are floats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

from lifecycle.domain.vocabulary import DROPOUT_REASONS
from projections import survival
from projections.facts import (
    ACTIVE,
    CLOSE_REASONS,
    DROPOUT_CODES,
    FACTS,
    OPEN_STATES,
    Facts,
    Timeline,
    contacts_at,
    duo_facts,
)
from projections.views import ReadModel, canonical_timestamp

SURVIVAL_DAYS: Final = (30, 90, 182, 365)
BENCHMARK_MINUTES: Final = 240
"""MENTOR's benchmark: at least four hours of contact per month (30 days)."""

Breakdown = Literal["programme", "site", "country", "month"]
BREAKDOWNS: Final[tuple[str, ...]] = ("programme", "site", "country", "month")

Row = tuple[Facts | bytes, Timeline | bytes | None]
"""One duo: its facts (or their packed bytes) and its contact timeline (or its packed
bytes; None when it is not needed for the ``as_of`` the rows were loaded for)."""


class UnknownProgramme(LookupError):
    """The programme was never opened in the store."""


@dataclass(frozen=True)
class ProgrammeRows:
    """The duos of one programme, as report rows.

    Attributes:
        programme_id: the programme.
        country: its country.
        contact_interval_days: its policy's contact interval.
        rows: one :data:`Row` per duo.
        sites: the site of each row (same order), when loaded.
    """

    programme_id: str
    country: str
    contact_interval_days: int
    rows: Sequence[Row]
    sites: Sequence[str] | None = None


@dataclass(frozen=True)
class ReportRows:
    """Report rows of every programme in the store.

    Attributes:
        programmes: the rows of each programme (every programme of the store is a key,
            also when a filter left its rows out).
        loaded_for: the ``as_of`` the rows were loaded for (timelines only where that
            date needs them, duos recruited later left out), or None when complete.
    """

    programmes: Mapping[str, ProgrammeRows]
    loaded_for: date | None = None


Source = ReadModel | ReportRows


def report_rows(model: ReadModel, programme: str | None = None,
                as_at: datetime | str | None = None) -> ReportRows:
    """The read model as report rows (complete), as recorded by ``as_at`` if given."""
    stamp = None if as_at is None else canonical_timestamp(as_at)
    grouped: dict[str, tuple[list[Row], list[str]]] = {p: ([], []) for p in model.programmes}
    for duo in model.duos.values():
        if programme is not None and duo.programme_id != programme:
            continue
        if stamp is not None and duo.recruited_at > stamp:
            continue
        group = grouped.get(duo.programme_id)
        if group is None:
            raise UnknownProgramme(f"duo '{duo.duo_id}' names unknown programme "
                                   f"'{duo.programme_id}'")
        group[0].append(duo_facts(duo, stamp))
        group[1].append(duo.site_id)
    return ReportRows({
        p: ProgrammeRows(p, view.country, view.contact_interval_days, *grouped[p])
        for p, view in model.programmes.items()
    })


def _rows_of(source: Source, as_of: date, programme: str | None,
             as_at: datetime | str | None) -> list[ProgrammeRows]:
    known: Mapping[str, object]
    if isinstance(source, ReadModel):
        known = source.programmes
        rows = report_rows(source, programme, as_at)
    else:
        if as_at is not None:
            raise ValueError("as_at needs the read model, not report rows")
        if source.loaded_for is not None and source.loaded_for != as_of:
            raise ValueError(f"rows were loaded for as_of {source.loaded_for}, not {as_of}")
        known, rows = source.programmes, source
    if programme is not None:
        if programme not in known:
            raise UnknownProgramme(f"programme '{programme}' was never opened")
        return [rows.programmes[programme]]
    return list(rows.programmes.values())


def summary(values: list[int] | list[float], *, whole: bool) -> dict[str, Any]:
    """``{"n", "median", "mean"}`` of ``values`` (sorted in place); nulls when empty.

    Args:
        values: the observations.
        whole: the values are ints (an exact mean that is whole stays an int).
    """
    n = len(values)
    if n == 0:
        return {"n": 0, "median": None, "mean": None}
    values.sort()
    mid = n // 2
    median = values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2
    mean: float | int
    if whole:
        total = sum(values)
        mean = total // n if total % n == 0 else total / n
    else:
        mean = math.fsum(values) / n
    return {"n": n, "median": median, "mean": mean}


class _Tally:
    """Running totals of every metric over some duos at one ``as_of``."""

    def __init__(self, as_of: date) -> None:
        self.as_of = as_of
        self.by_state = [0] * 5
        self.to_match: list[int] = []
        self.to_meeting: list[int] = []
        self.relationship: list[int] = []
        self.per_30: list[float] = []
        self.minutes_per_30: list[float] = []
        self.survival: list[tuple[int, bool]] = []
        self.stage = [0] * len(OPEN_STATES)
        self.reasons = [0] * len(CLOSE_REASONS)
        self.contacts = self.psychosocial = self.career = self.minutes = 0
        self.overdue = 0

    def add(self, rows: Iterable[Row], interval: int) -> None:
        """Count ``rows`` (duos of one programme with contact interval ``interval``)."""
        day = self.as_of.toordinal()
        unpack = FACTS.unpack
        by_state, stage, reasons = self.by_state, self.stage, self.reasons
        to_match, to_meeting = self.to_match, self.to_meeting
        relationship, observations = self.relationship, self.survival
        per_30, minutes_per_30 = self.per_30, self.minutes_per_30
        contacts = psychosocial = career = minutes = overdue = 0
        for facts, timeline in rows:
            if facts.__class__ is bytes:
                facts = unpack(facts)
            (recruited, selected, matched, activated, closed, reason, closed_from,
             n, psy, car, spent, last, settled) = facts
            if recruited > day:
                continue
            if settled > day:
                if timeline is None:
                    raise ValueError("a timeline is missing: rows loaded for another as_of")
                n, psy, car, spent, last = contacts_at(timeline, day)
            contacts += n
            psychosocial += psy
            career += car
            minutes += spent
            if matched <= day:
                to_match.append(matched - recruited)
            is_closed = closed <= day
            dropped = False
            if is_closed:
                by_state[4] += 1
                if closed_from == ACTIVE:
                    relationship.append(closed - activated)
                if reason in DROPOUT_CODES:
                    stage[closed_from] += 1
                    reasons[reason] += 1
                    dropped = closed_from == ACTIVE
            if activated <= day:
                to_meeting.append(activated - matched)
                if is_closed:
                    active_days = closed - activated
                else:
                    by_state[3] += 1
                    active_days = day - activated
                    if day - (last if last > activated else activated) > interval:
                        overdue += 1
                observations.append((active_days, dropped))
                if active_days > 0:
                    per_30.append(n * 30 / active_days)
                    minutes_per_30.append(spent * 30 / active_days)
            elif not is_closed:
                by_state[2 if matched <= day else 1 if selected <= day else 0] += 1
        self.contacts += contacts
        self.psychosocial += psychosocial
        self.career += career
        self.minutes += minutes
        self.overdue += overdue

    def sections(self) -> dict[str, Any]:
        """The report's sections (everything but ``as_of``), in the contract's order."""
        total = sum(self.by_state)
        dropouts = sum(self.stage)
        curve = survival.fit(self.survival)
        return {
            "duos": {"total": total,
                     "by_state": dict(zip((*OPEN_STATES, "closed"), self.by_state,
                                          strict=True))},
            "duration": {
                "time_to_match_days": summary(self.to_match, whole=True),
                "time_to_first_meeting_days": summary(self.to_meeting, whole=True),
                "relationship_days": summary(self.relationship, whole=True),
            },
            "contact_frequency": {
                "contacts": self.contacts,
                "by_function": {"psychosocial": self.psychosocial, "career": self.career},
                "contacts_per_30_days": summary(self.per_30, whole=False),
                "overdue_active_duos": self.overdue,
            },
            "dropouts": {
                "count": dropouts,
                "rate": dropouts / total if total else None,
                "by_stage": dict(zip(OPEN_STATES, self.stage, strict=True)),
                "by_reason": {r.value: self.reasons[CLOSE_REASONS.index(r.value)]
                              for r in DROPOUT_REASONS},
                "survival": {str(t): curve.at(t) for t in SURVIVAL_DAYS},
            },
        }

    def minutes_section(self) -> dict[str, Any]:
        """Contact minutes per 30 active days against MENTOR's 240-minute benchmark."""
        meeting = sum(1 for v in self.minutes_per_30 if v >= BENCHMARK_MINUTES)
        n = len(self.minutes_per_30)
        return {
            "minutes": self.minutes,
            "benchmark_minutes_per_30_days": BENCHMARK_MINUTES,
            "minutes_per_30_days": summary(self.minutes_per_30, whole=False),
            "duos_meeting_benchmark": meeting,
            "share_meeting_benchmark": meeting / n if n else None,
        }


def _tally(source: Source, as_of: date, programme: str | None,
           as_at: datetime | str | None) -> _Tally:
    tally = _Tally(as_of)
    for group in _rows_of(source, as_of, programme, as_at):
        tally.add(group.rows, group.contact_interval_days)
    return tally


def build_report(source: Source, as_of: date, programme: str | None = None, *,
                 as_at: datetime | str | None = None) -> dict[str, Any]:
    """The report of CONTRACT §4, key for key.

    Args:
        source: the read model, or report rows loaded from the materialised tables.
        as_of: only what happened by this business date counts.
        programme: restrict to this programme.
        as_at: only what had been recorded by this time counts (read model only).

    Raises:
        UnknownProgramme: ``programme`` was never opened in the store.
        ValueError: rows loaded for another ``as_of``, or ``as_at`` with rows.
    """
    return {"as_of": as_of.isoformat(), **_tally(source, as_of, programme, as_at).sections()}


def contact_minutes(source: Source, as_of: date, programme: str | None = None, *,
                    as_at: datetime | str | None = None) -> dict[str, Any]:
    """Contact minutes per 30 active days (activated duos with an active day) against
    MENTOR's benchmark of at least 240 minutes a month; arguments as :func:`build_report`.
    """
    tally = _tally(source, as_of, programme, as_at)
    return {"as_of": as_of.isoformat(), **tally.minutes_section()}


_MONTHS: dict[int, str] = {}


def _month(ordinal: int) -> str:
    found = _MONTHS.get(ordinal)
    if found is None:
        found = _MONTHS[ordinal] = date.fromordinal(ordinal).isoformat()[:7]
    return found


def build_breakdown(source: Source, as_of: date, by: Breakdown,
                    programme: str | None = None, *,
                    as_at: datetime | str | None = None) -> dict[str, Any]:
    """The report's sections (and contact minutes) per programme, site, country or
    recruitment month (``YYYY-MM``), for the duos recruited by ``as_of``.

    Returns:
        ``{"as_of", "by", "groups": {key: sections}}`` with keys in sorted order.

    Raises:
        ValueError: an unknown ``by``, or site breakdown of rows loaded without sites.
    """
    if by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown '{by}' (one of {', '.join(BREAKDOWNS)})")
    day = as_of.toordinal()
    parts: dict[str, list[tuple[list[Row], int]]] = {}
    for group in _rows_of(source, as_of, programme, as_at):
        if by in ("programme", "country"):
            key = group.programme_id if by == "programme" else group.country
            parts.setdefault(key, []).append((list(group.rows), group.contact_interval_days))
            continue
        if by == "site" and group.sites is None:
            raise ValueError("site breakdown needs rows loaded with their sites")
        split: dict[str, list[Row]] = {}
        for i, row in enumerate(group.rows):
            facts = row[0]
            recruited = FACTS.unpack(facts)[0] if isinstance(facts, bytes) else facts[0]
            if recruited > day:
                continue
            key = group.sites[i] if group.sites is not None and by == "site" else (
                _month(recruited))
            split.setdefault(key, []).append(row)
        for key, rows in split.items():
            parts.setdefault(key, []).append((rows, group.contact_interval_days))
    groups: dict[str, Any] = {}
    for key in sorted(parts):
        tally = _Tally(as_of)
        for rows, interval in parts[key]:
            tally.add(rows, interval)
        if sum(tally.by_state) == 0:
            continue
        groups[key] = {**tally.sections(), "contact_minutes": tally.minutes_section()}
    return {"as_of": as_of.isoformat(), "by": by, "groups": groups}
