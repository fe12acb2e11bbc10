"""Publishing: the report with small-cell suppression (CONTRACT §6).

:func:`publish` takes a report exactly as ``report --json`` prints it (the whole store,
one programme, or a ``--by`` breakdown together with its unbroken report) and returns
it with every figure that could single people out replaced by ``None``, plus
``"suppressed"`` (the sorted JSON paths replaced) and ``"threshold"`` (K).

Every figure is classified by one declarative table, :data:`RULES`: a path pattern
(``*`` matches one key, ``a|b`` either key) and the figure's kind —

- :class:`Count` — people or things counted: suppressed when 1 … K − 1 (zero is
  published);
- :class:`Amount` — a total over the things counted at ``of`` (contact minutes):
  suppressed when fewer than K things make it up;
- :class:`Summary` — a median, mean or change over ``n`` duos or pairs: suppressed when
  n < K;
- :class:`Rate` — ``numerator / denominator``: suppressed when the denominator (or the
  population it is about) is below K, and whenever its numerator or denominator is
  suppressed (a rate and one of its terms give the other);
- :class:`Survival` / :class:`SurvivalMedian` — a Kaplan–Meier figure at a time t:
  suppressed when fewer than K duos are at risk at t (read from the curve at ``curve``;
  a figure whose at-risk count the report does not hold is suppressed);
- :class:`Curve` — the Kaplan–Meier table: cut at the first row with fewer than K at
  risk (that row and every later one dropped; the whole curve ``None`` when even t = 0
  has fewer), and in the rows kept, ``events`` and ``censored`` of 1 … K − 1 suppressed;
- :class:`Label` — not a figure about people (dates, keys, fixed benchmarks).

A figure that no rule classifies is suppressed (fail closed): a new report key is
published once a row of the table says what it is.

Secondary suppression works on the additive groups of :data:`GROUPS` (cells that add up
to a total, and figures that equal one another) and, in a breakdown, on every column: a
count or amount across the breakdown's groups adds up to the unbroken report's figure.
A group is safe when no cell is suppressed, or when the suppressed cells cannot be
worked out: the total is suppressed (and then at least one non-zero cell is too, or the
cells would add up to it), or at least two cells are suppressed and they are not all
ones (zeros are always published, so a suppressed cell is known to be at least 1, and
two suppressed cells that add up to 2 are two ones). An unsafe group gets its smallest
published non-zero cell suppressed (the first in the report's order among equals) or,
when none is left, its total. Suppressing a cell may make another group unsafe (a cell
of a breakdown lies in a row and a column; a total may be a cell elsewhere), so the
checks repeat until nothing changes: a fixed point, reached because suppression only
grows. Nothing depends on set or hash order: the same report gives the same bytes.

In a breakdown, some figures are given whatever it hides: subtraction along its rows,
its columns and the unbroken report's groups works them out from the unbroken report's
published figures and the zeros alone (the only non-zero cell of a column equals the
published total; hidden cells of a column adding up to the published total only as
ones are ones). Such a figure counts as shown in every check and is never suppressed
in vain; a group that needs a partner for its hidden cell finds another one, or its
total. With every group safe this way, no hidden figure can be worked out along any
chain of groups, except those given (ADR 20 says which remain).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

DEFAULT_THRESHOLD: Final = 10
"""K by default: the threshold of ONS and Eurostat output checking."""
MIN_THRESHOLD: Final = 3

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Count:
    """People or things counted: suppressed when 1 … K − 1."""


@dataclass(frozen=True)
class Amount:
    """A total over the things counted at ``of``: suppressed when fewer than K make it."""

    of: str


@dataclass(frozen=True)
class Summary:
    """A median, mean or change over ``n`` duos or pairs: suppressed when n < K."""

    n: str


@dataclass(frozen=True)
class Rate:
    """``numerator / denominator``: suppressed when the denominator, or the
    ``population`` the rate is about (when given), is below K, and whenever the
    numerator or the denominator is suppressed."""

    numerator: str
    denominator: str
    population: str | None = None


@dataclass(frozen=True)
class Survival:
    """S(t) at the time its key names: suppressed when fewer than K are at risk at t,
    read from the curve at ``curve``, or (None) from the at-risk counts the caller
    gives :func:`publish` for the estimates' path (none given: suppressed)."""

    curve: str | None


