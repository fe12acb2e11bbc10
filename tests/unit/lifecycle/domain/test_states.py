"""The duo's lifecycle (CONTRACT §1): every (state, trigger) pair, valid and invalid,
through the state table and through the duo's own commands; and the committed diagram."""

from __future__ import annotations

import copy
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lifecycle.domain import states
from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import TransitionNotAllowed
from lifecycle.domain.states import DuoState, destination
from lifecycle.domain.vocabulary import CloseReason, MentorKind

DIAGRAM = Path(__file__).resolve().parents[4] / "docs" / "states.mmd"

R, S, M, A, C = (DuoState.RECRUITED, DuoState.SELECTED, DuoState.MATCHED, DuoState.ACTIVE,
                 DuoState.CLOSED)
TRIGGERS = ("select", "match", "activate", "close")

ALLOWED: dict[tuple[DuoState, str], DuoState] = {
    (R, "select"): S,
    (R, "close"): C,
    (S, "match"): M,
    (S, "close"): C,
    (M, "activate"): A,
    (M, "close"): C,
    (A, "close"): C,
}
"""The whole lifecycle as the contract states it; every other pair is refused."""

PAIRS = [pytest.param(state, trigger, ALLOWED.get((state, trigger)),
                      id=f"{state.value}-{trigger}")
         for state in DuoState for trigger in TRIGGERS]

EVENT_OF = {"select": Duo.Selected, "match": Duo.Matched, "activate": Duo.Activated,
            "close": Duo.Closed}
LATER = date(2025, 6, 1)
"""A date after every date of the duos built here (so only the table can refuse)."""


def test_the_states_and_triggers_are_exactly_those_of_the_contract() -> None:
    assert [s.value for s in DuoState] == ["recruited", "selected", "matched", "active",
                                           "closed"]
    assert set(states.TRIGGERS) == set(TRIGGERS)
    assert states.INITIAL_STATE is R


@pytest.mark.parametrize(("state", "trigger", "expected"), PAIRS)
def test_table_gives_the_contract_destination_or_refuses(
        state: DuoState, trigger: str, expected: DuoState | None) -> None:
    assert destination(trigger, state) == expected


@pytest.mark.parametrize("state", list(DuoState), ids=lambda s: s.value)
def test_allowed_triggers_list_exactly_the_table_entries_of_a_state(state: DuoState) -> None:
    expected = [t for t in TRIGGERS if (state, t) in ALLOWED]
    assert sorted(states.allowed_triggers(state)) == sorted(expected)


def test_closed_is_final_and_every_other_state_can_close() -> None:
    assert states.allowed_triggers(C) == []
    assert all(destination("close", s) is C for s in (R, S, M, A))


def _fire(duo: Duo, trigger: str, world: Any, kit: Any) -> None:
    programme, _site, mentor = world
    meta = kit.meta(LATER)
    if trigger == "select":
        duo.select(meta, consent=True)
    elif trigger == "match":
        duo.match(meta, mentor=mentor, mentor_kind=MentorKind.PEER, programme=programme)
    elif trigger == "activate":
        duo.activate(meta)
    else:
        duo.close(meta, reason=CloseReason.OTHER)


@pytest.mark.parametrize(("state", "trigger", "expected"), PAIRS)
def test_duo_command_moves_as_the_table_says_or_is_refused_writing_nothing(
        kit: Any, state: DuoState, trigger: str, expected: DuoState | None) -> None:
    world = kit.world()
    duo = kit.duo(state, world=world)
    before = copy.deepcopy(duo.__dict__)
    if expected is None:
        with pytest.raises(TransitionNotAllowed) as raised:
            _fire(duo, trigger, world, kit)
        assert raised.value.rule == 4
        assert raised.value.field == "type"
        allowed = ", ".join(t for t in TRIGGERS if (state, t) in ALLOWED) or "none"
        assert raised.value.message == (f"'{trigger}' is not allowed for duo 'D-1' in state "
                                        f"'{state.value}' (allowed: {allowed})")
        assert duo.pending_events == []
        assert _comparable(duo.__dict__) == _comparable(before)
    else:
        _fire(duo, trigger, world, kit)
        assert duo.state is expected
        [event] = duo.pending_events
        assert isinstance(event, EVENT_OF[trigger])
        assert event.originator_version == before["_version"] + 1 == duo.version


def _comparable(attributes: dict[str, Any]) -> dict[str, Any]:
    out = dict(attributes)
    out["contacts"] = {k: (c.occurred_on, c.retracted) for k, c in out["contacts"].items()}
    return out


def test_the_machine_is_never_attached_to_a_duo(kit: Any) -> None:
    duo = kit.duo(A)
    assert not any(hasattr(duo, name) for name in ("trigger", "may_select", "to_closed"))
    assert all(type(v).__module__.split(".")[0] != "transitions" for v in vars(duo).values())


def test_replay_assigns_states_without_consulting_the_table(
        kit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = kit.world()
    duo = kit.duo(R, world=world)
    events = [*_recruited_events(duo)]
    for trigger in ("select", "match", "activate", "close"):
        _fire(duo, trigger, world, kit)
    events += duo.collect_events()

    def refuse(*_: Any) -> None:
        raise AssertionError("replay consulted the state table")

    monkeypatch.setattr(states, "destination", refuse)
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Duo)
    assert replayed.state is C
    assert replayed.closed_from is A


def _recruited_events(duo: Duo) -> list[Any]:
    """The creation event of a duo whose events were already collected."""
    return [Duo.Recruited(
        originator_id=duo.id, originator_version=1, timestamp=duo.created_on,
        occurred_on=duo.recruited_on, programme_id=duo.programme_id, site_id=duo.site_id,
        mentee_id=duo.mentee_id, newcomer_kind="transferred", department=duo.department,
        shifts=duo.shifts)]


def test_committed_diagram_equals_the_one_generated_from_the_table() -> None:
    assert DIAGRAM.read_text(encoding="utf-8") == states.mermaid(), (
        "docs/states.mmd drifted from the state table: regenerate it with "
        "`lifecycle states > docs/states.mmd`")


def test_generated_diagram_draws_exactly_the_table() -> None:
    drawn = set(re.findall(r"^\s*(\w+) --> (\w+): (\w+)\s*$", states.mermaid(), re.M))
    table = {(source.value, dest.value, trigger)
             for (source, trigger), dest in ALLOWED.items()}
    assert drawn == table
    assert "[*] --> recruited" in states.mermaid()
