"""The report of CONTRACT §4, and breakdowns beyond it.

Everything is computed from per-duo :mod:`facts <projections.facts>`, from either the
in-memory read model (:class:`~projections.views.ReadModel`) or rows loaded from the
materialised tables (:class:`ReportRows`, see :func:`projections.loading.load_report_rows`).
The facts of a programme are one integer array (a row per duo, a column per fact), and
every metric is a handful of array operations over all duos at once. A duo whose
contacts changed after ``as_of`` has its contact counts taken at ``as_of``: from its
month's contact states when read from the tables (:func:`facts_at`), recounted from its
timeline otherwise. The result does not depend on the order of the duos, so a rebuilt
read model gives the same bytes.

Number formats follow Python's ``statistics`` module, as the contract's worked example
does: a median of an odd count of whole days is an int, of an even count a float (the
mean of the two middle values); a mean of whole days is an int when it is whole; rates,
per-30-day frequencies and survival estimates are floats. Sums of floats are exact
(``math.fsum``), so they do not depend on the order of the duos either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from lifecycle.domain.vocabulary import DROPOUT_REASONS
from projections import comparisons, evaluation, survival, views
from projections.evaluation import Lifecycle
from projections.extras import DuoExtras, Extras, PolicyDays, extras_from_views
from projections.facts import (
    ACTIVE,
    CLOSE_REASONS,
    DROPOUT_CODES,
    FACT_COUNT,
    HEADER_FACTS,
    HEADER_LINES,
    HEADER_MARK,
    HEADER_SETTLED,
    OPEN_STATES,
    STATE_INTS,
    Facts,
    Timeline,
    contacts_at,
    duo_facts,
)
from projections.publish import path_text
from projections.summaries import summary
from projections.views import STATES, DuoView, ReadModel, canonical_timestamp

SURVIVAL_DAYS: Final = (30, 90, 182, 365)
BENCHMARK_MINUTES: Final = 240
"""MENTOR's benchmark: at least four hours of contact per month (30 days)."""

Breakdown = Literal["programme", "site", "country", "month", "quarter", "setting",
                    "newcomer_kind", "mentor_kind", "shift_overlap", "same_department",
                    "outcome"]
BREAKDOWNS: Final[tuple[str, ...]] = (
    "programme", "site", "country", "month", "quarter", "setting", "newcomer_kind",
    "mentor_kind", "shift_overlap", "same_department", "outcome")
LABELLED: Final[tuple[str, ...]] = (
    "site", "setting", "newcomer_kind", "mentor_kind", "shift_overlap", "same_department")
"""Breakdowns by a label each duo carries (see :attr:`ProgrammeRows.labels`)."""
UNMATCHED: Final = "unmatched"
"""The label of a duo not matched (as recorded) for the breakdowns by match facts."""

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

(RECRUITED, SELECTED, MATCHED, ACTIVATED, CLOSED, REASON, CLOSED_FROM, CONTACTS,
 PSYCHOSOCIAL, CAREER, MINUTES, LAST, SETTLED) = range(FACT_COUNT)
COUNTS: Final = slice(CONTACTS, SETTLED)
"""The facts a recount at an earlier ``as_of`` replaces (contacts to last contact)."""

_DROPOUT_CODES: Final = np.array(sorted(DROPOUT_CODES), dtype=np.int64)


class UnknownProgramme(LookupError):
    """The programme was never opened in the store."""


def facts_at(states: bytes, as_of: date) -> Ints:
    """The facts, at ``as_of``, of the duos whose contacts had not settled by then, from
    their month's contact states (see :func:`projections.facts.month_states`).

    Args:
        states: the packed contact states of one month, duo after duo.
        as_of: a day of that month.

    Returns:
        A facts array (see :func:`facts_array`) of the duos recruited by ``as_of``
        whose contacts settled after it, their contact counts those at ``as_of`` and
        their ``settled`` the day of their last change by then.
    """
    facts, kept = month_facts(states, as_of)
    picked: Ints = facts[kept]
    return picked


