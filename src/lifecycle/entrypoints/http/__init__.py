"""The HTTP service of CONTRACT §7 (``lifecycle serve``), on FastAPI and uvicorn (ADR 23).

- :mod:`.app` — the ASGI application: its routes, errors and middleware.
- :mod:`.routes` — one module per resource: commands, duos, the report, the
  coordinator's lists, the event stream.
- :mod:`.auth` — bearer tokens (kept by :mod:`lifecycle.adapters.tokens`) and roles.
- :mod:`.runtime` — what the service holds while it runs: the engine and its one
  writer (group commit, ADR 25), the readers of the views, the token store.
- :mod:`.problems` / :mod:`.openapi` — RFC 9457 problem documents; the OpenAPI 3.1
  document.
- :mod:`.middleware` — the body limit, ``Cache-Control: no-store``, the request log.
- :mod:`.server` — the listening socket and uvicorn.
"""
