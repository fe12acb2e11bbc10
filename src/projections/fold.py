"""The read models as one fold over the event log: ``initial()`` and ``evolve()``.

The fold never does I/O, so the same code serves live catch-up, rebuilding and as-of
replay. It takes an event either as a domain event (:func:`evolve`) or as what the
store holds — topic, stream id, version and the decoded JSON payload
(:func:`evolve_stored`, the fast path of catch-up and rebuild, which skips pydantic).
Both paths meet in the same handlers, which read the payload in its JSON form, so they
cannot disagree.

``evolve`` updates the state it is given and returns it: the state is a working copy
owned by its caller, never shared. Events the read models do not need (the markers
``AppliedCommand.Applied``, ``AppliedContent.Applied``, ``Succession.Claimed`` and
``Departure.Recorded``) leave it unchanged.

Values that recur across many records (business dates, contact ids and modes, survey
respondents and phases) are interned: a rebuild holds every contact of the store, and
one copy of each date instead of one per contact halves their memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from sys import intern as shared
from typing import Any, Final

from lifecycle.domain.base import DomainEvent
from lifecycle.domain.duo import Duo
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site
from projections.views import (
    ACTIVE,
    CAREER,
    CLOSED,
    CORRECTABLE,
    MATCHED,
    PSYCHOSOCIAL,
    SELECTED,
    ContactView,
    CorrectionView,
    DuoView,
    MentorView,
    ProgrammeView,
    ReadModel,
    ReviewView,
    SiteView,
    SurveyView,
    canonical_timestamp,
)

Payload = Mapping[str, Any]
MENTEE_RESPONDENT: Final = "mentee"
MENTOR_RESPONDENT: Final = "mentor"
Handler = Callable[[ReadModel, str, int, Payload], None]


class ProjectionError(Exception):
    """The event log holds something the read models cannot follow (a broken history)."""


def initial() -> ReadModel:
    """The state before any event: every view empty."""
    return ReadModel()


def _programme_opened(model: ReadModel, key: str, version: int, p: Payload) -> None:
    policy = p["policy"]
    model.programmes[key] = ProgrammeView(
        programme_id=key, name=p["name"], country=p["country"], opened_on=p["occurred_on"],
        opened_at=canonical_timestamp(p["timestamp"]),
        min_duration_days=policy["min_duration_days"],
        max_duration_days=policy["max_duration_days"],
        contact_interval_days=policy["contact_interval_days"],
        first_meeting_within_days=policy["first_meeting_within_days"],
        mentor_kinds=tuple(policy["mentor_kinds"]),
        require_trained_mentor=policy["require_trained_mentor"],
        # Stored policies leave the v2 keys out while they hold their defaults.
        reviews_first_interval=policy.get("reviews_first_interval", 2),
        review_interval_days=policy.get("review_interval_days", 30),
        max_duos_per_mentor=policy.get("max_duos_per_mentor", 3),
    )
    model.changes.programmes.add(key)


def _site_registered(model: ReadModel, key: str, version: int, p: Payload) -> None:
    model.sites[key] = SiteView(
        site_id=key, programme_id=p["programme_id"], name=p["name"], setting=p["setting"],
        registered_on=p["occurred_on"], registered_at=canonical_timestamp(p["timestamp"]),
    )
    model.changes.sites.add(key)


def _mentor_registered(model: ReadModel, key: str, version: int, p: Payload) -> None:
    # A plain store's mentor is named by its stream; a sealed store's by the opened id,
    # or by its reference (the stream's key) when the id does not open.
    model.mentors[key] = MentorView(
        mentor_key=key, mentor_id=p.get("mentor_id") or key, programme_id=p["programme_id"],
        site_id=p["site_id"], department=p["department"], shifts=tuple(p["shifts"] or ()),
        years_experience=p["years_experience"], registered_on=p["occurred_on"],
        registered_at=canonical_timestamp(p["timestamp"]), version=version,
    )
    model.changes.mentors.add(key)


def _training_recorded(model: ReadModel, key: str, version: int, p: Payload) -> None:
    mentor = _mentor(model, key)
    module, on = p["module"], p["occurred_on"]
    known = mentor.first_completed.get(module)
    if module is not None and (known is None or on < known):
        mentor.first_completed[module] = on
    mentor.training_records += 1
    mentor.version = max(mentor.version, version)
    model.changes.mentors.add(key)


def _mentor_deregistered(model: ReadModel, key: str, version: int, p: Payload) -> None:
    mentor = _mentor(model, key)
    mentor.deregistered_on = p["occurred_on"]
    mentor.deregistered_at = canonical_timestamp(p["timestamp"])
    mentor.deregistration_reason = p["reason"]
    mentor.version = max(mentor.version, version)
    model.changes.mentors.add(key)


def _recruited(model: ReadModel, key: str, version: int, p: Payload) -> None:
    programme = model.programmes.get(p["programme_id"])
    predecessor_id = p.get("predecessor_duo_id")
    chain_id = key
    predecessor = None
    if predecessor_id is not None:
        predecessor = model.duos.get(predecessor_id)
        chain_id = model.chain_roots.get(predecessor_id) or (
            predecessor.chain_id if predecessor is not None else predecessor_id)
        model.chain_roots[key] = chain_id
    model.duos[key] = DuoView(
        duo_id=key, programme_id=p["programme_id"], site_id=p["site_id"],
        country=None if programme is None else programme.country,
        mentee_id=p["mentee_id"], newcomer_kind=p["newcomer_kind"],
        department=p["department"], predecessor_duo_id=predecessor_id,
        recruited_on=p["occurred_on"], recruited_at=canonical_timestamp(p["timestamp"]),
        version=version, shifts=tuple(p["shifts"] or ()), chain_id=chain_id,
    )
    model.changes.duos.add(key)
    if predecessor is not None:
        predecessor.successor_duo_id = key
        model.changes.duos.add(predecessor_id)  # type: ignore[arg-type]


def _selected(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    duo.state = SELECTED
    duo.selected_on, duo.selected_at = p["occurred_on"], canonical_timestamp(p["timestamp"])


def _matched(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    duo.state = MATCHED
    duo.mentor_id, duo.mentor_kind = p["mentor_id"], p["mentor_kind"]
    duo.shift_overlap, duo.same_department = p["shift_overlap"], p["same_department"]
    duo.matched_on, duo.matched_at = p["occurred_on"], canonical_timestamp(p["timestamp"])


def _activated(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    duo.state = ACTIVE
    duo.activated_on, duo.activated_at = p["occurred_on"], canonical_timestamp(p["timestamp"])


def _closed(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    duo.closed_from, duo.state = duo.state, CLOSED
    duo.closed_on, duo.closed_at = p["occurred_on"], canonical_timestamp(p["timestamp"])
    duo.close_reason, duo.initiated_by = p["reason"], p.get("initiated_by")
    duo.exit_interview = p.get("exit_interview", False)


def _contact_logged(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    # A contact id need only be unique within its duo (the simulator numbers them c0001,
    # c0002, …), so the same ids tend to recur across duos.
    contact_id, functions = shared(p["contact_id"]), p["functions"]
    duo.contacts[contact_id] = ContactView(
        contact_id, shared(p["occurred_on"]), canonical_timestamp(p["timestamp"]), version,
        p["minutes"], shared(p["mode"]), PSYCHOSOCIAL in functions, CAREER in functions)
    model.changes.contacts.add((key, contact_id))


def _contact_retracted(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    contact_id = p["contact_id"]
    contact = duo.contacts.get(contact_id)
    if contact is None:
        raise ProjectionError(f"duo '{key}' v{version} retracts unknown contact '{contact_id}'")
    contact.retracted_on = shared(p["occurred_on"])
    contact.retracted_at = canonical_timestamp(p["timestamp"])
    contact.retract_reason = p["reason"]
    model.changes.contacts.add((key, contact_id))


def _reviewed(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    duo.reviews.append(ReviewView(version, shared(p["occurred_on"]),
                                  canonical_timestamp(p["timestamp"]), p["health"]))
    model.changes.reviews.add((key, version))


def _survey_recorded(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    respondent, phase, scores = shared(p["respondent"]), shared(p["phase"]), p["scores"]
    if scores is None:  # its respondent was forgotten (ADR 35)
        survey = SurveyView(respondent, phase, shared(p["occurred_on"]),
                            canonical_timestamp(p["timestamp"]), None, None, None, None)
    else:
        survey = SurveyView(
            respondent, phase, shared(p["occurred_on"]), canonical_timestamp(p["timestamp"]),
            scores["wellbeing"], scores["stress"], scores["integration"],
            scores["confidence"])
    duo.surveys[respondent, phase] = survey
    model.changes.surveys.add((key, respondent, phase))


def _duo_erased(model: ReadModel, key: str, version: int, p: Payload) -> None:
    """A person of the duo was forgotten: what a rebuild can no longer open, the views
    no longer hold (ADR 35), so that they still equal a rebuild."""
    duo = _touch(model, key, version)
    changes = model.changes
    if p["role"] == MENTEE_RESPONDENT:
        duo.mentee_id = duo.department = None
        duo.shifts = ()
        for review in duo.reviews:
            review.health = None
            changes.reviews.add((key, review.version))
        erased = [k for k, survey in duo.surveys.items() if _mentee_sealed(duo, survey)]
    else:
        erased = [k for k, survey in duo.surveys.items()
                  if k[0] == MENTOR_RESPONDENT and not _mentee_sealed(duo, survey)]
        duo.mentor_id = p["person"]
    for respondent, phase in erased:
        survey = duo.surveys[respondent, phase]
        survey.wellbeing = survey.stress = survey.integration = survey.confidence = None
        changes.surveys.add((key, respondent, phase))


def _mentee_sealed(duo: DuoView, survey: SurveyView) -> bool:
    """Whether a survey was sealed under the mentee's key: the mentee's, and a mentor's
    recorded before the duo had a mentor (the engine's rule, ADR 35)."""
    return survey.respondent == MENTEE_RESPONDENT or duo.matched_at is None or (
        survey.recorded_at < duo.matched_at)


def _mentor_erased(model: ReadModel, key: str, version: int, p: Payload) -> None:
    mentor = _mentor(model, key)
    mentor.mentor_id = key
    mentor.department = mentor.years_experience = None
    mentor.shifts = ()
    mentor.first_completed.clear()
    mentor.version = max(mentor.version, version)
    model.changes.mentors.add(key)


def _corrected(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    fact = p["fact"]
    if fact not in CORRECTABLE:
        raise ProjectionError(f"duo '{key}' v{version} corrects unknown fact '{fact}'")
    setattr(duo, fact, p["value"])
    duo.corrections.append(CorrectionView(
        version, fact, p["value"], p["previous"], p["occurred_on"],
        canonical_timestamp(p["timestamp"])))
    model.changes.corrections.add((key, version))
    model.changes.corrected.add(key)


def _departure_recorded(model: ReadModel, key: str, version: int, p: Payload) -> None:
    duo = _touch(model, key, version)
    duo.departed_on, duo.departure_reason = p["occurred_on"], p["reason"]
    duo.departed_at = canonical_timestamp(p["timestamp"])


def _mentor(model: ReadModel, key: str) -> MentorView:
    try:
        return model.mentors[key]
    except KeyError:
        raise ProjectionError(f"event for unknown mentor '{key}'") from None


def _touch(model: ReadModel, key: str, version: int) -> DuoView:
    try:
        duo = model.duos[key]
    except KeyError:
        raise ProjectionError(f"event v{version} for unknown duo '{key}'") from None
    if version > duo.version:
        duo.version = version
    model.changes.duos.add(key)
    return duo


HANDLERS: Final[dict[str, Handler]] = {
    Programme.Opened.TOPIC: _programme_opened,
    Site.Registered.TOPIC: _site_registered,
    Mentor.Registered.TOPIC: _mentor_registered,
    Mentor.TrainingRecorded.TOPIC: _training_recorded,
    Mentor.Deregistered.TOPIC: _mentor_deregistered,
    Duo.Recruited.TOPIC: _recruited,
    Duo.Selected.TOPIC: _selected,
    Duo.Matched.TOPIC: _matched,
    Duo.Activated.TOPIC: _activated,
    Duo.ContactLogged.TOPIC: _contact_logged,
    Duo.ContactRetracted.TOPIC: _contact_retracted,
    Duo.Reviewed.TOPIC: _reviewed,
    Duo.SurveyRecorded.TOPIC: _survey_recorded,
    Duo.Closed.TOPIC: _closed,
    Duo.Corrected.TOPIC: _corrected,
    Duo.DepartureRecorded.TOPIC: _departure_recorded,
    Duo.Erased.TOPIC: _duo_erased,
    Mentor.Erased.TOPIC: _mentor_erased,
}
"""The handler of each event topic the read models follow."""

TOPICS: Final[tuple[str, ...]] = tuple(HANDLERS)
"""The topics the read models read from the log (markers are left out)."""

_PAYLOAD_EXCLUDE: Final = {"originator_id", "originator_version"}


def contract_id(stream_id: str) -> str:
    """``duo:D-1`` → ``D-1``."""
    return stream_id.partition(":")[2]


def evolve_stored(state: ReadModel, topic: str, stream_id: str, version: int,
                  payload: Payload) -> ReadModel:
    """Apply one stored event given as its topic, stream id, version and JSON payload.

    Args:
        state: the state to update (updated in place and returned).
        topic: the event's explicit topic (``lifecycle.Duo.Recruited``).
        stream_id: the originator id (``duo:D-1``).
        version: the originator version.
        payload: the event's own fields, ``occurred_on`` and ``timestamp`` as JSON values
            (what the mapper stores: ``model_dump(mode="json")``), upcast to the current
            class version.

    Raises:
        ProjectionError: the event refers to a duo, mentor or contact the state lacks.
    """
    handler = HANDLERS.get(topic)
    if handler is not None:
        handler(state, stream_id.partition(":")[2], version, payload)
    return state


def evolve(state: ReadModel, event: DomainEvent) -> ReadModel:
    """Apply one domain event (dispatched on its type); see :func:`evolve_stored`."""
    handler = HANDLERS.get(type(event).TOPIC)
    if handler is not None:
        payload = event.model_dump(mode="json", exclude=_PAYLOAD_EXCLUDE)
        handler(state, contract_id(event.originator_id), event.originator_version, payload)
    return state


def fold(events: Iterable[DomainEvent], state: ReadModel | None = None) -> ReadModel:
    """Apply ``events`` in order to ``state`` (a fresh :func:`initial` one by default)."""
    model = initial() if state is None else state
    for event in events:
        evolve(model, event)
    return model
