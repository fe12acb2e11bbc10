"""A report carrying the contract's v2 evaluation sections, computed from a real store.

The engine's own v2 sections are being built elsewhere (issue 12); the HTML page must
already show them when they are there. This module computes them for a test from the
store's read model, following CONTRACT §4 "(v2) Evaluation sections" closely enough to
give real, consistent figures (the curve and its band by lifelines, the reference the
contract names), so the page is checked with numbers of the same shape and size as the
engine will print.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np
from lifelines import KaplanMeierFitter

from lifecycle.domain.vocabulary import DROPOUT_REASONS
from projections.views import DuoView, ReadModel

DROPOUTS = {r.value for r in DROPOUT_REASONS}
MEASURES = ("wellbeing", "stress", "integration", "confidence")
REVIEWS_FIRST, REVIEW_INTERVAL = 2, 30  # the v2 policy defaults


def _day(value: str | None, as_of: date) -> date | None:
    if value is None:
        return None
    day = date.fromisoformat(value)
    return day if day <= as_of else None


def survival_curve(durations: list[int], events: list[bool]) -> list[dict[str, Any]]:
    """The contract's ``survival_curve`` rows, fitted by lifelines."""
    if not durations:
        return []
    fitter = KaplanMeierFitter().fit(durations, events)
    times = sorted({0, *durations})
    s = fitter.survival_function_at_times(times).to_numpy()
    band = fitter.confidence_interval_.reindex(times, method="ffill").to_numpy()
    d, e = np.array(durations), np.array(events)
    return [{"t": t, "at_risk": int((d >= t).sum()), "events": int(((d == t) & e).sum()),
             "censored": int(((d == t) & ~e).sum()), "s": float(s[i]),
             "lower": float(band[i, 0]), "upper": float(band[i, 1])}
            for i, t in enumerate(times)]


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "median": None, "mean": None}
    return {"n": len(values), "median": statistics.median(values),
            "mean": statistics.fmean(values)}


