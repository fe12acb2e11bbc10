"""Rebuilding the views of a large SQLite log with worker interpreters (ADR 15).

A large log is rebuilt in passes, each folding one range of duos (see
``projections.reading.Pass``). The passes are independent, so on a machine with several
CPUs the calling process folds the first share of them and each worker interpreter
(``python -I -c``: no ``multiprocessing``, no fork of an embedding application) folds
another share, writing its rows into a scratch SQLite file of its own. The calling
process then copies those rows into the new tables inside its one rebuild transaction
(``INSERT … SELECT`` from the attached scratch file, at the database's own speed), so
readers still see either the old views or the new ones.

A worker that cannot start, fails or gives no count is not trusted: its passes are
folded again in the calling process, so the result never depends on the workers.
(A worker's main is :func:`projections.rebuild.worker_main`.)
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog

from lifecycle.adapters import interpreters
from projections import schema as s
from projections.writing import BULK_INSERT

log = structlog.get_logger(__name__)

DUO_TABLES: Final[tuple[s.Table, ...]] = tuple(
    t for t in s.VIEWS["duos"] if t is not s.REPORT_PACKS)
"""The tables a pass writes (programmes, sites and mentors come from the first pass;
the report's packs, from every pass's facts, once they are all written)."""


@dataclass(frozen=True)
class Job:
    """What one worker folds: the passes ``(low, high, first)`` of the log up to
    ``stop`` in the SQLite file ``store`` (events table ``events``), written to ``out``."""

    store: str
    events: str
    passes: list[tuple[str | None, str | None, bool]]
    stop: int
    batch_size: int
    out: str

    def as_json(self) -> str:
        return json.dumps({"store": self.store, "events": self.events,
                           "passes": self.passes, "stop": self.stop,
                           "batch_size": self.batch_size, "out": self.out})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(str(data["store"]), str(data["events"]),
                   [(low, high, bool(first)) for low, high, first in data["passes"]],
                   int(data["stop"]), int(data["batch_size"]), str(data["out"]))


@dataclass
class Worker:
    """A started worker and its job (``process`` None when it could not be started)."""

    job: Job
    process: subprocess.Popen[bytes] | None
    alias: str
    attached: bool = False

    def result(self) -> int | None:
        """The events the worker folded, once it has finished; None when it failed."""
        if self.process is None:
            return None
        found, failure = interpreters.answer(self.process)
        if failure is not None:
            log.warning("rebuild_worker_failed", error=failure)
        events = found.get("events") if isinstance(found, dict) else None
        return events if isinstance(events, int) else None

    def copy_into(self, cursor: Any) -> None:
        """Append every row of the worker's scratch file to the tables of ``cursor``'s
        database, inside its open transaction."""
        cursor.execute(f"ATTACH DATABASE ? AS {self.alias}", (self.job.out,))
        self.attached = True
        for table in DUO_TABLES:
            names = ", ".join(table.column_names)
            cursor.execute(f"{BULK_INSERT} main.{table.name} ({names}) "
                           f"SELECT {names} FROM {self.alias}.{table.name}")

    def stop(self) -> None:
        if self.process is not None:
            interpreters.stop(self.process)


def detach_all(conn: sqlite3.Connection, started: Sequence[Worker]) -> None:
    """Detach the workers' scratch files (after the rebuild's transaction ended)."""
    for worker in started:
        if worker.attached:
            try:
                conn.execute(f"DETACH DATABASE {worker.alias}")
            except sqlite3.Error as exc:  # never hide why the rebuild stopped
                log.warning("rebuild_scratch_not_detached", alias=worker.alias,
                            error=str(exc))
            worker.attached = False


WORKER_MAIN: Final = "projections.rebuild:worker_main"


@contextmanager
def workers(jobs: Sequence[Job]) -> Iterator[list[Worker]]:
    """Start one worker per job (given on its command line: paths and duo ids, no
    keys); kill the unfinished ones on leaving."""
    started: list[Worker] = []
    try:
        for job in jobs:
            process = interpreters.start(WORKER_MAIN, job.as_json())
            started.append(Worker(job, process, f"rebuild_part{len(started) + 1}"))
        yield started
    finally:
        for worker in started:
            worker.stop()


@contextmanager
def scratch_dir(near: str) -> Iterator[Path]:
    """A temporary folder for the workers' files, beside the store when it can be (its
    disk has room for the views), else in the system's temporary folder."""
    parent = Path(near).resolve().parent
    try:
        path = Path(tempfile.mkdtemp(prefix=".lifecycle-rebuild-", dir=parent))
    except OSError:
        path = Path(tempfile.mkdtemp(prefix="lifecycle-rebuild-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def scratch_ddl(table: s.Table) -> str:
    """A plain table with ``table``'s columns: rows are appended in the order they are
    written and read back in that order (no key to maintain)."""
    return f"CREATE TABLE {table.name} ({', '.join(table.column_names)})"
