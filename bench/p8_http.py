"""P8: commands/s through the HTTP service with 16 concurrent clients, on SQLite with
``synchronous=FULL``, against (a) raw sqlite3 committing one small insert per
transaction at the same durability (the disk's flush rate) and (b) the same service
with one client — group commit at work (ADR 25).

The contestants take turns in rounds (ADR 13): each round times raw commits, then the
service with 16 clients, then with one client, each on its share; each rate is the
total over the rounds. The clients send commands one after another, each waiting for
its answer (recruit, select, match, activate, five contacts, close of duos of their
own), over kept-alive connections from this process; the server runs in its own
process with its request log on. Latencies (median, 99th percentile) are per request.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator
from itertools import count

from common import ROOT, env_int, fresh_db, result
from service import Connection, make_token, service

# The load test's commands (one module for both, so they drive the same work).
sys.path.insert(0, str(ROOT.parent / "tests" / "integration" / "http_service"))
import load_commands

_duos = count()


def duo_commands() -> Iterator[bytes]:
    """Endless commands of new duos (those of the load test), each with its own command
    id."""
    while True:
        duo = f"D-{next(_duos)}"
        for number, raw in enumerate(load_commands.duo_commands(duo, f"E-{duo}")):
            raw["command_id"] = f"{duo}-{number}"
            yield json.dumps(raw).encode()


async def clients(host: str, port: int, token: str, how_many: int, each: int
                  ) -> tuple[float, list[float]]:
    """``how_many`` clients sending ``each`` commands; (seconds, latencies)."""
    latencies: list[float] = []

    async def one() -> None:
        connection = Connection(host, port, token)
        commands = duo_commands()
        try:
            for _ in range(each):
                body = next(commands)
                started = time.perf_counter()
                status, answer = await connection.request("POST", "/commands", body)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise SystemExit(f"P8: {status} {answer[:200]!r}")
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(how_many)))
    return time.perf_counter() - started, latencies


def raw_commits(conn: sqlite3.Connection, times: int) -> float:
    body = b"x" * 200
    started = time.perf_counter()
    for _ in range(times):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (body) VALUES (?)", (body,))
        conn.execute("COMMIT")
    return time.perf_counter() - started


async def race(host: str, port: int, token: str, rounds: int, per_round: int,
               raw: sqlite3.Connection) -> dict[str, tuple[float, int, list[float]]]:
    spent = {"raw": (0.0, 0, []), "many": (0.0, 0, []), "one": (0.0, 0, [])}

    def add(name: str, seconds: float, done: int, latencies: list[float]) -> None:
        before = spent[name]
        spent[name] = (before[0] + seconds, before[1] + done, before[2] + latencies)

    for _ in range(rounds):
        add("raw", raw_commits(raw, per_round // 2), per_round // 2, [])
        seconds, latencies = await clients(host, port, token, 16, per_round // 16)
        add("many", seconds, len(latencies), latencies)
        seconds, latencies = await clients(host, port, token, 1, per_round // 4)
        add("one", seconds, len(latencies), latencies)
    return spent


def main() -> None:
    rounds = env_int("BENCH_P8_ROUNDS", 5)
    per_round = env_int("BENCH_P8_COMMANDS", 1600)
    db = str(fresh_db("p8.db"))
    token = make_token(db)
    raw = sqlite3.connect(fresh_db("p8-raw.db"), isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    with service(db, "p8-serve") as running:
        async def run() -> dict[str, tuple[float, int, list[float]]]:
            connection = Connection(running.host, running.port, token)
            for raw_setup in load_commands.setup_commands():
                status, answer = await connection.request(
                    "POST", "/commands", json.dumps(raw_setup).encode())
                if status != 200:
                    raise SystemExit(f"P8 set-up: {status} {answer!r}")
            connection.close()
            return await race(running.host, running.port, token, rounds, per_round, raw)

        spent = asyncio.run(run())
        writer = running.stop()
    raw.close()
    rate = {name: done / seconds for name, (seconds, done, _) in spent.items()}

    def ms(latencies: list[float], share: int) -> float:
        return round(statistics.quantiles(latencies, n=100)[share - 1] * 1000, 2)

    many, one = spent["many"][2], spent["one"][2]
    batches, commands = writer.get("batches", 0), writer.get("commands", 0)
    details = {"rounds": rounds, "commands_16": spent["many"][1],
               "commands_1": spent["one"][1], "p50_ms_16": ms(many, 50),
               "p99_ms_16": ms(many, 99), "p50_ms_1": ms(one, 50), "p99_ms_1": ms(one, 99),
               "commands_per_commit": round(commands / batches, 2) if batches else None}
    result("P8", rate["many"], "commands/s", baseline=rate["raw"],
           ratio=rate["many"] / rate["raw"], target=1.0, **details)
    result("P8-1client", rate["many"], "commands/s", baseline=rate["one"],
           ratio=rate["many"] / rate["one"], target=3.0, **details)


if __name__ == "__main__":
    main()
