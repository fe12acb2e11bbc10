"""The engine on a real SQLite file: what is stored stays stored, a reopened store
accepts what it holds, and writers in several processes apply each command once."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import sealed_command_id

from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle, Outcome, UnitOfWork
from lifecycle.application.importer import Importer
from lifecycle.domain.errors import DomainError
from lifecycle.domain.markers import AppliedCommand

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "worked.jsonl"
"""The project's own worked example (tests/examples/)."""
TODAY = date(2026, 1, 1)


@pytest.fixture
def sqlite_env(db_path: Path) -> dict[str, str]:
    return resolve_target(str(db_path)).env


@pytest.fixture
def open_engine(sqlite_env: dict[str, str]) -> Iterator[Callable[[], Lifecycle]]:
    """``open_engine()``: a new engine on the test's SQLite file (closed afterwards)."""
    opened: list[Lifecycle] = []

    def open_() -> Lifecycle:
        opened.append(Lifecycle(sqlite_env, today=lambda: TODAY))
        return opened[-1]

    yield open_
    for engine in opened:
        engine.shutdown()


def lines(commands: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(c).encode() + b"\n" for c in commands]


def test_events_persist_across_engine_instances(
        open_engine: Callable[[], Lifecycle], stream: Any, submit: Any) -> None:
    stream.base().duo("active")
    stream.add("log_contact", "2025-02-10")
    first = open_engine()
    stream.apply(first)
    expected = [(type(e).__name__, e.originator_version, e.occurred_on, e.data)
                for e in first.history("D-1")]
    first.shutdown()

    second = open_engine()
    assert [(type(e).__name__, e.originator_version, e.occurred_on, e.data)
            for e in second.history("D-1")] == expected
    duo = second.get_duo("D-1")
    assert (duo.state.value, list(duo.contacts)) == ("active", ["K-1"])
    # What the first engine applied is a duplicate for the second one ...
    assert all(submit(second, raw) is Outcome.DUPLICATE for raw in stream.commands)
    # ... and the second one goes on from there.
    assert submit(second, {**stream.commands[-1], "command_id": "next",
                           "contact_id": "K-2"}) is Outcome.APPLIED


def test_a_reopened_store_rejects_nothing_it_holds(
        open_engine: Callable[[], Lifecycle], db_path: Path, store_fingerprint: Any) -> None:
    commands = EXAMPLE.read_bytes().splitlines(keepends=True)
    result = Importer(open_engine()).run(commands)
    assert (result.applied, result.rejected) == (len(commands), [])
    before = store_fingerprint(db_path)

    again = Importer(open_engine()).run(commands)
    assert again.as_json() == {"applied": 0, "duplicates": len(commands), "rejected": []}
    assert store_fingerprint(db_path) == before


