"""What the report's evaluation sections need of each duo beyond its report facts.

:class:`DuoExtras` holds it as arrays, one entry per duo of one programme. Each duo's
extras carry every day the sections compare with ``as_of`` (its recruitment, the close
that held an exit interview, its reviews, the monitoring windows it met, its survey
pairs), so that no section needs to line them up with the duo's facts: rows loaded for
one ``as_of`` read them in an order of their own (see
:func:`projections.loading.load_report_rows`). They are built from the read model's
records (:func:`extras_from_views`, also as recorded by an ``as_at``, with the
definitions of :mod:`projections.evaluation`) or from the materialised tables, where
each duo's extras are two packed records in columns of their own
(:func:`pack_extras`, worked out when the duo changes, with its programme's policy;
read back for many duos at once, each record joined in the same order of the duos by
the database, as :class:`PackedExtras`):

===========  ===============================================================
 record      little-endian int32
===========  ===============================================================
 head        5: the day the duo was recruited; 1 when it is the first of its
             mentee's chain, else 0; the day and reason (index in
             ``DEPARTURE_REASONS``) of a departure recorded on the duo when it
             is the first of its chain, else NEVER and -1; E, the length below
 entries     E entries ``day << 9 | counter``, ascending: what the duo adds
             to the monitoring, closure and survey sections from that day on
             (see :func:`projections.evaluation.entries`)
===========  ===============================================================

Days are proleptic Gregorian ordinals. The sections at an ``as_of`` only count the
entries of each counter dated by then: nothing is decoded but one comparison and one
count per entry. A chain's departure recorded on a later duo of the chain is not in
its first duo's record (the fold never writes one duo's record for another's event,
so a rebuild can fold ranges of duos apart): it is joined at loading.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from projections.evaluation import (
    CHANGES,
    DAY_SHIFT,
    DEPARTURE_REASONS,
    ERASED,
    EXIT_INTERVIEW,
    HEALTHS,
    LAST_DAY,
    MAX_CHANGE,
    MET,
    PHASES,
    RESPONDENTS,
    REVIEWED,
    Chains,
    Ints,
    Lifecycle,
    Policies,
    Reviews,
    Surveys,
    counted,
    entries,
    pairs,
    schedule,
)
from projections.facts import FACT_COUNT, NEVER, Facts
from projections.facts import day as ordinal
from projections.views import DuoView, ProgrammeView, SurveyView


def _empty() -> Ints:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class PolicyDays:
    """The policy values of one programme that the evaluation sections use."""

    first_meeting_within_days: int = 14
    min_duration_days: int = 182
    max_duration_days: int = 365
    reviews_first_interval: int = 2
    review_interval_days: int = 30

    @classmethod
    def of(cls, view: ProgrammeView) -> PolicyDays:
        """The values of a programme's policy."""
        return cls(view.first_meeting_within_days, view.min_duration_days,
                   view.max_duration_days, view.reviews_first_interval,
                   view.review_interval_days)

    def arrays(self, n: int) -> Policies:
        """The values repeated for ``n`` duos."""
        return Policies(*(np.full(n, value, dtype=np.int64) for value in (
            self.first_meeting_within_days, self.min_duration_days,
            self.max_duration_days, self.reviews_first_interval,
            self.review_interval_days)))