def month_facts(states: bytes, as_of: date) -> tuple[Ints, npt.NDArray[np.bool_]]:
    """The facts at ``as_of`` of every duo in a month's contact states (one row per
    duo, in their order), and which of them :func:`facts_at` keeps (those recruited by
    ``as_of`` whose contacts settled after it)."""
    day = as_of.toordinal()
    if not states:
        return facts_array(b""), np.empty(0, dtype=bool)
    lines = np.frombuffer(states, dtype="<i4").reshape(-1, STATE_INTS)
    days = lines[:, 0]
    begins = days == HEADER_MARK
    first = np.flatnonzero(begins)
    header = np.hstack([lines[first + i] for i in range(HEADER_LINES)])
    is_state = ~begins
    for i in range(1, HEADER_LINES):
        is_state[first + i] = False
    # Each duo's states are in day order, the first one before the month began: its
    # counts at as_of are those of its last state dated by then, the one whose next
    # line is not a state dated by then (a later state, or the next duo's header).
    dated = is_state & (days <= day)
    latest = np.flatnonzero(dated & ~np.append(dated[1:], False))
    if len(latest) != len(first):
        raise ValueError("a month's contact states lack the state before the month")
    facts = np.empty((len(first), FACT_COUNT), dtype=np.int64)
    facts[:, RECRUITED:CONTACTS] = header[:, list(HEADER_FACTS)]
    facts[:, CONTACTS:SETTLED] = lines[latest, 1:]
    facts[:, SETTLED] = days[latest]
    return facts, (facts[:, RECRUITED] <= day) & (day < header[:, HEADER_SETTLED])


def facts_array(facts: Sequence[Facts] | bytes) -> Ints:
    """Facts as an ``(n, 13)`` int64 array: from tuples, or from packed facts
    concatenated (13 little-endian int32 per duo)."""
    if isinstance(facts, bytes):
        packed = np.frombuffer(facts, dtype="<i4").reshape(-1, FACT_COUNT)
        return packed.astype(np.int64)
    if not facts:
        return np.empty((0, FACT_COUNT), dtype=np.int64)
    return np.array(facts, dtype=np.int64)


@dataclass(frozen=True)
class ProgrammeRows:
    """The duos of one programme, as report rows.

    Attributes:
        programme_id: the programme.
        country: its country.
        contact_interval_days: its policy's contact interval.
        facts: one row of facts per duo (see :func:`facts_array`).
        timelines: the contact timeline (entries, or packed) of each row whose contacts
            may have to be recounted, by row number; rows loaded for one ``as_of`` have
            it only where that date needs it.
        sites: the site of each row (same order), when loaded.
        policy: the programme's policy values the evaluation sections use.
        extras: what the evaluation sections need of each duo beyond its facts, one
            entry per row: in the rows' order, or (rows loaded for one ``as_of``
            without labels) in an order of their own, as the sections take nothing of
            them by row (see :mod:`projections.extras`).
        labels: per breakdown of :data:`LABELLED`, the label of each row, when loaded.
    """

    programme_id: str
    country: str
    contact_interval_days: int
    facts: Ints
    timelines: Mapping[int, Timeline | bytes] = field(default_factory=dict)
    sites: Sequence[str] | None = None
    policy: PolicyDays = field(default_factory=PolicyDays)
    extras: Extras = field(default_factory=DuoExtras.empty)
    labels: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def subset(self, rows: Sequence[int],
               extras_rows: Sequence[int] | None = None) -> ProgrammeRows:
        """The given rows only (in that order), and the given rows of the extras (by
        default the same)."""
        renumbered = {new: self.timelines[old] for new, old in enumerate(rows)
                      if old in self.timelines}
        sites = None if self.sites is None else [self.sites[i] for i in rows]
        return ProgrammeRows(self.programme_id, self.country, self.contact_interval_days,
                             self.facts[list(rows)], renumbered, sites, self.policy,
                             self.extras.subset(rows if extras_rows is None
                                                else extras_rows),
                             {k: [v[i] for i in rows] for k, v in self.labels.items()})


@dataclass(frozen=True)
class ReportRows:
    """Report rows of every programme in the store.

    Attributes:
        programmes: the rows of each programme (every programme of the store is a key,
            also when a filter left its rows out).
        loaded_for: the ``as_of`` the rows were loaded for (timelines only where that
            date needs them, duos recruited later left out), or None when complete.
    """

    programmes: Mapping[str, ProgrammeRows]
    loaded_for: date | None = None


Source = ReadModel | ReportRows


