"""Many clients at once (CONTRACT §7): 32 clients × 250 commands each against a real
server, on SQLite and on PostgreSQL — none lost, none applied twice, the views equal to
a rebuild — and the same load while the server is killed (SIGKILL) and restarted at
least ten times: every acknowledged command is stored exactly once."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from load_commands import PER_DUO, duo_commands, setup_commands
from served import Server

from lifecycle.adapters.store import connect, resolve_target
from lifecycle.bootstrap import open_engine

CLIENTS = 32
PER_CLIENT = 250
DUOS_PER_CLIENT = PER_CLIENT // PER_DUO


def client_commands(client: int) -> list[dict[str, Any]]:
    """One client's 250 commands: 25 duos, each recruited, selected, matched, activated,
    five contacts, closed."""
    commands: list[dict[str, Any]] = []
    for n in range(DUOS_PER_CLIENT):
        commands += duo_commands(f"D-{client}-{n}", f"E-{client}-{n}")
    for number, raw in enumerate(commands):
        raw["command_id"] = f"L-{client}-{number}"
    return commands


class Client:
    """One client sending its commands one after another on a kept-alive connection,
    sending a command again until it is acknowledged (the server may be down)."""

    def __init__(self, url: str, token: str, acknowledged: list[dict[str, Any]]) -> None:
        parts = urlparse(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Authorization": f"Bearer {token}",
                        "Content-Type": "application/json"}
        self.acknowledged = acknowledged
        self.conn: http.client.HTTPConnection | None = None

    def send(self, raw: dict[str, Any], deadline: float) -> dict[str, Any]:
        body = json.dumps(raw)
        while True:
            assert time.monotonic() < deadline, "the load did not finish in time"
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.conn.request("POST", "/commands", body, self.headers)
                answer = self.conn.getresponse()
                data = answer.read()
            except (OSError, http.client.HTTPException):
                self.close()
                time.sleep(0.05)  # the server is restarting
                continue
            if answer.status == 503:
                time.sleep(0.05)
                continue
            assert answer.status == 200, (answer.status, data)
            outcome: dict[str, Any] = json.loads(data)
            self.acknowledged.append({"command_id": raw["command_id"], **outcome})
            return outcome

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_load(url: Callable[[], str], token: str, *, timeout: float = 600.0,
             progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Every client's commands through ``url()`` (asked again after a failure); returns
    every acknowledgement."""
    deadline = time.monotonic() + timeout
    acknowledged: list[dict[str, Any]] = []
    setup = Client(url(), token, acknowledged)
    for raw in setup_commands():
        setup.send(raw, deadline)
    setup.close()
    failures: list[BaseException] = []

    def work(number: int) -> None:
        client = Client(url(), token, acknowledged)
        try:
            for raw in client_commands(number):
                client.send(raw, deadline)
                if progress is not None:
                    progress(len(acknowledged))
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return acknowledged


def assert_stored_exactly_once(db: str, acknowledged: list[dict[str, Any]],
                               cli: Callable[..., Any]) -> None:
    """Every command acknowledged, each stored once; the views equal a rebuild."""
    sent = {raw["command_id"] for raw in setup_commands()} | {
        raw["command_id"] for n in range(CLIENTS) for raw in client_commands(n)}
    assert {ack["command_id"] for ack in acknowledged} == sent
    target = resolve_target(db)
    with open_engine(target) as engine:
        table = engine.app.recorder.events_table_name  # type: ignore[attr-defined]
        # What the store keeps of each command id (a sealed store: a keyed digest).
        expected = {f"command:{engine.command_key(command_id)}" for command_id in sent}
    conn = connect(target)
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT originator_id, count(*) FROM {table} "
                       "WHERE originator_id LIKE 'command:%' GROUP BY originator_id")
        markers = dict(cursor.fetchall())
        cursor.execute(f"SELECT originator_id, count(*), max(originator_version) "
                       f"FROM {table} WHERE originator_id LIKE 'duo:%' "
                       "GROUP BY originator_id")
        duos = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    finally:
        conn.close()
    assert set(markers) == expected
    assert set(markers.values()) == {1}
    assert len(duos) == CLIENTS * DUOS_PER_CLIENT
    assert set(duos.values()) == {(10, 10)}  # recruit … close: each event once
    projections = cli("--db", db, "audit", "projections")
    assert projections.returncode == 0, projections.stdout + projections.stderr
    verified = cli("--db", db, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = cli("--db", db, "report", "--as-of", "2025-12-31", "--json")
    figures = json.loads(report.stdout)
    assert figures["duos"]["total"] == CLIENTS * DUOS_PER_CLIENT
    assert figures["contact_frequency"]["contacts"] == CLIENTS * DUOS_PER_CLIENT * 5


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return str(tmp_path / "load.db")


@pytest.mark.slow
def test_32_clients_at_once_lose_nothing_and_apply_nothing_twice(
        store: str, serve: Callable[..., Server], make_token: Callable[..., str],
        cli: Callable[..., Any]) -> None:
    token = make_token(store, "admin")
    server = serve(store)
    acknowledged = run_load(lambda: server.url, token)
    assert server.stop() == 0
    applied = [ack for ack in acknowledged if ack["outcome"] == "applied"]
    assert len(applied) == len(acknowledged)  # nothing was sent twice
    # Commands shared transactions: fewer commits than commands.
    stopped = next(line for line in server.logs() if line.get("event") == "writer_stopped")
    assert stopped["commands"] == len(acknowledged)
    assert stopped["batches"] < stopped["commands"]
    assert_stored_exactly_once(store, acknowledged, cli)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_every_acknowledged_command_survives_ten_kills_of_the_server_exactly_once(
        store: str, lifecycle_bin: Path, make_token: Callable[..., str],
        cli: Callable[..., Any]) -> None:
    token = make_token(store, "admin")
    port = _free_port()
    servers = [Server(lifecycle_bin, store, "--port", str(port)).start()]
    kills = 0
    total = len(setup_commands()) + CLIENTS * PER_CLIENT
    every = total // 13  # a kill after each such share of the load: at least ten
    lock = threading.Lock()

    def progress(done: int) -> None:
        nonlocal kills
        with lock:
            if done < (kills + 1) * every or kills >= 12:
                return
            servers[-1].kill()  # SIGKILL: no shutdown of any kind
            kills += 1
            servers.append(Server(lifecycle_bin, store, "--port", str(port)).start())

    try:
        acknowledged = run_load(lambda: f"http://127.0.0.1:{port}", token,
                                progress=progress)
    finally:
        servers[-1].stop()
    assert kills >= 10
    # A command whose answer was lost in a kill was sent again: then a duplicate.
    assert {ack["outcome"] for ack in acknowledged} <= {"applied", "duplicate"}
    last = {ack["command_id"]: ack for ack in acknowledged}
    assert len(last) == total
    assert_stored_exactly_once(store, acknowledged, cli)
