"""The importer killed with SIGKILL at random moments loses nothing and doubles nothing.

A simulated stream (``lifecycle simulate --seed 7 --duos 60``: about 3,000 commands,
each with a command id) is imported again and again into one store by the installed
``lifecycle import`` command, and each run is killed with SIGKILL at a moment drawn from
a seeded random generator (either a delay after its start, or a delay after the store
was first seen to grow during the run), with a batch size drawn the same way (2 to 128
commands per transaction), until ``KILLS`` runs have been killed, ``KILLS_WRITING`` of
them while writing. After each kill the store must hold whole commands of a prefix of
the file, nothing torn. Then one more import runs to completion. The store must end
exactly as a clean, uninterrupted import of the same file leaves a fresh store: every
command once, every duo's events the same (all but the recording time), versions
contiguous, the audit chain intact.

Figures (2 cores): 24 kills per store, 12-15 of them while the run was writing (the
rest during start-up or while it skipped lines already applied); the final run then
applies the 800-1,700 commands still missing. About 25 s per store on an idle machine,
up to 60 s when other test runs share it.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql

from lifecycle.adapters.crypto import PersonKeys
from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle

LIFECYCLE_BIN = Path(sys.executable).parent / "lifecycle"
"""The installed console script, next to the interpreter running the tests."""
SEED = 7
DUOS = 60
KILLS = 24
"""Runs killed in all."""
KILLS_WRITING = 8
"""Of which killed while the run was writing, before the whole file was stored (a run
killed that way stores some 50-500 commands first, so the ~3,000-line file leaves room
for about a dozen)."""
MAX_RUNS = 100
"""Runs allowed to reach those counts (a run that ends before its kill is no kill)."""
KILL_AFTER = {"anytime": (0.1, 1.2), "writing": (0.0, 0.1)}
"""Seconds to the kill: after the start, or after the run's first write was seen."""
BATCH_SIZES = (2, 8, 32, 128)
RUN_GUARD = 120.0
"""Seconds after which a run that was not killed counts as hung (not a timing claim)."""

Row = tuple[int, str, int, str, bytes]


# ---------------------------------------------------------------------- reading a store
def events_table(store: str) -> str:
    """The name of the store's events table, as the engine's recorder names it."""
    with Lifecycle(resolve_target(store).env) as engine:
        return str(engine.app.recorder.events_table_name)  # type: ignore[attr-defined]


def read_rows(store: str, table: str) -> list[Row]:
    """Every stored event of the store, in log order: (position, id, version, topic, state)."""
    if not store.startswith("postgresql://"):
        if not Path(store).exists():
            return []
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)
                                ).fetchone():
                return []
            rows = conn.execute("SELECT rowid, originator_id, originator_version, topic, "
                                f"state FROM {table} ORDER BY rowid").fetchall()
        finally:
            conn.close()
        return [(int(p), str(o), int(v), str(t), bytes(s)) for p, o, v, t, s in rows]
    target = resolve_target(store)
    env = target.env
    with psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                         port=int(env["POSTGRES_PORT"]), user=env["POSTGRES_USER"],
                         password=env["POSTGRES_PASSWORD"] or None) as conn:
        qualified = sql.SQL("{}.{}").format(sql.Identifier(target.schema or "public"),
                                            sql.Identifier(table))
        # After a reset, a run killed before it made the tables leaves none: no events.
        if conn.execute("SELECT to_regclass(%s)", (qualified.as_string(conn),)
                        ).fetchone()[0] is None:
            return []
        rows = conn.execute(sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} ORDER BY notification_id").format(qualified)).fetchall()
    return [(int(p), str(o), int(v), str(t), bytes(s)) for p, o, v, t, s in rows]


def markers(rows: list[Row]) -> list[str]:
    """The command ids the store holds an idempotency marker for, in log order."""
    return [oid.split(":", 1)[1] for _, oid, _, _, _ in rows if oid.startswith("command:")]