@dataclass(frozen=True)
class SurvivalMedian:
    """The median survival time: suppressed when fewer than K are at risk there."""

    curve: str


@dataclass(frozen=True)
class Curve:
    """The Kaplan–Meier table: cut at the first row with fewer than K at risk."""


@dataclass(frozen=True)
class Label:
    """Not a figure about people: always published."""


@dataclass(frozen=True)
class Unclassified:
    """A figure no rule names: suppressed (fail closed)."""


Kind = Count | Amount | Summary | Rate | Survival | SurvivalMedian | Curve | Label | Unclassified

COUNT: Final = Count()
LABEL: Final = Label()
CURVE: Final = Curve()
UNCLASSIFIED: Final = Unclassified()

RULES: Final[tuple[tuple[str, Kind], ...]] = (
    # Paths are relative to a report (or to one group of a breakdown); the first rule
    # whose pattern matches a figure's path classifies it. A `*` in a reference takes
    # the key the pattern's `*` at the same position matched.
    ("as_of", LABEL),
    ("duos.total", COUNT),
    ("duos.by_state.*", COUNT),
    ("duration.*.n", COUNT),
    ("duration.*.median|mean", Summary("duration.*.n")),
    ("contact_frequency.contacts", COUNT),
    ("contact_frequency.by_function.*", COUNT),
    ("contact_frequency.contacts_per_30_days.n", COUNT),
    ("contact_frequency.contacts_per_30_days.median|mean",
     Summary("contact_frequency.contacts_per_30_days.n")),
    ("contact_frequency.overdue_active_duos", COUNT),
    ("dropouts.count", COUNT),
    ("dropouts.rate", Rate("dropouts.count", "duos.total")),
    ("dropouts.by_stage.*", COUNT),
    ("dropouts.by_reason.*", COUNT),
    ("dropouts.by_month.*", COUNT),
    ("dropouts.survival.*", Survival("dropouts.survival_curve")),
    ("dropouts.median_survival_days", SurvivalMedian("dropouts.survival_curve")),
    ("dropouts.survival_curve", CURVE),
    ("first_meeting.on_time|late|waiting_overdue", COUNT),
    ("monitoring.reviews|windows_due|windows_met", COUNT),
    # Windows are not duos: one duo can have many, so the duos behind the rate count too.
    ("monitoring.compliance", Rate("monitoring.windows_met", "monitoring.windows_due",
                                   population="duration.time_to_match_days.n")),
    ("monitoring.latest_health.n", COUNT),
    ("monitoring.latest_health.median|mean", Summary("monitoring.latest_health.n")),
    ("closure.closed|from_active|completed|early|beyond_max_active|exit_interviews", COUNT),
    ("closure.early_rate", Rate("closure.early", "closure.from_active")),
    ("closure.exit_interview_rate", Rate("closure.exit_interviews", "closure.closed")),
    ("retention.mentees|departed", COUNT),
    ("retention.by_reason.*", COUNT),
    # The report holds no curve of staying in the service: the at-risk counts come from
    # the caller (projections.report.at_risk), and without them the estimates are hidden.
    ("retention.in_service.*", Survival(None)),
    ("surveys.*.*.pairs|improved|unchanged|worsened", COUNT),
    ("surveys.*.*.mean_change|median_change", Summary("surveys.*.*.pairs")),
    # The signed-rank test of the changes (null when no change is non-zero).
    ("surveys.*.*.signed_rank", Summary("surveys.*.*.pairs")),
    ("surveys.*.*.signed_rank.n", COUNT),
    ("surveys.*.*.signed_rank.statistic|p_value", Summary("surveys.*.*.pairs")),
    # A breakdown's groups, and the CLI's text report, carry contact minutes too.
    ("contact_minutes.minutes", Amount("contact_frequency.contacts")),
    ("contact_minutes.benchmark_minutes_per_30_days", LABEL),
    ("contact_minutes.minutes_per_30_days.n", COUNT),
    ("contact_minutes.minutes_per_30_days.median|mean",
     Summary("contact_minutes.minutes_per_30_days.n")),
    ("contact_minutes.duos_meeting_benchmark", COUNT),
    ("contact_minutes.share_meeting_benchmark",
     Rate("contact_minutes.duos_meeting_benchmark", "contact_minutes.minutes_per_30_days.n")),
)
"""The kind of every figure of the report (CONTRACT §4, v1 and v2 sections)."""

