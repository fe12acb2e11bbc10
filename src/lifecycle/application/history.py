"""A duo's history as front ends read it (CONTRACT §3 ``history --json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lifecycle.application.engine import Lifecycle


def history_rows(engine: Lifecycle, duo_id: str,
                 as_at: datetime | None = None) -> list[dict[str, Any]]:
    """The duo's events as CONTRACT §3 ``history`` rows (recorded by ``as_at``, if given).

    Raises:
        UnknownReference: there is no such duo.
    """
    rows = []
    for event in engine.history(duo_id):
        if as_at is not None and event.timestamp > as_at:
            break  # versions are recorded in order: the rest came later
        rows.append({
            "type": type(event).__name__,
            "version": event.originator_version,
            "occurred_on": event.occurred_on.isoformat(),
            "recorded_at": event.timestamp.isoformat(),
            "data": {"duo_id": duo_id, **event.data},
        })
    return rows