@dataclass(frozen=True)
class DuoExtras:
    """What the evaluation sections need of some duos beyond their report facts, one
    entry per duo (a *row* of these extras).

    Attributes:
        recruited: the day the duo was recruited.
        first_of_chain: the duo is the first of its mentee's chain.
        chain: a number shared by the duos of one chain (within these rows).
        chain_departed: the day the chain's mentee left the service (NEVER: no
            departure recorded), on the first duo of the chain at least.
        chain_reason: that departure's reason (index in :data:`DEPARTURE_REASONS`, -1).
        entry_count: how many of ``entries`` each row has.
        entries: the rows' entries (see :func:`projections.evaluation.entries`), row
            after row.
    """

    recruited: Ints
    first_of_chain: npt.NDArray[np.bool_]
    chain: Ints
    chain_departed: Ints
    chain_reason: Ints
    entry_count: Ints
    entries: npt.NDArray[np.int32] | Ints

    @classmethod
    def empty(cls) -> DuoExtras:
        return cls(_empty(), np.empty(0, dtype=bool), _empty(), _empty(), _empty(),
                   _empty(), _empty())

    def __len__(self) -> int:
        return len(self.recruited)

    def decoded(self) -> DuoExtras:
        return self

    def counts(self, day: int) -> Ints:
        """How many of the rows' entries of each counter are dated by ``day``."""
        return counted(self.entries, day)

    def subset(self, rows: Sequence[int] | Ints) -> DuoExtras:
        """The given rows only, in that order (each with its entries)."""
        picked = np.asarray(rows, dtype=np.int64)
        if len(picked) == len(self) and np.array_equal(picked, np.arange(len(self))):
            return self
        count = self.entry_count[picked]
        starts = (np.cumsum(self.entry_count) - self.entry_count)[picked]
        # The entries of each picked row, where they are: its start, then one by one.
        at = np.repeat(starts - (np.cumsum(count) - count), count) + np.arange(
            int(count.sum()), dtype=np.int64)
        return DuoExtras(
            self.recruited[picked], self.first_of_chain[picked], self.chain[picked],
            self.chain_departed[picked], self.chain_reason[picked], count,
            self.entries[at])

    def chains(self) -> Chains:
        """The mentees of these rows: one per first duo of a chain."""
        first = self.first_of_chain
        return Chains(self.recruited[first], self.chain_departed[first],
                      self.chain_reason[first])


def _recorded(at: str | None, stamp: str | None) -> bool:
    return stamp is None or (at is not None and at <= stamp)


def extras_from_views(duos: Sequence[DuoView], facts: Ints, policy: PolicyDays,
                      stamp: str | None = None) -> DuoExtras:
    """The :class:`DuoExtras` of ``duos`` (one programme's, in row order, judged by
    its ``policy``), given their ``facts`` (see :func:`projections.report.facts_array`,
    same rows), as recorded by ``stamp`` (canonical UTC text) when given."""
    chain_keys: dict[str, int] = {}
    departures: dict[str, tuple[int, int]] = {}
    n = len(duos)
    exit_interview = np.zeros(n, dtype=bool)
    first = np.zeros(n, dtype=bool)
    chain = np.empty(n, dtype=np.int64)
    r_row: list[int] = []
    r_day: list[int] = []
    r_order: list[int] = []
    r_health: list[int] = []
    s_rows: list[tuple[int, int, int, int, int, int, int, int]] = []
    for i, duo in enumerate(duos):
        chain_id = duo.chain_id or duo.duo_id
        chain[i] = chain_keys.setdefault(chain_id, len(chain_keys))
        first[i] = chain_id == duo.duo_id
        exit_interview[i] = bool(duo.exit_interview) and _recorded(duo.closed_at, stamp)
        if duo.departed_on is not None and duo.departure_reason is not None and (
                _recorded(duo.departed_at, stamp)):
            departures[chain_id] = (ordinal(duo.departed_on),
                                    DEPARTURE_REASONS.index(duo.departure_reason))
        for review in duo.reviews:
            if _recorded(review.recorded_at, stamp):
                r_row.append(i)
                r_day.append(ordinal(review.occurred_on))
                r_order.append(review.version)
                r_health.append(review.health or ERASED)
        for survey in duo.surveys.values():
            if _recorded(survey.recorded_at, stamp):
                s_rows.append((i, RESPONDENTS.index(survey.respondent),
                               PHASES.index(survey.phase), ordinal(survey.occurred_on),
                               survey.wellbeing or ERASED, survey.stress or ERASED,
                               survey.integration or ERASED, survey.confidence or ERASED))
    departed = np.full(n, NEVER, dtype=np.int64)
    reason = np.full(n, -1, dtype=np.int64)
    for i, duo in enumerate(duos):
        found = departures.get(duo.chain_id or duo.duo_id)
        if found is not None:
            departed[i], reason[i] = found
    surveys = np.array(s_rows, dtype=np.int64).reshape(-1, 8)
    facts = facts.reshape(-1, FACT_COUNT)
    no = np.full(n, NEVER, dtype=np.int64)
    lifecycle = Lifecycle(facts[:, 2], no, facts[:, 4], no, np.zeros(n, dtype=bool))
    reviews = Reviews(np.array(r_row, dtype=np.int64), np.array(r_day, dtype=np.int64),
                      np.array(r_order, dtype=np.int64), np.array(r_health, dtype=np.int64))
    exit_row = np.flatnonzero(exit_interview & (facts[:, 4] != NEVER))
    row, counted_entries = entries(
        schedule(lifecycle, policy.arrays(n), reviews),
        pairs(Surveys(surveys[:, 0], surveys[:, 1], surveys[:, 2], surveys[:, 3],
                      surveys[:, 4:].copy())),
        exit_row, facts[exit_row, 4])
    return DuoExtras(facts[:, 0].copy(), first, chain, departed, reason,
                     np.bincount(row, minlength=n).astype(np.int64), counted_entries)


