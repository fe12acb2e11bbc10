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

The same counts, month by month (:func:`month_states`), let a report as of a date
before ``settled`` read one short record per duo instead of its whole timeline: for
each month from the duo's recruitment to ``settled``, a header of two lines of
:data:`STATE_INTS` int32 (:data:`HEADER_MARK`, facts 0-4; ``settled``, facts 5-6, zeros),
then one state line (day, contacts, psychosocial, career, minutes, last contact) at
the last day of the month before, and one at each day of the month the counts changed.
The counts at any ``as_of`` of that month are those of the last state dated by
``as_of``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import date
from itertools import chain
from operator import itemgetter
from typing import Final

from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import CloseReason
from projections.views import STATES, DuoView, as_recorded

NEVER: Final = 2**31 - 1
"""The day of a thing that has not happened."""

CLOSE_REASONS: Final[tuple[str, ...]] = tuple(r.value for r in CloseReason)
OPEN_STATES: Final[tuple[str, ...]] = STATES[:-1]
"""Every state but ``closed``, in lifecycle order (a closed duo's ``closed_from``)."""
ACTIVE: Final = OPEN_STATES.index(DuoState.ACTIVE.value)
DROPOUT_CODES: Final = frozenset(
    i for i, reason in enumerate(CloseReason) if reason.is_dropout)
PSYCHOSOCIAL: Final = 1
CAREER: Final = 2

FACT_COUNT: Final = 13
FACTS: Final = struct.Struct(f"<{FACT_COUNT}i")
CONTACT_INTS: Final = 4
CONTACT: Final = struct.Struct(f"<{CONTACT_INTS}i")

_RETRACTED: Final = itemgetter(1)

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

    With ``as_at``, a lifecycle step, contact or retraction recorded later is left out,
    and a correction recorded later is undone.
    """
    if as_at is not None:
        duo = as_recorded(duo, as_at)
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
    # The timeline, then the counts of contacts_at(timeline, NEVER - 1), the contacts
    # never retracted, in one pass over its entries (a rebuild runs this for every duo).
    days = _DAYS
    timeline: list[TimelineEntry] = [
        (days.get(c.occurred_on) or day(c.occurred_on),
         NEVER if c.retracted_on is None else _day_or_never(c.retracted_on, c.retracted_at,
                                                            as_at),
         (PSYCHOSOCIAL if c.psychosocial else 0) | (CAREER if c.career else 0), c.minutes)
        for c in duo.contacts.values() if as_at is None or c.recorded_at <= as_at]
    timeline.sort()
    n = psy = car = minutes = last = settled = 0
    for on, retracted, bits, spent in timeline:
        if retracted == NEVER:
            n += 1
            psy += bits & PSYCHOSOCIAL
            car += bits >> 1
            minutes += spent
            last = on  # (in day order)
        elif retracted > settled:
            settled = retracted
    if last > settled:
        settled = last
    return (recruited, selected, matched, activated, closed, reason, closed_from,
            n, psy, car, minutes, last, settled), timeline


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


STATE_INTS: Final = 6
"""Int32 per state (and per header line) of a month's contact states."""
HEADER_LINES: Final = 2
HEADER_MARK: Final = -1
"""The first int32 of a month's header (a state's is its day): it tells where each
duo's record begins in many of them joined together."""
HEADER_FACTS: Final = (1, 2, 3, 4, 5, 7, 8)
"""Where facts 0-6 are in a month's header."""
HEADER_SETTLED: Final = 6
"""Where ``settled`` is in a month's header."""


State = tuple[int, int, int, int, int, int]
"""Day, contacts, psychosocial, career, minutes, last contact day."""
_NO_COUNTS: Final = (0, 0, 0, 0, 0)


