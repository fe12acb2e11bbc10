"""Fixtures of the HTTP tests (see :mod:`served`).

``serve(db, *args)`` (a factory fixture) starts ``lifecycle --db DB --log-json serve
--port 0`` on 127.0.0.1 and returns a :class:`~served.Server` once it listens (port 0:
the server picks a free port and says which on standard error); servers still running
after the test are killed. ``make_token(db, role, *programmes)`` makes a token with the
installed command. ``world`` is a server shared by a module's tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from served import Server, World, make_token, world_commands


@pytest.fixture
def serve(lifecycle_bin: Path) -> Iterator[Callable[..., Server]]:
    """``serve(db, *args) -> Server``: a started server, killed after the test if it
    still runs."""
    started: list[Server] = []

    def start(db: str | Path, *args: str) -> Server:
        started.append(Server(lifecycle_bin, db, *args).start())
        return started[-1]

    yield start
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.fixture(scope="session", name="make_token")
def make_token_fixture(lifecycle_bin: Path) -> Callable[..., str]:
    """``make_token(db, role, *programmes) -> str``: a new token, made by the CLI."""
    return functools.partial(make_token, lifecycle_bin)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, lifecycle_bin: Path,
          new_stream: Callable[..., Any]) -> Iterator[World]:
    """A server on a fresh SQLite store with :func:`world_commands` applied through
    ``POST /commands`` (shared by the tests of a module: they add only ids of their
    own)."""
    db = tmp_path_factory.mktemp("world") / "world.db"
    tokens = {"admin": make_token(lifecycle_bin, db, "admin"),
              "auditor": make_token(lifecycle_bin, db, "auditor"),
              "analyst": make_token(lifecycle_bin, db, "analyst"),
              "coordinator": make_token(lifecycle_bin, db, "coordinator", "P-1"),
              "coordinator_2": make_token(lifecycle_bin, db, "coordinator", "P-2")}
    server = Server(lifecycle_bin, db).start()
    commands = world_commands(new_stream)
    try:
        with server.client(tokens["admin"]) as client:
            for raw in commands:
                answer = client.post("/commands", json=raw)
                assert answer.status_code == 200, answer.text
        yield World(server, tokens, commands)
    finally:
        server.stop()
