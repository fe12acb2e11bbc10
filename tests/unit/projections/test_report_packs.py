"""The report packs (``proj_report_packs``): each programme's duos of a month of
recruitment, their packed facts and entries joined, kept equal to ``proj_duo_facts``."""

from __future__ import annotations

import sqlite3

from projection_builders import Log, MemoryRecorder, d

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from projections import catchup, compare, loading
from projections.fold import fold
from projections.report import build_report
from projections.writing import pack_rows

MAPPER = PydanticMapper(transcoder=OrjsonTranscoder())


def packs(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    return conn.execute("SELECT programme_id, month, duos FROM proj_report_packs "
                        "ORDER BY programme_id, month").fetchall()


def test_a_pack_joins_a_programme_months_duos_in_the_order_of_their_ids() -> None:
    members = [
        ("P-2", "2025-01-31", "b", b"B", b""),
        ("P-1", "2025-02-01", "z", b"Z", b"zz"),
        ("P-1", "2025-01-09", "b", b"B", None),
        ("P-1", "2025-01-02", "a", b"A", b"aa"),
        ("P-1", None, "c", b"C", b"cc"),  # not recruited: in no pack
        ("P-1", "2025-01-31", "B", b"-", memoryview(b"bb")),
    ]
    assert pack_rows(members) == [
        # "B" sorts before "a" and "b" (code points), whatever the database's collation.
        ("P-1", "2025-01", 3, b"-AB", b"bbaa"),
        ("P-1", "2025-02", 1, b"Z", b"zz"),
        ("P-2", "2025-01", 1, b"B", b""),
    ]
    assert pack_rows([]) == []


def test_catch_up_keeps_each_month_s_pack_and_moves_a_corrected_recruitment(
        conn: sqlite3.Connection) -> None:
    # Day 0 is 2025-01-01: A in January, B and C in February, D of another programme.
    log = Log().world("P-1", "S-1", "M-1").world("P-2", "S-2", "M-2", country="GR")
    log.duo("A", 10, 11, 12, 13).contact("A", "K-1", 14).review("A", 20)
    log.duo("B", 40, 41, 42, 43).duo("C", 45, 46)
    log.duo("D", 50, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    recorder = MemoryRecorder()
    recorder.append(log.events)
    catchup.catch_up(recorder, MAPPER, conn)  # a rebuild: its packs come at its end
    assert packs(conn) == [("P-1", "2025-01", 1), ("P-1", "2025-02", 2),
                           ("P-2", "2025-02", 1)]
    # B's recruitment corrected back to January: its February pack is written again.
    start = len(log.events)
    log.correct("B", 70, "recruited_on", 5, 40).contact("C", "K-1", 71)
    recorder.append(log.events[start:])
    catchup.catch_up(recorder, MAPPER, conn, batch_size=1)
    assert packs(conn) == [("P-1", "2025-01", 2), ("P-1", "2025-02", 1),
                           ("P-2", "2025-02", 1)]
    # C's recruitment corrected into March: the February pack is gone, not left empty.
    start = len(log.events)
    log.correct("C", 72, "recruited_on", 59, 45)
    recorder.append(log.events[start:])
    catchup.catch_up(recorder, MAPPER, conn)
    assert packs(conn) == [("P-1", "2025-01", 2), ("P-1", "2025-03", 1),
                           ("P-2", "2025-02", 1)]
    assert compare.compare_with_rebuild(recorder, MAPPER, conn) == []
    model = fold(log.events)
    for day in (5, 31, 40, 58, 59, 60, 90):
        assert loading.report_from_db(conn, d(day)) == build_report(model, d(day))


def test_a_pack_altered_in_the_store_is_a_difference(conn: sqlite3.Connection) -> None:
    log = Log().world().duo("A", 10, 11)
    recorder = MemoryRecorder()
    recorder.append(log.events)
    catchup.catch_up(recorder, MAPPER, conn)
    conn.execute("UPDATE proj_report_packs SET duos = 2")
    conn.commit()
    found = compare.compare_with_rebuild(recorder, MAPPER, conn)
    assert [(f.table, f.key) for f in found] == [("proj_report_packs", ("P-1", "2025-01"))]
