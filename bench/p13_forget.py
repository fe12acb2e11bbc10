"""P13: ``forget`` of one person on a sealed store, seconds, split into its parts.

A ``forget`` (ADR 35) is: finding the person's duos (one indexed read of
``lifecycle_person_streams``) and writing their ``Erased`` events in one transaction;
shredding the person's data key (a delete in the key table and a
``wal_checkpoint(TRUNCATE)``); and the views' catch-up that folds the erasure (and
checkpoints with ``TRUNCATE`` again). Each is timed, for several mentees and several
mentors (each forgotten once; the figures are their medians).

Issue 13's target is at 100,000 duos: under 1 s plus the time of one checkpoint. A
sealed store of 100,000 duos can only be made by importing (its tokens, keys and keyed
stream ids cannot be copied with renamed ids as P5's store is), which takes about
12 minutes here; so P13 measures at two sizes a tenfold apart instead — the 2,000-duo
pilot imported here, and the 20,000-duo P2-sealed store (copied; imported here when P2
did not leave it) — and reports the figure at 20,000 with ``growth``, its ratio to the
figure at 2,000. Every part is an indexed read or write, or a checkpoint of the pages
one transaction wrote, so none should grow with the store; ``growth`` shows whether it
does.

The baseline, "one checkpoint", is measured on the same store between the forgets: a
command written the same way (a mentor's registration: events, a key and the chain in
one transaction), then one plain ``PRAGMA wal_checkpoint(TRUNCATE)`` on a connection of
its own.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from common import DATA, env_int, fresh_db, pilot, result, sealed_engine, timer
from p2_import import SEALED_STORE

WHEN = date(2026, 1, 5)
"""The date the benchmark's commands occur on (after every pilot's last event)."""
PARTS = ("find_write_s", "shred_key_s", "shred_checkpoint_s", "views_s",
         "views_checkpoint_s")


def people(path: Path, count: int) -> tuple[list[str], list[str]]:
    """``count`` mentees and ``count`` mentors of the pilot with at least one duo,
    spread over the file."""
    mentees: list[str] = []
    mentors: dict[str, None] = {}
    with path.open("rb") as handle:
        for line in handle:
            if b'"recruit"' in line:
                mentees.append(orjson.loads(line)["mentee_id"])
            elif b'"match"' in line:
                mentors[orjson.loads(line)["mentor_id"]] = None
    chosen = list(mentors)

    def spread(ids: list[str]) -> list[str]:
        return [ids[(2 * i + 1) * len(ids) // (2 * count)] for i in range(count)]

    return spread(list(dict.fromkeys(mentees))), spread(chosen)


def prepare(db: Path, source: Path | None, pilot_path: Path) -> tuple[Any, Any]:
    """An engine and settled views on a sealed store at ``db``: a copy of ``source``,
    or the pilot imported when there is none."""
    from lifecycle.application.importer import Importer
    from lifecycle.bootstrap import open_views

    fresh_db(db.name)
    if source is not None and source.exists():
        for suffix in ("", "-wal"):
            if Path(f"{source}{suffix}").exists():
                shutil.copyfile(f"{source}{suffix}", f"{db}{suffix}")
        engine = sealed_engine(db)
    else:
        engine = sealed_engine(db)
        with pilot_path.open("rb") as handle:
            outcome = Importer(engine).run(handle)
        if outcome.rejected:
            raise SystemExit(f"P13: {len(outcome.rejected)} rejected")
    views = open_views(engine, str(db))
    views.rebuild()
    views.catch_up()
    views.scrub()
    # A settled store, as a user's would be: the copy and the rebuild on disk, so that
    # the first checkpoint's flush does not carry them.
    with db.open("rb") as handle:
        os.fsync(handle.fileno())
    return engine, views


def timed(spent: dict[str, float], name: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call``, adding the seconds each call takes to ``spent[name]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started
    return wrapper


def forget(engine: Any, views: Any, person: str, number: int) -> dict[str, float]:
    """Forget ``person`` and catch the views up; the seconds of each part."""
    from lifecycle.application.commands import Forget
    from lifecycle.application.engine import Outcome

    spent: dict[str, float] = {}
    sealing = engine.sealing
    ring = sealing._ring  # the key table, to time its checkpoint apart from the delete
    # Timed wrappers on these instances only, removed afterwards.
    sealing.shred = timed(spent, "shred", sealing.shred)
    ring.scrub = timed(spent, "shred_checkpoint_s", ring.scrub)
    views.scrub = timed(spent, "views_checkpoint_s", views.scrub)
    try:
        command = Forget(person_id=person, occurred_on=WHEN,
                         command_id=f"bench-forget-{number}")
        with timer() as elapsed:
            outcome = engine.forget(command)
        spent["execute"] = elapsed()
        with timer() as elapsed:
            views.catch_up()
        spent["views_s"] = elapsed()
    finally:
        del sealing.shred, ring.scrub, views.scrub
    if outcome is not Outcome.APPLIED or not engine.last_shred.scrubbed:
        raise SystemExit(f"P13: forget {outcome}, scrubbed {engine.last_shred.scrubbed}")
    parts = {"find_write_s": spent["execute"] - spent["shred"],
             "shred_key_s": spent["shred"] - spent["shred_checkpoint_s"],
             "shred_checkpoint_s": spent["shred_checkpoint_s"],
             "views_s": spent["views_s"] - spent["views_checkpoint_s"],
             "views_checkpoint_s": spent["views_checkpoint_s"]}
    parts["total_s"] = spent["execute"] + spent["views_s"]
    return parts


def checkpoint(engine: Any, views: Any, db: Path, number: int) -> float:
    """Seconds of one plain ``wal_checkpoint(TRUNCATE)`` after a one-command write."""
    from lifecycle.application.commands import RegisterMentor

    engine.register_mentor(RegisterMentor(
        mentor_id=f"dk.site-01:bench-mentor-{number}", programme_id="DK-2025",
        site_id="dk.site-01", department="wing-A", shifts=("early",), years_experience=3,
        occurred_on=WHEN, command_id=f"bench-register-{number}"))
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # schema read, untimed
    with timer() as elapsed:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    conn.close()
    if busy:
        raise SystemExit("P13: the baseline checkpoint could not complete")
    views.catch_up()  # the views fold the registration before the next forget
    views.scrub()
    return elapsed()


def measure(db: Path, source: Path | None, duos: int, count: int) -> dict[str, Any]:
    """The medians, over ``count`` mentees and ``count`` mentors, of each part."""
    path = pilot(duos)
    engine, views = prepare(db, source, path)
    mentees, mentors = people(path, count)
    runs: dict[str, list[dict[str, float]]] = {"mentee": [], "mentor": []}
    checkpoints = []
    number = 0
    for mentee, mentor in zip(mentees, mentors, strict=True):
        for role, person in (("mentee", mentee), ("mentor", mentor)):
            number += 1
            runs[role].append(forget(engine, views, person, number))
            checkpoints.append(checkpoint(engine, views, db, number))
    views.close()
    engine.shutdown()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    found: dict[str, Any] = {"checkpoint_s": statistics.median(checkpoints)}
    for role, measured in runs.items():
        found[role] = {part: statistics.median(run[part] for run in measured)
                       for part in (*PARTS, "total_s")}
        print(f"{duos} duos, {role}: " + ", ".join(
            f"{part} {value * 1000:.1f} ms" for part, value in found[role].items()),
              flush=True)
    print(f"{duos} duos, checkpoints (ms): "
          + " ".join(f"{value * 1000:.1f}" for value in checkpoints), flush=True)
    return found


def main() -> None:
    count = env_int("BENCH_P13_PEOPLE", 5)
    small_duos = env_int("BENCH_P13_SMALL_DUOS", 2000)
    duos = env_int("BENCH_DUOS", 20000)
    small = measure(DATA / "p13-small.db", None, small_duos, count)
    large = measure(DATA / "p13.db", SEALED_STORE, duos, count)
    baseline = large["checkpoint_s"]
    for role in ("mentee", "mentor"):
        figures = large[role]
        result(f"P13-forget-{role}", figures["total_s"], "s", baseline=baseline,
               target=round(1 + baseline, 3), duos=duos, people=count,
               **{part: round(figures[part], 4) for part in PARTS},
               small_duos=small_duos, small_total_s=round(small[role]["total_s"], 4),
               small_checkpoint_s=round(small["checkpoint_s"], 4),
               growth=round(figures["total_s"] / small[role]["total_s"], 3))


if __name__ == "__main__":
    main()