def month_states(facts: Facts, timeline: Timeline,
                 states: Sequence[State] | None = None) -> list[tuple[str, bytes]]:
    """The duo's contact states month by month (``YYYY-MM``, packed), for the months
    from its recruitment to ``settled``; none when it has no contact.

    Each contact counts from its day, and stops counting on the day it is retracted,
    as in :func:`contacts_at`: the states are those counts at each day they change
    (:func:`timeline_states` of ``timeline``, given as ``states`` when already known).
    """
    recruited, settled = facts[0], facts[12]
    if not settled or settled < recruited:
        return []
    if states is None:
        states = timeline_states(timeline)
    header = [0] * (STATE_INTS * HEADER_LINES)
    header[0], header[HEADER_SETTLED] = HEADER_MARK, settled
    for at, fact in zip(HEADER_FACTS, facts[:7], strict=True):
        header[at] = fact
    head = _packer(len(header)).pack(*header)  # the same in every month
    months: list[tuple[str, bytes]] = []
    step, count, label, start, end = 0, len(states), *_month(recruited)
    while start <= settled:
        while step < count and states[step][0] < start:
            step += 1
        # The counts at the end of the month before: the last state before it.
        ints = [start - 1, *(states[step - 1][1:] if step else _NO_COUNTS)]
        while step < count and states[step][0] < end:
            ints += states[step]
            step += 1
        months.append((label, head + _packer(len(ints)).pack(*ints)))
        label, start, end = _month(end)
    return months


def contact_states(timeline: Timeline) -> list[tuple[int, int]]:
    """(day, latest contact counted from that day, 0 for none) at each day the counted
    contacts change, in day order (``timeline`` is sorted)."""
    return [(state[0], state[5]) for state in timeline_states(timeline)]


def timeline_states(timeline: Timeline) -> list[State]:
    """The counts at each day they change, in day order (``timeline`` is sorted)."""
    states: list[State] = []
    n = psy = car = minutes = 0
    # (No day is later than NEVER: the least retraction day is NEVER when none is.)
    if not timeline or min(map(_RETRACTED, timeline)) == NEVER:
        # The usual duo: every contact counts from its day on, and is the latest then
        # (a rebuild runs this for every duo: one state per day, replaced in place).
        append, previous = states.append, 0
        for on, _, bits, spent in timeline:
            n += 1
            psy += bits & PSYCHOSOCIAL
            car += bits >> 1
            minutes += spent
            if on == previous:
                states[-1] = (on, n, psy, car, minutes, on)
            else:
                append((on, n, psy, car, minutes, on))
                previous = on
        return states
    changes: dict[int, list[tuple[int, TimelineEntry]]] = {}
    for entry in timeline:
        changes.setdefault(entry[0], []).append((1, entry))
        if entry[1] != NEVER:
            changes.setdefault(entry[1], []).append((-1, entry))
    counted: dict[int, int] = {}  # days of the contacts counting now, how many on each
    for at in sorted(changes):
        removed = False
        for sign, (on, _, bits, spent) in changes[at]:
            n += sign
            psy += sign * (bits & PSYCHOSOCIAL)
            car += sign * (bits >> 1)
            minutes += sign * spent
            counted[on] = counted.get(on, 0) + sign
            if sign < 0:
                removed = True
                if not counted[on]:
                    del counted[on]
        # A contact added today is the latest; a retraction may uncover an older one.
        states.append((at, n, psy, car, minutes, max(counted, default=0) if removed else at))
    return states


_MONTHS: dict[int, tuple[str, int, int]] = {}


def _month(ordinal: int) -> tuple[str, int, int]:
    """The month of a day: ``YYYY-MM``, its first day and the next month's (memoised)."""
    found = _MONTHS.get(ordinal)
    if found is None:
        first = date.fromordinal(ordinal).replace(day=1)
        following = (first.replace(year=first.year + 1, month=1) if first.month == 12
                     else first.replace(month=first.month + 1))
        found = _MONTHS[ordinal] = (first.isoformat()[:7], first.toordinal(),
                                    following.toordinal())
    return found


_PACKERS: dict[int, struct.Struct] = {}


def _packer(ints: int) -> struct.Struct:
    found = _PACKERS.get(ints)
    if found is None:
        found = _PACKERS[ints] = struct.Struct(f"<{ints}i")
    return found


def pack_facts(facts: Facts) -> bytes:
    return FACTS.pack(*facts)


def unpack_facts(blob: bytes) -> Facts:
    facts: Facts = FACTS.unpack(blob)
    return facts


def pack_timeline(timeline: Timeline) -> bytes:
    return struct.pack(f"<{CONTACT_INTS * len(timeline)}i", *chain.from_iterable(timeline))


def unpack_timeline(blob: bytes) -> list[TimelineEntry]:
    return list(CONTACT.iter_unpack(blob))
