"""The shape of the 2025 M4Pris pilot that the simulator reproduces: programmes,
rates of each fate, and the bags of values drawn for commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import (
    CloseReason,
    ContactMode,
    DepartureReason,
    DeregistrationReason,
    Function,
    InitiatedBy,
    MentorKind,
    Module,
    NewcomerKind,
)

Command = dict[str, Any]

# Within one day, set-up comes before mentors and mentors before duos, so a match may
# use a mentor registered or trained that same day.
_PRIO_SETUP: Final = 0
_PRIO_MENTOR: Final = 1
_PRIO_DUO: Final = 2

MODULES: Final[tuple[str, ...]] = tuple(Module)
_DEPARTMENTS: Final = ("wing-A", "wing-B", "wing-C", "reception", "security", "workshop",
                       "healthcare", "education")
_SHIFT_BAG: Final[tuple[tuple[str, ...], ...]] = (
    ("early",), ("early",), ("late",), ("late",), ("night",), ("early", "late"),
    ("early", "late"), ("late", "night"), ("early", "night"), ("early", "late", "night"),
    ("day",), (),
)
_M = ContactMode
_MODE_BAG: Final = ((_M.IN_PERSON,) * 8 + (_M.PHONE,) * 4 + (_M.ON_SHIFT,) * 3
                    + (_M.MESSAGE,) * 3 + (_M.VIDEO,) * 2)
_MINUTES: Final = {_M.IN_PERSON: (30, 120), _M.PHONE: (10, 45), _M.ON_SHIFT: (10, 60),
                   _M.MESSAGE: (10, 20), _M.VIDEO: (20, 60)}
_F = Function
_FUNCTION_BAG: Final[tuple[tuple[str, ...], ...]] = (
    ((_F.PSYCHOSOCIAL,),) * 5 + ((_F.CAREER,),) * 2 + ((_F.PSYCHOSOCIAL, _F.CAREER),) * 3
    + ((_F.CAREER, _F.PSYCHOSOCIAL),))
_N = NewcomerKind
_NEWCOMER_BAG: Final[tuple[str, ...]] = (
    (_N.NEW_TO_PROFESSION,) * 6 + (_N.TRANSFERRED,) * 2 + (_N.NEW_SETTING,) * 2)

_STAGES: Final = ("recruit", "select", "match", "activate", "close")
_RECRUIT, _SELECT, _MATCH, _ACTIVATE, _CLOSE = range(5)

_R = CloseReason
_DROPOUT_REASONS_BY_STAGE: Final[dict[str, tuple[str, ...]]] = {
    DuoState.RECRUITED: (_R.MENTEE_WITHDREW,) * 5 + (_R.MENTEE_LEFT_SERVICE,) * 3
    + (_R.OTHER,) * 2,
    DuoState.SELECTED: (_R.MENTEE_WITHDREW,) * 4 + (_R.MENTEE_LEFT_SERVICE,) * 3
    + (_R.NO_MENTOR_AVAILABLE,) * 2 + (_R.OTHER,),
    DuoState.MATCHED: (_R.MISMATCH,) * 4 + (_R.MENTEE_WITHDREW,) * 2
    + (_R.MENTOR_WITHDREW,) * 2 + (_R.MENTOR_LEFT_SERVICE, _R.MENTEE_LEFT_SERVICE, _R.OTHER),
    DuoState.ACTIVE: (_R.MENTEE_WITHDREW,) * 5 + (_R.MENTOR_WITHDREW,) * 3
    + (_R.MENTEE_LEFT_SERVICE,) * 4 + (_R.MENTOR_LEFT_SERVICE,) * 3 + (_R.MISMATCH,) * 3
    + (_R.OTHER,),
}
_I = InitiatedBy
_INITIATORS: Final[dict[str, tuple[str, ...]]] = {
    _R.COMPLETED: (_I.COORDINATOR,),
    _R.PROGRAMME_ENDED: (_I.ORGANISATION,),
    _R.REMATCHED: (_I.COORDINATOR,),
    _R.MENTEE_WITHDREW: (_I.MENTEE,),
    _R.MENTOR_WITHDREW: (_I.MENTOR,),
    _R.MENTEE_LEFT_SERVICE: (_I.ORGANISATION, _I.MENTEE),
    _R.MENTOR_LEFT_SERVICE: (_I.ORGANISATION, _I.MENTOR),
    _R.MISMATCH: (_I.COORDINATOR, _I.MENTEE, _I.MENTOR),
    _R.NO_MENTOR_AVAILABLE: (_I.COORDINATOR,),
    _R.OTHER: (_I.MENTEE, _I.MENTOR, _I.COORDINATOR, _I.ORGANISATION),
}

# Per-duo probabilities, tuned so that about a third of all duos drop out early (the
# pilot's experience); the tests hold the measured rate to a band.
_P_DROP_RECRUITED: Final = 0.05
_P_DROP_SELECTED: Final = 0.04
_P_DROP_MATCHED: Final = 0.05
_P_DROP_ACTIVE: Final = 0.25
_P_REMATCH_MATCHED: Final = 0.02
_P_REMATCH_ACTIVE: Final = 0.03
# Per-contact probabilities.
_P_LATE: Final = 0.07
_P_DUPLICATE: Final = 0.012
_P_WRONG_DUO: Final = 0.004
_P_DID_NOT_HAPPEN: Final = 0.005
_P_LAPSE: Final = 0.04
_GAP_SHARE: Final = 0.26
"""Mean gap between contacts as a share of the policy's contact interval (before the
duo's engagement factor and the odd lapse)."""

