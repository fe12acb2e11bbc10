"""``POST /commands``: one command, applied by the service's one writer (group commit)."""

from __future__ import annotations

import asyncio
from typing import Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from lifecycle.application.access import CommandGuard, NotPermitted, StaleVersion
from lifecycle.application.batch import Submission
from lifecycle.application.commands import Command, parse_command
from lifecycle.application.engine import ConcurrencyConflict
from lifecycle.application.groupcommit import WriterStopped
from lifecycle.domain.errors import DomainError, InvalidCommand
from lifecycle.entrypoints.http.auth import Writer
from lifecycle.entrypoints.http.openapi import problems
from lifecycle.entrypoints.http.problems import STALE, Problem, rejected
from lifecycle.entrypoints.http.runtime import Runtime

router = APIRouter()


class CommandAccepted(BaseModel):
    """A command that was stored now, or had been stored before."""

    outcome: Literal["applied", "duplicate"] = Field(
        description="`applied`: stored now; `duplicate`: the same command (same id and "
                    "content, or same content without an id) was stored before (rule 13).")
    position: int = Field(
        description="A position of the event log by which every event of the command is "
                    "stored: for `applied`, the last event of the transaction that stored "
                    "it; for `duplicate`, the log's end when it was recognised.")


def if_match(header: str | None, command: Command) -> frozenset[int] | str | None:
    """The duo versions an ``If-Match`` header accepts (``"*"``: any; None: no header).

    Raises:
        Problem: 400 for a header that is not a list of entity tags, or on a command that
            names no duo.
    """
    if header is None:
        return None
    if "duo_id" not in type(command).model_fields:
        raise Problem(400, f"If-Match applies to commands that name a duo; "
                           f"{command.type} names none", field="duo_id")
    if header.strip() == "*":
        return "*"
    versions = set()
    for tag in (part.strip() for part in header.split(",")):
        if tag.startswith("W/"):
            continue  # a weak tag never matches in the strong comparison If-Match uses
        inner = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        if not inner.isdigit() or not inner.isascii():
            raise Problem(400, f"If-Match must list entity tags such as \"3\" (a duo's "
                               f"version, as its ETag gives it), not {tag!r}")
        versions.add(int(inner))
    return frozenset(versions)


@router.post(
    "/commands", operation_id="postCommand", tags=["commands"],
    summary="Apply one command",
    description="One command, the object of one JSONL line of `lifecycle import` "
                "(docs/interface.md). It is applied whole or not at all; a rejected command "
                "writes nothing. Commands sent at the same time share durable "
                "transactions (group commit); the answer comes once the command is on "
                "disk. With `If-Match` (a duo's ETag) the command is applied only while "
                "the duo it names is at that version. Coordinators may send commands of "
                "their programmes only.",
    response_model=None,
    responses={200: {"model": CommandAccepted, "description": "Applied, or a duplicate."},
               **problems(400, 401, 403, 409, 412, 413, 422, 503)},
    openapi_extra={"x-lifecycle-command-body": True},
)
async def post_command(request: Request,
                       principal: Writer
                       ) -> Response:
    body = await request.body()
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise rejected(InvalidCommand(f"not valid JSON ({exc})")) from None
    try:
        command = parse_command(raw, body)
    except DomainError as exc:
        raise rejected(exc) from None
    versions = if_match(request.headers.get("if-match"), command)
    guard = None
    if principal.scoped or versions is not None:
        guard = CommandGuard(principal.programmes if principal.scoped else None, versions)
    runtime: Runtime = request.app.state.runtime
    try:
        settled = await asyncio.wrap_future(runtime.writer.submit(Submission(command, raw,
                                                                             guard)))
    except WriterStopped:
        raise Problem(503, "the service is shutting down; send the command again",
                      headers={"Retry-After": "1"}) from None
    except Exception as exc:  # the store failed; the writer logged it
        raise Problem(503, f"the store could not take the command ({type(exc).__name__}); "
                           "send it again (if it was stored after all, it is then a "
                           "duplicate)", headers={"Retry-After": "1"}) from None
    error = settled.error
    if error is None:
        assert settled.outcome is not None
        return Response(orjson.dumps({"outcome": settled.outcome.value,
                                      "position": settled.position}),
                        media_type="application/json")
    if isinstance(error, NotPermitted):
        raise Problem(403, error.message, field=error.field)
    if isinstance(error, StaleVersion):
        headers = {} if error.current is None else {"ETag": f'"{error.current}"'}
        raise Problem(412, error.message, type=STALE, headers=headers, field=error.field)
    if isinstance(error, ConcurrencyConflict):
        raise Problem(409, error.message, headers={"Retry-After": "1"})
    raise rejected(error)
