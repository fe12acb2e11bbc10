"""The bare eventsourcing library doing the engine's work with a minimal aggregate.

One aggregate per stream the command names (duo, mentor, site or programme); each
command is get + one method + save, one transaction per command, the library's default
JSON transcoder and mapper. This is what a team would write without the engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event


class Minimal(Aggregate):
    """A stream that records every change it is told of."""

    @event("Started")
    def __init__(self, payload: dict[str, Any]) -> None:
        self.changes = [payload]

    @event("Changed")
    def change(self, payload: dict[str, Any]) -> None:
        self.changes.append(payload)

    @staticmethod
    def create_id(payload: dict[str, Any]) -> UUID:
        return stream_uuid(payload)


def stream_uuid(payload: dict[str, Any]) -> UUID:
    for key in ("duo_id", "mentor_id", "site_id", "programme_id"):
        if key in payload:
            return uuid5(NAMESPACE_URL, f"{key}:{payload[key]}")
    raise ValueError("command names no stream")


class BareApplication(Application[UUID]):
    def apply(self, payload: dict[str, Any]) -> None:
        try:
            aggregate: Minimal = self.repository.get(stream_uuid(payload))
        except AggregateNotFoundError:
            aggregate = Minimal(payload)
        else:
            aggregate.change(payload)
        self.save(aggregate)


def bare_application(db: Path) -> BareApplication:
    return BareApplication({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                            "SQLITE_DBNAME": str(db)})


def run_bare(db: Path, lines: list[bytes]) -> int:
    """Apply ``lines`` with the bare library; returns the number applied."""
    app = bare_application(db)
    for line in lines:
        app.apply(json.loads(line))
    app.close()
    return len(lines)
