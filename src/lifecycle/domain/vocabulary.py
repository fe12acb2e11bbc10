"""The contract's value sets and value objects (CONTRACT §1–§2)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"

ContractId = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64,
                                  strict=True)]
"""An opaque pseudonymous identifier: 1–64 characters of ``[A-Za-z0-9._:-]``."""

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", strict=True)]
ShiftCode = Annotated[str, Field(pattern=ID_PATTERN, strict=True)]
Text = Annotated[str, Field(min_length=1, max_length=200, strict=True)]
"""Short organisational text (programme or site name, department): never about a person."""


class Setting(StrEnum):
    ADULT = "adult"
    YOUTH = "youth"
    MIXED = "mixed"


class Module(StrEnum):
    INTRODUCTION = "introduction"
    COMMUNICATION = "communication"
    INTERPERSONAL = "interpersonal"
    PEDAGOGICAL = "pedagogical"
    ORGANISATIONAL = "organisational"


class NewcomerKind(StrEnum):
    NEW_TO_PROFESSION = "new_to_profession"
    TRANSFERRED = "transferred"
    NEW_SETTING = "new_setting"


class MentorKind(StrEnum):
    PEER = "peer"
    SUPERVISOR = "supervisor"


class ContactMode(StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    VIDEO = "video"
    MESSAGE = "message"
    ON_SHIFT = "on_shift"


class Function(StrEnum):
    PSYCHOSOCIAL = "psychosocial"
    CAREER = "career"


class RetractReason(StrEnum):
    DUPLICATE = "duplicate"
    WRONG_DUO = "wrong_duo"
    DID_NOT_HAPPEN = "did_not_happen"


class Respondent(StrEnum):
    MENTEE = "mentee"
    MENTOR = "mentor"


class Phase(StrEnum):
    PRE = "pre"
    POST = "post"


class CloseReason(StrEnum):
    COMPLETED = "completed"
    PROGRAMME_ENDED = "programme_ended"
    REMATCHED = "rematched"
    MENTEE_WITHDREW = "mentee_withdrew"
    MENTOR_WITHDREW = "mentor_withdrew"
    MENTEE_LEFT_SERVICE = "mentee_left_service"
    MENTOR_LEFT_SERVICE = "mentor_left_service"
    MISMATCH = "mismatch"
    NO_MENTOR_AVAILABLE = "no_mentor_available"
    OTHER = "other"

    @property
    def is_dropout(self) -> bool:
        """Dropout reasons are all but completed, programme_ended and rematched."""
        return self not in NON_DROPOUT_REASONS


NON_DROPOUT_REASONS = frozenset(
    {CloseReason.COMPLETED, CloseReason.PROGRAMME_ENDED, CloseReason.REMATCHED}
)
DROPOUT_REASONS = tuple(r for r in CloseReason if r not in NON_DROPOUT_REASONS)


class InitiatedBy(StrEnum):
    MENTEE = "mentee"
    MENTOR = "mentor"
    COORDINATOR = "coordinator"
    ORGANISATION = "organisation"


INT64_MAX = 2**63 - 1
"""The largest integer the stores can hold: a larger one breaks rule 1."""

PositiveInt = Annotated[StrictInt, Field(ge=1, le=INT64_MAX)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]


class Policy(BaseModel):
    """A programme's policy; every key optional, defaults per CONTRACT §2."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_duration_days: PositiveInt = 182
    max_duration_days: PositiveInt = 365
    contact_interval_days: PositiveInt = 14
    first_meeting_within_days: PositiveInt = 14
    mentor_kinds: tuple[MentorKind, ...] = Field(
        default=(MentorKind.PEER, MentorKind.SUPERVISOR), min_length=1
    )
    require_trained_mentor: StrictBool = True

    @model_validator(mode="after")
    def _durations_ordered(self) -> Self:
        if self.min_duration_days > self.max_duration_days:
            raise ValueError("min_duration_days must not exceed max_duration_days")
        return self


Score = Annotated[StrictInt, Field(ge=1, le=5)]


class Scores(BaseModel):
    """One survey answer set: exactly four scores, each 1–5."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wellbeing: Score
    stress: Score
    integration: Score
    confidence: Score
