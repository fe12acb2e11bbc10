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
    ContractId,
    DeregistrationReason,
    Module,
    NonNegativeInt,
    ShiftCode,
    Text,
)

ERASED_FIELDS: tuple[str, ...] = (
    "mentor_id", "department", "shifts", "years_experience", "module")
"""What a forgotten mentor's erasure names: the registration's personal fields and the
module of each training record."""


class Mentor(Aggregate):
    """A registered mentor and the training modules they completed."""

    PREFIX: ClassVar[str] = "mentor"

    mentor_id: str | None
    """The mentor's id (the stream of a sealed store is named by its keyed reference,
    not by the id); None once the mentor was forgotten."""
    programme_id: str
    site_id: str
    department: str | None
    shifts: tuple[str, ...] | None
    years_experience: int | None
    erased: bool
    registered_on: date
    first_completed: dict[Module, date]
    deregistered_on: date | None

    class Registered(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Mentor.Registered"
        creates: ClassVar[bool] = True
        programme_id: str
        site_id: str
        # Personal fields (contract §8): None when read back sealed under a shredded key
        # or without the master key. ``mentor_id`` is stored (sealed) only by a sealed
        # store, whose mentor streams are named by reference; a plain store's mapper
        # fills it in from the stream id.
        department: Text | None
        shifts: tuple[ShiftCode, ...] | None
        years_experience: NonNegativeInt | None
        mentor_id: ContractId | None = None

        def apply(self, aggregate: Mentor) -> None:
            aggregate.mentor_id = self.mentor_id
            aggregate.erased = False
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
        module: Module | None

        def apply(self, aggregate: Mentor) -> None:
            if self.module is None:
                return  # a forgotten mentor's training record (ADR 35)
            known = aggregate.first_completed.get(self.module)
            if known is None or self.occurred_on < known:
                aggregate.first_completed[self.module] = self.occurred_on

    class Deregistered(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Mentor.Deregistered"
        reason: DeregistrationReason

        def apply(self, aggregate: Mentor) -> None:
            aggregate.deregistered_on = self.occurred_on

    class Erased(DomainEvent):
        """The mentor was forgotten (contract §8, rule 16): ``fields`` of the mentor's
        registration and training records no longer open."""

        TOPIC: ClassVar[str] = "lifecycle.Mentor.Erased"
        fields: tuple[str, ...]

        def apply(self, aggregate: Mentor) -> None:
            aggregate.mentor_id = aggregate.department = aggregate.shifts = None
            aggregate.years_experience = None
            aggregate.first_completed = {}
            aggregate.erased = True

    @classmethod
    def register(cls, meta: EventMeta, mentor_id: str, *, programme: Programme, site: Site,
                 department: str, shifts: tuple[str, ...], years_experience: int,
                 stream_key: str | None = None) -> Mentor:
        """Register a mentor at ``site`` of ``programme``.

        Args:
            stream_key: what names the mentor's stream when not the id (a sealed
                store's keyed reference of it).
        """
        site.check_in_programme(programme.contract_id)
        programme.check_open_by(meta, "register_mentor")
        return cls._create(cls.Registered, stream_key or mentor_id, meta,
                           programme_id=programme.contract_id, site_id=site.contract_id,
                           department=department, shifts=shifts,
                           years_experience=years_experience, mentor_id=mentor_id)

    @property
    def label(self) -> str:
        """How messages name the mentor: the id, or (forgotten) the stream's key."""
        return self.mentor_id or self.contract_id

    def erase(self, meta: EventMeta) -> None:
        """Record that the mentor was forgotten (rule 16)."""
        self._trigger(self.Erased, meta, fields=ERASED_FIELDS)

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
                f"mentor '{self.label}' was already deregistered on "
                f"{self.deregistered_on}", field="mentor_id")
        if meta.occurred_on < self.registered_on:
            raise DeregistrationInvalid(
                f"deregister_mentor on {meta.occurred_on} is before mentor "
                f"'{self.label}' was registered on {self.registered_on}",
                field="occurred_on")
        self._trigger(self.Deregistered, meta, reason=reason)

    def check_in_pool_on(self, on: date) -> None:
        """Rule 11 (v2): the mentor was not deregistered on or before ``on``."""
        if self.deregistered_on is not None and self.deregistered_on <= on:
            raise MentorDeregistered(
                f"mentor '{self.label}' left the pool on {self.deregistered_on}",
                field="mentor_id")

    def check_registered_by(self, meta: EventMeta, what: str) -> None:
        """Rule 5: ``what`` may not be dated before the mentor's registration."""
        if meta.occurred_on < self.registered_on:
            raise DateBeforeDependency(
                f"{what} on {meta.occurred_on} is before mentor '{self.label}' "
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
                f"mentor '{self.label}' is not trained by {on} "
                f"(modules missing: {', '.join(missing)})",
                field="mentor_id",
            )