def report_rows(model: ReadModel, programme: str | None = None,
                as_at: datetime | str | None = None) -> ReportRows:
    """The read model as report rows (complete), as recorded by ``as_at`` if given."""
    stamp = None if as_at is None else canonical_timestamp(as_at)
    grouped: dict[str, tuple[list[Facts], dict[int, Timeline], list[str]]] = {
        p: ([], {}, []) for p in model.programmes}
    members: dict[str, list[DuoView]] = {p: [] for p in model.programmes}
    for duo in model.duos.values():
        if programme is not None and duo.programme_id != programme:
            continue
        if stamp is not None and duo.recruited_at > stamp:
            continue
        group = grouped.get(duo.programme_id)
        if group is None:
            raise UnknownProgramme(f"duo '{duo.duo_id}' names unknown programme "
                                   f"'{duo.programme_id}'")
        facts, timeline = duo_facts(duo, stamp)
        if timeline:
            group[1][len(group[0])] = timeline
        group[0].append(facts)
        group[2].append(duo.site_id)
        members[duo.programme_id].append(duo)
    found: dict[str, ProgrammeRows] = {}
    for p, view in model.programmes.items():
        array, policy = facts_array(grouped[p][0]), PolicyDays.of(view)
        found[p] = ProgrammeRows(p, view.country, view.contact_interval_days, array,
                                 grouped[p][1], grouped[p][2], policy,
                                 extras_from_views(members[p], array, policy, stamp),
                                 _labels(model, members[p], stamp))
    return ReportRows(found)


def match_labels(mentor_kind: str | None, shift_overlap: bool | None,
                 same_department: bool | None) -> tuple[str, str, str]:
    """The breakdown labels of a duo's match facts (:data:`UNMATCHED` before a match)."""
    if mentor_kind is None:
        return UNMATCHED, UNMATCHED, UNMATCHED
    return (mentor_kind, "true" if shift_overlap else "false",
            "true" if same_department else "false")


def _labels(model: ReadModel, duos: Sequence[DuoView],
            stamp: str | None) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {key: [] for key in LABELLED}
    for duo in duos:
        site = model.sites.get(duo.site_id)
        matched = duo.matched_on is not None and (
            stamp is None or (duo.matched_at is not None and duo.matched_at <= stamp))
        kind, overlap, department = match_labels(
            duo.mentor_kind if matched else None, duo.shift_overlap, duo.same_department)
        for key, value in (("site", duo.site_id),
                           ("setting", site.setting if site is not None else "unknown"),
                           ("newcomer_kind", duo.newcomer_kind), ("mentor_kind", kind),
                           ("shift_overlap", overlap), ("same_department", department)):
            labels[key].append(value)
    return labels


def _rows_of(source: Source, as_of: date, programme: str | None,
             as_at: datetime | str | None) -> list[ProgrammeRows]:
    known: Mapping[str, object]
    if isinstance(source, ReadModel):
        known = source.programmes
        rows = report_rows(source, programme, as_at)
    else:
        if as_at is not None:
            raise ValueError("as_at needs the read model, not report rows")
        if source.loaded_for is not None and source.loaded_for != as_of:
            raise ValueError(f"rows were loaded for as_of {source.loaded_for}, not {as_of}")
        known, rows = source.programmes, source
    if programme is not None:
        if programme not in known:
            raise UnknownProgramme(f"programme '{programme}' was never opened")
        return [rows.programmes[programme]]
    return list(rows.programmes.values())


@dataclass(frozen=True)
class _Metrics:
    """Every metric over some duos at one ``as_of``."""

    by_state: list[int]
    to_match: Ints
    to_meeting: Ints
    relationship: Ints
    per_30: Floats
    minutes_per_30: Floats
    active_days: Ints
    dropped: npt.NDArray[np.bool_]
    stage: list[int]
    reasons: list[int]
    contacts: int
    psychosocial: int
    career: int
    minutes: int
    overdue: int
    lifecycle: Lifecycle
    policies: evaluation.Policies
    counts: Ints
    chains: evaluation.Chains


