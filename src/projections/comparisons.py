"""Comparisons an evaluator asks for beyond the contract's figures.

- :func:`logrank`: do the groups of a breakdown differ in how long their active
  relationships last? The k-sample log-rank test over the same Kaplan-Meier population
  and events as ``dropouts.survival`` (duration: active days; event: a dropout from
  ``active``).
- :func:`signed_rank`: did a survey measure change between the ``pre`` and ``post``
  answers of the same duos? The Wilcoxon signed-rank test of the paired changes.

Both are descriptive evidence, not proof of an effect: groups of a breakdown are not
randomised, so a difference may come from who was in them (see docs/interface.md).
The distributions come from SciPy; only the log-rank statistic itself is assembled
here, because SciPy's own ``logrank`` compares two samples and a breakdown may have
more groups.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Observations = Sequence[tuple[int, bool]]


def logrank(groups: Mapping[str, Observations]) -> dict[str, Any] | None:
    """The k-sample log-rank test of ``groups`` of (duration, event happened) pairs.

    At each distinct event time t of the pooled data, with Nₜ subjects at risk
    (duration ≥ t), Dₜ events, and nⱼₜ, dⱼₜ those of group j: observed Oⱼ = Σ dⱼₜ,
    expected Eⱼ = Σ Dₜ nⱼₜ / Nₜ, and covariance
    Vⱼₖ = Σ Dₜ (Nₜ − Dₜ) / (Nₜ − 1) · nⱼₜ/Nₜ (δⱼₖ − nₖₜ/Nₜ) over times with Nₜ > 1.
    The statistic (O − E)ᵀ V⁻ (O − E) over the first k − 1 groups (the k-th is
    determined by them; V⁻ a generalised inverse, which also copes with a group that
    has nobody at risk at any event time) follows a χ² distribution with k − 1 degrees
    of freedom, k the groups with subjects.

    Returns:
        ``{"groups", "smallest_group", "statistic", "df", "p_value"}`` (the groups with
        subjects, and how many the smallest has), or None when fewer than two groups
        have subjects or no event happened (there is nothing to compare).
    """
    named = [(name, obs) for name, obs in sorted(groups.items()) if obs]
    if len(named) < 2:
        return None
    durations = [np.fromiter((d for d, _ in obs), dtype=np.int64, count=len(obs))
                 for _, obs in named]
    events = [np.fromiter((e for _, e in obs), dtype=bool, count=len(obs))
              for _, obs in named]
    pooled = np.concatenate(durations)
    times = np.unique(pooled[np.concatenate(events)])
    if len(times) == 0:
        return None
    k = len(named)
    at_risk = np.empty((k, len(times)), dtype=np.float64)
    died = np.empty((k, len(times)), dtype=np.float64)
    for j in range(k):
        ordered = np.sort(durations[j])
        at_risk[j] = len(ordered) - np.searchsorted(ordered, times, side="left")
        happened = np.sort(durations[j][events[j]])
        died[j] = (np.searchsorted(happened, times, side="right")
                   - np.searchsorted(happened, times, side="left"))
    total_at_risk = at_risk.sum(axis=0)
    total_died = died.sum(axis=0)
    share = at_risk / total_at_risk
    observed_minus_expected = (died - total_died * share).sum(axis=1)
    usable = total_at_risk > 1
    weight = np.zeros_like(total_at_risk)
    weight[usable] = (total_died[usable] * (total_at_risk[usable] - total_died[usable])
                      / (total_at_risk[usable] - 1))
    # The k rows of O − E and of V each sum to zero: the first k − 1 carry it all.
    covariance = _covariance(share, weight)[:-1, :-1]
    z = observed_minus_expected[:-1]
    statistic = float(z @ np.linalg.pinv(covariance) @ z)
    df = k - 1
    return {"groups": [name for name, _ in named],
            "smallest_group": min(len(obs) for _, obs in named),
            "statistic": statistic, "df": df,
            "p_value": float(_stats().chi2.sf(statistic, df))}


def _stats() -> Any:
    """``scipy.stats``, imported when a comparison is first computed: it takes about 65 MB
    and 0.9 s of CPU to import, which every process that only folds or lists the views
    (a rebuild and its worker interpreters, a catch-up, the CLI's queries) would pay."""
    from scipy import stats

    return stats


def _covariance(share: npt.NDArray[np.float64],
                weight: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Σₜ wₜ (diag(pₜ) − pₜ pₜᵀ) for the groups' shares pₜ of those at risk."""
    diagonal = np.diag((share * weight).sum(axis=1))
    return diagonal - (share * weight) @ share.T


def signed_rank(changes: Sequence[int]) -> dict[str, Any] | None:
    """The Wilcoxon signed-rank test of paired changes (post − pre), two-sided.

    Zero changes are dropped (Wilcoxon's own treatment); SciPy chooses the exact
    distribution for small samples without ties and the normal approximation otherwise.

    Returns:
        ``{"n", "statistic", "p_value"}`` where ``n`` counts the non-zero changes, or
        None when there is none (no change to test).
    """
    nonzero = [c for c in changes if c != 0]
    if not nonzero:
        return None
    with warnings.catch_warnings():
        # A sample too small for the normal approximation is still a valid test; SciPy
        # warns about its precision, which the p-value already shows.
        warnings.simplefilter("ignore", category=UserWarning)
        result = _stats().wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
    p_value = float(result.pvalue)
    return {"n": len(nonzero), "statistic": float(result.statistic),
            "p_value": p_value if not math.isnan(p_value) else None}
