"""Comparing the stored views with a rebuild in memory (``lifecycle audit
projections``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from projections import schema as s
from projections.dialect import Dialect
from projections.fold import (
    initial,
)
from projections.loading import select
from projections.reading import BATCH_SIZE, Decoder, EventMapper, Recorder, bulk, fold_log
from projections.writing import all_rows, read_tracking


@dataclass(frozen=True)
class RowDifference:
    """A row that differs between the stored views and a rebuild.

    Attributes:
        table: the table.
        key: the row's primary key.
        stored: the stored row (None: missing).
        expected: the rebuilt row (None: should not exist).
    """

    table: str
    key: tuple[Any, ...]
    stored: tuple[Any, ...] | None
    expected: tuple[Any, ...] | None


def _keyed(table: s.Table, rows: Iterable[Sequence[Any]]) -> dict[tuple[Any, ...], s.Row]:
    at = table.key_positions
    keyed = {}
    for row in rows:
        clean = tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
        keyed[tuple(clean[i] for i in at)] = clean
    return keyed


def compare_with_rebuild(recorder: Recorder, mapper: EventMapper, conn: Any, *,
                         batch_size: int = BATCH_SIZE) -> list[RowDifference]:
    """Rebuild the views in memory and list every stored row that differs.

    Each view is rebuilt up to its own stored position, so a view that is merely behind
    the log is not a difference (:func:`status` tells that); a view whose tables are of
    another schema version shows as a difference of its tracking row.
    """
    with bulk():
        return _compare(recorder, mapper, conn, batch_size)


def _compare(recorder: Recorder, mapper: EventMapper, conn: Any,
             batch_size: int) -> list[RowDifference]:
    dialect = Dialect(conn)
    stored: dict[str, dict[tuple[Any, ...], s.Row]] = {}
    with dialect.transaction(write=False) as cursor:
        tracked = dialect.table_exists(cursor, s.TRACKING.name)
        tracking = read_tracking(cursor, dialect) if tracked else {}
        for table in s.ALL_TABLES:
            rows = (select(cursor, dialect, table)
                    if dialect.table_exists(cursor, table.name) else [])
            stored[table.name] = _keyed(table, rows)
    # Without any views there is nothing stored to differ (status() tells they are missing).
    expected: dict[str, dict[tuple[Any, ...], s.Row]] = {
        s.TRACKING.name: {(v,): (v, tracking.get(v, (0, 0))[0], s.SCHEMA_VERSION)
                          for v in s.VIEWS} if tracked else {}}
    by_position: dict[int, list[str]] = {}
    for view in s.VIEWS:
        by_position.setdefault(tracking.get(view, (0, 0))[0], []).append(view)
    decoder, state, reached = Decoder(mapper, preload=True), initial(), 0
    for position in sorted(by_position):
        fold_log(recorder, decoder, state, reached, position, batch_size, None)
        reached = max(reached, position)
        for name, rows in all_rows(state, by_position[position]).items():
            table = next(t for t in s.ALL_TABLES if t.name == name)
            expected[name] = _keyed(table, rows)
    differences = []
    for table in s.ALL_TABLES:
        have, want = stored[table.name], expected.get(table.name, {})
        for key in sorted(have.keys() | want.keys(), key=repr):
            if have.get(key) != want.get(key):
                differences.append(RowDifference(table.name, key, have.get(key),
                                                 want.get(key)))
    return differences
