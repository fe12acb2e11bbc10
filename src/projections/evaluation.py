"""The report's evaluation sections (v2): first meetings, monitoring, closure,
retention, survey change, dropouts by month and the whole survival curve.

Each section is one function over arrays of the duos of some programmes at one
``as_of`` (a row per duo, as the report's facts, days as ordinals with
:data:`~projections.facts.NEVER` for what has not happened). Each duo is judged by its
own programme's policy, so policy values come as arrays aligned with the duos. Nothing
here reads a store: the same functions serve the materialised views and a replay.
Definitions are those of docs/interface.md ("Evaluation sections"); number formats
follow :func:`projections.report.summary` (``statistics``-style medians and means).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from lifecycle.domain.vocabulary import (
    DROPOUT_REASONS,
    CloseReason,
    DepartureReason,
    Phase,
    Respondent,
)
from projections import comparisons, survival
from projections.facts import NEVER
from projections.summaries import summary, tallied

Ints = npt.NDArray[np.int64]

RETENTION_DAYS: Final = (90, 182, 365)
MEASURES: Final = ("wellbeing", "stress", "integration", "confidence")
ERASED: Final = 0
"""A health or survey score that no longer opens (its person was forgotten, §8): valid
ones are 1-5."""
LOWER_IS_BETTER: Final = frozenset({"stress"})
RESPONDENTS: Final = tuple(r.value for r in Respondent)
PHASES: Final = tuple(p.value for p in Phase)
DEPARTURE_REASONS: Final = tuple(r.value for r in DepartureReason)
COMPLETED: Final = tuple(CloseReason).index(CloseReason.COMPLETED)
_DROPOUT_CODES: Final = np.array(
    [tuple(CloseReason).index(r) for r in DROPOUT_REASONS], dtype=np.int64)


def _empty() -> Ints:
    return np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class Lifecycle:
    """The lifecycle days of the duos (recruited by ``as_of``), one entry per duo.

    Attributes:
        matched, activated, closed: days, NEVER when not (yet) reached — as of the
            report's ``as_of`` nothing later than it is looked at, so a later day reads
            as not reached.
        reason: the close reason's index in ``CloseReason`` (-1 while open).
        from_active: whether the duo was closed from ``active``.
    """

    matched: Ints
    activated: Ints
    closed: Ints
    reason: Ints
    from_active: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Policies:
    """Each duo's programme policy values, aligned with :class:`Lifecycle`."""

    first_meeting_within_days: Ints
    min_duration_days: Ints
    max_duration_days: Ints
    reviews_first_interval: Ints
    review_interval_days: Ints


@dataclass(frozen=True)
class Reviews:
    """Reviews, one entry each: the duo's row, its day, its order of recording within
    the duo (the event's version) and the health it gave."""

    row: Ints
    day: Ints
    order: Ints
    health: Ints

    @classmethod
    def none(cls) -> Reviews:
        return cls(_empty(), _empty(), _empty(), _empty())


@dataclass(frozen=True)
class Surveys:
    """Survey answer sets, one entry each: the duo's row, the respondent and phase
    (indexes in :data:`RESPONDENTS`, :data:`PHASES`), the day, and the four scores
    (columns in :data:`MEASURES` order)."""

    row: Ints
    respondent: Ints
    phase: Ints
    day: Ints
    scores: Ints

    @classmethod
    def none(cls) -> Surveys:
        return cls(_empty(), _empty(), _empty(), _empty(),
                   np.empty((0, len(MEASURES)), dtype=np.int64))


@dataclass(frozen=True)
class Chains:
    """The mentees (chains of duos linked by ``predecessor_duo_id``), one entry each:
    the day their first duo was recruited, the day they left the service (NEVER when
    no departure is recorded) and the departure reason's index in
    :data:`DEPARTURE_REASONS` (-1 without one)."""

    first_recruited: Ints
    departed: Ints
    reason: Ints

    @classmethod
    def none(cls) -> Chains:
        return cls(_empty(), _empty(), _empty())


