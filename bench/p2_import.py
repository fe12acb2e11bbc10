"""P2: bulk import of a whole simulated pilot (``lifecycle import``), commands/s.

Baseline: the bare eventsourcing library applying the same kind of stream one
transaction per command (get + method + save), timed in the same process invocation on
a whole smaller pilot (BENCH_P2_BASELINE_DUOS duos, same seed and shape): the whole
file would take the bare library about an hour, and a prefix of the big file would be
unrepresentative (only registrations and young aggregates), while a whole small pilot
has the same mix of commands and the same history length per duo. The engine keeps
every command atomic and idempotent while it groups commands into shared transactions.
The baseline runs before and after the engine, as the machine's speed drifts.

``P2-sealed`` is the same import into a sealed store (ADR 34, what ``lifecycle import``
makes by default), right after the plain one and followed by a third baseline run: its
ratio is against the baseline runs either side of it (the plain import's after-run and
the third), its ``sealed_over_plain`` the two imports' rates. The sealed store is kept
as ``pilot-sealed.db`` for P13.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from baseline import run_bare
from common import DATA, env_int, fresh_db, pilot, result, sealed_engine, timer

STORE = DATA / "pilot.db"
"""The imported store, reused by P3, P4 and P6."""
SEALED_STORE = DATA / "pilot-sealed.db"
"""The same pilot imported into a sealed store, reused by P13."""


def ours(path: str, *, sealed: bool = False) -> tuple[float, int]:
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle
    from lifecycle.application.importer import Importer

    name = "p2-sealed.db" if sealed else "p2-ours.db"
    db = fresh_db(name)
    engine = sealed_engine(db) if sealed else Lifecycle(resolve_target(str(db)).env)
    with open(path, "rb") as handle, timer() as elapsed:
        outcome = Importer(engine).run(handle)
    engine.shutdown()
    if outcome.rejected:
        raise SystemExit(f"P2: {len(outcome.rejected)} rejected: {outcome.rejected[:3]}")
    kept = SEALED_STORE if sealed else STORE
    for suffix in ("", "-wal", "-shm"):
        source = DATA / f"{name}{suffix}"
        Path(f"{kept}{suffix}").unlink(missing_ok=True)
        if source.exists():
            shutil.move(source, f"{kept}{suffix}")
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
    if not env_int("BENCH_P2_SEALED", 1):
        return
    sealed_rate, sealed_applied = ours(str(path), sealed=True)
    last = bare(sample)
    sealed_bare = 2 / (1 / after + 1 / last)
    result("P2-sealed", sealed_rate, "commands/s", baseline=sealed_bare,
           ratio=sealed_rate / sealed_bare, target=15, commands=sealed_applied, duos=duos,
           baseline_runs=[round(after, 1), round(last, 1)],
           sealed_over_plain=round(sealed_rate / ours_rate, 3))


if __name__ == "__main__":
    main()
