"""The command format of CONTRACT §2 as pydantic models.

One model per command ``type``; unknown fields are an error at every level. The same
models generate the JSON Schema that front ends validate against (``lifecycle schema``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, ClassVar, Final, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from lifecycle.domain.correction import fact_value
from lifecycle.domain.errors import InvalidCommand
from lifecycle.domain.vocabulary import (
    CloseReason,
    Code,
    ContactMode,
    ContractId,
    CorrectableFact,
    CountryCode,
    DepartureReason,
    DeregistrationReason,
    Function,
    InitiatedBy,
    MentorKind,
    Module,
    NewcomerKind,
    NonNegativeInt,
    Phase,
    Policy,
    Respondent,
    RetractReason,
    Scores,
    Setting,
    ShiftCode,
    Text,
)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_iso_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be a date written exactly YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a valid calendar date") from None


IsoDate = Annotated[
    date,
    BeforeValidator(_parse_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": _ISO_DATE.pattern}),
]


class Command(BaseModel):
    """Fields every command has."""

    # Strictness is per field (StrictInt, StrictBool, strict ids and text), so that a
    # front end may build commands from plain strings and lists in Python too.
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    occurred_on: IsoDate
    command_id: ContractId | None = None

    TYPE: ClassVar[str] = ""


class OpenProgramme(Command):
    type: Literal["open_programme"] = "open_programme"
    programme_id: ContractId
    name: Text
    country: CountryCode
    policy: Policy = Policy()


class RegisterSite(Command):
    type: Literal["register_site"] = "register_site"
    site_id: ContractId
    programme_id: ContractId
    name: Text
    setting: Setting


class RegisterMentor(Command):
    type: Literal["register_mentor"] = "register_mentor"
    mentor_id: ContractId
    programme_id: ContractId
    site_id: ContractId
    department: Code
    shifts: tuple[ShiftCode, ...]
    years_experience: NonNegativeInt


class RecordTraining(Command):
    type: Literal["record_training"] = "record_training"
    mentor_id: ContractId
    module: Module


class Recruit(Command):
    type: Literal["recruit"] = "recruit"
    duo_id: ContractId
    programme_id: ContractId
    site_id: ContractId
    mentee_id: ContractId
    newcomer_kind: NewcomerKind
    department: Code
    shifts: tuple[ShiftCode, ...]
    predecessor_duo_id: ContractId | None = None


class Select(Command):
    type: Literal["select"] = "select"
    duo_id: ContractId
    consent: StrictBool = Field(description="participation is voluntary: must be true")

    @field_validator("consent")
    @classmethod
    def _consent_given(cls, value: bool) -> bool:
        if value is not True:
            raise ValueError("consent must be true: participation is voluntary")
        return value


class Match(Command):
    type: Literal["match"] = "match"
    duo_id: ContractId
    mentor_id: ContractId
    mentor_kind: MentorKind


class Activate(Command):
    type: Literal["activate"] = "activate"
    duo_id: ContractId


class LogContact(Command):
    type: Literal["log_contact"] = "log_contact"
    duo_id: ContractId
    contact_id: ContractId
    minutes: StrictInt = Field(ge=1, le=1440)
    mode: ContactMode
    functions: tuple[Function, ...] = Field(min_length=1)

    @field_validator("functions")
    @classmethod
    def _no_repeats(cls, value: tuple[Function, ...]) -> tuple[Function, ...]:
        if len(set(value)) != len(value):
            raise ValueError("functions must not repeat")
        return value


class RetractContact(Command):
    type: Literal["retract_contact"] = "retract_contact"
    duo_id: ContractId
    contact_id: ContractId
    reason: RetractReason


class Review(Command):
    type: Literal["review"] = "review"
    duo_id: ContractId
    health: StrictInt = Field(ge=1, le=5)


class RecordSurvey(Command):
    type: Literal["record_survey"] = "record_survey"
    duo_id: ContractId
    respondent: Respondent
    phase: Phase
    scores: Scores


class Close(Command):
    type: Literal["close"] = "close"
    duo_id: ContractId
    reason: CloseReason
    initiated_by: InitiatedBy | None = None
    exit_interview: StrictBool = False


class DeregisterMentor(Command):
    type: Literal["deregister_mentor"] = "deregister_mentor"
    mentor_id: ContractId
    reason: DeregistrationReason


_DATE_FACTS: Final = [f.value for f in CorrectableFact if f.is_date]
_VALUE_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "description": "an ISO date for the *_on facts, a close reason for close_reason",
    "anyOf": [{"format": "date", "pattern": _ISO_DATE.pattern},
              {"enum": [r.value for r in CloseReason]}],
}
_CORRECT_SCHEMA: Final[dict[str, Any]] = {"allOf": [{
    "if": {"properties": {"fact": {"const": CorrectableFact.CLOSE_REASON.value}}},
    "then": {"properties": {"value": {"enum": [r.value for r in CloseReason]}}},
    "else": {"properties": {"value": {"format": "date", "pattern": _ISO_DATE.pattern}}},
}]}


class Correct(Command):
    """Replace a mistaken lifecycle fact of a duo (rule 15)."""

    model_config = ConfigDict(json_schema_extra=_CORRECT_SCHEMA)

    type: Literal["correct"] = "correct"
    duo_id: ContractId
    fact: CorrectableFact
    value: Annotated[str, Field(strict=True), WithJsonSchema(_VALUE_SCHEMA)]

    @field_validator("value")
    @classmethod
    def _a_value_of_the_fact(cls, value: str, info: ValidationInfo) -> str:
        fact = info.data.get("fact")
        if isinstance(fact, CorrectableFact):
            try:
                fact_value(fact, value)
            except ValueError:
                kind = ("a date written exactly YYYY-MM-DD" if fact.is_date
                        else "a close reason")
                raise ValueError(f"for fact '{fact.value}' the value must be {kind}, "
                                 f"not {value!r}") from None
        return value

    @property
    def corrected_value(self) -> date | CloseReason:
        """``value`` as the fact's type (a date, or a close reason)."""
        return fact_value(self.fact, self.value)


