"""The contract's value sets and value objects (CONTRACT §1–§2)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    model_serializer,
    model_validator,
)

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"

ContractId = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64,
                                  strict=True)]
"""An opaque pseudonymous identifier: 1–64 characters of ``[A-Za-z0-9._:-]``."""

CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", strict=True)]
Code = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=64, strict=True)]
"""A code naming a unit or a shift pattern (``department``, shift codes; CONTRACT §1 v2):
of the same form as an identifier, never free text."""
ShiftCode = Code
Text = Annotated[str, Field(min_length=1, max_length=200, strict=True)]
"""Short organisational text (a programme or site name): never about a person.

Events keep reading a ``department`` as ``Text``: stores written before departments
became codes hold free text there, and must keep loading (the commands take a
:data:`Code`)."""


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


class CorrectableFact(StrEnum):
    """The lifecycle facts of a duo that ``correct`` may replace (rule 15)."""

    RECRUITED_ON = "recruited_on"
    SELECTED_ON = "selected_on"
    MATCHED_ON = "matched_on"
    ACTIVATED_ON = "activated_on"
    CLOSED_ON = "closed_on"
    CLOSE_REASON = "close_reason"

    @property
    def is_date(self) -> bool:
        """Whether the fact is a date (every fact but ``close_reason``)."""
        return self is not CorrectableFact.CLOSE_REASON


LIFECYCLE_DATES: tuple[CorrectableFact, ...] = tuple(f for f in CorrectableFact if f.is_date)
"""The lifecycle dates in their order along the lifecycle."""


class DepartureReason(StrEnum):
    """Why a mentee left the prison service (``record_departure``)."""

    RESIGNED = "resigned"
    DISMISSED = "dismissed"
    RETIRED = "retired"
    OTHER = "other"


class DeregistrationReason(StrEnum):
    """Why a mentor left the pool (``deregister_mentor``)."""

    LEFT_SERVICE = "left_service"
    WITHDREW = "withdrew"
    OTHER = "other"


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
    """A programme's policy; every key optional, with the defaults of docs/interface.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_duration_days: PositiveInt = 182
    max_duration_days: PositiveInt = 365
    contact_interval_days: PositiveInt = 14
    first_meeting_within_days: PositiveInt = 14
    mentor_kinds: tuple[MentorKind, ...] = Field(
        default=(MentorKind.PEER, MentorKind.SUPERVISOR), min_length=1
    )
    require_trained_mentor: StrictBool = True
    reviews_first_interval: PositiveInt = 2
    """Reviews the first window of the monitoring schedule requires (CONTRACT §4 v2)."""
    review_interval_days: PositiveInt = 30
    """Length of each window of the monitoring schedule."""
    max_duos_per_mentor: PositiveInt = 3
    """Open duos a mentor takes before ``suggest`` lists the mentor after all others."""

    @model_validator(mode="after")
    def _durations_ordered(self) -> Self:
        if self.min_duration_days > self.max_duration_days:
            raise ValueError("min_duration_days must not exceed max_duration_days")
        return self

    @model_serializer(mode="wrap")
    def _v2_keys_only_when_set(self, handler: SerializerFunctionWrapHandler,
                               info: SerializationInfo) -> dict[str, Any]:
        """Leave the v2 keys out while they hold their defaults.

        A programme's policy is stored inside its ``Opened`` event, and stored bytes are
        a format (the audit chain hashes them): an event written before these keys
        existed must serialise again to the very same bytes. Reading fills the defaults
        back in, so nothing is lost.
        """
        dumped: dict[str, Any] = handler(self)
        for key in V2_POLICY_KEYS:
            if dumped.get(key) == _V2_DEFAULTS[key]:
                del dumped[key]
        return dumped


V2_POLICY_KEYS: tuple[str, ...] = ("reviews_first_interval", "review_interval_days",
                                   "max_duos_per_mentor")
_V2_DEFAULTS: dict[str, Any] = {
    key: Policy.model_fields[key].default for key in V2_POLICY_KEYS}


Score = Annotated[StrictInt, Field(ge=1, le=5)]


class Scores(BaseModel):
    """One survey answer set: exactly four scores, each 1–5."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wellbeing: Score
    stress: Score
    integration: Score
    confidence: Score
