"""The shape of the 2025 M4Pris pilot that the simulator reproduces: programmes,
rates of each fate, and the bags of values drawn for commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

Command = dict[str, Any]

# Within one day, set-up comes before mentors and mentors before duos, so a match may
# use a mentor registered or trained that same day.
_PRIO_SETUP: Final = 0
_PRIO_MENTOR: Final = 1
_PRIO_DUO: Final = 2

MODULES: Final = ("introduction", "communication", "interpersonal", "pedagogical",
                  "organisational")
_DEPARTMENTS: Final = ("wing-A", "wing-B", "wing-C", "reception", "security", "workshop",
                       "healthcare", "education")
_SHIFT_BAG: Final[tuple[tuple[str, ...], ...]] = (
    ("early",), ("early",), ("late",), ("late",), ("night",), ("early", "late"),
    ("early", "late"), ("late", "night"), ("early", "night"), ("early", "late", "night"),
    ("day",), (),
)
_MODE_BAG: Final = ("in_person",) * 8 + ("phone",) * 4 + ("on_shift",) * 3 + (
    "message",) * 3 + ("video",) * 2
_MINUTES: Final = {"in_person": (30, 120), "phone": (10, 45), "on_shift": (10, 60),
                   "message": (10, 20), "video": (20, 60)}
_FUNCTION_BAG: Final[tuple[tuple[str, ...], ...]] = (
    (("psychosocial",),) * 5 + (("career",),) * 2 + (("psychosocial", "career"),) * 3
    + (("career", "psychosocial"),))
_NEWCOMER_BAG: Final = ("new_to_profession",) * 6 + ("transferred",) * 2 + ("new_setting",) * 2

_STAGES: Final = ("recruit", "select", "match", "activate", "close")
_RECRUIT, _SELECT, _MATCH, _ACTIVATE, _CLOSE = range(5)

_DROPOUT_REASONS_BY_STAGE: Final = {
    "recruited": ("mentee_withdrew",) * 5 + ("mentee_left_service",) * 3 + ("other",) * 2,
    "selected": ("mentee_withdrew",) * 4 + ("mentee_left_service",) * 3
    + ("no_mentor_available",) * 2 + ("other",),
    "matched": ("mismatch",) * 4 + ("mentee_withdrew",) * 2 + ("mentor_withdrew",) * 2
    + ("mentor_left_service", "mentee_left_service", "other"),
    "active": ("mentee_withdrew",) * 5 + ("mentor_withdrew",) * 3
    + ("mentee_left_service",) * 4 + ("mentor_left_service",) * 3 + ("mismatch",) * 3
    + ("other",),
}
_INITIATORS: Final = {
    "completed": ("coordinator",),
    "programme_ended": ("organisation",),
    "rematched": ("coordinator",),
    "mentee_withdrew": ("mentee",),
    "mentor_withdrew": ("mentor",),
    "mentee_left_service": ("organisation", "mentee"),
    "mentor_left_service": ("organisation", "mentor"),
    "mismatch": ("coordinator", "mentee", "mentor"),
    "no_mentor_available": ("coordinator",),
    "other": ("mentee", "mentor", "coordinator", "organisation"),
}
NON_DROPOUT_REASONS: Final = frozenset({"completed", "programme_ended", "rematched"})

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
                    "mentor_kinds": ["peer", "supervisor"], "require_trained_mentor": True}),
    _ProgrammeSpec("PT", "Portuguese prison-staff mentoring pilot", 0.25, 1, 21, 200, 500,
                   ("youth", "youth", "adult"),
                   {"min_duration_days": 120, "max_duration_days": 240,
                    "contact_interval_days": 10, "first_meeting_within_days": 7}),
    _ProgrammeSpec("RO", "Romanian prison-staff mentoring pilot", 0.25, 2, 10, 270, 545,
                   ("adult", "mixed", "youth", "mixed", "adult"),
                   {"mentor_kinds": ["peer"], "require_trained_mentor": False,
                    "contact_interval_days": 21}),
    _ProgrammeSpec("GR", "Greek prison-staff mentoring pilot", 0.20, 3, 18, 180, 480,
                   ("adult", "mixed", "youth"), None),
)
