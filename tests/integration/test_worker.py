"""The projection worker ``lifecycle project --follow`` as a real process, on an SQLite
file (polling every 0.1 s) and a PostgreSQL schema (LISTEN/NOTIFY).

Commands are written by another process through the library alone (the importer
without the views), so whatever the views hold was put there by the workers. Waits are
bounded loops (guards against a hung worker, never timing claims). Workers log with
``-v --log-json``: each catch-up logs ``views_caught_up`` with the events it applied,
so the sum over every worker's log is how often the events were counted.

Figures (2 shared cores): the SIGKILL test kills a worker 20 times, every time while
the import runs and nearly every time after the killed worker had moved the views, and
restarts it each time; it takes about 25 s, most of it the workers' Python start-ups.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lifecycle import simulate
from lifecycle.adapters.store import StoreTarget, ensure_postgres_schema, resolve_target
from lifecycle.application import Lifecycle
from lifecycle.application.commands import parse_command
from lifecycle.application.importer import Importer
from projections.facade import Views
from projections.fold import TOPICS

LIFECYCLE = Path(sys.executable).parent / "lifecycle"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "worked.jsonl"
"""The project's own worked example (tests/examples/): 154 commands."""
SEED_LINES = 60
"""Commands of the example applied before any worker starts (the rest come later)."""
GUARD = 120.0
"""Seconds after which a wait counts as hung (a guard, not a timing assertion)."""
KILLS = 20
KILL_SEED = 20251127

IMPORT_SCRIPT = """
import json, sys
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
from lifecycle.application import Lifecycle
from lifecycle.application.importer import Importer
from lifecycle.adapters.store import ensure_postgres_schema, resolve_target
target = resolve_target(sys.argv[1])
ensure_postgres_schema(target)
with Lifecycle(target.env) as engine, open(sys.argv[2], "rb") as handle:
    result = Importer(engine, batch_size=int(sys.argv[3])).run(handle)
print(json.dumps(result.as_json()))
"""
"""Another process that applies a JSONL file through the library alone (no views)."""


# ---------------------------------------------------------------------- helpers
def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LIFECYCLE_DB"}


def run_cli(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LIFECYCLE), *map(str, args)], capture_output=True, text=True,
                          env=clean_env(), timeout=GUARD, check=False)


def start_import(db: str, file: Path, batch_size: int,
                 stdin: bool = False) -> subprocess.Popen[Any]:
    """The importer in another process (a pipe for its input when ``stdin``)."""
    return subprocess.Popen([sys.executable, "-c", IMPORT_SCRIPT, db, str(file),
                             str(batch_size)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=not stdin, env=clean_env(),
                            stdin=subprocess.PIPE if stdin else None)


def finish_import(proc: subprocess.Popen[Any]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=GUARD)
    assert proc.returncode == 0, err
    result: dict[str, Any] = json.loads(out)
    assert result["rejected"] == [], result["rejected"][:3]
    return result


def wait_until(condition: Callable[[], bool], what: str, guard: float = GUARD) -> None:
    deadline = time.monotonic() + guard
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


class Worker:
    """One ``lifecycle project --follow`` process, its log in a file."""

    def __init__(self, db: str, log: Path) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.proc = subprocess.Popen(
            [str(LIFECYCLE), "-v", "--log-json", "--db", db, "project", "--follow",
             "--poll", "0.1"],
            stdout=subprocess.DEVNULL, stderr=self.handle, env=clean_env())

    def events(self) -> list[dict[str, Any]]:
        """The log events written so far (a line still being written is left out)."""
        *complete, _ = self.log.read_text(encoding="utf-8").split("\n")
        return [json.loads(line) for line in complete if line.startswith("{")]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == name]

    def wait_started(self) -> None:
        def started() -> bool:
            assert self.proc.poll() is None, self.log.read_text(encoding="utf-8")
            return bool(self.named("worker_started"))

        wait_until(started, "the worker to start")

    def caught_up(self) -> int:
        """Events this worker's catch-ups applied, by its log."""
        return sum(e["events"] for e in self.named("views_caught_up"))

    def terminate(self) -> int:
        """SIGTERM (once the worker follows: Python's default before); the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=GUARD)
        self.handle.close()
        return status

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=GUARD)
        self.handle.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store: an SQLite file or a PostgreSQL schema."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "worked.db")


@pytest.fixture
def example_parts(tmp_path: Path) -> tuple[list[bytes], Path]:
    """The example's first lines (to seed a store) and a file of the rest."""
    lines = EXAMPLE.read_bytes().splitlines(keepends=True)
    rest = tmp_path / "rest.jsonl"
    rest.write_bytes(b"".join(lines[SEED_LINES:]))
    return lines[:SEED_LINES], rest


