"""Kaplan-Meier survival of active relationships, with the null rules of CONTRACT §4.

S(t) = Π over distinct event times tᵢ ≤ t of (1 - dᵢ/nᵢ), where dᵢ events happened at
tᵢ and nᵢ subjects had a duration ≥ tᵢ (censored subjects count as at risk at their
own duration). S(t) is 1.0 before the first event.

Null rules: S(t) is None when there is no subject at all, and when t lies strictly
beyond the longest duration observed while the estimate there is still above 0 (the
data say nothing about that far); once the estimate has reached 0 it stays 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from projections.summaries import tallied


@dataclass(frozen=True)
class KaplanMeier:
    """A fitted Kaplan-Meier curve.

    Attributes:
        times: the distinct event times, ascending.
        estimates: S just after each of ``times``.
        subjects: how many subjects (events and censored) were observed.
        longest: the longest duration observed (None without subjects).
    """

    times: tuple[int, ...]
    estimates: tuple[float, ...]
    subjects: int
    longest: int | None

    def at(self, t: int) -> float | None:
        """S(t) under the null rules of CONTRACT §4."""
        if self.longest is None:
            return None
        estimate = 1.0
        for time, value in zip(self.times, self.estimates, strict=True):
            if time > t:
                break
            estimate = value
        if t > self.longest and estimate > 0.0:
            return None
        return estimate


def fit(observations: Iterable[tuple[int, bool]]) -> KaplanMeier:
    """Fit the curve to (duration, event happened) pairs; other pairs are censored.

    Args:
        observations: one pair per subject; durations are whole days ≥ 0.
    """
    events: dict[int, int] = {}
    leaving: dict[int, int] = {}
    for duration, event in observations:
        leaving[duration] = leaving.get(duration, 0) + 1
        if event:
            events[duration] = events.get(duration, 0) + 1
    times = sorted(leaving)
    return _curve(times, [leaving[t] for t in times], events)


def fit_arrays(durations: npt.NDArray[np.int64],
               events: npt.NDArray[np.bool_]) -> KaplanMeier:
    """:func:`fit` of the pairs ``zip(durations, events)``, counted with array
    operations (the same curve, to the bit)."""
    times, leaving = tallied(durations)
    died_at, died = tallied(durations[events])
    return _curve(times.tolist(), leaving.tolist(),
                  dict(zip(died_at.tolist(), died.tolist(), strict=True)))


def _curve(times: Sequence[int], leaving: Sequence[int],
           events: dict[int, int]) -> KaplanMeier:
    """The curve from the distinct durations (ascending), how many subjects each has,
    and how many events happened at each duration that has any."""
    at_risk = sum(leaving)
    estimate = 1.0
    event_times: list[int] = []
    estimates: list[float] = []
    for time, gone in zip(times, leaving, strict=True):
        died = events.get(time, 0)
        if died:
            estimate *= 1.0 - died / at_risk
            event_times.append(time)
            estimates.append(estimate)
        at_risk -= gone
    return KaplanMeier(tuple(event_times), tuple(estimates), sum(leaving),
                       times[-1] if times else None)


def survival_at(observations: Iterable[tuple[int, bool]],
                horizons: Sequence[int]) -> dict[int, float | None]:
    """S(t) for each of ``horizons`` (see :meth:`KaplanMeier.at`)."""
    curve = fit(observations)
    return {t: curve.at(t) for t in horizons}


Z_95 = 1.959963984540054
"""The standard normal quantile of 0.975: a two-sided 95 % interval."""


def curve_table(observations: Iterable[tuple[int, bool]]) -> list[dict[str, Any]]:
    """The Kaplan-Meier table of ``observations`` (duration, event happened).

    One row for t = 0 and one for every other distinct duration, ascending:
    ``at_risk`` (subjects with duration ≥ t), ``events`` (events at t), ``censored``
    (other subjects with duration t), ``s`` = S(t), and ``lower``/``upper``, the
    pointwise 95 % interval by Greenwood's variance on the log(−log) scale (as
    lifelines' ``KaplanMeierFitter`` computes it by default): with
    V = Σ over event times tᵢ ≤ t of dᵢ / (nᵢ (nᵢ − dᵢ)),
    ``lower`` = exp(−exp(log(−log S) − z√V / log S)) and
    ``upper`` = exp(−exp(log(−log S) + z√V / log S)); both 1.0 where S = 1 and 0.0
    where S = 0. No subject, no row.
    """
    pairs = list(observations)
    return curve_table_arrays(np.array([d for d, _ in pairs], dtype=np.int64),
                              np.array([bool(e) for _, e in pairs], dtype=bool))


def curve_table_arrays(durations: npt.NDArray[np.int64],
                       events: npt.NDArray[np.bool_]) -> list[dict[str, Any]]:
    """:func:`curve_table` of the pairs ``zip(durations, events)``, counted with array
    operations (the same table, to the bit)."""
    times_found, gone = tallied(durations)
    if not len(times_found):
        return []
    died_at, died_count = tallied(durations[events])
    leaving = dict(zip(times_found.tolist(), gone.tolist(), strict=True))
    died_by_time = dict(zip(died_at.tolist(), died_count.tolist(), strict=True))
    times = times_found.tolist()
    if times[0] != 0:
        times.insert(0, 0)
    at_risk = len(durations)
    estimate, variance = 1.0, 0.0
    rows: list[dict[str, Any]] = []
    for t in times:
        died = died_by_time.get(t, 0)
        if died:
            estimate *= 1.0 - died / at_risk
            if died < at_risk:
                variance += died / (at_risk * (at_risk - died))
        lower, upper = _log_log_band(estimate, variance)
        rows.append({"t": t, "at_risk": at_risk, "events": died,
                     "censored": leaving.get(t, 0) - died,
                     "s": estimate, "lower": lower, "upper": upper})
        at_risk -= leaving.get(t, 0)
    return rows


def _log_log_band(estimate: float, variance: float) -> tuple[float, float]:
    """The 95 % interval of S on the log(−log) scale (1.0 at S = 1, 0.0 at S = 0)."""
    if estimate >= 1.0:
        return 1.0, 1.0
    if estimate <= 0.0:
        return 0.0, 0.0
    log_s = math.log(estimate)
    centre = math.log(-log_s)
    spread = Z_95 * math.sqrt(variance) / log_s
    return math.exp(-math.exp(centre - spread)), math.exp(-math.exp(centre + spread))


MEDIAN_TOLERANCE = 1e-9
"""An S within this of one half counts as one half (lifelines may round past it)."""


def median_time(table: Sequence[Mapping[str, Any]]) -> int | None:
    """The smallest t of a :func:`curve_table` with S(t) ≤ 0.5 (an S within
    :data:`MEDIAN_TOLERANCE` of 0.5 counts as 0.5); None when S never falls that low."""
    for row in table:
        if row["s"] <= 0.5 + MEDIAN_TOLERANCE:
            t: int = row["t"]
            return t
    return None