def test_two_processes_importing_the_same_file_apply_every_command_exactly_once(
        db_path: Path, lifecycle_bin: Path, stored_rows: Any) -> None:
    commands = [json.loads(line) for line in EXAMPLE.read_text().splitlines() if line.strip()]
    with Lifecycle(resolve_target(str(db_path)).env):
        pass  # the store exists before both writers start, so they really overlap
    writers = [
        subprocess.Popen([str(lifecycle_bin), "--db", str(db_path),
                          "import", str(EXAMPLE), "--json", "--batch-size", size],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for size in ("5", "3")
    ]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    results = [json.loads(out) for out, _ in outputs]
    assert [w.returncode for w in writers] == [0, 0], [err for _, err in outputs]
    assert [r["rejected"] for r in results] == [[], []]
    assert sum(r["applied"] for r in results) == len(commands)
    assert sum(r["duplicates"] for r in results) == len(commands)

    rows = stored_rows(db_path)
    markers = [r for r in rows if r[3] == "lifecycle.AppliedCommand.Applied"]
    # A sealed store keeps command ids as keyed digests (ADR 35).
    assert sorted(r[1] for r in markers) == sorted(
        f"command:{sealed_command_id(db_path, c['command_id'])}" for c in commands)
    rematches = sum(1 for c in commands if c.get("predecessor_duo_id"))
    assert len(rows) == 2 * len(commands) + rematches


def _race(monkeypatch: pytest.MonkeyPatch, engine: Lifecycle,
          other_write: Callable[[], object]) -> list[bool]:
    """Make ``other_write`` happen right after ``engine``'s first read of the store
    (as if another process committed between this one's checks and its commit)."""
    real_find = UnitOfWork.find
    done: list[bool] = []

    def find(self: UnitOfWork, cls: Any, contract_id: str) -> Any:
        found = real_find(self, cls, contract_id)
        if self._engine is engine and not done:
            done.append(True)
            other_write()
        return found

    monkeypatch.setattr(UnitOfWork, "find", find)
    return done


@pytest.fixture
def two_engines(open_engine: Callable[[], Lifecycle],
                stream: Any) -> tuple[Lifecycle, Lifecycle, Any]:
    """Two engines on one file holding the base world, and a stream to add to."""
    first, second = open_engine(), open_engine()
    stream.base().duo("active")
    stream.apply(first)
    return first, second, stream


@pytest.mark.parametrize("kind", ["register_mentor", "log_contact", "close"])
def test_a_command_another_process_applied_meanwhile_is_a_duplicate_not_a_rejection(
        two_engines: tuple[Lifecycle, Lifecycle, Any], monkeypatch: pytest.MonkeyPatch,
        submit: Any, cmd: Any, kind: str) -> None:
    first, second, _ = two_engines
    raw = cmd(kind, "2025-03-01", command_id="race-1", mentor_id="M-9")
    if kind != "register_mentor":
        raw.pop("mentor_id")
    raced = _race(monkeypatch, second, lambda: submit(first, raw))
    assert submit(second, raw) is Outcome.DUPLICATE
    assert raced
    assert [m.version for m in [first.app.repository.get(AppliedCommand.stream_id("race-1"))]
            ] == [1]


@pytest.mark.parametrize("batch_size", [1, 50])
def test_an_import_racing_another_process_counts_its_commands_as_duplicates(
        two_engines: tuple[Lifecycle, Lifecycle, Any], monkeypatch: pytest.MonkeyPatch,
        new_stream: Any, batch_size: int) -> None:
    first, second, _ = two_engines
    more = new_stream("more").duo("active", "D-2", mentee_id="E-2")
    more.add("log_contact", "2025-02-10", duo_id="D-2")
    raced = _race(monkeypatch, second, lambda: Importer(first).run(lines(more.commands)))
    result = Importer(second, batch_size=batch_size).run(lines(more.commands))
    assert raced
    assert result.as_json() == {"applied": 0, "duplicates": len(more.commands),
                                "rejected": []}
    assert len(second.history("D-2")) == 5


def test_a_command_without_id_raced_by_its_twin_is_a_duplicate(
        two_engines: tuple[Lifecycle, Lifecycle, Any], monkeypatch: pytest.MonkeyPatch,
        submit: Any, cmd: Any) -> None:
    """Rule 13 (v2): the twin's content marker, committed first, refuses this one's."""
    first, second, _ = two_engines
    second.get_duo("D-1")  # cached at version 4
    review = cmd("review", "2025-03-01", command_id=...)
    raced = _race(monkeypatch, second, lambda: submit(first, review))
    assert submit(second, review) is Outcome.DUPLICATE
    assert raced
    assert [type(e).__name__ for e in second.history("D-1")][-2:] == ["Activated",
                                                                      "Reviewed"]


def test_a_command_without_id_is_reapplied_on_the_new_state_after_a_concurrent_write(
        two_engines: tuple[Lifecycle, Lifecycle, Any], monkeypatch: pytest.MonkeyPatch,
        submit: Any, cmd: Any) -> None:
    first, second, _ = two_engines
    second.get_duo("D-1")  # cached at version 4
    raced = _race(monkeypatch, second, lambda: submit(first, cmd(
        "review", "2025-03-01", command_id=..., health=2)))
    assert submit(second, cmd("review", "2025-03-01", command_id=...)) is Outcome.APPLIED
    assert raced
    assert [type(e).__name__ for e in second.history("D-1")][-2:] == ["Reviewed"] * 2


def test_a_stale_cache_does_not_let_a_refused_command_through(
        two_engines: tuple[Lifecycle, Lifecycle, Any], submit: Any, cmd: Any) -> None:
    first, second, _ = two_engines
    assert second.get_duo("D-1").state.value == "active"
    submit(first, cmd("close", "2025-03-01", command_id="c-close"))
    with pytest.raises(DomainError) as refused:
        submit(second, cmd("log_contact", "2025-03-02", command_id="late-contact"))
    assert refused.value.rule == 7
    assert second.get_duo("D-1").state.value == "closed"


@pytest.mark.parametrize("batch_size", [2, 50])
def test_a_rejection_resting_on_a_batch_that_another_process_overtook_is_decided_again(
        open_engine: Callable[[], Lifecycle], stream: Any, new_stream: Any,
        cmd: Any, submit: Any, batch_size: int) -> None:
    """The race of two imports of one file (CI, 2026-11-27): this engine's cache holds
    a duo before its activation, which another process has committed. In one batch, a
    review is staged on the cached duo, and a contact then checked against the staged
    (never activated) duo is refused. The batch's commit fails on the duo's version;
    the contact must be decided again on the stored duo, not reported as rejected."""
    first, second = open_engine(), open_engine()
    stream.base().duo("matched")
    stream.apply(first)
    # The duo is in this engine's cache as it last read it: matched.
    assert first.get_duo("D-1").state.value == "matched"
    submit(second, cmd("activate", "2025-02-20", command_id="act-1"))
    later = new_stream("later")
    later.add("review", "2025-03-01", duo_id="D-1")
    later.add("log_contact", "2025-03-02", duo_id="D-1")
    result = Importer(first, batch_size=batch_size).run(lines(later.commands))
    assert result.as_json() == {"applied": 2, "duplicates": 0, "rejected": []}
    assert [type(e).__name__ for e in first.history("D-1")][-3:] == [
        "Activated", "Reviewed", "ContactLogged"]