class _Tally:
    """The duos of some programmes at one ``as_of``, counted all at once."""

    def __init__(self, as_of: date) -> None:
        self.as_of = as_of
        self._facts: list[Ints] = []
        self._intervals: list[int] = []
        self._policies: list[PolicyDays] = []
        self._counts: list[Ints] = []
        self._chains: list[evaluation.Chains] = []
        self._metrics: _Metrics | None = None

    def add(self, rows: ProgrammeRows) -> None:
        """Count ``rows`` (duos of one programme, with its contact interval)."""
        day = self.as_of.toordinal()
        kept = np.flatnonzero(rows.facts[:, RECRUITED] <= day)
        facts = rows.facts if len(kept) == len(rows.facts) else rows.facts[kept]
        stale = np.flatnonzero(facts[:, SETTLED] > day)
        if len(stale):
            if facts is rows.facts:
                facts = facts.copy()  # recounts below leave the rows as they are
            # Contacts changed after as_of: recount them from the timeline.
            for row in stale.tolist():
                timeline = rows.timelines.get(int(kept[row]))
                if timeline is None:
                    raise ValueError("a timeline is missing: rows loaded for another as_of")
                facts[row, COUNTS] = contacts_at(timeline, day)
        if len(rows.extras) != len(rows.facts):
            raise ValueError("rows were loaded without what the evaluation sections need")
        self._facts.append(facts)
        self._intervals.append(rows.contact_interval_days)
        self._policies.append(rows.policy)
        # The extras by their own recruitment day (they may be in another order).
        extras = rows.extras
        recruited = np.flatnonzero(extras.recruited <= day)
        counted = extras if len(recruited) == len(extras) else extras.subset(recruited)
        # Only counts of the entries and the chains' first duos: nothing else decoded.
        self._counts.append(counted.counts(day))
        self._chains.append(counted.chains())
        self._metrics = None

    @property
    def total(self) -> int:
        return sum(len(f) for f in self._facts)

    def metrics(self) -> _Metrics:
        if self._metrics is None:
            self._metrics = self._compute()
        return self._metrics

    def facts(self) -> Ints:
        """The counted duos' facts at ``as_of`` (contact counts recounted where needed)."""
        return (np.concatenate(self._facts) if self._facts
                else np.empty((0, FACT_COUNT), dtype=np.int64))

    def _per_duo(self, values: Sequence[int]) -> Ints:
        """One value per programme, repeated for each of its counted duos."""
        found: Ints = np.repeat(np.array(values, dtype=np.int64),
                                [len(f) for f in self._facts])
        return found

    def _compute(self) -> _Metrics:
        day = self.as_of.toordinal()
        interval = self._per_duo(self._intervals)
        # One contiguous array per fact (joined and turned in one copy): every
        # operation below reads one or two facts.
        (recruited, selected, matched, activated, closed, reason, closed_from, contacts,
         psychosocial, career, minutes, last, _) = (
            np.concatenate([f.T for f in self._facts], axis=1) if self._facts
            else np.empty((FACT_COUNT, 0), dtype=np.int64))
        is_matched = matched <= day
        is_active = activated <= day
        is_closed = closed <= day
        is_open = ~is_closed
        from_active = closed_from == ACTIVE
        is_dropout = is_closed & np.isin(reason, _DROPOUT_CODES)
        waiting = is_open & ~is_active
        by_state = [
            int(np.count_nonzero(waiting & ~is_matched & (selected > day))),
            int(np.count_nonzero(waiting & ~is_matched & (selected <= day))),
            int(np.count_nonzero(waiting & is_matched)),
            int(np.count_nonzero(is_open & is_active)),
            int(np.count_nonzero(is_closed)),
        ]
        open_active = is_open & is_active
        lately = np.maximum(last, activated)
        overdue = int(np.count_nonzero(open_active & (day - lately > interval)))
        active_days = np.where(is_closed, closed - activated, day - activated)[is_active]
        with_day = active_days > 0
        days = active_days[with_day].astype(np.float64)
        # n × 30 / days of ints is correctly rounded either way: the same floats.
        per_30 = (contacts[is_active][with_day] * 30).astype(np.float64) / days
        minutes_per_30 = (minutes[is_active][with_day] * 30).astype(np.float64) / days
        return _Metrics(
            by_state=by_state,
            to_match=(matched - recruited)[is_matched],
            to_meeting=(activated - matched)[is_active],
            relationship=(closed - activated)[is_closed & from_active],
            per_30=per_30,
            minutes_per_30=minutes_per_30,
            active_days=active_days,
            dropped=(is_dropout & from_active)[is_active],
            stage=np.bincount(closed_from[is_dropout],
                              minlength=len(OPEN_STATES)).tolist(),
            reasons=np.bincount(reason[is_dropout], minlength=len(CLOSE_REASONS)).tolist(),
            contacts=int(contacts.sum()),
            psychosocial=int(psychosocial.sum()),
            career=int(career.sum()),
            minutes=int(minutes.sum()),
            overdue=overdue,
            lifecycle=Lifecycle(matched, activated, closed, reason, from_active),
            policies=evaluation.Policies(*(
                self._per_duo([getattr(p, name) for p in self._policies])
                for name in evaluation.Policies.__dataclass_fields__)),
            counts=(np.sum(self._counts, axis=0) if self._counts
                    else np.zeros(evaluation.COUNTERS, dtype=np.int64)),
            chains=evaluation.Chains(*(
                np.concatenate([getattr(c, name) for c in self._chains]) if self._chains
                else np.empty(0, dtype=np.int64)
                for name in evaluation.Chains.__dataclass_fields__)),
        )

    def sections(self, *, tests: bool = False) -> dict[str, Any]:
        """The report's sections (everything but ``as_of``), in the contract's order."""
        m = self.metrics()
        total = sum(m.by_state)
        dropouts = sum(m.stage)
        curve = survival.fit_arrays(m.active_days, m.dropped)
        table, median = evaluation.survival_curve(m.active_days, m.dropped)
        day = self.as_of.toordinal()
        return {
            "duos": {"total": total,
                     "by_state": dict(zip(STATES, m.by_state, strict=True))},
            "duration": {
                "time_to_match_days": summary(m.to_match, whole=True),
                "time_to_first_meeting_days": summary(m.to_meeting, whole=True),
                "relationship_days": summary(m.relationship, whole=True),
            },
            "contact_frequency": {
                "contacts": m.contacts,
                "by_function": {views.PSYCHOSOCIAL: m.psychosocial, views.CAREER: m.career},
                "contacts_per_30_days": summary(m.per_30, whole=False),
                "overdue_active_duos": m.overdue,
            },
            "dropouts": {
                "count": dropouts,
                "rate": dropouts / total if total else None,
                "by_stage": dict(zip(OPEN_STATES, m.stage, strict=True)),
                "by_reason": {r.value: m.reasons[CLOSE_REASONS.index(r.value)]
                              for r in DROPOUT_REASONS},
                "survival": {str(t): curve.at(t) for t in SURVIVAL_DAYS},
                "by_month": evaluation.dropouts_by_month(m.lifecycle, day),
                "median_survival_days": median,
                "survival_curve": table,
            },
            "first_meeting": evaluation.first_meeting(m.lifecycle, m.policies, day),
            "monitoring": evaluation.monitoring_at(
                int(evaluation.windows_due(m.lifecycle, m.policies, day).sum()),
                m.counts),
            "closure": evaluation.closure_at(m.lifecycle, m.policies,
                                             int(m.counts[evaluation.EXIT_INTERVIEW]), day),
            "retention": evaluation.retention(m.chains, day),
            "surveys": evaluation.pairs_section(m.counts, tests=tests),
        }

    def at_risk(self) -> dict[str, dict[str, int]]:
        """How many were at risk at each time of the survival estimates the report holds
        no curve of (``retention.in_service``: mentees followed for at least t days), by
        the estimate's path: publishing (CONTRACT §6) hides an estimate at a t where
        fewer than K were."""
        m = self.metrics()
        durations, _ = evaluation.retention_observations(m.chains,
                                                         self.as_of.toordinal())
        return {"retention.in_service": {
            str(t): int(np.count_nonzero(durations >= t)) for t in evaluation.RETENTION_DAYS}}

    def survival_observations(self) -> list[tuple[int, bool]]:
        """(active days, dropped) of the §4 survival population."""
        m = self.metrics()
        return list(zip(m.active_days.tolist(), m.dropped.tolist(), strict=True))

    def minutes_section(self) -> dict[str, Any]:
        """Contact minutes per 30 active days against MENTOR's 240-minute benchmark."""
        m = self.metrics()
        meeting = int(np.count_nonzero(m.minutes_per_30 >= BENCHMARK_MINUTES))
        n = len(m.minutes_per_30)
        return {
            "minutes": m.minutes,
            "benchmark_minutes_per_30_days": BENCHMARK_MINUTES,
            "minutes_per_30_days": summary(m.minutes_per_30, whole=False),
            "duos_meeting_benchmark": meeting,
            "share_meeting_benchmark": meeting / n if n else None,
        }


