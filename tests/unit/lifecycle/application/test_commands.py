"""The command format (``lifecycle.application.commands``): rule 1 of CONTRACT §2 — every
field present with the right type and value set, nothing unknown at any level — and the
JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from lifecycle.application import commands
from lifecycle.application.commands import COMMANDS, command_fields, json_schema, parse_command
from lifecycle.domain.errors import InvalidCommand

Build = Callable[..., dict[str, Any]]

TYPES = sorted(COMMANDS)
REQUIRED = {
    "open_programme": ["programme_id", "name", "country"],
    "register_site": ["site_id", "programme_id", "name", "setting"],
    "register_mentor": ["mentor_id", "programme_id", "site_id", "department", "shifts",
                        "years_experience"],
    "record_training": ["mentor_id", "module"],
    "recruit": ["duo_id", "programme_id", "site_id", "mentee_id", "newcomer_kind",
                "department", "shifts"],
    "select": ["duo_id", "consent"],
    "match": ["duo_id", "mentor_id", "mentor_kind"],
    "activate": ["duo_id"],
    "log_contact": ["duo_id", "contact_id", "minutes", "mode", "functions"],
    "retract_contact": ["duo_id", "contact_id", "reason"],
    "review": ["duo_id", "health"],
    "record_survey": ["duo_id", "respondent", "phase", "scores"],
    "close": ["duo_id", "reason"],
    "deregister_mentor": ["mentor_id", "reason"],
    "correct": ["duo_id", "fact", "value"],
    "record_departure": ["duo_id", "reason"],
    "forget": ["person_id"],
}
"""The fields each command must have besides ``type`` and ``occurred_on`` (CONTRACT §2)."""

ID_FIELDS = sorted({(t, f) for t, fs in REQUIRED.items() for f in fs if f.endswith("_id")})


def rejects(raw: Any, field: str | None) -> InvalidCommand:
    """``raw`` breaks rule 1 and the error names ``field`` (or an item of it,
    ``functions.0``)."""
    with pytest.raises(InvalidCommand) as raised:
        parse_command(raw, json.dumps(raw) if isinstance(raw, dict) else None)
    named = raised.value.field
    assert raised.value.rule == 1
    assert named == field or (field and (named or "").startswith(f"{field}.")), str(
        raised.value)
    return raised.value


def test_the_contract_lists_seventeen_command_types_of_the_engine() -> None:
    """Thirteen of v1, and v2's deregister_mentor, correct, record_departure and
    forget."""
    assert set(COMMANDS) == set(REQUIRED)


@pytest.mark.parametrize("kind", TYPES)
def test_a_valid_command_of_every_type_parses(cmd: Build, kind: str) -> None:
    parsed = parse_command(cmd(kind, "2025-01-02", command_id="c-1"))
    assert isinstance(parsed, COMMANDS[kind])
    assert (parsed.type, parsed.occurred_on, parsed.command_id) == (
        kind, date(2025, 1, 2), "c-1")


@pytest.mark.parametrize("kind", TYPES)
def test_command_id_is_optional(cmd: Build, kind: str) -> None:
    assert parse_command(cmd(kind, "2025-01-02")).command_id is None


@pytest.mark.parametrize("kind", TYPES)
def test_an_unknown_top_level_field_is_refused_for_every_type(cmd: Build, kind: str) -> None:
    error = rejects(cmd(kind, "2025-01-02", coment="typo"), "coment")
    assert "unknown field" in str(error)


@pytest.mark.parametrize(("kind", "field"), [
    (kind, field) for kind in TYPES for field in ["occurred_on", *REQUIRED[kind]]])
def test_every_required_field_is_required(cmd: Build, kind: str, field: str) -> None:
    raw = cmd(kind, "2025-01-02")
    del raw[field]
    assert "field required" in str(rejects(raw, field))


def test_an_unknown_policy_key_is_refused(cmd: Build) -> None:
    rejects(cmd("open_programme", "2025-01-02", policy={"min_duration_day": 100}),
            "policy.min_duration_day")


def test_an_unknown_score_is_refused(cmd: Build) -> None:
    scores = {"wellbeing": 3, "stress": 3, "integration": 3, "confidence": 3, "mood": 3}
    rejects(cmd("record_survey", "2025-01-02", scores=scores), "scores.mood")


# ---------------------------------------------------------------------- ints
INT_FIELDS = [
    ("register_mentor", ("years_experience",)),
    ("log_contact", ("minutes",)),
    ("review", ("health",)),
    ("record_survey", ("scores", "stress")),
    ("open_programme", ("policy", "contact_interval_days")),
    ("open_programme", ("policy", "min_duration_days")),
    ("open_programme", ("policy", "max_duration_days")),
    ("open_programme", ("policy", "first_meeting_within_days")),
]


def _with(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``raw`` with the (possibly nested) field at ``path`` set to ``value``."""
    if len(path) == 1:
        return {**raw, path[0]: value}
    inner = dict(raw.get(path[0]) or {})
    return {**raw, path[0]: _with(inner, path[1:], value)}


