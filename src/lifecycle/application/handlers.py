"""The handlers: what each command does to the aggregates, inside a unit of work.

A handler checks the rules that need other aggregates (rule 2's references, through
:meth:`UnitOfWork.get`), calls the aggregate's own method (which checks the rest) and
returns the aggregates it changed or created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lifecycle.application import commands as cmd
from lifecycle.application.unit_of_work import UnitOfWork
from lifecycle.domain.base import Aggregate, EventMeta
from lifecycle.domain.correction import CorrectionContext
from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import ErasureInvalid
from lifecycle.domain.markers import AppliedCommand, AppliedContent, Departure, Succession
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site
from lifecycle.domain.vocabulary import CorrectableFact, Respondent

Handler = Callable[[UnitOfWork, Any, EventMeta], list[Aggregate]]


_REFERENCES: dict[str, tuple[type[Aggregate], ...]] = {
    "programme_id": (Programme,),
    "site_id": (Site,),
    "mentor_id": (Mentor,),
    "duo_id": (Duo,),
    "predecessor_duo_id": (Duo, Succession),
}


_REFERENCE_FIELDS: dict[type[cmd.Command], list[tuple[str, tuple[type[Aggregate], ...]]]] = {
    model: [(name, kinds) for name, kinds in _REFERENCES.items() if name in model.model_fields]
    for model in cmd.COMMANDS.values()
}


def stream_ids_of(engine: Any, command: cmd.Command, digest: str | None = None) -> list[str]:
    """Every stream a command may read or create (for :meth:`Lifecycle.prefetch`);
    ``engine`` names the streams (a sealed store names mentors by reference);
    ``digest``: the command's marker digest, for the marker of a command without id."""
    ids = []
    if command.command_id is not None:
        ids.append(AppliedCommand.stream_id(engine.command_key(command.command_id)))
    elif digest is not None:
        ids.append(AppliedContent.stream_id(digest))
    stream_id = engine.stream_id
    for name, kinds in _REFERENCE_FIELDS[type(command)]:
        value = getattr(command, name)
        if value is not None:
            ids.extend(stream_id(kind, value) for kind in kinds)
    return ids


def check_not_forgotten(uow: UnitOfWork, person_id: str, field: str) -> None:
    """Rule 16: a command naming a forgotten person as mentee or mentor is rejected (a
    forgotten pseudonym is never linked to new data)."""
    sealing = uow.sealing
    if sealing is None:
        return
    reference = sealing.reference(person_id)
    if reference in uow.forgotten or sealing.status(reference) == "shredded":
        # The message does not repeat the id: it would land in logs and answers
        # after the person's erasure (contract §8).
        raise ErasureInvalid(f"{field} names a person who was forgotten (rule 16): the id "
                             "is never linked to new data", field=field)


def _check_duo_person(duo: Duo, respondent: Respondent) -> None:
    """Rule 16: no new personal data (health, survey answers) of a forgotten person."""
    if respondent.value in duo.erased:
        raise ErasureInvalid(
            f"the {respondent.value} of duo '{duo.contract_id}' was forgotten (rule 16): "
            "no new personal data is linked to them", field="duo_id")


# ---------------------------------------------------------------------- handlers
def _open_programme(uow: UnitOfWork, c: cmd.OpenProgramme,
                    meta: EventMeta) -> list[Aggregate]:
    uow.check_new(Programme, c.programme_id, "programme_id")
    return [Programme.open(meta, c.programme_id, name=c.name, country=c.country,
                           policy=c.policy)]


def _register_site(uow: UnitOfWork, c: cmd.RegisterSite,
                   meta: EventMeta) -> list[Aggregate]:
    uow.check_new(Site, c.site_id, "site_id")
    programme = uow.get(Programme, c.programme_id, "programme_id")
    return [Site.register(meta, c.site_id, programme=programme, name=c.name, setting=c.setting)]


def _register_mentor(uow: UnitOfWork, c: cmd.RegisterMentor,
                     meta: EventMeta) -> list[Aggregate]:
    check_not_forgotten(uow, c.mentor_id, "mentor_id")
    uow.check_new(Mentor, c.mentor_id, "mentor_id")
    programme = uow.get(Programme, c.programme_id, "programme_id")
    site = uow.get(Site, c.site_id, "site_id")
    return [Mentor.register(meta, c.mentor_id, programme=programme, site=site,
                            department=c.department, shifts=c.shifts,
                            years_experience=c.years_experience,
                            stream_key=uow.stream_key(Mentor, c.mentor_id))]


