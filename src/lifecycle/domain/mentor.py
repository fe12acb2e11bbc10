"""The mentor aggregate: an experienced member of staff in a programme's pool."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from lifecycle.domain.base import Aggregate, DomainEvent, EventMeta
from lifecycle.domain.errors import (
    DateBeforeDependency,
    DeregistrationInvalid,
    MentorDeregistered,
    MentorNotTrained,
)
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site
from lifecycle.domain.vocabulary import (
    DeregistrationReason,
    Module,
    NonNegativeInt,
    ShiftCode,
    Text,
)


class Mentor(Aggregate):
    """A registered mentor and the training modules they completed."""

    PREFIX: ClassVar[str] = "mentor"

    programme_id: str
    site_id: str
    department: str
    shifts: tuple[str, ...]
    years_experience: int
    registered_on: date
    first_completed: dict[Module, date]
    deregistered_on: date | None

    class Registered(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Mentor.Registered"
        creates: ClassVar[bool] = True
        programme_id: str
        site_id: str
        department: Text
        shifts: tuple[ShiftCode, ...]
        years_experience: NonNegativeInt

        def apply(self, aggregate: Mentor) -> None:
            aggregate.programme_id = self.programme_id
            aggregate.site_id = self.site_id
            aggregate.department = self.department
            aggregate.shifts = self.shifts
            aggregate.years_experience = self.years_experience
            aggregate.registered_on = self.occurred_on
            aggregate.first_completed = {}
            aggregate.deregistered_on = None

    class TrainingRecorded(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Mentor.TrainingRecorded"
        module: Module

        def apply(self, aggregate: Mentor) -> None:
            known = aggregate.first_completed.get(self.module)
            if known is None or self.occurred_on < known:
                aggregate.first_completed[self.module] = self.occurred_on

    class Deregistered(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Mentor.Deregistered"
        reason: DeregistrationReason

        def apply(self, aggregate: Mentor) -> None:
            aggregate.deregistered_on = self.occurred_on

    @classmethod
    def register(cls, meta: EventMeta, mentor_id: str, *, programme: Programme, site: Site,
                 department: str, shifts: tuple[str, ...], years_experience: int) -> Mentor:
        """Register a mentor at ``site`` of ``programme``."""
        site.check_in_programme(programme.contract_id)
        programme.check_open_by(meta, "register_mentor")
        return cls._create(cls.Registered, mentor_id, meta,
                           programme_id=programme.contract_id, site_id=site.contract_id,
                           department=department, shifts=shifts,
                           years_experience=years_experience)

    def record_training(self, meta: EventMeta, module: Module) -> None:
        """Record a completed module (again, as a refresher, is allowed)."""
        self.check_registered_by(meta, "record_training")
        self._trigger(self.TrainingRecorded, meta, module=module)

    def deregister(self, meta: EventMeta, reason: DeregistrationReason) -> None:
        """Take the mentor out of the pool from ``occurred_on`` on (rule 14).

        The mentor's open duos are left as they are: a coordinator closes or rematches
        them.
        """
        if self.deregistered_on is not None:
            raise DeregistrationInvalid(
                f"mentor '{self.contract_id}' was already deregistered on "
                f"{self.deregistered_on}", field="mentor_id")
        if meta.occurred_on < self.registered_on:
            raise DeregistrationInvalid(
                f"deregister_mentor on {meta.occurred_on} is before mentor "
                f"'{self.contract_id}' was registered on {self.registered_on}",
                field="occurred_on")
        self._trigger(self.Deregistered, meta, reason=reason)

    def check_in_pool_on(self, on: date) -> None:
        """Rule 11 (v2): the mentor was not deregistered on or before ``on``."""
        if self.deregistered_on is not None and self.deregistered_on <= on:
            raise MentorDeregistered(
                f"mentor '{self.contract_id}' left the pool on {self.deregistered_on}",
                field="mentor_id")

    def check_registered_by(self, meta: EventMeta, what: str) -> None:
        """Rule 5: ``what`` may not be dated before the mentor's registration."""
        if meta.occurred_on < self.registered_on:
            raise DateBeforeDependency(
                f"{what} on {meta.occurred_on} is before mentor '{self.contract_id}' "
                f"was registered on {self.registered_on}",
                field="occurred_on",
            )

    @property
    def trained_on(self) -> date | None:
        """The date by which each of the five modules had been completed at least once."""
        if len(self.first_completed) < len(Module):
            return None
        return max(self.first_completed.values())

    def check_trained_by(self, on: date) -> None:
        """Rule 11: the mentor is trained on or before ``on``."""
        trained_on = self.trained_on
        if trained_on is None or trained_on > on:
            missing = sorted(m.value for m in Module if self.first_completed.get(m, date.max) > on)
            raise MentorNotTrained(
                f"mentor '{self.contract_id}' is not trained by {on} "
                f"(modules missing: {', '.join(missing)})",
                field="mentor_id",
            )