@pytest.mark.parametrize("value", [True, 30.0, "30", None, [30]], ids=repr)
@pytest.mark.parametrize(("kind", "path"), INT_FIELDS, ids=lambda p: ".".join(p)
                         if isinstance(p, tuple) else p)
def test_an_int_field_accepts_json_integers_only(
        cmd: Build, kind: str, path: tuple[str, ...], value: Any) -> None:
    raw = _with(cmd(kind, "2025-01-02"), path, value)
    rejects(raw, ".".join(path))


@pytest.mark.parametrize(("kind", "field", "bad", "good"), [
    ("log_contact", "minutes", [0, 1441, -5], [1, 1440]),
    ("review", "health", [0, 6], [1, 5]),
    ("register_mentor", "years_experience", [-1], [0, 45]),
])
def test_int_fields_keep_to_their_ranges(cmd: Build, kind: str, field: str,
                                         bad: list[int], good: list[int]) -> None:
    for value in bad:
        rejects(cmd(kind, "2025-01-02", **{field: value}), field)
    for value in good:
        assert getattr(parse_command(cmd(kind, "2025-01-02", **{field: value})),
                       field) == value


@pytest.mark.parametrize("field", ["min_duration_days", "max_duration_days",
                                   "contact_interval_days", "first_meeting_within_days"])
def test_policy_ints_are_at_least_one(cmd: Build, field: str) -> None:
    rejects(cmd("open_programme", "2025-01-02", policy={field: 0}), f"policy.{field}")


@pytest.mark.parametrize("score", ["wellbeing", "stress", "integration", "confidence"])
@pytest.mark.parametrize("value", [0, 6])
def test_each_score_is_from_1_to_5(cmd: Build, score: str, value: int) -> None:
    scores = {"wellbeing": 3, "stress": 3, "integration": 3, "confidence": 3, score: value}
    rejects(cmd("record_survey", "2025-01-02", scores=scores), f"scores.{score}")


# ---------------------------------------------------------------------- dates
@pytest.mark.parametrize("value", [
    "2025-1-02", "2025-01-2", "2025/01/02", "02-01-2025", "20250102", "2025-01-02T00:00:00",
    "2025-01-02 ", " 2025-01-02", "2025-01-02\n", "2025-02-29", "2025-13-01", "2025-00-10",
    "", 20250102, None, "+2025-01-02", "٢٠٢٥-٠١-٠٢",
], ids=lambda value: ascii(value).replace("\\", "/"))  # see BAD_ID_NAMES
def test_occurred_on_must_be_a_real_date_written_exactly_yyyy_mm_dd(
        cmd: Build, value: Any) -> None:
    rejects(cmd("activate", value), "occurred_on")


def test_a_leap_day_is_a_date(cmd: Build) -> None:
    assert parse_command(cmd("activate", "2024-02-29")).occurred_on == date(2024, 2, 29)


# ---------------------------------------------------------------------- functions
@pytest.mark.parametrize("functions", [
    [], ["psychosocial", "psychosocial"], ["career", "career", "psychosocial"],
    ["mentoring"], "career", None, ["career", None]], ids=repr)
def test_functions_is_a_non_empty_subset_without_repeats(cmd: Build, functions: Any) -> None:
    rejects(cmd("log_contact", "2025-01-02", functions=functions), "functions")


@pytest.mark.parametrize("functions", [["career"], ["psychosocial"],
                                       ["career", "psychosocial"]])
def test_functions_accepts_every_non_empty_subset(cmd: Build, functions: list[str]) -> None:
    parsed = parse_command(cmd("log_contact", "2025-01-02", functions=functions))
    assert [f.value for f in parsed.functions] == functions


# ---------------------------------------------------------------------- ids
BAD_IDS = ["", "x" * 65, "a b", "a/b", "é", "dk\nduo", "a,b", "duo#1", 7, None, ["D-1"]]
# Test ids of plain ASCII without backslashes: pytest, run in process with node ids as
# arguments (as mutmut runs the tests), does not find `'\xe9'` or `'dk\\nduo'`.
BAD_ID_NAMES = ["empty", "65-characters", "space", "slash", "non-ascii", "newline", "comma",
                "hash", "number", "null", "list"]


@pytest.mark.parametrize("value", BAD_IDS, ids=BAD_ID_NAMES)
@pytest.mark.parametrize(("kind", "field"), ID_FIELDS, ids=str)
def test_ids_are_1_to_64_characters_of_the_id_alphabet(
        cmd: Build, kind: str, field: str, value: Any) -> None:
    rejects(cmd(kind, "2025-01-02", **{field: value}), field)


