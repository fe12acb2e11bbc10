"""The programme aggregate: one mentoring programme, its country and policy."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from lifecycle.domain.base import Aggregate, DomainEvent, EventMeta
from lifecycle.domain.errors import DateBeforeDependency
from lifecycle.domain.vocabulary import CountryCode, Policy, Text


class Programme(Aggregate):
    """A programme run by one organisation in one country."""

    PREFIX: ClassVar[str] = "programme"

    name: str
    country: str
    policy: Policy
    opened_on: date

    class Opened(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Programme.Opened"
        creates: ClassVar[bool] = True
        name: Text
        country: CountryCode
        policy: Policy = Policy()

        def apply(self, aggregate: Programme) -> None:
            aggregate.name = self.name
            aggregate.country = self.country
            aggregate.policy = self.policy
            aggregate.opened_on = self.occurred_on

    @classmethod
    def open(cls, meta: EventMeta, programme_id: str, *, name: str, country: str,
             policy: Policy) -> Programme:
        """Open a programme (the caller has checked that the id is new)."""
        return cls._create(cls.Opened, programme_id, meta, name=name, country=country,
                           policy=policy)

    def check_open_by(self, meta: EventMeta, what: str) -> None:
        """Rule 5: ``what`` may not be dated before the programme's opening."""
        if meta.occurred_on < self.opened_on:
            raise DateBeforeDependency(
                f"{what} on {meta.occurred_on} is before programme "
                f"'{self.contract_id}' opened on {self.opened_on}",
                field="occurred_on",
            )
