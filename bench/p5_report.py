"""P5: the report at 100,000 duos from the materialised views (ms), against computing
the same report by replaying the log, in the same process invocation.

The 100,000-duo store is the P2 store five times over, every identifier renamed per
copy (``dk.`` → ``dk1.`` …, ``DK-2025`` → ``DK-2025r1`` …):

- its log is the P2 log's events copied five times, renamed, in log order: a valid log
  of five times as many duos, which the baseline replays (read, decode, fold, report);
- its views are the P2 store's views (brought up to date by the engine first) copied
  five times with the same renames, which is what a rebuild of that log would write:
  the benchmark checks it, since the report from the views must equal the replayed one.

Copying the views instead of rebuilding them from the 5M-event log keeps ``make bench``
under ten minutes; the rebuild itself is measured by P3.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from datetime import date

import orjson
from common import DATA, env_int, fresh_db, result, timer
from p2_import import STORE

PREFIXES = ("dk", "pt", "ro", "gr")
AS_OF = date(2025, 12, 31)
MARKER = "lifecycle.AppliedCommand.Applied"


def _renamed(column: str, copy: int, *, stream_id: bool) -> str:
    """SQL renaming the identifiers in ``column`` for copy number ``copy`` (0: as is)."""
    if copy == 0:
        return column
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


def _renamed_text(column: str, copy: int) -> str:
    """The same renames for a view's text column, which holds a bare identifier."""
    if copy == 0:
        return column
    cases = []
    for prefix in PREFIXES:
        upper = prefix.upper()
        cases.append(f"WHEN substr({column}, 1, {len(prefix) + 1}) = '{prefix}.' "
                     f"THEN '{prefix}{copy}.' || substr({column}, {len(prefix) + 2})")
        cases.append(f"WHEN {column} = '{upper}-2025' THEN '{upper}-2025r{copy}'")
    return f"CASE {' '.join(cases)} ELSE {column} END"


def _settled_views() -> None:
    """Bring the P2 store's views up to date (a no-op after P3's rebuild)."""
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle
    from projections.facade import Views

    target = resolve_target(str(STORE))
    engine = Lifecycle(target.env)
    views = Views(target, engine.app.recorder, engine.app.mapper)
    views.catch_up()
    views.close()
    engine.shutdown()


def build_store(copies: int) -> str:
    from projections import schema as s
    from projections.writing import ensure_schema

    path = fresh_db("p5.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    # The log, only ever read in rowid order here: the library's columns, without its
    # unique index (which would make the copy the slowest part of the suite).
    conn.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version "
                 "INTEGER, topic TEXT, state BLOB)")
    ensure_schema(conn)
    conn.execute("ATTACH DATABASE ? AS src", (str(STORE),))
    conn.execute("BEGIN")
    for copy in range(copies):
        oid = _renamed("originator_id", copy, stream_id=True)
        state = "state" if copy == 0 else (
            f"CAST({_renamed('CAST(state AS TEXT)', copy, stream_id=False)} AS BLOB)")
        conn.execute(
            f"INSERT INTO stored_events (originator_id, originator_version, topic, state) "
            f"SELECT {oid}, originator_version, topic, {state} FROM src.stored_events "
            f"WHERE topic != '{MARKER}' ORDER BY rowid")
    for table in s.VIEW_TABLES:
        names = table.column_names
        for copy in range(copies):
            columns = ", ".join(_renamed_text(c.name, copy) if c.type == "text" else c.name
                                for c in table.columns)
            conn.execute(f"INSERT INTO {table.name} ({', '.join(names)}) "
                         f"SELECT {columns} FROM src.{table.name}")
    (position,) = conn.execute("SELECT max(rowid) FROM stored_events").fetchone()
    conn.execute(f"UPDATE {s.TRACKING.name} SET position = ?", (position,))
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return str(path)


def replay(path: str) -> tuple[float, dict[str, object]]:
    """The report the slow way: read and decode every event, fold, then report."""
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
    from projections.loading import report_from_db

    copies = env_int("BENCH_P5_COPIES", 5)
    _settled_views()
    path = build_store(copies)
    # Time the report as a user would meet it: a settled store and a fresh connection.
    conn = sqlite3.connect(path)
    duos = conn.execute("SELECT count(*) FROM proj_duos").fetchone()[0]
    times = []
    report = None
    for _ in range(7):
        started = time.perf_counter()
        report = report_from_db(conn, AS_OF)
        times.append(time.perf_counter() - started)
    conn.close()
    report_s = statistics.median(times)
    replay_s, replayed = replay(path)
    if replayed != report:
        raise SystemExit("P5: the report from the views differs from the replayed one")
    result("P5", report_s * 1000, "ms", baseline=replay_s * 1000, ratio=replay_s / report_s,
           target=100, duos=duos, limit_ms=100, best_ms=round(min(times) * 1000, 1))
    for suffix in ("", "-wal", "-shm"):
        (DATA / f"p5.db{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
