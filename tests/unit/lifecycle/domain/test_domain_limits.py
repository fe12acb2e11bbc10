"""What the duo and mentor events carry, worked out by hand: an erasure names the
forgotten person's role, keyed reference and the fields that were theirs (rule 16), a
survey its scores, a registration the mentor's years of experience."""

from __future__ import annotations

from typing import Any

from lifecycle.domain.mentor import Mentor
from lifecycle.domain.vocabulary import Phase, Respondent, Scores


def test_erasing_a_mentee_names_the_fields_that_were_theirs(kit: Any) -> None:
    duo = kit.duo("active", "D-1", mentee_id="E-1")
    duo.erase(kit.meta("2025-03-01"), role=Respondent.MENTEE, person="k-mentee")
    (event,) = duo.collect_events()
    assert type(event).__name__ == "Erased"
    assert event.role is Respondent.MENTEE
    assert event.person == "k-mentee"
    assert event.fields == ("mentee_id", "department", "shifts", "health", "scores")
    assert duo.erased == frozenset({"mentee"})
    assert (duo.mentee_id, duo.department, duo.shifts) == (None, None, None)
    assert duo.mentor_id == "M-1"


def test_erasing_a_mentor_of_a_duo_names_the_match_and_the_scores(kit: Any) -> None:
    duo = kit.duo("active", "D-1", mentee_id="E-1")
    duo.erase(kit.meta("2025-03-01"), role=Respondent.MENTOR, person="k-mentor")
    (event,) = duo.collect_events()
    assert event.role is Respondent.MENTOR
    assert event.person == "k-mentor"
    assert event.fields == ("mentor_id", "scores")
    assert duo.erased == frozenset({"mentor"})
    assert duo.mentor_id is None
    assert duo.mentee_id == "E-1"


def test_erasing_a_mentor_names_the_registration_and_training_fields(kit: Any) -> None:
    _, _, mentor = kit.world()
    mentor.collect_events()
    mentor.erase(kit.meta("2025-03-01"))
    (event,) = mentor.collect_events()
    assert type(event).__name__ == "Erased"
    assert event.fields == ("mentor_id", "department", "shifts", "years_experience",
                            "module")
    assert mentor.erased is True
    assert (mentor.mentor_id, mentor.years_experience) == (None, None)


def test_a_registration_carries_the_years_of_experience(kit: Any) -> None:
    programme, site, _ = kit.world()
    mentor = Mentor.register(kit.meta("2025-01-03"), "M-7", programme=programme,
                             site=site, department="wing-B", shifts=("late",),
                             years_experience=11)
    (event,) = mentor.collect_events()
    assert event.years_experience == 11
    assert mentor.years_experience == 11


def test_a_survey_carries_its_scores(kit: Any) -> None:
    duo = kit.duo("recruited", "D-1")
    scores = Scores(wellbeing=1, stress=5, integration=2, confidence=4)
    duo.record_survey(kit.meta("2025-02-03"), respondent=Respondent.MENTOR,
                      phase=Phase.POST, scores=scores)
    (event,) = duo.collect_events()
    assert event.scores == Scores(wellbeing=1, stress=5, integration=2, confidence=4)
    assert duo.surveys == {(Respondent.MENTOR, Phase.POST)}