BREAKDOWN_RULES: Final[tuple[tuple[str, Kind], ...]] = (
    ("as_of", LABEL),
    ("by", LABEL),
    # The log-rank comparison of the groups (null with fewer than two): group names are
    # the breakdown's own keys; its figures are about every group, so they are hidden
    # when the smallest group has fewer than K duos.
    ("comparison.survival_logrank", LABEL),
    ("comparison.survival_logrank.groups.*", LABEL),
    ("comparison.survival_logrank.df", LABEL),
    ("comparison.survival_logrank.smallest_group", COUNT),
    ("comparison.survival_logrank.statistic|p_value",
     Summary("comparison.survival_logrank.smallest_group")),
)
"""The kind of a breakdown's own keys beside ``groups`` (each group follows
:data:`RULES`)."""


@dataclass(frozen=True)
class Group:
    """Cells that add up to a total (a single cell: a figure equal to the total).

    Attributes:
        total: the total's path pattern.
        cells: the cells' path patterns; a ``*`` takes the key the total's ``*`` at the
            same position matched, a further ``*`` stands for every key there.
        contract: named in CONTRACT §6 (the others are identities of the report's
            definitions that subtraction would exploit just as well).
    """

    total: str
    cells: tuple[str, ...]
    contract: bool = True


GROUPS: Final[tuple[Group, ...]] = (
    Group("duos.total", ("duos.by_state.*",)),
    Group("dropouts.count", ("dropouts.by_stage.*",)),
    Group("dropouts.count", ("dropouts.by_reason.*",)),
    Group("dropouts.count", ("dropouts.by_month.*",)),
    Group("surveys.*.*.pairs", ("surveys.*.*.improved", "surveys.*.*.unchanged",
                                "surveys.*.*.worsened")),
    Group("duration.time_to_first_meeting_days.n", ("first_meeting.on_time",
                                                     "first_meeting.late")),
    # Each departed mentee has one reason, as each dropout has.
    Group("retention.departed", ("retention.by_reason.*",), contract=False),
    # Activated by as_of = active now + closed from active.
    Group("duration.time_to_first_meeting_days.n", ("duos.by_state.active",
                                                     "closure.from_active"), contract=False),
    # The same figure under two names.
    Group("duos.by_state.closed", ("closure.closed",), contract=False),
    Group("duration.relationship_days.n", ("closure.from_active",), contract=False),
    Group("contact_frequency.contacts_per_30_days.n",
          ("contact_minutes.minutes_per_30_days.n",), contract=False),
)
"""The additive groups secondary suppression protects."""

ADDITIVE: Final = (Count, Amount)
"""Kinds that add up across a breakdown's groups (its columns)."""


class PublishError(ValueError):
    """The report cannot be published as given (bad threshold, missing unbroken
    report)."""


def check_threshold(threshold: object) -> int:
    """``threshold`` as K, or :class:`PublishError` unless it is an int ≥ 3."""
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise PublishError(f"threshold must be an integer, not {threshold!r}")
    if threshold < MIN_THRESHOLD:
        raise PublishError(f"threshold must be at least {MIN_THRESHOLD}, not {threshold}")
    return threshold