HEAD_INTS: Final = 5


class Packed(NamedTuple):
    """A duo's extras as two records of little-endian int32 (see the module's table),
    or those of many duos, each joined in the same order of the duos."""

    head: bytes
    entries: bytes


def met_windows(matched: int, closed: int, review_days: Sequence[int],
                policy: PolicyDays) -> list[int]:
    """The last days of the monitoring windows a duo met (see
    :func:`projections.evaluation.schedule`, which works the same out for many duos at
    once), ascending."""
    if matched == NEVER:
        return []
    interval = policy.review_interval_days
    held: dict[int, int] = {}
    for d in review_days:
        if d >= matched:
            k = (d - matched) // interval
            held[k] = held.get(k, 0) + 1
    fitting = (min(closed, NEVER) - matched + 1) // interval
    return [matched + (k + 1) * interval - 1 for k in sorted(held)
            if held[k] >= (policy.reviews_first_interval if k == 0 else 1)
            and k + 1 <= fitting]


def _scores(survey: SurveyView | None) -> tuple[int, ...] | None:
    """A survey's four scores in :data:`MEASURES` order (None: none, or erased)."""
    if survey is None:
        return None
    found = (survey.wellbeing, survey.stress, survey.integration, survey.confidence)
    return None if any(v is None for v in found) else tuple(v or 0 for v in found)


def _ints(values: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(values)}i", *values)


_WIDTH: Final = 2 * MAX_CHANGE + 1


def duo_entries(reviews: Sequence[tuple[int, int]], met: Sequence[int], exit_day: int,
                paired: Sequence[tuple[int, int, Sequence[int]]]) -> list[int]:
    """One duo's entries (see :func:`projections.evaluation.entries`, which works the
    same out for many duos at once), ascending.

    Args:
        reviews: (day, health) of its reviews in the order of day and recording.
        met: the last days of the windows it met.
        exit_day: the ``closed_on`` of its close that held an exit interview, else NEVER.
        paired: (respondent, day, changes) of its survey pairs.

    Raises:
        ValueError: a health or a change out of its range (it would count as another).
    """
    found: list[int] = []
    before = -1
    for day, health in reviews:
        if not 0 <= health < HEALTHS:
            raise ValueError("a review's health is out of range")
        found.append(day << DAY_SHIFT | (REVIEWED + health * (HEALTHS + 1) + before + 1))
        before = health
    found += [day << DAY_SHIFT | MET for day in met]
    if exit_day != NEVER:
        found.append(exit_day << DAY_SHIFT | EXIT_INTERVIEW)
    for respondent, day, changes in paired:
        if any(abs(change) > MAX_CHANGE for change in changes):
            raise ValueError("a survey change is out of range")
        for half in range(2):
            first, second = changes[2 * half:2 * half + 2]
            found.append(day << DAY_SHIFT | (
                CHANGES + (respondent * 2 + half) * _WIDTH * _WIDTH
                + (first + MAX_CHANGE) * _WIDTH + second + MAX_CHANGE))
    found.sort()
    # Dated after every possible as_of: it would never count.
    while found and found[-1] >> DAY_SHIFT > LAST_DAY:
        found.pop()
    return found


