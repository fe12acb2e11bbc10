"""The Kaplan-Meier table, its 95 % band and the median: by hand and against lifelines."""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.survival import MEDIAN_TOLERANCE, curve_table, median_time


def test_an_empty_population_has_no_rows() -> None:
    assert curve_table([]) == []


def test_every_distinct_duration_has_a_row_and_t_zero_is_always_first() -> None:
    # durations 3 (event), 3 (censored), 5 (event), 8 (censored)
    rows = curve_table([(3, True), (3, False), (5, True), (8, False)])
    assert [(r["t"], r["at_risk"], r["events"], r["censored"]) for r in rows] == [
        (0, 4, 0, 0), (3, 4, 1, 1), (5, 2, 1, 0), (8, 1, 0, 1)]
    assert [r["s"] for r in rows] == [1.0, 0.75, 0.375, 0.375]
    assert rows[0]["lower"] == rows[0]["upper"] == 1.0


def test_the_band_follows_greenwood_on_the_log_minus_log_scale() -> None:
    rows = curve_table([(3, True), (3, False), (5, True), (8, False)])
    # at t=3: V = 1/(4·3); S = 0.75
    s, v = 0.75, 1 / 12
    spread = 1.959963984540054 * math.sqrt(v) / math.log(s)
    assert rows[1]["lower"] == pytest.approx(math.exp(-math.exp(math.log(-math.log(s)) - spread)),
                                             abs=1e-15)
    assert rows[1]["upper"] == pytest.approx(math.exp(-math.exp(math.log(-math.log(s)) + spread)),
                                             abs=1e-15)
    assert rows[1]["lower"] < s < rows[1]["upper"]


def test_a_curve_falling_to_zero_has_a_zero_band_there() -> None:
    rows = curve_table([(2, True), (4, True)])
    assert [(r["t"], r["s"], r["lower"], r["upper"]) for r in rows][-1] == (4, 0.0, 0.0, 0.0)


def test_events_and_censorings_tied_at_one_time_share_its_row() -> None:
    rows = curve_table([(0, True), (0, False), (0, False), (7, False)])
    assert rows[0] == {"t": 0, "at_risk": 4, "events": 1, "censored": 2, "s": 0.75,
                       "lower": rows[0]["lower"], "upper": rows[0]["upper"]}
    assert len(rows) == 2


def test_the_median_is_the_first_time_the_estimate_reaches_one_half() -> None:
    # S: t=1 → 0.75, t=2 → 0.5 exactly (lifelines may name t=2 or later)
    rows = curve_table([(1, True), (2, True), (3, False), (4, False)])
    assert median_time(rows) == 2
    assert isinstance(median_time(rows), int)


def test_an_estimate_within_a_billionth_of_one_half_counts_as_one_half() -> None:
    rows = [{"t": 0, "s": 1.0}, {"t": 9, "s": 0.5 + 5e-10}, {"t": 12, "s": 0.4}]
    assert median_time(rows) == 9
    # the edge itself counts; just above it does not
    edge = 0.5 + MEDIAN_TOLERANCE
    assert median_time([{"t": 0, "s": 1.0}, {"t": 7, "s": edge}]) == 7
    assert median_time([{"t": 0, "s": 1.0}, {"t": 7, "s": math.nextafter(edge, 1.0)}]) is None


def test_no_median_while_the_estimate_stays_above_one_half() -> None:
    assert median_time(curve_table([(1, True), (5, False), (6, False)])) is None
    assert median_time([]) is None


def _lifelines(durations: list[int], events: list[bool]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifelines import KaplanMeierFitter

        return KaplanMeierFitter(alpha=0.05).fit(durations, event_observed=events)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 80))
def test_the_table_and_band_equal_lifelines_on_random_censored_data_with_ties(
        seed: int, size: int) -> None:
    rnd = random.Random(seed)
    durations = [rnd.randint(0, 30) for _ in range(size)]
    events = [rnd.random() < 0.5 for _ in range(size)]
    rows = curve_table(list(zip(durations, events, strict=True)))
    fitter = _lifelines(durations, events)
    table = fitter.event_table
    band = fitter.confidence_interval_survival_function_
    for row in rows:
        t = row["t"]
        assert row["s"] == pytest.approx(float(fitter.survival_function_.loc[t].iloc[0]),
                                         abs=1e-9)
        assert row["at_risk"] == int(table.loc[t, "at_risk"])
        assert row["events"] == int(table.loc[t, "observed"])
        assert row["censored"] == int(table.loc[t, "censored"])
        lower, upper = (float(x) for x in band.loc[t])
        if 0.0 < row["s"] < 1.0:
            assert row["lower"] == pytest.approx(lower, abs=1e-9)
            assert row["upper"] == pytest.approx(upper, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 80))
def test_the_median_equals_lifelines_where_no_estimate_sits_on_one_half(
        seed: int, size: int) -> None:
    rnd = random.Random(seed)
    durations = [rnd.randint(0, 30) for _ in range(size)]
    events = [rnd.random() < 0.6 for _ in range(size)]
    rows = curve_table(list(zip(durations, events, strict=True)))
    if any(abs(r["s"] - 0.5) <= 1e-9 for r in rows):
        return  # the contract's rule and lifelines' rounding may differ exactly there
    want = _lifelines(durations, events).median_survival_time_
    got = median_time(rows)
    assert (got is None) == math.isinf(want)
    if got is not None:
        assert got == want
