"""The ASGI application of the HTTP service (CONTRACT §7), on FastAPI (ADR 23)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import structlog
from fastapi import Depends, FastAPI, Request
from starlette.responses import Response

from lifecycle.entrypoints.http import openapi, problems
from lifecycle.entrypoints.http.auth import Authenticator
from lifecycle.entrypoints.http.middleware import MAX_BODY, Guardrails
from lifecycle.entrypoints.http.params import known_query
from lifecycle.entrypoints.http.routes import commands, coordinator, duos, events, report
from lifecycle.entrypoints.http.runtime import Runtime

log = structlog.get_logger("lifecycle.http")

DESCRIPTION = """\
The lifecycle engine for front ends in any language. Every route but this document
needs `Authorization: Bearer TOKEN` (a token made by `lifecycle tokens create`). Roles:
`coordinator` (commands and reads of the programmes on its token), `analyst` (the
published report only), `auditor` (every read, no command), `admin` (everything).
Errors are RFC 9457 problem documents (`application/problem+json`). Every response says
`Cache-Control: no-store`.
"""


def create_app(runtime: Runtime, *, max_body: int = MAX_BODY) -> Any:
    """The service on an opened :class:`Runtime` (started and closed with the app).

    Returns:
        The ASGI application (the FastAPI app inside the service's middleware).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        log.info("service_started", store=runtime.target.kind)
        try:
            yield
        finally:
            runtime.close()
            log.info("service_stopped")

    app = FastAPI(title="lifecycle", version=version("lifecycle"), description=DESCRIPTION,
                  openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan,
                  dependencies=[Depends(known_query)])
    app.state.runtime = runtime
    app.state.authenticator = Authenticator(runtime.tokens)
    problems.install(app)
    for module in (commands, duos, coordinator, report, events):
        app.include_router(module.router)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_document(_: Request) -> Response:
        return duos.json_response(openapi.document(app))

    return Guardrails(app, max_body=max_body)
