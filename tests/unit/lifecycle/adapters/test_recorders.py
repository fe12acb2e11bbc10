"""The SQLite recorder's hash chain (``lifecycle.adapters.recorders``) as it inserts:
each save's positions, and the chain's head remembered from the recorder's own last
commit, used only when its next insert directly follows it. And the recorder topics an
environment may name, the current and the former ones."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.sqlite import SQLiteDatastore

from lifecycle.adapters.chain import GENESIS, link
from lifecycle.adapters.recorders import (
    CHAIN_TABLE,
    ChainedPostgresApplicationRecorder,
    ChainedRecorder,
    ChainedSQLiteApplicationRecorder,
)
from lifecycle.adapters.store import POSTGRES_RECORDER, SQLITE_RECORDER, resolve_target
from lifecycle.application import Lifecycle

Opener = Callable[[], ChainedSQLiteApplicationRecorder]


@pytest.fixture
def open_recorder(tmp_path: Path) -> Iterator[Opener]:
    """Recorders on one SQLite file, each with its own connections (as processes)."""
    datastores: list[SQLiteDatastore] = []

    def make() -> ChainedSQLiteApplicationRecorder:
        datastore = SQLiteDatastore(db_name=str(tmp_path / "store.db"), lock_timeout=5,
                                    originator_id_type="text")
        datastores.append(datastore)
        recorder = ChainedSQLiteApplicationRecorder(datastore)
        recorder.create_table()
        return recorder

    yield make
    for datastore in datastores:
        datastore.close()


def events(originator: str, first: int, count: int) -> list[StoredEvent]:
    return [StoredEvent(originator, v, "topic", f'{{"v":{v}}}'.encode())
            for v in range(first, first + count)]


def stored(path: Path) -> tuple[list[tuple[int, str, int, str, bytes]], list[tuple[int, bytes]]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT rowid, originator_id, originator_version, topic, state "
                            "FROM stored_events ORDER BY rowid").fetchall()
        links = conn.execute(f"SELECT position, link FROM {CHAIN_TABLE} "
                             "ORDER BY position").fetchall()
    return rows, links


def expected_links(rows: list[tuple[int, str, int, str, bytes]]) -> list[tuple[int, bytes]]:
    previous, out = GENESIS, []
    for position, originator, version, topic, state in rows:
        previous = link(previous, position, originator, version, topic, state)
        out.append((position, previous))
    return out


@pytest.mark.parametrize("sizes", [[1, 2, 1], [16, 17, 3, 40]])
def test_saves_of_any_size_get_their_positions_and_one_chain(
        open_recorder: Opener, tmp_path: Path, sizes: list[int]) -> None:
    recorder = open_recorder()
    given: list[int] = []
    for n, size in enumerate(sizes):
        given.extend(recorder.insert_events(events(f"duo:D-{n}", 1, size)))
    rows, links = stored(tmp_path / "store.db")
    assert given == [row[0] for row in rows] == list(range(1, sum(sizes) + 1))
    assert links == expected_links(rows)


def test_writers_taking_turns_extend_one_chain(open_recorder: Opener, tmp_path: Path) -> None:
    first, second = open_recorder(), open_recorder()
    for n in range(6):
        (first if n % 3 else second).insert_events(events(f"duo:D-{n}", 1, 1 + n % 2))
    rows, links = stored(tmp_path / "store.db")
    assert links == expected_links(rows)


def test_a_rejected_insert_leaves_the_remembered_head_as_it_was(
        open_recorder: Opener, tmp_path: Path) -> None:
    recorder = open_recorder()
    recorder.insert_events(events("duo:D-1", 1, 2))
    with pytest.raises(IntegrityError):  # rows 3 and 4 were taken, then rolled back
        recorder.insert_events(events("duo:D-2", 1, 1) + events("duo:D-1", 2, 1))
    recorder.insert_events(events("duo:D-3", 1, 1))
    rows, links = stored(tmp_path / "store.db")
    assert [row[0] for row in rows] == [1, 2, 3]
    assert links == expected_links(rows)


def test_the_head_is_read_from_the_store_unless_the_recorder_wrote_it_last(
        open_recorder: Opener, tmp_path: Path) -> None:
    """Shown by overwriting the head's stored link: only a recorder that did not write
    it last reads (and chains onto) the overwritten value."""
    path = tmp_path / "store.db"
    writer, other = open_recorder(), open_recorder()
    writer.insert_events(events("duo:D-1", 1, 1))
    genuine = stored(path)[1][-1][1]
    forged = bytes(32)
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {CHAIN_TABLE} SET link = ? WHERE position = 1", (forged,))
    writer.insert_events(events("duo:D-2", 1, 1))  # remembers the genuine link
    other.insert_events(events("duo:D-3", 1, 1))  # has nothing to remember: reads it
    rows, links = stored(path)
    assert links[1][1] == link(genuine, 2, *rows[1][1:])
    assert links[2][1] == link(links[1][1], 3, *rows[2][1:])
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {CHAIN_TABLE} SET link = ? WHERE position = 3", (forged,))
    writer.insert_events(events("duo:D-4", 1, 1))  # another wrote last: reads it
    rows, links = stored(path)
    assert links[3][1] == link(forged, 4, *rows[3][1:])


@pytest.mark.parametrize("topic", [
    SQLITE_RECORDER,
    "lifecycle.recorders:ChainedSQLiteApplicationRecorder",  # before the layers had folders
])
def test_an_environment_selects_the_chained_recorder_by_its_current_or_former_topic(
        tmp_path: Path, topic: str) -> None:
    env = dict(resolve_target(str(tmp_path / "store.db")).env,
               APPLICATION_RECORDER_TOPIC=topic)
    with Lifecycle(env) as engine:
        assert type(engine.app.recorder) is ChainedSQLiteApplicationRecorder


def test_the_topics_name_the_recorders_of_each_backend() -> None:
    from eventsourcing.utils import resolve_topic

    assert resolve_topic(SQLITE_RECORDER) is ChainedSQLiteApplicationRecorder
    assert resolve_topic(POSTGRES_RECORDER) is ChainedPostgresApplicationRecorder
    assert resolve_topic("lifecycle.recorders:ChainedPostgresApplicationRecorder") is (
        ChainedPostgresApplicationRecorder)
    assert issubclass(ChainedPostgresApplicationRecorder, ChainedRecorder)
    assert issubclass(ChainedSQLiteApplicationRecorder, ChainedRecorder)
