"""The duo aggregate (``lifecycle.domain.duo``): the rules of CONTRACT §2 it checks itself,
the two booleans ``match`` computes, and that a refused command changes nothing.

Duos built by the ``kit`` fixture are recruited on 2025-02-01 and move on one step a day
(selected 02-02, matched 02-03, activated 02-04, closed 02-05); the mentor was registered
on 2025-01-03 and trained on 2025-01-08.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import DomainError
from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import (
    CloseReason,
    ContactMode,
    Function,
    InitiatedBy,
    MentorKind,
    Phase,
    Respondent,
    RetractReason,
    Scores,
)

D = date.fromisoformat
SCORES = Scores(wellbeing=3, stress=2, integration=4, confidence=5)


def snapshot(duo: Duo) -> dict[str, Any]:
    state = copy.deepcopy(vars(duo))
    state["contacts"] = {k: (c.occurred_on, c.retracted) for k, c in duo.contacts.items()}
    return state


def assert_refused(duo: Duo, action: Callable[[], None], rule: int, field: str,
                   *says: str) -> None:
    """``action`` raises the rule's error naming ``field`` (its message saying each of
    ``says``) and leaves ``duo`` untouched."""
    before = snapshot(duo)
    pending = len(duo.pending_events)
    with pytest.raises(DomainError) as raised:
        action()
    assert (raised.value.rule, raised.value.field) == (rule, field), str(raised.value)
    for words in says:
        assert words in raised.value.message, (words, raised.value.message)
    assert len(duo.pending_events) == pending
    assert snapshot(duo) == before


def contact(kit: Any, duo: Duo, on: str, contact_id: str = "K-1") -> None:
    duo.log_contact(kit.meta(on), contact_id=contact_id, minutes=30, mode=ContactMode.PHONE,
                    functions=(Function.CAREER,))


# ---------------------------------------------------------------------- recruit and replay
def test_recruit_opens_a_duo_in_recruited_with_its_fields(kit: Any) -> None:
    duo = kit.duo(DuoState.RECRUITED, "D-7", mentee_id="E-7")
    assert (duo.contract_id, duo.id, duo.version) == ("D-7", "duo:D-7", 1)
    assert duo.state is DuoState.RECRUITED
    assert (duo.mentee_id, duo.programme_id, duo.site_id) == ("E-7", "P-1", "S-1")
    assert duo.recruited_on == D("2025-02-01")
    assert duo.mentor_id is None and duo.predecessor_duo_id is None


def test_replaying_a_duos_events_rebuilds_the_same_duo(kit: Any) -> None:
    programme, site, mentor = kit.world()
    duo = Duo.recruit(kit.meta("2025-02-01"), "D-9", programme=programme, site=site,
                      mentee_id="E-9", newcomer_kind="transferred", department="wing-A",
                      shifts=("early",))
    duo.record_survey(kit.meta("2025-02-01"), respondent=Respondent.MENTEE,
                      phase=Phase.PRE, scores=SCORES)
    duo.select(kit.meta("2025-02-02"), consent=True)
    duo.match(kit.meta("2025-02-03"), mentor=mentor, mentor_kind=MentorKind.SUPERVISOR,
              programme=programme)
    duo.activate(kit.meta("2025-02-04"))
    contact(kit, duo, "2025-02-05", "K-1")
    contact(kit, duo, "2025-02-06", "K-2")
    duo.retract_contact(kit.meta("2025-02-07"), contact_id="K-2",
                        reason=RetractReason.WRONG_DUO)
    duo.review(kit.meta("2025-02-08"), health=2)
    duo.close(kit.meta("2025-02-09"), reason=CloseReason.COMPLETED)
    events = duo.collect_events()
    assert [e.originator_version for e in events] == list(range(1, 11))

    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Duo)
    assert snapshot(replayed) == snapshot(duo)
    assert replayed.closed_from is DuoState.ACTIVE
    assert {k: c.retracted for k, c in replayed.contacts.items()} == {"K-1": False,
                                                                       "K-2": True}


def test_events_are_immutable(kit: Any) -> None:
    duo = kit.duo(DuoState.RECRUITED)
    duo.select(kit.meta("2025-02-02"), consent=True)
    [event] = duo.pending_events
    with pytest.raises(ValidationError, match="frozen"):
        event.consent = False  # type: ignore[misc]


# ---------------------------------------------------------------------- match (rules 3, 5, 11)
@pytest.mark.parametrize(
    ("duo_shifts", "mentor_shifts", "duo_department", "mentor_department", "overlap", "same"),
    [
        (("early", "late"), ("late",), "wing-A", "wing-A", True, True),
        (("early",), ("late", "night"), "wing-A", "wing-A", False, True),
        (("early",), ("early",), "wing-A", "wing-a", True, False),
        ((), ("early",), "wing-A", "reception", False, False),
        (("early",), (), "x", "x", False, True),
        ((), (), "x", "y", False, False),
    ],
)
def test_match_computes_shift_overlap_and_same_department(
        kit: Any, duo_shifts: tuple[str, ...], mentor_shifts: tuple[str, ...],
        duo_department: str, mentor_department: str, overlap: bool, same: bool) -> None:
    programme = kit.programme()
    site = kit.site(programme)
    mentor = kit.mentor(programme, site, department=mentor_department, shifts=mentor_shifts)
    duo = kit.duo(DuoState.SELECTED, world=(programme, site, mentor),
                  department=duo_department, shifts=duo_shifts)
    duo.match(kit.meta("2025-02-03"), mentor=mentor, mentor_kind=MentorKind.PEER,
              programme=programme)
    [event] = duo.pending_events
    assert (event.shift_overlap, event.same_department) == (overlap, same)
    assert (duo.mentor_id, duo.matched_on) == ("M-1", D("2025-02-03"))


def test_match_refuses_a_mentor_of_another_programme(kit: Any) -> None:
    programme, _, _ = world = kit.world()
    other = kit.programme("P-2")
    stranger = kit.mentor(other, kit.site(other, "S-2"), "M-9")
    duo = kit.duo(DuoState.SELECTED, world=world)
    assert_refused(duo, lambda: duo.match(kit.meta("2025-02-03"), mentor=stranger,
                                          mentor_kind=MentorKind.PEER, programme=programme),
                   3, "mentor_id", "mentor 'M-9' belongs to programme 'P-2'",
                   "duo 'D-1' to 'P-1'")


def test_match_refuses_a_mentor_at_another_site_of_the_programme(kit: Any) -> None:
    programme, _, _ = world = kit.world()
    elsewhere = kit.mentor(programme, kit.site(programme, "S-2"), "M-2")
    duo = kit.duo(DuoState.SELECTED, world=world)
    assert_refused(duo, lambda: duo.match(kit.meta("2025-02-03"), mentor=elsewhere,
                                          mentor_kind=MentorKind.PEER, programme=programme),
                   3, "mentor_id", "mentor 'M-2' is at site 'S-2'", "duo 'D-1' at 'S-1'")


def test_match_refuses_a_date_before_the_mentors_registration(kit: Any) -> None:
    programme, site, _ = world = kit.world()
    late = kit.mentor(programme, site, "M-L", on="2025-03-01", trained_on="2025-03-01")
    duo = kit.duo(DuoState.SELECTED, world=world)
    assert_refused(duo, lambda: duo.match(kit.meta("2025-02-28"), mentor=late,
                                          mentor_kind=MentorKind.PEER, programme=programme),
                   5, "occurred_on",
                   "match on 2025-02-28 is before mentor 'M-L' was registered on 2025-03-01")
    duo.match(kit.meta("2025-03-01"), mentor=late, mentor_kind=MentorKind.PEER,
              programme=programme)
    assert duo.state is DuoState.MATCHED


def test_match_refuses_a_mentor_kind_outside_the_policy(kit: Any) -> None:
    world = kit.world(mentor_kinds=("peer",))
    programme, _, mentor = world
    duo = kit.duo(DuoState.SELECTED, world=world)
    assert_refused(duo, lambda: duo.match(kit.meta("2025-02-03"), mentor=mentor,
                                          mentor_kind=MentorKind.SUPERVISOR,
                                          programme=programme),
                   11, "mentor_kind", "'supervisor' is not allowed by programme 'P-1'",
                   "(allowed: peer)")


@pytest.mark.parametrize(("trained_on", "accepted"), [
    ("2025-02-02", True), ("2025-02-03", True), ("2025-02-04", False), (None, False)])
def test_match_needs_a_mentor_trained_on_or_before_the_match_date(
        kit: Any, trained_on: str | None, accepted: bool) -> None:
    programme = kit.programme()
    site = kit.site(programme)
    mentor = kit.mentor(programme, site, trained_on=trained_on)
    duo = kit.duo(DuoState.SELECTED, world=(programme, site, mentor))

    def match() -> None:
        duo.match(kit.meta("2025-02-03"), mentor=mentor, mentor_kind=MentorKind.PEER,
                  programme=programme)

    if accepted:
        match()
        assert duo.state is DuoState.MATCHED
    else:
        assert_refused(duo, match, 11, "mentor_id")


def test_match_accepts_an_untrained_mentor_when_the_policy_does_not_require_training(
        kit: Any) -> None:
    programme = kit.programme(require_trained_mentor=False)
    site = kit.site(programme)
    mentor = kit.mentor(programme, site, trained_on=None)
    duo = kit.duo(DuoState.SELECTED, world=(programme, site, mentor))
    duo.match(kit.meta("2025-02-03"), mentor=mentor, mentor_kind=MentorKind.PEER,
              programme=programme)
    assert duo.state is DuoState.MATCHED


def test_a_mentor_may_be_matched_to_several_duos(kit: Any) -> None:
    programme, _, mentor = world = kit.world()
    first = kit.duo(DuoState.MATCHED, "D-1", world=world)
    second = kit.duo(DuoState.SELECTED, "D-2", world=world, mentee_id="E-2")
    second.match(kit.meta("2025-02-03"), mentor=mentor, mentor_kind=MentorKind.PEER,
                 programme=programme)
    assert first.mentor_id == second.mentor_id == "M-1"


# ---------------------------------------------------------------------- rule 6
@pytest.mark.parametrize(("state", "trigger"), [
    (DuoState.RECRUITED, "select"), (DuoState.SELECTED, "match"),
    (DuoState.MATCHED, "activate"), (DuoState.RECRUITED, "close"),
    (DuoState.SELECTED, "close"), (DuoState.MATCHED, "close"), (DuoState.ACTIVE, "close")])
def test_lifecycle_step_before_the_latest_lifecycle_date_is_refused_same_day_is_not(
        kit: Any, state: DuoState, trigger: str) -> None:
    programme, _, mentor = world = kit.world()
    duo = kit.duo(state, world=world)
    # Written out, not read from the duo: recruited 02-01 and one step a day after that.
    latest = {DuoState.RECRUITED: D("2025-02-01"), DuoState.SELECTED: D("2025-02-02"),
              DuoState.MATCHED: D("2025-02-03"), DuoState.ACTIVE: D("2025-02-04")}[state]
    assert duo.latest_lifecycle_date == latest

    def fire(on: date) -> Callable[[], None]:
        meta = kit.meta(on)
        return {
            "select": lambda: duo.select(meta, consent=True),
            "match": lambda: duo.match(meta, mentor=mentor, mentor_kind=MentorKind.PEER,
                                       programme=programme),
            "activate": lambda: duo.activate(meta),
            "close": lambda: duo.close(meta, reason=CloseReason.OTHER),
        }[trigger]

    day_before = date.fromordinal(latest.toordinal() - 1)
    assert_refused(duo, fire(day_before), 6, "occurred_on",
                   f"{trigger} on {day_before} is before the duo's latest lifecycle date "
                   f"({latest})")
    fire(latest)()
    assert duo.state is not state


def test_close_before_the_latest_counted_contact_is_refused(kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    contact(kit, duo, "2025-02-10", "K-1")
    contact(kit, duo, "2025-02-20", "K-2")
    assert_refused(duo, lambda: duo.close(kit.meta("2025-02-19"), reason=CloseReason.OTHER),
                   6, "occurred_on", "close on 2025-02-19 is before the duo's latest contact "
                   "(2025-02-20)")
    duo.close(kit.meta("2025-02-20"), reason=CloseReason.OTHER)
    assert duo.closed_on == D("2025-02-20")


def test_close_ignores_contacts_retracted_before_it(kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    contact(kit, duo, "2025-02-10", "K-1")
    contact(kit, duo, "2025-02-20", "K-2")
    duo.retract_contact(kit.meta("2025-02-21"), contact_id="K-2",
                        reason=RetractReason.DID_NOT_HAPPEN)
    duo.close(kit.meta("2025-02-15"), reason=CloseReason.MISMATCH)
    assert (duo.state, duo.closed_on) == (DuoState.CLOSED, D("2025-02-15"))


# ---------------------------------------------------------------------- close (rule 4)
@pytest.mark.parametrize("state", [DuoState.RECRUITED, DuoState.SELECTED, DuoState.MATCHED])
def test_completed_is_refused_from_every_state_but_active(kit: Any, state: DuoState) -> None:
    duo = kit.duo(state)
    assert_refused(duo, lambda: duo.close(kit.meta("2025-03-01"),
                                          reason=CloseReason.COMPLETED), 4, "reason",
                   "'completed' only from 'active', it is " f"'{state.value}'")


@pytest.mark.parametrize("reason", list(CloseReason), ids=lambda r: r.value)
def test_active_duo_closes_with_every_reason_remembering_where_it_closed_from(
        kit: Any, reason: CloseReason) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    duo.close(kit.meta("2025-03-01"), reason=reason)
    assert (duo.state, duo.close_reason, duo.closed_from) == (
        DuoState.CLOSED, reason, DuoState.ACTIVE)
    [event] = duo.pending_events
    assert (event.initiated_by, event.exit_interview) == (None, False)


def test_close_keeps_who_initiated_it_and_whether_an_exit_interview_was_held(
        kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    duo.close(kit.meta("2025-03-01"), reason=CloseReason.MENTOR_LEFT_SERVICE,
              initiated_by=InitiatedBy.COORDINATOR, exit_interview=True)
    [event] = duo.pending_events
    assert (event.reason, event.initiated_by, event.exit_interview) == (
        CloseReason.MENTOR_LEFT_SERVICE, InitiatedBy.COORDINATOR, True)


def test_an_active_duo_refuses_a_close_dated_between_its_match_and_its_activation(
        kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)  # matched 2025-02-03, activated 2025-02-04
    assert_refused(duo, lambda: duo.close(kit.meta("2025-02-03"), reason=CloseReason.OTHER),
                   6, "occurred_on")


# ---------------------------------------------------------------------- log_contact (rule 7)
@pytest.mark.parametrize("state", [DuoState.RECRUITED, DuoState.SELECTED, DuoState.MATCHED])
def test_contact_of_a_duo_never_activated_is_refused(kit: Any, state: DuoState) -> None:
    duo = kit.duo(state)
    assert_refused(duo, lambda: contact(kit, duo, "2025-02-10"), 7, "occurred_on",
                   "contact on 2025-02-10 but duo 'D-1' was never activated")


def test_contact_of_a_duo_closed_before_activation_is_refused(kit: Any) -> None:
    duo = kit.duo(DuoState.MATCHED)
    duo.close(kit.meta("2025-02-10"), reason=CloseReason.NO_MENTOR_AVAILABLE)
    duo.collect_events()
    assert_refused(duo, lambda: contact(kit, duo, "2025-02-05"), 7, "occurred_on",
                   "duo 'D-1' was never activated")


@pytest.mark.parametrize(("on", "accepted"), [
    ("2025-02-03", False), ("2025-02-04", True), ("2025-02-20", True)])
def test_contact_must_not_precede_the_activation(kit: Any, on: str, accepted: bool) -> None:
    duo = kit.duo(DuoState.ACTIVE)  # activated 2025-02-04
    if accepted:
        contact(kit, duo, on)
        assert duo.contacts["K-1"].occurred_on == D(on)
    else:
        assert_refused(duo, lambda: contact(kit, duo, on), 7, "occurred_on",
                       f"contact on {on} but duo 'D-1' was activated on 2025-02-04")


@pytest.mark.parametrize(("on", "accepted"), [
    ("2025-02-04", True), ("2025-02-05", True), ("2025-02-06", False)])
def test_late_entry_after_closure_is_accepted_within_the_active_period_only(
        kit: Any, on: str, accepted: bool) -> None:
    duo = kit.duo(DuoState.CLOSED)  # activated 2025-02-04, closed 2025-02-05
    if accepted:
        contact(kit, duo, on)
        assert "K-1" in duo.contacts
    else:
        assert_refused(duo, lambda: contact(kit, duo, on), 7, "occurred_on",
                       f"contact on {on} but duo 'D-1' closed on 2025-02-05")


def test_contact_id_is_never_reused_in_a_duo_even_after_retraction(kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    contact(kit, duo, "2025-02-10", "K-1")
    assert_refused(duo, lambda: contact(kit, duo, "2025-02-11", "K-1"), 7, "contact_id",
                   "contact_id 'K-1' was already used in duo 'D-1'")
    duo.retract_contact(kit.meta("2025-02-12"), contact_id="K-1",
                        reason=RetractReason.DUPLICATE)
    duo.collect_events()
    assert_refused(duo, lambda: contact(kit, duo, "2025-02-13", "K-1"), 7, "contact_id")


def test_the_same_contact_id_may_be_used_in_another_duo(kit: Any) -> None:
    world = kit.world()
    first = kit.duo(DuoState.ACTIVE, "D-1", world=world)
    second = kit.duo(DuoState.ACTIVE, "D-2", world=world, mentee_id="E-2")
    contact(kit, first, "2025-02-10", "K-1")
    contact(kit, second, "2025-02-10", "K-1")
    assert "K-1" in first.contacts and "K-1" in second.contacts


# ---------------------------------------------------------------------- retract (rule 8)
def test_retracting_an_unknown_contact_is_refused(kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    assert_refused(duo, lambda: duo.retract_contact(
        kit.meta("2025-02-10"), contact_id="K-404", reason=RetractReason.DUPLICATE),
        8, "contact_id", "contact 'K-404' is not logged in duo 'D-1'")


def test_retracting_twice_is_refused(kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    contact(kit, duo, "2025-02-10")
    duo.retract_contact(kit.meta("2025-02-10"), contact_id="K-1",
                        reason=RetractReason.DUPLICATE)
    *_, retracted = duo.collect_events()
    assert (retracted.contact_id, retracted.reason) == ("K-1", RetractReason.DUPLICATE)
    assert duo.contacts["K-1"].retracted
    assert_refused(duo, lambda: duo.retract_contact(
        kit.meta("2025-02-11"), contact_id="K-1", reason=RetractReason.DUPLICATE),
        8, "contact_id", "contact 'K-1' of duo 'D-1' is already retracted")


def test_retraction_dated_before_the_contact_is_refused(kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    contact(kit, duo, "2025-02-10")
    duo.collect_events()
    assert_refused(duo, lambda: duo.retract_contact(
        kit.meta("2025-02-09"), contact_id="K-1", reason=RetractReason.WRONG_DUO),
        8, "occurred_on", "retraction on 2025-02-09 is before the contact itself (2025-02-10)")


def test_a_contact_of_a_closed_duo_can_be_retracted(kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    contact(kit, duo, "2025-02-10")
    duo.close(kit.meta("2025-02-11"), reason=CloseReason.OTHER)
    duo.retract_contact(kit.meta("2025-03-01"), contact_id="K-1",
                        reason=RetractReason.DID_NOT_HAPPEN)
    assert duo.contacts["K-1"].retracted
    assert duo.state is DuoState.CLOSED


# ---------------------------------------------------------------------- review (rule 9)
@pytest.mark.parametrize("state", list(DuoState), ids=lambda s: s.value)
def test_review_is_accepted_in_every_state_between_recruitment_and_closure(
        kit: Any, state: DuoState) -> None:
    duo = kit.duo(state)
    duo.review(kit.meta("2025-02-05"), health=5)  # closed duos closed on 2025-02-05
    assert isinstance(duo.pending_events[-1], Duo.Reviewed)


def test_review_on_the_recruitment_day_is_accepted(kit: Any) -> None:
    duo = kit.duo(DuoState.RECRUITED)  # recruited 2025-02-01
    duo.review(kit.meta("2025-02-01"), health=1)
    [event] = duo.pending_events
    assert (type(event), event.occurred_on, event.health) == (Duo.Reviewed, D("2025-02-01"), 1)


def test_review_before_recruitment_is_refused(kit: Any) -> None:
    duo = kit.duo(DuoState.ACTIVE)
    assert_refused(duo, lambda: duo.review(kit.meta("2025-01-31"), health=3), 9,
                   "occurred_on", "review on 2025-01-31 is before the duo was recruited "
                   "(2025-02-01)")


def test_review_after_closure_is_refused(kit: Any) -> None:
    duo = kit.duo(DuoState.CLOSED)
    assert_refused(duo, lambda: duo.review(kit.meta("2025-02-06"), health=3), 9,
                   "occurred_on", "review on 2025-02-06 is after the duo closed (2025-02-05)")


# ---------------------------------------------------------------------- survey (rule 10)
def test_survey_before_recruitment_is_refused(kit: Any) -> None:
    duo = kit.duo(DuoState.RECRUITED)
    assert_refused(duo, lambda: duo.record_survey(
        kit.meta("2025-01-31"), respondent=Respondent.MENTEE, phase=Phase.PRE,
        scores=SCORES), 10, "occurred_on",
        "survey on 2025-01-31 is before the duo was recruited (2025-02-01)")


def test_survey_on_the_recruitment_day_is_accepted(kit: Any) -> None:
    duo = kit.duo(DuoState.RECRUITED)  # recruited 2025-02-01
    duo.record_survey(kit.meta("2025-02-01"), respondent=Respondent.MENTOR, phase=Phase.PRE,
                      scores=SCORES)
    assert duo.surveys == {(Respondent.MENTOR, Phase.PRE)}


def test_one_survey_per_respondent_and_phase_in_any_state(kit: Any) -> None:
    duo = kit.duo(DuoState.CLOSED)
    for respondent in Respondent:
        for phase in Phase:
            duo.record_survey(kit.meta("2025-06-01"), respondent=respondent, phase=phase,
                              scores=SCORES)
    duo.collect_events()
    assert len(duo.surveys) == 4
    assert_refused(duo, lambda: duo.record_survey(
        kit.meta("2025-06-02"), respondent=Respondent.MENTOR, phase=Phase.POST,
        scores=SCORES), 10, "phase", "duo 'D-1' already has a 'post' survey of its mentor")


# ---------------------------------------------------------------------- predecessor (rule 12)
def _rematched(kit: Any, world: Any, closed_on: str = "2025-02-05",
               reason: CloseReason = CloseReason.REMATCHED) -> Duo:
    duo = kit.duo(DuoState.ACTIVE, "D-OLD", world=world, mentee_id="E-1")
    duo.close(kit.meta(closed_on), reason=reason)
    duo.collect_events()
    return duo


@pytest.mark.parametrize(("on", "accepted"), [("2025-02-04", False), ("2025-02-05", True)])
def test_a_rematched_duo_precedes_a_duo_of_its_mentee_from_its_closing_date(
        kit: Any, on: str, accepted: bool) -> None:
    world = kit.world()
    old = _rematched(kit, world)
    if accepted:
        old.check_can_precede(kit.meta(on), "E-1", "P-1")
    else:
        assert_refused(old, lambda: old.check_can_precede(kit.meta(on), "E-1", "P-1"),
                       12, "predecessor_duo_id", "predecessor duo 'D-OLD' is not closed with "
                       f"'rematched' on or before {on}")


@pytest.mark.parametrize("reason", [r for r in CloseReason if r is not CloseReason.REMATCHED],
                         ids=lambda r: r.value)
def test_a_duo_closed_for_another_reason_cannot_precede(kit: Any, reason: CloseReason) -> None:
    old = _rematched(kit, kit.world(), reason=reason)
    assert_refused(old, lambda: old.check_can_precede(kit.meta("2025-03-01"), "E-1", "P-1"),
                   12, "predecessor_duo_id")


def test_an_open_duo_cannot_precede(kit: Any) -> None:
    old = kit.duo(DuoState.ACTIVE, "D-OLD")
    assert_refused(old, lambda: old.check_can_precede(kit.meta("2025-03-01"), "E-1", "P-1"),
                   12, "predecessor_duo_id")


@pytest.mark.parametrize(("mentee_id", "programme_id", "says"), [
    ("E-2", "P-1", "predecessor duo 'D-OLD' has another mentee"),
    ("E-1", "P-2", "predecessor duo 'D-OLD' belongs to programme 'P-1'")])
def test_a_predecessor_has_the_same_mentee_and_programme(
        kit: Any, mentee_id: str, programme_id: str, says: str) -> None:
    old = _rematched(kit, kit.world())
    assert_refused(old, lambda: old.check_can_precede(
        kit.meta("2025-03-01"), mentee_id, programme_id), 12, "predecessor_duo_id", says)


def test_recruit_names_its_predecessor(kit: Any) -> None:
    programme, site, _ = world = kit.world()
    old = _rematched(kit, world)
    new = Duo.recruit(kit.meta("2025-02-05"), "D-NEW", programme=programme, site=site,
                      mentee_id="E-1", newcomer_kind="transferred", department="wing-A",
                      shifts=(), predecessor=old)
    assert new.predecessor_duo_id == "D-OLD"
    assert new.state is DuoState.RECRUITED


def test_recruit_refuses_a_site_of_another_programme(kit: Any) -> None:
    programme = kit.programme()
    other = kit.programme("P-2")
    site = kit.site(other, "S-2")
    with pytest.raises(DomainError) as raised:
        Duo.recruit(kit.meta("2025-02-01"), "D-1", programme=programme, site=site,
                    mentee_id="E-1", newcomer_kind="transferred", department="x", shifts=())
    assert (raised.value.rule, raised.value.field) == (3, "site_id")


def test_recruit_refuses_a_date_before_the_programme_opened(kit: Any) -> None:
    programme = kit.programme(on="2025-01-02")
    site = kit.site(programme)
    with pytest.raises(DomainError) as raised:
        Duo.recruit(kit.meta("2025-01-01"), "D-1", programme=programme, site=site,
                    mentee_id="E-1", newcomer_kind="transferred", department="x", shifts=())
    assert (raised.value.rule, raised.value.field) == (5, "occurred_on")
    assert raised.value.message == ("recruit on 2025-01-01 is before programme 'P-1' opened "
                                    "on 2025-01-02")
