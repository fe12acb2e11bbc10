"""Corrections of a duo's lifecycle facts (``Duo.correct``, ``lifecycle.domain.correction``):
every sub-condition of rule 15, each refusal naming its field and changing nothing.

Duos built by the ``kit`` fixture are recruited on 2025-02-01 and move on one step a day
(selected 02-02, matched 02-03, activated 02-04, closed 02-05 from ``active``); the
programme opened on 2025-01-02, the mentor was registered on 2025-01-03 and trained on
2025-01-08. Corrections are dated 2025-03-01 unless a case says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from tests.unit.lifecycle.domain.test_duo import assert_refused

from lifecycle.domain.correction import CorrectionContext, fact_value
from lifecycle.domain.duo import Duo
from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import (
    CloseReason,
    ContactMode,
    CorrectableFact,
    DeregistrationReason,
    Function,
    MentorKind,
    Phase,
    Respondent,
    RetractReason,
    Scores,
)

D = date.fromisoformat
F = CorrectableFact
ON = "2025-03-01"


def value_of(fact: F, text: str) -> Any:
    return fact_value(fact, text)


def context(kit: Any, world: Any, **more: Any) -> CorrectionContext:
    programme, _, mentor = world
    return CorrectionContext(programme=programme, mentor=mentor, **more)


def contact(kit: Any, duo: Duo, on: str, contact_id: str = "K-1") -> None:
    duo.log_contact(kit.meta(on), contact_id=contact_id, minutes=30, mode=ContactMode.PHONE,
                    functions=(Function.CAREER,))


# ---------------------------------------------------------------------- accepted
@pytest.mark.parametrize(("state", "fact", "value"), [
    (DuoState.RECRUITED, F.RECRUITED_ON, "2025-01-20"),
    (DuoState.SELECTED, F.SELECTED_ON, "2025-02-01"),
    (DuoState.MATCHED, F.MATCHED_ON, "2025-02-02"),
    (DuoState.ACTIVE, F.ACTIVATED_ON, "2025-02-20"),
    (DuoState.CLOSED, F.CLOSED_ON, "2025-02-28"),
    (DuoState.CLOSED, F.CLOSE_REASON, "completed"),
], ids=lambda v: str(getattr(v, "value", v)))
def test_a_correction_replaces_the_fact_and_records_the_previous_value(
        kit: Any, state: DuoState, fact: F, value: str) -> None:
    world = kit.world()
    duo = kit.duo(state, world=world)
    previous = getattr(duo, fact.value)
    duo.correct(kit.meta(ON), fact=fact, value=value_of(fact, value),
                context=context(kit, world))
    [event] = duo.collect_events()
    assert isinstance(event, Duo.Corrected)
    expected_previous = previous.isoformat() if isinstance(previous, date) else previous.value
    assert event.data == {"fact": fact.value, "value": value, "previous": expected_previous}
    assert getattr(duo, fact.value) == value_of(fact, value)
    assert duo.state is state  # a correction never moves the lifecycle


def test_replaying_a_corrected_duo_gives_the_corrected_duo(kit: Any) -> None:
    world = programme, site, _ = kit.world()
    duo = Duo.recruit(kit.meta("2025-02-01"), "D-1", programme=programme, site=site,
                      mentee_id="E-1", newcomer_kind="transferred", department="wing-A",
                      shifts=("early",))
    duo.select(kit.meta("2025-02-02"), consent=True)
    duo.correct(kit.meta(ON), fact=F.SELECTED_ON, value=D("2025-02-05"),
                context=context(kit, world))
    replayed = None
    for event in duo.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Duo)
    assert vars(replayed) == vars(duo)
    assert replayed.selected_on == D("2025-02-05")


def test_later_commands_are_checked_against_the_corrected_dates(kit: Any) -> None:
    world = kit.world()
    duo = kit.duo(DuoState.ACTIVE, world=world)
    duo.correct(kit.meta(ON), fact=F.ACTIVATED_ON, value=D("2025-02-10"),
                context=context(kit, world))
    assert_refused(duo, lambda: contact(kit, duo, "2025-02-09"), 7, "occurred_on")
    contact(kit, duo, "2025-02-10")


def test_a_retracted_contact_does_not_hold_the_active_period(kit: Any) -> None:
    world = kit.world()
    duo = kit.duo(DuoState.ACTIVE, world=world)
    contact(kit, duo, "2025-02-06")
    duo.retract_contact(kit.meta("2025-02-07"), contact_id="K-1",
                        reason=RetractReason.DID_NOT_HAPPEN)
    duo.correct(kit.meta(ON), fact=F.ACTIVATED_ON, value=D("2025-02-08"),
                context=context(kit, world))
    assert duo.activated_on == D("2025-02-08")


# ---------------------------------------------------------------------- refused
Setup = Callable[[Any, Any], tuple[Duo, CorrectionContext]]


def _duo(state: DuoState, **policy: Any) -> Setup:
    def setup(kit: Any, _: Any) -> tuple[Duo, CorrectionContext]:
        world = kit.world(**policy)
        return kit.duo(state, world=world), context(kit, world)
    return setup


def _closed_from(state: DuoState) -> Setup:
    def setup(kit: Any, _: Any) -> tuple[Duo, CorrectionContext]:
        world = kit.world()
        duo = kit.duo(state, world=world)
        duo.close(kit.meta("2025-02-10"), reason=CloseReason.OTHER)
        return duo, context(kit, world)
    return setup


def _with(state: DuoState, action: Callable[[Any, Duo], None]) -> Setup:
    def setup(kit: Any, _: Any) -> tuple[Duo, CorrectionContext]:
        world = kit.world()
        duo = kit.duo(state, world=world)
        action(kit, duo)
        return duo, context(kit, world)
    return setup


def _late_mentor(*, registered: str, trained: str | None, require_trained: bool = True,
                 deregistered: str | None = None) -> Setup:
    """A duo recruited 2025-01-02 and selected 01-03, matched on 2025-02-10 with a mentor
    registered, trained and deregistered on the given dates."""
    def setup(kit: Any, _: Any) -> tuple[Duo, CorrectionContext]:
        programme = kit.programme(require_trained_mentor=require_trained)
        site = kit.site(programme)
        mentor = kit.mentor(programme, site, on=registered, trained_on=trained)
        duo = kit.duo(DuoState.SELECTED, start="2025-01-02", world=(programme, site, mentor))
        duo.match(kit.meta("2025-02-10"), mentor=mentor, mentor_kind=MentorKind.PEER,
                  programme=programme)
        if deregistered is not None:
            mentor.deregister(kit.meta(deregistered), DeregistrationReason.LEFT_SERVICE)
        return duo, CorrectionContext(programme=programme, mentor=mentor)
    return setup


def _rematched(kit: Any, _: Any) -> tuple[Duo, CorrectionContext]:
    """The predecessor (closed 02-05 as rematched); its successor was recruited 02-08."""
    world = kit.world()
    first = kit.duo(DuoState.CLOSED, "D-1", world=world, close_reason=CloseReason.REMATCHED)
    second = kit.duo(DuoState.RECRUITED, "D-2", start="2025-02-08", world=world)
    return first, context(kit, world, successor=second)


def _successor(kit: Any, _: Any) -> tuple[Duo, CorrectionContext]:
    """The successor (recruited 02-08, selected 02-09) of a duo closed 02-05."""
    world = kit.world()
    first = kit.duo(DuoState.CLOSED, "D-1", world=world, close_reason=CloseReason.REMATCHED)
    second = kit.duo(DuoState.SELECTED, "D-2", start="2025-02-08", world=world)
    return second, context(kit, world, predecessor=first)


def _departed(kit: Any, _: Any) -> tuple[Duo, CorrectionContext]:
    """A recruited duo whose chain's departure was recorded on 2025-02-03."""
    world = kit.world()
    duo = kit.duo(DuoState.RECRUITED, world=world)
    return duo, context(kit, world, chain_departed_on=D("2025-02-03"))


