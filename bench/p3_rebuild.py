"""P3: rebuild of every projection from the P2 store's log (events/s), against raw
sqlite3 reading the same rows and decoding their JSON. P6: the peak memory of the
rebuild (target ≤ 300 MB): this process, which does nothing but the rebuild before it
is read, plus its worker interpreters (ADR 15), each counted at the largest peak any of
them reached, as if all had peaked at once."""

from __future__ import annotations

import resource
import sqlite3

import orjson
from common import result, timer
from p2_import import STORE


def ours() -> tuple[float, int, dict[str, float]]:
    from lifecycle.adapters.interpreters import available_processes
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle
    from projections.facade import Views

    target = resolve_target(str(STORE))
    engine = Lifecycle(target.env)
    views = Views(target, engine.app.recorder, engine.app.mapper)
    log_events = engine.app.recorder.max_notification_id() or 0
    with timer() as elapsed:
        views.rebuild()
    views.close()
    engine.shutdown()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    workers = available_processes() - 1 if worker else 0
    memory = {"peak_mb": own + workers * worker, "main_mb": round(own),
              "worker_mb": round(worker), "workers": workers}
    return log_events / elapsed(), log_events, memory


def raw_read_decode() -> float:
    conn = sqlite3.connect(STORE)
    count = 0
    with timer() as elapsed:
        cursor = conn.execute("SELECT originator_id, originator_version, topic, state "
                              "FROM stored_events ORDER BY rowid")
        while rows := cursor.fetchmany(5000):
            for row in rows:
                orjson.loads(row[3])
            count += len(rows)
    conn.close()
    return count / elapsed()


def main() -> None:
    # The baseline runs before and after ours (the machine's speed drifts): its rate is
    # that of both runs together. The first run also warms the file cache for ours.
    before = raw_read_decode()
    rate, events, memory = ours()
    after = raw_read_decode()
    baseline = 2 / (1 / before + 1 / after)
    result("P3", rate, "events/s", baseline=baseline, ratio=rate / baseline, target=0.5,
           events=events, baseline_runs=[round(before), round(after)])
    peak_mb = memory.pop("peak_mb")
    result("P6", peak_mb, "MB", target=300, events=events, **memory)


if __name__ == "__main__":
    main()
