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
the database, as :class:`PackedExtras`, decoded with array operations only):

===========  ===============================================================
 record      little-endian int32
===========  ===============================================================
 head        6: the day the duo was recruited; 1 when it is the first of its
             mentee's chain, else 0; the ``closed_on`` of a close that held an
             exit interview, else NEVER; R, W and P, the lengths below
 entries     R reviews of 2: day, health (in the order of day, then recording);
             W days: the last day of each monitoring window it met (ascending);
             P survey pairs of 6: respondent (0 mentee, 1 mentor), the later day
             of the two surveys, and the changes post − pre of wellbeing,
             stress, integration and confidence
===========  ===============================================================

Days are proleptic Gregorian ordinals. A chain's departure is not in the record: it is
recorded on one duo of the chain (the fold never writes one duo's record for another's
event, so a rebuild can fold ranges of duos apart) and joined at loading.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from projections.evaluation import (
    DEPARTURE_REASONS,
    ERASED,
    MEASURES,
    PHASES,
    RESPONDENTS,
    Chains,
    Ints,
    Lifecycle,
    Pairs,
    Policies,
    Reviews,
    Schedule,
    Surveys,
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
        exit_day: the ``closed_on`` of the duo's close when it held an exit interview,
            else NEVER.
        first_of_chain: the duo is the first of its mentee's chain.
        chain: a number shared by the duos of one chain (within these rows).
        chain_departed: the day the chain's mentee left the service (NEVER: no
            departure recorded), on the first duo of the chain at least.
        chain_reason: that departure's reason (index in :data:`DEPARTURE_REASONS`, -1).
        schedule: the duos' reviews and met monitoring windows (``row`` indexes these
            rows; see :func:`projections.evaluation.schedule`).
        pairs: the duos' survey pairs (likewise; see :func:`projections.evaluation.pairs`).
    """

    recruited: Ints
    exit_day: Ints
    first_of_chain: npt.NDArray[np.bool_]
    chain: Ints
    chain_departed: Ints
    chain_reason: Ints
    schedule: Schedule
    pairs: Pairs

    @classmethod
    def empty(cls) -> DuoExtras:
        return cls(_empty(), _empty(), np.empty(0, dtype=bool), _empty(), _empty(),
                   _empty(), Schedule.none(), Pairs.none())

    def __len__(self) -> int:
        return len(self.recruited)

    def decoded(self) -> DuoExtras:
        return self

    def subset(self, rows: Sequence[int] | Ints) -> DuoExtras:
        """The given rows only, in that order (reviews, windows and pairs renumbered)."""
        picked = np.asarray(rows, dtype=np.int64)
        if len(picked) == len(self) and np.array_equal(picked, np.arange(len(self))):
            return self
        renumber = np.full(len(self), -1, dtype=np.int64)
        renumber[picked] = np.arange(len(picked), dtype=np.int64)
        s, p = self.schedule, self.pairs
        r_at = _renumbered(renumber, s.review_row)
        m_at = _renumbered(renumber, s.met_row)
        p_at = _renumbered(renumber, p.row)
        return DuoExtras(
            self.recruited[picked], self.exit_day[picked], self.first_of_chain[picked],
            self.chain[picked], self.chain_departed[picked], self.chain_reason[picked],
            Schedule(renumber[s.review_row[r_at]], s.review_day[r_at],
                     s.review_health[r_at], renumber[s.met_row[m_at]], s.met_day[m_at]),
            Pairs(renumber[p.row[p_at]], p.respondent[p_at], p.day[p_at], p.changes[p_at]))

    @classmethod
    def join(cls, parts: Sequence[DuoExtras]) -> DuoExtras:
        """The rows of ``parts`` one after the other (chains kept apart)."""
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0, *(len(p) for p in parts)])
        chain_offsets = np.cumsum([0, *((int(p.chain.max()) + 1 if len(p.chain) else 0)
                                        for p in parts)])

        def cat(arrays: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
            return np.concatenate(arrays)

        return DuoExtras(
            cat([p.recruited for p in parts]), cat([p.exit_day for p in parts]),
            cat([p.first_of_chain for p in parts]),
            cat([p.chain + chain_offsets[i] for i, p in enumerate(parts)]),
            cat([p.chain_departed for p in parts]), cat([p.chain_reason for p in parts]),
            Schedule(cat([p.schedule.review_row + offsets[i] for i, p in enumerate(parts)]),
                     cat([p.schedule.review_day for p in parts]),
                     cat([p.schedule.review_health for p in parts]),
                     cat([p.schedule.met_row + offsets[i] for i, p in enumerate(parts)]),
                     cat([p.schedule.met_day for p in parts])),
            Pairs(cat([p.pairs.row + offsets[i] for i, p in enumerate(parts)]),
                  cat([p.pairs.respondent for p in parts]),
                  cat([p.pairs.day for p in parts]),
                  cat([p.pairs.changes for p in parts]).reshape(-1, len(MEASURES))))

    def chains(self) -> Chains:
        """The mentees of these rows: one per first duo of a chain."""
        first = self.first_of_chain
        return Chains(self.recruited[first], self.chain_departed[first],
                      self.chain_reason[first])


def _renumbered(renumber: Ints, rows: Ints) -> Ints:
    """Where the entries of the kept ``rows`` are, in the order of their new row (and
    as they were within one row)."""
    at = np.flatnonzero(renumber[rows] >= 0) if len(rows) else _empty()
    new = renumber[rows[at]]
    if len(new) > 1 and np.any(new[1:] < new[:-1]):
        at = at[np.argsort(new, kind="stable")]
    return at


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
    return DuoExtras(
        facts[:, 0].copy(), np.where(exit_interview, facts[:, 4], NEVER), first, chain,
        departed, reason, schedule(lifecycle, policy.arrays(n), reviews),
        pairs(Surveys(surveys[:, 0], surveys[:, 1], surveys[:, 2], surveys[:, 3],
                      surveys[:, 4:].copy())))


HEAD_INTS: Final = 6
REVIEW_INTS: Final = 2
PAIR_INTS: Final = 2 + len(MEASURES)


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


def pack_extras(duo: DuoView, facts: Facts, policy: PolicyDays) -> Packed:
    """The duo's extras as records (see the module's table), given its current
    ``facts`` (see :func:`projections.facts.duo_facts`) and its programme's policy."""
    # In a set order, so that a record does not depend on how the duo was loaded.
    reviews = sorted((ordinal(r.occurred_on), r.version, r.health or ERASED)
                     for r in duo.reviews)
    met = met_windows(facts[2], facts[4], [r[0] for r in reviews], policy)
    found: list[int] = []
    for r, respondent in enumerate(RESPONDENTS):
        pre = duo.surveys.get((respondent, PHASES[0]))
        post = duo.surveys.get((respondent, PHASES[1]))
        # A forgotten respondent's answers no longer open (None): no pair (ADR 35).
        before, after = _scores(pre), _scores(post)
        if pre is not None and post is not None and before and after:
            found += (r, max(ordinal(pre.occurred_on), ordinal(post.occurred_on)),
                      *(b - a for a, b in zip(before, after, strict=True)))
    head = (facts[0], int(not duo.chain_id or duo.chain_id == duo.duo_id),
            facts[4] if duo.exit_interview else NEVER, len(reviews), len(met),
            len(found) // PAIR_INTS)
    entries = [v for day, _, health in reviews for v in (day, health)]
    return Packed(_ints(head), _ints(entries + met + found))


@dataclass(frozen=True)
class PackedExtras:
    """The extras of some duos as loaded, decoded only when a section needs them: their
    heads as an ``(n, 6)`` array, their entries joined, and their chains' departures.
    Joining such extras joins the records, so that the duos of many programmes are
    decoded at once (:meth:`decoded`)."""

    head: npt.NDArray[np.int32]
    entries: bytes
    chain_departed: Ints
    chain_reason: Ints

    @classmethod
    def of(cls, head: npt.NDArray[np.int32], entries: bytes) -> PackedExtras:
        """Extras without departures."""
        n = len(head)
        return cls(head, entries, np.full(n, NEVER, dtype=np.int64),
                   np.full(n, -1, dtype=np.int64))

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

    def subset(self, rows: Sequence[int] | Ints) -> DuoExtras:
        return self.decoded().subset(rows)

    @classmethod
    def join(cls, parts: Sequence[PackedExtras]) -> PackedExtras:
        """The rows of ``parts`` one after the other (records joined)."""
        return cls(np.concatenate([p.head for p in parts]).reshape(-1, HEAD_INTS),
                   b"".join([p.entries for p in parts]),
                   np.concatenate([p.chain_departed for p in parts]),
                   np.concatenate([p.chain_reason for p in parts]))

    def decoded(self, chain: Ints | None = None) -> DuoExtras:
        """The :class:`DuoExtras` (each duo a chain of its own unless ``chain`` numbers
        them, see :func:`unpack_extras`)."""
        head = self.head.astype(np.int64)
        n = len(head)
        ints = np.frombuffer(self.entries, dtype="<i4")
        n_r, n_w, n_p = head[:, 3], head[:, 4], head[:, 5]
        # Each duo's entries are its reviews, windows and pairs: mark each int32 with
        # its kind (0, 1, 2) and take each kind's ints in order.
        kind = np.repeat(np.tile(np.arange(3, dtype=np.int8), n),
                         np.column_stack([REVIEW_INTS * n_r, n_w, PAIR_INTS * n_p]).ravel())
        reviews = ints[kind == 0].reshape(-1, REVIEW_INTS).astype(np.int64)
        met = ints[kind == 1].astype(np.int64)
        pairs = ints[kind == 2].reshape(-1, PAIR_INTS).astype(np.int64)
        rows = np.arange(n, dtype=np.int64)
        return DuoExtras(
            head[:, 0], head[:, 2], head[:, 1] == 1, rows if chain is None else chain,
            self.chain_departed, self.chain_reason,
            Schedule(np.repeat(rows, n_r), reviews[:, 0], reviews[:, 1],
                     np.repeat(rows, n_w), met),
            Pairs(np.repeat(rows, n_p), pairs[:, 0], pairs[:, 1], pairs[:, 2:]))


Extras = DuoExtras | PackedExtras
"""Extras as decoded, or as loaded."""


def packed_head(records: bytes) -> npt.NDArray[np.int32]:
    """Heads joined, as an ``(n, 6)`` array."""
    return np.frombuffer(records, dtype="<i4").reshape(-1, HEAD_INTS)


def unpack_extras(records: Packed, chain: Ints | None = None,
                  departures: Chains | None = None) -> DuoExtras:
    """The extras of many duos from their records, each joined in the order of the duos.

    Args:
        records: :func:`pack_extras` records of the duos.
        chain: the chain number of each duo (a number shared by one chain's duos), when
            loaded; else each duo counts as a chain of its own for the ``outcome``
            breakdown and only first duos carry a departure.
        departures: per duo, its chain's departure (``first_recruited`` unused), when
            loaded.
    """
    packed = PackedExtras.of(packed_head(records.head), records.entries)
    if departures is not None:
        packed = PackedExtras(packed.head, packed.entries, departures.departed,
                              departures.reason)
    return packed.decoded(chain)
