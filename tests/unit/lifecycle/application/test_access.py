"""A caller's conditions on a command (``lifecycle.access``): the programmes it may touch
and the duo version it expects, checked inside the command's unit of work."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle.application.access import CommandGuard, NotPermitted, StaleVersion, scoped_fields
from lifecycle.application.commands import Command, parse_command
from lifecycle.application.engine import Lifecycle, Outcome
from lifecycle.domain.errors import AlreadyExists, DomainError

P1 = CommandGuard(frozenset({"P-1"}))


@pytest.fixture
def world(engine: Lifecycle, new_stream: Any) -> Lifecycle:
    """P-1 (S-1, M-1, duo D-1 active) and P-2 (S-2, M-2, duo D-2 selected)."""
    stream = new_stream("w").base("P-1", "S-1", "M-1").base("P-2", "S-2", "M-2")
    stream.duo("active", "D-1")
    stream.duo("selected", "D-2", programme_id="P-2", site_id="S-2", mentor_id="M-2")
    stream.apply(engine)
    return engine


def run(engine: Lifecycle, raw: dict[str, Any], guard: CommandGuard) -> Outcome:
    return engine.execute(parse_command(raw), raw, guard=guard)


def refused(engine: Lifecycle, raw: dict[str, Any], guard: CommandGuard) -> DomainError:
    versions = engine.get_duo("D-1").version, engine.get_duo("D-2").version
    with pytest.raises(DomainError) as caught:
        run(engine, raw, guard)
    assert (engine.get_duo("D-1").version, engine.get_duo("D-2").version) == versions
    return caught.value


@pytest.mark.parametrize("raw", [
    {"type": "review", "duo_id": "D-1", "health": 3},
    {"type": "record_training", "mentor_id": "M-1", "module": "introduction"},
    {"type": "register_site", "site_id": "S-9", "programme_id": "P-1", "name": "x",
     "setting": "youth"},
    {"type": "recruit", "duo_id": "D-9", "programme_id": "P-1", "site_id": "S-1",
     "mentee_id": "E-9", "newcomer_kind": "transferred", "department": "a", "shifts": []},
])
def test_a_scoped_caller_may_send_commands_of_its_programme(world: Lifecycle,
                                                          raw: dict[str, Any]) -> None:
    assert run(world, {**raw, "occurred_on": "2025-03-01"}, P1) is Outcome.APPLIED


@pytest.mark.parametrize(("raw", "field"), [
    ({"type": "review", "duo_id": "D-2", "health": 3}, "duo_id"),
    ({"type": "record_training", "mentor_id": "M-2", "module": "introduction"}, "mentor_id"),
    ({"type": "open_programme", "programme_id": "P-3", "name": "x", "country": "PT"},
     "programme_id"),
    ({"type": "register_site", "site_id": "S-9", "programme_id": "P-2", "name": "x",
      "setting": "youth"}, "programme_id"),
    ({"type": "recruit", "duo_id": "D-9", "programme_id": "P-1", "site_id": "S-2",
      "mentee_id": "E-9", "newcomer_kind": "transferred", "department": "a", "shifts": []},
     "site_id"),
    ({"type": "match", "duo_id": "D-1", "mentor_id": "M-2", "mentor_kind": "peer"},
     "mentor_id"),
])
def test_a_command_touching_another_programme_is_not_permitted_and_writes_nothing(
        world: Lifecycle, raw: dict[str, Any], field: str) -> None:
    error = refused(world, {**raw, "occurred_on": "2025-03-01"}, P1)
    assert isinstance(error, NotPermitted)
    assert error.field == field


def test_a_missing_duo_is_refused_in_the_same_words_as_one_of_another_programme(
        world: Lifecycle) -> None:
    other = refused(world, {"type": "review", "occurred_on": "2025-03-01", "duo_id": "D-2",
                            "health": 3}, P1)
    missing = refused(world, {"type": "review", "occurred_on": "2025-03-01",
                              "duo_id": "D-404", "health": 3}, P1)
    assert type(other) is type(missing) is NotPermitted
    assert str(other).replace("D-2", "X") == str(missing).replace("D-404", "X")


def test_an_id_taken_in_another_programme_is_rule_2_as_anywhere(world: Lifecycle) -> None:
    error = refused(world, {"type": "recruit", "occurred_on": "2025-03-01", "duo_id": "D-2",
                            "programme_id": "P-1", "site_id": "S-1", "mentee_id": "E-9",
                            "newcomer_kind": "transferred", "department": "a",
                            "shifts": []}, P1)
    assert isinstance(error, AlreadyExists)


def test_scope_is_checked_before_rule_13_so_a_duplicate_elsewhere_is_not_revealed(
        world: Lifecycle) -> None:
    raw = {"type": "review", "occurred_on": "2025-03-01", "duo_id": "D-2", "health": 3,
           "command_id": "elsewhere-1"}
    assert run(world, raw, CommandGuard()) is Outcome.APPLIED
    assert isinstance(refused(world, raw, P1), NotPermitted)


def test_a_guard_without_programmes_admits_every_command(world: Lifecycle) -> None:
    raw = {"type": "review", "occurred_on": "2025-03-01", "duo_id": "D-2", "health": 3}
    assert run(world, raw, CommandGuard()) is Outcome.APPLIED


def test_a_command_with_an_identifier_the_scopes_cannot_place_is_closed_to_scoped_callers(
) -> None:
    class Erase(Command):
        type: str = "erase"
        person_id: str

    assert scoped_fields(Erase) is None
    assert scoped_fields(parse_command({"type": "match", "occurred_on": "2025-03-01",
                                        "duo_id": "D-1", "mentor_id": "M-1",
                                        "mentor_kind": "peer"}).__class__) == [
        "duo_id", "mentor_id"]


def test_if_match_applies_the_command_only_at_the_named_version(world: Lifecycle) -> None:
    version = world.get_duo("D-1").version
    raw = {"type": "review", "occurred_on": "2025-03-01", "duo_id": "D-1", "health": 3}
    stale = refused(world, raw, CommandGuard(if_match=frozenset({version - 1})))
    assert isinstance(stale, StaleVersion)
    assert stale.current == version
    assert run(world, raw, CommandGuard(if_match=frozenset({version}))) is Outcome.APPLIED
    assert run(world, {**raw, "health": 4},
               CommandGuard(if_match="*")) is Outcome.APPLIED
    missing = refused(world, {**raw, "duo_id": "D-404"}, CommandGuard(if_match="*"))
    assert isinstance(missing, StaleVersion) and missing.current is None


def test_a_duplicate_is_answered_as_such_whatever_its_if_match(world: Lifecycle) -> None:
    raw = {"type": "review", "occurred_on": "2025-03-01", "duo_id": "D-1", "health": 3,
           "command_id": "twice"}
    version = world.get_duo("D-1").version
    assert run(world, raw, CommandGuard(if_match=frozenset({version}))) is Outcome.APPLIED
    assert run(world, raw, CommandGuard(if_match=frozenset({version}))) is Outcome.DUPLICATE
