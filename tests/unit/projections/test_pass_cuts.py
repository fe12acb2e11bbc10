"""How a rebuild cuts the duos' streams into runs of about equal events
(``projections.reading._cut``), worked out by hand."""

from __future__ import annotations

import pytest

from projections.reading import _cut

STREAMS = [("a", 2), ("b", 5)]


@pytest.mark.parametrize(("counts", "weights", "starts"), [
    # 7 events in three runs of 2.33: "b" would take the first run 4.67 past its part,
    # which is only 0.33 short without it, so "b" begins the second run (two runs: a
    # stream is never split).
    (STREAMS, [1.0, 1.0, 1.0], [0, 1]),
    (STREAMS, [1.0, 1.0], [0, 1]),
    (STREAMS, [1.0], [0]),
    # 3, 3, 3, 3 in two runs: the first reaches its 6 with the second stream.
    ([("a", 3), ("b", 3), ("c", 3), ("d", 3)], [1.0, 1.0], [0, 2]),
    # A first run worth 0.8 of each other's (a split rebuild's caller): the runs end at
    # 4, 9 and 14 events. "b" would take the first to 6, 2 past where it is 1 short:
    # cut before "b". "c" takes the second from 6 (3 short of 9) to 10 (1 past): no cut;
    # "d" would take it to 14 (5 past): cut before "d".
    ([("a", 3), ("b", 3), ("c", 4), ("d", 4)], [0.8, 1.0, 1.0], [0, 1, 3]),
    # Overshooting by as much as it falls short is not a reason to cut: 1 + 3 is 1 past
    # 3, 1 short without it.
    ([("a", 2), ("b", 2), ("c", 2)], [1.0, 1.0], [0, 2]),
    # One stream: one run, however many are asked for.
    ([("a", 9)], [1.0, 1.0, 1.0], [0]),
])
def test_each_run_ends_where_it_comes_nearest_its_part(
        counts: list[tuple[str, int]], weights: list[float], starts: list[int]) -> None:
    assert _cut(counts, 0, len(counts), weights) == starts


def test_a_range_of_the_streams_is_cut_within_itself() -> None:
    counts = [("a", 1), ("b", 4), ("c", 4), ("d", 1)]
    assert _cut(counts, 1, 3, [1.0, 1.0]) == [1, 2]
