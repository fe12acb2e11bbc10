"""Departures from the service (``Duo.record_departure`` and the chain's ``Departure``
marker, rule 17): a departure belongs to a mentee's chain of duos, is dated not before
the chain's first recruitment, and is recorded once per chain. It closes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from tests.unit.lifecycle.domain.test_duo import assert_refused

from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import DomainError
from lifecycle.domain.markers import Departure
from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import CloseReason, DepartureReason

D = date.fromisoformat


@pytest.mark.parametrize("state", list(DuoState), ids=lambda s: s.value)
def test_a_departure_is_recorded_on_the_duo_named_in_any_state_and_closes_nothing(
        kit: Any, state: DuoState) -> None:
    duo = kit.duo(state)
    duo.record_departure(kit.meta("2025-03-01"), reason=DepartureReason.RESIGNED, first=duo)
    [event] = duo.collect_events()
    assert isinstance(event, Duo.DepartureRecorded)
    assert event.data == {"reason": "resigned"}
    assert duo.departed_on == D("2025-03-01")
    assert duo.state is state


def test_a_departure_on_a_successor_is_dated_from_the_first_recruitment_of_the_chain(
        kit: Any) -> None:
    world = kit.world()
    first = kit.duo(DuoState.CLOSED, "D-1", world=world, close_reason=CloseReason.REMATCHED)
    second = kit.duo(DuoState.ACTIVE, "D-2", start="2025-02-08", world=world)
    second.record_departure(kit.meta("2025-02-01"), reason=DepartureReason.OTHER, first=first)
    assert second.departed_on == D("2025-02-01")
    assert_refused(first, lambda: first.record_departure(
        kit.meta("2025-01-31"), reason=DepartureReason.OTHER, first=first), 17, "occurred_on",
        "departure on 2025-01-31 is before the first duo of the chain ('D-1') was recruited "
        "on 2025-02-01")


def test_the_chains_marker_refuses_a_second_departure(kit: Any) -> None:
    meta = kit.meta("2025-03-01")
    marker = Departure.record(meta, "D-1", "D-2", None)
    assert (marker.id, marker.duo_id, marker.departed_on) == (
        "departure:D-1", "D-2", D("2025-03-01"))
    with pytest.raises(DomainError) as raised:
        Departure.record(meta, "D-1", "D-1", marker)
    assert (raised.value.rule, raised.value.field) == (17, "duo_id")