def _mentor(uow: UnitOfWork, mentor_id: str) -> Mentor:
    """The mentor a command names (rules 2 and 16)."""
    check_not_forgotten(uow, mentor_id, "mentor_id")
    mentor = uow.get(Mentor, mentor_id, "mentor_id")
    if mentor.erased:
        raise ErasureInvalid("mentor_id names a mentor who was forgotten (rule 16)",
                             field="mentor_id")
    return mentor


def _record_training(uow: UnitOfWork, c: cmd.RecordTraining,
                     meta: EventMeta) -> list[Aggregate]:
    mentor = _mentor(uow, c.mentor_id)
    mentor.record_training(meta, c.module)
    return [mentor]


def _recruit(uow: UnitOfWork, c: cmd.Recruit,
             meta: EventMeta) -> list[Aggregate]:
    check_not_forgotten(uow, c.mentee_id, "mentee_id")
    uow.check_new(Duo, c.duo_id, "duo_id")
    programme = uow.get(Programme, c.programme_id, "programme_id")
    site = uow.get(Site, c.site_id, "site_id")
    predecessor = None
    if c.predecessor_duo_id is not None:
        predecessor = uow.get(Duo, c.predecessor_duo_id, "predecessor_duo_id")
    duo = Duo.recruit(meta, c.duo_id, programme=programme, site=site, mentee_id=c.mentee_id,
                      newcomer_kind=c.newcomer_kind, department=c.department, shifts=c.shifts,
                      predecessor=predecessor)
    changed: list[Aggregate] = [duo]
    if c.predecessor_duo_id is not None:
        existing = uow.find(Succession, c.predecessor_duo_id)
        changed.append(Succession.claim(meta, c.predecessor_duo_id, c.duo_id, existing))
    return changed


def _duo_command(method: str) -> Handler:
    """A handler for a command that changes one duo and names nothing else."""

    def handle(uow: UnitOfWork, c: Any,
               meta: EventMeta) -> list[Aggregate]:
        duo = uow.get(Duo, c.duo_id, "duo_id")
        fields = cmd.command_fields(c)
        del fields["duo_id"]
        getattr(duo, method)(meta, **fields)
        return [duo]

    handle.__name__ = f"_{method}"
    return handle


def _match(uow: UnitOfWork, c: cmd.Match,
           meta: EventMeta) -> list[Aggregate]:
    duo = uow.get(Duo, c.duo_id, "duo_id")
    mentor = _mentor(uow, c.mentor_id)
    programme = uow.get(Programme, duo.programme_id, "duo_id")
    duo.match(meta, mentor=mentor, mentor_kind=c.mentor_kind, programme=programme)
    return [duo]


def _deregister_mentor(uow: UnitOfWork, c: cmd.DeregisterMentor,
                       meta: EventMeta) -> list[Aggregate]:
    mentor = _mentor(uow, c.mentor_id)
    mentor.deregister(meta, c.reason)
    return [mentor]


def _review(uow: UnitOfWork, c: cmd.Review, meta: EventMeta) -> list[Aggregate]:
    duo = uow.get(Duo, c.duo_id, "duo_id")
    _check_duo_person(duo, Respondent.MENTEE)
    duo.review(meta, health=c.health)
    return [duo]


def _record_survey(uow: UnitOfWork, c: cmd.RecordSurvey,
                   meta: EventMeta) -> list[Aggregate]:
    duo = uow.get(Duo, c.duo_id, "duo_id")
    _check_duo_person(duo, c.respondent)
    if c.respondent is Respondent.MENTOR and duo.mentor_id is None:
        _check_duo_person(duo, Respondent.MENTEE)  # then sealed under the mentee's key
    duo.record_survey(meta, respondent=c.respondent, phase=c.phase, scores=c.scores)
    return [duo]


