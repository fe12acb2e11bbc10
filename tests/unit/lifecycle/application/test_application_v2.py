"""The v2 use cases (``lifecycle.application``) on an in-memory store: ``deregister_mentor``
(rules 2, 11, 14), ``correct`` (rules 2 and 15 where they need other aggregates) and
``record_departure`` (rules 2 and 17 over a chain of duos), each refusal naming its rule
and field and writing nothing.

The store holds programme P-1 (opened 2025-01-02), site S-1 and mentor M-1 (registered
2025-01-03, trained 2025-01-08); duos are recruited on 2025-02-01 and move on one step a
day; today is 2026-01-01.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from tests.unit.lifecycle.application.test_application import Harness, duo_to

from lifecycle.application import Lifecycle, Outcome
from lifecycle.application import commands as cmds
from lifecycle.domain.duo import Duo
from lifecycle.domain.vocabulary import CorrectableFact, DepartureReason, DeregistrationReason


@pytest.fixture
def app(engine: Lifecycle, stream: Any, cmd: Any, submit: Any, event_count: Any) -> Harness:
    stream.base()
    stream.apply(engine)
    return Harness(engine, cmd, submit, event_count)


@pytest.fixture
def chain(app: Harness, new_stream: Any) -> Harness:
    """D-OLD (closed 2025-02-05 as rematched) and its successor D-NEW (recruited
    2025-02-10, active from 2025-02-13), one mentee's chain."""
    duo_to(app, new_stream, "closed", "D-OLD", mentee_id="E-1", close_reason="rematched")
    duo_to(app, new_stream, "active", "D-NEW", start="2025-02-10", mentee_id="E-1",
           predecessor_duo_id="D-OLD")
    return app


# ---------------------------------------------------------------------- use cases
def test_the_v2_use_cases_take_their_typed_commands(engine: Lifecycle, stream: Any) -> None:
    stream.base().duo("closed", "D-1")
    stream.apply(engine)
    on = date(2025, 6, 1)
    assert engine.deregister_mentor(cmds.DeregisterMentor(
        occurred_on=on, mentor_id="M-1", reason=DeregistrationReason.WITHDREW)) \
        is Outcome.APPLIED
    assert engine.correct(cmds.Correct(
        occurred_on=on, duo_id="D-1", fact=CorrectableFact.CLOSED_ON, value="2025-02-20")) \
        is Outcome.APPLIED
    assert engine.record_departure(cmds.RecordDeparture(
        occurred_on=on, duo_id="D-1", reason=DepartureReason.RETIRED)) is Outcome.APPLIED
    assert engine.get_duo("D-1").closed_on == date(2025, 2, 20)
    history = engine.history("D-1")
    assert [type(e).__name__ for e in history[-2:]] == ["Corrected", "DepartureRecorded"]
    assert history[-2].data == {"fact": "closed_on", "value": "2025-02-20",
                                "previous": "2025-02-05"}


# ---------------------------------------------------------------------- table of refusals
REFUSALS: list[Any] = [
    # rule 2
    pytest.param("deregister_mentor", {"mentor_id": "M-404"}, "2025-03-01", 2, "mentor_id",
                 id="deregister-an-unknown-mentor"),
    pytest.param("correct", {"duo_id": "D-404"}, "2025-03-01", 2, "duo_id",
                 id="correct-an-unknown-duo"),
    pytest.param("record_departure", {"duo_id": "D-404"}, "2025-03-01", 2, "duo_id",
                 id="departure-of-an-unknown-duo"),
    # rule 5 still holds for the new commands
    pytest.param("correct", {"duo_id": "D-NEW", "fact": "activated_on",
                             "value": "2025-02-14"}, "2026-01-02", 5, "occurred_on",
                 id="correction-dated-after-today"),
    # rule 14
    pytest.param("deregister_mentor", {"mentor_id": "M-1"}, "2025-01-02", 14, "occurred_on",
                 id="deregistered-before-registration"),
    # rule 15 across aggregates
    pytest.param("correct", {"duo_id": "D-OLD", "fact": "close_reason", "value": "other"},
                 "2025-03-01", 15, "fact", id="close-reason-of-a-predecessor"),
    pytest.param("correct", {"duo_id": "D-OLD", "fact": "closed_on", "value": "2025-02-11"},
                 "2025-03-01", 15, "value", id="predecessor-closing-after-successor"),
    pytest.param("correct", {"duo_id": "D-NEW", "fact": "recruited_on",
                             "value": "2025-02-04"}, "2025-03-01", 15, "value",
                 id="successor-recruited-before-predecessor-closed"),
    pytest.param("correct", {"duo_id": "D-OLD", "fact": "recruited_on",
                             "value": "2025-01-01"}, "2025-03-01", 15, "value",
                 id="recruited-before-the-programme-opened"),
    pytest.param("correct", {"duo_id": "D-NEW", "fact": "matched_on",
                             "value": "2025-01-07"}, "2025-03-01", 15, "value",
                 id="matched-before-the-mentor-was-trained"),
    pytest.param("correct", {"duo_id": "D-NEW", "fact": "closed_on",
                             "value": "2025-03-01"}, "2025-03-01", 15, "fact",
                 id="closed_on-of-an-open-duo"),
    pytest.param("correct", {"duo_id": "D-OLD", "fact": "close_reason",
                             "value": "rematched"}, "2025-03-01", 15, "value",
                 id="unchanged-close-reason-of-a-predecessor"),
    # rule 17
    pytest.param("record_departure", {"duo_id": "D-NEW"}, "2025-01-31", 17, "occurred_on",
                 id="departure-before-the-chains-first-recruitment"),
]