class RecordDeparture(Command):
    type: Literal["record_departure"] = "record_departure"
    duo_id: ContractId
    reason: DepartureReason


class Forget(Command):
    """Erase one person's personal data (erasure, rule 16)."""

    type: Literal["forget"] = "forget"
    person_id: ContractId = Field(description="a mentee_id or mentor_id used in the store")


COMMANDS: dict[str, type[Command]] = {
    model.model_fields["type"].default: model
    for model in (OpenProgramme, RegisterSite, RegisterMentor, RecordTraining, Recruit,
                  Select, Match, Activate, LogContact, RetractContact, Review, RecordSurvey,
                  Close, DeregisterMentor, Correct, RecordDeparture, Forget)
}
"""Every command model by its ``type``."""

AnyCommand = Annotated[
    OpenProgramme | RegisterSite | RegisterMentor | RecordTraining | Recruit | Select | Match
    | Activate | LogContact | RetractContact | Review | RecordSurvey | Close
    | DeregisterMentor | Correct | RecordDeparture | Forget,
    Field(discriminator="type"),
]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one command line (a ``oneOf`` over every command type)."""
    schema = TypeAdapter(AnyCommand).json_schema(mode="validation")
    schema["title"] = "lifecycle command (one JSON object per line)"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _describe(error: Any) -> tuple[str, str]:
    loc = ".".join(str(part) for part in error.get("loc", ()))
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return loc, "unknown field"
    if kind == "missing":
        return loc, "field required"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return loc, message


def parse_command(raw: Any, line: str | bytes | None = None) -> Command:
    """Validate one decoded JSON value as a command.

    Args:
        raw: the decoded JSON object.
        line: the JSON text it was decoded from, when at hand (validated directly,
            which is faster than re-encoding ``raw``).

    Raises:
        InvalidCommand: naming the field at fault (rule 1).
    """
    if not isinstance(raw, dict):
        raise InvalidCommand("a command must be a JSON object", field=None)
    kind = raw.get("type")
    if "type" not in raw:
        raise InvalidCommand("field required", field="type")
    model = COMMANDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(COMMANDS)
        raise InvalidCommand(f"unknown command type {kind!r} (known: {known})", field="type")
    try:
        # JSON mode: strings become enums and dates, arrays tuples, and strict
        # integers still refuse 30.0, true and "30".
        return model.model_validate_json(line if line is not None else orjson.dumps(raw))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        field, message = _describe(errors[0]) if errors else (None, str(exc))
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise InvalidCommand(f"{message}{more}", field=field or None) from None


_OWN_FIELDS: dict[type[Command], tuple[str, ...]] = {
    model: tuple(k for k in model.model_fields if k not in ("type", "occurred_on", "command_id"))
    for model in COMMANDS.values()
}


def command_fields(command: Command) -> dict[str, Any]:
    """The command's own fields (not ``type``, ``occurred_on``, ``command_id``)."""
    return {k: getattr(command, k) for k in _OWN_FIELDS[type(command)]}
