"""Split rebuild (``projections.split``, ADR 15) on a real SQLite store: the passes of a
large log are shared out between the calling process and worker interpreters, whose
rows reach the new tables through scratch files. Whatever the split, the views must
be exactly the ones a single process builds, and a worker that fails must change
nothing but who folds its passes.

A small simulated pilot (``lifecycle simulate --seed 11 --duos 40``, about 3,000
events) is imported once; ``PASS_EVENTS`` is lowered so that it splits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner

from lifecycle.adapters import interpreters
from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle
from lifecycle.entrypoints.cli import cli as lifecycle_command
from projections import reading, split
from projections import rebuild as rebuilding
from projections.schema import ALL_TABLES, CONTACTS


@pytest.fixture(scope="module")
def pilot(cli: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain store (made as before sealing): worker interpreters fold the passes of
    a plain store's log; a sealed store is rebuilt in one process (ADR 35)."""
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle
    from lifecycle.application.importer import Importer

    folder = tmp_path_factory.mktemp("rebuild")
    stream, db = folder / "pilot.jsonl", folder / "pilot.db"
    made = cli("simulate", "--seed", 11, "--duos", 40, "--out", stream)
    assert made.returncode == 0, made.stderr
    engine = Lifecycle(resolve_target(str(db)).env)
    with stream.open("rb") as lines:
        assert not Importer(engine).run(lines).rejected
    engine.shutdown()
    return db


@pytest.fixture
def store(pilot: Path, tmp_path: Path, copy_sqlite: Callable[[Path, Path], Path]) -> Path:
    """A copy of the pilot of this test's own."""
    (tmp_path / "store").mkdir()
    return copy_sqlite(pilot, tmp_path / "store" / "pilot.db")


@pytest.fixture(autouse=True)
def small_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passes of about 300 duo events (a few duos each), so the pilot splits."""
    monkeypatch.setattr(reading, "PASS_EVENTS", 600)


@pytest.fixture
def results(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """What every worker of the test answered (None: failed, its passes refolded)."""
    seen: list[int | None] = []
    original = split.Worker.result

    def spy(worker: split.Worker) -> int | None:
        seen.append(original(worker))
        return seen[-1]

    monkeypatch.setattr(split.Worker, "result", spy)
    return seen


def stored(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every view table's rows, in key order."""
    return {t.name: conn.execute(f"SELECT * FROM {t.name} ORDER BY {', '.join(t.key)}"
                                 ).fetchall() for t in ALL_TABLES}


def kept(path: Path) -> dict[str, Any]:
    """Every view table's rows in the store at ``path``."""
    conn = sqlite3.connect(path)
    try:
        return stored(conn)
    finally:
        conn.close()


def rebuild(path: Path, processes: int,
            progress: Callable[[int, int], None] | None = None) -> tuple[int, dict[str, Any]]:
    """Rebuild the store's views with ``processes``; the count and every table's rows."""
    engine = Lifecycle(resolve_target(str(path)).env)
    conn = sqlite3.connect(path)
    try:
        app = engine.app
        count = rebuilding.rebuild(app.recorder, app.mapper, conn, progress=progress,
                             processes=processes)
        tables = stored(conn)
        attached = [row[1] for row in conn.execute("PRAGMA database_list")]
    finally:
        conn.close()
        engine.shutdown()
    assert attached == ["main"]  # the scratch files are detached again
    return count, tables


@pytest.mark.parametrize("processes", [2, 3, 4])
def test_a_split_rebuild_builds_the_views_a_single_process_builds(
        store: Path, results: list[int | None], processes: int) -> None:
    alone = rebuild(store, 1)
    assert results == []
    assert rebuild(store, processes) == alone
    assert len(results) == processes - 1
    assert all(folded is not None and folded > 0 for folded in results)
    assert sum(len(rows) for rows in alone[1].values()) > 1_000
    assert not [p for p in store.parent.iterdir() if "rebuild" in p.name]


def test_a_split_rebuild_reports_progress_in_order_up_to_the_log_position(
        store: Path) -> None:
    seen: list[tuple[int, int]] = []
    rebuild(store, 2, lambda at, top: seen.append((at, top)))
    tops = {top for _, top in seen}
    assert len(tops) == 1
    assert [at for at, _ in seen] == sorted(at for at, _ in seen)
    assert seen[-1][0] == tops.pop()


@pytest.mark.parametrize("worker", [
    "import sys; sys.exit(3)",                         # fails
    "print('not a count')",                            # answers nonsense
    "import sys; print('{\"events\": 7}')",           # claims a count, wrote no file
])
def test_a_worker_that_fails_is_not_trusted_and_its_passes_are_folded_here(
        store: Path, monkeypatch: pytest.MonkeyPatch, results: list[int | None],
        worker: str) -> None:
    alone = rebuild(store, 1)
    monkeypatch.setattr(interpreters, "_BOOT", worker)
    if "events" in worker:
        # A worker that says it succeeded but left no rows cannot be caught by its
        # answer: the copy fails, and with it the whole rebuild, which changes nothing.
        with pytest.raises(sqlite3.OperationalError):
            rebuild(store, 3)
        assert rebuild(store, 1) == alone
        return
    with structlog.testing.capture_logs() as logs:
        assert rebuild(store, 3) == alone
    assert results == [None, None]
    if "exit" in worker:
        assert [e["event"] for e in logs].count("rebuild_worker_failed") == 2