def events_per_command(rows: list[Row]) -> Counter[str]:
    """How many events (markers aside) each command id has in the store."""
    found: Counter[str] = Counter()
    for _, oid, _, _, state in rows:
        if not oid.startswith("command:"):
            command_id = orjson.loads(state).get("command_id")
            if command_id is not None:
                found[command_id] += 1
    return found


def comparable(rows: list[Row]) -> list[tuple[str, int, str, bytes]]:
    """The events as a clean import would also store them: without the recording time."""
    result = []
    for _, oid, version, topic, state in rows:
        data = orjson.loads(state)
        data.pop("timestamp", None)
        for key, value in data.items():
            if isinstance(value, str) and value.startswith("enc1:"):
                data[key] = value.rsplit(":", 1)[0]  # the owner's reference, not the nonce
        result.append((oid, version, topic, orjson.dumps(data, option=orjson.OPT_SORT_KEYS)))
    return sorted(result)


def assert_versions_contiguous(rows: list[Row]) -> None:
    versions: dict[str, list[int]] = defaultdict(list)
    for _, oid, version, _, _ in rows:
        versions[oid].append(version)
    for oid, found in versions.items():
        assert found == list(range(1, len(found) + 1)), (oid, found)


# ---------------------------------------------------------------------- the test
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store for the crashing importer: an SQLite file or a PostgreSQL schema."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "crashed.db")


class EventCounter:
    """Watches how many events the store holds while an importer writes to it."""

    def __init__(self, store: str, table: str) -> None:
        self.store = store
        self.table = table
        self._pg: psycopg.Connection[Any] | None = None

    def __call__(self) -> int:
        if self.store.startswith("postgresql://"):
            return self._postgres()
        if not Path(self.store).exists():
            return 0
        conn = sqlite3.connect(f"file:{self.store}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute(f"SELECT MAX(rowid) FROM {self.table}").fetchone()[0] or 0)
        except sqlite3.OperationalError:  # no table yet
            return 0
        finally:
            conn.close()

    def _postgres(self) -> int:
        target = resolve_target(self.store)
        if self._pg is None:
            env = target.env
            self._pg = psycopg.connect(
                dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                port=int(env["POSTGRES_PORT"]), user=env["POSTGRES_USER"],
                password=env["POSTGRES_PASSWORD"] or None, autocommit=True)
        try:
            top = self._pg.execute(sql.SQL("SELECT MAX(notification_id) FROM {}.{}").format(
                sql.Identifier(target.schema or "public"), sql.Identifier(self.table))
            ).fetchone()
        except psycopg.errors.UndefinedTable:  # the store was just reset
            return 0
        return int(top[0] or 0) if top else 0

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()


def reset_store(store: str) -> None:
    """Empty the store, so that later runs have commands left to be killed writing."""
    if not store.startswith("postgresql://"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        return
    target = resolve_target(store)
    env = target.env
    with psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                         port=int(env["POSTGRES_PORT"]), user=env["POSTGRES_USER"],
                         password=env["POSTGRES_PASSWORD"] or None, autocommit=True) as conn:
        schema = sql.Identifier(target.schema or "public")
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))


