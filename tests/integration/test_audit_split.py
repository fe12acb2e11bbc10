"""Split verification (``lifecycle.adapters.audit``) on a real SQLite store: the fast pass of a
large log is checked in ranges of positions, the first in the calling process and each
other by a worker interpreter. Whatever the store holds, the verdict must be exactly the
one of the single-process pass (``processes=1``): same problem, same position, same
count and head.

A small simulated pilot (``lifecycle simulate --seed 5 --duos 12``, about 900 events)
is imported once; ``SPLIT_MIN`` is lowered so that it splits. Each case tampers with its
own copy, by hand, straight in the database.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner

from lifecycle.adapters import audit, interpreters
from lifecycle.adapters.audit import ChainReader, Digest, Verification, verify
from lifecycle.adapters.chain import GENESIS, link
from lifecycle.adapters.store import resolve_target
from lifecycle.entrypoints.cli import cli as lifecycle_command

Run = Callable[..., subprocess.CompletedProcess[str]]


@dataclass
class Store:
    """The imported pilot: its file, positions, links and the split's range bounds."""

    path: Path
    positions: list[int]
    links: dict[int, bytes]
    cut: int
    """The last position of the first range when split in two."""


def reader(path: Path) -> ChainReader:
    return ChainReader(resolve_target(str(path)), "stored_events")


@pytest.fixture(autouse=True)
def small_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split logs of a few hundred events too (each process gets 100 positions or more)."""
    monkeypatch.setattr(audit, "SPLIT_MIN", 100)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The (lo, hi, mark) of every worker started."""
    seen: list[tuple[Any, ...]] = []
    original = audit._start_worker

    def spy(chain_reader: ChainReader, lo: int | None, hi: int | None,
            mark: int | None) -> Any:
        seen.append((lo, hi, mark))
        return original(chain_reader, lo, hi, mark)

    monkeypatch.setattr(audit, "_start_worker", spy)
    return seen


