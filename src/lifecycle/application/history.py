"""Histories as front ends read them (CONTRACT §3 ``history --json``): a duo's, a
programme's, a site's or a mentor's events, and the whole log with each event's position
and stream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from lifecycle.application.engine import HISTORY_KINDS, Lifecycle
from lifecycle.domain.base import DomainEvent
from lifecycle.domain.mentor import Mentor


def history_rows(engine: Lifecycle, contract_id: str, as_at: datetime | None = None,
                 kind: str = "duo") -> list[dict[str, Any]]:
    """A stream's events as CONTRACT §3 ``history`` rows (recorded by ``as_at``, if
    given): the duo's, or by ``kind`` the programme's, site's or mentor's.

    Raises:
        UnknownReference: there is no such duo (or programme, site, mentor).
    """
    rows = []
    for event in engine.history(contract_id, kind):
        if as_at is not None and event.timestamp > as_at:
            break  # versions are recorded in order: the rest came later
        rows.append(history_row(event, {f"{kind}_id": contract_id}))
    return rows


def history_row(event: DomainEvent, ids: dict[str, str]) -> dict[str, Any]:
    """One event as a ``history`` row, its ``data`` beginning with ``ids``."""
    return {
        "type": type(event).__name__,
        "version": event.originator_version,
        "occurred_on": event.occurred_on.isoformat(),
        "recorded_at": event.timestamp.isoformat(),
        "data": {**ids, **event.data},
    }


def log_rows(engine: Lifecycle, as_at: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every stored event recorded by ``as_at`` (all when None), in log order, as a
    ``history`` row with its ``position`` and ``stream``; the event of a programme,
    site, mentor or duo has that id in its ``data``, as in the stream's own history."""
    mentors: dict[str, str] = {}
    for position, stream, event in engine.log():
        if isinstance(event, Mentor.Registered) and event.mentor_id is not None:
            # A sealed store names a mentor's stream by reference: its registration
            # (the stream's first event) holds the id.
            mentors[stream] = event.mentor_id
        if as_at is not None and event.timestamp > as_at:
            continue  # concurrent writers: a later position may hold an earlier time
        kind, _, contract_id = stream.partition(":")
        contract_id = mentors.get(stream, contract_id)
        ids = {f"{kind}_id": contract_id} if kind in HISTORY_KINDS else {}
        yield {"position": position, "stream": stream, **history_row(event, ids)}