@pytest.mark.parametrize(("type_", "fields", "on", "rule", "field"), REFUSALS)
def test_a_v2_command_breaking_a_rule_is_refused_naming_it_and_writes_nothing(
        chain: Harness, type_: str, fields: dict[str, Any], on: str, rule: int,
        field: str) -> None:
    chain.refused(type_, on, rule, field, **fields)


# ---------------------------------------------------------------------- rules 11 and 14
def test_a_deregistered_mentor_cannot_be_matched_from_that_day(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "selected")
    app.ok("deregister_mentor", "2025-02-10", reason="left_service")
    app.refused("match", "2025-02-10", 11, "mentor_id")
    app.refused("match", "2025-02-11", 11, "mentor_id")
    assert app.ok("match", "2025-02-09") is Outcome.APPLIED


def test_a_deregistration_leaves_the_mentors_open_duos_as_they_are(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "active")
    app.ok("deregister_mentor", "2025-02-10")
    duo = app.engine.get_duo("D-1")
    assert (duo.state.value, duo.mentor_id) == ("active", "M-1")
    assert app.ok("log_contact", "2025-02-11") is Outcome.APPLIED


def test_a_mentor_is_deregistered_once(app: Harness) -> None:
    app.ok("deregister_mentor", "2025-03-01", command_id="d-1")
    app.refused("deregister_mentor", "2025-03-02", 14, "mentor_id", command_id="d-2")
    assert app.ok("deregister_mentor", "2025-03-01", command_id="d-1") is Outcome.DUPLICATE


# ---------------------------------------------------------------------- rule 17
@pytest.mark.parametrize(("first", "second"), [
    ("D-OLD", "D-NEW"), ("D-NEW", "D-OLD"), ("D-NEW", "D-NEW")])
def test_a_chain_has_one_departure_whichever_of_its_duos_names_it(
        chain: Harness, first: str, second: str) -> None:
    chain.ok("record_departure", "2025-03-01", duo_id=first)
    chain.refused("record_departure", "2025-03-02", 17, "duo_id", duo_id=second)


def test_a_departure_on_a_successor_may_be_dated_from_the_first_recruitment(
        chain: Harness) -> None:
    """The chain began with D-OLD on 2025-02-01, before D-NEW was recruited."""
    assert chain.ok("record_departure", "2025-02-01", duo_id="D-NEW") is Outcome.APPLIED
    assert chain.engine.get_duo("D-NEW").departed_on == date(2025, 2, 1)


def test_other_mentees_chains_have_departures_of_their_own(
        chain: Harness, new_stream: Any) -> None:
    duo_to(chain, new_stream, "active", "D-2", mentee_id="E-2")
    chain.ok("record_departure", "2025-03-01", duo_id="D-NEW")
    assert chain.ok("record_departure", "2025-03-01", duo_id="D-2") is Outcome.APPLIED


def test_a_departure_closes_nothing_and_a_later_successor_joins_the_departed_chain(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "closed", "D-1", mentee_id="E-1", close_reason="rematched")
    app.ok("record_departure", "2025-03-01", duo_id="D-1")
    duo_to(app, new_stream, "recruited", "D-2", start="2025-03-02", mentee_id="E-1",
           predecessor_duo_id="D-1")
    app.refused("record_departure", "2025-03-03", 17, "duo_id", duo_id="D-2")
    assert isinstance(app.engine.history("D-1")[-1], Duo.DepartureRecorded)


def test_a_refused_departure_leaves_no_marker_behind(chain: Harness) -> None:
    chain.refused("record_departure", "2025-01-31", 17, "occurred_on", duo_id="D-NEW")
    assert chain.ok("record_departure", "2025-03-01", duo_id="D-OLD") is Outcome.APPLIED


def test_the_first_recruitment_of_a_departed_chain_cannot_move_past_its_departure(
        chain: Harness) -> None:
    chain.ok("record_departure", "2025-02-03", duo_id="D-NEW")
    chain.refused("correct", "2025-03-01", 15, "value", duo_id="D-OLD", fact="recruited_on",
                  value="2025-02-04")
    assert chain.ok("correct", "2025-03-01", duo_id="D-OLD", fact="recruited_on",
                    value="2025-01-20") is Outcome.APPLIED


# ---------------------------------------------------------------------- rule 15 accepted
def test_a_predecessor_may_close_on_its_successors_recruitment_day(chain: Harness) -> None:
    assert chain.ok("correct", "2025-03-01", duo_id="D-OLD", fact="closed_on",
                    value="2025-02-10") is Outcome.APPLIED


def test_a_matched_on_correction_checks_the_mentor_leaving_the_pool(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "matched", start="2025-01-20")  # matched 2025-01-22
    app.ok("deregister_mentor", "2025-01-25")
    app.refused("correct", "2025-03-01", 15, "value", fact="matched_on", value="2025-01-25")
    assert app.ok("correct", "2025-03-01", fact="matched_on", value="2025-01-24") \
        is Outcome.APPLIED
