"""What every request goes through: the body size limit, the response headers every
answer carries (``Cache-Control: no-store``), and one structured log line.

The log line names the route template (``/duos/{duo_id}``, not the path), the method,
the caller's role, the status and the duration: never the token, the path's ids, the
query or the body, so no personal field reaches the log.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lifecycle.entrypoints.http.problems import Problem

log = structlog.get_logger("lifecycle.http")

MAX_BODY = 64 * 1024
"""The largest request body taken, in bytes (a command is a few hundred)."""

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class BodyTooLarge(Problem):
    """A request body over the limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class Guardrails:
    """ASGI middleware around the whole service.

    Args:
        app: the application.
        max_body: the body size limit in bytes.
    """

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]
        limit = self.max_body
        received = [0]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS.items():
                    headers[name] = value
            await send(message)

        async def limited() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
                if received[0] > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await BodyTooLarge(limit).response()(scope, receive, send_with_headers)
                return
            await self.app(scope, limited, send_with_headers)
        finally:
            route = scope.get("route")
            log.info("request_served", method=scope["method"],
                     route=getattr(route, "path", None), role=_role(scope),
                     status=status[0],
                     duration_ms=round((time.perf_counter() - started) * 1000, 2))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _role(scope: Scope) -> Any:
    state = scope.get("state")
    return state.get("role") if isinstance(state, dict) else None