REFUSALS: list[Any] = [
    # the duo has reached the step whose fact is corrected
    pytest.param(_duo(DuoState.MATCHED), F.ACTIVATED_ON, "2025-02-04", ON, "fact",
                 id="activated_on-of-a-duo-never-activated"),
    pytest.param(_duo(DuoState.ACTIVE), F.CLOSED_ON, "2025-02-10", ON, "fact",
                 id="closed_on-of-an-open-duo"),
    pytest.param(_duo(DuoState.ACTIVE), F.CLOSE_REASON, "completed", ON, "fact",
                 id="close_reason-of-an-open-duo"),
    pytest.param(_duo(DuoState.RECRUITED), F.SELECTED_ON, "2025-02-02", ON, "fact",
                 id="selected_on-of-a-duo-never-selected"),
    # the value differs from the current one
    pytest.param(_duo(DuoState.CLOSED), F.RECRUITED_ON, "2025-02-01", ON, "value",
                 id="same-date"),
    pytest.param(_duo(DuoState.CLOSED), F.CLOSE_REASON, "mentee_withdrew", ON, "value",
                 id="same-close-reason"),
    # lifecycle dates in order
    pytest.param(_duo(DuoState.CLOSED), F.SELECTED_ON, "2025-01-31", ON, "value",
                 id="selected-before-recruited"),
    pytest.param(_duo(DuoState.CLOSED), F.RECRUITED_ON, "2025-02-03", ON, "value",
                 id="recruited-after-selected"),
    pytest.param(_duo(DuoState.CLOSED), F.MATCHED_ON, "2025-02-05", ON, "value",
                 id="matched-after-activated"),
    pytest.param(_duo(DuoState.CLOSED), F.ACTIVATED_ON, "2025-02-06", ON, "value",
                 id="activated-after-closed"),
    pytest.param(_duo(DuoState.CLOSED), F.CLOSED_ON, "2025-02-03", ON, "value",
                 id="closed-before-activated"),
    pytest.param(_closed_from(DuoState.SELECTED), F.CLOSED_ON, "2025-02-01", ON, "value",
                 id="closed-before-selected-of-a-duo-closed-from-selected"),
    # none later than the correction's own date
    pytest.param(_duo(DuoState.CLOSED), F.CLOSED_ON, "2025-02-20", "2025-02-19", "value",
                 id="corrected-date-after-the-correction"),
    pytest.param(_duo(DuoState.CLOSED), F.RECRUITED_ON, "2025-01-20", "2025-02-04",
                 "occurred_on", id="correction-dated-before-the-duos-latest-date"),
    # recruited_on not before the programme's opening
    pytest.param(_duo(DuoState.RECRUITED), F.RECRUITED_ON, "2025-01-01", ON, "value",
                 id="recruited-before-the-programme-opened"),
    # matched_on: mentor registered, trained (when required), not deregistered
    pytest.param(_late_mentor(registered="2025-01-20", trained=None, require_trained=False),
                 F.MATCHED_ON, "2025-01-19", ON, "value",
                 id="matched-before-the-mentors-registration"),
    pytest.param(_late_mentor(registered="2025-01-03", trained="2025-01-25"),
                 F.MATCHED_ON, "2025-01-24", ON, "value",
                 id="matched-before-the-mentor-was-trained"),
    pytest.param(_late_mentor(registered="2025-01-03", trained="2025-01-08",
                              deregistered="2025-02-12"),
                 F.MATCHED_ON, "2025-02-12", ON, "value",
                 id="matched-on-the-day-the-mentor-left-the-pool"),
    # every counted contact within [activated_on, closed_on]
    pytest.param(_with(DuoState.ACTIVE, lambda kit, duo: contact(kit, duo, "2025-02-06")),
                 F.ACTIVATED_ON, "2025-02-07", ON, "value",
                 id="activation-after-a-counted-contact"),
    pytest.param(_with(DuoState.ACTIVE, lambda kit, duo: (
        contact(kit, duo, "2025-02-09"),
        duo.close(kit.meta("2025-02-10"), reason=CloseReason.OTHER))),
                 F.CLOSED_ON, "2025-02-08", ON, "value",
                 id="closure-before-a-counted-contact"),
    # no review after closed_on, no review or survey before recruited_on
    pytest.param(_with(DuoState.ACTIVE, lambda kit, duo: (
        duo.review(kit.meta("2025-02-09"), health=3),
        duo.close(kit.meta("2025-02-10"), reason=CloseReason.OTHER))),
                 F.CLOSED_ON, "2025-02-08", ON, "value", id="closure-before-a-review"),
    pytest.param(_with(DuoState.RECRUITED, lambda kit, duo: duo.review(
        kit.meta("2025-02-01"), health=3)),
                 F.RECRUITED_ON, "2025-02-02", ON, "value", id="recruitment-after-a-review"),
    pytest.param(_with(DuoState.RECRUITED, lambda kit, duo: duo.record_survey(
        kit.meta("2025-02-01"), respondent=Respondent.MENTEE, phase=Phase.PRE,
        scores=Scores(wellbeing=3, stress=3, integration=3, confidence=3))),
                 F.RECRUITED_ON, "2025-02-02", ON, "value", id="recruitment-after-a-survey"),
    # completed only for a duo closed from active
    pytest.param(_closed_from(DuoState.MATCHED), F.CLOSE_REASON, "completed", ON, "value",
                 id="completed-for-a-duo-never-active"),
    pytest.param(_closed_from(DuoState.RECRUITED), F.CLOSE_REASON, "completed", ON, "value",
                 id="completed-for-a-duo-closed-from-recruited"),
    # the chain (rules 12 and 17)
    pytest.param(_rematched, F.CLOSE_REASON, "other", ON, "fact",
                 id="close_reason-of-a-predecessor"),
    pytest.param(_rematched, F.CLOSED_ON, "2025-02-09", ON, "value",
                 id="predecessor-closed-after-its-successors-recruitment"),
    pytest.param(_successor, F.RECRUITED_ON, "2025-02-04", ON, "value",
                 id="successor-recruited-before-its-predecessor-closed"),
    pytest.param(_departed, F.RECRUITED_ON, "2025-02-04", ON, "value",
                 id="first-recruitment-after-the-chains-departure"),
]


