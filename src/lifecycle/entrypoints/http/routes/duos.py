"""``GET /duos/{duo_id}`` (the duo now, its version as ETag) and its history."""

from __future__ import annotations

from datetime import date, datetime
from itertools import takewhile
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from lifecycle.application.history import history_rows
from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import UnknownReference
from lifecycle.entrypoints.http.auth import Principal, Reader, out_of_scope
from lifecycle.entrypoints.http.openapi import problems
from lifecycle.entrypoints.http.params import AsAt, DuoId
from lifecycle.entrypoints.http.problems import Problem
from lifecycle.entrypoints.http.runtime import Runtime

router = APIRouter(tags=["duos"])


class DuoState(BaseModel):
    """A duo as it stands now (every recorded event applied)."""

    duo_id: str
    version: int = Field(description="How many events the duo has (also its ETag).")
    programme_id: str
    site_id: str
    state: str = Field(description="recruited, selected, matched, active or closed.")
    mentee_id: str | None
    mentor_id: str | None
    predecessor_duo_id: str | None
    recruited_on: date
    selected_on: date | None
    matched_on: date | None
    activated_on: date | None
    closed_on: date | None
    close_reason: str | None
    closed_from: str | None = Field(description="The state the duo was closed from.")
    contacts: int = Field(description="Logged contacts not retracted.")


class HistoryRow(BaseModel):
    """One event of the duo, as `lifecycle history --json` prints it."""

    type: str
    version: int
    occurred_on: date
    recorded_at: datetime
    data: dict[str, Any]


def duo_json(duo: Duo) -> dict[str, Any]:
    def day(value: date | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "duo_id": duo.contract_id, "version": duo.version,
        "programme_id": duo.programme_id, "site_id": duo.site_id, "state": duo.state.value,
        "mentee_id": duo.mentee_id, "mentor_id": duo.mentor_id,
        "predecessor_duo_id": duo.predecessor_duo_id,
        "recruited_on": day(duo.recruited_on), "selected_on": day(duo.selected_on),
        "matched_on": day(duo.matched_on), "activated_on": day(duo.activated_on),
        "closed_on": day(duo.closed_on),
        "close_reason": None if duo.close_reason is None else duo.close_reason.value,
        "closed_from": None if duo.closed_from is None else duo.closed_from.value,
        "contacts": sum(1 for contact in duo.contacts.values() if not contact.retracted),
    }


def missing(principal: Principal, duo_id: str) -> Problem:
    """The answer about a duo the caller cannot see: to a coordinator, one of another
    programme and one that does not exist get the same 403."""
    if principal.scoped:
        return out_of_scope(f"duo '{duo_id}'")
    return Problem(404, f"duo '{duo_id}' does not exist")


def json_response(value: Any, **headers: str) -> Response:
    return Response(orjson.dumps(value), media_type="application/json", headers=headers)


@router.get("/duos/{duo_id}", operation_id="getDuo", summary="A duo now",
            description="The duo's current state and `version`, which is also its "
                        "`ETag` (send it as `If-Match` with a command to apply the command "
                        "only while the duo is at that version).",
            response_model=None,
            responses={200: {"model": DuoState, "headers": {"ETag": {
                "description": "The duo's version, quoted.", "schema": {"type": "string"}}}},
                       **problems(400, 401, 403, 404)})
async def get_duo(request: Request, principal: Reader, duo_id: DuoId) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        duo = await runtime.in_thread(runtime.engine.read_duo, duo_id)
    except UnknownReference:
        raise missing(principal, duo_id) from None
    if not principal.holds(duo.programme_id):
        raise missing(principal, duo_id)
    return json_response(duo_json(duo), ETag=f'"{duo.version}"')


@router.get("/duos/{duo_id}/history", operation_id="getDuoHistory",
            summary="A duo's events",
            description="The duo's events in the order they were recorded, as "
                        "`lifecycle history --json` prints them; with `as_at`, only those "
                        "recorded by then.",
            response_model=None,
            responses={200: {"model": list[HistoryRow]}, **problems(400, 401, 403, 404)})
async def get_duo_history(request: Request, principal: Reader, duo_id: DuoId,
                          as_at: AsAt = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        rows = await runtime.in_thread(history_rows, runtime.engine, duo_id)
    except UnknownReference:
        raise missing(principal, duo_id) from None
    if not principal.holds(rows[0]["data"]["programme_id"]):
        raise missing(principal, duo_id)
    if as_at is not None:
        # Versions are recorded in order: the first one recorded later ends the list.
        rows = list(takewhile(lambda row: datetime.fromisoformat(row["recorded_at"]) <= as_at,
                              rows))
        if not rows:
            raise Problem(404, f"duo '{duo_id}' had not been recorded by {as_at.isoformat()}")
    return json_response(rows)
