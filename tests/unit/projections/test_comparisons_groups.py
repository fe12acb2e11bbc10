"""What the log-rank result says about its groups (found by mutation testing,
docs/mutation.md): the groups with subjects, in name order, and the size of the
smallest one, which publishing compares with K."""

from __future__ import annotations

from projections.comparisons import logrank


def test_the_result_names_the_groups_with_subjects_and_the_smallest_size() -> None:
    # "c" has nobody and is left out; "a" (3 subjects) and "b" (2) remain, by name.
    result = logrank({"b": [(4, True), (9, False)], "c": [],
                      "a": [(2, True), (5, True), (8, False)]})
    assert result is not None
    assert result["groups"] == ["a", "b"]
    assert result["smallest_group"] == 2
    assert list(result) == ["groups", "smallest_group", "statistic", "df", "p_value"]