@pytest.mark.parametrize("value", BAD_IDS[:-2], ids=BAD_ID_NAMES[:-2])
def test_command_id_and_predecessor_duo_id_are_ids_too(cmd: Build, value: Any) -> None:
    rejects(cmd("activate", "2025-01-02", command_id=value), "command_id")
    rejects(cmd("recruit", "2025-01-02", predecessor_duo_id=value), "predecessor_duo_id")


@pytest.mark.parametrize("value", ["x" * 64, "A", "dk.site-01:mentor_03", "-._:"])
def test_ids_of_the_id_alphabet_are_accepted(cmd: Build, value: str) -> None:
    parsed = parse_command(cmd("match", "2025-01-02", command_id=value, duo_id=value,
                               mentor_id=value))
    assert parsed.command_id == parsed.duo_id == value


# ---------------------------------------------------------------------- value sets
@pytest.mark.parametrize(("kind", "field", "value"), [
    ("open_programme", "country", "dk"),
    ("open_programme", "country", "DNK"),
    ("open_programme", "country", "D"),
    ("open_programme", "name", ""),
    ("open_programme", "name", "x" * 201),
    ("register_site", "setting", "prison"),
    ("register_mentor", "shifts", "early"),
    ("register_mentor", "shifts", [""]),
    ("register_mentor", "department", ""),
    ("register_mentor", "department", "Wing A"),
    ("register_mentor", "department", "x" * 65),
    ("register_mentor", "shifts", ["night shift"]),
    ("register_site", "name", "x" * 201),
    ("recruit", "department", "Mrs Smith's wing"),
    ("recruit", "shifts", ["early", "late/night"]),
    ("deregister_mentor", "reason", "fired"),
    ("correct", "fact", "state"),
    ("correct", "fact", "contacts"),
    ("correct", "value", "2025-2-5"),
    ("correct", "value", "completed"),
    ("correct", "value", 20250205),
    ("correct", "value", None),
    ("record_departure", "reason", "left"),
    ("record_departure", "reason", "completed"),
    ("record_training", "module", "career"),
    ("recruit", "newcomer_kind", "new"),
    ("recruit", "shifts", None),
    ("match", "mentor_kind", "buddy"),
    ("log_contact", "mode", "email"),
    ("retract_contact", "reason", "typo"),
    ("record_survey", "respondent", "coordinator"),
    ("record_survey", "phase", "mid"),
    ("record_survey", "scores", [3, 3, 3, 3]),
    ("close", "reason", "finished"),
    ("close", "reason", None),
    ("close", "initiated_by", "director"),
    ("close", "exit_interview", "yes"),
    ("close", "exit_interview", 1),
    ("select", "consent", False),
    ("select", "consent", "true"),
    ("select", "consent", 1),
    ("select", "consent", 1.0),
    ("select", "consent", None),
], ids=lambda v: repr(v) if not isinstance(v, str) or len(v) > 20 else v)
def test_values_outside_the_value_set_are_refused(
        cmd: Build, kind: str, field: str, value: Any) -> None:
    rejects(cmd(kind, "2025-01-02", **{field: value}), field)


@pytest.mark.parametrize("policy", [
    {"min_duration_days": 400},
    {"max_duration_days": 100},
    {"min_duration_days": 200, "max_duration_days": 199},
])
def test_policy_minimum_above_maximum_is_refused(cmd: Build, policy: dict[str, Any]) -> None:
    error = rejects(cmd("open_programme", "2025-01-02", policy=policy), "policy")
    assert "min_duration_days" in str(error)


@pytest.mark.parametrize(("policy", "field"), [
    ({"mentor_kinds": []}, "policy.mentor_kinds"),
    ({"mentor_kinds": ["peer", "boss"]}, "policy.mentor_kinds.1"),
    ({"require_trained_mentor": "false"}, "policy.require_trained_mentor"),
    ({"require_trained_mentor": 0}, "policy.require_trained_mentor"),
])
def test_policy_lists_and_flags_are_checked(cmd: Build, policy: dict[str, Any],
                                            field: str) -> None:
    rejects(cmd("open_programme", "2025-01-02", policy=policy), field)


def test_policy_may_be_partial_and_gets_the_defaults(cmd: Build) -> None:
    parsed = parse_command(cmd("open_programme", "2025-01-02",
                               policy={"mentor_kinds": ["peer"], "max_duration_days": 200}))
    assert parsed.policy.model_dump(mode="json") == {
        "min_duration_days": 182, "max_duration_days": 200, "contact_interval_days": 14,
        "first_meeting_within_days": 14, "mentor_kinds": ["peer"],
        "require_trained_mentor": True}