def _tally(source: Source, as_of: date, programme: str | None,
           as_at: datetime | str | None) -> _Tally:
    tally = _Tally(as_of)
    for group in _rows_of(source, as_of, programme, as_at):
        tally.add(group)
    return tally


def build_report(source: Source, as_of: date, programme: str | None = None, *,
                 as_at: datetime | str | None = None, tests: bool = False) -> dict[str, Any]:
    """The report of CONTRACT §4, key for key.

    Args:
        source: the read model, or report rows loaded from the materialised tables.
        as_of: only what happened by this business date counts.
        programme: restrict to this programme.
        as_at: only what had been recorded by this time counts (read model only).
        tests: add each survey measure's signed-rank test (``signed_rank``, beyond the
            contract; SciPy takes a few milliseconds a test, so only when asked).

    Raises:
        UnknownProgramme: ``programme`` was never opened in the store.
        ValueError: rows loaded for another ``as_of``, or ``as_at`` with rows.
    """
    tally = _tally(source, as_of, programme, as_at)
    return {"as_of": as_of.isoformat(), **tally.sections(tests=tests)}


def contact_minutes(source: Source, as_of: date, programme: str | None = None, *,
                    as_at: datetime | str | None = None) -> dict[str, Any]:
    """Contact minutes per 30 active days (activated duos with an active day) against
    MENTOR's benchmark of at least 240 minutes a month; arguments as :func:`build_report`.
    """
    tally = _tally(source, as_of, programme, as_at)
    return {"as_of": as_of.isoformat(), **tally.minutes_section()}


