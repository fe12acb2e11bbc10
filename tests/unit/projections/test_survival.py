"""Kaplan-Meier as CONTRACT §4 defines it, by hand and against ``lifelines``."""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.survival import fit, fit_arrays, survival_at


def test_estimate_is_the_product_over_event_times_of_one_minus_deaths_over_at_risk() -> None:
    # durations 5(event) 10(censored) 10(event) 10(event) 20(event) 30(censored)
    # t=5: n=6, d=1 -> 5/6; t=10: n=5, d=2 -> 5/6*3/5 = 1/2; t=20: n=2, d=1 -> 1/4
    curve = fit([(5, True), (10, False), (10, True), (10, True), (20, True), (30, False)])
    assert curve.at(4) == 1.0
    assert curve.at(5) == pytest.approx(5 / 6, abs=1e-12)
    assert curve.at(9) == pytest.approx(5 / 6, abs=1e-12)
    assert curve.at(10) == pytest.approx(1 / 2, abs=1e-12)
    assert curve.at(20) == pytest.approx(1 / 4, abs=1e-12)
    assert curve.at(30) == pytest.approx(1 / 4, abs=1e-12)
    assert curve.times == (5, 10, 20)
    assert curve.subjects == 6
    assert curve.longest == 30


def test_no_subject_gives_null_everywhere() -> None:
    assert survival_at([], (0, 30, 90)) == {0: None, 30: None, 90: None}


def test_beyond_the_longest_duration_with_estimate_above_zero_is_null() -> None:
    # longest duration 40 (censored), estimate there 1/2
    result = survival_at([(10, True), (40, False)], (10, 40, 41, 365))
    assert result == {10: 0.5, 40: 0.5, 41: None, 365: None}


def test_once_the_estimate_reaches_zero_it_stays_zero_beyond_the_longest() -> None:
    # both subjects have events; the last event empties the risk set: S(20) = 1/2 * 0
    result = survival_at([(10, True), (20, True)], (9, 10, 20, 21, 365))
    assert result == {9: 1.0, 10: 0.5, 20: 0.0, 21: 0.0, 365: 0.0}


def test_only_censored_subjects_give_one_up_to_the_longest_then_null() -> None:
    assert survival_at([(0, False), (30, False)], (0, 30, 31)) == {0: 1.0, 30: 1.0, 31: None}


def test_an_event_on_day_zero_counts_at_every_horizon() -> None:
    # n=2 at t=0, d=1: S = 1/2; longest duration 50 (censored)
    assert survival_at([(0, True), (50, False)], (0, 30, 50, 51)) == {
        0: 0.5, 30: 0.5, 50: 0.5, 51: None}


def _lifelines_estimate(durations: list[int], events: list[bool], at: list[int]) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifelines import KaplanMeierFitter

        fitter = KaplanMeierFitter().fit(durations, event_observed=events)
        return list(fitter.survival_function_at_times(at).values)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 80))
def test_agrees_with_lifelines_on_random_censored_data_with_ties(seed: int, size: int) -> None:
    rnd = random.Random(seed)
    # few distinct durations, so ties between events and censorings are common
    durations = [rnd.randint(0, 40) for _ in range(size)]
    events = [rnd.random() < 0.5 for _ in range(size)]
    curve = fit(zip(durations, events, strict=True))
    horizons = list(range(0, max(durations) + 1))
    expected = _lifelines_estimate(durations, events, horizons)
    for t, want in zip(horizons, expected, strict=True):
        assert curve.at(t) == pytest.approx(float(want), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(0, 200))
def test_the_array_fit_is_the_same_curve_to_the_bit(seed: int, size: int) -> None:
    rnd = random.Random(seed)
    durations = [rnd.randint(0, 400) for _ in range(size)]
    events = [rnd.random() < 0.3 for _ in range(size)]
    curve = fit(zip(durations, events, strict=True))
    assert fit_arrays(np.array(durations, dtype=np.int64), np.array(events, dtype=bool)) == curve