@pytest.fixture(scope="module")
def pilot(simulated_store: Callable[[Path, int, int], Path],
          tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = simulated_store(tmp_path_factory.mktemp("split"), 5, 12)
    conn = sqlite3.connect(path)
    try:
        positions = [p for (p,) in conn.execute("SELECT rowid FROM stored_events "
                                                "ORDER BY rowid")]
        links = dict(conn.execute("SELECT position, link FROM event_chain"))
    finally:
        conn.close()
    assert len(positions) > 600
    first, last = positions[0], positions[-1]
    return Store(path, positions, links, first - 1 + (last - first + 1) // 2)


def digest_at(store: Store, events: int) -> Digest:
    position = store.positions[events - 1]
    return Digest(events, position, store.links[position].hex(), "", str(store.path))


def single_and_split(path: Path, digest: Digest | None = None) -> tuple[
        Verification, Verification, Verification]:
    return (verify(reader(path), digest, processes=1),
            verify(reader(path), digest, processes=2),
            verify(reader(path), digest, processes=3))


# ---------------------------------------------------------------------- intact
def test_the_split_covers_the_log_in_ranges_and_agrees_with_one_process(
        pilot: Store, started: list[tuple[Any, ...]]) -> None:
    alone = verify(reader(pilot.path), processes=1)
    assert started == []
    assert alone == Verification(True, len(pilot.positions),
                                 pilot.links[pilot.positions[-1]].hex(), None, None,
                                 pilot.positions[-1])
    assert verify(reader(pilot.path), processes=2) == alone
    assert started == [(pilot.cut, None, None)]
    started.clear()
    assert verify(reader(pilot.path), processes=3) == alone
    assert [s[1] for s in started] == [started[1][0], None]


def test_progress_ends_at_the_count_of_events(pilot: Store,
                                              started: list[tuple[Any, ...]]) -> None:
    seen: list[int] = []
    result = verify(reader(pilot.path), progress=seen.append, processes=2)
    assert result.ok and started
    assert seen == sorted(seen)
    assert seen[-1] == len(pilot.positions)


def test_a_small_log_is_not_split(pilot: Store, started: list[tuple[Any, ...]],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "SPLIT_MIN", len(pilot.positions))
    assert verify(reader(pilot.path), processes=2).ok
    assert started == []


@pytest.mark.parametrize("where", ["first", "before-cut", "cut", "after-cut", "last"])
def test_a_digest_is_checked_exactly_wherever_its_position_falls(
        pilot: Store, tmp_path: Path, where: str) -> None:
    index = {"first": 0, "before-cut": pilot.positions.index(pilot.cut) - 1,
             "cut": pilot.positions.index(pilot.cut),
             "after-cut": pilot.positions.index(pilot.cut) + 1,
             "last": len(pilot.positions) - 1}[where]
    digest = digest_at(pilot, index + 1)
    for result in single_and_split(pilot.path, digest):
        assert result.ok, result
    wrong_head = Digest(digest.events, digest.position, "00" * 32, "", "")
    wrong_position = Digest(digest.events, digest.position + 1, digest.head, "", "")
    wrong_count = Digest(digest.events + 1, digest.position, digest.head, "", "")
    for wrong in (wrong_head, wrong_position, wrong_count):
        alone, *split = single_and_split(pilot.path, wrong)
        assert not alone.ok
        assert split == [alone, alone]


def test_a_digest_beyond_the_store_is_a_truncated_history(pilot: Store) -> None:
    digest = Digest(len(pilot.positions) + 5, pilot.positions[-1] + 5, "ab" * 32, "", "")
    alone, *split = single_and_split(pilot.path, digest)
    assert alone.problem == (f"history was truncated: the digest describes "
                             f"{len(pilot.positions) + 5} events, the store has "
                             f"{len(pilot.positions)}")
    assert split == [alone, alone]


# ---------------------------------------------------------------------- tampering
Edit = Callable[[sqlite3.Connection, Store], int | None]
"""Edits a copy; returns the position the verdict must name."""


def flip(data: bytes, index: int = 0) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def state_at(index: Callable[[Store], int]) -> Edit:
    def edit(conn: sqlite3.Connection, store: Store) -> int:
        position = store.positions[index(store)]
        [(state,)] = conn.execute("SELECT state FROM stored_events WHERE rowid = ?",
                                  (position,))
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                     (flip(state, len(state) // 2), position))
        return position
    return edit


def after_cut(store: Store, ahead: int = 1) -> int:
    return store.positions[store.positions.index(store.cut) + ahead]


def link_flipped(conn: sqlite3.Connection, store: Store) -> int:
    position = after_cut(store)
    conn.execute("UPDATE event_chain SET link = ? WHERE position = ?",
                 (flip(store.links[position], 31), position))
    return position


def event_deleted(conn: sqlite3.Connection, store: Store) -> int:
    position = after_cut(store)
    conn.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
    return position


def event_and_link_deleted_at_the_cut(conn: sqlite3.Connection, store: Store) -> int:
    conn.execute("DELETE FROM stored_events WHERE rowid = ?", (store.cut,))
    conn.execute("DELETE FROM event_chain WHERE position = ?", (store.cut,))
    return after_cut(store)


def link_deleted(conn: sqlite3.Connection, store: Store) -> int:
    position = after_cut(store, 3)
    conn.execute("DELETE FROM event_chain WHERE position = ?", (position,))
    return position


def orphan_link_after_the_last(conn: sqlite3.Connection, store: Store) -> int:
    position = store.positions[-1] + 1
    conn.execute("INSERT INTO event_chain (position, link) VALUES (?, ?)",
                 (position, bytes(32)))
    return position


def orphan_link_before_the_first(conn: sqlite3.Connection, store: Store) -> int:
    position = store.positions[0] - 1
    conn.execute("INSERT INTO event_chain (position, link) VALUES (?, ?)",
                 (position, bytes(32)))
    return position


def events_swapped_across_the_cut(conn: sqlite3.Connection, store: Store) -> int:
    a, b = store.positions[10], after_cut(store, 10)
    for old, new in ((a, -1), (b, a), (-1, b)):
        conn.execute("UPDATE stored_events SET rowid = ? WHERE rowid = ?", (new, old))
    return a


def version_made_text(conn: sqlite3.Connection, store: Store) -> int:
    position = after_cut(store, 2)
    conn.execute("UPDATE stored_events SET originator_version = 'v' || originator_version "
                 "WHERE rowid = ?", (position,))
    return position


def originator_id_erased(conn: sqlite3.Connection, store: Store) -> int:
    position = after_cut(store, 4)
    conn.execute("UPDATE stored_events SET originator_id = NULL WHERE rowid = ?",
                 (position,))
    return position


def topic_made_invalid_utf8(conn: sqlite3.Connection, store: Store) -> int:
    position = after_cut(store, 5)
    conn.execute("UPDATE stored_events SET topic = CAST(X'C0FF' || CAST(topic AS BLOB) "
                  "AS TEXT) WHERE rowid = ?", (position,))
    return position


def state_made_invalid_utf8_text(conn: sqlite3.Connection, store: Store) -> int:
    position = after_cut(store, 6)
    conn.execute("UPDATE stored_events SET state = CAST(X'C0FF' || state AS TEXT) "
                 "WHERE rowid = ?", (position,))
    return position


def link_made_text(conn: sqlite3.Connection, store: Store) -> int:
    position = after_cut(store, 7)
    conn.execute("UPDATE event_chain SET link = hex(link) WHERE position = ?", (position,))
    return position


def link_before_a_range_made_text(conn: sqlite3.Connection, store: Store) -> int:
    """The link a worker's range starts from is not even a blob."""
    conn.execute("UPDATE event_chain SET link = hex(link) WHERE position = ?", (store.cut,))
    return store.cut


CASES: dict[str, Edit] = {
    "first-state": state_at(lambda s: 0),
    "middle-of-first-range": state_at(lambda s: len(s.positions) // 4),
    "last-of-first-range": state_at(lambda s: s.positions.index(s.cut)),
    "first-of-second-range": state_at(lambda s: s.positions.index(s.cut) + 1),
    "last-state": state_at(lambda s: len(s.positions) - 1),
    "link-flipped": link_flipped,
    "event-deleted": event_deleted,
    "event-and-link-deleted-at-the-cut": event_and_link_deleted_at_the_cut,
    "link-deleted": link_deleted,
    "orphan-link-after-the-last": orphan_link_after_the_last,
    "orphan-link-before-the-first": orphan_link_before_the_first,
    "events-swapped-across-the-cut": events_swapped_across_the_cut,
    "version-made-text": version_made_text,
    "originator-id-erased": originator_id_erased,
    "topic-made-invalid-utf8": topic_made_invalid_utf8,
    "state-made-invalid-utf8-text": state_made_invalid_utf8_text,
    "link-made-text": link_made_text,
    "link-before-a-range-made-text": link_before_a_range_made_text,
}


@pytest.fixture
def tampered(pilot: Store, tmp_path: Path, copy_sqlite: Callable[[Path, Path], Path],
             ) -> Iterator[Callable[[Edit], tuple[Path, int]]]:
    def make(edit: Edit) -> tuple[Path, int]:
        path = copy_sqlite(pilot.path, tmp_path / "tampered.db")
        conn = sqlite3.connect(path)
        try:
            position = edit(conn, pilot)
            conn.commit()
        finally:
            conn.close()
        assert position is not None
        return path, position
    yield make


@pytest.mark.parametrize("case", list(CASES))
def test_a_tampered_store_gets_the_single_process_verdict_split_or_not(
        pilot: Store, tampered: Callable[[Edit], tuple[Path, int]], case: str,
        started: list[tuple[Any, ...]]) -> None:
    path, position = tampered(CASES[case])
    alone, *split = single_and_split(path)
    assert (alone.ok, alone.position) == (False, position), alone
    assert split == [alone, alone]
    assert started, "the log was not split"
    digest = digest_at(pilot, 3)
    alone, *split = single_and_split(path, digest)
    assert (alone.ok, alone.position) == (False, position), alone
    assert split == [alone, alone]


def rechain(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT rowid, originator_id, originator_version, topic, state "
                        "FROM stored_events ORDER BY rowid").fetchall()
    links, previous = [], GENESIS
    for row in rows:
        previous = link(previous, *row)
        links.append((row[0], previous))
    conn.execute("DELETE FROM event_chain")
    conn.executemany("INSERT INTO event_chain (position, link) VALUES (?, ?)", links)


def test_a_rechained_rewrite_passes_alone_and_fails_against_the_digest_split_or_not(
        pilot: Store, tampered: Callable[[Edit], tuple[Path, int]]) -> None:
    def rewrite(conn: sqlite3.Connection, store: Store) -> int:
        state_at(lambda s: 5)(conn, store)
        rechain(conn)
        return store.positions[-1]

    path, last = tampered(rewrite)
    for result in single_and_split(path):
        assert result.ok
    for where in (pilot.cut, last):
        digest = digest_at(pilot, pilot.positions.index(where) + 1)
        alone, *split = single_and_split(path, digest)
        assert (alone.ok, alone.position) == (False, where)
        assert "history differs from the digest" in (alone.problem or "")
        assert split == [alone, alone]


def test_a_truncated_tail_is_caught_against_the_digest_split_or_not(
        pilot: Store, tampered: Callable[[Edit], tuple[Path, int]]) -> None:
    def truncate(conn: sqlite3.Connection, store: Store) -> int:
        for position in store.positions[-3:]:
            conn.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
            conn.execute("DELETE FROM event_chain WHERE position = ?", (position,))
        return store.positions[-4]

    path, _ = tampered(truncate)
    digest = digest_at(pilot, len(pilot.positions))
    alone, *split = single_and_split(path, digest)
    assert (alone.ok, alone.position, alone.events) == (
        False, None, len(pilot.positions) - 3)
    assert "history was truncated" in (alone.problem or "")
    assert split == [alone, alone]


# ---------------------------------------------------------------------- robustness
def test_a_worker_that_fails_leaves_the_check_to_this_process(
        pilot: Store, tampered: Callable[[Edit], tuple[Path, int]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interpreters, "_BOOT", "import sys; sys.exit(3)")
    intact = verify(reader(pilot.path), processes=1)
    assert verify(reader(pilot.path), processes=2) == intact
    path, position = tampered(link_flipped)
    assert verify(reader(path), processes=2).position == position


def test_a_worker_that_cannot_start_leaves_the_check_to_this_process(
        pilot: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interpreters.sys, "executable", str(pilot.path.parent / "no-python"))
    assert verify(reader(pilot.path), processes=2) == verify(reader(pilot.path),
                                                             processes=1)


def test_the_command_splits_too(pilot: Store, tampered: Callable[[Edit], tuple[Path, int]],
                                started: list[tuple[Any, ...]]) -> None:
    """``audit verify`` in-process (the console script runs the same click command)."""
    path, position = tampered(event_deleted)
    saved = structlog.get_config()
    try:
        result = CliRunner().invoke(lifecycle_command,
                                    ["--db", str(path), "audit", "verify", "--json"])
    finally:
        structlog.configure(**saved)
    assert result.exit_code == 1, result.output
    verdict = json.loads(result.stdout)
    assert (verdict["ok"], verdict["position"]) == (False, position)
    assert verdict["problem"] == (f"event at position {position} was removed (its chain "
                                  "link remains)")
    assert started


@pytest.mark.parametrize(("processes", "workers"), [("1", 0), ("2", 1), ("3", 2)])
def test_the_cli_takes_the_number_of_processes(
        pilot: Store, started: list[tuple[Any, ...]], processes: str, workers: int) -> None:
    saved = structlog.get_config()
    try:
        result = CliRunner().invoke(lifecycle_command, ["--db", str(pilot.path), "audit",
                                                        "verify", "--processes", processes,
                                                        "--json"])
    finally:
        structlog.configure(**saved)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    assert len(started) == workers


def test_the_cli_refuses_a_number_of_processes_below_one(pilot: Store) -> None:
    result = CliRunner().invoke(lifecycle_command, ["--db", str(pilot.path), "audit",
                                                    "verify", "--processes", "0"])
    assert result.exit_code == 2
    assert "--processes" in result.output