class Store:
    """The test's own view of a store: an engine (for writes and the log position)
    and the views as stored (never caught up from here unless asked)."""

    def __init__(self, db: str) -> None:
        self.target: StoreTarget = resolve_target(db)
        ensure_postgres_schema(self.target)
        self.engine = Lifecycle(self.target.env)
        self.views = Views(self.target, self.engine.app.recorder, self.engine.app.mapper)

    def seed(self, lines: list[bytes]) -> None:
        """Apply commands and bring the views up to date (from this process)."""
        assert Importer(self.engine).run(lines).rejected == []
        self.views.catch_up()

    def log_position(self) -> int:
        return self.engine.app.recorder.max_notification_id() or 0

    def followed_after(self, position: int) -> int:
        """Events the views follow (markers left out) stored after ``position``."""
        top = self.log_position()
        found = self.engine.app.recorder.select_notifications(
            position, top + 1, stop=top, topics=TOPICS, inclusive_of_start=False)
        return len(found)

    def at_log_position(self) -> bool:
        top = self.log_position()
        return all(st.position == top for st in self.views.status())

    def close(self) -> None:
        self.views.close()
        self.engine.shutdown()


@pytest.fixture
def opened(store: str) -> Iterator[Store]:
    handle = Store(store)
    yield handle
    handle.close()


def assert_views_at_log_position_by_the_cli(db: str, top: int) -> None:
    status = run_cli("--db", db, "projections", "status", "--json")
    assert status.returncode == 0, status.stderr
    views = json.loads(status.stdout)
    assert len(views) == 4
    assert all((v["position"], v["log_position"], v["up_to_date"]) == (top, top, True)
               for v in views), views


def assert_views_equal_a_rebuild(db: str) -> None:
    audit = run_cli("--db", db, "audit", "projections")
    assert audit.returncode == 0, audit.stdout + audit.stderr


# ---------------------------------------------------------------------- following
def test_a_worker_applies_what_another_process_imports_and_stops_on_sigterm(
        store: str, opened: Store, example_parts: tuple[list[bytes], Path],
        tmp_path: Path) -> None:
    seed, rest = example_parts
    opened.seed(seed)
    seeded = opened.log_position()
    worker = Worker(store, tmp_path / "worker.log")
    try:
        worker.wait_started()
        result = finish_import(start_import(store, rest, 20))
        assert result["applied"] == len(EXAMPLE.read_bytes().splitlines()) - SEED_LINES
        wait_until(opened.at_log_position, "every view at the log's position")
        top = opened.log_position()
        assert top > seeded
        # The worker applied every new event exactly once (the test process did not).
        wait_until(lambda: worker.caught_up() >= opened.followed_after(seeded),
                   "the worker to log its last catch-up")
        assert worker.caught_up() == opened.followed_after(seeded)
        assert_views_at_log_position_by_the_cli(store, top)
        assert_views_equal_a_rebuild(store)
    finally:
        status = worker.terminate()
    assert status == 0, worker.log.read_text(encoding="utf-8")
    stopped = worker.named("worker_stopped")
    assert [e["position"] for e in stopped] == [top]


def test_two_workers_at_once_count_every_event_once(
        store: str, opened: Store, example_parts: tuple[list[bytes], Path],
        tmp_path: Path) -> None:
    seed, rest = example_parts
    opened.seed(seed)
    seeded = opened.log_position()
    # Both follow the log before the import starts.
    workers = []
    try:
        for n in range(2):
            workers.append(Worker(store, tmp_path / f"worker-{n}.log"))
            workers[-1].wait_started()
        finish_import(start_import(store, rest, 5))
        wait_until(opened.at_log_position, "every view at the log's position")
        followed = opened.followed_after(seeded)
        wait_until(lambda: sum(w.caught_up() for w in workers) >= followed,
                   "the workers to log their last catch-ups")
        assert sum(w.caught_up() for w in workers) == followed
    finally:
        statuses = [w.terminate() for w in workers]
    assert statuses == [0, 0]
    assert_views_equal_a_rebuild(store)
    days = [date(2025, 3, 31), date(2025, 7, 31), date(2025, 12, 31)]
    by_workers = [opened.views.report(day, catch_up=False) for day in days]
    opened.views.rebuild()
    assert [opened.views.report(day, catch_up=False) for day in days] == by_workers


