"""The mentor aggregate (``lifecycle.domain.mentor``): registration, training and when a
mentor counts as trained (CONTRACT §2 ``record_training``, rules 3, 5 and 11)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from lifecycle.domain.errors import DomainError, MentorNotTrained
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.vocabulary import Module

D = date.fromisoformat


def untrained(kit: Any, on: str = "2025-01-03") -> Mentor:
    programme = kit.programme()
    return kit.mentor(programme, kit.site(programme), on=on, trained_on=None)


def test_registration_keeps_the_mentors_pool_fields(kit: Any) -> None:
    mentor = untrained(kit)
    assert (mentor.id, mentor.contract_id) == ("mentor:M-1", "M-1")
    assert (mentor.programme_id, mentor.site_id) == ("P-1", "S-1")
    assert mentor.registered_on == D("2025-01-03")
    assert mentor.trained_on is None


def test_registration_refuses_a_site_of_another_programme(kit: Any) -> None:
    programme = kit.programme()
    other_site = kit.site(kit.programme("P-2"), "S-2")
    with pytest.raises(DomainError) as raised:
        Mentor.register(kit.meta("2025-01-03"), "M-1", programme=programme, site=other_site,
                        department="x", shifts=(), years_experience=0)
    assert (raised.value.rule, raised.value.field) == (3, "site_id")


def test_registration_refuses_a_date_before_the_programme_opened(kit: Any) -> None:
    programme = kit.programme(on="2025-01-02")
    with pytest.raises(DomainError) as raised:
        Mentor.register(kit.meta("2025-01-01"), "M-1", programme=programme,
                        site=kit.site(programme), department="x", shifts=(),
                        years_experience=0)
    assert (raised.value.rule, raised.value.field) == (5, "occurred_on")
    assert raised.value.message == ("register_mentor on 2025-01-01 is before programme 'P-1' "
                                    "opened on 2025-01-02")


def test_training_before_registration_is_refused_on_the_day_accepted(kit: Any) -> None:
    mentor = untrained(kit, on="2025-01-03")
    with pytest.raises(DomainError) as raised:
        mentor.record_training(kit.meta("2025-01-02"), Module.INTRODUCTION)
    assert (raised.value.rule, raised.value.field) == (5, "occurred_on")
    assert raised.value.message == ("record_training on 2025-01-02 is before mentor 'M-1' "
                                    "was registered on 2025-01-03")
    assert mentor.pending_events == []
    mentor.record_training(kit.meta("2025-01-03"), Module.INTRODUCTION)
    assert mentor.first_completed == {Module.INTRODUCTION: D("2025-01-03")}


def test_a_mentor_is_trained_from_the_date_the_last_of_five_modules_was_first_completed(
        kit: Any) -> None:
    mentor = untrained(kit)
    days = ["2025-01-10", "2025-01-05", "2025-01-20", "2025-01-07", "2025-01-15"]
    for module, day in zip(Module, days, strict=True):
        assert mentor.trained_on is None
        mentor.record_training(kit.meta(day), module)
    assert mentor.trained_on == D("2025-01-20")


def test_four_modules_even_with_refreshers_are_not_training(kit: Any) -> None:
    mentor = untrained(kit)
    for module in list(Module)[:4]:
        mentor.record_training(kit.meta("2025-01-05"), module)
        mentor.record_training(kit.meta("2025-01-06"), module)
    assert mentor.trained_on is None
    with pytest.raises(MentorNotTrained) as raised:
        mentor.check_trained_by(D("2025-12-31"))
    assert (raised.value.rule, raised.value.field) == (11, "mentor_id")
    assert raised.value.message == ("mentor 'M-1' is not trained by 2025-12-31 "
                                    "(modules missing: organisational)")


def test_a_refresher_does_not_move_the_training_date(kit: Any) -> None:
    mentor = untrained(kit)
    for module in Module:
        mentor.record_training(kit.meta("2025-01-10"), module)
    mentor.record_training(kit.meta("2025-03-01"), Module.PEDAGOGICAL)
    assert mentor.trained_on == D("2025-01-10")


def test_a_late_entry_of_an_earlier_completion_moves_the_training_date_back(
        kit: Any) -> None:
    mentor = untrained(kit)
    for module in Module:
        mentor.record_training(kit.meta("2025-02-01"), module)
    for module in Module:
        mentor.record_training(kit.meta("2025-01-10"), module)
    assert mentor.trained_on == D("2025-01-10")


def test_not_trained_names_the_modules_not_completed_by_that_day(kit: Any) -> None:
    """A module first completed on the day asked about is not missing."""
    mentor = untrained(kit)
    days = ["2025-01-10", "2025-01-12", "2025-01-20", "2025-01-12", "2025-01-30"]
    for module, day in zip(Module, days, strict=True):
        mentor.record_training(kit.meta(day), module)
    with pytest.raises(MentorNotTrained) as raised:
        mentor.check_trained_by(D("2025-01-12"))
    assert (raised.value.rule, raised.value.field) == (11, "mentor_id")
    assert raised.value.message == ("mentor 'M-1' is not trained by 2025-01-12 "
                                    "(modules missing: interpersonal, organisational)")


@pytest.mark.parametrize(("on", "trained"), [
    ("2025-01-19", False), ("2025-01-20", True), ("2025-06-01", True)])
def test_check_trained_by_compares_with_the_training_date(
        kit: Any, on: str, trained: bool) -> None:
    mentor = untrained(kit)
    for module in Module:
        mentor.record_training(kit.meta("2025-01-20"), module)
    if trained:
        mentor.check_trained_by(D(on))
    else:
        with pytest.raises(MentorNotTrained) as raised:
            mentor.check_trained_by(D(on))
        assert (raised.value.rule, raised.value.field) == (11, "mentor_id")


def test_replaying_a_mentors_events_rebuilds_the_same_mentor(kit: Any) -> None:
    programme = kit.programme()
    mentor = Mentor.register(kit.meta("2025-01-03"), "M-1", programme=programme,
                             site=kit.site(programme), department="x", shifts=("late",),
                             years_experience=12)
    for module in Module:
        mentor.record_training(kit.meta("2025-01-09"), module)
    mentor.record_training(kit.meta("2025-01-04"), Module.INTRODUCTION)
    replayed = None
    for event in mentor.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Mentor)
    assert vars(replayed) == vars(mentor)
    assert replayed.trained_on == D("2025-01-09")


# ---------------------------------------------------------------------- deregistration (v2)
def test_deregistration_takes_the_mentor_out_of_the_pool_from_its_date(kit: Any) -> None:
    from lifecycle.domain.vocabulary import DeregistrationReason

    mentor = untrained(kit)
    mentor.deregister(kit.meta("2025-03-01"), DeregistrationReason.WITHDREW)
    [event] = mentor.collect_events()
    assert isinstance(event, Mentor.Deregistered)
    assert event.data == {"reason": "withdrew"}
    assert mentor.deregistered_on == D("2025-03-01")
    mentor.check_in_pool_on(D("2025-02-28"))
    with pytest.raises(DomainError) as raised:
        mentor.check_in_pool_on(D("2025-03-01"))
    assert (raised.value.rule, raised.value.field) == (11, "mentor_id")
    assert raised.value.message == "mentor 'M-1' left the pool on 2025-03-01"


@pytest.mark.parametrize(("first", "second", "field", "message"), [
    (None, "2025-01-02", "occurred_on",
     "deregister_mentor on 2025-01-02 is before mentor 'M-1' was registered on 2025-01-03"),
    ("2025-03-01", "2025-03-02", "mentor_id",
     "mentor 'M-1' was already deregistered on 2025-03-01"),
    ("2025-03-01", "2025-03-01", "mentor_id",
     "mentor 'M-1' was already deregistered on 2025-03-01"),
])
def test_rule_14_refuses_a_deregistration(kit: Any, first: str | None, second: str,
                                          field: str, message: str) -> None:
    from lifecycle.domain.vocabulary import DeregistrationReason

    mentor = untrained(kit)
    if first is not None:
        mentor.deregister(kit.meta(first), DeregistrationReason.LEFT_SERVICE)
        mentor.collect_events()
    before = dict(vars(mentor))
    with pytest.raises(DomainError) as raised:
        mentor.deregister(kit.meta(second), DeregistrationReason.OTHER)
    assert (raised.value.rule, raised.value.field) == (14, field)
    assert raised.value.message == message
    assert vars(mentor) == before and not mentor.pending_events


def test_a_mentor_may_be_deregistered_on_the_registration_day(kit: Any) -> None:
    from lifecycle.domain.vocabulary import DeregistrationReason

    mentor = untrained(kit)
    mentor.deregister(kit.meta("2025-01-03"), DeregistrationReason.OTHER)
    assert mentor.deregistered_on == D("2025-01-03")


@pytest.mark.parametrize(("deregistered_on", "accepted"), [
    ("2025-02-02", False), ("2025-02-03", False), ("2025-02-04", True)])
def test_match_refuses_a_mentor_deregistered_on_or_before_its_date(
        kit: Any, deregistered_on: str, accepted: bool) -> None:
    from tests.unit.lifecycle.domain.test_duo import assert_refused

    from lifecycle.domain.states import DuoState
    from lifecycle.domain.vocabulary import DeregistrationReason, MentorKind

    programme, _, mentor = world = kit.world()
    mentor.deregister(kit.meta(deregistered_on), DeregistrationReason.LEFT_SERVICE)
    duo = kit.duo(DuoState.SELECTED, world=world)

    def match() -> None:
        duo.match(kit.meta("2025-02-03"), mentor=mentor, mentor_kind=MentorKind.PEER,
                  programme=programme)

    if accepted:
        match()
        assert duo.state is DuoState.MATCHED
    else:
        assert_refused(duo, match, 11, "mentor_id")
