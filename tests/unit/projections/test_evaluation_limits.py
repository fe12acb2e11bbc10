"""The evaluation sections at the limits of what they are given, worked out by hand:
the ranges refused and the last day, erased healths, changes of 0, reviews before a
match, the order of survey pairs, the month of a day not seen before, the sections of
nothing (docs/interface.md, "Evaluation sections")."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from lifecycle.domain.vocabulary import CloseReason
from projections import evaluation
from projections.evaluation import (
    COUNTERS,
    Lifecycle,
    Pairs,
    Policies,
    Reviews,
    Schedule,
    Surveys,
    change_summary,
    dropouts_by_month,
    entries,
    monitoring,
    pairs,
    pairs_section,
    schedule,
    surveys_section,
)
from projections.facts import NEVER

D = 739_000
NO_CHANGE = {"pairs": 0, "mean_change": None, "median_change": None, "improved": 0,
             "unchanged": 0, "worsened": 0}


def _a(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _duos(matched: list[int], closed: list[int] | None = None,
          reason: list[int] | None = None) -> Lifecycle:
    n = len(matched)
    return Lifecycle(_a(matched), _a([NEVER] * n), _a(closed or [NEVER] * n),
                     _a(reason or [-1] * n), np.zeros(n, dtype=bool))


def _policies(n: int, *, first: int = 2, interval: int = 30) -> Policies:
    return Policies(*(np.full(n, v, dtype=np.int64) for v in (14, 182, 365, first, interval)))


def _reviews(*rows: tuple[int, int, int, int]) -> Reviews:
    """(duo row, day, order, health) per review."""
    return Reviews(*(_a(list(c)) for c in zip(*rows, strict=True)))


def _reviewed(*rows: tuple[int, int, int]) -> Schedule:
    """A schedule of reviews (duo row, day, health) and no met window."""
    row, day, health = (_a(list(c)) for c in zip(*rows, strict=True))
    return Schedule(row, day, health, _a([]), _a([]))


def _paired(changes: list[int]) -> Pairs:
    """One mentee pair of duo 0 on day D with these four changes."""
    return Pairs(_a([0]), _a([0]), _a([D]), _a(changes).reshape(1, 4))


# ---------------------------------------------------------------- ranges

@pytest.mark.parametrize("health", [-1, 6])
def test_a_review_health_outside_0_to_5_is_refused_with_its_message(health: int) -> None:
    with pytest.raises(ValueError, match=r"^a review's health is out of range$"):
        entries(_reviewed((0, D, 3), (0, D + 1, health)), Pairs.none(), _a([]), _a([]))


@pytest.mark.parametrize("change", [-5, 5])
def test_a_survey_change_beyond_4_is_refused_with_its_message(change: int) -> None:
    with pytest.raises(ValueError, match=r"^a survey change is out of range$"):
        entries(Schedule.none(), _paired([0, 1, change, -4]), _a([]), _a([]))


def test_an_erased_health_is_a_review_that_leaves_the_latest_health() -> None:
    """Duo 0's only review, its mentee forgotten (health 0), is dated the day after
    as_of: nothing at as_of; a review, and no latest health, on its day."""
    one = _duos([D])
    erased = _reviews((0, D + 1, 2, evaluation.ERASED))
    before = monitoring(one, _policies(1), erased, D)
    assert (before["reviews"], before["latest_health"]["n"]) == (0, 0)
    on_the_day = monitoring(one, _policies(1), erased, D + 1)
    assert (on_the_day["reviews"], on_the_day["latest_health"]["n"]) == (1, 0)


def test_a_review_dated_on_the_last_day_counts_on_it() -> None:
    """9999-12-31 is the last day an entry can have; a review on it counts there."""
    last = date(9999, 12, 31).toordinal()
    result = monitoring(_duos([D]), _policies(1), _reviews((0, last, 2, 4)), last)
    assert result["reviews"] == 1
    assert result["latest_health"] == {"n": 1, "median": 4, "mean": 4}


def test_the_latest_healths_summary_is_whole_when_its_median_and_mean_are() -> None:
    """Latest healths 2, 4 and 3 (duo 1's later review of 4 replaces its 1): median 3,
    mean 9 / 3 = 3, both ints as the report prints them."""
    r = _reviews((0, D + 1, 2, 2), (1, D + 1, 2, 1), (1, D + 3, 3, 4), (2, D + 2, 2, 3))
    health = monitoring(_duos([D, D, D]), _policies(3), r, D + 5)["latest_health"]
    assert health == {"n": 3, "median": 3, "mean": 3}
    assert (type(health["median"]), type(health["mean"])) == (int, int)


# ---------------------------------------------------------------- the schedule

def test_a_review_of_a_duo_not_yet_matched_or_before_its_match_meets_no_window() -> None:
    """Reviews every day, one required in the first window. Duo 0 is not matched: its
    review on D is in no window. Duo 1 is matched on D: its review on D - 1 is before
    window 0 (D..D), which it therefore does not meet."""
    done = schedule(_duos([NEVER, D]), _policies(2, first=1, interval=1),
                    _reviews((0, D, 2, 3), (1, D - 1, 2, 4)))
    assert (done.met_row.tolist(), done.met_day.tolist()) == ([], [])
    # both are still reviews, in the order of row
    assert (done.review_row.tolist(), done.review_day.tolist()) == ([0, 1], [D, D - 1])


# ---------------------------------------------------------------- survey changes

@pytest.mark.parametrize(("measure", "improved", "worsened"), [
    ("wellbeing", 1, 3), ("integration", 1, 3), ("confidence", 1, 3), ("stress", 3, 1)])
def test_a_change_of_0_is_unchanged_and_stress_improves_when_it_falls(
        measure: str, improved: int, worsened: int) -> None:
    """Changes -3, -2, -1, 0, 0, +1: a rise improves, a fall worsens, except for stress;
    mean -5 / 6, median (-1 + 0) / 2; no signed-rank test unless asked for."""
    assert change_summary(_a([0, -3, 1, -1, 0, -2]), measure) == {
        "pairs": 6, "mean_change": -5 / 6, "median_change": -0.5, "improved": improved,
        "unchanged": 2, "worsened": worsened}


def test_the_survey_section_of_no_pair_has_no_test_unless_asked_for() -> None:
    no_pairs = np.zeros(COUNTERS, dtype=np.int64)
    measures = ("wellbeing", "stress", "integration", "confidence")
    assert pairs_section(no_pairs) == {
        respondent: dict.fromkeys(measures, NO_CHANGE) for respondent in ("mentee", "mentor")}
    tested = pairs_section(no_pairs, tests=True)
    assert tested["mentor"]["stress"] == {**NO_CHANGE, "signed_rank": None}


def test_survey_pairs_come_in_the_order_of_duo_and_then_respondent() -> None:
    """Eight duos, each with a mentee pair (wellbeing 2 -> 3, post on D + 90) and a
    mentor pair (confidence 3 -> 1, post on D + 100), given mentor first and duos
    backwards."""
    answers = []
    for row in reversed(range(8)):
        answers += [(row, 1, 1, D + 100, (3, 3, 3, 1)), (row, 1, 0, D, (3, 3, 3, 3)),
                    (row, 0, 1, D + 90, (3, 3, 3, 3)), (row, 0, 0, D, (2, 3, 3, 3))]
    row, respondent, phase, day = (_a([a[i] for a in answers]) for i in range(4))
    found = pairs(Surveys(row, respondent, phase, day, _a([a[4] for a in answers])))
    assert found.row.tolist() == [r for r in range(8) for _ in (0, 1)]
    assert found.respondent.tolist() == [0, 1] * 8
    assert found.day.tolist() == [D + 90, D + 100] * 8
    assert found.changes.tolist() == [[1, 0, 0, 0], [0, 0, 0, -2]] * 8


# ---------------------------------------------------------------- dropouts

def test_a_dropout_closed_on_the_as_of_day_counts_in_its_month() -> None:
    withdrew = tuple(CloseReason).index(CloseReason.MENTEE_WITHDREW)
    day = date(2025, 4, 30).toordinal()
    assert dropouts_by_month(_duos([D], [day], [withdrew]), day) == {"2025-04": 1}


def test_the_month_of_a_day_not_seen_before_is_its_calendar_month(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With no month known yet (the cache emptied), then again from what was learnt."""
    monkeypatch.setattr(evaluation, "_MONTHS", {})
    mismatch = tuple(CloseReason).index(CloseReason.MISMATCH)
    days = [date(1987, 2, 28).toordinal(), date(1987, 3, 1).toordinal(),
            date(1987, 2, 1).toordinal()]
    lifecycle = _duos([NEVER] * 3, days, [mismatch] * 3)
    as_of = date(1987, 12, 31).toordinal()
    assert dropouts_by_month(lifecycle, as_of) == {"1987-02": 2, "1987-03": 1}
    assert dropouts_by_month(lifecycle, as_of) == {"1987-02": 2, "1987-03": 1}


# ---------------------------------------------------------------- nothing

def test_the_reviews_and_surveys_of_none_are_empty_whole_numbers() -> None:
    reviews, surveys = Reviews.none(), Surveys.none()
    for array in (reviews.row, reviews.day, reviews.order, reviews.health,
                  surveys.row, surveys.respondent, surveys.phase, surveys.day):
        assert (array.shape, array.dtype) == ((0,), np.int64)
    assert (surveys.scores.shape, surveys.scores.dtype) == ((0, 4), np.int64)
    assert monitoring(_duos([]), _policies(0), reviews, D)["reviews"] == 0
    assert surveys_section(surveys, D)["mentee"]["wellbeing"] == NO_CHANGE