def test_a_failed_split_rebuild_leaves_the_old_views_in_place(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = rebuild(store, 1)

    def broken(worker: split.Worker, cursor: Any) -> None:
        raise RuntimeError("disk full while copying")

    monkeypatch.setattr(split.Worker, "copy_into", broken)
    with pytest.raises(RuntimeError):
        rebuild(store, 2)
    assert kept(store) == before[1]
    assert not [p for p in store.parent.iterdir() if "rebuild" in p.name]


def test_a_rebuild_whose_insert_fails_half_way_leaves_the_old_views_in_place(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebuild's inserts keep the rows a failing statement wrote before its error
    (``INSERT OR FAIL``, ADR 47): its one transaction must still leave nothing of it."""
    before = rebuild(store, 1)
    made = rebuilding.view_rows

    def with_a_repeated_key(state: Any, views: Any, *,
                            release: bool = False) -> Iterator[tuple[Any, Any]]:
        for table, rows in made(state, views, release=release):
            if table is CONTACTS:
                rows = list(rows)
                rows.insert(3, rows[2])  # the fourth row of the first statement fails
            yield table, rows

    monkeypatch.setattr(rebuilding, "view_rows", with_a_repeated_key)
    with pytest.raises(sqlite3.IntegrityError):
        rebuild(store, 1)
    assert kept(store) == before[1]


def test_small_logs_and_in_memory_stores_stay_in_one_process(
        tmp_path: Path, results: list[int | None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "PASS_EVENTS", 400_000)
    engine = Lifecycle({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    conn = sqlite3.connect(tmp_path / "views.db")
    try:
        rebuilding.rebuild(engine.app.recorder, engine.app.mapper, conn, processes=4)
    finally:
        conn.close()
        engine.shutdown()
    assert results == []


@pytest.mark.parametrize(("processes", "first"), [(1, 1.0), (2, 1.0), (3, 1.0), (2, 0.5)])
def test_each_process_gets_its_part_of_the_duo_events_in_passes_of_about_equal_size(
        store: Path, processes: int, first: float) -> None:
    engine = Lifecycle(resolve_target(str(store)).env)
    try:
        recorder = engine.app.recorder
        stop = recorder.max_notification_id() or 0
        shares = reading.plan_shares(recorder, stop, processes, 600, first=first)
        counts = dict(sqlite3.connect(store).execute(
            "SELECT substr(originator_id, 5), count(*) FROM stored_events "
            "WHERE originator_id LIKE 'duo:%' GROUP BY originator_id").fetchall())
    finally:
        engine.shutdown()
    passes = [scope for share in shares for scope in share]
    assert len(shares) == processes
    assert [scope.first for scope in passes] == [True] + [False] * (len(passes) - 1)
    assert passes[0].low is None and passes[-1].high is None
    assert all(a.high == b.low for a, b in pairwise(passes))
    largest = max(counts.values())

    def events(scope: reading.Pass) -> int:
        return sum(n for duo, n in counts.items() if scope.holds(duo))

    total = sum(counts.values())
    weights = [first] + [1.0] * (processes - 1)
    for share, weight in zip(shares, weights, strict=True):
        held = sum(events(scope) for scope in share)
        assert abs(held - total * weight / sum(weights)) <= largest
        assert len(share) == -(-held // 600)  # one pass per 600 events, rounded up
        assert all(abs(events(scope) - held / len(share)) <= largest for scope in share)


@pytest.mark.parametrize(("processes", "workers"), [("1", 0), ("2", 1), ("3", 2)])
def test_the_cli_takes_the_number_of_processes(
        store: Path, results: list[int | None], processes: str, workers: int) -> None:
    saved = structlog.get_config()
    try:
        result = CliRunner().invoke(lifecycle_command, ["--db", str(store), "projections",
                                                        "rebuild", "--processes", processes])
    finally:
        structlog.configure(**saved)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("rebuilt every view from ")
    assert len(results) == workers and None not in results


def test_the_cli_refuses_a_number_of_processes_below_one(store: Path) -> None:
    result = CliRunner().invoke(lifecycle_command, ["--db", str(store), "projections",
                                                    "rebuild", "--processes", "0"])
    assert result.exit_code == 2
    assert "--processes" in result.output


def test_an_interpreter_that_cannot_start_leaves_every_pass_to_this_process(
        store: Path, monkeypatch: pytest.MonkeyPatch, results: list[int | None]) -> None:
    alone = rebuild(store, 1)
    monkeypatch.setattr(interpreters.sys, "executable", str(store.parent / "no-python"))
    assert rebuild(store, 2) == alone
    assert results == [None]
