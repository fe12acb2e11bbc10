"""Marker aggregates that let the store's unique constraint enforce uniqueness.

A marker is saved in the same transaction as the command's events, so two processes
can never both apply the same command id (or, for commands without one, the same
content), nor both claim the same predecessor duo, nor both record a departure for one
chain of duos.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from lifecycle.domain.base import Aggregate, DomainEvent, EventMeta
from lifecycle.domain.errors import CommandIdConflict, DepartureInvalid, PredecessorInvalid


class AppliedCommand(Aggregate):
    """Records that a command id was applied, with a digest of its content."""

    PREFIX: ClassVar[str] = "command"

    digest: str

    class Applied(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.AppliedCommand.Applied"
        creates: ClassVar[bool] = True
        digest: str
        """SHA-256 of the command's canonical JSON (key order does not matter)."""

        def apply(self, aggregate: AppliedCommand) -> None:
            aggregate.digest = self.digest

    @classmethod
    def record(cls, meta: EventMeta, command_id: str, digest: str) -> AppliedCommand:
        return cls._create(cls.Applied, command_id, meta, digest=digest)

    def is_duplicate_of(self, digest: str) -> bool:
        """Rule 13: same content is a duplicate; different content is rejected."""
        if self.digest == digest:
            return True
        raise CommandIdConflict(
            f"command_id '{self.contract_id}' was already applied with different content",
            field="command_id",
        )


class AppliedContent(Aggregate):
    """Records that a command without ``command_id`` was applied (rule 13 v2).

    The stream is named by the digest of the command's content, so an equal command
    without id finds it (a duplicate), and two processes applying the same one at once
    cannot both store it.
    """

    PREFIX: ClassVar[str] = "content"

    class Applied(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.AppliedContent.Applied"
        creates: ClassVar[bool] = True

    @classmethod
    def record(cls, meta: EventMeta, digest: str) -> AppliedContent:
        return cls._create(cls.Applied, digest, meta)


class Departure(Aggregate):
    """The one departure from the service of a mentee's chain of duos (rule 17).

    Keyed by the chain's first duo (the one without a predecessor), which every duo of
    the chain leads back to and which never changes: a later duo only ever joins a
    chain as a successor.
    """

    PREFIX: ClassVar[str] = "departure"

    duo_id: str
    departed_on: date

    class Recorded(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Departure.Recorded"
        creates: ClassVar[bool] = True
        duo_id: str
        """The duo the departure was recorded on."""

        def apply(self, aggregate: Departure) -> None:
            aggregate.duo_id = self.duo_id
            aggregate.departed_on = self.occurred_on

    @classmethod
    def record(cls, meta: EventMeta, first_duo_id: str, duo_id: str,
               existing: Departure | None) -> Departure:
        """Rule 17: no departure is recorded for any duo of the chain yet."""
        if existing is not None:
            raise DepartureInvalid(
                f"a departure was already recorded on {existing.departed_on} for duo "
                f"'{existing.duo_id}' of the same chain", field="duo_id")
        return cls._create(cls.Recorded, first_duo_id, meta, duo_id=duo_id)


class Succession(Aggregate):
    """Claims a closed duo as the predecessor of exactly one later duo (rule 12)."""

    PREFIX: ClassVar[str] = "succession"

    successor_duo_id: str

    class Claimed(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Succession.Claimed"
        creates: ClassVar[bool] = True
        successor_duo_id: str

        def apply(self, aggregate: Succession) -> None:
            aggregate.successor_duo_id = self.successor_duo_id

    @classmethod
    def claim(cls, meta: EventMeta, predecessor_duo_id: str, successor_duo_id: str,
              existing: Succession | None) -> Succession:
        if existing is not None:
            raise PredecessorInvalid(
                f"duo '{predecessor_duo_id}' is already the predecessor of duo "
                f"'{existing.successor_duo_id}'",
                field="predecessor_duo_id",
            )
        return cls._create(cls.Claimed, predecessor_duo_id, meta,
                           successor_duo_id=successor_duo_id)
