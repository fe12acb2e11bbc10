"""The evaluation sections on the ``as_of`` day itself, worked out by hand: what
happens on the day counts (docs/interface.md, "Evaluation sections")."""

from __future__ import annotations

import numpy as np
import pytest

from lifecycle.domain.vocabulary import CloseReason
from projections.evaluation import (
    Lifecycle,
    Policies,
    change_summary,
    closure,
    first_meeting,
    outcomes,
    windows_due,
)
from projections.facts import NEVER

DAY = 1000


def duos(*rows: tuple[int, int, int, int, bool]) -> Lifecycle:
    """(matched, activated, closed, reason, from_active) per duo."""
    columns = list(zip(*rows, strict=True))
    return Lifecycle(*(np.array(c, dtype=np.int64) for c in columns[:4]),
                     np.array(columns[4], dtype=bool))


def policies(n: int, *, within: int = 14, review_interval: int = 30) -> Policies:
    def full(v: int) -> np.ndarray:
        return np.full(n, v, dtype=np.int64)
    return Policies(full(within), full(182), full(365), full(2), full(review_interval))


def test_a_first_meeting_on_the_as_of_day_counts_and_a_close_on_it_ends_the_wait() -> None:
    """Duo 0, matched 20 days before, met on the day: late. Duo 1, matched 50 days
    before and never met, closed on the day: no longer waiting."""
    lifecycle = duos((DAY - 20, DAY, NEVER, -1, False),
                     (DAY - 50, NEVER, DAY, 0, False))
    assert first_meeting(lifecycle, policies(2), DAY) == {
        "on_time": 0, "late": 1, "waiting_overdue": 0}


def test_a_close_and_its_exit_interview_on_the_as_of_day_count() -> None:
    lifecycle = duos((DAY - 300, DAY - 290, DAY, 0, True))
    section = closure(lifecycle, policies(1), np.array([DAY], dtype=np.int64), DAY)
    assert (section["closed"], section["from_active"], section["exit_interviews"]) == (
        1, 1, 1)
    assert section["exit_interview_rate"] == 1.0


def test_a_duo_matched_on_the_as_of_day_has_its_first_day_long_window_due() -> None:
    """With reviews every day, the match day is window 0, due at its end: that day."""
    lifecycle = duos((DAY, NEVER, NEVER, -1, False))
    assert windows_due(lifecycle, policies(1, review_interval=1), DAY).tolist() == [1]


@pytest.mark.parametrize(("changes", "median"), [
    ([4, 1, 3, 2], 2.5), ([1, 2, 3, 4, 5, 6], 3.5), ([-3, 1, 5], 1), ([7], 7)])
def test_the_median_change_is_the_middle_or_the_mean_of_the_two_middle_changes(
        changes: list[int], median: float) -> None:
    summary = change_summary(np.array(changes, dtype=np.int64), "wellbeing")
    assert summary["median_change"] == median
    assert type(summary["median_change"]) is type(median)


def _reason(reason: CloseReason) -> int:
    return tuple(CloseReason).index(reason)


def test_each_chain_takes_the_outcome_of_its_latest_duo_recruited_by_the_as_of_day() -> None:
    """Chain 7: completed, then a new duo recruited on the day itself (open). Chain 8:
    closed on the day as the mentee withdrew (a dropout). Chain 9: its one duo is
    recruited the day after (no outcome yet: open). Chain 10: closed as the programme
    ended (not a dropout). Chain 11: completed; its second duo is recruited after the day."""
    rows = [  # (recruited, closed, reason, chain)
        (DAY - 100, DAY - 10, _reason(CloseReason.COMPLETED), 7),
        (DAY, NEVER, -1, 7),
        (DAY - 50, DAY, _reason(CloseReason.MENTEE_WITHDREW), 8),
        (DAY + 1, NEVER, -1, 9),
        (DAY - 30, DAY - 1, _reason(CloseReason.PROGRAMME_ENDED), 10),
        (DAY - 40, DAY - 2, _reason(CloseReason.COMPLETED), 11),
        (DAY + 3, NEVER, -1, 11),
    ]
    recruited, closed, reason, chain = (np.array(c, dtype=np.int64)
                                        for c in zip(*rows, strict=True))
    assert outcomes(recruited, closed, reason, chain, DAY) == [
        "open", "open", "dropout", "open", "other_close", "completed", "completed"]
    assert outcomes(recruited[:0], closed[:0], reason[:0], chain[:0], DAY) == []
