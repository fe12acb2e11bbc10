"""An export written by several processes (ADR 41): on SQLite, a large log is written in
ranges of positions, the first by the calling process and each other by a worker
interpreter into a file of its own, copied after the lines before it. Whatever the
store holds, the file must be byte for byte the one a single process writes
(``processes=1``): for an intact store with signed heads, for hand edits that send
events off the fast path (a missing event or link, a payload that is not JSON, a
stream id that needs escaping, a text version, a topic that is not UTF-8, links and
signed heads after the last event), with ``--as-at`` ending the history in any range,
and when a worker cannot be started or fails (its range is then written by the calling
process, from its own snapshot).

``SPLIT_MIN_EVENTS`` is lowered so that a store of 900 events splits into three ranges,
and ``SPLIT_SHARE`` set so that they are equal (the edits are at their ends); one test
keeps the calling process's smaller share.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from export_cases import spy_on_workers
from lifecycle.adapters import export as export_module
from lifecycle.adapters.audit import ChainReader, verify
from lifecycle.adapters.chain import GENESIS, link_bytes
from lifecycle.adapters.export import ExportReader, export_to
from lifecycle.adapters.recorders import CHAIN_TABLE
from lifecycle.adapters.signing import SIGNATURES_TABLE, message
from lifecycle.adapters.store import resolve_target
from lifecycle.bootstrap import open_engine

EVENTS = 900
SIGNED_EVERY = 40


@pytest.fixture(autouse=True)
def small_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "SPLIT_MIN_EVENTS", 100)
    monkeypatch.setattr(export_module, "SPLIT_SHARE", 1.0)  # ranges of 300 positions


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The jobs of the workers started."""
    return spy_on_workers(monkeypatch)


def recorded(position: int) -> str:
    return f"2025-03-{1 + position // 100:02d}T10:00:00.{position:06d}Z"


def built(path: Path, events: int = EVENTS) -> Path:
    """A store of ``events`` engine-shaped events, chained, with a signed head after
    every ``SIGNED_EVERY``-th."""
    open_engine(str(path)).shutdown()  # the engine's tables
    key = Ed25519PrivateKey.generate()
    rows, links, signed = [], [], []
    previous = GENESIS
    for position in range(1, events + 1):
        oid, version, topic = f"duo:D-{position // 20}", position % 20 + 1, "lifecycle.Duo.X"
        state = orjson.dumps({"timestamp": recorded(position), "occurred_on": "2025-02-01",
                              "command_id": f"c-{position}", "minutes": position})
        rows.append((position, oid, version, topic, state))
        previous = link_bytes(previous, position, oid.encode(), version, topic.encode(), state)
        links.append((position, previous))
        if position % SIGNED_EVERY == 0:
            signed.append((position, previous, key.sign(message(position, previous))))
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO stored_events (rowid, originator_id, originator_version, "
                         "topic, state) VALUES (?, ?, ?, ?, ?)", rows)
        conn.executemany(f"INSERT INTO {CHAIN_TABLE} (position, link) VALUES (?, ?)", links)
        conn.executemany(f"INSERT INTO {SIGNATURES_TABLE} (position, head, signature) "
                         "VALUES (?, ?, ?)", signed)
    conn.close()
    return path


def edited(path: Path, *statements: tuple[str, tuple[Any, ...]]) -> Path:
    with sqlite3.connect(path) as conn:
        for sql, params in statements:
            conn.execute(sql, params)
    conn.close()
    return path


def exported(store: Path, path: Path, processes: int | None, **options: Any) -> bytes:
    reader = ChainReader(resolve_target(str(store)), "stored_events")
    export_to(reader, str(path), processes=processes, **options)
    return path.read_bytes()


def same_bytes(store: Path, tmp_path: Path, **options: Any) -> bytes:
    """The export of ``store`` split in three and in one process: the same bytes; and
    nothing left beside the file."""
    split = exported(store, tmp_path / "split.jsonl", 3, **options)
    single = exported(store, tmp_path / "single.jsonl", 1, **options)
    assert split == single
    assert sorted(p.name for p in tmp_path.glob("*.jsonl*")) == ["single.jsonl",
                                                                   "split.jsonl"]
    return split


EVENTS_TABLE = "stored_events"
EDITS: dict[str, list[tuple[str, tuple[Any, ...]]]] = {
    "a missing event at a range's end": [
        (f"DELETE FROM {EVENTS_TABLE} WHERE rowid = ?", (300,))],
    "a missing link": [(f"DELETE FROM {CHAIN_TABLE} WHERE position = ?", (301,))],
    "a payload that is not JSON": [
        (f"UPDATE {EVENTS_TABLE} SET state = ? WHERE rowid = ?", (b"{not json\n", 450))],
    "a stream id that needs escaping": [
        (f"UPDATE {EVENTS_TABLE} SET originator_id = ? WHERE rowid = ?", ('duo:"quoted"', 601))],
    "a text version": [
        (f"UPDATE {EVENTS_TABLE} SET originator_version = ? WHERE rowid = ?", ("v12", 602))],
    "a topic that is not UTF-8": [
        (f"UPDATE {EVENTS_TABLE} SET topic = ? WHERE rowid = ?", (b"\xff\xfe", 899))],
    "links and signed heads after the last event": [
        (f"DELETE FROM {EVENTS_TABLE} WHERE rowid >= ?", (880,)),
        (f"INSERT INTO {CHAIN_TABLE} (position, link) VALUES (?, ?)", (905, bytes(32))),
        (f"INSERT INTO {SIGNATURES_TABLE} (position, head, signature) VALUES (?, ?, ?)",
         (905, bytes(32), bytes(64)))],
    "nothing in the first positions": [
        (f"DELETE FROM {EVENTS_TABLE} WHERE rowid <= ?", (250,)),
        (f"DELETE FROM {CHAIN_TABLE} WHERE position <= ?", (200,))],
}


