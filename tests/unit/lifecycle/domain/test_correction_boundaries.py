"""Rule 15 at its edges, and what each refusal tells the user (found by mutation
testing, docs/mutation.md): a correction onto the very day a rule allows is accepted,
and every refusal's message names the dates and ids at fault, written out by hand.

The duos of ``test_correction``'s setups: recruited on 2025-02-01 and one step a day
(selected 02-02, matched 02-03, activated 02-04, closed 02-05 from ``active``) unless a
setup says otherwise; programme 'P-1' opened on 2025-01-02, mentor 'M-1'.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from tests.unit.lifecycle.domain.test_correction import (
    ON,
    REFUSALS,
    Setup,
    _late_mentor,
    contact,
    context,
    value_of,
)

from lifecycle.domain.correction import CorrectionContext, check_correction, fact_value
from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import CorrectionInvalid, DomainError
from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import (
    CloseReason,
    CorrectableFact,
    MentorKind,
    Phase,
    Respondent,
    Scores,
)

D = date.fromisoformat
F = CorrectableFact

# The whole message of each refusal of test_correction.REFUSALS, by its id.
MESSAGES: dict[str, str] = {
    "activated_on-of-a-duo-never-activated":
        "duo 'D-1' has no activated_on to correct (it is 'matched')",
    "closed_on-of-an-open-duo": "duo 'D-1' has no closed_on to correct (it is 'active')",
    "close_reason-of-an-open-duo":
        "duo 'D-1' has no close_reason to correct (it is 'active')",
    "selected_on-of-a-duo-never-selected":
        "duo 'D-1' has no selected_on to correct (it is 'recruited')",
    "same-date": "recruited_on of duo 'D-1' is 2025-02-01 already",
    "same-close-reason": "close_reason of duo 'D-1' is mentee_withdrew already",
    "selected-before-recruited":
        "with selected_on 2025-01-31, recruited_on (2025-02-01) would be after "
        "selected_on (2025-01-31)",
    "recruited-after-selected":
        "with recruited_on 2025-02-03, recruited_on (2025-02-03) would be after "
        "selected_on (2025-02-02)",
    "matched-after-activated":
        "with matched_on 2025-02-05, matched_on (2025-02-05) would be after "
        "activated_on (2025-02-04)",
    "activated-after-closed":
        "with activated_on 2025-02-06, activated_on (2025-02-06) would be after "
        "closed_on (2025-02-05)",
    "closed-before-activated":
        "with closed_on 2025-02-03, activated_on (2025-02-04) would be after "
        "closed_on (2025-02-03)",
    "closed-before-selected-of-a-duo-closed-from-selected":
        "with closed_on 2025-02-01, selected_on (2025-02-02) would be after "
        "closed_on (2025-02-01)",
    "corrected-date-after-the-correction":
        "closed_on 2025-02-20 would be later than the correction itself (2025-02-19)",
    "correction-dated-before-the-duos-latest-date":
        "closed_on 2025-02-05 would be later than the correction itself (2025-02-04)",
    "recruited-before-the-programme-opened":
        "recruited_on 2025-01-01 would be before programme 'P-1' opened on 2025-01-02",
    "matched-before-the-mentors-registration":
        "matched_on 2025-01-19 would be before mentor 'M-1' was registered on 2025-01-20",
    "matched-before-the-mentor-was-trained":
        "matched_on 2025-01-24 would be before mentor 'M-1' was trained (2025-01-25)",
    "matched-on-the-day-the-mentor-left-the-pool":
        "matched_on 2025-02-12 would be on or after mentor 'M-1' left the pool "
        "(2025-02-12)",
    "activation-after-a-counted-contact":
        "with activated_on 2025-02-07, a counted contact (dated 2025-02-06 to "
        "2025-02-06) would lie outside the active period",
    "closure-before-a-counted-contact":
        "with closed_on 2025-02-08, a counted contact (dated 2025-02-09 to "
        "2025-02-09) would lie outside the active period",
    "closure-before-a-review": "closed_on 2025-02-08 would be before the review of 2025-02-09",
    "recruitment-after-a-review":
        "recruited_on 2025-02-02 would be after a review or survey of 2025-02-01",
    "recruitment-after-a-survey":
        "recruited_on 2025-02-02 would be after a review or survey of 2025-02-01",
    "completed-for-a-duo-never-active":
        "duo 'D-1' was closed from 'matched': only a duo closed from 'active' can be "
        "'completed'",
    "completed-for-a-duo-closed-from-recruited":
        "duo 'D-1' was closed from 'recruited': only a duo closed from 'active' can be "
        "'completed'",
    "close_reason-of-a-predecessor":
        "the close reason of duo 'D-1' cannot change: it is the predecessor of duo 'D-2'",
    "predecessor-closed-after-its-successors-recruitment":
        "closed_on 2025-02-09 would be after its successor 'D-2' was recruited on "
        "2025-02-08",
    "successor-recruited-before-its-predecessor-closed":
        "recruited_on 2025-02-04 would be before its predecessor 'D-1' closed on "
        "2025-02-05",
    "first-recruitment-after-the-chains-departure":
        "recruited_on 2025-02-04 would be after the chain's departure from the service "
        "on 2025-02-03",
}


def test_every_refusal_has_its_message_written_here() -> None:
    assert sorted(MESSAGES) == sorted(p.id for p in REFUSALS)


@pytest.mark.parametrize(("setup", "fact", "value", "on", "field"), REFUSALS)
def test_each_refusal_names_the_dates_and_ids_at_fault(
        kit: Any, request: pytest.FixtureRequest, setup: Setup, fact: F, value: str, on: str,
        field: str) -> None:
    duo, ctx = setup(kit, None)
    with pytest.raises(CorrectionInvalid) as raised:
        duo.correct(kit.meta(on), fact=fact, value=value_of(fact, value), context=ctx)
    case = request.node.callspec.id
    assert (raised.value.field, raised.value.message) == (field, MESSAGES[case])


def test_an_untrained_mentor_is_named_as_never_trained(kit: Any) -> None:
    """Matched where training was not required; corrected under a policy that requires
    it (the message cannot show a training date)."""
    duo, ctx = _late_mentor(registered="2025-01-03", trained=None,
                            require_trained=False)(kit, None)
    strict = CorrectionContext(programme=kit.programme(require_trained_mentor=True),
                               mentor=ctx.mentor)
    with pytest.raises(CorrectionInvalid) as raised:
        check_correction(duo, D(ON), F.MATCHED_ON, D("2025-02-09"), strict)
    assert raised.value.message == (
        "matched_on 2025-02-09 would be before mentor 'M-1' was trained (never)")


def test_a_matched_on_correction_without_the_mentor_is_a_programming_error(
        kit: Any) -> None:
    world = programme, _, _ = kit.world()
    duo = kit.duo(DuoState.MATCHED, world=world)
    with pytest.raises(ValueError) as raised:
        check_correction(duo, D(ON), F.MATCHED_ON, D("2025-02-02"),
                         CorrectionContext(programme=programme))
    assert not isinstance(raised.value, DomainError)
    assert str(raised.value) == "the correction of matched_on needs the duo's mentor"


def test_check_correction_returns_the_value_it_replaces(kit: Any) -> None:
    world = kit.world()
    duo = kit.duo(DuoState.CLOSED, world=world)
    assert check_correction(duo, D(ON), F.CLOSED_ON, D("2025-02-06"),
                            context(kit, world)) == D("2025-02-05")
    assert check_correction(duo, D(ON), F.CLOSE_REASON, CloseReason.COMPLETED,
                            context(kit, world)) is CloseReason.MENTEE_WITHDREW


# ---------------------------------------------------------------------- the edges
def _accepted(duo: Any, kit: Any, fact: F, value: str, ctx: CorrectionContext,
              on: str = ON) -> None:
    duo.correct(kit.meta(on), fact=fact, value=D(value), context=ctx)
    assert getattr(duo, fact.value) == D(value)


@pytest.mark.parametrize(("registered", "trained", "deregistered", "value"), [
    ("2025-01-20", "2025-01-20", None, "2025-01-20"),  # the registration day
    ("2025-01-03", "2025-01-25", None, "2025-01-25"),  # the day training was completed
    ("2025-01-03", "2025-01-08", "2025-02-12", "2025-02-11"),  # the day before leaving
], ids=["registration-day", "training-day", "day-before-leaving-the-pool"])
def test_matched_on_may_move_to_the_first_or_last_day_the_mentor_allows(
        kit: Any, registered: str, trained: str, deregistered: str | None,
        value: str) -> None:
    duo, ctx = _late_mentor(registered=registered, trained=trained,
                            deregistered=deregistered)(kit, None)
    _accepted(duo, kit, F.MATCHED_ON, value, ctx)


def test_recruited_on_may_move_to_the_programmes_opening_day(kit: Any) -> None:
    world = kit.world()
    _accepted(kit.duo(DuoState.CLOSED, world=world), kit, F.RECRUITED_ON, "2025-01-02",
              context(kit, world))


def test_a_date_may_move_to_the_correction_day_itself(kit: Any) -> None:
    world = kit.world()
    _accepted(kit.duo(DuoState.CLOSED, world=world), kit, F.CLOSED_ON, ON,
              context(kit, world))


def test_two_lifecycle_dates_may_fall_on_one_day(kit: Any) -> None:
    world = kit.world()
    _accepted(kit.duo(DuoState.CLOSED, world=world), kit, F.ACTIVATED_ON, "2025-02-05",
              context(kit, world))


def test_closed_on_may_move_to_the_day_of_the_last_contact_or_review(kit: Any) -> None:
    world = kit.world()
    duo = kit.duo(DuoState.ACTIVE, world=world)
    contact(kit, duo, "2025-02-07")
    duo.review(kit.meta("2025-02-07"), health=3)
    duo.close(kit.meta("2025-02-10"), reason=CloseReason.OTHER)
    _accepted(duo, kit, F.CLOSED_ON, "2025-02-07", context(kit, world))


def test_a_later_date_moved_past_a_review_is_not_taken_for_the_recruitment(kit: Any) -> None:
    # Recruited 02-01, reviewed 02-07, closed 02-10 and then moved to 02-12: the
    # review is after the recruitment, which has not moved.
    world = kit.world()
    duo = kit.duo(DuoState.ACTIVE, world=world)
    duo.review(kit.meta("2025-02-07"), health=3)
    duo.close(kit.meta("2025-02-10"), reason=CloseReason.OTHER)
    _accepted(duo, kit, F.CLOSED_ON, "2025-02-12", context(kit, world))


@pytest.mark.parametrize("first", ["review", "survey"])
def test_recruited_on_may_move_to_the_day_of_the_first_review_or_survey(
        kit: Any, first: str) -> None:
    world = kit.world()
    duo = kit.duo(DuoState.RECRUITED, world=world)
    if first == "review":
        duo.review(kit.meta("2025-02-03"), health=3)
    else:
        duo.record_survey(kit.meta("2025-02-03"), respondent=Respondent.MENTEE,
                          phase=Phase.PRE,
                          scores=Scores(wellbeing=3, stress=3, integration=3, confidence=3))
    _accepted(duo, kit, F.RECRUITED_ON, "2025-02-03", context(kit, world))


def test_a_successor_may_move_its_recruitment_to_its_predecessors_closing_day(
        kit: Any) -> None:
    world = kit.world()
    first = kit.duo(DuoState.CLOSED, "D-1", world=world, close_reason=CloseReason.REMATCHED)
    second = kit.duo(DuoState.SELECTED, "D-2", start="2025-02-08", world=world)
    _accepted(second, kit, F.RECRUITED_ON, "2025-02-05",
              context(kit, world, predecessor=first))


def test_a_first_recruitment_may_move_to_the_chains_departure_day(kit: Any) -> None:
    world = kit.world()
    duo = kit.duo(DuoState.RECRUITED, world=world)
    _accepted(duo, kit, F.RECRUITED_ON, "2025-02-03",
              context(kit, world, chain_departed_on=D("2025-02-03")))


def test_a_later_duo_of_a_chain_is_not_held_by_the_chains_departure(kit: Any) -> None:
    """Rule 17 bounds the chain's first recruitment only."""
    world = kit.world()
    first = kit.duo(DuoState.CLOSED, "D-1", world=world, close_reason=CloseReason.REMATCHED)
    programme, site, _ = world
    second = Duo.recruit(kit.meta("2025-02-08"), "D-2", programme=programme, site=site,
                         mentee_id="E-1", newcomer_kind="transferred", department="wing-A",
                         shifts=("early",), predecessor=first)
    second.collect_events()
    _accepted(second, kit, F.RECRUITED_ON, "2025-02-09",
              context(kit, world, predecessor=first, chain_departed_on=D("2025-02-08")))


