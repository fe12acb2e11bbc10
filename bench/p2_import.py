"""P2: bulk import of a whole simulated pilot (``lifecycle import``), commands/s.

Baseline: the bare eventsourcing library applying the same kind of stream one
transaction per command (get + method + save), timed in the same process invocation on
a whole smaller pilot (BENCH_P2_BASELINE_DUOS duos, same seed and shape): the whole
file would take the bare library about an hour, and a prefix of the big file would be
unrepresentative (only registrations and young aggregates), while a whole small pilot
has the same mix of commands and the same history length per duo. The engine keeps
every command atomic and idempotent while it groups commands into shared transactions.
The baseline runs before and after the engine, as the machine's speed drifts.
"""

from __future__ import annotations

import shutil

from baseline import run_bare
from common import DATA, env_int, fresh_db, pilot, result, timer

STORE = DATA / "pilot.db"
"""The imported store, reused by P3, P4 and P6."""


def ours(path: str) -> tuple[float, int]:
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle
    from lifecycle.application.importer import Importer

    db = fresh_db("p2-ours.db")
    engine = Lifecycle(resolve_target(str(db)).env)
    with open(path, "rb") as handle, timer() as elapsed:
        outcome = Importer(engine).run(handle)
    engine.shutdown()
    if outcome.rejected:
        raise SystemExit(f"P2: {len(outcome.rejected)} rejected: {outcome.rejected[:3]}")
    for suffix in ("", "-wal", "-shm"):
        source = DATA / f"p2-ours.db{suffix}"
        if source.exists():
            shutil.copyfile(source, f"{STORE}{suffix}")
    return outcome.applied / elapsed(), outcome.applied


def bare(lines: list[bytes]) -> float:
    db = fresh_db("p2-bare.db")
    with timer() as elapsed:
        run_bare(db, lines)
    return len(lines) / elapsed()


def main() -> None:
    duos = env_int("BENCH_DUOS", 20000)
    path = pilot(duos)
    sample = pilot(env_int("BENCH_P2_BASELINE_DUOS", 200)).read_bytes().splitlines()
    # The baseline runs before and after ours (the machine's speed drifts over minutes):
    # its rate is that of both runs together.
    before = bare(sample)
    ours_rate, applied = ours(str(path))
    after = bare(sample)
    bare_rate = 2 / (1 / before + 1 / after)
    result("P2", ours_rate, "commands/s", baseline=bare_rate, ratio=ours_rate / bare_rate,
           target=15, commands=applied, duos=duos, baseline_runs=[round(before, 1),
                                                                   round(after, 1)])


if __name__ == "__main__":
    main()