def test_read_your_writes_waits_for_the_worker_and_catch_up_false_reads_the_views_as_they_are(
        store: str, opened: Store, example_parts: tuple[list[bytes], Path], tmp_path: Path,
        new_stream: Callable[..., Any]) -> None:
    seed, _ = example_parts
    opened.seed(seed)
    engine, views = opened.engine, opened.views
    day = date(2025, 12, 31)
    before = views.report(day, catch_up=False)
    stream = new_stream("ryw")
    stream.base("P-RYW", "S-RYW", "M-RYW", opened_on="2025-02-01")
    stream.duo("active", "D-RYW", start="2025-03-01", programme_id="P-RYW",
               site_id="S-RYW", mentor_id="M-RYW")
    stream.add("log_contact", "2025-03-10", duo_id="D-RYW", contact_id="K-1")

    def submit_all(commands: list[dict[str, Any]]) -> None:
        for raw in commands:
            engine.execute(parse_command(raw), raw)

    worker = Worker(str(store), tmp_path / "worker.log")
    try:
        worker.wait_started()
        submit_all(stream.commands)
        assert engine.last_position == opened.log_position()
        assert views.wait_for(engine.last_position, timeout=GUARD)
        after = views.report(day, catch_up=False)
        assert after["duos"]["total"] == before["duos"]["total"] + 1
        assert after["contact_frequency"]["contacts"] == (
            before["contact_frequency"]["contacts"] + 1)
        assert views.report(day, "P-RYW", catch_up=False)["duos"]["by_state"]["active"] == 1
        [row] = views.duos(day, programme="P-RYW", catch_up=False)
        assert (row.duo_id, row.state, row.contacts) == ("D-RYW", "active", 1)
    finally:
        assert worker.terminate() == 0
    # With no worker running, catch_up=False reads the views as they stand.
    later = new_stream("ryw2")
    later.add("close", "2025-04-01", duo_id="D-RYW", reason="mentor_left_service")
    submit_all(later.commands)
    assert views.position() < engine.last_position
    [stale] = views.duos(day, programme="P-RYW", catch_up=False)
    assert stale.state == "active"
    assert views.report(day, "P-RYW", catch_up=False)["dropouts"]["count"] == 0
    [fresh] = views.duos(day, programme="P-RYW")  # catches up itself
    assert (fresh.state, fresh.close_reason) == ("closed", "mentor_left_service")
    assert views.wait_for(engine.last_position, timeout=0)


def test_an_idle_worker_on_an_empty_sqlite_store_writes_nothing(tmp_path: Path) -> None:
    """With nothing to apply, polling must not rewrite the views (no commit at all)."""
    db = tmp_path / "empty.db"
    store = Store(str(db))
    store.views.catch_up()  # the views' tables exist, at position 0
    worker = Worker(str(db), tmp_path / "idle.log")
    conn = sqlite3.connect(db)
    try:
        worker.wait_started()
        before = conn.execute("PRAGMA data_version").fetchone()[0]
        time.sleep(1.0)  # ten polls
        after = conn.execute("PRAGMA data_version").fetchone()[0]
    finally:
        conn.close()
        assert worker.terminate() == 0
        store.close()
    assert after == before, "the idle worker committed changes to the store"


