"""``export`` and ``audit verify --export`` stream: their peak memory does not grow with
the history. Each runs in a fresh interpreter on synthetic SQLite stores of 40,000 and
320,000 events (the engine's tables, filled with ``executemany`` and chained with the
engine's own link function, in seconds rather than the minutes an import would take),
which reports its own peak resident set size (``resource.getrusage``). Eight times the
events may cost a few megabytes (buffers, the interpreter's allocator), never the
hundred-odd megabytes of holding the extra events.

Linux carries a process's peak RSS over ``fork`` and ``exec`` (a child's figure starts at
its parent's RSS when it was started), so the command is started by a small wrapper
interpreter, which reads its only child's peak with ``getrusage(RUSAGE_CHILDREN)``: the
figure then starts at the wrapper's few megabytes, not at the test process's size.

The 2M-event figures (an export and a verification of the benchmark's 2M-event store)
are measured by ``bench/p11_export.py`` and shown in docs/benchmarks.md.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle.adapters.chain import GENESIS, link
from lifecycle.bootstrap import open_engine

PER_STREAM = 50
SMALL, LARGE = 40_000, 320_000
GROWTH_LIMIT_KB = 16 * 1024

WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
sys.stderr.write(done.stderr.decode())
print("PEAK", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)
"""


def state(position: int) -> bytes:
    """A stored payload shaped as the engine's (about 230 bytes)."""
    return (b'{"timestamp":"2025-03-01T10:00:00.%06dZ","occurred_on":"2025-02-01",'
            b'"command_id":"c-%d","duo_id":"D-%d","contact_id":"K-%d","minutes":30,'
            b'"mode":"in_person","functions":["psychosocial","career"]}'
            % (position % 1_000_000, position, position // PER_STREAM, position))


def synthetic_store(path: Path, events: int) -> Path:
    """A store of ``events`` chained events, 50 per stream."""
    open_engine(str(path)).shutdown()  # the engine's tables
    conn = sqlite3.connect(path)
    previous = GENESIS
    try:
        for start in range(1, events + 1, 50_000):
            rows, links = [], []
            for position in range(start, min(start + 50_000, events + 1)):
                oid = f"duo:D-{(position - 1) // PER_STREAM}"
                version = (position - 1) % PER_STREAM + 1
                topic, body = "lifecycle.Duo.ContactLogged", state(position)
                rows.append((position, oid, version, topic, body))
                previous = link(previous, position, oid, version, topic, body)
                links.append((position, previous))
            conn.executemany("INSERT INTO stored_events (rowid, originator_id, "
                             "originator_version, topic, state) VALUES (?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO event_chain (position, link) VALUES (?, ?)", links)
            conn.commit()
    finally:
        conn.close()
    return path


def peak_kb(lifecycle_bin: Path, *args: str | Path) -> int:
    """Run ``lifecycle ARGS`` under the wrapper; the command's peak RSS in kilobytes."""
    done = subprocess.run([sys.executable, "-c", WRAPPER, str(lifecycle_bin), *map(str, args)],
                          capture_output=True, text=True, timeout=600, check=False)
    _, peak, code = done.stdout.split()
    assert code == "0", done.stdout + done.stderr
    return int(peak)


@pytest.mark.slow
def test_export_and_verify_of_an_export_run_in_memory_that_does_not_grow_with_the_history(
        tmp_path: Path, lifecycle_bin: Path) -> None:
    peaks: dict[str, list[int]] = {"export": [], "verify": []}
    for events in (SMALL, LARGE):
        store = synthetic_store(tmp_path / f"{events}.db", events)
        exported = tmp_path / f"{events}.jsonl"
        peaks["export"].append(peak_kb(lifecycle_bin, "--db", store, "export", exported))
        peaks["verify"].append(peak_kb(lifecycle_bin, "audit", "verify", "--export", exported,
                                       "--processes", "1"))
        assert exported.stat().st_size > events * 300
    for command, (small, large) in peaks.items():
        assert large - small < GROWTH_LIMIT_KB, (
            f"{command}: {small} kB at {SMALL} events, {large} kB at {LARGE}")
