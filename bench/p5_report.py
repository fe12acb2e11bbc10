"""P5: the report at 100,000 duos from the materialised views (ms), against computing
the same report by replaying the log, in the same process invocation.

The 100,000-duo store is the P2 store's pilot five times over: its events are copied
with every identifier renamed per copy (``dk.`` → ``dk1.`` …, ``DK-2025`` →
``DK-2025r1`` …), which is a valid log of five times as many duos; the views are then
built from it by the engine's own rebuild.
"""

from __future__ import annotations

import statistics
import time
from datetime import date

import orjson
from common import DATA, env_int, fresh_db, result, timer
from p2_import import STORE

PREFIXES = ("dk", "pt", "ro", "gr")
AS_OF = date(2025, 12, 31)


def _renamed(column: str, copy: int, *, stream_id: bool) -> str:
    expr = column
    for prefix in PREFIXES:
        upper = prefix.upper()
        if stream_id:
            expr = f"replace({expr}, ':{prefix}.', ':{prefix}{copy}.')"
            expr = f"replace({expr}, ':{upper}-2025', ':{upper}-2025r{copy}')"
        else:
            expr = f"replace({expr}, '\"{prefix}.', '\"{prefix}{copy}.')"
            expr = f"replace({expr}, '\"{upper}-2025\"', '\"{upper}-2025r{copy}\"')"
    return expr


def build_store(copies: int) -> str:
    from lifecycle.application import Lifecycle
    from lifecycle.store import resolve_target

    path = fresh_db("p5.db")
    target = resolve_target(str(path))
    Lifecycle(target.env).shutdown()  # creates the tables
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("ATTACH DATABASE ? AS src", (str(STORE),))
    conn.execute("BEGIN")
    for copy in range(copies):
        oid = "originator_id" if copy == 0 else _renamed("originator_id", copy, stream_id=True)
        state = "state" if copy == 0 else (
            f"CAST({_renamed('CAST(state AS TEXT)', copy, stream_id=False)} AS BLOB)")
        conn.execute(
            f"INSERT INTO stored_events (originator_id, originator_version, topic, state) "
            f"SELECT {oid}, originator_version, topic, {state} FROM src.stored_events "
            "WHERE topic != 'lifecycle.AppliedCommand.Applied' ORDER BY rowid")
    conn.execute("COMMIT")
    conn.close()
    return str(path)


def replay(path: str) -> tuple[float, dict[str, object]]:
    """The report the slow way: read and decode every event, fold, then report."""
    import sqlite3

    from projections.fold import evolve_stored, initial
    from projections.report import build_report

    conn = sqlite3.connect(path)
    with timer() as elapsed:
        state = initial()
        cursor = conn.execute("SELECT originator_id, originator_version, topic, state "
                              "FROM stored_events ORDER BY rowid")
        while rows := cursor.fetchmany(5000):
            for stream_id, version, topic, blob in rows:
                state = evolve_stored(state, topic, stream_id, version, orjson.loads(blob))
        report = build_report(state, AS_OF)
    conn.close()
    return elapsed(), report


def main() -> None:
    from lifecycle.application import Lifecycle
    from lifecycle.store import resolve_target
    from lifecycle.views import Views
    from projections.sql import report_from_db

    copies = env_int("BENCH_P5_COPIES", 5)
    path = build_store(copies)
    target = resolve_target(path)
    engine = Lifecycle(target.env)
    views = Views(engine, target.env)
    views.rebuild()
    # Time the report as a user would meet it: a settled store (the rebuild's
    # write-ahead log checkpointed) and a fresh connection.
    views.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    views.close()
    duos = views.conn.execute("SELECT count(*) FROM proj_duos").fetchone()[0]
    times = []
    report = None
    for _ in range(7):
        started = time.perf_counter()
        report = report_from_db(views.conn, AS_OF)
        times.append(time.perf_counter() - started)
    views.close()
    engine.shutdown()
    report_s = statistics.median(times)
    replay_s, replayed = replay(path)
    if replayed != report:
        raise SystemExit("P5: the report from the views differs from the replayed one")
    result("P5", report_s * 1000, "ms", baseline=replay_s * 1000, ratio=replay_s / report_s,
           target=100, duos=duos, limit_ms=100)
    (DATA / "p5.db").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