def test_optional_fields_have_their_contract_defaults(cmd: Build) -> None:
    close = parse_command(cmd("close", "2025-01-02"))
    assert (close.initiated_by, close.exit_interview) == (None, False)
    assert parse_command(cmd("recruit", "2025-01-02")).predecessor_duo_id is None
    assert parse_command(cmd("register_mentor", "2025-01-02", shifts=[])).shifts == ()


# ---------------------------------------------------------------------- type and shape
@pytest.mark.parametrize("kind", ["open-programme", "Select", "", 5, None, ["select"]],
                         ids=repr)
def test_an_unknown_type_is_refused(cmd: Build, kind: Any) -> None:
    raw = cmd("select", "2025-01-02")
    raw["type"] = kind
    rejects(raw, "type")


def test_a_missing_type_is_refused(cmd: Build) -> None:
    raw = cmd("select", "2025-01-02")
    del raw["type"]
    rejects(raw, "type")


@pytest.mark.parametrize("raw", [[], ["select"], "select", 5, None, True], ids=repr)
def test_a_command_must_be_a_json_object(raw: Any) -> None:
    rejects(raw, None)


def test_several_problems_are_reported_with_the_first_field_named(cmd: Build) -> None:
    raw = cmd("log_contact", "2025-01-02", minutes="30", mode="smoke")
    error = rejects(raw, "minutes")
    assert "more problem" in str(error)


def test_command_fields_are_the_fields_other_than_type_date_and_id(cmd: Build) -> None:
    parsed = parse_command(cmd("close", "2025-01-02", command_id="c-1"))
    assert set(command_fields(parsed)) == {"duo_id", "reason", "initiated_by",
                                           "exit_interview"}


# ---------------------------------------------------------------------- JSON Schema
def test_json_schema_describes_one_line_as_one_of_the_commands() -> None:
    schema = json_schema()
    json.dumps(schema)  # serialisable as it stands
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    refs = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]}
    assert len(refs) == len(COMMANDS)
    assert set(schema["discriminator"]["mapping"]) == set(COMMANDS)
    for name in refs:
        definition = schema["$defs"][name]
        assert definition["additionalProperties"] is False
        kind = definition["properties"]["type"]["const"]
        assert set(definition["required"]) >= {"type", "occurred_on", *REQUIRED[kind]} - {
            "type"}


def test_json_schema_forbids_unknown_keys_in_nested_objects() -> None:
    defs = json_schema()["$defs"]
    assert defs["Policy"]["additionalProperties"] is False
    assert defs["Scores"]["additionalProperties"] is False


def test_json_schema_gives_the_date_pattern() -> None:
    occurred_on = json_schema()["$defs"]["Activate"]["properties"]["occurred_on"]
    assert occurred_on["format"] == "date"
    assert occurred_on["pattern"] == commands._ISO_DATE.pattern


# ---------------------------------------------------------------------- v2 commands
@pytest.mark.parametrize(("fact", "value"), [
    ("recruited_on", "2025-02-01"), ("closed_on", "2024-02-29"),
    ("close_reason", "completed"), ("close_reason", "mentee_left_service")])
def test_a_correction_takes_a_date_or_a_close_reason_as_its_fact_wants(
        cmd: Build, fact: str, value: str) -> None:
    parsed = parse_command(cmd("correct", "2025-03-01", fact=fact, value=value))
    assert isinstance(parsed, commands.Correct)
    assert str(parsed.corrected_value) == value


@pytest.mark.parametrize(("fact", "value"), [
    ("close_reason", "2025-02-01"), ("selected_on", "other"), ("closed_on", "2025-02-30")])
def test_a_correction_value_of_another_facts_kind_breaks_rule_1_on_value(
        cmd: Build, fact: str, value: str) -> None:
    rejects(cmd("correct", "2025-03-01", fact=fact, value=value), "value")


@pytest.mark.parametrize("department", ["wing-A", "B2", "reception.night", "x" * 64])
def test_a_department_is_a_code_of_the_identifier_form(cmd: Build, department: str) -> None:
    parsed = parse_command(cmd("recruit", "2025-01-02", department=department))
    assert isinstance(parsed, commands.Recruit) and parsed.department == department


def test_a_name_may_be_free_text_of_up_to_200_characters(cmd: Build) -> None:
    parsed = parse_command(cmd("register_site", "2025-01-02", name="Vestre Fængsel, afd. B" +
                               " " * 100 + "x" * 78))
    assert isinstance(parsed, commands.RegisterSite) and len(parsed.name) == 200


def test_the_schema_ties_a_corrections_value_to_its_fact() -> None:
    definition = json_schema()["$defs"]["Correct"]
    [condition] = definition["allOf"]
    assert condition["if"] == {"properties": {"fact": {"const": "close_reason"}}}
    assert "completed" in condition["then"]["properties"]["value"]["enum"]
    assert condition["else"]["properties"]["value"]["format"] == "date"
