"""The duo aggregate: one mentee paired (or to be paired) with one mentor.

Every command checks all of its rules before it creates an event, so a rejected command
leaves the aggregate untouched. Events only assign state; replay never consults the
state machine.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Self

from pydantic import Field, StrictBool, StrictInt, model_validator

from lifecycle.domain import states
from lifecycle.domain.base import Aggregate, DomainEvent, EventMeta
from lifecycle.domain.correction import (
    CorrectionContext,
    check_correction,
    fact_text,
    fact_value,
)
from lifecycle.domain.errors import (
    ContactNotRetractable,
    ContactOutsideActivePeriod,
    DateBeforeLifecycle,
    DepartureInvalid,
    MentorNotAllowed,
    PredecessorInvalid,
    ReviewOutOfPeriod,
    SurveyNotAllowed,
    TransitionNotAllowed,
    WrongProgramme,
)
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site
from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import (
    CloseReason,
    ContactMode,
    ContractId,
    CorrectableFact,
    DepartureReason,
    Function,
    InitiatedBy,
    MentorKind,
    NewcomerKind,
    Phase,
    Respondent,
    RetractReason,
    Scores,
    ShiftCode,
    Text,
)

ERASED_MENTEE_FIELDS: tuple[str, ...] = (
    "mentee_id", "department", "shifts", "health", "scores")
"""The duo's fields a forgotten mentee's erasure names: their recruitment's, the health
of the duo's reviews and the scores of their surveys."""
ERASED_MENTOR_FIELDS: tuple[str, ...] = ("mentor_id", "scores")
"""The duo's fields a forgotten mentor's erasure names: the match's mentor and the
scores of the mentor's surveys."""


class Contact:
    """A logged contact as the duo remembers it (for rules 6–8)."""

    __slots__ = ("occurred_on", "retracted")

    def __init__(self, occurred_on: date) -> None:
        self.occurred_on = occurred_on
        self.retracted = False


