"""``GET /events``: the event log as server-sent events, resumable.

One SSE message per stored event, in log order, its ``id`` the event's log position:
a client that reconnects with ``Last-Event-ID`` (as browsers' ``EventSource`` does) or
``?after=`` gets what came after it, then new events as they are stored. A coordinator
gets only the events of its programmes and of their sites, mentors and duos.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response, StreamingResponse

from lifecycle.application.engine import Lifecycle
from lifecycle.domain.base import DomainEvent
from lifecycle.entrypoints.http.auth import Principal, Reader
from lifecycle.entrypoints.http.openapi import problems
from lifecycle.entrypoints.http.problems import Problem
from lifecycle.entrypoints.http.runtime import Runtime

router = APIRouter(tags=["events"])

PAGE = 500
"""Events read from the store at a time."""
POLL_SECONDS = 1.0
"""How often a stream looks for events other processes stored."""
KEEPALIVE_SECONDS = 15.0
"""How often an idle stream sends a comment, so that proxies keep it open."""
_HELD_BY_PROGRAMME = ("site", "mentor", "duo")
_PROGRAMMES_KNOWN = 10_000


class Feed:
    """Reads the log from a position on, as SSE messages, for one caller.

    Args:
        engine: the engine whose log is read.
        principal: the caller; a coordinator sees only its programmes' events.
    """

    def __init__(self, engine: Lifecycle, principal: Principal) -> None:
        self.engine = engine
        self.principal = principal
        self._programme_of: dict[str, str | None] = {}

    def page(self, after: int) -> tuple[int, list[bytes]]:
        """The messages of up to :data:`PAGE` events after ``after``, and the position
        read up to (events the caller may not see are passed over, not sent)."""
        app = self.engine.app
        notifications = app.recorder.select_notifications(
            start=after, limit=PAGE, inclusive_of_start=False)
        messages = []
        for notification in notifications:
            stream = str(notification.originator_id)
            if self.principal.scoped and not self.principal.holds(self._programme(stream)):
                continue
            event: DomainEvent = app.mapper.to_domain_event(notification)  # type: ignore[assignment]
            kind, _, key = stream.partition(":")
            body = {"position": notification.id, "aggregate": kind, "aggregate_id": key,
                    "version": notification.originator_version, "type": type(event).__name__,
                    "occurred_on": event.occurred_on.isoformat(),
                    "recorded_at": event.timestamp.isoformat(), "data": event.data}
            messages.append(b"id: %d\ndata: %b\n\n" % (notification.id, orjson.dumps(body)))
        return (notifications[-1].id if notifications else after), messages

    def _programme(self, stream: str) -> str | None:
        """The programme an aggregate belongs to (None: to none, e.g. a command marker)."""
        if stream in self._programme_of:
            return self._programme_of[stream]
        kind, _, key = stream.partition(":")
        programme: str | None = None
        if kind == "programme":
            programme = key
        elif kind in _HELD_BY_PROGRAMME or kind == "succession":
            # A succession is claimed on its predecessor duo: that duo's programme.
            first = next(iter(self.engine.app.events.get(
                stream if kind != "succession" else f"duo:{key}", lte=1)), None)
            programme = getattr(first, "programme_id", None)
        if len(self._programme_of) >= _PROGRAMMES_KNOWN:
            self._programme_of.clear()
        self._programme_of[stream] = programme
        return programme


def _start(after: int | None, last_event_id: str | None) -> int:
    if last_event_id is not None:
        text = last_event_id.strip()
        if not text.isdigit() or not text.isascii():
            raise Problem(400, "Last-Event-ID must be the id of an event this stream sent "
                               "(a log position)", field="Last-Event-ID")
        return int(text)
    return after or 0


@router.get(
    "/events", operation_id="getEvents", summary="The event log, as it grows",
    description="Server-sent events: one message per stored event, in log order, with "
                "the event's log position as its `id` and a JSON object as its `data` "
                "(`position`, `aggregate`, `aggregate_id`, `version`, `type`, "
                "`occurred_on`, `recorded_at`, `data`). The stream stays open and sends "
                "new events as they are stored. Resume with `Last-Event-ID` (which wins "
                "over `after`). A coordinator gets only its programmes' events.",
    response_model=None,
    responses={200: {"description": "An endless stream of server-sent events.",
                     "content": {"text/event-stream": {"schema": {"type": "string"}}}},
               **problems(400, 401, 403)})
async def get_events(
        request: Request,
        principal: Reader,
        after: Annotated[int | None, Query(ge=0, description="Send the events after this "
                                                             "log position (default 0).")
                         ] = None,
        last_event_id: Annotated[str | None, Header(
            alias="Last-Event-ID", description="The id of the last event received.")] = None,
) -> Response:
    runtime: Runtime = request.app.state.runtime
    feed = Feed(runtime.engine, principal)
    position = _start(after, last_event_id)

    async def stream() -> AsyncIterator[bytes]:
        nonlocal position
        yield b"retry: 2000\n\n"
        idle = 0.0
        while True:
            changed = runtime.changed()  # taken before reading: no commit is missed
            reached, messages = await runtime.in_thread(feed.page, position)
            if messages:
                idle = 0.0
                yield b"".join(messages)
            if reached != position:
                position = reached
                continue
            try:
                await asyncio.wait_for(changed.wait(), POLL_SECONDS)
            except TimeoutError:
                idle += POLL_SECONDS
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield b": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})
