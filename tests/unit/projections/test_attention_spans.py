"""The spans of one duo's own attention reasons (``projections.attention.spans``) at
the edges of its policy, worked by hand (found by mutation testing, docs/mutation.md).

Policy of every case: first meeting within 14 days, a contact every 14 days, at most
365 days, a review window of 30 days with 2 reviews in the first one (1 in one case).
"""

from __future__ import annotations

from datetime import date

from projections.attention import spans
from projections.facts import NEVER

MATCHED = date(2025, 3, 1).toordinal()
ACTIVATED = MATCHED + 10


def _facts(recruited: int, matched: int, activated: int, closed: int) -> tuple[int, ...]:
    # Only the lifecycle days are read: recruited, matched, activated, closed.
    return (recruited, NEVER, matched, activated, closed, *([NEVER] * 8))


def _spans(review_days: list[str], reviews_first_interval: int = 2) -> list[tuple[str, int, int]]:
    return spans(_facts(MATCHED - 5, MATCHED, ACTIVATED, NEVER), [],  # type: ignore[arg-type]
                 review_days, NEVER, first_meeting_within_days=14,
                 contact_interval_days=14, max_duration_days=365,
                 review_interval_days=30, reviews_first_interval=reviews_first_interval)


def test_an_open_duo_without_contacts_or_reviews_worked_by_hand() -> None:
    # Activated 10 days after the match, within its 14 days: no first_meeting span.
    # No review: window 0 (days 0-29 from the match) ends on matched + 29, short of
    # reviews from then on. No contact: overdue from the 15th day after activation
    # (more than 14 days since it). Beyond 365 days from the 366th day after activation.
    assert _spans([]) == [
        ("review_overdue", MATCHED + 29, NEVER),
        ("contact_overdue", ACTIVATED + 15, NEVER),
        ("beyond_max_duration", ACTIVATED + 366, NEVER),
    ]


def test_a_review_on_the_match_day_counts_for_the_first_window() -> None:
    # One review is enough in window 0 here; made on the day of the match, it fills it,
    # so the reviews are short only from the end of window 1 (matched + 59).
    on_match_day = date.fromordinal(MATCHED).isoformat()
    assert _spans([on_match_day], reviews_first_interval=1)[0] == (
        "review_overdue", MATCHED + 59, NEVER)


def test_a_span_of_no_day_is_left_out() -> None:
    # Activated on the 15th day after the match: the first meeting would be overdue
    # from that very day until the activation, which is no day at all.
    activated = MATCHED + 15
    found = spans(_facts(MATCHED - 5, MATCHED, activated, NEVER), [],  # type: ignore[arg-type]
                  [], NEVER, first_meeting_within_days=14, contact_interval_days=14,
                  max_duration_days=365, review_interval_days=30, reviews_first_interval=2)
    assert [reason for reason, _, _ in found] == [
        "review_overdue", "contact_overdue", "beyond_max_duration"]
    assert all(start < end for _, start, end in found)
