"""Rebuilding the views from the whole log: every table replaced in one transaction.

A large SQLite log is folded in passes, shared out between this process and worker
interpreters (:mod:`projections.split`, ADR 15).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from typing import Any, Final

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from lifecycle.adapters.interpreters import available_processes, can_start_workers
from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from projections import reading, split
from projections import schema as s
from projections.dialect import Dialect
from projections.fold import (
    initial,
)
from projections.reading import (
    BATCH_SIZE,
    Decoder,
    EventMapper,
    Pass,
    Progress,
    Recorder,
    bulk,
    fold_log,
    plan_shares,
    sqlite_file,
)
from projections.views import ReadModel
from projections.writing import (
    create,
    index_ddl,
    insert_all,
    insert_duo_rows,
    set_position,
    view_rows,
    write_packs,
)

CALLER_SHARE: Final = 0.8
"""The events the calling process folds in a split rebuild, against each worker's (its
share's other work, the old tables' drop and the indexed inserts, balances a worker's
start and its scratch file; measured on the benchmark's store, ADR 44)."""


def rebuild(recorder: Recorder, mapper: EventMapper, conn: Any, *,
            batch_size: int = BATCH_SIZE, progress: Progress | None = None,
            processes: int | None = None) -> int:
    """Drop the views and build them again from the whole log; return the events applied.

    The log is read in batches, in one pass or, when it is large, in several passes
    over ranges of duos (see :class:`Pass`), so a rebuild holds the records of one
    range at a time. On SQLite, the passes of a large log are shared out between this
    process and worker interpreters (``processes`` in all; default one per available
    CPU, at most four; 1 keeps it in this process; ADR 15). The new tables replace the
    old ones in one transaction, so readers see either the old views or the new ones;
    it is opened once the first pass is folded (with several passes, it stays open
    while the others are).
    """
    dialect = Dialect(conn)
    stop = recorder.max_notification_id() or 0
    decoder = Decoder(mapper, preload=True)
    store = sqlite_file(recorder) if decoder.plain and not dialect.is_postgres else None
    wanted = available_processes() if processes is None else max(1, processes)
    if wanted < 2 or store is None or not can_start_workers():
        wanted = 1
    # With workers, passes a share of the usual size: all processes together hold
    # about what one would. Each process gets about as many events, this one somewhat
    # fewer: it also drops the old tables and writes into indexed ones (ADR 44).
    own, *others = plan_shares(recorder, stop, wanted, reading.PASS_EVENTS // wanted,
                               first=CALLER_SHARE)
    passes = [p for share in (own, *others) for p in share]

    def fold(scope: Pass) -> tuple[ReadModel, int]:
        state = initial()
        i = passes.index(scope)
        report = None if progress is None else (
            lambda at, top: progress((i * top + at) // len(passes), top))
        return state, fold_log(recorder, decoder, state, 0, stop, batch_size, report,
                                scope)

    def fold_and_insert(cursor: Any, share: Iterable[Pass]) -> int:
        count = 0
        for scope in share:
            state, folded = fold(scope)
            insert_duo_rows(cursor, dialect, state)
            count += folded
        return count

    with ExitStack() as stack:
        stack.enter_context(bulk())
        jobs = []
        if others and store is not None:
            tmp = stack.enter_context(split.scratch_dir(store))
            jobs = [split.Job(store, recorder.events_table_name,  # type: ignore[attr-defined]
                              [scope.as_tuple() for scope in share], stop, batch_size,
                              str(tmp / f"part-{n}.db"))
                    for n, share in enumerate(others, 1)]
        started = stack.enter_context(split.workers(jobs))
        stack.callback(split.detach_all, conn, started)
        state, count = fold(own[0])
        with dialect.transaction() as cursor:
            for table in reversed(s.ALL_TABLES):
                cursor.execute(f"DROP TABLE IF EXISTS {table.name}")
            create(cursor, dialect, indexes=False)
            for table, rows in view_rows(state, s.VIEWS, release=True):
                insert_all(cursor, dialect, table, rows)
            del state  # its records are written: make room for the next range's
            count += fold_and_insert(cursor, own[1:])
            for worker, share in zip(started, others, strict=True):
                folded = worker.result()
                if folded is None:  # not trusted: its passes are folded here
                    count += fold_and_insert(cursor, share)
                else:
                    worker.copy_into(cursor)
                    count += folded
            for table in s.ALL_TABLES:
                for statement in index_ddl(table):
                    cursor.execute(statement)
            write_packs(cursor, dialect)
            set_position(cursor, dialect, stop)
    if progress is not None:
        progress(stop, stop)
    return count


def fold_passes_into(recorder: Recorder, mapper: EventMapper, conn: sqlite3.Connection,
                     passes: Sequence[tuple[str | None, str | None, bool]], stop: int,
                     batch_size: int) -> int:
    """A rebuild worker's part (``projections.split``): fold each pass ``(low, high,
    first)`` of the log up to ``stop`` and append its duos' rows to ``conn``'s tables
    of the same names; return the events folded."""
    decoder, dialect, cursor = Decoder(mapper), Dialect(conn), conn.cursor()
    count = 0
    with bulk():
        for low, high, first in passes:
            state = initial()
            count += fold_log(recorder, decoder, state, 0, stop, batch_size, None,
                               Pass(low, high, first))
            insert_duo_rows(cursor, dialect, state)
            del state
    return count


def worker_main(argument: str) -> None:
    """A worker's main (:data:`projections.split.WORKER_MAIN`): fold the job (a JSON
    :class:`~projections.split.Job`), write its rows to the job's scratch file, print
    ``{"events": N}``."""
    job = split.Job.from_json(json.loads(argument))
    datastore = SQLiteDatastore(job.store, originator_id_type="text")
    recorder = SQLiteApplicationRecorder(datastore, events_table_name=job.events)
    out = sqlite3.connect(job.out, isolation_level=None)
    try:
        # A scratch file: if this process dies, the parent folds its passes itself.
        out.execute("PRAGMA journal_mode = OFF")
        out.execute("PRAGMA synchronous = OFF")
        out.execute("BEGIN")
        for table in split.DUO_TABLES:
            out.execute(split.scratch_ddl(table))
        events = fold_passes_into(recorder, PydanticMapper(transcoder=OrjsonTranscoder()),
                                  out, job.passes, job.stop, job.batch_size)
        out.execute("COMMIT")
    finally:
        out.close()
        datastore.close()
    sys.stdout.write(json.dumps({"events": events}))