class Duo(Aggregate):
    """A mentee and a mentor moving through ``recruited → … → closed``."""

    PREFIX: ClassVar[str] = "duo"

    programme_id: str
    site_id: str
    mentee_id: str | None
    """None once the mentee was forgotten (their sealed fields no longer open)."""
    department: str | None
    shifts: tuple[str, ...] | None
    predecessor_duo_id: str | None
    state: DuoState
    mentor_id: str | None
    recruited_on: date
    selected_on: date | None
    matched_on: date | None
    activated_on: date | None
    closed_on: date | None
    close_reason: CloseReason | None
    closed_from: DuoState | None
    contacts: dict[str, Contact]
    surveys: set[tuple[Respondent, Phase]]
    first_review_on: date | None
    last_review_on: date | None
    first_survey_on: date | None
    departed_on: date | None
    """When a departure from the service was recorded on this duo (rule 17)."""
    erased: frozenset[str]
    """The roles (``mentee``, ``mentor``) whose person was forgotten (rule 16)."""

    # ---------------------------------------------------------------- events
    class Recruited(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Duo.Recruited"
        creates: ClassVar[bool] = True
        programme_id: str
        site_id: str
        # Personal fields (contract §8) are None when read back sealed under a key that
        # was shredded (the person was forgotten) or without the master key.
        mentee_id: ContractId | None
        newcomer_kind: NewcomerKind
        department: Text | None
        shifts: tuple[ShiftCode, ...] | None
        predecessor_duo_id: str | None = None

        def apply(self, aggregate: Duo) -> None:
            aggregate.programme_id = self.programme_id
            aggregate.site_id = self.site_id
            aggregate.mentee_id = self.mentee_id
            aggregate.department = self.department
            aggregate.shifts = self.shifts
            aggregate.predecessor_duo_id = self.predecessor_duo_id
            aggregate.state = states.INITIAL_STATE
            aggregate.mentor_id = None
            aggregate.recruited_on = self.occurred_on
            aggregate.selected_on = aggregate.matched_on = None
            aggregate.activated_on = aggregate.closed_on = None
            aggregate.close_reason = aggregate.closed_from = None
            aggregate.contacts = {}
            aggregate.surveys = set()
            aggregate.first_review_on = aggregate.last_review_on = None
            aggregate.first_survey_on = aggregate.departed_on = None
            aggregate.erased = frozenset()

    class Selected(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Duo.Selected"
        consent: StrictBool

        def apply(self, aggregate: Duo) -> None:
            aggregate.state = DuoState.SELECTED
            aggregate.selected_on = self.occurred_on

    class Matched(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Duo.Matched"
        mentor_id: str | None
        mentor_kind: MentorKind
        shift_overlap: StrictBool
        same_department: StrictBool

        def apply(self, aggregate: Duo) -> None:
            aggregate.state = DuoState.MATCHED
            aggregate.mentor_id = self.mentor_id
            aggregate.matched_on = self.occurred_on

    class Activated(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Duo.Activated"

        def apply(self, aggregate: Duo) -> None:
            aggregate.state = DuoState.ACTIVE
            aggregate.activated_on = self.occurred_on

    class ContactLogged(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Duo.ContactLogged"
        contact_id: ContractId
        minutes: StrictInt = Field(ge=1, le=1440)
        mode: ContactMode
        functions: tuple[Function, ...] = Field(min_length=1, max_length=len(Function))

        def apply(self, aggregate: Duo) -> None:
            aggregate.contacts[self.contact_id] = Contact(self.occurred_on)

    class ContactRetracted(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Duo.ContactRetracted"
        contact_id: ContractId
        reason: RetractReason

        def apply(self, aggregate: Duo) -> None:
            aggregate.contacts[self.contact_id].retracted = True

    class Reviewed(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Duo.Reviewed"
        health: StrictInt | None = Field(ge=1, le=5)

        def apply(self, aggregate: Duo) -> None:
            on = self.occurred_on
            if aggregate.first_review_on is None or on < aggregate.first_review_on:
                aggregate.first_review_on = on
            if aggregate.last_review_on is None or on > aggregate.last_review_on:
                aggregate.last_review_on = on

    class SurveyRecorded(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Duo.SurveyRecorded"
        respondent: Respondent
        phase: Phase
        scores: Scores | None

        def apply(self, aggregate: Duo) -> None:
            aggregate.surveys.add((self.respondent, self.phase))
            on = self.occurred_on
            if aggregate.first_survey_on is None or on < aggregate.first_survey_on:
                aggregate.first_survey_on = on

    class Closed(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Duo.Closed"
        reason: CloseReason
        initiated_by: InitiatedBy | None = None
        exit_interview: StrictBool = False

        def apply(self, aggregate: Duo) -> None:
            aggregate.closed_from = aggregate.state
            aggregate.state = DuoState.CLOSED
            aggregate.closed_on = self.occurred_on
            aggregate.close_reason = self.reason

    class Corrected(DomainEvent):
        """A mistaken lifecycle fact replaced (rule 15); the original event stays.

        ``value`` and ``previous`` are the fact's JSON values: ISO dates for the
        ``*_on`` facts, close reasons for ``close_reason``.
        """

        TOPIC: ClassVar[str] = "lifecycle.Duo.Corrected"
        fact: CorrectableFact
        value: str
        previous: str

        @model_validator(mode="after")
        def _values_of_the_fact(self) -> Self:
            for given in (self.value, self.previous):
                fact_value(self.fact, given)
            return self

        def apply(self, aggregate: Duo) -> None:
            setattr(aggregate, self.fact.value, fact_value(self.fact, self.value))

    class DepartureRecorded(DomainEvent):
        """The mentee of the duo's chain left the prison service on ``occurred_on``."""

        TOPIC: ClassVar[str] = "lifecycle.Duo.DepartureRecorded"
        reason: DepartureReason

        def apply(self, aggregate: Duo) -> None:
            aggregate.departed_on = self.occurred_on

    class Erased(DomainEvent):
        """A person of the duo was forgotten (contract §8, rule 16): the duo's fields
        named in ``fields`` were theirs and no longer open. The event does not name the
        person: ``role`` says which of the duo's two people it was, ``person`` is their
        keyed reference (ADR 34), which the views keep in place of a forgotten mentor's
        id so that the mentor's duos still point at one (unreadable) mentor."""

        TOPIC: ClassVar[str] = "lifecycle.Duo.Erased"
        role: Respondent
        fields: tuple[str, ...]
        person: str

        def apply(self, aggregate: Duo) -> None:
            if self.role is Respondent.MENTEE:
                aggregate.mentee_id = aggregate.department = aggregate.shifts = None
            else:
                aggregate.mentor_id = None
            aggregate.erased = aggregate.erased | {self.role.value}

    # ---------------------------------------------------------------- commands
    @classmethod
    def recruit(cls, meta: EventMeta, duo_id: str, *, programme: Programme, site: Site,
                mentee_id: str, newcomer_kind: NewcomerKind, department: str,
                shifts: tuple[str, ...], predecessor: Duo | None = None) -> Duo:
        """Open a duo in ``recruited`` (the caller checked the id is new)."""
        site.check_in_programme(programme.contract_id)
        programme.check_open_by(meta, "recruit")
        if predecessor is not None:
            predecessor.check_can_precede(meta, mentee_id, programme.contract_id)
        return cls._create(
            cls.Recruited, duo_id, meta, programme_id=programme.contract_id,
            site_id=site.contract_id, mentee_id=mentee_id, newcomer_kind=newcomer_kind,
            department=department, shifts=shifts,
            predecessor_duo_id=None if predecessor is None else predecessor.contract_id,
        )

    def select(self, meta: EventMeta, *, consent: bool) -> None:
        """``recruited → selected``; participation is voluntary."""
        self._check_transition("select", meta)
        self._trigger(self.Selected, meta, consent=consent)

    def erase(self, meta: EventMeta, *, role: Respondent, person: str) -> None:
        """Record that the duo's mentee or mentor was forgotten (rule 16)."""
        fields = (ERASED_MENTEE_FIELDS if role is Respondent.MENTEE
                  else ERASED_MENTOR_FIELDS)
        self._trigger(self.Erased, meta, role=role, fields=fields, person=person)

    def match(self, meta: EventMeta, *, mentor: Mentor, mentor_kind: MentorKind,
              programme: Programme) -> None:
        """``selected → matched`` with ``mentor`` (same programme and site)."""
        if mentor.programme_id != self.programme_id:
            raise WrongProgramme(
                f"mentor '{mentor.label}' belongs to programme '{mentor.programme_id}', "
                f"duo '{self.contract_id}' to '{self.programme_id}'", field="mentor_id")
        if mentor.site_id != self.site_id:
            raise WrongProgramme(
                f"mentor '{mentor.label}' is at site '{mentor.site_id}', the mentee "
                f"of duo '{self.contract_id}' at '{self.site_id}'", field="mentor_id")
        self._check_transition("match", meta)
        mentor.check_registered_by(meta, "match")
        mentor.check_in_pool_on(meta.occurred_on)
        policy = programme.policy
        if mentor_kind not in policy.mentor_kinds:
            allowed = ", ".join(k.value for k in policy.mentor_kinds)
            raise MentorNotAllowed(
                f"mentor_kind '{mentor_kind.value}' is not allowed by programme "
                f"'{programme.contract_id}' (allowed: {allowed})", field="mentor_kind")
        if policy.require_trained_mentor:
            mentor.check_trained_by(meta.occurred_on)
        self._trigger(
            self.Matched, meta, mentor_id=mentor.mentor_id, mentor_kind=mentor_kind,
            shift_overlap=bool(set(self.shifts or ()) & set(mentor.shifts or ())),
            same_department=self.department == mentor.department,
        )

    def activate(self, meta: EventMeta) -> None:
        """``matched → active``: the first meeting took place on ``occurred_on``."""
        self._check_transition("activate", meta)
        self._trigger(self.Activated, meta)

    def close(self, meta: EventMeta, *, reason: CloseReason,
              initiated_by: InitiatedBy | None = None, exit_interview: bool = False) -> None:
        """``* → closed``; ``completed`` only from ``active``."""
        self._check_transition("close", meta)
        if reason is CloseReason.COMPLETED and self.state is not DuoState.ACTIVE:
            raise TransitionNotAllowed(
                f"duo '{self.contract_id}' can be closed as 'completed' only from 'active', "
                f"it is '{self.state.value}'", field="reason")
        counted = [c.occurred_on for c in self.contacts.values() if not c.retracted]
        if counted and meta.occurred_on < max(counted):
            raise DateBeforeLifecycle(
                f"close on {meta.occurred_on} is before the duo's latest contact "
                f"({max(counted)})", field="occurred_on")
        self._trigger(self.Closed, meta, reason=reason, initiated_by=initiated_by,
                      exit_interview=exit_interview)

    def log_contact(self, meta: EventMeta, *, contact_id: str, minutes: int,
                    mode: ContactMode, functions: tuple[Function, ...]) -> None:
        """Record one contact; late entry is normal, even after closure."""
        on = meta.occurred_on
        if self.activated_on is None or on < self.activated_on:
            since = "was never activated" if self.activated_on is None else (
                f"was activated on {self.activated_on}")
            raise ContactOutsideActivePeriod(
                f"contact on {on} but duo '{self.contract_id}' {since}", field="occurred_on")
        if self.closed_on is not None and on > self.closed_on:
            raise ContactOutsideActivePeriod(
                f"contact on {on} but duo '{self.contract_id}' closed on {self.closed_on}",
                field="occurred_on")
        if contact_id in self.contacts:
            raise ContactOutsideActivePeriod(
                f"contact_id '{contact_id}' was already used in duo '{self.contract_id}'",
                field="contact_id")
        self._trigger(self.ContactLogged, meta, contact_id=contact_id, minutes=minutes,
                      mode=mode, functions=functions)

    def retract_contact(self, meta: EventMeta, *, contact_id: str,
                        reason: RetractReason) -> None:
        """Withdraw a logged contact; the original event stays in the history."""
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise ContactNotRetractable(
                f"contact '{contact_id}' is not logged in duo '{self.contract_id}'",
                field="contact_id")
        if contact.retracted:
            raise ContactNotRetractable(
                f"contact '{contact_id}' of duo '{self.contract_id}' is already retracted",
                field="contact_id")
        if meta.occurred_on < contact.occurred_on:
            raise ContactNotRetractable(
                f"retraction on {meta.occurred_on} is before the contact itself "
                f"({contact.occurred_on})", field="occurred_on")
        self._trigger(self.ContactRetracted, meta, contact_id=contact_id, reason=reason)

    def review(self, meta: EventMeta, *, health: int) -> None:
        """A coordinator's follow-up check-in, while the duo runs."""
        if meta.occurred_on < self.recruited_on:
            raise ReviewOutOfPeriod(
                f"review on {meta.occurred_on} is before the duo was recruited "
                f"({self.recruited_on})", field="occurred_on")
        if self.closed_on is not None and meta.occurred_on > self.closed_on:
            raise ReviewOutOfPeriod(
                f"review on {meta.occurred_on} is after the duo closed ({self.closed_on})",
                field="occurred_on")
        self._trigger(self.Reviewed, meta, health=health)

    def record_survey(self, meta: EventMeta, *, respondent: Respondent, phase: Phase,
                      scores: Scores) -> None:
        """One survey answer set per respondent and phase, in any state."""
        if meta.occurred_on < self.recruited_on:
            raise SurveyNotAllowed(
                f"survey on {meta.occurred_on} is before the duo was recruited "
                f"({self.recruited_on})", field="occurred_on")
        if (respondent, phase) in self.surveys:
            raise SurveyNotAllowed(
                f"duo '{self.contract_id}' already has a '{phase.value}' survey of its "
                f"{respondent.value}", field="phase")
        self._trigger(self.SurveyRecorded, meta, respondent=respondent, phase=phase,
                      scores=scores)

    def record_departure(self, meta: EventMeta, *, reason: DepartureReason,
                         first: Duo) -> None:
        """Record that the mentee left the service (rule 17); it closes nothing.

        Args:
            first: the first duo of this duo's chain (itself when it has no
                predecessor). The caller makes sure, through the chain's
                :class:`~lifecycle.domain.markers.Departure` marker, that the chain has
                no departure yet.
        """
        if meta.occurred_on < first.recruited_on:
            raise DepartureInvalid(
                f"departure on {meta.occurred_on} is before the first duo of the chain "
                f"('{first.contract_id}') was recruited on {first.recruited_on}",
                field="occurred_on")
        self._trigger(self.DepartureRecorded, meta, reason=reason)

    def correct(self, meta: EventMeta, *, fact: CorrectableFact, value: date | CloseReason,
                context: CorrectionContext) -> None:
        """Replace a mistaken lifecycle fact (rule 15), keeping every other rule.

        Args:
            fact: the fact to replace.
            value: its correct value (a date, or a close reason for ``close_reason``).
            context: what else the rules look at (see :class:`CorrectionContext`).
        """
        previous = check_correction(self, meta.occurred_on, fact, value, context)
        self._trigger(self.Corrected, meta, fact=fact, value=fact_text(value),
                      previous=fact_text(previous))

    # ---------------------------------------------------------------- checks
    @property
    def latest_lifecycle_date(self) -> date:
        dates = (self.recruited_on, self.selected_on, self.matched_on, self.activated_on)
        return max(d for d in dates if d is not None)

    def _check_transition(self, trigger: str, meta: EventMeta) -> None:
        """Rules 4 and 6: the table allows ``trigger``, and dates do not go backwards."""
        if states.destination(trigger, self.state) is None:
            allowed = ", ".join(states.allowed_triggers(self.state)) or "none"
            raise TransitionNotAllowed(
                f"'{trigger}' is not allowed for duo '{self.contract_id}' in state "
                f"'{self.state.value}' (allowed: {allowed})", field="type")
        if meta.occurred_on < self.latest_lifecycle_date:
            raise DateBeforeLifecycle(
                f"{trigger} on {meta.occurred_on} is before the duo's latest lifecycle "
                f"date ({self.latest_lifecycle_date})", field="occurred_on")

    def check_can_precede(self, meta: EventMeta, mentee_id: str, programme_id: str) -> None:
        """Rule 12: a predecessor has the same mentee and programme and was rematched
        (a forgotten mentee's duo precedes no one: its mentee is nobody's any more)."""
        if self.mentee_id is None or self.mentee_id != mentee_id:
            raise PredecessorInvalid(
                f"predecessor duo '{self.contract_id}' has another mentee",
                field="predecessor_duo_id")
        if self.programme_id != programme_id:
            raise PredecessorInvalid(
                f"predecessor duo '{self.contract_id}' belongs to programme "
                f"'{self.programme_id}'", field="predecessor_duo_id")
        if (self.close_reason is not CloseReason.REMATCHED or self.closed_on is None
                or self.closed_on > meta.occurred_on):
            raise PredecessorInvalid(
                f"predecessor duo '{self.contract_id}' is not closed with 'rematched' on or "
                f"before {meta.occurred_on}", field="predecessor_duo_id")