def pack_extras(duo: DuoView, facts: Facts, policy: PolicyDays) -> Packed:
    """The duo's extras as records (see the module's table), given its current
    ``facts`` (see :func:`projections.facts.duo_facts`) and its programme's policy."""
    # In a set order, so that a record does not depend on how the duo was loaded.
    reviews = sorted((ordinal(r.occurred_on), r.version, r.health or ERASED)
                     for r in duo.reviews)
    met = met_windows(facts[2], facts[4], [r[0] for r in reviews], policy)
    paired: list[tuple[int, int, tuple[int, ...]]] = []
    for r, respondent in enumerate(RESPONDENTS):
        pre = duo.surveys.get((respondent, PHASES[0]))
        post = duo.surveys.get((respondent, PHASES[1]))
        # A forgotten respondent's answers no longer open (None): no pair (ADR 35).
        before, after = _scores(pre), _scores(post)
        if pre is not None and post is not None and before and after:
            paired.append((r, max(ordinal(pre.occurred_on), ordinal(post.occurred_on)),
                           tuple(b - a for a, b in zip(before, after, strict=True))))
    found = duo_entries([(day, health) for day, _, health in reviews], met,
                        facts[4] if duo.exit_interview else NEVER, paired)
    first = not duo.chain_id or duo.chain_id == duo.duo_id
    # A departure recorded on the chain's first duo is its chain's (rule 17): the
    # report joins only those recorded on a later duo.
    departed = first and duo.departed_on is not None and duo.departure_reason is not None
    head = (facts[0], int(first),
            ordinal(duo.departed_on) if departed and duo.departed_on else NEVER,
            DEPARTURE_REASONS.index(duo.departure_reason)
            if departed and duo.departure_reason else -1,
            len(found))
    return Packed(_ints(head), _ints(found))


@dataclass(frozen=True)
class PackedExtras:
    """The extras of some duos as loaded, decoded only when a section needs them: their
    heads as an ``(n, 5)`` array, their entries joined, and their chains' departures
    (the heads' own ones, and those joined at loading)."""

    head: npt.NDArray[np.int32]
    entries: bytes
    chain_departed: Ints
    chain_reason: Ints

    @classmethod
    def of(cls, head: npt.NDArray[np.int32], entries: bytes) -> PackedExtras:
        """Extras with their heads' departures only."""
        return cls(head, entries, head[:, 2].astype(np.int64), head[:, 3].astype(np.int64))

    def __len__(self) -> int:
        return len(self.head)

    @property
    def recruited(self) -> Ints:
        found: Ints = self.head[:, 0].astype(np.int64)
        return found

    @property
    def first_of_chain(self) -> npt.NDArray[np.bool_]:
        found: npt.NDArray[np.bool_] = self.head[:, 1] == 1
        return found

    def counts(self, day: int) -> Ints:
        """How many of the entries of each counter are dated by ``day`` (nothing else
        decoded)."""
        return counted(np.frombuffer(self.entries, dtype="<i4"), day)

    def chains(self) -> Chains:
        """The mentees of these rows: one per first duo of a chain."""
        first = self.first_of_chain
        return Chains(self.head[first, 0].astype(np.int64), self.chain_departed[first],
                      self.chain_reason[first])

    def subset(self, rows: Sequence[int] | Ints) -> DuoExtras:
        return self.decoded().subset(rows)

    def decoded(self, chain: Ints | None = None) -> DuoExtras:
        """The :class:`DuoExtras` (each duo a chain of its own unless ``chain`` numbers
        them, see :func:`unpack_extras`)."""
        head = self.head.astype(np.int64)
        n = len(head)
        return DuoExtras(
            head[:, 0], head[:, 1] == 1,
            np.arange(n, dtype=np.int64) if chain is None else chain,
            self.chain_departed, self.chain_reason, head[:, 4],
            np.frombuffer(self.entries, dtype="<i4"))


Extras = DuoExtras | PackedExtras
"""Extras as decoded, or as loaded."""


def packed_head(records: bytes) -> npt.NDArray[np.int32]:
    """Heads joined, as an ``(n, 5)`` array."""
    return np.frombuffer(records, dtype="<i4").reshape(-1, HEAD_INTS)


def unpack_extras(records: Packed, chain: Ints | None = None,
                  departures: Chains | None = None) -> DuoExtras:
    """The extras of many duos from their records, each joined in the order of the duos.

    Args:
        records: :func:`pack_extras` records of the duos.
        chain: the chain number of each duo (a number shared by one chain's duos), when
            loaded; else each duo counts as a chain of its own for the ``outcome``
            breakdown.
        departures: per duo, its chain's departure (``first_recruited`` unused), when
            loaded; else the departures recorded on first duos, on them.
    """
    packed = PackedExtras.of(packed_head(records.head), records.entries)
    if departures is not None:
        packed = PackedExtras(packed.head, packed.entries, departures.departed,
                              departures.reason)
    return packed.decoded(chain)
