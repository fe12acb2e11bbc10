"""A duo reduced to the integers the report needs: its *facts* and contact *timeline*.

The report (:mod:`projections.report`) runs one tight loop over these, for any
``as_of``, with no date parsing. Dates are proleptic Gregorian ordinals
(``date.toordinal()``); an absent date is :data:`NEVER`, later than any real one, so
``day <= as_of`` needs no test for None.

Facts (:data:`FACTS`, 13 little-endian int32):

====  ================  =====================================================
 idx  name              meaning
====  ================  =====================================================
   0  recruited         recruitment date
   1  selected          selection date or NEVER
   2  matched           matching date or NEVER
   3  activated         activation (first meeting) date or NEVER
   4  closed            closing date or NEVER
   5  close_reason      index in :data:`CLOSE_REASONS`, -1 while open
   6  closed_from       index in :data:`OPEN_STATES`, -1 while open
   7  contacts          contacts not retracted (at ``settled`` and later)
   8  psychosocial      of those, naming the psychosocial function
   9  career            of those, naming the career function
  10  minutes           their minutes
  11  last_contact      date of the latest of them, 0 when none
  12  settled           latest date of any contact or retraction, 0 when none
====  ================  =====================================================

For ``as_of >= settled`` the contact counts 7-11 hold as they are; for an earlier
``as_of`` they are recounted from the timeline: one (day, retracted day or NEVER,
function bits, minutes) entry per contact (:data:`CONTACT`, 4 int32), sorted.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import date
from typing import Final

from lifecycle.domain.vocabulary import CloseReason
from projections.views import DuoView

NEVER: Final = 2**31 - 1
"""The day of a thing that has not happened."""

CLOSE_REASONS: Final[tuple[str, ...]] = tuple(r.value for r in CloseReason)
OPEN_STATES: Final[tuple[str, ...]] = ("recruited", "selected", "matched", "active")
ACTIVE: Final = OPEN_STATES.index("active")
DROPOUT_CODES: Final = frozenset(
    i for i, reason in enumerate(CloseReason) if reason.is_dropout)
PSYCHOSOCIAL: Final = 1
CAREER: Final = 2

FACTS: Final = struct.Struct("<13i")
CONTACT: Final = struct.Struct("<4i")

Facts = tuple[int, int, int, int, int, int, int, int, int, int, int, int, int]
TimelineEntry = tuple[int, int, int, int]
Timeline = Sequence[TimelineEntry]

_DAYS: dict[str, int] = {}


def day(iso: str) -> int:
    """The ordinal of an ISO date (memoised: a store holds few distinct dates)."""
    found = _DAYS.get(iso)
    if found is None:
        found = _DAYS[iso] = date.fromisoformat(iso).toordinal()
    return found


_ISO: dict[int, str] = {}


def iso_day(ordinal: int) -> str | None:
    """The ISO date of an ordinal; None for 0 (no date)."""
    if not ordinal:
        return None
    found = _ISO.get(ordinal)
    if found is None:
        found = _ISO[ordinal] = date.fromordinal(ordinal).isoformat()
    return found


def _day_or_never(iso: str | None, at: str | None, as_at: str | None) -> int:
    if iso is None or (as_at is not None and at is not None and at > as_at):
        return NEVER
    return day(iso)


def duo_facts(duo: DuoView, as_at: str | None = None) -> tuple[Facts, Timeline]:
    """The duo's facts and timeline, as recorded by ``as_at`` (canonical text) if given.

    With ``as_at``, a lifecycle step, contact or retraction recorded later is left out.
    """
    recruited = day(duo.recruited_on)
    selected = _day_or_never(duo.selected_on, duo.selected_at, as_at)
    matched = _day_or_never(duo.matched_on, duo.matched_at, as_at)
    activated = _day_or_never(duo.activated_on, duo.activated_at, as_at)
    closed = _day_or_never(duo.closed_on, duo.closed_at, as_at)
    if closed == NEVER:
        reason = closed_from = -1
    else:
        reason = CLOSE_REASONS.index(duo.close_reason or "")
        closed_from = OPEN_STATES.index(duo.closed_from or "")
    timeline: list[TimelineEntry] = []
    for c in duo.contacts.values():
        if as_at is not None and c.recorded_at > as_at:
            continue
        bits = (PSYCHOSOCIAL if c.psychosocial else 0) | (CAREER if c.career else 0)
        timeline.append((day(c.occurred_on), _day_or_never(c.retracted_on, c.retracted_at,
                                                           as_at), bits, c.minutes))
    timeline.sort()
    settled = 0
    for on, retracted, _, _ in timeline:
        settled = max(settled, on if retracted == NEVER else retracted)
    counted = contacts_at(timeline, NEVER - 1)
    return (recruited, selected, matched, activated, closed, reason, closed_from,
            *counted, settled), timeline


def contacts_at(timeline: Timeline | bytes, as_of: int) -> tuple[int, int, int, int, int]:
    """(contacts, psychosocial, career, minutes, last day) counted at ``as_of``.

    A contact counts when it occurred by ``as_of`` and was not retracted by then.
    """
    entries = CONTACT.iter_unpack(timeline) if isinstance(timeline, bytes) else timeline
    n = psy = car = minutes = last = 0
    for on, retracted, bits, spent in entries:
        if on <= as_of < retracted:
            n += 1
            psy += bits & PSYCHOSOCIAL
            car += bits >> 1
            minutes += spent
            if on > last:
                last = on
    return n, psy, car, minutes, last


def pack_facts(facts: Facts) -> bytes:
    return FACTS.pack(*facts)


def unpack_facts(blob: bytes) -> Facts:
    facts: Facts = FACTS.unpack(blob)
    return facts


def pack_timeline(timeline: Timeline) -> bytes:
    return b"".join(CONTACT.pack(*entry) for entry in timeline)


def unpack_timeline(blob: bytes) -> list[TimelineEntry]:
    return list(CONTACT.iter_unpack(blob))
