"""The contract's value sets and value objects (``lifecycle.domain.vocabulary``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from lifecycle.domain.vocabulary import (
    DROPOUT_REASONS,
    CloseReason,
    Function,
    Module,
    Policy,
    Scores,
)


def test_dropout_reasons_are_all_but_completed_programme_ended_and_rematched() -> None:
    assert {r.value for r in DROPOUT_REASONS} == {
        "mentee_withdrew", "mentor_withdrew", "mentee_left_service", "mentor_left_service",
        "mismatch", "no_mentor_available", "other"}
    assert all(r.is_dropout == (r in DROPOUT_REASONS) for r in CloseReason)


def test_value_sets_are_those_of_the_contract() -> None:
    assert [m.value for m in Module] == ["introduction", "communication", "interpersonal",
                                         "pedagogical", "organisational"]
    assert {f.value for f in Function} == {"psychosocial", "career"}


@pytest.mark.parametrize("policy", [
    {"min_duration_days": 400},                 # > the default maximum
    {"max_duration_days": 100},                 # < the default minimum
    {"min_duration_days": 30, "max_duration_days": 29},
])
def test_policy_minimum_above_maximum_is_refused_once_defaults_are_filled_in(
        policy: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="min_duration_days"):
        Policy.model_validate(policy)


def test_policy_equal_minimum_and_maximum_is_accepted() -> None:
    assert Policy(min_duration_days=120, max_duration_days=120).max_duration_days == 120


@pytest.mark.parametrize("policy", [
    {"min_duration_day": 10},
    {"contact_interval_days": 0},
    {"first_meeting_within_days": True},
    {"contact_interval_days": 14.0},
    {"contact_interval_days": "14"},
    {"mentor_kinds": []},
    {"mentor_kinds": ["mentor"]},
    {"require_trained_mentor": "yes"},
    {"require_trained_mentor": 1},
])
def test_policy_refuses_unknown_keys_and_wrong_values(policy: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Policy.model_validate_json(json.dumps(policy))


@pytest.mark.parametrize("scores", [
    {"wellbeing": 3, "stress": 3, "integration": 3},
    {"wellbeing": 3, "stress": 3, "integration": 3, "confidence": 3, "mood": 3},
    {"wellbeing": 0, "stress": 3, "integration": 3, "confidence": 3},
    {"wellbeing": 6, "stress": 3, "integration": 3, "confidence": 3},
    {"wellbeing": True, "stress": 3, "integration": 3, "confidence": 3},
    {"wellbeing": 3.0, "stress": 3, "integration": 3, "confidence": 3},
])
def test_scores_are_exactly_four_ints_from_1_to_5(scores: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Scores.model_validate_json(json.dumps(scores))


def test_the_v2_value_sets_are_those_of_the_contract() -> None:
    from lifecycle.domain.vocabulary import (
        LIFECYCLE_DATES,
        CorrectableFact,
        DepartureReason,
        DeregistrationReason,
    )

    assert [f.value for f in CorrectableFact] == [
        "recruited_on", "selected_on", "matched_on", "activated_on", "closed_on",
        "close_reason"]
    assert [f.value for f in LIFECYCLE_DATES] == [
        "recruited_on", "selected_on", "matched_on", "activated_on", "closed_on"]
    assert [r.value for r in DepartureReason] == ["resigned", "dismissed", "retired", "other"]
    assert [r.value for r in DeregistrationReason] == ["left_service", "withdrew", "other"]


def test_the_v2_policy_keys_default_to_the_monitoring_schedule_and_three_duos() -> None:
    policy = Policy()
    assert (policy.reviews_first_interval, policy.review_interval_days,
            policy.max_duos_per_mentor) == (2, 30, 3)


@pytest.mark.parametrize("key", ["reviews_first_interval", "review_interval_days",
                                 "max_duos_per_mentor"])
@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3", None])
def test_the_v2_policy_keys_are_ints_of_at_least_one(key: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        Policy.model_validate_json(json.dumps({key: value}))
    assert getattr(Policy.model_validate_json(json.dumps({key: 1})), key) == 1


@pytest.mark.parametrize("code", ["wing-A", "B.2", "night:late_1", "x" * 64])
def test_a_department_or_shift_code_has_the_form_of_an_identifier(code: str) -> None:
    from pydantic import TypeAdapter

    from lifecycle.domain.vocabulary import Code

    assert TypeAdapter(Code).validate_python(code) == code


@pytest.mark.parametrize("text", ["Wing A", "", "x" * 65, "é", "a/b", "Jane Doe"])
def test_free_text_is_not_a_code(text: str) -> None:
    from pydantic import TypeAdapter

    from lifecycle.domain.vocabulary import Code

    with pytest.raises(ValidationError):
        TypeAdapter(Code).validate_python(text)
