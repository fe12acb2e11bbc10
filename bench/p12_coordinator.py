"""P12: the coordinator's queries at 100,000 duos from the materialised views (ms).

The store is P5's (the P2 store five times over, every identifier renamed per copy),
built here the same way. Figures, each the median of seven runs on one connection, as a
user meets them on a settled store:

- ``P12-attention``: ``attention`` over the whole store as of the end of the pilot's year
  (every open duo checked for its six reasons);
- ``P12-attention-mid``: the same as of a day in the middle of the pilot, when most duos
  are open and many contact counts must be taken as they stood then;
- ``P12-suggest``: ``suggest`` for a duo on the day it was selected (twenty duos, the
  median of their medians).

Target: each under 100 ms (an upper limit, like P6's). There is no baseline to take
turns with: the figure is an absolute response time.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import date

from common import DATA, env_int, result
from p5_report import _settled_views, build_store
from p10_html import ensure_store

END = date(2025, 12, 31)
MIDDLE = date(2025, 7, 31)
RUNS = 7


def median_ms(run: Callable[[], object]) -> tuple[float, float]:
    """Median and best of :data:`RUNS` runs, in milliseconds."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, min(times) * 1000


def main() -> None:
    from projections.coordinator import attention, suggest

    ensure_store()
    _settled_views()
    path = build_store(env_int("BENCH_P5_COPIES", 5))
    conn = sqlite3.connect(path)
    try:
        duos = conn.execute("SELECT count(*) FROM proj_duos").fetchone()[0]
        for id_, day in (("P12-attention", END), ("P12-attention-mid", MIDDLE)):
            found = attention(conn, day)
            if not found:
                raise SystemExit(f"{id_}: no duo needs attention on {day}: not a test")
            value, best = median_ms(lambda day=day: attention(conn, day))  # type: ignore[misc]
            result(id_, value, "ms", target=100, duos=duos, listed=len(found),
                   as_of=day.isoformat(), best_ms=round(best, 1))
        selected = conn.execute(
            "SELECT duo_id, selected_on FROM proj_duos WHERE selected_on IS NOT NULL "
            "AND (matched_on IS NULL OR matched_on > selected_on) "
            "AND (closed_on IS NULL OR closed_on > selected_on) "
            "ORDER BY duo_id LIMIT 20").fetchall()
        conn.commit()
        medians, listed = [], []
        for duo_id, on in selected:
            day = date.fromisoformat(on)
            listed.append(len(suggest(conn, duo_id, day)))
            medians.append(median_ms(
                lambda duo_id=duo_id, day=day: suggest(conn, duo_id, day))[0])  # type: ignore[misc]
        result("P12-suggest", statistics.median(medians), "ms", target=100, duos=duos,
               duos_asked=len(selected), mentors_listed=round(statistics.mean(listed), 1),
               worst_ms=round(max(medians), 1))
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            (DATA / f"p5.db{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
