"""The report's evaluation sections, worked by hand on small arrays, and the monitoring
schedule against an independent count over days."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.evaluation import (
    Chains,
    Lifecycle,
    Policies,
    Reviews,
    Surveys,
    closure,
    dropouts_by_month,
    first_meeting,
    monitoring,
    retention,
    surveys_section,
    survival_curve,
)
from projections.facts import NEVER

D = 739_000  # an ordinal day: 2024-05-...; every test counts from it
COMPLETED, MISMATCH, REMATCHED = 0, 7, 2


def _a(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def duos(matched: list[int], activated: list[int] | None = None,
         closed: list[int] | None = None, reason: list[int] | None = None,
         from_active: list[bool] | None = None) -> Lifecycle:
    n = len(matched)
    return Lifecycle(
        matched=_a(matched), activated=_a(activated or [NEVER] * n),
        closed=_a(closed or [NEVER] * n), reason=_a(reason or [-1] * n),
        from_active=np.array(from_active or [False] * n, dtype=bool))


def policies(n: int, *, within: int = 14, min_days: int = 182, max_days: int = 365,
             first: int = 2, interval: int = 30) -> Policies:
    return Policies(*(np.full(n, v, dtype=np.int64)
                      for v in (within, min_days, max_days, first, interval)))


def reviews(entries: list[tuple[int, int, int, int]]) -> Reviews:
    cols = list(zip(*entries, strict=True)) if entries else [[], [], [], []]
    return Reviews(*(_a(list(c)) for c in cols))


# ---------------------------------------------------------------- first meetings

def test_a_first_meeting_on_the_last_allowed_day_is_on_time() -> None:
    result = first_meeting(duos([D, D], [D + 14, D + 15]), policies(2), D + 100)
    assert result == {"on_time": 1, "late": 1, "waiting_overdue": 0}


def test_a_duo_waits_overdue_only_past_the_allowed_days() -> None:
    matched = duos([D, D - 1, D - 20], closed=[NEVER, NEVER, D - 1])
    # as_of − matched: 14 (not overdue), 15 (overdue), 34 but closed: not waiting
    assert first_meeting(matched, policies(3), D + 14) == {
        "on_time": 0, "late": 0, "waiting_overdue": 1}


def test_a_meeting_after_as_of_does_not_count_yet() -> None:
    result = first_meeting(duos([D], [D + 5]), policies(1), D + 4)
    assert result == {"on_time": 0, "late": 0, "waiting_overdue": 0}


def test_each_duo_is_judged_by_its_own_programmes_first_meeting_days() -> None:
    p = Policies(_a([7, 21]), *(_a([v, v]) for v in (182, 365, 2, 30)))
    assert first_meeting(duos([D, D], [D + 10, D + 10]), p, D + 50) == {
        "on_time": 1, "late": 1, "waiting_overdue": 0}


# ---------------------------------------------------------------- monitoring

def test_monitoring_windows_are_due_when_their_last_day_has_come() -> None:
    # matched D; windows 0: D..D+29 (2 required), 1: D+30..D+59, 2: D+60..D+89
    one = duos([D])
    r = reviews([(0, D, 2, 4), (0, D + 29, 3, 3), (0, D + 45, 4, 5)])
    assert monitoring(one, policies(1), r, D + 88) == {
        "reviews": 3, "windows_due": 2, "windows_met": 2, "compliance": 1.0,
        "latest_health": {"n": 1, "median": 5, "mean": 5}}
    assert monitoring(one, policies(1), r, D + 89)["windows_due"] == 3
    assert monitoring(one, policies(1), r, D + 89)["windows_met"] == 2


def test_the_first_window_needs_as_many_reviews_as_the_policy_asks() -> None:
    r = reviews([(0, D + 3, 2, 4)])
    result = monitoring(duos([D]), policies(1, first=2), r, D + 40)
    assert (result["windows_due"], result["windows_met"]) == (1, 0)
    result = monitoring(duos([D]), policies(1, first=1), r, D + 40)
    assert (result["windows_due"], result["windows_met"]) == (1, 1)


def test_a_window_still_open_at_the_close_is_never_due() -> None:
    # closed on D+50, inside window 1 (D+30..D+59): only window 0 is due
    one = duos([D], [D + 1], [D + 50], [MISMATCH], [True])
    r = reviews([(0, D + 1, 2, 4), (0, D + 2, 3, 4), (0, D + 31, 4, 2)])
    result = monitoring(one, policies(1), r, D + 400)
    assert (result["windows_due"], result["windows_met"]) == (1, 1)
    assert result["compliance"] == 1.0


def test_a_window_ending_on_the_closing_day_is_due() -> None:
    one = duos([D], [D + 1], [D + 59], [MISMATCH], [True])
    assert monitoring(one, policies(1), reviews([]), D + 400)["windows_due"] == 2


def test_no_window_is_due_before_the_first_ends_and_compliance_is_then_null() -> None:
    result = monitoring(duos([D, NEVER]), policies(2), reviews([(1, D, 2, 3)]), D + 28)
    assert result["windows_due"] == 0
    assert result["compliance"] is None
    # a review of a duo not (yet) matched is counted as a review all the same
    assert result["reviews"] == 1


def test_of_two_reviews_on_one_day_the_one_recorded_last_gives_the_latest_health() -> None:
    r = reviews([(0, D + 5, 7, 2), (0, D + 5, 6, 5), (1, D + 2, 3, 4)])
    result = monitoring(duos([D, D]), policies(2), r, D + 10)
    assert result["latest_health"] == {"n": 2, "median": 3.0, "mean": 3}
    assert isinstance(result["latest_health"]["median"], float)


def test_reviews_after_as_of_are_left_out() -> None:
    r = reviews([(0, D + 5, 2, 2), (0, D + 9, 3, 5)])
    result = monitoring(duos([D]), policies(1), r, D + 8)
    assert result["reviews"] == 1
    assert result["latest_health"]["median"] == 2


def _brute_force_monitoring(matched: int, closed: int, interval: int, first: int,
                            review_days: list[int], as_of: int) -> tuple[int, int]:
    """Windows due and met by walking day by day, independently of the arrays."""
    if matched > as_of:
        return 0, 0
    due = met = 0
    start = matched
    while True:
        end = start + interval - 1
        if end > as_of or (closed <= as_of and end > closed):
            return due, met
        due += 1
        k = (start - matched) // interval
        need = first if k == 0 else 1
        held = sum(1 for d in range(start, end + 1) for r in review_days if r == d)
        met += held >= need
        start = end + 1


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_schedule_agrees_with_a_count_over_days(seed: int) -> None:
    rnd = random.Random(seed)
    n = rnd.randint(1, 6)
    interval, first = rnd.randint(1, 20), rnd.randint(1, 3)
    matched = [D + rnd.randint(0, 30) if rnd.random() < 0.9 else NEVER for _ in range(n)]
    closed = [m + rnd.randint(0, 120) if m != NEVER and rnd.random() < 0.5 else NEVER
              for m in matched]
    activated = [m if m != NEVER else NEVER for m in matched]
    entries, days = [], {i: [] for i in range(n)}
    for i in range(n):
        base = matched[i] if matched[i] != NEVER else D
        for v in range(rnd.randint(0, 8)):
            d = base + rnd.randint(-3, 130)
            if closed[i] != NEVER and d > closed[i]:
                continue
            entries.append((i, d, v + 2, rnd.randint(1, 5)))
            days[i].append(d)
    as_of = D + rnd.randint(0, 160)
    lifecycle = duos(matched, activated, closed, [MISMATCH if c != NEVER else -1
                                                  for c in closed],
                     [c != NEVER for c in closed])
    result = monitoring(lifecycle, policies(n, first=first, interval=interval),
                        reviews(entries), as_of)
    want_due = want_met = 0
    for i in range(n):
        due, met = _brute_force_monitoring(matched[i], closed[i], interval, first,
                                           [d for d in days[i] if d <= as_of], as_of)
        want_due += due
        want_met += met
    assert (result["windows_due"], result["windows_met"]) == (want_due, want_met)


# ---------------------------------------------------------------- closure

def test_closure_counts_early_closes_below_the_minimum_whatever_the_reason() -> None:
    d = duos([D] * 4, [D] * 4, [D + 181, D + 182, D + 10, D + 5],
             [COMPLETED, MISMATCH, REMATCHED, MISMATCH], [True, True, True, False])
    # exit interviews at the first and the last close (the other duos: NEVER)
    exit_days = _a([D + 181, NEVER, NEVER, D + 5])
    assert closure(d, policies(4), exit_days, D + 400) == {
        "closed": 4, "from_active": 3, "completed": 1, "early": 2,
        "early_rate": 2 / 3, "beyond_max_active": 0, "exit_interviews": 2,
        "exit_interview_rate": 0.5}


def test_an_active_duo_is_beyond_the_maximum_only_past_it() -> None:
    d = duos([D, D], [D, D - 1])
    result = closure(d, policies(2), _a([NEVER, NEVER]), D + 365)
    assert result["beyond_max_active"] == 1
    assert result["early_rate"] is None and result["exit_interview_rate"] is None


# ---------------------------------------------------------------- retention

def test_retention_counts_departures_by_as_of_and_censors_those_in_service() -> None:
    chains = Chains(_a([D, D, D, D + 500]), _a([D + 50, D + 100, NEVER, NEVER]),
                    _a([0, 2, -1, -1]))
    result = retention(chains, D + 99)
    assert result["mentees"] == 3
    assert result["departed"] == 1
    assert result["by_reason"] == {"resigned": 1, "dismissed": 0, "retired": 0, "other": 0}
    # durations 50 (event), 99, 99 (censored): S(90) = 1 − 1/3 (the product formula);
    # 182 and 365 lie beyond the longest duration with S above 0: null
    assert result["in_service"] == {"90": 1 - 1 / 3, "182": None, "365": None}


def test_retention_of_everyone_departed_falls_to_zero_and_stays_there() -> None:
    chains = Chains(_a([D, D]), _a([D + 10, D + 20]), _a([3, 1]))
    assert retention(chains, D + 30)["in_service"] == {"90": 0.0, "182": 0.0, "365": 0.0}


def test_retention_of_nobody_is_null() -> None:
    assert retention(Chains.none(), D) == {
        "mentees": 0, "departed": 0,
        "by_reason": {"resigned": 0, "dismissed": 0, "retired": 0, "other": 0},
        "in_service": {"90": None, "182": None, "365": None}}


# ---------------------------------------------------------------- surveys

def _surveys(entries: list[tuple[int, int, int, int, tuple[int, int, int, int]]]) -> Surveys:
    return Surveys(_a([e[0] for e in entries]), _a([e[1] for e in entries]),
                   _a([e[2] for e in entries]), _a([e[3] for e in entries]),
                   np.array([e[4] for e in entries], dtype=np.int64).reshape(-1, 4))


def test_a_pair_needs_both_surveys_of_the_same_respondent_by_as_of() -> None:
    s = _surveys([
        (0, 0, 0, D, (3, 4, 2, 2)), (0, 0, 1, D + 90, (4, 2, 2, 3)),   # mentee pair
        (1, 0, 0, D, (3, 3, 3, 3)),                                     # only a pre
        (0, 1, 1, D + 90, (5, 5, 5, 5)),                                # mentor post only
        (2, 0, 0, D, (2, 2, 2, 2)), (2, 0, 1, D + 200, (5, 5, 5, 5)),   # post after as_of
    ])
    result = surveys_section(s, D + 100)
    assert result["mentee"]["wellbeing"] == {
        "pairs": 1, "mean_change": 1.0, "median_change": 1, "improved": 1,
        "unchanged": 0, "worsened": 0}
    # one change of +1: W+ = 1, W− = 0, the statistic min(W+, W−) = 0
    tested = surveys_section(s, D + 100, tests=True)
    assert tested["mentee"]["wellbeing"]["signed_rank"] == {
        "n": 1, "statistic": 0.0, "p_value": 1.0}
    assert tested["mentor"]["confidence"]["signed_rank"] is None
    # stress fell 4 → 2: an improvement
    assert result["mentee"]["stress"]["improved"] == 1
    assert result["mentee"]["stress"]["mean_change"] == -2.0
    assert result["mentee"]["integration"]["unchanged"] == 1
    assert result["mentor"]["confidence"] == {
        "pairs": 0, "mean_change": None, "median_change": None, "improved": 0,
        "unchanged": 0, "worsened": 0}


def test_survey_medians_are_whole_for_an_odd_count_and_means_are_floats() -> None:
    s = _surveys([(i, 0, p, D, (w, 1, 1, 1)) for i, (a, b) in enumerate([(1, 2), (1, 3), (2, 2)])
                  for p, w in ((0, a), (1, b))])
    wellbeing = surveys_section(s, D)["mentee"]["wellbeing"]
    assert wellbeing["median_change"] == 1 and type(wellbeing["median_change"]) is int
    assert wellbeing["mean_change"] == 1.0 and type(wellbeing["mean_change"]) is float


# ---------------------------------------------------------------- dropouts

def test_dropouts_by_month_keeps_months_with_a_dropout_in_order() -> None:
    from datetime import date
    days = [date(2025, 3, 31).toordinal(), date(2025, 1, 2).toordinal(),
            date(2025, 3, 1).toordinal(), date(2025, 2, 1).toordinal()]
    d = duos([NEVER] * 4, closed=days, reason=[MISMATCH, MISMATCH, MISMATCH, REMATCHED])
    assert list(dropouts_by_month(d, date(2025, 12, 31).toordinal()).items()) == [
        ("2025-01", 1), ("2025-03", 2)]
    assert dropouts_by_month(d, date(2025, 1, 1).toordinal()) == {}


def test_the_survival_curve_of_nobody_is_empty_with_no_median() -> None:
    assert survival_curve(_a([]), np.array([], dtype=bool)) == ([], None)
