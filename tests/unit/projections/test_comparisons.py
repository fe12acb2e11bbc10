"""The log-rank and signed-rank comparisons: worked by hand and against lifelines."""

from __future__ import annotations

import random
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.comparisons import logrank, signed_rank


def test_logrank_needs_two_groups_with_subjects_and_an_event() -> None:
    assert logrank({}) is None
    assert logrank({"a": [(3, True)]}) is None
    assert logrank({"a": [(3, True)], "b": []}) is None
    assert logrank({"a": [(3, False)], "b": [(5, False)]}) is None


def test_logrank_of_two_single_event_groups_worked_by_hand() -> None:
    # t=2: N=4 (a:2, b:2), D=1 in a; t=5: N=3 (a:1, b:2), D=1 in b.
    # O−E for a: (1 − 2/4) + (0 − 1/3) = 1/6;
    # V = 1·3/3·(2/4)(2/4) + 1·2/2·(1/3)(2/3) = 1/4 + 2/9 = 17/36; χ² = (1/36)/(17/36)
    result = logrank({"a": [(2, True), (6, False)], "b": [(5, True), (7, False)]})
    assert result is not None
    assert result["groups"] == ["a", "b"]
    assert result["df"] == 1
    assert result["statistic"] == pytest.approx(1 / 17, abs=1e-12)
    assert result["p_value"] == pytest.approx(0.8083, abs=1e-4)


def test_logrank_of_clearly_different_groups_has_a_small_p_value() -> None:
    early = [(d, True) for d in range(1, 21)]
    late = [(d, True) for d in range(100, 120)]
    result = logrank({"early": early, "late": late})
    assert result is not None
    assert result["p_value"] < 1e-6


def _lifelines_logrank(groups: dict[str, list[tuple[int, bool]]]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifelines.statistics import multivariate_logrank_test

        durations, labels, events = [], [], []
        for name, obs in groups.items():
            for d, e in obs:
                durations.append(d)
                labels.append(name)
                events.append(e)
        return multivariate_logrank_test(durations, labels, events)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 4))
def test_logrank_equals_lifelines_on_random_censored_groups(seed: int, k: int) -> None:
    rnd = random.Random(seed)
    groups = {f"g{j}": [(rnd.randint(0, 40), rnd.random() < 0.5)
                        for _ in range(rnd.randint(3, 40))] for j in range(k)}
    if not any(e for obs in groups.values() for _, e in obs):
        return
    got = logrank(groups)
    want = _lifelines_logrank(groups)
    assert got is not None
    assert got["df"] == int(want.degrees_of_freedom)
    assert got["statistic"] == pytest.approx(float(want.test_statistic), rel=1e-9, abs=1e-9)
    assert got["p_value"] == pytest.approx(float(want.p_value), rel=1e-7, abs=1e-12)


def test_signed_rank_without_a_nonzero_change_is_null() -> None:
    assert signed_rank([]) is None
    assert signed_rank([0, 0, 0]) is None


def test_signed_rank_statistic_worked_by_hand() -> None:
    # changes 1, 2, 3, −1 (a zero dropped): |c| ranks 1.5, 3, 4, 1.5 → W+ 8.5, W− 1.5
    result = signed_rank([1, 2, 3, -1, 0])
    assert result is not None
    assert result["n"] == 4
    assert result["statistic"] == 1.5
    assert 0.0 < result["p_value"] <= 1.0


def test_signed_rank_of_one_sided_changes_is_significant_with_enough_pairs() -> None:
    result = signed_rank([1, 2, 1, 3, 2, 1, 2, 1, 1, 2, 3, 1, 2, 1, 1, 2])
    assert result is not None
    assert result["p_value"] < 0.001
