"""Query and path parameters shared by the routes, checked as strictly as the CLI's
options (a date is exactly ``YYYY-MM-DD``; an identifier is an identifier)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import BeforeValidator, WithJsonSchema

from lifecycle.application.commands import IsoDate
from lifecycle.domain.vocabulary import ID_PATTERN
from lifecycle.entrypoints.http.problems import Problem


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an ISO date-time, e.g. 2025-03-01T12:00:00Z")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO date-time, e.g. 2025-03-01T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, BeforeValidator(_timestamp),
                      WithJsonSchema({"type": "string", "format": "date-time"})]
"""An ISO date-time (UTC when it names no offset)."""

DuoId = Annotated[str, Path(pattern=ID_PATTERN, description="The duo's id.",
                            examples=["dk.duo-1"])]
AsOf = Annotated[IsoDate, Query(description="Only what had happened by this date.",
                                examples=["2025-07-31"])]
Today = Annotated[IsoDate | None, Query(description="The date asked about (default: today, "
                                                   "UTC).", examples=["2025-07-31"])]
AsAt = Annotated[Timestamp | None, Query(
    description="Only what had been recorded by this time (ISO date-time, UTC when no "
                "offset is given).", examples=["2025-08-01T12:00:00Z"])]
Programme = Annotated[str | None, Query(pattern=ID_PATTERN,
                                        description="Restrict to one programme.",
                                        examples=["DK-2025"])]


_KNOWN: dict[int, frozenset[str]] = {}


def _query_names(dependant: Any) -> set[str]:
    """The query parameters of a route's dependant and of all its dependencies."""
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


async def known_query(request: Request) -> None:
    """Refuse query parameters the route does not take (a typo is not silently ignored)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _KNOWN.get(id(route))
    if known is None:
        known = _KNOWN[id(route)] = frozenset(_query_names(dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise Problem(400, f"unknown query parameter(s): {', '.join(unknown)} "
                           f"(this route takes: {allowed})", field=unknown[0])
