"""``lifecycle export``, ``audit verify --export`` and ``restore`` (CONTRACT §3), run as
the installed command on a simulated pilot (``simulate --seed 7 --duos 25``, about 1,900
events): the export verifies without the store, restoring it into an empty store gives
the same digest, the same reports at every month's end and views that pass ``audit
projections``, and exporting the restored store gives the file back byte for byte, on
SQLite and on PostgreSQL. Restore refuses a store that is not empty and an export that
does not verify, and then writes nothing.
"""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from lifecycle.bootstrap import open_engine, open_views

Run = Callable[..., subprocess.CompletedProcess[str]]

MONTH_ENDS = [date(2025 + (m // 12), m % 12 + 1, 28) for m in range(0, 20)]
"""A day in each month of the pilot's run (January 2025 to August 2026)."""


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def pilot(simulated_store: Callable[[Path, int, int], Path],
          tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_store(tmp_path_factory.mktemp("export"), 7, 25)


@pytest.fixture(scope="module")
def exported(pilot: Path, cli: Run) -> Path:
    path = pilot.with_name("history.jsonl")
    ok(cli("--db", pilot, "export", path))
    return path


def digest(cli: Run, store: str | Path) -> dict[str, Any]:
    said = json.loads(ok(cli("--db", store, "audit", "digest", "--json")).stdout)
    return {k: said[k] for k in ("events", "position", "head")}


def reports(store: str | Path, as_at: datetime | None = None, *,
            programmes: bool = True) -> list[Any]:
    """The report of the whole store (and of each programme) at every month's end, as
    recorded by ``as_at`` when given."""
    engine = open_engine(str(store))
    views = open_views(engine, str(store))
    try:
        names: list[str | None] = [None]
        if programmes:
            names += sorted({row.programme_id for row in views.duos(MONTH_ENDS[-1])})
        return [views.report(day, name, as_at) for day in MONTH_ENDS for name in names]
    finally:
        views.close()
        engine.shutdown()


def test_the_export_verifies_without_the_store_with_the_store_s_verdict(
        pilot: Path, exported: Path, cli: Run) -> None:
    from_store = json.loads(ok(cli("--db", pilot, "audit", "verify", "--json")).stdout)
    said = cli("--db", pilot.with_name("absent.db"), "audit", "verify", "--export", exported,
               "--json")
    assert json.loads(ok(said).stdout) == from_store
    assert not pilot.with_name("absent.db").exists()


def test_the_export_begins_with_a_digest_saved_before(pilot: Path, exported: Path,
                                                      cli: Run, tmp_path: Path) -> None:
    saved = tmp_path / "digest.json"
    saved.write_text(ok(cli("--db", pilot, "audit", "digest", "--json")).stdout)
    said = ok(cli("audit", "verify", "--export", exported, "--digest", saved))
    assert said.stdout.startswith("intact: ") and "begins with the digest" in said.stdout


def test_export_restore_export_gives_the_same_bytes_and_the_same_store(
        pilot: Path, exported: Path, cli: Run, tmp_path: Path) -> None:
    restored = tmp_path / "restored.db"
    said = ok(cli("--db", restored, "restore", exported))
    assert said.stdout.startswith(f"restored {digest(cli, pilot)['events']} events")
    again = tmp_path / "again.jsonl"
    ok(cli("--db", restored, "export", again))
    assert again.read_bytes() == exported.read_bytes()
    assert digest(cli, restored) == digest(cli, pilot)
    assert reports(restored) == reports(pilot)
    ok(cli("--db", restored, "audit", "projections"))


def test_a_gzip_export_restores_and_exports_again_to_the_same_bytes(
        pilot: Path, exported: Path, cli: Run, tmp_path: Path) -> None:
    packed = tmp_path / "history.jsonl.gz"
    ok(cli("--db", pilot, "export", packed))
    assert gzip.decompress(packed.read_bytes()) == exported.read_bytes()
    ok(cli("--db", tmp_path / "restored.db", "restore", packed))
    again = tmp_path / "again.jsonl.gz"
    ok(cli("--db", tmp_path / "restored.db", "export", again))
    assert again.read_bytes() == packed.read_bytes()


def test_an_export_to_standard_output_is_the_file(pilot: Path, exported: Path,
                                                  lifecycle_bin: Path) -> None:
    said = subprocess.run([lifecycle_bin, "--db", pilot, "export", "-"],
                          capture_output=True, check=True)
    assert said.stdout == exported.read_bytes()


def test_commands_after_a_restore_extend_the_restored_chain(
        exported: Path, cli: Run, tmp_path: Path, write_jsonl: Callable[..., Path],
        cmd: Callable[..., dict[str, Any]]) -> None:
    restored = tmp_path / "restored.db"
    ok(cli("--db", restored, "restore", exported))
    before = digest(cli, restored)
    later = write_jsonl([cmd("open_programme", "2025-12-01", programme_id="P-LATER")])
    ok(cli("--db", restored, "import", later))
    after = json.loads(ok(cli("--db", restored, "audit", "verify", "--json")).stdout)
    assert after["events"] == before["events"] + 2  # the programme and its command marker
    assert after["last_position"] == before["position"] + 2


def test_an_export_as_at_a_time_ends_before_the_first_event_recorded_later(
        exported: Path, pilot: Path, cli: Run, tmp_path: Path) -> None:
    """The longest prefix of the log recorded by then: a bulk import stamps a batch's
    events command by command and stores them together, so the prefix may end before
    an event recorded by then that follows a later-stamped one."""
    lines = exported.read_bytes().splitlines(keepends=True)
    moment = json.loads(lines[len(lines) // 2])["recorded_at"]
    then = tmp_path / "then.jsonl"
    ok(cli("--db", pilot, "export", then, "--as-at", moment))
    kept = then.read_bytes().splitlines(keepends=True)
    assert json.loads(kept[0])["as_at"] == moment
    records = kept[1:-1]
    assert records == lines[1:len(records) + 1]
    assert all(json.loads(line)["recorded_at"] <= moment for line in records)
    assert json.loads(lines[len(records) + 1])["recorded_at"] > moment
    ok(cli("audit", "verify", "--export", then))


def test_an_export_as_at_a_time_restores_the_history_as_recorded_then(
        cli: Run, tmp_path: Path, new_stream: Callable[..., Any]) -> None:
    """Commands applied one transaction each: the store restored from the export as at
    a time reports, at every month's end, what the whole store reports as at that time."""
    stream = new_stream().base()
    for number in range(8):
        stream.duo("closed" if number % 3 == 0 else "active", f"D-{number}",
                   start=f"2025-0{2 + number % 6}-0{1 + number % 7}")
    store = tmp_path / "store.db"
    ok(cli("--db", store, "import", stream.write(tmp_path / "in.jsonl"), "--batch-size", "1"))
    full = tmp_path / "full.jsonl"
    ok(cli("--db", store, "export", full))
    records = [json.loads(line) for line in full.read_bytes().splitlines()[1:-1]]
    moment = records[len(records) * 2 // 3]["recorded_at"]
    ok(cli("--db", store, "export", tmp_path / "then.jsonl", "--as-at", moment))
    ok(cli("--db", tmp_path / "then.db", "restore", tmp_path / "then.jsonl"))
    as_recorded = reports(store, datetime.fromisoformat(moment), programmes=False)
    assert reports(tmp_path / "then.db", programmes=False) == as_recorded
    assert as_recorded != reports(store, programmes=False)


# ---------------------------------------------------------------------- refusals
def test_restore_refuses_a_store_that_is_not_empty_and_changes_nothing(
        pilot: Path, exported: Path, cli: Run, tmp_path: Path,
        store_fingerprint: Callable[[Path], Any]) -> None:
    target = tmp_path / "busy.db"
    ok(cli("--db", target, "restore", exported))
    before = (store_fingerprint(target), digest(cli, target))
    said = cli("--db", target, "restore", exported)
    assert said.returncode == 2
    assert said.stderr == (f"lifecycle: error: store '{target}' is not empty: restore writes "
                           "only into an empty store\n")
    assert (store_fingerprint(target), digest(cli, target)) == before


def test_restore_refuses_an_export_that_does_not_verify_and_creates_no_store(
        exported: Path, cli: Run, tmp_path: Path) -> None:
    lines = exported.read_bytes().splitlines(keepends=True)
    lines[10] = lines[10].replace(b'"occurred_on":"20', b'"occurred_on":"19', 1)
    altered = tmp_path / "altered.jsonl"
    altered.write_bytes(b"".join(lines))
    target = tmp_path / "never.db"
    said = cli("--db", target, "restore", altered)
    assert said.returncode == 1
    assert said.stdout == ""
    assert said.stderr.startswith(f"lifecycle: error: export '{altered}' does not verify at "
                                  "position 10: line 11 of the export (position 10)")
    assert said.stderr.endswith("; nothing was restored\n")
    assert said.stderr.count("\n") == 1
    assert not target.exists()


def test_restore_against_a_digest_refuses_an_export_that_lost_its_tail(
        pilot: Path, exported: Path, cli: Run, tmp_path: Path) -> None:
    saved = tmp_path / "digest.json"
    saved.write_text(ok(cli("--db", pilot, "audit", "digest", "--json")).stdout)
    lines = exported.read_bytes().splitlines(keepends=True)
    kept = lines[:-4]
    last = json.loads(kept[-1])
    trailer = {"end": "lifecycle-export", "events": len(kept) - 1, "links": len(kept) - 1,
               "signatures": 0, "last_position": last["position"], "head": last["link"]}
    short = tmp_path / "short.jsonl"
    short.write_bytes(b"".join(kept) + json.dumps(trailer, separators=(",", ":")).encode()
                      + b"\n")
    ok(cli("audit", "verify", "--export", short))  # consistent in itself
    said = cli("--db", tmp_path / "short.db", "restore", short, "--digest", saved)
    assert said.returncode == 1
    assert "history was truncated" in said.stderr
    assert not (tmp_path / "short.db").exists()


@pytest.mark.parametrize(("content", "words"), [
    (None, "cannot read export"),
    (b'{"type":"open_programme"}\n', "is not a lifecycle export"),
])
def test_restore_of_a_file_that_is_no_export_is_a_usage_error(
        cli: Run, tmp_path: Path, content: bytes | None, words: str) -> None:
    source = tmp_path / "file.jsonl"
    if content is not None:
        source.write_bytes(content)
    said = cli("--db", tmp_path / "new.db", "restore", source)
    assert said.returncode == 2
    assert words in said.stderr and said.stderr.count("\n") == 1
    assert not (tmp_path / "new.db").exists()


# ---------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_an_sqlite_export_restores_into_postgresql_and_exports_back_the_same_bytes(
        pilot: Path, exported: Path, cli: Run, tmp_path: Path, postgres_url: str,
        write_jsonl: Callable[..., Path], cmd: Callable[..., dict[str, Any]]) -> None:
    ok(cli("--db", postgres_url, "restore", exported))
    again = tmp_path / "again.jsonl"
    ok(cli("--db", postgres_url, "export", again))
    assert again.read_bytes() == exported.read_bytes()
    assert digest(cli, postgres_url) == digest(cli, pilot)
    assert reports(postgres_url) == reports(pilot)
    ok(cli("--db", postgres_url, "audit", "projections"))
    said = cli("--db", postgres_url, "restore", exported)
    assert said.returncode == 2 and "is not empty" in said.stderr
    later = write_jsonl([cmd("open_programme", "2025-12-01", programme_id="P-LATER")])
    ok(cli("--db", postgres_url, "import", later))
    after = json.loads(ok(cli("--db", postgres_url, "audit", "verify", "--json")).stdout)
    assert after["last_position"] == digest(cli, pilot)["position"] + 2


# ---------------------------------------------------------------------- the format's page
FORMAT_PAGE = Path(__file__).resolve().parents[2] / "docs" / "export-format.md"


def test_the_standard_library_check_in_the_format_page_verifies_an_export(
        exported: Path, tmp_path: Path) -> None:
    """The page's independent check (no engine code) passes an export and fails one
    with an altered payload."""
    import re
    import sys

    block = re.search(r"```python\n(.*?)```", FORMAT_PAGE.read_text(), re.S)
    assert block is not None
    script = tmp_path / "check.py"
    script.write_text(block.group(1))
    intact = subprocess.run([sys.executable, "-I", script, exported], capture_output=True,
                            text=True, check=False)
    assert intact.returncode == 0, intact.stderr
    head = json.loads(exported.read_bytes().splitlines()[-1])["head"]
    assert intact.stdout == f"intact, head {head}\n"
    lines = exported.read_bytes().splitlines(keepends=True)
    lines[7] = lines[7].replace(b'"command_id":"', b'"command_id":"x', 1)
    altered = tmp_path / "altered.jsonl"
    altered.write_bytes(b"".join(lines))
    caught = subprocess.run([sys.executable, "-I", script, altered], capture_output=True,
                            text=True, check=False)
    assert caught.returncode == 1
    assert "AssertionError: position 7 altered" in caught.stderr
