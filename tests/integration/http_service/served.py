"""A real ``lifecycle serve`` process for the HTTP tests, and a store to serve."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

_LISTENING = re.compile(r"serving .* on (http://\S+)")


class Server:
    """One ``lifecycle serve`` process (its standard error kept in :attr:`lines`)."""

    def __init__(self, program: Path, db: str | Path, *args: str) -> None:
        self.program = program
        self.db = str(db)
        self.args = args
        self.lines: list[str] = []
        self.url = ""
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 60.0) -> Server:
        env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_DB"}
        self.process = subprocess.Popen(
            [str(self.program), "--db", self.db, "--log-json", "serve", "--port", "0",
             *self.args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=env)
        found = threading.Event()

        def drain(stream: Any) -> None:
            for line in stream:
                self.lines.append(line.rstrip("\n"))
                match = _LISTENING.search(line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        self._drain = threading.Thread(target=drain, args=(self.process.stderr,), daemon=True)
        self._drain.start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("lifecycle serve did not start:\n" + "\n".join(self.lines))
        return self

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def logs(self) -> list[dict[str, Any]]:
        """The structured log lines so far (JSON objects)."""
        return [json.loads(line) for line in self.lines if line.startswith("{")]

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then wait; returns the exit status (None if it was not running)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        finally:
            self._ended()

    def _ended(self) -> None:
        """Wait for the process, then for the last of its standard error."""
        assert self.process is not None and self.process.stderr is not None
        self.process.wait()
        self._drain.join(10)
        self.process.stderr.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        assert self.process is not None
        self.process.kill()
        self._ended()


def make_token(program: Path, db: str | Path, role: str, *programmes: str) -> str:
    args = [str(program), "--db", str(db), "tokens", "create", "--role", role]
    for programme in programmes:
        args += ["--programme", programme]
    env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_DB"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# ---------------------------------------------------------------------- a shared store
def world_commands(stream_class: Callable[..., Any]) -> list[dict[str, Any]]:
    """Two programmes, each with a site, a trained mentor and duos in several states:
    P-1 (S-1, M-1; D-1 active, D-3 selected) and P-2 (S-2, M-2; D-2 active, D-4
    selected)."""
    stream = stream_class("w")
    stream.base("P-1", "S-1", "M-1").base("P-2", "S-2", "M-2")
    stream.duo("active", "D-1")
    stream.duo("active", "D-2", programme_id="P-2", site_id="S-2", mentor_id="M-2")
    stream.duo("selected", "D-3")
    stream.duo("selected", "D-4", programme_id="P-2", site_id="S-2", mentor_id="M-2")
    stream.add("log_contact", "2025-02-10", duo_id="D-1", contact_id="K-1")
    stream.add("log_contact", "2025-02-12", duo_id="D-2", contact_id="K-1")
    commands: list[dict[str, Any]] = stream.commands
    return commands


class World:
    """A running server on a store holding :func:`world_commands`, and a token per role
    (``coordinator``: of P-1 only; ``coordinator_2``: of P-2 only)."""

    def __init__(self, server: Server, tokens: dict[str, str],
                 commands: list[dict[str, Any]]) -> None:
        self.server = server
        self.tokens = tokens
        self.commands = commands

    def client(self, role: str | None = "admin") -> httpx.Client:
        return self.server.client(None if role is None else self.tokens[role])


