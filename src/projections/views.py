"""The read models' records: what the projections know about each programme, site,
mentor and duo.

Every business date is kept as ISO text (``YYYY-MM-DD``) and every recording time as
canonical UTC text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``, see :func:`canonical_timestamp`),
so both sort correctly as strings and any ``as_of`` (business date) or ``as_at``
(recording time) can be answered from the records alone, without the event log.

The records are mutable slotted dataclasses owned by one :class:`ReadModel`; the fold
(:mod:`projections.fold`) updates them in place. (Reviews and surveys are never changed
once made, but are not frozen either: a frozen dataclass takes four times as long to
make, and a rebuild makes one per event.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import Function, Module

MODULES: tuple[str, ...] = tuple(m.value for m in Module)
STATES: tuple[str, ...] = tuple(s.value for s in DuoState)
"""The duo's states in lifecycle order (``recruited`` … ``closed``): the records hold
these plain strings (the values of :class:`~lifecycle.domain.states.DuoState`)."""
RECRUITED, SELECTED, MATCHED, ACTIVE, CLOSED = STATES
PSYCHOSOCIAL, CAREER = Function.PSYCHOSOCIAL.value, Function.CAREER.value


def canonical_timestamp(value: datetime | str) -> str:
    """A recording time as canonical UTC text that sorts like the time itself.

    Args:
        value: an aware datetime (a naive one is taken as UTC), or its ISO text as the
            event mapper stores it (``2025-03-01T12:00:00Z`` or with microseconds).

    Returns:
        ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: always six fraction digits, always UTC.
    """
    if isinstance(value, str):
        if len(value) == 27 and value[26] == "Z" and value[19] == ".":
            return value
        if len(value) == 20 and value[19] == "Z":
            return value[:19] + ".000000Z"
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class ProgrammeView:
    """A programme and the policy values the reports use."""

    programme_id: str
    name: str
    country: str
    opened_on: str
    opened_at: str
    min_duration_days: int
    max_duration_days: int
    contact_interval_days: int
    first_meeting_within_days: int
    mentor_kinds: tuple[str, ...]
    require_trained_mentor: bool
    reviews_first_interval: int = 2
    review_interval_days: int = 30
    max_duos_per_mentor: int = 3


@dataclass(slots=True)
class SiteView:
    """A site of one programme."""

    site_id: str
    programme_id: str
    name: str
    setting: str
    registered_on: str
    registered_at: str


@dataclass(slots=True)
class MentorView:
    """A mentor of the pool and the date each training module was first completed."""

    mentor_key: str
    """What names the mentor's stream (the id; a sealed store's keyed reference)."""
    mentor_id: str
    """The id; a sealed store's forgotten mentor is named by the reference instead
    (ADR 35)."""
    programme_id: str
    site_id: str
    department: str | None
    shifts: tuple[str, ...]
    years_experience: int | None
    registered_on: str
    registered_at: str
    version: int
    first_completed: dict[str, str] = field(default_factory=dict)
    training_records: int = 0
    deregistered_on: str | None = None
    deregistered_at: str | None = None
    deregistration_reason: str | None = None

    @property
    def trained_on(self) -> str | None:
        """The date by which each of the five modules had been completed at least once."""
        if len(self.first_completed) < len(MODULES):
            return None
        return max(self.first_completed.values())


@dataclass(slots=True)
class ContactView:
    """One logged contact, with its retraction when there was one."""

    contact_id: str
    occurred_on: str
    recorded_at: str
    version: int
    minutes: int
    mode: str
    psychosocial: bool
    career: bool
    retracted_on: str | None = None
    retracted_at: str | None = None
    retract_reason: str | None = None


@dataclass(slots=True)
class ReviewView:
    """One coordinator review (``version`` is the event's version in the duo)."""

    version: int
    occurred_on: str
    recorded_at: str
    health: int | None


@dataclass(slots=True)
class SurveyView:
    """One survey answer set of the mentee or the mentor, before or after."""

    respondent: str
    phase: str
    occurred_on: str
    recorded_at: str
    wellbeing: int | None
    stress: int | None
    integration: int | None
    confidence: int | None


@dataclass(slots=True)
class CorrectionView:
    """One correction of a lifecycle fact (``version`` is the event's in the duo)."""

    version: int
    fact: str
    value: str
    previous: str
    occurred_on: str
    recorded_at: str


@dataclass(slots=True)
class DuoView:
    """Everything the read models know about one duo.

    ``state`` is the duo's latest state; the state at an earlier business date follows
    from the lifecycle dates (they never decrease along the lifecycle). The lifecycle
    facts (``*_on`` dates and ``close_reason``) hold their corrected values;
    ``corrections`` keeps each correction with the value it replaced, so what was
    recorded by an earlier time is :func:`as_recorded`.

    ``chain_id`` names the first duo of the mentee's chain (the duo itself when it
    rematches none); ``departed_on`` is set on the duo a departure from the service
    was recorded on.
    """

    duo_id: str
    programme_id: str
    site_id: str
    country: str | None
    mentee_id: str | None
    newcomer_kind: str
    department: str | None
    predecessor_duo_id: str | None
    recruited_on: str
    recruited_at: str
    version: int
    state: str = RECRUITED
    successor_duo_id: str | None = None
    selected_on: str | None = None
    selected_at: str | None = None
    mentor_id: str | None = None
    mentor_kind: str | None = None
    shift_overlap: bool | None = None
    same_department: bool | None = None
    matched_on: str | None = None
    matched_at: str | None = None
    activated_on: str | None = None
    activated_at: str | None = None
    closed_on: str | None = None
    closed_at: str | None = None
    close_reason: str | None = None
    closed_from: str | None = None
    initiated_by: str | None = None
    exit_interview: bool | None = None
    contacts: dict[str, ContactView] = field(default_factory=dict)
    reviews: list[ReviewView] = field(default_factory=list)
    surveys: dict[tuple[str, str], SurveyView] = field(default_factory=dict)
    shifts: tuple[str, ...] = ()
    chain_id: str = ""
    departed_on: str | None = None
    departed_at: str | None = None
    departure_reason: str | None = None
    corrections: list[CorrectionView] = field(default_factory=list)


CORRECTABLE: Final = frozenset({"recruited_on", "selected_on", "matched_on", "activated_on",
                                "closed_on", "close_reason"})
"""The facts of a duo a correction may replace (the ``DuoView`` attributes of their
names)."""


def as_recorded(duo: DuoView, as_at: str | None) -> DuoView:
    """The duo with its facts as they had been recorded by ``as_at`` (canonical text):
    corrections recorded later are undone (the duo itself when there are none)."""
    if as_at is None or not duo.corrections:
        return duo
    later = [c for c in duo.corrections if c.recorded_at > as_at]
    if not later:
        return duo
    undone: dict[str, str] = {}
    for correction in reversed(later):  # the earliest later one holds the value then
        undone[correction.fact] = correction.previous
    return replace(duo, **undone)  # type: ignore[arg-type]


@dataclass(slots=True)
class Changes:
    """Keys of the records changed since the last :meth:`clear` (for the SQL adapter)."""

    programmes: set[str] = field(default_factory=set)
    sites: set[str] = field(default_factory=set)
    mentors: set[str] = field(default_factory=set)
    duos: set[str] = field(default_factory=set)
    contacts: set[tuple[str, str]] = field(default_factory=set)
    reviews: set[tuple[str, int]] = field(default_factory=set)
    surveys: set[tuple[str, str, str]] = field(default_factory=set)
    corrections: set[tuple[str, int]] = field(default_factory=set)
    corrected: set[str] = field(default_factory=set)
    """Duos corrected: their rows derived from dates (months) are replaced, not only
    upserted."""

    def clear(self) -> None:
        for keys in (self.programmes, self.sites, self.mentors, self.duos, self.contacts,
                     self.reviews, self.surveys, self.corrections, self.corrected):
            keys.clear()

    def __bool__(self) -> bool:
        return any((self.programmes, self.sites, self.mentors, self.duos, self.contacts,
                    self.reviews, self.surveys, self.corrections))


@dataclass(slots=True)
class ReadModel:
    """The state of every view: the fold's ``state``.

    Keys are contract ids (``D-1``, not the stream id ``duo:D-1``).
    """

    programmes: dict[str, ProgrammeView] = field(default_factory=dict)
    sites: dict[str, SiteView] = field(default_factory=dict)
    mentors: dict[str, MentorView] = field(default_factory=dict)
    duos: dict[str, DuoView] = field(default_factory=dict)
    changes: Changes = field(default_factory=Changes)
    chain_roots: dict[str, str] = field(default_factory=dict)
    """The first duo of the chain of every duo that rematches another (kept when a
    rebuild's pass drops the records of duos out of its range, so a successor finds
    its chain whatever pass holds its predecessor)."""
