"""P1: single commands, one durable transaction each (SQLite file, synchronous=FULL).

Ratios against (a) the bare eventsourcing library doing the same commands with a
minimal aggregate and (b) raw sqlite3 committing one small insert per transaction at
the same durability setting (the disk's flush rate: the physical limit). A third,
informational figure (c) is raw sqlite3 issuing just the SQL of the engine's
transaction for one command. ``P1-signed`` is the engine with a signing key (ADR 26):
every command's transaction also signs the chain's head, against the same bare
library (target still 2.5). ``P1-sealed`` is the engine on a sealed store (ADR 34, what
``lifecycle`` makes by default): every personal field stored encrypted under its
person's key, mentor streams and command ids keyed digests, against the same bare
library in the same rounds (target still 2.5, issue 13).

The disk's flush time drifts by several times within minutes on a shared machine, so
the contestants take turns: the commands are run in rounds, each round timing every
contestant on its share, and each total is the sum over the rounds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import orjson
from baseline import bare_application, run_bare
from common import env_int, fresh_db, head, pilot, result, sealed_engine, timer

Step = Callable[[int, int], None]
"""Runs items ``[start, stop)`` of a contestant's work."""


def ours(history: list[bytes], lines: list[bytes], *, signed: bool = False,
         sealed: bool = False) -> tuple[Step, Callable[[], None]]:
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle
    from lifecycle.application.commands import parse_command
    from lifecycle.application.importer import Importer

    if sealed:
        engine = sealed_engine(fresh_db("p1-sealed.db"))
    else:
        db = fresh_db("p1-signed.db" if signed else "p1-ours.db")
        engine = Lifecycle(resolve_target(str(db)).env)
    if signed:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from lifecycle.adapters.signing import Signer

        # As LIFECYCLE_SIGNING_KEY would configure it, without a key in the environment.
        engine.app.recorder.signer = Signer(Ed25519PrivateKey.generate())  # type: ignore[attr-defined]
    Importer(engine).run(history)  # a live programme: the store holds its past

    def step(start: int, stop: int) -> None:
        for line in lines[start:stop]:
            raw = orjson.loads(line)
            engine.execute(parse_command(raw, line), raw)

    return step, engine.shutdown


def bare(history: list[bytes], lines: list[bytes]) -> tuple[Step, Callable[[], None]]:
    db = fresh_db("p1-bare.db")
    run_bare(db, history)
    app = bare_application(db)

    def step(start: int, stop: int) -> None:
        for line in lines[start:stop]:
            app.apply(orjson.loads(line))

    return step, app.close


def _durable(name: str) -> sqlite3.Connection:
    conn = sqlite3.connect(fresh_db(name), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def raw_sqlite() -> tuple[Step, Callable[[], None]]:
    """One small insert per transaction: the disk's flush rate."""
    conn = _durable("p1-raw.db")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    body = b"x" * 200

    def step(start: int, stop: int) -> None:
        for _ in range(start, stop):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (body) VALUES (?)", (body,))
            conn.execute("COMMIT")

    return step, conn.close


def store_writes() -> tuple[Step, Callable[[], None]]:
    """Not a target: just the SQL of one command's transaction in the engine with a
    single writer (two events, as a command and its idempotency marker, inserted row by
    row, and their two chain links; the chain's head is the link the recorder committed
    last)."""
    conn = _durable("p1-writes.db")
    conn.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version "
                 "INTEGER, topic TEXT, state BLOB, PRIMARY KEY (originator_id, "
                 "originator_version))")
    conn.execute("CREATE TABLE event_chain (position INTEGER PRIMARY KEY, link BLOB NOT NULL)")
    state, link = b"x" * 300, bytes(32)

    def step(start: int, stop: int) -> None:
        for i in range(start, stop):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                         (f"duo:d-{i}", 1, "lifecycle.Duo.ContactLogged", state))
            last = conn.execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                                (f"command:c-{i}", 1, "lifecycle.AppliedCommand.Applied",
                                 state)).lastrowid
            conn.executemany("INSERT INTO event_chain VALUES (?, ?)",
                             [(last - 1, link), (last, link)])
            conn.execute("COMMIT")

    return step, conn.close


def race(contestants: dict[str, tuple[Step, Callable[[], None]]], count: int,
         rounds: int) -> dict[str, float]:
    """Items per second of each contestant, taking turns round by round."""
    spent = dict.fromkeys(contestants, 0.0)
    bounds = [count * r // rounds for r in range(rounds + 1)]
    for start, stop in pairwise(bounds):
        for name, (step, _) in contestants.items():
            with timer() as elapsed:
                step(start, stop)
            spent[name] += elapsed()
    for _, close in contestants.values():
        close()
    return {name: count / seconds for name, seconds in spent.items()}


def main() -> None:
    count = env_int("BENCH_P1_COMMANDS", 2000)
    past = env_int("BENCH_P1_HISTORY", 12000)
    rounds = env_int("BENCH_P1_ROUNDS", 10)
    every = head(pilot(500), past + count)
    history, lines = every[:past], every[past:]
    contestants: dict[str, Any] = {"ours": ours(history, lines), "bare": bare(history, lines),
                                   "raw": raw_sqlite(), "writes": store_writes(),
                                   "signed": ours(history, lines, signed=True),
                                   "sealed": ours(history, lines, sealed=True)}
    rate = race(contestants, len(lines), rounds)
    result("P1", rate["ours"], "commands/s", baseline=rate["bare"],
           ratio=rate["ours"] / rate["bare"], target=2.5, commands=len(lines),
           history=len(history), rounds=rounds)
    result("P1-limit", rate["ours"], "commands/s", baseline=rate["raw"],
           ratio=rate["ours"] / rate["raw"], target=0.7, commands=len(lines), rounds=rounds)
    result("P1-writes", rate["ours"], "commands/s", baseline=rate["writes"],
           ratio=rate["ours"] / rate["writes"], target=None, commands=len(lines),
           rounds=rounds)
    result("P1-signed", rate["signed"], "commands/s", baseline=rate["bare"],
           ratio=rate["signed"] / rate["bare"], target=2.5, commands=len(lines),
           rounds=rounds)
    result("P1-sealed", rate["sealed"], "commands/s", baseline=rate["bare"],
           ratio=rate["sealed"] / rate["bare"], target=2.5, commands=len(lines),
           rounds=rounds, sealed_over_plain=round(rate["sealed"] / rate["ours"], 3))


if __name__ == "__main__":
    main()
