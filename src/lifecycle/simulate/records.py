"""What the simulation keeps of each programme, site, mentor and planned duo."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from lifecycle.domain.vocabulary import NON_DROPOUT_REASONS, MentorKind
from lifecycle.simulate.pilot import _ProgrammeSpec


@dataclass(slots=True)
class _Programme:
    spec: _ProgrammeSpec
    programme_id: str
    prefix: str
    opened: int
    end: int
    min_days: int
    max_days: int
    interval: int
    first_within: int
    review_interval: int
    mentor_kinds: tuple[str, ...]
    require_trained: bool
    budget: int
    """Recruits still to make; a rematch's successor takes one from it."""
    sites: list[_Site] = field(default_factory=list)


@dataclass(slots=True)
class _Site:
    site_id: str
    programme: _Programme
    setting: str
    name: str
    registered: int
    weight: float
    mentors: list[_Mentor] = field(default_factory=list)
    """Sorted by ``ready`` once the pool is built; mentors never ready are left out."""
    ready: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Mentor:
    mentor_id: str
    site: _Site
    department: str
    shifts: tuple[str, ...]
    years: int
    registered: int
    trained: int | None
    """Day by which all five modules were completed, None when never fully trained."""
    ready: int | None
    """First day the programme's policy allows matching this mentor."""
    leaves: int | None = None
    """Day the mentor leaves the pool (``deregister_mentor``), None when staying."""
    leave_reason: str = "left_service"


@dataclass(slots=True)
class _DuoPlan:
    """The whole fate of one duo, decided when it is recruited."""

    duo_id: str
    mentee_id: str
    programme: _Programme
    site: _Site
    newcomer_kind: str
    department: str
    shifts: tuple[str, ...]
    predecessor_id: str | None
    recruited: int
    selected: int | None = None
    matched: int | None = None
    activated: int | None = None
    closed: int = 0
    reason: str = "other"
    mentor: _Mentor | None = None
    mentor_kind: str = MentorKind.PEER
    mean_gap: float = 7.0
    """Mean days between two contacts, for this duo."""
    contacts: int = 0
    """Contact ids used so far (``c0001``…)."""
    departs: int | None = None
    """Day the mentee's departure from the service is recorded on this duo, if ever."""
    departure_reason: str = "resigned"

    @property
    def dropout(self) -> bool:
        return self.reason not in NON_DROPOUT_REASONS

    def day_of(self, stage: int) -> int | None:
        return (self.recruited, self.selected, self.matched, self.activated, self.closed)[stage]


class _IsoDays(dict[int, str]):
    """Ordinal → ``YYYY-MM-DD``, filled on first use (a stream spans a few hundred days)."""

    def __missing__(self, day: int) -> str:
        text = date.fromordinal(day).isoformat()
        self[day] = text
        return text
