"""The read models' fold: what each event leaves in the per-duo, programme, site and
mentor views, and that the domain-event and stored-payload paths agree."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from projection_builders import Log, MemoryRecorder, random_log

from lifecycle.domain.duo import Duo
from projections.fold import ProjectionError, evolve, evolve_stored, fold, initial
from projections.views import (
    ContactView,
    ReviewView,
    SurveyView,
    canonical_timestamp,
)


def _stamp(log: Log, index: int) -> str:
    return canonical_timestamp(log.events[index].timestamp)


def test_a_duo_view_keeps_every_lifecycle_date_partner_and_outcome() -> None:
    log = Log().world(country="PT", contact_interval_days=10)
    log.duo("D-1", "2025-02-01", "2025-02-03", "2025-02-10", "2025-02-12")
    log.close("D-1", "2025-05-01", "mentor_left_service", initiated_by="mentor",
              exit_interview=True)
    duo = fold(log.events).duos["D-1"]
    assert (duo.programme_id, duo.site_id, duo.country, duo.mentee_id) == (
        "P-1", "S-1", "PT", "E-D-1")
    assert (duo.mentor_id, duo.mentor_kind, duo.shift_overlap, duo.same_department) == (
        "M-1", "peer", True, False)
    assert (duo.recruited_on, duo.selected_on, duo.matched_on, duo.activated_on,
            duo.closed_on) == ("2025-02-01", "2025-02-03", "2025-02-10", "2025-02-12",
                               "2025-05-01")
    first_duo_event = len(log.events) - 5
    assert duo.recruited_at == _stamp(log, first_duo_event)
    assert duo.closed_at == _stamp(log, -1)
    assert (duo.state, duo.close_reason, duo.closed_from, duo.initiated_by,
            duo.exit_interview) == ("closed", "mentor_left_service", "active", "mentor", True)
    assert duo.version == 5


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
def test_closed_from_is_the_state_the_duo_was_in(steps: int) -> None:
    log = Log().world()
    dates = ["2025-02-01", "2025-02-02", "2025-02-03", "2025-02-04"]
    log.duo("D-1", *dates[: steps + 1], closed="2025-03-01", reason="other")  # type: ignore[arg-type]
    duo = fold(log.events).duos["D-1"]
    assert duo.closed_from == ("recruited", "selected", "matched", "active")[steps]
    assert duo.state == "closed"


def test_contacts_keep_dates_minutes_functions_and_retraction() -> None:
    log = Log().world().duo("D-1", 10, 11, 12, 13)
    log.contact("D-1", "K-1", 14, minutes=45, functions=("career", "psychosocial"))
    log.contact("D-1", "K-2", 15, minutes=20, functions=("career",), mode="phone")
    log.retract("D-1", "K-2", 30, reason="wrong_duo")
    duo = fold(log.events).duos["D-1"]
    assert duo.contacts == {
        "K-1": ContactView("K-1", "2025-01-15", _stamp(log, -3), 5, 45, "in_person", True,
                           True),
        "K-2": ContactView("K-2", "2025-01-16", _stamp(log, -2), 6, 20, "phone", False, True,
                           "2025-01-31", _stamp(log, -1), "wrong_duo"),
    }


def test_reviews_and_surveys_are_kept_with_their_scores() -> None:
    log = Log().world().recruit("D-1", 5).review("D-1", 6, health=2)
    log.survey("D-1", 7, "mentor", "post", {"wellbeing": 1, "stress": 2, "integration": 3,
                                            "confidence": 4})
    duo = fold(log.events).duos["D-1"]
    assert duo.reviews == [ReviewView(2, "2025-01-07", _stamp(log, -2), 2)]
    assert duo.surveys == {("mentor", "post"): SurveyView(
        "mentor", "post", "2025-01-08", _stamp(log, -1), 1, 2, 3, 4)}


def test_a_rematch_links_predecessor_and_successor() -> None:
    log = Log().world().duo("D-1", 1, 2, 3, closed=4, reason="rematched")
    log.recruit("D-2", 5, mentee_id="E-D-1", predecessor="D-1")
    model = fold(log.events)
    assert model.duos["D-1"].successor_duo_id == "D-2"
    assert model.duos["D-2"].predecessor_duo_id == "D-1"
    assert model.duos["D-1"].successor_duo_id is not None


def test_programme_site_and_mentor_views() -> None:
    log = Log().programme("P-1", 0, "RO", contact_interval_days=9, mentor_kinds=["peer"])
    log.site("S-1", "P-1", 1).mentor("M-1", "P-1", "S-1", 2, trained_on=None)
    for module, on in (("introduction", 5), ("communication", 6), ("interpersonal", 7),
                       ("pedagogical", 8), ("organisational", 9)):
        log.training("M-1", module, on)
    log.training("M-1", "introduction", 20)  # a refresher changes nothing
    log.training("M-1", "communication", 3)  # a late entry of an earlier completion
    model = fold(log.events)
    programme = model.programmes["P-1"]
    assert (programme.country, programme.contact_interval_days, programme.mentor_kinds,
            programme.min_duration_days, programme.opened_on) == (
        "RO", 9, ("peer",), 182, "2025-01-01")
    assert model.sites["S-1"].registered_on == "2025-01-02"
    mentor = model.mentors["M-1"]
    assert mentor.trained_on == "2025-01-10"
    assert mentor.first_completed["communication"] == "2025-01-04"
    assert (mentor.training_records, mentor.version) == (7, 8)


def test_a_mentor_missing_a_module_is_not_trained() -> None:
    log = Log().world().training("M-1", "introduction", 1)
    log.mentor("M-2", trained_on=None).training("M-2", "introduction", 1)
    assert fold(log.events).mentors["M-2"].trained_on is None


def test_markers_are_ignored() -> None:
    log = Log().world().marker("c-1")
    assert fold(log.events) == fold(log.events[:-1])


def test_an_event_of_an_unknown_duo_is_a_broken_history() -> None:
    log = Log().world().recruit("D-1", 1)
    event = Duo.Selected(originator_id="duo:D-9", originator_version=2,
                         timestamp=datetime(2025, 1, 1, tzinfo=UTC),
                         occurred_on=log.events[-1].occurred_on, consent=True)
    with pytest.raises(ProjectionError, match="D-9"):
        evolve(fold(log.events), event)


def test_retracting_an_unknown_contact_is_a_broken_history() -> None:
    log = Log().world().duo("D-1", 1, 2, 3, 4).retract("D-1", "K-9", 5)
    with pytest.raises(ProjectionError, match="K-9"):
        fold(log.events)


def test_changes_name_every_record_an_event_touched() -> None:
    log = Log().world().duo("D-1", 1, closed=2, reason="rematched")
    model = fold(log.events)
    model.changes.clear()
    log.recruit("D-2", 3, predecessor="D-1")
    evolve(model, log.events[-1])
    assert model.changes.duos == {"D-1", "D-2"}
    assert not model.changes.contacts


@pytest.mark.parametrize(("text", "canonical"), [
    ("2025-03-01T12:00:00Z", "2025-03-01T12:00:00.000000Z"),
    ("2025-03-01T12:00:00.123456Z", "2025-03-01T12:00:00.123456Z"),
    ("2025-03-01T13:00:00.5+01:00", "2025-03-01T12:00:00.500000Z"),
    ("2025-03-01T12:00:00", "2025-03-01T12:00:00.000000Z"),
])
def test_recording_times_are_canonical_utc_text(text: str, canonical: str) -> None:
    assert canonical_timestamp(text) == canonical
    assert canonical_timestamp(datetime.fromisoformat(text)) == canonical


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_stored_payloads_and_domain_events_fold_alike(rnd: random.Random) -> None:
    log = random_log(rnd, v2=True)
    recorder = MemoryRecorder()
    recorder.append(log.events)
    from_payloads = initial()
    for n in recorder.notifications:
        evolve_stored(from_payloads, n.topic, str(n.originator_id), n.originator_version,
                      recorder.mapper.transcoder.decode(n.state))
    assert from_payloads == fold(log.events)
