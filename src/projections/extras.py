"""What the report's evaluation sections need of each duo beyond its report facts.

:class:`DuoExtras` holds it as arrays aligned with one programme's report rows. It is
built from the read model's records (:func:`extras_from_views`, also as recorded by an
``as_at``) or from the materialised tables, where each duo's extras are one packed
record (:func:`pack_extras`, read back for many duos at once by :func:`unpack_extras`):

=======  =====================================================================
 int32   meaning
=======  =====================================================================
 0       :data:`MARK` (-1): a record begins (no other int32 of it is negative)
 1       1 when the duo's close held an exit interview
 2       1 when the duo is the first of its mentee's chain
 3       R, its reviews
 4       S, its surveys
 5…      R reviews of 3: day, order of recording (event version), health
 …       S surveys of 7: respondent, phase, day, wellbeing, stress, integration,
         confidence (respondent and phase as indexes in ``RESPONDENTS``, ``PHASES``)
=======  =====================================================================

Days are proleptic Gregorian ordinals. A chain's departure is not in the record: it is
recorded on one duo of the chain (the fold never writes one duo's record for another's
event, so a rebuild can fold ranges of duos apart) and joined at loading.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from projections.evaluation import (
    DEPARTURE_REASONS,
    MEASURES,
    PHASES,
    RESPONDENTS,
    Chains,
    Ints,
    Policies,
    Reviews,
    Surveys,
)
from projections.facts import NEVER
from projections.facts import day as ordinal
from projections.views import DuoView


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

    def arrays(self, n: int) -> Policies:
        """The values repeated for ``n`` duos."""
        return Policies(*(np.full(n, value, dtype=np.int64) for value in (
            self.first_meeting_within_days, self.min_duration_days,
            self.max_duration_days, self.reviews_first_interval,
            self.review_interval_days)))


@dataclass(frozen=True)
class DuoExtras:
    """What the evaluation sections need of each duo beyond its report facts, aligned
    with the rows of one programme's facts.

    Attributes:
        exit_interview: the close held an exit interview.
        first_of_chain: the duo is the first of its mentee's chain.
        chain: a number shared by the duos of one chain (within these rows).
        chain_departed: the day the chain's mentee left the service (NEVER: no
            departure recorded), on every duo of the chain.
        chain_reason: that departure's reason (index in :data:`DEPARTURE_REASONS`, -1).
        reviews: the duos' reviews (``row`` indexes these rows).
        surveys: the duos' surveys (likewise).
    """

    exit_interview: npt.NDArray[np.bool_]
    first_of_chain: npt.NDArray[np.bool_]
    chain: Ints
    chain_departed: Ints
    chain_reason: Ints
    reviews: Reviews
    surveys: Surveys

    @classmethod
    def empty(cls) -> DuoExtras:
        no = np.empty(0, dtype=bool)
        return cls(no, no, _empty(), _empty(), _empty(), Reviews.none(), Surveys.none())

    def subset(self, rows: Sequence[int] | Ints) -> DuoExtras:
        """The given rows only, in that order (reviews and surveys renumbered)."""
        picked = np.asarray(rows, dtype=np.int64)
        renumber = np.full(len(self.chain), -1, dtype=np.int64)
        renumber[picked] = np.arange(len(picked), dtype=np.int64)
        r, s = self.reviews, self.surveys
        kept_r = renumber[r.row] >= 0 if len(r.row) else np.empty(0, dtype=bool)
        kept_s = renumber[s.row] >= 0 if len(s.row) else np.empty(0, dtype=bool)
        return DuoExtras(
            self.exit_interview[picked], self.first_of_chain[picked], self.chain[picked],
            self.chain_departed[picked], self.chain_reason[picked],
            Reviews(renumber[r.row[kept_r]], r.day[kept_r], r.order[kept_r],
                    r.health[kept_r]),
            Surveys(renumber[s.row[kept_s]], s.respondent[kept_s], s.phase[kept_s],
                    s.day[kept_s], s.scores[kept_s]))

    @classmethod
    def join(cls, parts: Sequence[DuoExtras]) -> DuoExtras:
        """The rows of ``parts`` one after the other (chains kept apart)."""
        if not parts:
            return cls.empty()
        offsets = np.cumsum([0, *(len(p.chain) for p in parts)])
        chain_offsets = np.cumsum([0, *((int(p.chain.max()) + 1 if len(p.chain) else 0)
                                        for p in parts)])

        def cat(arrays: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
            return np.concatenate(arrays)

        return DuoExtras(
            cat([p.exit_interview for p in parts]), cat([p.first_of_chain for p in parts]),
            cat([p.chain + chain_offsets[i] for i, p in enumerate(parts)]),
            cat([p.chain_departed for p in parts]), cat([p.chain_reason for p in parts]),
            Reviews(cat([p.reviews.row + offsets[i] for i, p in enumerate(parts)]),
                    cat([p.reviews.day for p in parts]),
                    cat([p.reviews.order for p in parts]),
                    cat([p.reviews.health for p in parts])),
            Surveys(cat([p.surveys.row + offsets[i] for i, p in enumerate(parts)]),
                    cat([p.surveys.respondent for p in parts]),
                    cat([p.surveys.phase for p in parts]),
                    cat([p.surveys.day for p in parts]),
                    np.concatenate([p.surveys.scores for p in parts]).reshape(
                        -1, len(MEASURES))))

    def chains(self, recruited: Ints) -> Chains:
        """The mentees of these rows: one per first duo of a chain."""
        first = self.first_of_chain
        return Chains(recruited[first], self.chain_departed[first], self.chain_reason[first])


def _recorded(at: str | None, stamp: str | None) -> bool:
    return stamp is None or (at is not None and at <= stamp)


def extras_from_views(duos: Sequence[DuoView], stamp: str | None = None) -> DuoExtras:
    """The :class:`DuoExtras` of ``duos`` (one programme's, in row order), as recorded
    by ``stamp`` (canonical UTC text) when given."""
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
                r_health.append(review.health)
        for survey in duo.surveys.values():
            if _recorded(survey.recorded_at, stamp):
                s_rows.append((i, RESPONDENTS.index(survey.respondent),
                               PHASES.index(survey.phase), ordinal(survey.occurred_on),
                               survey.wellbeing, survey.stress, survey.integration,
                               survey.confidence))
    departed = np.full(n, NEVER, dtype=np.int64)
    reason = np.full(n, -1, dtype=np.int64)
    for i, duo in enumerate(duos):
        found = departures.get(duo.chain_id or duo.duo_id)
        if found is not None:
            departed[i], reason[i] = found
    surveys = np.array(s_rows, dtype=np.int64).reshape(-1, 8)
    return DuoExtras(
        exit_interview, first, chain, departed, reason,
        Reviews(np.array(r_row, dtype=np.int64), np.array(r_day, dtype=np.int64),
                np.array(r_order, dtype=np.int64), np.array(r_health, dtype=np.int64)),
        Surveys(surveys[:, 0], surveys[:, 1], surveys[:, 2], surveys[:, 3],
                surveys[:, 4:].copy()))


MARK: Final = -1
HEAD: Final = 5
"""Int32 before a record's reviews: the mark, two flags and two counts."""
REVIEW_INTS: Final = 3
SURVEY_INTS: Final = 3 + len(MEASURES)


def pack_extras(duo: DuoView) -> bytes:
    """The duo's extras as one record (see the module's table)."""
    # In a set order, so that a record does not depend on how the duo was loaded.
    reviews = sorted((ordinal(r.occurred_on), r.version, r.health) for r in duo.reviews)
    surveys = sorted((RESPONDENTS.index(s.respondent), PHASES.index(s.phase),
                      ordinal(s.occurred_on), s.wellbeing, s.stress, s.integration,
                      s.confidence) for s in duo.surveys.values())
    ints = [MARK, int(bool(duo.exit_interview)), int(not duo.chain_id or
                                                     duo.chain_id == duo.duo_id),
            len(reviews), len(surveys)]
    for entry in (*reviews, *surveys):
        ints.extend(entry)
    return struct.pack(f"<{len(ints)}i", *ints)


def unpack_extras(records: bytes, chain: Ints | None = None,
                  departures: Chains | None = None) -> DuoExtras:
    """The extras of many duos from their records joined together, in that order.

    Args:
        records: :func:`pack_extras` records, one per duo.
        chain: the chain number of each duo (a number shared by one chain's duos), when
            loaded; else each duo counts as a chain of its own for the ``outcome``
            breakdown and only first duos carry a departure.
        departures: per duo, its chain's departure (``first_recruited`` unused), when
            loaded.
    """
    ints = np.frombuffer(records, dtype="<i4").astype(np.int64)
    starts = np.flatnonzero(ints == MARK)
    n = len(starts)
    n_reviews, n_surveys = ints[starts + 3], ints[starts + 4]
    review_rows = np.repeat(np.arange(n, dtype=np.int64), n_reviews)
    survey_rows = np.repeat(np.arange(n, dtype=np.int64), n_surveys)
    # Where each entry begins: its record's start, past the head (and the reviews).
    review_at = _offsets(starts + HEAD, n_reviews, REVIEW_INTS)
    survey_at = _offsets(starts + HEAD + REVIEW_INTS * n_reviews, n_surveys, SURVEY_INTS)
    surveys = ints[survey_at[:, None] + np.arange(SURVEY_INTS)] if len(survey_at) else (
        np.empty((0, SURVEY_INTS), dtype=np.int64))
    if departures is None:
        departed, reason = np.full(n, NEVER, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    else:
        departed, reason = departures.departed, departures.reason
    return DuoExtras(
        ints[starts + 1] == 1, ints[starts + 2] == 1,
        np.arange(n, dtype=np.int64) if chain is None else chain, departed, reason,
        Reviews(review_rows, ints[review_at], ints[review_at + 1], ints[review_at + 2]),
        Surveys(survey_rows, surveys[:, 0], surveys[:, 1], surveys[:, 2],
                surveys[:, 3:].copy()))


def _offsets(first: Ints, counts: Ints, width: int) -> Ints:
    """The start of every entry: ``counts[i]`` entries of ``width`` from ``first[i]``."""
    total = int(counts.sum())
    if not total:
        return _empty()
    owner = np.repeat(np.arange(len(counts)), counts)
    before = np.cumsum(counts) - counts
    rank = np.arange(total, dtype=np.int64) - before[owner]
    offsets: Ints = first[owner] + rank * width
    return offsets
