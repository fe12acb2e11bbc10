"""What the HTTP benchmarks share: a ``lifecycle serve`` process, a token, and a lean
HTTP/1.1 client (asyncio streams on kept-alive connections), so that the client's own
cost stays small beside the server's on a 2-core machine."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from common import DATA, ROOT

_LISTENING = re.compile(r"serving .* on http://([^:]+):(\d+)")


def make_token(db: str) -> str:
    """An admin token of the store ``db`` (made in this process)."""
    from lifecycle.adapters.store import resolve_target
    from lifecycle.adapters.tokens import TokenStore
    from lifecycle.bootstrap import open_engine

    target = resolve_target(db)
    open_engine(target).shutdown()
    with TokenStore(target) as tokens:
        return tokens.create("admin")[1]


class Service:
    """A running ``lifecycle --log-json serve --port 0`` (its log in ``bench/data``)."""

    def __init__(self, db: str, name: str) -> None:
        self.log = DATA / f"{name}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT.parent / "src")}
        self._stderr = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lifecycle", "--db", db, "--log-json", "serve",
             "--port", "0"], stdout=subprocess.DEVNULL, stderr=self._stderr, env=env)
        deadline = time.monotonic() + 120
        while True:
            found = _LISTENING.search(self.log.read_text())
            if found:
                self.host, self.port = found.group(1), int(found.group(2))
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"lifecycle serve did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> dict[str, Any]:
        """Stop it (SIGTERM); returns its ``writer_stopped`` log line."""
        self.process.terminate()
        self.process.wait(60)
        self._stderr.close()
        for line in self.log.read_text().splitlines():
            if line.startswith("{") and json.loads(line).get("event") == "writer_stopped":
                found: dict[str, Any] = json.loads(line)
                return found
        return {}


@contextmanager
def service(db: str, name: str) -> Iterator[Service]:
    running = Service(db, name)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()


class Connection:
    """One kept-alive HTTP/1.1 connection sending requests one after another."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n").encode() + self.auth
        if body:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        self.writer.write(head + b"\r\n" + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(line.split(b":")[1]) for line in lines
                      if line.lower().startswith(b"content-length:"))
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