def import_and_kill(store: str, stream: Path, batch_size: int, when: str, delay: float,
                    count: EventCounter) -> subprocess.Popen[bytes]:
    """Start ``lifecycle import`` and SIGKILL it, unless it ends first.

    ``when`` is ``"anytime"`` (``delay`` seconds after start: during start-up, the scan
    of already applied lines, or a write) or ``"writing"`` (``delay`` seconds after the
    store was first seen to grow during this run).
    """
    before = count()
    proc = subprocess.Popen(
        [str(LIFECYCLE_BIN), "--db", store, "import", str(stream), "--json",
         "--batch-size", str(batch_size)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if when == "writing":
            deadline = time.monotonic() + RUN_GUARD
            while proc.poll() is None and count() <= before:
                assert time.monotonic() < deadline, "the importer never wrote"
                time.sleep(0.005)
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
    try:
        _, stderr = proc.communicate(timeout=RUN_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            _, stderr = proc.communicate()
    proc.stderr_text = stderr.decode(errors="replace")  # type: ignore[attr-defined]
    return proc


def test_importer_killed_at_random_moments_ends_like_one_clean_import(
        store: str, tmp_path: Path, cli: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """20+ SIGKILLs mid-import, then one full import: zero rejections, every command
    once, every event as a clean import stores it, versions contiguous, chain intact."""
    # Both stores sealed under one master key (ADR 34), so that they name mentors and
    # command ids alike; sealed values (random nonces) are compared by their owner.
    master = bytes(range(32))
    monkeypatch.setenv("LIFECYCLE_MASTER_KEY", base64.b64encode(master).decode())
    keys = PersonKeys(master)
    stream = tmp_path / "stream.jsonl"
    made = cli("simulate", "--seed", SEED, "--duos", DUOS, "--out", stream)
    assert made.returncode == 0, made.stderr
    lines = [json.loads(line) for line in stream.read_text().splitlines() if line.strip()]
    command_ids = [keys.command_digest(f"id:{line['command_id']}")
                   for line in lines if "command_id" in line]
    assert len(command_ids) == len(lines) > 1000

    clean_store = str(tmp_path / "clean.db")
    clean = cli("--db", clean_store, "import", stream, "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # The PostgreSQL store's tables are made here (its name for the events table
    # differs from SQLite's); the SQLite store is left for the first run to create.
    table = events_table(store if store.startswith("postgresql://") else clean_store)
    expected = read_rows(clean_store, events_table(clean_store))
    expected_per_command = events_per_command(expected)

    rng = random.Random(SEED)
    count = EventCounter(store, table)
    kills = kills_mid_write = runs = 0
    try:
        while kills < KILLS or kills_mid_write < KILLS_WRITING:
            runs += 1
            assert runs <= MAX_RUNS, f"only {kills} of {runs - 1} runs could be killed"
            before = count()
            when = rng.choice(("anytime", "writing"))
            delay = rng.uniform(*KILL_AFTER[when])
            proc = import_and_kill(store, stream, rng.choice(BATCH_SIZES), when, delay, count)
            if proc.returncode != -signal.SIGKILL:
                # It finished first; a run that completes must not have rejected anything.
                assert proc.returncode == 0, (proc.returncode, proc.stderr_text)
                # A complete store leaves nothing to write: start again from empty
                # (the end state must still equal one clean import).
                reset_store(store)
                continue
            kills += 1
            rows = read_rows(store, table)
            if count() > before and len(markers(rows)) < len(command_ids):
                kills_mid_write += 1
            # A kill loses at most the transaction in flight: the store holds the
            # commands of a prefix of the file, each whole (all its events, and its
            # marker) or not at all.
            held = markers(rows)
            assert held == command_ids[: len(held)]
            assert events_per_command(rows) == Counter(
                {cid: expected_per_command[cid] for cid in held
                 if expected_per_command[cid]})
            assert_versions_contiguous(rows)
    finally:
        count.close()

    final = cli("--db", store, "import", stream, "--json")
    assert final.returncode == 0, final.stdout + final.stderr
    outcome = json.loads(final.stdout)
    assert outcome["rejected"] == []
    assert outcome["applied"] + outcome["duplicates"] == len(lines)

    rows = read_rows(store, table)
    assert markers(rows) == command_ids  # every command exactly once, in file order
    assert_versions_contiguous(rows)
    assert comparable(rows) == comparable(expected)  # nothing applied twice or lost

    audit = cli("--db", store, "audit", "verify", "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout)["events"] == len(expected)

    kind = "postgres" if store.startswith("postgresql://") else "sqlite"
    print(f"\n[{kind}] {kills} kills in {runs} runs "
          f"({kills_mid_write} after the run had written and before the file was complete); "
          f"final run applied {outcome['applied']}, duplicates {outcome['duplicates']}; "
          f"{len(rows)} events")
