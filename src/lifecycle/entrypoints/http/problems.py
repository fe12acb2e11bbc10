"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error response of the service is one JSON object with ``type``, ``title``,
``status`` and ``detail``; a rejected command adds ``rule`` (the number of the rule of
CONTRACT §2 it broke) and ``field`` (the field at fault, or null).
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from lifecycle.domain.errors import DomainError

log = structlog.get_logger("lifecycle.http")

MEDIA_TYPE = "application/problem+json"
REJECTED = "urn:lifecycle:problem:command-rejected"
"""The ``type`` of a command that broke a rule (422)."""
STALE = "urn:lifecycle:problem:stale-version"
"""The ``type`` of a command whose ``If-Match`` names another version of the duo (412)."""

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    422: "Command rejected",
    500: "Internal server error",
    503: "Service unavailable",
}


class ProblemModel(BaseModel):
    """The body of every error response (RFC 9457), for the OpenAPI document."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(default="about:blank", description="What kind of problem (a URI).")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong in this case.")


class RejectionModel(ProblemModel):
    """A command rejected by a rule: nothing was written."""

    model_config = ConfigDict(extra="allow", title="Rejection")

    rule: int = Field(description="The number of the rule that was broken.")
    field: str | None = Field(description="The command field at fault, when one can be named.")


class Problem(Exception):
    """An error the service answers with a problem document.

    Args:
        status: the HTTP status.
        detail: what went wrong, for a person.
        type: the problem type URI (``about:blank``: only the status says it).
        headers: extra response headers.
        extra: extension members of the document (e.g. ``rule``, ``field``).
    """

    def __init__(self, status: int, detail: str, *, type: str = "about:blank",
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> Response:
        body = {"type": self.type, "title": _TITLES.get(self.status, "Error"),
                "status": self.status, "detail": self.detail, **self.extra}
        return Response(orjson.dumps(body), status_code=self.status, media_type=MEDIA_TYPE,
                        headers=self.headers)


def rejected(error: DomainError) -> Problem:
    """The 422 problem of a command that broke a rule."""
    return Problem(422, error.message, type=REJECTED, rule=error.rule, field=error.field)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` with a problem document."""

    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return exc.response()

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return Problem(exc.status_code, detail, headers=dict(exc.headers or {})).response()

    async def on_invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = [str(part) for part in first.get("loc", ()) if part not in ("query", "path",
                                                                            "header", "body")]
        field = ".".join(where) or None
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        return Problem(400, f"{field}: {message}" if field else message,
                       field=field).response()

    async def on_error(_: Request, exc: Exception) -> Response:
        # The type only: an exception's text may quote a command or a row.
        log.error("request_failed", error=type(exc).__name__)
        return Problem(500, "the service failed to answer; the error is logged").response()

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(Exception, on_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
