"""When a duo needs a coordinator, worked out once per change of the duo: its *spans*.

Four of the six attention reasons (``projections.coordinator``) depend on the duo's own
events and its programme's policy only. For each, the days on which it holds form a few
intervals ``[start, end)`` of day numbers (``date.toordinal()``); an interval still
running when the log ends ends at :data:`~projections.facts.NEVER`. ``attention`` at a
date then reads the spans that contain it, instead of judging every open duo again —
the reason holds at ``as_of`` exactly when a span of it contains ``as_of``.

- ``first_meeting_overdue``: from ``matched + first_meeting_within_days + 1`` until the
  first meeting (or the close).
- ``contact_overdue``: between two changes of the duo's counted contacts (a contact's
  day, a retraction's day), from ``latest + contact_interval_days + 1`` on, where
  ``latest`` is the latest contact counted then (the activation without one), until the
  next change (or the close).
- ``review_overdue``: window k of the monitoring schedule (R days from ``matched + k·R``)
  ends on ``e_k = matched + (k+1)·R − 1``; while window k is the latest ended one — from
  ``e_k`` until ``e_{k+1}`` — the reason holds when the window holds fewer reviews than
  it requires (``reviews_first_interval`` for window 0, else one). Every window after the
  one of the latest review is short of reviews.
- ``beyond_max_duration``: from ``activated + max_duration_days + 1`` until the close.
- ``mentee_departed``, for a departure recorded on the duo itself: from the departure
  (or the duo's recruitment, if later) until the close.

Every span ends by the close (the duo is no longer open), and adjacent spans of one
reason are joined. What depends on other aggregates — a mentor leaving the pool, a
departure recorded on another duo of the chain — is read by joins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final

from projections.facts import NEVER, Facts, State, Timeline, day, timeline_states

REASONS: Final[tuple[str, ...]] = (
    "first_meeting_overdue", "contact_overdue", "review_overdue", "beyond_max_duration",
    "mentor_deregistered", "mentee_departed")
"""The reasons a duo needs a coordinator, in the order they are listed."""
(FIRST_MEETING_OVERDUE, CONTACT_OVERDUE, REVIEW_OVERDUE, BEYOND_MAX_DURATION,
 MENTOR_DEREGISTERED, MENTEE_DEPARTED) = REASONS

Span = tuple[str, int, int]
"""(reason, first day, day after the last)."""

SHORT: Final = 64
"""Spans of at most this many days are *short*: one containing a date starts less than
this many days before it, which is how ``attention`` finds them."""


def _joined(reason: str, spans: Iterable[tuple[int, int]]) -> list[Span]:
    joined: list[Span] = []
    for start, end in spans:
        if start >= end:
            continue
        if joined and joined[-1][2] == start:
            joined[-1] = (reason, joined[-1][1], end)
        else:
            joined.append((reason, start, end))
    return joined


def spans(facts: Facts, timeline: Timeline, review_days: Iterable[str], departed: int, *,
          first_meeting_within_days: int, contact_interval_days: int,
          max_duration_days: int, review_interval_days: int,
          reviews_first_interval: int, states: Sequence[State] | None = None) -> list[Span]:
    """The duo's spans of the reasons of its own (see the module's description).

    Args:
        facts: the duo's facts (:func:`projections.facts.duo_facts`, corrected dates).
        timeline: its contact timeline, sorted.
        review_days: the ISO dates of its reviews.
        departed: the day of a departure recorded on the duo (NEVER: none).
        states: :func:`projections.facts.timeline_states` of ``timeline``, when the
            caller has them already (a rebuild makes them for the month states too).
    """
    recruited, matched, activated, closed = facts[0], facts[2], facts[3], facts[4]
    found: list[Span] = []
    _add(found, MENTEE_DEPARTED, max(departed, recruited), closed)
    if matched != NEVER:
        _add(found, FIRST_MEETING_OVERDUE, matched + first_meeting_within_days + 1,
             min(activated, closed))
        found += _review_spans(matched, closed, sorted(day(d) for d in review_days),
                               review_interval_days, reviews_first_interval)
    if activated != NEVER:
        found += _contact_spans(activated, closed, timeline_states(timeline)
                                if states is None else states, contact_interval_days)
        _add(found, BEYOND_MAX_DURATION, activated + max_duration_days + 1, closed)
    return found


def _add(found: list[Span], reason: str, start: int, end: int) -> None:
    """Append the span ``[start, end)`` of ``reason`` unless it is empty, joined to the
    last one found when that one is of the same reason and ends where it starts (what
    :func:`_joined` does, for one span at a time)."""
    if start >= end:
        return
    if found and found[-1][2] == start and found[-1][0] == reason:
        found[-1] = (reason, found[-1][1], end)
    else:
        found.append((reason, start, end))


def _contact_spans(activated: int, closed: int, states: Sequence[State],
                   interval: int) -> list[Span]:
    # Between two changes of the counted contacts from the activation on (a contact's
    # day, a retraction's day), overdue from the latest one counted then (the
    # activation without one) plus the interval, until the next change or the close.
    found: list[Span] = []
    start, latest = activated, 0
    for state in states:
        on = state[0]
        if on < activated:
            continue
        due = (latest or activated) + interval + 1
        if due < on and due < closed:  # else no span (most changes come before it)
            _add(found, CONTACT_OVERDUE, max(start, due), min(on, closed))
        start, latest = on, state[5]
    _add(found, CONTACT_OVERDUE, max(start, (latest or activated) + interval + 1), closed)
    return found


def _review_spans(matched: int, closed: int, reviews: list[int], every: int,
                  first: int) -> list[Span]:
    counts = Counter((on - matched) // every for on in reviews if on >= matched)
    last = max(counts, default=-1)
    short: list[tuple[int, int]] = []
    for window in range(last + 1):
        if counts[window] < (first if window == 0 else 1):
            ended = matched + (window + 1) * every - 1
            short.append((ended, min(ended + every, closed)))
    # Every window after the latest review's is short of reviews: from the end of the
    # next one on, until the close.
    short.append((matched + (last + 2) * every - 1, closed))
    return _joined(REVIEW_OVERDUE, short)
