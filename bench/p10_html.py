"""P10: ``lifecycle report --html`` at 20,000 duos, end to end (s).

The installed command is run as a user would (a new process: start-up, imports,
reading the views, drawing every figure, writing the file), three times; the figure is
the median. Baseline: ``report --json`` of the same store in the same way, so the ratio
says what the page costs on top of the report. Target: under 3 s.

The store is the P2 store (``bench/data/pilot.db``, 20,000 duos), imported here when P2
has not run.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import DATA, env_int, pilot, result
from p2_import import STORE

AS_OF = "2025-12-31"
LIFECYCLE = Path(sys.executable).parent / "lifecycle"


def ensure_store() -> None:
    if STORE.exists():
        return
    from lifecycle.application.importer import Importer
    from lifecycle.bootstrap import open_engine, open_views

    DATA.mkdir(exist_ok=True)
    engine = open_engine(str(STORE))
    with pilot(env_int("BENCH_DUOS", 20000)).open("rb") as handle:
        outcome = Importer(engine).run(handle)
    if outcome.rejected:
        raise SystemExit(f"P10: {len(outcome.rejected)} rejected: {outcome.rejected[:3]}")
    views = open_views(engine, str(STORE))
    views.catch_up()
    views.close()
    engine.shutdown()


CPU: list[float] = []
"""CPU seconds (user + system) of each ``--html`` run: what a loaded machine does not
inflate as much as the wall clock."""


def timed(*args: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([str(LIFECYCLE), "--db", str(STORE), "report", "--as-of", AS_OF, *args],
                   check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if "--html" in args:
        CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed


def main() -> None:
    ensure_store()
    out = DATA / "p10-report.html"
    timed("--json")  # the views are settled and the files in the page cache
    html, json_ = [], []
    for _ in range(3):  # turn-taking, as the machine's speed drifts (ADR 13)
        json_.append(timed("--json"))
        html.append(timed("--html", str(out)))
    value, baseline = statistics.median(html), statistics.median(json_)
    import sqlite3

    conn = sqlite3.connect(STORE)
    duos = conn.execute("SELECT count(*) FROM proj_duos").fetchone()[0]
    conn.close()
    result("P10", value, "s", baseline=baseline, ratio=value / baseline, target=3.0,
           duos=duos, best_s=round(min(html), 2), cpu_s=round(statistics.median(CPU), 2),
           page_kb=round(out.stat().st_size / 1024))
    out.unlink()


if __name__ == "__main__":
    main()
