"""P1: single commands, one durable transaction each (SQLite file, synchronous=FULL).

Ratios against (a) the bare eventsourcing library doing the same commands with a
minimal aggregate and (b) raw sqlite3 committing one small insert per transaction at
the same durability setting (the disk's flush rate: the physical limit).
"""

from __future__ import annotations

import sqlite3

import orjson
from baseline import run_bare
from common import env_int, fresh_db, head, pilot, result, timer


def ours(history: list[bytes], lines: list[bytes]) -> float:
    from lifecycle.application import Lifecycle
    from lifecycle.commands import parse_command
    from lifecycle.importer import Importer
    from lifecycle.store import resolve_target

    db = fresh_db("p1-ours.db")
    engine = Lifecycle(resolve_target(str(db)).env)
    Importer(engine).run(history)  # a live programme: the store holds its past
    with timer() as elapsed:
        for line in lines:
            raw = orjson.loads(line)
            engine.execute(parse_command(raw, line), raw)
    engine.shutdown()
    return len(lines) / elapsed()


def bare(history: list[bytes], lines: list[bytes]) -> float:
    db = fresh_db("p1-bare.db")
    run_bare(db, history)
    with timer() as elapsed:
        run_bare(db, lines)
    return len(lines) / elapsed()


def raw_sqlite(count: int) -> float:
    db = fresh_db("p1-raw.db")
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    body = b"x" * 200
    with timer() as elapsed:
        for _ in range(count):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (body) VALUES (?)", (body,))
            conn.execute("COMMIT")
    conn.close()
    return count / elapsed()


def main() -> None:
    count = env_int("BENCH_P1_COMMANDS", 2000)
    past = env_int("BENCH_P1_HISTORY", 12000)
    every = head(pilot(500), past + count)
    history, lines = every[:past], every[past:]
    ours_rate = ours(history, lines)
    bare_rate = bare(history, lines)
    limit = raw_sqlite(count)
    result("P1", ours_rate, "commands/s", baseline=bare_rate, ratio=ours_rate / bare_rate,
           target=2.5, commands=len(lines), history=len(history))
    result("P1-limit", ours_rate, "commands/s", baseline=limit, ratio=ours_rate / limit,
           target=0.7, commands=len(lines))


if __name__ == "__main__":
    main()