def publish(report: Mapping[str, Any], threshold: int = DEFAULT_THRESHOLD, *,
            overall: Mapping[str, Any] | None = None,
            at_risk: Mapping[str, Mapping[str, int]] | None = None,
            overall_at_risk: Mapping[str, Mapping[str, int]] | None = None,
            ) -> dict[str, Any]:
    """The report with small-cell suppression (CONTRACT §6).

    Args:
        report: a report as ``report --json`` prints it: the whole store or one
            programme, or a ``--by`` breakdown (``{"as_of", "by", "groups"}``). A report
            may carry a ``contact_minutes`` section as a breakdown's groups do.
        threshold: K, an int ≥ 3: counts of 1 … K − 1 are suppressed.
        overall: for a breakdown, the unbroken report of the same store, ``as_of``,
            programme and recording time (with ``contact_minutes`` when the groups have
            it): each column of the breakdown adds up to its figure, published as
            :func:`publish` publishes it on its own.
        at_risk: how many were at risk at each time of the survival estimates whose
            curve the report does not hold, by the estimates' path (as
            :func:`projections.report.at_risk` gives them); an estimate without them
            is suppressed.
        overall_at_risk: the same for ``overall``.

    Returns:
        A new dict: ``report`` with suppressed figures ``None`` (and the survival curve
        cut), then ``"suppressed"`` (sorted paths, see :func:`path_text`) and
        ``"threshold"``. ``report`` is left as it was.

    Raises:
        PublishError: ``threshold`` is not an int ≥ 3; a breakdown without ``overall``,
            or whose columns ``overall`` does not hold.
    """
    k = check_threshold(threshold)
    if _is_breakdown(report):
        if overall is None:
            raise PublishError("publishing a breakdown needs its unbroken report (overall)")
        return _Publication(report, k, at_risk, overall=_Publication(
            overall, k, overall_at_risk)).result()
    return _Publication(report, k, at_risk).result()


def path_text(path: Sequence[str | int]) -> str:
    """A path as written in ``"suppressed"``: keys joined by dots (list positions as
    numbers), a key holding a dot written ``["…"]`` (e.g. ``groups["S.1"].duos.total``)."""
    text = ""
    for key in path:
        if isinstance(key, str) and ("." in key or "[" in key or not key):
            text += f"[{json.dumps(key)}]"
        else:
            text += f".{key}" if text else str(key)
    return text


