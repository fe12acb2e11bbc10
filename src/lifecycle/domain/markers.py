"""Marker aggregates that let the store's unique constraint enforce uniqueness.

A marker is saved in the same transaction as the command's events, so two processes
can never both apply the same command id, nor both claim the same predecessor duo.
"""

from __future__ import annotations

from typing import ClassVar

from lifecycle.domain.base import Aggregate, DomainEvent, EventMeta
from lifecycle.domain.errors import CommandIdConflict, PredecessorInvalid


class AppliedCommand(Aggregate):
    """Records that a command id was applied, with a digest of its content."""

    PREFIX: ClassVar[str] = "command"

    digest: str

    class Applied(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.AppliedCommand.Applied"
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


class Succession(Aggregate):
    """Claims a closed duo as the predecessor of exactly one later duo (rule 12)."""

    PREFIX: ClassVar[str] = "succession"

    successor_duo_id: str

    class Claimed(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Succession.Claimed"
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


AppliedCommand.Applied.aggregate_class = AppliedCommand
Succession.Claimed.aggregate_class = Succession