@dataclass(frozen=True)
class DuoFigures:
    """Per-duo figures behind the report at one ``as_of`` (for figures beyond it).

    Attributes:
        facts: the facts of every duo recruited by ``as_of`` (see :func:`facts_array`),
            contact counts as at ``as_of``.
        contacts_per_30_days: each activated duo's contacts × 30 / active days, over
            the duos with at least one active day (as ``contacts_per_30_days``).
        minutes_per_30_days: the same duos' contact minutes × 30 / active days.
    """

    facts: Ints
    contacts_per_30_days: Floats
    minutes_per_30_days: Floats


def duo_figures(source: Source, as_of: date, programme: str | None = None, *,
                as_at: datetime | str | None = None) -> DuoFigures:
    """The per-duo figures the report summarises; arguments as :func:`build_report`."""
    tally = _tally(source, as_of, programme, as_at)
    metrics = tally.metrics()
    return DuoFigures(tally.facts(), metrics.per_30, metrics.minutes_per_30)


def _month(ordinal: int, known: dict[int, str]) -> str:
    """The ``YYYY-MM`` of a day, remembered in ``known`` (one breakdown's days)."""
    found = known.get(ordinal)
    if found is None:
        found = known[ordinal] = date.fromordinal(ordinal).isoformat()[:7]
    return found


def build_breakdown(source: Source, as_of: date, by: Breakdown,
                    programme: str | None = None, *,
                    as_at: datetime | str | None = None,
                    tests: bool = False) -> dict[str, Any]:
    """The report's sections (and contact minutes) per group of duos recruited by
    ``as_of``: per programme, country, site, the site's setting, newcomer kind, mentor
    kind, shift overlap or same department (``unmatched`` before a match), month
    (``YYYY-MM``) or quarter (``YYYY-Qn``) of recruitment, or ``outcome`` — how the
    mentee's latest duo stands at ``as_of`` (``completed``, ``dropout``,
    ``other_close``, ``open``; every duo of the mentee's chain is in that group).

    Returns:
        ``{"as_of", "by", "groups": {key: sections}, "comparison": {...}}`` with keys in
        sorted order; ``comparison.survival_logrank`` is the log-rank test of the
        groups' survival of active relationships (see
        :func:`projections.comparisons.logrank`), null with fewer than two groups.

    ``tests`` adds each group's survey signed-rank tests (see :func:`build_report`).

    Raises:
        ValueError: an unknown ``by``, or a breakdown by labels the rows lack.
    """
    groups: dict[str, Any] = {}
    observations: dict[str, list[tuple[int, bool]]] = {}
    for key, tally in _breakdown_tallies(source, as_of, by, programme, as_at).items():
        groups[key] = {**tally.sections(tests=tests),
                       "contact_minutes": tally.minutes_section()}
        observations[key] = tally.survival_observations()
    return {"as_of": as_of.isoformat(), "by": by, "groups": groups,
            "comparison": {"survival_logrank": comparisons.logrank(observations)}}


