"""P11: the auditor's toolkit on the P2 store (about 2M events), each figure against a
baseline measured in the same invocation, before and after the engine (ADR 13).

- ``P11-export``: ``lifecycle export`` to a plain file, events/s, against raw sqlite3
  reading the same rows joined with their links and writing each as a JSON line
  (``orjson`` of a list) — target 0.5. ``P11-export-gz``: the same to a ``.gz`` file
  (no target).
- ``P11-verify``: ``audit verify --export`` of that file (its fast pass split across one
  process per CPU, ADR 27), events/s, against raw ``hashlib`` SHA-256 chaining the same
  bytes already in memory, P4's baseline — target 0.5. ``P11-verify-1proc``: the same in
  one process (no target).
- ``P11-restore``: ``restore`` of the export into a new SQLite store (the log loaded in
  one transaction, then every view rebuilt), events/s, against the bulk import's rate
  in stored events/s (P2's ``Importer`` on a whole 2,000-duo pilot of the same shape) —
  target 0.5.
- ``P11-memory``: the peak resident memory, in MB, of the ``lifecycle export`` and the
  ``lifecycle audit verify --export --processes 1`` timed above: each runs as the
  command in a fresh interpreter, started by a small wrapper that reads its child's
  peak (Linux carries a parent's peak into a child) — no target (tests show it does not
  grow with the log).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
from common import DATA, env_int, fresh_db, pilot, result, timer
from p2_import import STORE
from p4_verify import raw_hashlib

EXPORT = DATA / "p11-export.jsonl"
WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
seconds = time.perf_counter() - started
if done.returncode:
    sys.exit(done.stdout.decode() + done.stderr.decode())
print(json.dumps({"seconds": seconds, "peak_kb": resource.getrusage(
    resource.RUSAGE_CHILDREN).ru_maxrss, "stdout": done.stdout.decode()}))
"""


def reader() -> object:
    from lifecycle.adapters.audit import ChainReader
    from lifecycle.adapters.store import resolve_target

    return ChainReader(resolve_target(str(STORE)), "stored_events")


def command(*args: str | Path) -> tuple[float, float, str]:
    """``lifecycle ARGS`` in a fresh interpreter: its seconds, peak MB and output."""
    done = subprocess.run([sys.executable, "-c", WRAPPER, sys.executable, "-m", "lifecycle",
                           *map(str, args)], capture_output=True, text=True, check=True)
    found = orjson.loads(done.stdout)
    return found["seconds"], found["peak_kb"] / 1024, found["stdout"]


def export(path: Path) -> tuple[float, int]:
    from lifecycle.adapters.export import export_to

    with timer() as elapsed:
        summary = export_to(reader(), str(path))  # type: ignore[arg-type]
    return summary.events / elapsed(), summary.events


def raw_export(path: Path) -> float:
    """The same rows read with raw sqlite3 and written as JSON lines."""
    conn = sqlite3.connect(STORE)
    count = 0
    with timer() as elapsed, path.open("wb") as out:
        cursor = conn.execute(
            "SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, c.link "
            "FROM stored_events e JOIN event_chain c ON c.position = e.rowid ORDER BY e.rowid")
        dumps = orjson.dumps
        while rows := cursor.fetchmany(512):
            out.write(b"".join([dumps([p, o, v, t, s.decode(), x.hex()]) + b"\n"
                                for p, o, v, t, s, x in rows]))
            count += len(rows)
    conn.close()
    path.unlink()
    return count / elapsed()


def verify() -> float:
    from lifecycle.adapters.audit import verify as verify_chain
    from lifecycle.adapters.export import ExportReader

    with timer() as elapsed:
        outcome = verify_chain(ExportReader(EXPORT))
    if not outcome.ok:
        raise SystemExit(f"P11: export not intact: {outcome.problem}")
    return outcome.events / elapsed()


def restore() -> float:
    from lifecycle.adapters.audit import verify as verify_chain
    from lifecycle.adapters.export import ExportReader
    from lifecycle.adapters.restore import load
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle
    from projections.facade import Views

    target = resolve_target(str(fresh_db("p11-restored.db")))
    with timer() as elapsed:
        source = ExportReader(EXPORT)
        if not verify_chain(source).ok:  # as the command does, before writing anything
            raise SystemExit("P11: the export does not verify")
        engine = Lifecycle(target.env)
        count = load(target, source)
        views = Views(target, engine.app.recorder, engine.app.mapper)
        views.rebuild()
        views.close()
        engine.shutdown()
    return count / elapsed()


def bulk_import(duos: int) -> float:
    """Stored events per second of the bulk import of a whole pilot (P2's engine)."""
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle
    from lifecycle.application.importer import Importer

    engine = Lifecycle(resolve_target(str(fresh_db("p11-import.db"))).env)
    with pilot(duos).open("rb") as handle, timer() as elapsed:
        Importer(engine).run(handle)
    events = engine.app.recorder.max_notification_id() or 0
    engine.shutdown()
    return events / elapsed()


def main() -> None:
    if not STORE.exists():
        raise SystemExit(f"P11 needs the P2 store {STORE}: run p2_import.py first")
    conn = sqlite3.connect(STORE)
    events = conn.execute("SELECT count(*) FROM stored_events").fetchone()[0]
    conn.close()
    before = raw_export(DATA / "p11-raw.jsonl")
    seconds, export_mb, _ = command("--db", STORE, "export", EXPORT)
    rate = events / seconds
    after = raw_export(DATA / "p11-raw.jsonl")
    baseline = 2 / (1 / before + 1 / after)
    result("P11-export", rate, "events/s", baseline=baseline, ratio=rate / baseline,
           target=0.5, events=events, baseline_runs=[round(before), round(after)])
    packed, _ = export(DATA / "p11-export.jsonl.gz")
    result("P11-export-gz", packed, "events/s", baseline=baseline, ratio=packed / baseline,
           target=None, events=events,
           mb=round((DATA / "p11-export.jsonl.gz").stat().st_size / 2**20),
           plain_mb=round(EXPORT.stat().st_size / 2**20))
    limit = env_int("BENCH_P4_BASELINE", 300_000)
    before = raw_hashlib(limit)
    split = verify()
    seconds, verify_mb, said = command("audit", "verify", "--export", EXPORT, "--processes", "1",
                                       "--json")
    if not orjson.loads(said)["ok"]:
        raise SystemExit(f"P11: export not intact: {said}")
    single = events / seconds
    after = raw_hashlib(limit)
    baseline = 2 / (1 / before + 1 / after)
    result("P11-verify", split, "events/s", baseline=baseline, ratio=split / baseline,
           target=0.5, events=events, baseline_runs=[round(before), round(after)])
    result("P11-verify-1proc", single, "events/s", baseline=baseline,
           ratio=single / baseline, target=None, events=events)
    duos = env_int("BENCH_P11_IMPORT_DUOS", 2000)
    before = bulk_import(duos)
    restored = restore()
    after = bulk_import(duos)
    baseline = 2 / (1 / before + 1 / after)
    result("P11-restore", restored, "events/s", baseline=baseline, ratio=restored / baseline,
           target=0.5, events=events, import_duos=duos,
           baseline_runs=[round(before), round(after)])
    result("P11-memory", max(export_mb, verify_mb), "MB", target=None, events=events,
           export_mb=round(export_mb), verify_mb=round(verify_mb))
    for leftover in ("p11-export.jsonl.gz", "p11-restored.db", "p11-restored.db-wal",
                     "p11-restored.db-shm", "p11-import.db", "p11-import.db-wal",
                     "p11-import.db-shm"):
        (DATA / leftover).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
