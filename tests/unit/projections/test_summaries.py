"""Summaries counted by value give what sorting gives: the distinct values with their
counts, and ``statistics``' median and mean, whatever the spread of the values."""

from __future__ import annotations

import statistics

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.summaries import summary, tallied

WHOLE = st.lists(st.one_of(st.integers(-50, 50), st.integers(-2**40, 2**40)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(values=WHOLE)
def test_tallied_values_are_those_of_numpys_unique(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    found, counts = tallied(array)
    expected, expected_counts = np.unique(array, return_counts=True)
    assert found.tolist() == expected.tolist()
    assert counts.tolist() == expected_counts.tolist()


@settings(max_examples=300, deadline=None)
@given(values=WHOLE)
def test_a_summary_of_whole_values_is_that_of_statistics(values: list[int]) -> None:
    result = summary(np.array(values, dtype=np.int64), whole=True)
    if not values:
        assert result == {"n": 0, "median": None, "mean": None}
        return
    median = statistics.median(values)
    assert result["n"] == len(values)
    assert result["median"] == median and type(result["median"]) is type(median)
    total = sum(values)
    assert result["mean"] == (total // len(values) if total % len(values) == 0
                              else total / len(values))