def _forget(uow: UnitOfWork, c: cmd.Forget, meta: EventMeta) -> list[Aggregate]:
    sealing = uow.sealing
    if sealing is None:
        raise ErasureInvalid(
            "this store keeps personal data in clear (it was created before sealing, ADR "
            "34) and its events cannot be edited, so nothing can be erased; import its "
            "commands into a new store to make them erasable", field="person_id")
    person = c.person_id
    reference = sealing.reference(person)
    status = "shredded" if reference in uow.forgotten else sealing.status(reference)
    if status == "shredded":
        raise ErasureInvalid("person_id names a person who was forgotten already",
                             field="person_id")
    if status == "none":
        raise ErasureInvalid(f"person_id '{person}' is not used in the store",
                             field="person_id")
    changed: list[Aggregate] = []
    for stream in sealing.streams_of(reference):
        kind, _, duo_id = stream.partition(":")
        if kind != Duo.PREFIX:
            continue
        duo = uow.get(Duo, duo_id, "person_id")
        version = duo.version
        if duo.mentee_id == person and Respondent.MENTEE.value not in duo.erased:
            duo.erase(meta, role=Respondent.MENTEE, person=reference)
        if duo.mentor_id == person and Respondent.MENTOR.value not in duo.erased:
            duo.erase(meta, role=Respondent.MENTOR, person=reference)
        if duo.version != version:
            changed.append(duo)
    mentor = uow.find(Mentor, person)
    if mentor is not None and not mentor.erased:
        mentor.erase(meta)
        changed.append(mentor)
    uow.forgotten.append(reference)
    return changed


def _first_of_chain(uow: UnitOfWork, duo: Duo) -> Duo:
    """The first duo of ``duo``'s chain (following ``predecessor_duo_id`` back)."""
    first = duo
    while first.predecessor_duo_id is not None:
        first = uow.get(Duo, first.predecessor_duo_id, "duo_id")
    return first


def _correct(uow: UnitOfWork, c: cmd.Correct,
             meta: EventMeta) -> list[Aggregate]:
    duo = uow.get(Duo, c.duo_id, "duo_id")
    fact = c.fact
    mentor = predecessor = successor = None
    departed_on = None
    if fact is CorrectableFact.MATCHED_ON and duo.mentor_id is not None:
        mentor = uow.get(Mentor, duo.mentor_id, "duo_id")
    elif fact is CorrectableFact.MATCHED_ON and Respondent.MENTOR.value in duo.erased:
        raise ErasureInvalid(
            f"the mentor of duo '{duo.contract_id}' was forgotten (rule 16): its match "
            "date cannot be checked against the mentor's registration any more",
            field="duo_id")
    if fact is CorrectableFact.RECRUITED_ON:
        if duo.predecessor_duo_id is not None:
            predecessor = uow.get(Duo, duo.predecessor_duo_id, "duo_id")
        else:
            departure = uow.find(Departure, duo.contract_id)
            departed_on = None if departure is None else departure.departed_on
    if fact in (CorrectableFact.CLOSED_ON, CorrectableFact.CLOSE_REASON):
        succession = uow.find(Succession, duo.contract_id)
        if succession is not None:
            successor = uow.get(Duo, succession.successor_duo_id, "duo_id")
    context = CorrectionContext(
        programme=uow.get(Programme, duo.programme_id, "duo_id"), mentor=mentor,
        predecessor=predecessor, successor=successor, chain_departed_on=departed_on)
    duo.correct(meta, fact=fact, value=c.corrected_value, context=context)
    return [duo]


def _record_departure(uow: UnitOfWork, c: cmd.RecordDeparture,
                      meta: EventMeta) -> list[Aggregate]:
    duo = uow.get(Duo, c.duo_id, "duo_id")
    first = _first_of_chain(uow, duo)
    duo.record_departure(meta, reason=c.reason, first=first)
    existing = uow.find(Departure, first.contract_id)
    return [duo, Departure.record(meta, first.contract_id, duo.contract_id, existing)]


HANDLERS: dict[type[cmd.Command], Handler] = {
    cmd.OpenProgramme: _open_programme,
    cmd.RegisterSite: _register_site,
    cmd.RegisterMentor: _register_mentor,
    cmd.RecordTraining: _record_training,
    cmd.Recruit: _recruit,
    cmd.Select: _duo_command("select"),
    cmd.Match: _match,
    cmd.Activate: _duo_command("activate"),
    cmd.LogContact: _duo_command("log_contact"),
    cmd.RetractContact: _duo_command("retract_contact"),
    cmd.Review: _review,
    cmd.RecordSurvey: _record_survey,
    cmd.Close: _duo_command("close"),
    cmd.DeregisterMentor: _deregister_mentor,
    cmd.Correct: _correct,
    cmd.RecordDeparture: _record_departure,
    cmd.Forget: _forget,
}