def at_risk(source: Source, as_of: date, programme: str | None = None, *,
            by: Breakdown | None = None,
            as_at: datetime | str | None = None) -> dict[str, dict[str, int]]:
    """The at-risk counts publishing needs for the survival estimates whose curve the
    report does not hold, by the path of the estimates (e.g. ``retention.in_service``,
    in a breakdown ``groups.<key>.retention.in_service``, keys as
    :func:`projections.publish.path_text` writes them); arguments as
    :func:`build_breakdown` (``by`` None: the unbroken report)."""
    if by is None:
        return _tally(source, as_of, programme, as_at).at_risk()
    return {path_text(("groups", key, *path.split("."))): counts
            for key, tally in _breakdown_tallies(source, as_of, by, programme, as_at).items()
            for path, counts in tally.at_risk().items()}


def _breakdown_tallies(source: Source, as_of: date, by: str, programme: str | None,
                       as_at: datetime | str | None) -> dict[str, _Tally]:
    """The duos of each group of a breakdown (see :func:`build_breakdown`), tallied,
    in the order of the group keys; groups without a duo recruited by ``as_of`` left
    out."""
    if by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown '{by}' (one of {', '.join(BREAKDOWNS)})")
    day = as_of.toordinal()
    months: dict[int, str] = {}
    parts: dict[str, list[ProgrammeRows]] = {}
    for group in _rows_of(source, as_of, programme, as_at):
        if by in ("programme", "country"):
            key = group.programme_id if by == "programme" else group.country
            parts.setdefault(key, []).append(group)
            continue
        split = _split(_keys(group, by, day, months))
        # By the day of recruitment, the extras go by their own (rows loaded for one
        # as_of hold them in an order of their own); by the other labels, by row.
        extras_split = split if by not in ("month", "quarter") else _split(
            _day_keys(group.extras.recruited, by, day, months))
        for key, indices in split.items():
            parts.setdefault(key, []).append(
                group.subset(indices, extras_split.get(key, [])))
    tallies: dict[str, _Tally] = {}
    for key in sorted(parts):
        tally = _Tally(as_of)
        for rows in parts[key]:
            tally.add(rows)
        if tally.total:
            tallies[key] = tally
    return tallies


def _split(keys: Sequence[str | None]) -> dict[str, list[int]]:
    """The rows of each group (rows in no group left out)."""
    split: dict[str, list[int]] = {}
    for i, label in enumerate(keys):
        if label is not None:
            split.setdefault(label, []).append(i)
    return split


def _day_keys(recruited: Ints, by: str, day: int,
              months: dict[int, str]) -> list[str | None]:
    """The month or quarter of each recruitment day (None: after ``as_of``)."""
    name = _month if by == "month" else _quarter
    return [name(r, months) if r <= day else None for r in recruited.tolist()]


def _keys(group: ProgrammeRows, by: str, day: int,
          months: dict[int, str]) -> list[str | None]:
    """Each row's group for a breakdown within a programme (None: not recruited by
    ``as_of``, so in no group); ``months`` remembers the month of each day seen."""
    recruited = group.facts[:, RECRUITED]
    if by in ("month", "quarter"):
        return _day_keys(recruited, by, day, months)
    if by == "outcome":
        keys: Sequence[str] = evaluation.outcomes(
            recruited, group.facts[:, CLOSED], group.facts[:, REASON],
            group.extras.decoded().chain, day)
    elif by == "site" and group.sites is not None:
        keys = group.sites
    else:
        labels = group.labels.get(by)
        if labels is None:
            raise ValueError(f"{by} breakdown needs rows loaded with their sites and labels")
        keys = labels
    return [key if r <= day else None for key, r in zip(keys, recruited.tolist(),
                                                          strict=True)]


def _quarter(ordinal: int, months: dict[int, str]) -> str:
    month = _month(ordinal, months)
    return f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"