@dataclass(frozen=True)
class Schedule:
    """What the monitoring section counts of some duos at any ``as_of``, worked out
    once (see :func:`schedule`).

    Attributes:
        review_row, review_day, review_health: the reviews, one entry each (the duo's
            row, its day and the health it gave), in the order of row, day and
            recording: a row's latest review by a date is its last entry dated by then.
        met_row, met_day: the windows of the monitoring schedule that hold the reviews
            they require and end on or before the duo's ``closed_on``, one entry each
            (the duo's row and the window's last day), in the order of row and day: at
            an ``as_of`` on or after that last day, the window is due and met.
    """

    review_row: Ints
    review_day: Ints
    review_health: Ints
    met_row: Ints
    met_day: Ints

    @classmethod
    def none(cls) -> Schedule:
        return cls(_empty(), _empty(), _empty(), _empty(), _empty())


@dataclass(frozen=True)
class Pairs:
    """Survey pairs: the pre and post answer sets of one duo and respondent, one entry
    each, in the order of row and respondent: the duo's row, the respondent (index in
    :data:`RESPONDENTS`), the day of the later of the two (the pair counts at an
    ``as_of`` on or after it) and the four changes post − pre (columns in
    :data:`MEASURES` order)."""

    row: Ints
    respondent: Ints
    day: Ints
    changes: Ints

    @classmethod
    def none(cls) -> Pairs:
        return cls(_empty(), _empty(), _empty(), np.empty((0, len(MEASURES)), dtype=np.int64))


def first_meeting(duos: Lifecycle, policies: Policies, day: int) -> dict[str, int]:
    """Over duos matched by ``as_of``: ``on_time`` (activated by then within
    ``first_meeting_within_days`` of matching), ``late`` (activated by then, later),
    ``waiting_overdue`` (in ``matched`` at ``as_of``, waiting longer than that)."""
    matched = duos.matched <= day
    activated = duos.activated <= day
    wait = duos.activated - duos.matched
    within = policies.first_meeting_within_days
    waiting = matched & ~activated & (duos.closed > day)
    return {
        "on_time": int(np.count_nonzero(activated & (wait <= within))),
        "late": int(np.count_nonzero(activated & (wait > within))),
        "waiting_overdue": int(np.count_nonzero(
            waiting & (day - duos.matched > within))),
    }