@pytest.mark.parametrize(("setup", "fact", "value", "on", "field"), REFUSALS)
def test_rule_15_refuses_a_correction_naming_the_field_and_changes_nothing(
        kit: Any, setup: Setup, fact: F, value: str, on: str, field: str) -> None:
    duo, ctx = setup(kit, None)
    duo.collect_events()
    assert_refused(duo, lambda: duo.correct(kit.meta(on), fact=fact,
                                            value=value_of(fact, value), context=ctx),
                   15, field)


@pytest.mark.parametrize(("fact", "value"), [
    (F.CLOSED_ON, "2025-02-08"), (F.ACTIVATED_ON, "2025-02-05")])
def test_the_edges_of_the_rules_are_accepted(kit: Any, fact: F, value: str) -> None:
    """A predecessor may close on its successor's recruitment day; a duo may be
    activated on the day of a contact."""
    world = kit.world()
    first = kit.duo(DuoState.CLOSED, "D-1", world=world, close_reason=CloseReason.REMATCHED)
    duo = kit.duo(DuoState.ACTIVE, "D-3", world=world)
    contact(kit, duo, "2025-02-05")
    second = kit.duo(DuoState.RECRUITED, "D-2", start="2025-02-08", world=world)
    if fact is F.CLOSED_ON:
        first.correct(kit.meta(ON), fact=fact, value=D("2025-02-08"),
                      context=context(kit, world, successor=second))
        assert first.closed_on == D("2025-02-08")
    else:
        duo.correct(kit.meta(ON), fact=fact, value=D(value), context=context(kit, world))
        assert duo.activated_on == D(value)


def test_the_matched_mentors_dates_are_checked_only_when_matched_on_changes(
        kit: Any) -> None:
    """A mentor deregistered after the match does not block other corrections."""
    duo, ctx = _late_mentor(registered="2025-01-03", trained="2025-01-08",
                            deregistered="2025-02-12")(kit, None)
    duo.correct(kit.meta(ON), fact=F.RECRUITED_ON, value=D("2025-01-03"), context=ctx)
    assert duo.recruited_on == D("2025-01-03")


@pytest.mark.parametrize(("fact", "text"), [
    (F.CLOSED_ON, "completed"), (F.CLOSE_REASON, "2025-02-01"), (F.MATCHED_ON, "2025-2-1"),
    (F.MATCHED_ON, "2025-02-30")])
def test_a_fact_value_of_the_wrong_kind_is_refused(fact: F, text: str) -> None:
    with pytest.raises(ValueError):
        fact_value(fact, text)
