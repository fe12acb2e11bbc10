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
    # Only the middle values need to be in place, not the whole order.
    middle = np.partition(array, mid if n % 2 else (mid - 1, mid))
    median: float | int
    mean: float | int
    if whole:
        median = int(middle[mid]) if n % 2 else (int(middle[mid - 1]) + int(middle[mid])) / 2
        total = int(array.sum())
        mean = total // n if total % n == 0 else total / n
    else:
        median = (float(middle[mid]) if n % 2
                  else (float(middle[mid - 1]) + float(middle[mid])) / 2)
        mean = math.fsum(array.tolist()) / n
    return {"n": n, "median": median, "mean": mean}
