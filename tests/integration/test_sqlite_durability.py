"""The embedded store is durable and shared (ADR 11): the engine's own SQLite
connections run in WAL mode with ``synchronous=FULL`` and a busy timeout, and two
processes writing one file at the same time both get every command applied."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle
from lifecycle.application.commands import parse_command
from projections.facade import Views

SYNCHRONOUS_FULL = 2
PER_PROCESS = 150
"""Contacts (and as many reviews) each writer process logs on the same two duos."""


def pragmas(cursor: Any) -> dict[str, Any]:
    found = {}
    for name in ("journal_mode", "synchronous", "busy_timeout"):
        cursor.execute(f"PRAGMA {name}")
        found[name] = cursor.fetchone()[0]
    return found


@pytest.fixture
def engine(db_path: Path, new_stream: Callable[..., Any]) -> Iterator[Lifecycle]:
    """An engine on a new SQLite file that has already written a few commands."""
    lifecycle = Lifecycle(resolve_target(str(db_path)).env)
    stream = new_stream("d").base().duo("active")
    for raw in stream.commands:
        lifecycle.execute(parse_command(raw), raw)
    yield lifecycle
    lifecycle.shutdown()


def test_the_engines_library_connections_use_wal_synchronous_full_and_a_busy_timeout(
        engine: Lifecycle) -> None:
    datastore = engine.app.recorder.datastore  # type: ignore[attr-defined]
    # A writer's transaction, and two connections of the pool held at once (the pool
    # hands out a second connection, configured the same way).
    with datastore.transaction(commit=True) as cursor:
        in_write = pragmas(cursor)
    with datastore.get_connection(commit=False) as first, \
            datastore.get_connection(commit=False) as second:
        assert first is not second
        pooled = [pragmas(conn.cursor()) for conn in (first, second)]
    for found in (in_write, *pooled):
        assert str(found["journal_mode"]).lower() == "wal", found
        assert found["synchronous"] == SYNCHRONOUS_FULL, found
        assert found["busy_timeout"] >= 1000, found  # milliseconds
    assert in_write["busy_timeout"] == int(engine.app.env["SQLITE_LOCK_TIMEOUT"]) * 1000


def test_a_bulk_insert_sets_a_large_cache_and_rarer_checkpoints_and_keeps_full_sync(
        db_path: Path, new_stream: Callable[..., Any]) -> None:
    """ADR 42: once a connection inserts many events at a time (an import's batch), it
    keeps a 64 MiB page cache and checkpoints every 10,000 pages; every commit is still
    flushed (synchronous=FULL, ADR 11). A single command does not set them, and puts the
    default checkpoint interval back."""
    from lifecycle.application.importer import Importer

    lifecycle = Lifecycle(resolve_target(str(db_path)).env)
    try:
        datastore = lifecycle.app.recorder.datastore  # type: ignore[attr-defined]
        stream = new_stream("b").base().duo("active")
        first, rest = stream.commands[0], stream.commands[1:]
        lifecycle.execute(parse_command(first), first)
        with datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            assert cursor.fetchone()[0] == 1000  # SQLite's default, after one command
        result = Importer(lifecycle).run([json.dumps(raw).encode() for raw in rest])
        # One batch: each command stores its event and its marker, more than 16 rows.
        assert result.applied == len(rest) > 8
        with datastore.transaction(commit=True) as cursor:
            found = pragmas(cursor)
            for name in ("cache_size", "wal_autocheckpoint"):
                cursor.execute(f"PRAGMA {name}")
                found[name] = cursor.fetchone()[0]
        # The next single command puts SQLite's default checkpoint interval back (a log
        # left to grow to 40 MB slowed single commands by a third).
        later = {k: v for k, v in first.items() if k != "command_id"}
        later["programme_id"] = "P-LATER"  # one more programme: a single small save
        lifecycle.execute(parse_command(later), later)
        with datastore.transaction(commit=True) as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            after_single = cursor.fetchone()[0]
    finally:
        lifecycle.shutdown()
    assert found["cache_size"] == -65536, found
    assert found["wal_autocheckpoint"] == 10000, found
    assert found["synchronous"] == SYNCHRONOUS_FULL, found
    assert after_single == 1000


def test_the_views_connection_to_the_same_file_is_as_durable(
        engine: Lifecycle, db_path: Path) -> None:
    views = Views(resolve_target(str(db_path)), engine.app.recorder, engine.app.mapper)
    try:
        views.catch_up()
        found = pragmas(views.conn.cursor())
    finally:
        views.close()
    assert str(found["journal_mode"]).lower() == "wal", found
    assert found["synchronous"] == SYNCHRONOUS_FULL, found
    assert found["busy_timeout"] >= 1000, found


def _writer_commands(new_stream: Callable[..., Any], name: str) -> Any:
    """Contacts on D-1 and reviews on D-2, alternating: every command changes a duo the
    other writer changes too."""
    stream = new_stream(f"w{name}")
    for n in range(PER_PROCESS):
        stream.add("log_contact", "2025-03-01", duo_id="D-1", contact_id=f"K-{name}-{n}")
        stream.add("review", "2025-03-02", duo_id="D-2", health=1 + n % 5)
    return stream


@pytest.mark.parametrize("batch_size", [500, 1], ids=["batched", "one-per-transaction"])
def test_two_processes_writing_one_file_at_once_both_succeed_and_lose_no_command(
        db_path: Path, tmp_path: Path, new_stream: Callable[..., Any],
        lifecycle_bin: Path, batch_size: int) -> None:
    setup = new_stream("setup").base().duo("active", "D-1").duo("active", "D-2")
    with Lifecycle(resolve_target(str(db_path)).env) as engine:
        for raw in setup.commands:
            engine.execute(parse_command(raw), raw)
    writers = {name: _writer_commands(new_stream, name) for name in ("A", "B")}
    procs = {
        name: subprocess.Popen(
            [str(lifecycle_bin), "-v", "--log-json", "--db", str(db_path), "import",
             str(stream.write(tmp_path / f"{name}.jsonl")), "--json",
             "--batch-size", str(batch_size)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, stream in writers.items()}
    outputs = {name: proc.communicate(timeout=300) for name, proc in procs.items()}
    conflicts = Counter()
    for name, (out, err) in outputs.items():
        for line in err.splitlines():
            if line.startswith("{"):
                conflicts[json.loads(line)["event"]] += 1
        result = json.loads(out)
        assert result["rejected"] == [], (name, result["rejected"][:3])
        assert (procs[name].returncode, result["applied"]) == (0, 2 * PER_PROCESS), name
    print(f"batch {batch_size}: {conflicts['batch_conflicted']} batches and "
          f"{conflicts['command_conflicted']} commands retried after a concurrent write")

    with Lifecycle(resolve_target(str(db_path)).env) as engine:
        contacts = [e.contact_id for e in engine.history("D-1")  # type: ignore[attr-defined]
                    if type(e).__name__ == "ContactLogged"]
        reviews = [e for e in engine.history("D-2") if type(e).__name__ == "Reviewed"]
    assert sorted(contacts) == sorted(f"K-{name}-{n}" for name in writers
                                      for n in range(PER_PROCESS))
    assert len(reviews) == 2 * PER_PROCESS
