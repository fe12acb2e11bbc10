"""Summaries of observations in the report's number formats.

Number formats follow Python's ``statistics`` module, as the contract's worked example
does: a median of an odd count of whole numbers is an int, of an even count a float (the
mean of the two middle values); a mean of whole numbers is an int when it is whole.
Sums of floats are exact (``math.fsum``), so they do not depend on the order of the
observations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


def summary(values: Sequence[int] | Sequence[float] | npt.NDArray[Any], *,
            whole: bool) -> dict[str, Any]:
    """``{"n", "median", "mean"}`` of ``values`` as the ``statistics`` module gives them;
    nulls when empty.

    Args:
        values: the observations.
        whole: the values are whole (an exact mean that is whole stays an int).
    """
    array = np.asarray(values, dtype=np.int64 if whole else np.float64)
    n = len(array)
    if n == 0:
        return {"n": 0, "median": None, "mean": None}
    mid = n // 2
    median: float | int
    mean: float | int
    if whole:
        first, second = _middle(array, mid)
        median = second if n % 2 else (first + second) / 2
        total = int(array.sum())
        mean = total // n if total % n == 0 else total / n
    else:
        # Only the middle values need to be in place, not the whole order.
        middle = np.partition(array, mid if n % 2 else (mid - 1, mid))
        median = (float(middle[mid]) if n % 2
                  else (float(middle[mid - 1]) + float(middle[mid])) / 2)
        mean = math.fsum(array.tolist()) / n
    return {"n": n, "median": median, "mean": mean}


def _middle(array: npt.NDArray[Any], mid: int) -> tuple[int, int]:
    """The ``mid - 1``-th and ``mid``-th smallest of whole values (from 0; the first
    unused when ``mid`` is 0): counted by value when they span a short range, else
    partially sorted."""
    low, high = int(array.min()), int(array.max())
    if high - low <= 4 * len(array) + 1024:
        cumulative = np.cumsum(np.bincount(array - low))
        # The k-th smallest is the first value with more than k values up to it.
        at = np.searchsorted(cumulative, [max(mid - 1, 0), mid], side="right")
        return low + int(at[0]), low + int(at[1])
    middle = np.partition(array, (max(mid - 1, 0), mid))
    return int(middle[max(mid - 1, 0)]), int(middle[mid])


def tallied(values: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64],
                                                    npt.NDArray[np.int64]]:
    """The distinct ``values``, ascending, and how many times each occurs: what
    ``np.unique(values, return_counts=True)`` gives, counted by value without a sort
    when the values span a short range (as days and durations do)."""
    n = len(values)
    if n:
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * n + 1024:
            counts = np.bincount(values - low)
            present = np.flatnonzero(counts)
            return present + low, counts[present]
    found, counts = np.unique(values, return_counts=True)
    return found, counts
