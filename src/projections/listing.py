"""The per-duo listing (``lifecycle duos``): each duo as it stood at a business date.

A pure function of the read model: the state at ``as_of`` follows from the lifecycle
dates (they never decrease along the lifecycle); counted contacts are those dated by
``as_of`` and not retracted by then; ``overdue`` follows CONTRACT §4's definition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from projections.views import (
    ACTIVE,
    CLOSED,
    MATCHED,
    RECRUITED,
    SELECTED,
    DuoView,
    ReadModel,
    as_recorded,
    canonical_timestamp,
)

COLUMNS = ("duo_id", "programme_id", "site_id", "mentor_id", "state", "recruited_on",
           "selected_on", "matched_on", "activated_on", "closed_on", "close_reason",
           "closed_from", "contacts", "contact_minutes", "last_contact_on", "active_days",
           "overdue", "predecessor_duo_id", "successor_duo_id")


@dataclass(frozen=True, slots=True)
class DuoRow:
    """One duo as it stood at ``as_of`` (dates after ``as_of`` are left out)."""

    duo_id: str
    programme_id: str
    site_id: str
    mentor_id: str | None
    state: str
    recruited_on: str
    selected_on: str | None
    matched_on: str | None
    activated_on: str | None
    closed_on: str | None
    close_reason: str | None
    closed_from: str | None
    contacts: int
    contact_minutes: int
    last_contact_on: str | None
    active_days: int | None
    overdue: bool
    predecessor_duo_id: str | None
    successor_duo_id: str | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _by(value: str | None, recorded: str | None, day: str, moment: str | None) -> str | None:
    if value is None or value > day:
        return None
    if moment is not None and recorded is not None and recorded > moment:
        return None
    return value


def duo_row(duo: DuoView, model: ReadModel, as_of: date,
            as_at: str | None = None) -> DuoRow | None:
    """The duo at ``as_of`` (and as recorded by ``as_at``), or None if not recruited yet."""
    duo = as_recorded(duo, as_at)
    day = as_of.isoformat()
    recruited = _by(duo.recruited_on, duo.recruited_at, day, as_at)
    if recruited is None:
        return None
    selected = _by(duo.selected_on, duo.selected_at, day, as_at)
    matched = _by(duo.matched_on, duo.matched_at, day, as_at)
    activated = _by(duo.activated_on, duo.activated_at, day, as_at)
    closed = _by(duo.closed_on, duo.closed_at, day, as_at)
    state = (CLOSED if closed else ACTIVE if activated else MATCHED if matched
             else SELECTED if selected else RECRUITED)
    count = minutes = 0
    last: str | None = None
    for contact in duo.contacts.values():
        if _by(contact.occurred_on, contact.recorded_at, day, as_at) is None:
            continue
        if _by(contact.retracted_on, contact.retracted_at, day, as_at) is not None:
            continue
        count += 1
        minutes += contact.minutes
        if last is None or contact.occurred_on > last:
            last = contact.occurred_on
    active_days = None
    if activated is not None:
        end = date.fromisoformat(closed) if closed else as_of
        active_days = (end - date.fromisoformat(activated)).days
    overdue = False
    if state == ACTIVE and activated is not None:
        programme = model.programmes.get(duo.programme_id)
        interval = programme.contact_interval_days if programme else 14
        overdue = (as_of - date.fromisoformat(last or activated)).days > interval
    successor = duo.successor_duo_id
    if successor is not None:
        later = model.duos.get(successor)
        if later is not None:
            later = as_recorded(later, as_at)
        if later is None or _by(later.recruited_on, later.recruited_at, day, as_at) is None:
            successor = None
    return DuoRow(
        duo.duo_id, duo.programme_id, duo.site_id,
        duo.mentor_id if matched else None, state, recruited, selected, matched, activated,
        closed, duo.close_reason if closed else None, duo.closed_from if closed else None,
        count, minutes, last, active_days, overdue, duo.predecessor_duo_id, successor)


def list_duos(model: ReadModel, as_of: date, *, state: str | None = None,
              programme: str | None = None, site: str | None = None,
              overdue: bool = False, as_at: Any = None) -> list[DuoRow]:
    """Every duo recruited by ``as_of`` that passes the filters, ordered by duo id."""
    moment = None if as_at is None else canonical_timestamp(as_at)
    rows = []
    for duo_id in sorted(model.duos):
        duo = model.duos[duo_id]
        if programme is not None and duo.programme_id != programme:
            continue
        if site is not None and duo.site_id != site:
            continue
        row = duo_row(duo, model, as_of, moment)
        if row is None or (state is not None and row.state != state):
            continue
        if overdue and not row.overdue:
            continue
        rows.append(row)
    return rows
