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


def _duo_spans(activated: int, closed: int = NEVER,
               timeline: list[tuple[int, int, int, int]] | None = None,
               review_days: list[int] | None = None) -> list[tuple[str, int, int]]:
    return spans(_facts(MATCHED - 5, MATCHED, activated, closed),  # type: ignore[arg-type]
                 timeline or [], [date.fromordinal(d).isoformat() for d in review_days or []],
                 NEVER, first_meeting_within_days=14, contact_interval_days=14,
                 max_duration_days=365, review_interval_days=30, reviews_first_interval=2)


def _of(reason: str, found: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    return [(start, end) for r, start, end in found if r == reason]


def test_the_first_meeting_is_overdue_from_the_15th_day_until_the_activation() -> None:
    # Within 14 days: overdue from matched + 15 (day 15 is more than 14 days after).
    found = _duo_spans(MATCHED + 20)
    assert _of("first_meeting_overdue", found) == [(MATCHED + 15, MATCHED + 20)]
    assert _of("first_meeting_overdue", _duo_spans(NEVER)) == [(MATCHED + 15, NEVER)]


def test_contact_is_overdue_between_two_contacts_and_after_the_last() -> None:
    # Contacts on activation + 3 and + 40: overdue from 3 + 15 = 18 until the second
    # contact, then from 40 + 15 = 55 on.
    found = _duo_spans(ACTIVATED, timeline=[(ACTIVATED + 3, NEVER, 1, 30),
                                            (ACTIVATED + 40, NEVER, 1, 30)])
    assert _of("contact_overdue", found) == [(ACTIVATED + 18, ACTIVATED + 40),
                                             (ACTIVATED + 55, NEVER)]


def test_a_retraction_after_the_latest_contact_leaves_its_span_in_one_piece() -> None:
    # A contact dated 3 days before the activation (as when the activation is corrected
    # to after a contact since retracted) is retracted on activation + 30; the contact
    # of activation + 3 is the latest counted all along: overdue from 3 + 15 = 18 on,
    # one span across the retraction's day.
    found = _duo_spans(ACTIVATED, timeline=[(ACTIVATED - 3, ACTIVATED + 30, 1, 30),
                                            (ACTIVATED + 3, NEVER, 1, 30)])
    assert _of("contact_overdue", found) == [(ACTIVATED + 18, NEVER)]


def test_reviews_are_overdue_in_two_pieces_around_a_window_met() -> None:
    # One review in window 0 (days 0-29, 2 needed): short from its end, matched + 29,
    # until window 1 (days 30-59, one review on day 35: met) ends on matched + 59; then
    # window 2 has none: short from its end, matched + 89, on.
    found = _duo_spans(ACTIVATED, review_days=[MATCHED + 5, MATCHED + 35])
    assert _of("review_overdue", found) == [(MATCHED + 29, MATCHED + 59),
                                            (MATCHED + 89, NEVER)]


def test_a_duo_closed_on_the_last_day_of_its_first_window_is_never_review_overdue() -> None:
    # Closed on matched + 29, the day window 0 would end short: no day left open. The
    # contact is overdue from activation + 15 = matched + 25 until the close.
    assert _duo_spans(ACTIVATED, closed=MATCHED + 29) == [
        ("contact_overdue", MATCHED + 25, MATCHED + 29)]