_TOKEN = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|([^.\[]+)')


def parse_path(text: str) -> tuple[str, ...]:
    """The keys of a path written by :func:`path_text` (list positions as digits)."""
    keys: list[str] = []
    for quoted, plain in _TOKEN.findall(text):
        keys.append(plain if plain else json.loads(f'"{quoted}"'))
    return tuple(keys)


def classify(path: Sequence[str | int],
             rules: Sequence[tuple[str, Kind]] = RULES) -> tuple[Kind, tuple[str, ...]]:
    """The kind of the figure at ``path`` (relative to a report) and the keys its
    pattern's ``*`` matched; :data:`UNCLASSIFIED` when no rule matches."""
    keys = tuple(str(k) for k in path)
    for pattern, kind in _indexed(rules).get(keys[0] if keys else "", ()):
        captures = _match(pattern, keys)
        if captures is not None:
            return kind, captures
    return UNCLASSIFIED, ()


# ---------------------------------------------------------------------- internals
Pattern = tuple[frozenset[str] | None, ...]
_PATTERNS: dict[str, Pattern] = {}
_INDEXES: dict[int, dict[str, list[tuple[Pattern, Kind]]]] = {}
"""The indexes of the module's own tables (by identity: they live as long as it)."""


def _indexed(rules: Sequence[tuple[str, Kind]]) -> dict[str, list[tuple[Pattern, Kind]]]:
    """The rules by the first key they match, each list in the table's order (the first
    match wins). A pattern names its first key (or keys): a section, never ``*``."""
    cached = rules is RULES or rules is BREAKDOWN_RULES
    index = _INDEXES.get(id(rules)) if cached else None
    if index is None:
        index = {}
        for pattern, kind in rules:
            compiled = _compiled(pattern)
            if compiled[0] is None:
                raise ValueError(f"rule '{pattern}' must begin with a key, not '*'")
            for key in sorted(compiled[0]):
                index.setdefault(key, []).append((compiled, kind))
        if cached:
            _INDEXES[id(rules)] = index
    return index


def _compiled(pattern: str) -> Pattern:
    """A pattern as one entry per key: the keys it may be, or None for ``*``."""
    found = _PATTERNS.get(pattern)
    if found is None:
        found = _PATTERNS[pattern] = tuple(
            None if part == "*" else frozenset(part.split("|"))
            for part in pattern.split("."))
    return found


def _match(pattern: tuple[frozenset[str] | None, ...],
           keys: tuple[str, ...]) -> tuple[str, ...] | None:
    if len(pattern) != len(keys):
        return None
    captures = []
    for allowed, key in zip(pattern, keys, strict=True):
        if allowed is None:
            captures.append(key)
        elif key not in allowed:
            return None
    return tuple(captures)


def _resolve(reference: str, captures: tuple[str, ...]) -> tuple[str, ...]:
    """A reference path with its ``*`` replaced by the captures, in order."""
    keys: list[str] = []
    taken = iter(captures)
    for part in reference.split("."):
        keys.append(next(taken) if part == "*" else part)
    return tuple(keys)


def _is_breakdown(report: Mapping[str, Any]) -> bool:
    return "groups" in report and "by" in report and isinstance(report["groups"], dict)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _at_risk(rows: Any, t: Any) -> int | None:
    """Duos at risk at ``t`` (duration ≥ t): the ``at_risk`` of the curve's first row at
    or after t, 0 past its end; None when there is no curve or t is not a number."""
    if not isinstance(rows, list) or not _number(t):
        return None
    for row in rows:
        if row["t"] >= t:
            at_risk: int = row["at_risk"]
            return at_risk
    return 0


@dataclass
class _Figure:
    """One figure of the report: where it is, its kind, and where it is reported
    relative to (the report, or one group of a breakdown)."""

    path: Path
    value: Any
    kind: Kind
    captures: tuple[str, ...]
    root: Path


class _Publication:
    """One report's suppression, worked out when built."""

    def __init__(self, report: Mapping[str, Any], k: int,
                 at_risk: Mapping[str, Mapping[str, int]] | None = None, *,
                 overall: _Publication | None = None) -> None:
        self.report = report
        self.k = k
        self.at_risk = at_risk or {}
        self.figures: dict[Path, _Figure] = {}
        self.curves: dict[Path, int] = {}
        """The curves, by path: how many rows are kept."""
        self.roots: list[Path] = []
        if overall is None:
            self._walk(report, (), (), RULES)
            self.roots.append(())
        else:
            for key, value in report.items():
                if key == "groups":
                    for group, sections in value.items():
                        self.roots.append(("groups", group))
                        self._walk(sections, ("groups", group), ("groups", group), RULES)
                else:
                    self._walk(value, (key,), (), BREAKDOWN_RULES)
        self.suppressed: set[Path] = set()
        self.rows: list[tuple[Path | None, bool, list[Path]]] = []
        """The additive groups of every report root, as :meth:`_groups` gives them."""
        self.determined: set[Path] = set()
        """Figures of a breakdown that the unbroken report's published figures and the
        zeros give by subtraction alone: hiding them protects nothing."""
        self.order = {path: i for i, path in enumerate(self.figures)}
        # The figures of each report root by their first key: (path, keys below root).
        self.under: dict[Path, dict[str, list[tuple[Path, tuple[str, ...]]]]] = {
            r: {} for r in self.roots}
        for path, figure in self.figures.items():
            if figure.root in self.under:
                keys = tuple(str(k) for k in path[len(figure.root):])
                self.under[figure.root].setdefault(keys[0], []).append((path, keys))
        self._primary()
        self._secondary(overall)

    # -------------------------------------------------------------- reading
    def _walk(self, value: Any, path: Path, root: Path,
              rules: Sequence[tuple[str, Kind]]) -> None:
        relative = path[len(root):]
        if isinstance(value, dict):
            for key, item in value.items():
                self._walk(item, (*path, key), root, rules)
            return
        kind, captures = classify(relative, rules)
        if isinstance(value, list) and not isinstance(kind, Curve):
            for i, item in enumerate(value):
                self._walk(item, (*path, i), root, rules)
            return
        self.figures[path] = _Figure(path, value, kind, captures, root)

    def value(self, root: Path, reference: str, captures: tuple[str, ...]) -> Any:
        figure = self.figures.get((*root, *_resolve(reference, captures)))
        return None if figure is None else figure.value

    # -------------------------------------------------------------- primary
    def _primary(self) -> None:
        for figure in self.figures.values():
            if isinstance(figure.kind, Curve):
                self._cut(figure)
            elif figure.value is not None and self._small(figure):
                self.suppressed.add(figure.path)

    def _small(self, figure: _Figure) -> bool:
        """Whether the figure itself is one the threshold hides (primary suppression)."""
        k, kind, value = self.k, figure.kind, figure.value
        if isinstance(kind, Count):
            return not _number(value) or 0 < value < k
        if isinstance(kind, Label):
            return False
        if isinstance(kind, Amount):
            return value != 0 and self._below(figure, kind.of)
        if isinstance(kind, Summary):
            return self._below(figure, kind.n)
        if isinstance(kind, Rate):
            return self._below(figure, kind.denominator) or (
                kind.population is not None and self._below(figure, kind.population))
        if isinstance(kind, Survival) and kind.curve is None:
            given = self.at_risk.get(path_text(figure.path[:-1]), {})
            at_risk = given.get(str(figure.path[-1]))
            return at_risk is None or at_risk < k
        if isinstance(kind, Survival | SurvivalMedian):
            rows = (None if kind.curve is None
                    else self.value(figure.root, kind.curve, figure.captures))
            t = value if isinstance(kind, SurvivalMedian) else _int_key(figure.path[-1])
            at_risk = _at_risk(rows, t)
            return at_risk is None or at_risk < k
        return True  # unclassified

    def _below(self, figure: _Figure, reference: str) -> bool:
        n = self.value(figure.root, reference, figure.captures)
        return not _number(n) or n < self.k

    def _cut(self, figure: _Figure) -> None:
        rows = figure.value
        if not isinstance(rows, list):
            self.curves[figure.path] = 0
            return
        kept = next((i for i, row in enumerate(rows) if row["at_risk"] < self.k), len(rows))
        self.curves[figure.path] = kept
        for i in range(kept):
            for key in ("events", "censored"):
                if 0 < rows[i][key] < self.k:
                    self.suppressed.add((*figure.path, i, key))

    # -------------------------------------------------------------- secondary
    def _secondary(self, overall: _Publication | None) -> None:
        self.rows = list(self._groups())
        checks = list(self.rows)
        if overall is not None:
            columns = self._columns(overall)
            self.determined, given = self._determined(checks, columns, overall)
            # A total the unbroken report hides but gives away counts as shown.
            checks += [(None, total_hidden and relative not in given, cells)
                       for relative, total_hidden, cells in columns]
        rates = [f for f in self.figures.values()
                 if isinstance(f.kind, Rate) and f.value is not None]
        changed = True
        while changed:
            changed = False
            for total, total_hidden, cells in checks:
                victim = self._victim(total, total_hidden, cells)
                if victim is not None:
                    self.suppressed.add(victim)
                    changed = True
            for rate in rates:
                if rate.path not in self.suppressed and self._linked(rate):
                    self.suppressed.add(rate.path)
                    changed = True

    def _linked(self, rate: _Figure) -> bool:
        assert isinstance(rate.kind, Rate)
        return any((*rate.root, *_resolve(term, rate.captures)) in self.suppressed
                   for term in (rate.kind.numerator, rate.kind.denominator))

    def _groups(self) -> Iterator[tuple[Path | None, bool, list[Path]]]:
        """Every additive group of every report root: (total, whether the total is
        fixed as suppressed elsewhere, cells in the report's order)."""
        for root in self.roots:
            sections = self.under[root]
            for group in GROUPS:
                totals = _compiled(group.total)
                for path, keys in _section(sections, totals):
                    captures = _match(totals, keys)
                    if captures is None:
                        continue
                    cells: list[Path] = []
                    for pattern in group.cells:
                        compiled = _compiled(pattern)
                        exact = _exact(compiled, captures)
                        if exact is not None:  # one key at each place: looked up
                            cell = (*root, *exact)
                            found = [cell] if cell in self.figures else []
                        else:
                            found = _expand(_section(sections, compiled), compiled,
                                            captures)
                        if not found and compiled.count(None) == len(captures):
                            # A named cell the report lacks (a v1 report has no
                            # `closure`): the identity does not hold without it.
                            cells = []
                            break
                        cells += found
                    if cells:
                        yield path, False, cells

    def _columns(self, overall: _Publication) -> list[tuple[Path, bool, list[Path]]]:
        """Each additive figure across the breakdown's groups, against the unbroken
        report's figure (whose suppression is that report's own): (the figure's path in
        the unbroken report, whether it is suppressed there, the groups' cells). A group
        without the figure (a month with no dropout there) holds a zero cell."""
        columns: dict[Path, list[Path]] = {}
        for path, figure in self.figures.items():
            if figure.root and isinstance(figure.kind, ADDITIVE):
                columns.setdefault(path[len(figure.root):], []).append(path)
        checks: list[tuple[Path, bool, list[Path]]] = []
        for relative, cells in columns.items():
            if relative not in overall.figures:
                raise PublishError(f"the unbroken report has no {path_text(relative)}")
            checks.append((relative, relative in overall.suppressed, cells))
        return checks

    def _determined(self, rows: list[tuple[Path | None, bool, list[Path]]],
                    columns: list[tuple[Path, bool, list[Path]]],
                    overall: _Publication) -> tuple[set[Path], set[Path]]:
        """The breakdown's figures that subtraction gives from what no suppression of
        the breakdown can hide: the unbroken report's published figures and every
        zero. Along the breakdown's rows, its columns and the unbroken report's own
        groups, a figure is given when it is the one unknown of an identity that holds,
        or when the unknown cells of a group with a known total add up to as many as
        they are (each is at least 1, so each is 1). Such a figure (say the only
        non-zero cell of a column, equal to the published total) is never hidden in
        vain, and a group in which it lies counts it as shown. Returns the breakdown's
        figures so given, and the unbroken report's."""
        mine, theirs = 0, 1
        values: dict[Member, Any] = {}
        for path, figure in self.figures.items():
            values[mine, path] = figure.value
        for path, figure in overall.figures.items():
            values[theirs, path] = figure.value
        equations: list[tuple[Member, list[Member]]] = []
        for total, _, cells in rows:
            if total is not None:
                equations.append(((mine, total), [(mine, c) for c in cells]))
        for total, _, cells in columns:
            equations.append(((theirs, total), [(mine, c) for c in cells]))
        for total, _, cells in overall.rows:
            if total is not None:
                equations.append(((theirs, total), [(theirs, c) for c in cells]))
        known = {key for key, value in values.items() if _number(value) and value == 0}
        known |= {(theirs, path) for path, figure in overall.figures.items()
                  if path not in overall.suppressed and _number(figure.value)}
        known = _given(equations, values, known)
        return ({path for side, path in known if side == mine},
                {path for side, path in known if side == theirs})

    def _victim(self, total: Path | None, total_hidden: bool,
                cells: list[Path]) -> Path | None:
        """The figure to suppress next so that no suppressed cell of the group can be
        worked out, or None when the group is safe. ``total`` None: the total is
        another report's (``total_hidden`` says whether it is suppressed there).

        A figure :attr:`determined` counts as shown (it can be worked out whatever is
        hidden) and is never chosen."""
        known = self.determined
        hidden_total = total_hidden or (
            total is not None and total in self.suppressed and total not in known)
        nonzero = [c for c in cells
                   if _number(self.figures[c].value) and self.figures[c].value != 0]
        hidden = [c for c in nonzero if c in self.suppressed and c not in known]
        free = [c for c in nonzero if c not in self.suppressed and c not in known]
        if hidden_total:
            # The cells must not add up to the suppressed total.
            return self._smallest(free) if free and not hidden else None
        if not hidden:
            return None
        if len(hidden) >= 2 and sum(self.figures[c].value for c in hidden) > len(hidden):
            return None
        if free:
            return self._smallest(free)
        if total is not None and total not in known and self._total_shown(total):
            return total
        # Only figures the unbroken report gives are left: by the closure that finds
        # them, the hidden cells are among them, so this is not reached.
        return None

    def _total_shown(self, total: Path) -> bool:
        figure = self.figures[total]
        return figure.value is not None and total not in self.suppressed

    def _smallest(self, cells: list[Path]) -> Path:
        return min(cells, key=lambda c: (self.figures[c].value, self.order[c]))

    # -------------------------------------------------------------- writing
    def result(self) -> dict[str, Any]:
        published: dict[str, Any] = copy.deepcopy(dict(self.report))
        replaced: list[str] = []
        for path in self.suppressed:
            if self._get(path) is not None:
                self._set(published, path, None)
                replaced.append(path_text(path))
        for path, kept in self.curves.items():
            rows = self.figures[path].value
            if not isinstance(rows, list) or kept == len(rows):
                continue
            if kept == 0:
                self._set(published, path, None)
                replaced.append(path_text(path))
                continue
            curve = self._get_in(published, path)
            del curve[kept:]
            replaced += [path_text((*path, i)) for i in range(kept, len(rows))]
        published["suppressed"] = sorted(replaced)
        published["threshold"] = self.k
        return published

    def _get(self, path: Path) -> Any:
        figure = self.figures.get(path)
        if figure is not None:
            return figure.value
        return self._get_in(self.report, path)  # a cell of a curve row

    @staticmethod
    def _get_in(value: Any, path: Path) -> Any:
        for key in path:
            value = value[key]
        return value

    @classmethod
    def _set(cls, target: Any, path: Path, value: Any) -> None:
        cls._get_in(target, path[:-1])[path[-1]] = value


Member = tuple[int, Path]
"""A figure in :meth:`_Publication._determined`: (0 the breakdown, 1 the unbroken
report; its path)."""


def _given(equations: Sequence[tuple[Member, Sequence[Member]]],
           values: Mapping[Member, Any], known: set[Member]) -> set[Member]:
    """``known`` and every figure that subtraction works out from it along the
    identities (total, cells) that hold in ``values``: the one unknown of an identity,
    and unknown cells adding up to as many as they are (each hidden figure is at least
    1: zeros are shown), until nothing more follows."""
    holding = [(total, cells) for total, cells in equations
               if all(_number(values[m]) for m in (total, *cells))
               and values[total] == sum(values[c] for c in cells)]
    known = set(known)
    changed = True
    while changed:
        changed = False
        for total, cells in holding:
            unknown = [m for m in (total, *cells) if m not in known]
            if not unknown:
                continue
            rest = values[total] - sum(values[c] for c in cells if c in known)
            if len(unknown) == 1 or (total in known and rest == len(unknown)):
                known.update(unknown)
                changed = True
    return known


def _section(sections: Mapping[str, list[tuple[Path, tuple[str, ...]]]],
             pattern: Pattern) -> list[tuple[Path, tuple[str, ...]]]:
    """The figures a pattern may match, by its first key (a pattern names it)."""
    first = pattern[0] or frozenset()
    return [figure for key in sorted(first) for figure in sections.get(key, ())]


def _exact(pattern: Pattern, captures: tuple[str, ...]) -> tuple[str, ...] | None:
    """The one path a cell pattern names once its ``*`` take the captures, or None when
    it may name several (a further ``*``, or a choice ``a|b``)."""
    if pattern.count(None) != len(captures):
        return None
    keys: list[str] = []
    taken = iter(captures)
    for allowed in pattern:
        if allowed is None:
            keys.append(next(taken))
        elif len(allowed) == 1:
            keys.extend(allowed)
        else:
            return None
    return tuple(keys)


def _expand(figures: Sequence[tuple[Path, tuple[str, ...]]],
            pattern: tuple[frozenset[str] | None, ...],
            captures: tuple[str, ...]) -> list[Path]:
    """The figures (path, keys relative to their root) matching a cell pattern whose
    first ``*`` take the captures (any further ``*`` matches every key)."""
    bound: list[frozenset[str] | None] = []
    used = 0
    for allowed in pattern:
        if allowed is None and used < len(captures):
            allowed = frozenset((captures[used],))
            used += 1
        bound.append(allowed)
    fixed = tuple(bound)
    return [path for path, keys in figures if _match(fixed, keys) is not None]


def _int_key(key: str | int) -> int | None:
    try:
        return int(key)
    except ValueError:
        return None