# ---------------------------------------------------------------------- SIGKILL
class Feeder:
    """One import process fed through a pipe from a thread, at a steady pace and never
    beyond the lines allowed so far (so that it still runs at the last kill, however
    slow the machine); once told to finish, it is given the rest at once."""

    def __init__(self, db: str, lines: list[bytes], per_tick: int = 10,
                 tick: float = 0.1) -> None:
        self.lines = lines
        self.per_tick = per_tick
        self.tick = tick
        self.allowed = 0
        self.changed = threading.Condition()
        self.hurry = threading.Event()
        self.proc = start_import(db, Path("/dev/stdin"), 1, stdin=True)
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.thread.start()

    def allow(self, share: float) -> None:
        """Let this share of the lines through (0..1)."""
        with self.changed:
            self.allowed = int(len(self.lines) * share)
            self.changed.notify()

    def _feed(self) -> None:
        pipe = self.proc.stdin
        assert pipe is not None
        for first in range(0, len(self.lines), self.per_tick):
            with self.changed:
                self.changed.wait_for(lambda: first < self.allowed or self.hurry.is_set())  # noqa: B023
            pipe.write(b"".join(self.lines[first:first + self.per_tick]))
            pipe.flush()
            if not self.hurry.is_set():
                self.hurry.wait(self.tick)
        pipe.close()

    def importing(self) -> bool:
        return self.proc.poll() is None and not self.hurry.is_set()

    def finish(self) -> dict[str, Any]:
        with self.changed:
            self.hurry.set()
            self.changed.notify()
        self.thread.join(timeout=GUARD)
        assert not self.thread.is_alive()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        with self.proc.stdout, self.proc.stderr:
            out, err = self.proc.stdout.read(), self.proc.stderr.read()
        assert self.proc.wait(timeout=GUARD) == 0, err
        result: dict[str, Any] = json.loads(out)
        assert result["rejected"] == [], result["rejected"][:3]
        return result


def test_workers_killed_at_random_moments_during_an_import_leave_views_equal_to_a_rebuild(
        tmp_path: Path) -> None:
    """SIGKILL a worker ``KILLS`` times at seeded random moments while another process
    imports, restarting it each time; at the end the views equal a rebuild and the
    report equals that of a fresh store built from the same file.

    A kill comes either as soon as the restarted worker's first catch-up has moved the
    views, or a random 0-0.4 s after it started following (while the importer keeps
    committing small batches, so most of that time goes into catch-ups).
    """
    rng = random.Random(KILL_SEED)
    db = str(tmp_path / "killed.db")
    source = tmp_path / "pilot.jsonl"
    simulate.write_jsonl(source, 5, 60)  # what ``lifecycle simulate`` writes
    lines = source.read_bytes().splitlines(keepends=True)
    kills = advanced = during_import = 0
    store = Store(db)
    feeder = Feeder(db, lines)
    worker: Worker | None = None
    try:
        while kills < KILLS:
            feeder.allow((kills + 1) / (KILLS + 1))
            position = store.views.position()
            worker = Worker(db, tmp_path / f"killed-{kills:02d}.log")
            if rng.random() < 0.3:
                wait_until(lambda: (store.views.position() > position  # noqa: B023
                                    or bool(worker.named("worker_started"))  # noqa: B023
                                    or worker.proc.poll() is not None),  # noqa: B023
                           "the restarted worker's first catch-up")
            else:
                worker.wait_started()
                time.sleep(rng.uniform(0.0, 0.4))
            during_import += feeder.importing()
            assert worker.proc.poll() is None, worker.log.read_text(encoding="utf-8")
            worker.kill()
            kills += 1
            advanced += store.views.position() > position
        print(f"{kills} kills, {during_import} during the import, {advanced} after the "
              "killed worker had moved the views")
        # The rest of the file, with one worker left running to the end.
        worker = Worker(db, tmp_path / "last.log")
        worker.wait_started()
        assert feeder.finish()["applied"] == len(lines)
        wait_until(store.at_log_position, "the last worker to reach the log's position")
        assert worker.terminate() == 0
    finally:
        for proc in (feeder.proc, worker.proc if worker else None):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        store.close()
    assert kills >= KILLS
    assert during_import == kills
    assert advanced > 0  # killed workers had been applying events
    assert_views_equal_a_rebuild(db)
    # The reference: a fresh store built from the same file (views caught up at the end).
    killed, clean = Store(db), Store(str(tmp_path / "fresh.db"))
    try:
        with source.open("rb") as handle:
            clean.seed(list(handle))
        for day in (date(2025, 3, 31), date(2025, 9, 30), date(2026, 6, 30)):
            assert killed.views.report(day, catch_up=False) == clean.views.report(
                day, catch_up=False), day
        assert killed.views.duos(date(2026, 6, 30), catch_up=False) == clean.views.duos(
            date(2026, 6, 30), catch_up=False)
    finally:
        killed.close()
        clean.close()
