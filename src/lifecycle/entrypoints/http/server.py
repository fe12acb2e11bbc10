"""Running the service: a listening socket, then uvicorn on it (ADR 23)."""

from __future__ import annotations

import importlib.util
import signal
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn

from lifecycle.adapters.store import StoreTarget
from lifecycle.application.engine import Lifecycle
from lifecycle.entrypoints.http.app import create_app
from lifecycle.entrypoints.http.middleware import MAX_BODY
from lifecycle.entrypoints.http.runtime import Runtime

GRACE_SECONDS = 3
"""On shutdown, how long open requests (and event streams) may still run."""


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (port 0: any free port).

    Raises:
        OSError: the address cannot be used (taken, or not this machine's).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(target: StoreTarget, sock: socket.socket, *, engine: Lifecycle | None = None,
          max_body: int = MAX_BODY, announce: Callable[[str], None] | None = None) -> None:
    """Serve the store ``target`` on the listening socket ``sock`` until stopped
    (SIGINT or SIGTERM: open requests finish, queued commands are applied).

    Args:
        target: the store.
        sock: a listening socket (see :func:`listen`).
        engine: the engine to serve with (by default one is opened on ``target``); the
            service closes it when it stops.
        max_body: the largest request body taken, in bytes.
        announce: called with one line saying where the service listens.
    """
    runtime = Runtime(target, engine)
    app = create_app(runtime, max_body=max_body)
    config = uvicorn.Config(
        app, lifespan="on", access_log=False, log_config=None, server_header=False,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        timeout_graceful_shutdown=GRACE_SECONDS)
    server = uvicorn.Server(config)
    if announce is not None:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        announce(f"serving {target.location} on http://{shown}:{port}")
    # uvicorn stops gracefully on SIGINT and SIGTERM, then raises the signal again for
    # the handler it found: this one, so that a stop asked for ends the command with
    # status 0 rather than as killed by the signal.
    previous = {signum: signal.signal(signum, _stopped) for signum in _STOP_SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stopped(signum: int, frame: FrameType | None) -> None:
    """The stop was asked for and has been carried out: nothing more to do."""
