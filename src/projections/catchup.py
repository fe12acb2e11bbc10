"""Catching the views up with the log, and their positions against it.

:func:`catch_up` reads the notifications the views have not processed, in batches,
folds them and upserts the changed rows; each batch's rows and the views' new position
are written in one transaction, so every event counts exactly once, also after a crash
or when two processes catch up at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projections import schema as s
from projections.dialect import Dialect
from projections.fold import (
    ProjectionError,
    evolve_stored,
    initial,
)
from projections.loading import prefetch
from projections.reading import BATCH_SIZE, Decoder, EventMapper, Progress, Recorder, bulk, read
from projections.rebuild import rebuild
from projections.writing import (
    changed_rows,
    common_position,
    ensure_schema,
    forget_derived_rows,
    read_tracking,
    refresh_packs,
    set_position,
    write,
)


# ---------------------------------------------------------------------- operations
def catch_up(recorder: Recorder, mapper: EventMapper, conn: Any, *,
             batch_size: int = BATCH_SIZE, progress: Progress | None = None) -> int:
    """Bring the views up to the log's current end; return how many events were applied.

    Creates the tables when missing. Views that are empty, of another schema version, or
    apart from each other are rebuilt instead (empty views of an empty log are left as
    they are). Each batch is one transaction (rows and position together); an error
    rolls the batch back and leaves the views at the previous batch's position, from
    where the next call resumes.

    Args:
        recorder: the store's application recorder.
        mapper: the store's mapper (decodes notifications).
        conn: a ``sqlite3`` or ``psycopg`` connection to the store's database, with no
            transaction open.
        batch_size: notifications per batch (and transaction).
        progress: called after each batch with (position, target position).
    """
    dialect = Dialect(conn)
    ensure_schema(conn)
    with dialect.transaction(write=False) as cursor:
        position = common_position(read_tracking(cursor, dialect))
    if position == 0 and not recorder.max_notification_id():
        return 0  # empty views of an empty log: nothing to write (an idle worker commits nothing)
    if not position:
        return rebuild(recorder, mapper, conn, batch_size=batch_size, progress=progress)
    with bulk():
        return _catch_up(recorder, Decoder(mapper), dialect, position, batch_size, progress)


def _catch_up(recorder: Recorder, decoder: Decoder, dialect: Dialect, position: int,
              batch_size: int, progress: Progress | None) -> int:
    stop = recorder.max_notification_id() or 0
    state, applied = initial(), 0
    while position < stop:
        batch = read(recorder, position, stop, batch_size)
        reached = batch[-1][0] if len(batch) == batch_size else stop
        events = [decoder(raw) for raw in batch]
        with dialect.transaction() as cursor:
            current = common_position(read_tracking(cursor, dialect, lock=True))
            if current != position:
                if current is None:
                    raise ProjectionError("the views were changed meanwhile: rebuild them")
                # Another process advanced the views: what we hold may be stale.
                state, position = initial(), current
                continue
            prefetch(cursor, dialect, state, events)
            for event in events:
                evolve_stored(state, *event)
            forget_derived_rows(cursor, dialect, state)
            rows = changed_rows(state)
            write(cursor, dialect, rows, upsert=True)
            refresh_packs(cursor, dialect, state, rows[s.DUO_FACTS.name])
            set_position(cursor, dialect, reached)
        state.changes.clear()
        position = reached
        applied += len(events)
        if progress is not None:
            progress(position, stop)
    return applied


@dataclass(frozen=True)
class ViewStatus:
    """One view's position against the log's.

    Attributes:
        name: the view.
        position: last notification id it processed (None: no tables yet).
        schema_version: version of its tables (None: no tables yet).
        log_position: the log's last notification id (0: empty log).
    """

    name: str
    position: int | None
    schema_version: int | None
    log_position: int

    @property
    def up_to_date(self) -> bool:
        return (self.position is not None and self.position >= self.log_position
                and self.schema_version == s.SCHEMA_VERSION)


def status(recorder: Recorder, conn: Any) -> list[ViewStatus]:
    """Each view's position against the log's last notification id."""
    dialect = Dialect(conn)
    top = recorder.max_notification_id() or 0
    with dialect.transaction(write=False) as cursor:
        tracking = (read_tracking(cursor, dialect) if dialect.table_exists(cursor, s.TRACKING.name)
                    else {})
    views = []
    for view in s.VIEWS:
        position, version = tracking.get(view, (None, None))
        views.append(ViewStatus(view, position, version, top))
    return views
