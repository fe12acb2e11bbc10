"""How an aggregate is wired to its created-event (``lifecycle.domain.base``): the one
event class of its body with ``creates = True``, so that loading a stream builds the
right aggregate from its first event."""

from __future__ import annotations

from typing import ClassVar

import pytest

from lifecycle.domain.base import Aggregate, DomainEvent
from lifecycle.domain.duo import Duo
from lifecycle.domain.markers import AppliedCommand, AppliedContent, Departure, Succession
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site

CREATED = [(Programme, Programme.Opened), (Site, Site.Registered),
           (Mentor, Mentor.Registered), (Duo, Duo.Recruited),
           (AppliedCommand, AppliedCommand.Applied), (AppliedContent, AppliedContent.Applied),
           (Departure, Departure.Recorded), (Succession, Succession.Claimed)]


@pytest.mark.parametrize(("aggregate", "event"), CREATED,
                         ids=[a.__name__ for a, _ in CREATED])
def test_each_aggregate_is_created_by_its_one_created_event(
        aggregate: type[Aggregate], event: type[DomainEvent]) -> None:
    assert event.aggregate_class is aggregate
    others = [value for value in vars(aggregate).values()
              if isinstance(value, type) and issubclass(value, DomainEvent)
              and value is not event]
    assert all(other.aggregate_class is None for other in others)


def test_an_aggregate_without_a_created_event_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match="Orphan needs exactly one event class with "
                                        "creates = True, not 0"):
        class Orphan(Aggregate):
            class Happened(DomainEvent):
                pass


def test_an_aggregate_with_two_created_events_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match=r"Twice needs exactly one .*, not 2"):
        class Twice(Aggregate):
            class Opened(DomainEvent):
                creates: ClassVar[bool] = True

            class Reopened(DomainEvent):
                creates: ClassVar[bool] = True
