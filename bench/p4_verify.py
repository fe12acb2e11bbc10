"""P4: ``audit verify`` of the P2 store, events/s, against raw hashlib SHA-256 chaining
the same bytes (already in memory) in the same process invocation.

``verify`` splits a large SQLite log across one process per CPU (ADR 14); the figure
``P4-1proc`` is the same verification kept in one process (``processes=1``), for
reference."""

from __future__ import annotations

import hashlib
import sqlite3
import struct

from common import env_int, result, timer
from p2_import import STORE


def ours(processes: int | None = None) -> tuple[float, int]:
    from lifecycle.adapters.audit import ChainReader, verify
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle

    target = resolve_target(str(STORE))
    engine = Lifecycle(target.env)
    reader = ChainReader(target, engine.app.recorder.events_table_name)  # type: ignore[attr-defined]
    with timer() as elapsed:
        outcome = verify(reader, processes=processes)
    engine.shutdown()
    if not outcome.ok:
        raise SystemExit(f"P4: store not intact: {outcome.problem}")
    return outcome.events / elapsed(), outcome.events


def raw_hashlib(limit: int) -> float:
    conn = sqlite3.connect(STORE)
    rows = conn.execute(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
        "ORDER BY rowid LIMIT ?", (limit,)).fetchall()
    conn.close()
    header = struct.Struct(">qqII").pack
    with timer() as elapsed:
        previous = bytes(32)
        for position, oid, version, topic, state in rows:
            oid_bytes, topic_bytes = oid.encode(), topic.encode()
            previous = hashlib.sha256(b"".join((
                previous, header(position, version, len(oid_bytes), len(topic_bytes)),
                oid_bytes, topic_bytes, state))).digest()
    return len(rows) / elapsed()


def main() -> None:
    # The baseline runs before and after ours (the machine's speed drifts): its rate is
    # that of both runs together.
    limit = env_int("BENCH_P4_BASELINE", 300_000)
    before = raw_hashlib(limit)
    rate, events = ours()
    single, _ = ours(processes=1)
    after = raw_hashlib(limit)
    baseline = 2 / (1 / before + 1 / after)
    result("P4", rate, "events/s", baseline=baseline, ratio=rate / baseline, target=0.5,
           events=events, baseline_runs=[round(before), round(after)])
    result("P4-1proc", single, "events/s", baseline=baseline, ratio=single / baseline,
           target=None, events=events)


if __name__ == "__main__":
    main()