def test_a_close_reason_other_than_completed_needs_no_active_period(kit: Any) -> None:
    world = kit.world()
    duo = kit.duo(DuoState.MATCHED, world=world)
    duo.close(kit.meta("2025-02-10"), reason=CloseReason.OTHER)
    duo.correct(kit.meta(ON), fact=F.CLOSE_REASON, value=CloseReason.MENTEE_WITHDREW,
                context=context(kit, world))
    assert duo.close_reason is CloseReason.MENTEE_WITHDREW
    assert duo.state is DuoState.CLOSED


def test_a_mentor_of_another_kind_does_not_matter_to_a_correction(kit: Any) -> None:
    """Only the mentor's dates are checked again, not the match's other rules."""
    programme = kit.programme(require_trained_mentor=False)
    site = kit.site(programme)
    mentor = kit.mentor(programme, site, trained_on=None)
    duo = kit.duo(DuoState.SELECTED, world=(programme, site, mentor))
    duo.match(kit.meta("2025-02-10"), mentor=mentor, mentor_kind=MentorKind.PEER,
              programme=programme)
    _accepted(duo, kit, F.MATCHED_ON, "2025-02-09",
              CorrectionContext(programme=programme, mentor=mentor))


def test_a_date_not_written_exactly_is_refused_naming_its_fact() -> None:
    # What a stored Corrected event with such a value tells when it is read back.
    with pytest.raises(ValueError) as refused:
        fact_value(F.MATCHED_ON, "2025-2-3")
    assert str(refused.value) == "matched_on must be a date written exactly YYYY-MM-DD"