# Contract v2: mentors leaving the pool, coordinators correcting what they typed, mentees
# leaving the prison service, and the monitoring schedule's check-ins.
_P_MENTOR_LEAVES: Final = 0.08
"""Share of mentors who leave the pool during the pilot (their open duos then close or
are rematched a few days later)."""
_P_REMATCH_WHEN_MENTOR_LEAVES: Final = 0.3
_LEAVE_REASONS: Final[tuple[str, ...]] = (
    (DeregistrationReason.LEFT_SERVICE,) * 5 + (DeregistrationReason.WITHDREW,) * 4
    + (DeregistrationReason.OTHER,))
_P_ACTIVATION_TYPO: Final = 0.04
"""Share of activations entered a few days too early and corrected weeks later."""
_P_REASON_TYPO: Final = 0.06
"""Share of dropout closes entered as ``other`` and corrected to the real reason."""
_P_DEPARTS_WHILE_RUNNING: Final = 0.35
"""Of the mentees whose duo closes because they left the service: the share whose
departure is recorded while the duo still runs (the close follows days later)."""
_P_DEPARTS_LATER: Final[dict[str, float]] = {
    CloseReason.COMPLETED: 0.08, CloseReason.PROGRAMME_ENDED: 0.06}
"""After these closes, the share of mentees leaving the service months later; after
any other dropout (but leaving the service) :data:`_P_DEPARTS_AFTER_DROPOUT`."""
_P_DEPARTS_AFTER_DROPOUT: Final = 0.2
_D = DepartureReason
_DEPARTURE_REASONS: Final[tuple[str, ...]] = (
    (_D.RESIGNED,) * 12 + (_D.DISMISSED,) * 3 + (_D.RETIRED,) + (_D.OTHER,) * 4)
_P_REVIEW_LAPSE: Final = 0.08
"""Chance that a monthly check-in of the monitoring schedule is skipped."""

_DUOS_PER_MENTOR: Final = 2.5
_MIN_MENTORS_PER_SITE: Final = 2
_DUOS_PER_EXTRA_SITE: Final = 1500


@dataclass(frozen=True, slots=True)
class _ProgrammeSpec:
    country: str
    name: str
    share: float
    open_offset: int
    """Days from ``start`` to the programme's opening."""
    recruit_lead: int
    """Days from the opening to the first recruitment."""
    recruit_days: int
    end_offset: int
    """Days from ``start`` to the programme's end (open duos close ``programme_ended``)."""
    settings: tuple[str, ...]
    policy: dict[str, Any] | None


_PILOT: Final = (
    _ProgrammeSpec("DK", "Danish prison-staff mentoring pilot", 0.30, 0, 14, 240, 540,
                   ("adult", "adult", "mixed", "youth"),
                   {"min_duration_days": 182, "max_duration_days": 365,
                    "contact_interval_days": 14, "first_meeting_within_days": 14,
                    "mentor_kinds": [*MentorKind], "require_trained_mentor": True}),
    _ProgrammeSpec("PT", "Portuguese prison-staff mentoring pilot", 0.25, 1, 21, 200, 500,
                   ("youth", "youth", "adult"),
                   {"min_duration_days": 120, "max_duration_days": 240,
                    "contact_interval_days": 10, "first_meeting_within_days": 7}),
    _ProgrammeSpec("RO", "Romanian prison-staff mentoring pilot", 0.25, 2, 10, 270, 545,
                   ("adult", "mixed", "youth", "mixed", "adult"),
                   {"mentor_kinds": [MentorKind.PEER], "require_trained_mentor": False,
                    "contact_interval_days": 21}),
    _ProgrammeSpec("GR", "Greek prison-staff mentoring pilot", 0.20, 3, 18, 180, 480,
                   ("adult", "mixed", "youth"), None),
)