def test_an_intact_store_is_split_and_gives_the_single_process_bytes(
        tmp_path: Path, started: list[dict[str, Any]]) -> None:
    store = built(tmp_path / "store.db")
    data = same_bytes(store, tmp_path)
    assert [(job["lo"], job["hi"]) for job in started] == [(300, 600), (600, 900)]
    outcome = verify(ExportReader(tmp_path / "split.jsonl"), processes=1)
    assert outcome.ok and outcome.events == EVENTS
    trailer = orjson.loads(data.splitlines()[-1])
    assert trailer["signatures"] == EVENTS // SIGNED_EVERY and trailer["last_position"] == EVENTS


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_hand_edited_store_gives_the_single_process_bytes_when_split(
        tmp_path: Path, started: list[dict[str, Any]], edit: str) -> None:
    store = edited(built(tmp_path / "store.db"), *EDITS[edit])
    same_bytes(store, tmp_path)
    assert started


@pytest.mark.parametrize("position", [1, 150, 300, 301, 599, 750, 900])
def test_as_at_ends_the_history_in_any_range_as_one_process_does(
        tmp_path: Path, started: list[dict[str, Any]], position: int) -> None:
    store = built(tmp_path / "store.db")
    moment = datetime.fromisoformat(recorded(position)).astimezone(UTC)
    data = same_bytes(store, tmp_path, as_at=moment)
    assert started
    assert orjson.loads(data.splitlines()[-1])["last_position"] == position


HALF_WRITTEN = """
import sys, time
with open(sys.argv[1], "wb") as out:
    out.write(b'{"position":301,"stream":"half written"}\\n' * 20000)
    out.flush()
    time.sleep(0.5)
sys.exit(1)
"""


def failing_start(original: Callable[..., Any], how: str) -> Callable[..., Any]:
    def start(main: str, job: str) -> Any:
        found = json.loads(job)
        if found["lo"] != 300:
            return original(main, job)
        if how == "not started":
            return None
        if how == "fails after writing":  # lines the calling process has begun copying
            return subprocess.Popen([sys.executable, "-c", HALF_WRITTEN, found["path"]],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return original("lifecycle.adapters.export:no_such_main", job)

    return start


@pytest.mark.parametrize("how", ["not started", "fails", "fails after writing"])
def test_a_range_whose_worker_fails_is_written_by_the_calling_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    store = built(tmp_path / "store.db")
    monkeypatch.setattr(export_module.interpreters, "start",
                        failing_start(export_module.interpreters.start, how))
    same_bytes(store, tmp_path)


def test_the_calling_process_takes_a_smaller_range(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[dict[str, Any]]) -> None:
    monkeypatch.setattr(export_module, "SPLIT_SHARE", 0.5)
    store = built(tmp_path / "store.db")
    same_bytes(store, tmp_path)
    assert [(job["lo"], job["hi"]) for job in started] == [(180, 540), (540, 900)]


@pytest.mark.parametrize(("idle", "workers"), [(0.0, 0), (0.6, 0), (1.0, 1), (2.0, 2)])
def test_by_default_a_worker_is_started_for_each_idle_cpu_after_a_first_range(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[dict[str, Any]],
        idle: float, workers: int) -> None:
    monkeypatch.setattr(export_module, "SPLIT_PROBE", 60)
    monkeypatch.setattr(export_module, "available_processes", lambda: 3)
    monkeypatch.setattr(export_module.os, "cpu_count", lambda: 1)
    ticks = iter([(0, 0), (int(idle * 100), 100)])
    monkeypatch.setattr(export_module, "_cpu_times", lambda: next(ticks))
    store = built(tmp_path / "store.db")
    split = exported(store, tmp_path / "default.jsonl", None)
    assert split == exported(store, tmp_path / "single.jsonl", 1)
    assert len(started) == workers
    if workers:
        assert started[0]["lo"] > 60


@pytest.mark.parametrize("position", [20, 59, 60, 61])
def test_as_at_in_the_first_range_ends_the_history_before_any_worker_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: list[dict[str, Any]],
        position: int) -> None:
    monkeypatch.setattr(export_module, "SPLIT_PROBE", 60)
    monkeypatch.setattr(export_module, "_idle_cpus", lambda _: 2)
    store = built(tmp_path / "store.db")
    moment = datetime.fromisoformat(recorded(position)).astimezone(UTC)
    split = exported(store, tmp_path / "default.jsonl", None, as_at=moment)
    assert split == exported(store, tmp_path / "single.jsonl", 1, as_at=moment)
    assert bool(started) == (position >= 60)  # the first event after it ends it


def test_a_small_store_and_a_compressed_export_stay_in_one_process(
        tmp_path: Path, started: list[dict[str, Any]]) -> None:
    store = built(tmp_path / "store.db", 150)
    exported(store, tmp_path / "small.jsonl", 3)
    store = built(tmp_path / "large.db")
    exported(store, tmp_path / "large.jsonl.gz", 3)
    assert not started