def windows_due(duos: Lifecycle, policies: Policies, day: int) -> Ints:
    """How many windows of each duo's monitoring schedule are due at ``as_of``.

    Window k of a duo matched on m covers m + kR … m + (k+1)R − 1 (R the
    ``review_interval_days``); it is due when its last day is on or before ``as_of``
    and, for a duo closed by ``as_of``, on or before its ``closed_on``. So the windows
    due are those with (k+1)R ≤ limit − m + 1, limit the earlier of the two days.
    """
    limit = np.minimum(day, np.where(duos.closed <= day, duos.closed, NEVER))
    span = limit - duos.matched + 1
    due = np.where(duos.matched <= day, span // policies.review_interval_days, 0)
    return np.maximum(due, 0)


def schedule(duos: Lifecycle, policies: Policies, reviews: Reviews) -> Schedule:
    """The :class:`Schedule` of the duos: their reviews in order, and the windows each
    duo met. Window k of a duo matched on m (see :func:`windows_due`) is met when it
    holds at least ``reviews_first_interval`` reviews (k = 0) or one (k > 0) dated on or
    after m, and counts from its last day m + (k+1)R − 1 on, when that day is on or
    before the duo's ``closed_on``: a window is due at ``as_of`` exactly when its last
    day is on or before both ``as_of`` and the close, and every review in it is then
    dated by ``as_of``."""
    order = np.lexsort((reviews.order, reviews.day, reviews.row))
    rows, days = reviews.row[order], reviews.day[order]
    matched = duos.matched[rows]
    on_schedule = matched <= days
    rows, days, matched = rows[on_schedule], days[on_schedule], matched[on_schedule]
    interval = policies.review_interval_days[rows]
    k = (days - matched) // interval
    met_row, met_day = _empty(), _empty()
    if len(rows):
        # One int64 key per (row, window): windows of a duo number fewer than 2**31.
        keys, counts = np.unique(rows << 31 | k, return_counts=True)
        w_row, w_k = keys >> 31, keys & (2**31 - 1)
        required = np.where(w_k == 0, policies.reviews_first_interval[w_row], 1)
        start, step = duos.matched[w_row], policies.review_interval_days[w_row]
        # (k+1)R ≤ close − m + 1, without forming (k+1)R for a window that never ends.
        cap = np.minimum(duos.closed[w_row], NEVER)
        met = (counts >= required) & (w_k + 1 <= (cap - start + 1) // step)
        met_row = w_row[met]
        met_day = start[met] + (w_k[met] + 1) * step[met] - 1
    return Schedule(reviews.row[order], reviews.day[order], reviews.health[order],
                    met_row, met_day)


def monitoring(duos: Lifecycle, policies: Policies, reviews: Reviews,
               day: int) -> dict[str, Any]:
    """``reviews`` dated by ``as_of``; the monitoring schedule's ``windows_due`` and
    ``windows_met`` summed over duos matched by ``as_of`` and their ``compliance``;
    ``latest_health``, the health of each reviewed duo's latest review (latest day,
    then latest recorded)."""
    due = int(windows_due(duos, policies, day).sum())
    _, found = entries(schedule(duos, policies, reviews), Pairs.none(), _empty(), _empty())
    return monitoring_at(due, counted(found, day))


# ---------------------------------------------------------------- counters
DAY_SHIFT: Final = 9
"""An entry is ``day << DAY_SHIFT | counter``: it adds one to the counter at any
``as_of`` on or after its day (see :func:`entries`)."""
LAST_DAY: Final = date.max.toordinal()
"""No ``as_of`` is later: an entry dated after it would never count, so none is made
(and every entry fits in an int32)."""
HEALTHS: Final = 6
"""Health values counted: ERASED and 1-5."""
REVIEWED: Final = 0
"""Counters 0-41: a review that gave health h (ERASED 0) after one that gave p (-1: the
duo's first), on its day: counter ``h * 7 + p + 1``. From then on that review is the
duo's latest and the one before it no longer is."""
MET: Final = REVIEWED + HEALTHS * (HEALTHS + 1)
"""Counter 42: a window of the monitoring schedule met, on its last day."""
EXIT_INTERVIEW: Final = MET + 1
"""Counter 43: a close that held an exit interview, on its ``closed_on``."""
CHANGES: Final = EXIT_INTERVIEW + 1
"""Counters 44-367: a survey pair's changes of two measures (wellbeing and stress, or
integration and confidence), on the pair's day: counter ``CHANGES + (respondent * 2 +
half) * 81 + (first change + 4) * 9 + second change + 4``."""
MAX_CHANGE: Final = 4
"""Scores are 1-5 (the ERASED ones pair with nothing), so a change is within ±4."""
_WIDTH: Final = 2 * MAX_CHANGE + 1
COUNTERS: Final = CHANGES + len(RESPONDENTS) * len(MEASURES) // 2 * _WIDTH * _WIDTH


def _entry(days: Ints, counter: Ints | int) -> Ints:
    found: Ints = days << DAY_SHIFT | counter
    return found


def entries(done: Schedule, paired: Pairs, exit_row: Ints,
            exit_day: Ints) -> tuple[Ints, Ints]:
    """What some duos add to the monitoring, closure and survey sections, as entries
    (row, ``day << DAY_SHIFT | counter``) in the order of row and entry: each review
    (with the health of the one before it), each met window, each close with an exit
    interview (the duo's ``row`` and ``closed_on``) and each survey pair (two entries
    of two changes each). The sections at an ``as_of`` only count the entries dated by
    then (:func:`counted`).

    Raises:
        ValueError: a health or a change out of its range (it would count as another).
    """
    rows = done.review_row
    healths = done.review_health
    if len(healths) and (healths.min() < 0 or healths.max() >= HEALTHS):
        raise ValueError("a review's health is out of range")
    # The health of the review before each one of the same duo (-1: none).
    before = np.full(len(rows), -1, dtype=np.int64)
    if len(rows):
        followed = np.flatnonzero(rows[1:] == rows[:-1])
        before[followed + 1] = healths[followed]
    changes = paired.changes
    if changes.size and np.abs(changes).max() > MAX_CHANGE:
        raise ValueError("a survey change is out of range")
    halves = (changes + MAX_CHANGE).reshape(-1, 2, 2)
    change_counters = (CHANGES + (paired.respondent[:, None] * 2 + np.arange(2)) * _WIDTH
                       * _WIDTH + halves[:, :, 0] * _WIDTH + halves[:, :, 1])
    row = np.concatenate([rows, done.met_row, exit_row, np.repeat(paired.row, 2)])
    entry = np.concatenate([
        _entry(done.review_day, REVIEWED + healths * (HEALTHS + 1) + before + 1),
        _entry(done.met_day, MET), _entry(exit_day, EXIT_INTERVIEW),
        _entry(np.repeat(paired.day, 2), change_counters.ravel())])
    dated = (entry >> DAY_SHIFT) <= LAST_DAY
    row, entry = row[dated], entry[dated]
    order = np.lexsort((entry, row))
    return row[order], entry[order]


def counted(found: npt.NDArray[np.int32] | Ints, day: int) -> Ints:
    """How many ``found`` entries (see :func:`entries`) of each counter are dated by
    ``day``."""
    kept = found[found < (day + 1) << DAY_SHIFT] & ((1 << DAY_SHIFT) - 1)
    counts: Ints = np.bincount(kept, minlength=COUNTERS).astype(np.int64)
    return counts


def _repeated(counts: Ints, low: int) -> Ints:
    """The values ``low``, ``low + 1``, … each as often as ``counts`` says (ascending)."""
    found: Ints = np.repeat(np.arange(low, low + len(counts), dtype=np.int64), counts)
    return found


def monitoring_at(windows: int, counts: Ints) -> dict[str, Any]:
    """:func:`monitoring` of duos with ``windows`` windows due at ``as_of`` and the
    ``counts`` of their entries by then (see :func:`counted`)."""
    # By health given (rows) and the health of the review before (columns, none first).
    reviewed = counts[REVIEWED:MET].reshape(HEALTHS, HEALTHS + 1)
    latest = reviewed.sum(axis=1) - reviewed[:, 1:].sum(axis=0)
    met = int(counts[MET])
    return {
        "reviews": int(reviewed.sum()),
        "windows_due": windows,
        "windows_met": met,
        "compliance": met / windows if windows else None,
        # A forgotten mentee's health is ERASED: their duo leaves the summary (§8).
        "latest_health": summary(_repeated(latest[ERASED + 1:], ERASED + 1), whole=True),
    }


def closure(duos: Lifecycle, policies: Policies, exit_days: Ints,
            day: int) -> dict[str, Any]:
    """How duos closed by ``as_of`` ended: ``from_active``, ``completed``, ``early``
    (closed from ``active`` with fewer active days than ``min_duration_days``,
    whatever the reason) and its rate; ``beyond_max_active`` (still ``active`` at
    ``as_of`` past ``max_duration_days``); exit interviews and their rate.
    ``exit_days`` holds the ``closed_on`` of each close that held an exit interview
    (NEVER for the other duos; in any order)."""
    return closure_at(duos, policies, int(np.count_nonzero(exit_days <= day)), day)


def closure_at(duos: Lifecycle, policies: Policies, interviews: int,
               day: int) -> dict[str, Any]:
    """:func:`closure` of duos whose closes by ``as_of`` held ``interviews`` exit
    interviews."""
    closed = duos.closed <= day
    from_active = closed & duos.from_active
    active_days = duos.closed - duos.activated
    early = int(np.count_nonzero(from_active & (active_days < policies.min_duration_days)))
    running = ~closed & (duos.activated <= day)
    beyond = int(np.count_nonzero(
        running & (day - duos.activated > policies.max_duration_days)))
    n_closed = int(np.count_nonzero(closed))
    n_from_active = int(np.count_nonzero(from_active))
    return {
        "closed": n_closed,
        "from_active": n_from_active,
        "completed": int(np.count_nonzero(closed & (duos.reason == COMPLETED))),
        "early": early,
        "early_rate": early / n_from_active if n_from_active else None,
        "beyond_max_active": beyond,
        "exit_interviews": interviews,
        "exit_interview_rate": interviews / n_closed if n_closed else None,
    }


def retention_observations(chains: Chains, day: int) -> tuple[Ints, npt.NDArray[np.bool_]]:
    """(days in service, departed) of the mentees whose first duo was recruited by
    ``as_of``: to the departure when it happened by then, else to ``as_of``."""
    counted = chains.first_recruited <= day
    first, departed = chains.first_recruited[counted], chains.departed[counted]
    left = departed <= day
    return np.where(left, departed, day) - first, left


def retention(chains: Chains, day: int) -> dict[str, Any]:
    """Staying in the prison service: ``mentees``, ``departed`` by ``as_of`` and
    ``by_reason``, and the Kaplan-Meier estimate ``in_service`` at 90, 182 and 365
    days from the first recruitment (same product formula and null rules as the
    report's ``survival``)."""
    durations, left = retention_observations(chains, day)
    counted = chains.first_recruited <= day
    reasons = chains.reason[counted][left]
    tally = np.bincount(reasons, minlength=len(DEPARTURE_REASONS)) if len(reasons) else (
        np.zeros(len(DEPARTURE_REASONS), dtype=np.int64))
    curve = survival.fit_arrays(durations, left)
    return {
        "mentees": len(durations),
        "departed": int(np.count_nonzero(left)),
        "by_reason": {r: int(tally[i]) for i, r in enumerate(DEPARTURE_REASONS)},
        "in_service": {str(t): curve.at(t) for t in RETENTION_DAYS},
    }


def pairs(surveys: Surveys) -> Pairs:
    """The survey :class:`Pairs` of the duos: each duo and respondent with both a pre
    and a post answer set (rule 10: at most one of each)."""
    size = int(surveys.row.max()) + 1 if len(surveys.row) else 0
    found: list[tuple[Ints, Ints, Ints, Ints]] = []
    for r in range(len(RESPONDENTS)):
        # One slot per duo and phase.
        have = np.zeros((2, size), dtype=bool)
        when = np.zeros((2, size), dtype=np.int64)
        answers = np.zeros((2, size, len(MEASURES)), dtype=np.int64)
        # A forgotten respondent's answers are ERASED: they pair with nothing (§8).
        mine = (surveys.respondent == r) & (surveys.scores[:, 0] != ERASED)
        phase, rows = surveys.phase[mine], surveys.row[mine]
        have[phase, rows] = True
        when[phase, rows] = surveys.day[mine]
        answers[phase, rows] = surveys.scores[mine]
        paired = np.flatnonzero(have[0] & have[1])
        found.append((paired, np.full(len(paired), r, dtype=np.int64),
                      np.maximum(when[0, paired], when[1, paired]),
                      answers[1, paired] - answers[0, paired]))
    row = np.concatenate([f[0] for f in found])
    by_row = np.argsort(row, kind="stable")
    return Pairs(row[by_row], np.concatenate([f[1] for f in found])[by_row],
                 np.concatenate([f[2] for f in found])[by_row],
                 np.concatenate([f[3] for f in found]).reshape(-1, len(MEASURES))[by_row])


def survey_changes(counts: Ints) -> dict[tuple[str, str], Ints]:
    """The paired changes (post − pre) per (respondent, measure), over the duos with
    both surveys of that respondent dated by ``as_of``, from the ``counts`` of their
    entries by then (see :func:`counted`), ascending."""
    changes: dict[tuple[str, str], Ints] = {}
    for r, respondent in enumerate(RESPONDENTS):
        for half in range(2):
            at = CHANGES + (r * 2 + half) * _WIDTH * _WIDTH
            # By the first measure's change (rows) and the second's (columns).
            both = counts[at:at + _WIDTH * _WIDTH].reshape(_WIDTH, _WIDTH)
            for second, tally in enumerate((both.sum(axis=1), both.sum(axis=0))):
                changes[respondent, MEASURES[half * 2 + second]] = _repeated(
                    tally, -MAX_CHANGE)
    return changes


def change_summary(changes: Ints, measure: str, *, tests: bool = False) -> dict[str, Any]:
    """``pairs``, ``mean_change``, ``median_change`` and how many improved, stayed and
    worsened (for ``stress`` a fall is an improvement); with ``tests``, also
    ``signed_rank``: the Wilcoxon signed-rank test of the changes (null without a
    non-zero change)."""
    n = len(changes)
    better = changes < 0 if measure in LOWER_IS_BETTER else changes > 0
    worse = changes > 0 if measure in LOWER_IS_BETTER else changes < 0
    summary_: dict[str, Any] = {
        "pairs": n,
        "mean_change": int(changes.sum()) / n if n else None,
        "median_change": _median(changes),
        "improved": int(np.count_nonzero(better)),
        "unchanged": int(np.count_nonzero(changes == 0)),
        "worsened": int(np.count_nonzero(worse)),
    }
    if tests:
        summary_["signed_rank"] = comparisons.signed_rank(changes.tolist())
    return summary_


def _median(values: Ints) -> int | float | None:
    """The ordinary median of whole numbers: an int for an odd count, else the mean of
    the two middle values (a float)."""
    n = len(values)
    if not n:
        return None
    ordered = np.sort(values)
    mid = n // 2
    if n % 2:
        return int(ordered[mid])
    return (int(ordered[mid - 1]) + int(ordered[mid])) / 2


def surveys_section(surveys: Surveys, day: int, *, tests: bool = False) -> dict[str, Any]:
    """Survey change per respondent and measure (see :func:`change_summary`)."""
    _, found = entries(Schedule.none(), pairs(surveys), _empty(), _empty())
    return pairs_section(counted(found, day), tests=tests)


def pairs_section(counts: Ints, *, tests: bool = False) -> dict[str, Any]:
    """:func:`surveys_section` of survey pairs whose entries by ``as_of`` gave
    ``counts`` (see :func:`counted`)."""
    changes = survey_changes(counts)
    return {respondent: {measure: change_summary(changes[respondent, measure], measure,
                                                 tests=tests)
                         for measure in MEASURES}
            for respondent in RESPONDENTS}


def dropouts_by_month(duos: Lifecycle, day: int) -> dict[str, int]:
    """Dropouts (closed by ``as_of`` with a dropout reason) by the calendar month of
    their ``closed_on``, months with at least one, ascending."""
    closed = duos.closed <= day
    dropped = closed & np.isin(duos.reason, _DROPOUT_CODES)
    months: dict[str, int] = {}
    days, counts = tallied(duos.closed[dropped])
    for closed_day, count in zip(days.tolist(), counts.tolist(), strict=True):
        key = _month(closed_day)
        months[key] = months.get(key, 0) + count
    return months


_MONTHS: dict[int, str] = {}


def _month(ordinal: int) -> str:
    found = _MONTHS.get(ordinal)
    if found is None:
        found = _MONTHS[ordinal] = date.fromordinal(ordinal).isoformat()[:7]
    return found


def survival_curve(active_days: Ints,
                   dropped: npt.NDArray[np.bool_]) -> tuple[list[dict[str, Any]], int | None]:
    """The Kaplan-Meier table of the report's ``survival`` population and its median
    (see :func:`projections.survival.curve_table`)."""
    table = survival.curve_table_arrays(active_days, dropped)
    return table, survival.median_time(table)


OUTCOMES: Final = ("completed", "dropout", "other_close", "open")
"""How a mentee's latest duo stands at ``as_of`` (the ``outcome`` breakdown)."""


def outcomes(recruited: Ints, closed: Ints, reason: Ints, chain: Ints,
             day: int) -> list[str]:
    """Each duo's chain's outcome at ``as_of``: how the chain's latest duo recruited by
    then stands — ``completed`` (closed with that reason), ``dropout`` (closed with a
    dropout reason), ``other_close`` (closed otherwise), or ``open``."""
    n = len(chain)
    if not n:
        return []
    order = np.lexsort((np.arange(n), recruited, chain))
    latest: dict[int, int] = {}
    for row in order.tolist():
        if recruited[row] <= day:
            latest[int(chain[row])] = row
    labels: dict[int, str] = {}
    for key, row in latest.items():
        if closed[row] > day:
            labels[key] = "open"
        elif reason[row] == COMPLETED:
            labels[key] = "completed"
        elif reason[row] in _DROPOUT_CODES:
            labels[key] = "dropout"
        else:
            labels[key] = "other_close"
    return [labels.get(int(c), "open") for c in chain.tolist()]