def sections(model: ReadModel, duos: Iterable[DuoView], as_of: date) -> dict[str, Any]:
    """The v2 sections (and the three new ``dropouts`` keys) over ``duos``."""
    first_meeting = {"on_time": 0, "late": 0, "waiting_overdue": 0}
    monitoring = {"reviews": 0, "windows_due": 0, "windows_met": 0}
    health: list[float] = []
    closure = dict.fromkeys(("closed", "from_active", "completed", "early",
                             "beyond_max_active", "exit_interviews"), 0)
    durations: list[int] = []
    events: list[bool] = []
    by_month: dict[str, int] = {}
    changes: dict[tuple[str, str], list[int]] = {}
    chains: list[int] = []  # days in service of each mentee, from the first recruitment
    for duo in duos:
        if _day(duo.recruited_on, as_of) is None:
            continue
        policy = model.programmes[duo.programme_id]
        matched = _day(duo.matched_on, as_of)
        activated = _day(duo.activated_on, as_of)
        closed = _day(duo.closed_on, as_of)
        if duo.predecessor_duo_id is None:
            chains.append((as_of - date.fromisoformat(duo.recruited_on)).days)
        if matched is not None:
            if activated is not None:
                on_time = (activated - matched).days <= policy.first_meeting_within_days
                first_meeting["on_time" if on_time else "late"] += 1
            elif closed is None and (as_of - matched).days > policy.first_meeting_within_days:
                first_meeting["waiting_overdue"] += 1
            reviews = sorted(date.fromisoformat(r.occurred_on) for r in duo.reviews
                             if date.fromisoformat(r.occurred_on) <= as_of)
            monitoring["reviews"] += len(reviews)
            end = min(as_of, closed) if closed else as_of
            k = 0
            while True:
                start = matched.toordinal() + k * REVIEW_INTERVAL
                last = start + REVIEW_INTERVAL - 1
                if last > end.toordinal():
                    break
                monitoring["windows_due"] += 1
                held = sum(start <= r.toordinal() <= last for r in reviews)
                monitoring["windows_met"] += held >= (REVIEWS_FIRST if k == 0 else 1)
                k += 1
            if reviews:
                latest = max(duo.reviews, key=lambda r: (r.occurred_on, r.recorded_at))
                health.append(latest.health)
        if activated is not None:
            days = ((closed or as_of) - activated).days
            dropout = closed is not None and duo.close_reason in DROPOUTS
            durations.append(days)
            events.append(dropout and duo.closed_from == "active")
            if closed is None and days > policy.max_duration_days:
                closure["beyond_max_active"] += 1
        if closed is not None:
            closure["closed"] += 1
            closure["exit_interviews"] += bool(duo.exit_interview)
            closure["completed"] += duo.close_reason == "completed"
            if duo.close_reason in DROPOUTS:
                month = closed.isoformat()[:7]
                by_month[month] = by_month.get(month, 0) + 1
            if duo.closed_from == "active" and activated is not None:
                closure["from_active"] += 1
                closure["early"] += (closed - activated).days < policy.min_duration_days
        for respondent in ("mentee", "mentor"):
            pre, post = (duo.surveys.get((respondent, phase)) for phase in ("pre", "post"))
            if pre is None or post is None or date.fromisoformat(post.occurred_on) > as_of \
                    or date.fromisoformat(pre.occurred_on) > as_of:
                continue
            for measure in MEASURES:
                changes.setdefault((respondent, measure), []).append(
                    getattr(post, measure) - getattr(pre, measure))
    curve = survival_curve(durations, events)
    median = next((row["t"] for row in curve if row["s"] <= 0.5 + 1e-9), None)
    surveys: dict[str, Any] = {}
    for respondent in ("mentee", "mentor"):
        surveys[respondent] = {}
        for measure in MEASURES:
            values = changes.get((respondent, measure), [])
            better = [v < 0 if measure == "stress" else v > 0 for v in values]
            summary = _summary([float(v) for v in values])
            surveys[respondent][measure] = {
                "pairs": len(values), "mean_change": summary["mean"],
                "median_change": summary["median"], "improved": sum(better),
                "unchanged": sum(v == 0 for v in values),
                "worsened": len(values) - sum(better) - sum(v == 0 for v in values)}
    # No departure can be recorded yet: every chain is censored, S stays 1.0 up to the
    # longest time in service observed and is null beyond it.
    longest = max(chains, default=None)
    return {
        "first_meeting": first_meeting,
        "monitoring": {**monitoring, "compliance": (
            monitoring["windows_met"] / monitoring["windows_due"]
            if monitoring["windows_due"] else None), "latest_health": _summary(health)},
        "closure": {**closure,
                    "early_rate": (closure["early"] / closure["from_active"]
                                   if closure["from_active"] else None),
                    "exit_interview_rate": (closure["exit_interviews"] / closure["closed"]
                                            if closure["closed"] else None)},
        "retention": {"mentees": len(chains), "departed": 0,
                      "by_reason": {"resigned": 0, "dismissed": 0, "retired": 0, "other": 0},
                      "in_service": {str(t): (None if longest is None or t > longest
                                              else 1.0)
                                     for t in (90, 182, 365)}},
        "surveys": surveys,
        "dropouts": {"by_month": dict(sorted(by_month.items())),
                     "median_survival_days": median, "survival_curve": curve},
    }


def with_v2(report: dict[str, Any], model: ReadModel, as_of: date,
            programme: str | None = None) -> dict[str, Any]:
    """``report`` (v1, as the engine prints it) with the v2 sections added."""
    duos = [d for d in model.duos.values() if programme in (None, d.programme_id)]
    extra = sections(model, duos, as_of)
    dropouts = {**report["dropouts"], **extra.pop("dropouts")}
    return {**report, **extra, "dropouts": dropouts}


def breakdown_with_v2(breakdown: dict[str, Any], model: ReadModel,
                      as_of: date) -> dict[str, Any]:
    """A ``--by programme`` breakdown with the v2 sections added to each group."""
    assert breakdown["by"] == "programme"
    groups = {key: with_v2(group, model, as_of, key)
              for key, group in breakdown["groups"].items()}
    return {**breakdown, "groups": groups}
