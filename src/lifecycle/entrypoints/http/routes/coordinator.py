"""The coordinator's lists (CONTRACT §3 v2): ``GET /attention``, ``GET /mentors`` and
``GET /duos/{duo_id}/suggestions``, from the views.

A coordinator who names no programme gets the rows of its own programmes; naming one
outside them is refused (403).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from lifecycle.domain.errors import UnknownReference
from lifecycle.entrypoints.http.auth import Principal, Reader, out_of_scope
from lifecycle.entrypoints.http.openapi import problems
from lifecycle.entrypoints.http.params import DuoId, Programme, Today
from lifecycle.entrypoints.http.problems import Problem
from lifecycle.entrypoints.http.routes.duos import json_response, missing
from lifecycle.entrypoints.http.runtime import Runtime
from projections.coordinator import REASONS, NotSelected, UnknownDuo
from projections.report import UnknownProgramme

router = APIRouter(tags=["coordination"])


class AttentionRow(BaseModel):
    """A duo that needs a coordinator, and why."""

    duo_id: str
    programme_id: str
    site_id: str
    state: str
    reasons: list[str] = Field(description="In this order, those that hold: "
                                           + ", ".join(REASONS) + ".")


class MentorRow(BaseModel):
    """A mentor of the pool at `as_of` (also one who has left)."""

    mentor_id: str
    programme_id: str
    site_id: str
    trained_on: date | None
    deregistered_on: date | None
    open_duos: int = Field(description="Duos matched to the mentor, matched or active.")
    duos: int = Field(description="Every duo matched to the mentor by `as_of`.")


class SuggestionRow(BaseModel):
    """A mentor the duo can be matched with, best first."""

    mentor_id: str
    rank: int
    score: int
    reasons: dict[str, Any] = Field(description="At least `shift_overlap`, "
                                                "`same_department`, `open_duos` and "
                                                "`years_experience`.")


def _scope(principal: Principal, programme: str | None) -> frozenset[str] | None:
    """The programmes the rows may come from (None: every one)."""
    if programme is not None:
        if not principal.holds(programme):
            raise out_of_scope(f"programme '{programme}'")
        return None
    return principal.programmes if principal.scoped else None


def _rows(rows: list[Any], within: frozenset[str] | None) -> Response:
    return json_response([row.as_json() for row in rows
                          if within is None or row.programme_id in within])


def _unknown(programme: str | None) -> Problem:
    return Problem(404, f"programme '{programme}' was never opened in this store",
                   field="programme")


@router.get("/attention", operation_id="getAttention", summary="Duos that need a coordinator",
            description="The duos that need a coordinator at `as_of` (default today), "
                        "ordered by duo id, with their reasons (as `lifecycle attention "
                        "--json`).",
            response_model=None,
            responses={200: {"model": list[AttentionRow]}, **problems(400, 401, 403, 404)})
async def get_attention(
        request: Request, principal: Reader, as_of: Today = None,
        programme: Programme = None,
        reason: Annotated[str | None, Query(
            pattern="^(" + "|".join(REASONS) + ")$",
            description="Only the duos with this reason.")] = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    within = _scope(principal, programme)
    day = as_of if as_of is not None else runtime.engine.today()
    try:
        rows = await runtime.readers.run(
            lambda views: views.attention(day, programme, reason=reason, catch_up=False))
    except UnknownProgramme:
        raise _unknown(programme) from None
    return _rows(rows, within)


@router.get("/mentors", operation_id="getMentors", summary="The mentor pool",
            description="Every mentor registered by `as_of` (default today), also those "
                        "who left, ordered by mentor id (as `lifecycle mentors --json`).",
            response_model=None,
            responses={200: {"model": list[MentorRow]}, **problems(400, 401, 403, 404)})
async def get_mentors(request: Request, principal: Reader, programme: Programme = None,
                      as_of: Today = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    within = _scope(principal, programme)
    day = as_of if as_of is not None else runtime.engine.today()
    try:
        rows = await runtime.readers.run(
            lambda views: views.mentors(day, programme, catch_up=False))
    except UnknownProgramme:
        raise _unknown(programme) from None
    return _rows(rows, within)


@router.get("/duos/{duo_id}/suggestions", operation_id="getDuoSuggestions", tags=["duos"],
            summary="Mentors to match a duo with",
            description="For a duo in `selected` at `as_of` (default today), the mentors "
                        "it can be matched with on that date, best first (as `lifecycle "
                        "suggest --json`). 409 when the duo is not in `selected` then.",
            response_model=None,
            responses={200: {"model": list[SuggestionRow]},
                       **problems(400, 401, 403, 404, 409)})
async def get_suggestions(request: Request, principal: Reader, duo_id: DuoId,
                          as_of: Today = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        duo = await runtime.in_thread(runtime.engine.read_duo, duo_id)
    except UnknownReference:
        raise missing(principal, duo_id) from None
    if not principal.holds(duo.programme_id):
        raise missing(principal, duo_id)
    day = as_of if as_of is not None else runtime.engine.today()
    try:
        rows = await runtime.readers.run(
            lambda views: views.suggest(duo_id, day, catch_up=False))
    except UnknownDuo:
        raise missing(principal, duo_id) from None
    except NotSelected as exc:
        raise Problem(409, str(exc)) from None
    return json_response([row.as_json() for row in rows])
