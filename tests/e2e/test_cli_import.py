"""``lifecycle import`` as a user runs it (CONTRACT §3): the worked example, re-imports,
standard input, mixed files, usage errors and how the store is chosen."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import sealed_command_id, store_keys

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "worked.jsonl"
"""The project's own worked example (tests/examples/)."""


def example_commands() -> int:
    return sum(1 for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if line.strip())


def assert_one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("lifecycle: error"), stderr


@pytest.fixture(scope="module")
def example_db(tmp_path_factory: pytest.TempPathFactory, cli: Any) -> tuple[Path, Any]:
    db = tmp_path_factory.mktemp("example") / "example.db"
    return db, cli("--db", db, "import", EXAMPLE, "--json")


def test_the_worked_example_imports_with_no_rejection(example_db: tuple[Path, Any]) -> None:
    _, done = example_db
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"applied": example_commands(), "duplicates": 0,
                                       "rejected": []}


def test_importing_the_same_file_again_applies_nothing_and_changes_nothing(
        example_db: tuple[Path, Any], cli: Any, stored_rows: Any,
        store_fingerprint: Any) -> None:
    db, _ = example_db
    rows, fingerprint = stored_rows(db), store_fingerprint(db)
    again = cli("--db", db, "import", EXAMPLE, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"applied": 0, "duplicates": example_commands(),
                                        "rejected": []}
    assert store_fingerprint(db) == fingerprint
    assert stored_rows(db) == rows


def test_import_reads_standard_input_when_the_file_is_a_dash(
        cli: Any, db_path: Path, stream: Any, stored_rows: Any) -> None:
    stream.base().duo("matched")
    done = cli("--db", db_path, "import", "-", "--json", input=stream.jsonl())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"applied": len(stream.commands), "duplicates": 0,
                                       "rejected": []}
    assert [row[3] for row in stored_rows(db_path) if row[1] == "duo:D-1"] == [
        "lifecycle.Duo.Recruited", "lifecycle.Duo.Selected", "lifecycle.Duo.Matched"]


def test_valid_lines_are_applied_around_rejected_ones_and_blank_lines_count(
        cli: Any, db_path: Path, cmd: Any, write_jsonl: Any, stored_rows: Any) -> None:
    lines = [
        cmd("open_programme", "2025-01-02", command_id="m-1"),              # 1
        "",                                                                 # 2
        "   ",                                                              # 3
        cmd("register_site", "2025-01-02", command_id="m-4",
            programme_id="P-404"),                                          # 4: rule 2
        cmd("register_site", "2025-01-02", command_id="m-5"),               # 5
        "{this is not JSON",                                                # 6: rule 1
        cmd("register_mentor", "2025-01-03", command_id="m-7"),             # 7
        "",                                                                 # 8
        cmd("record_training", "2999-12-31", command_id="m-9"),             # 9: rule 5
    ]
    done = cli("--db", db_path, "import", write_jsonl(lines), "--json")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert (result["applied"], result["duplicates"]) == (3, 0)
    assert [(r["line"], r["command_id"], r["error"][:6]) for r in result["rejected"]] == [
        (4, "m-4", "rule 2"), (6, None, "rule 1"), (9, "m-9", "rule 5")]
    # A sealed store keeps command ids as keyed digests and names a mentor's stream by
    # the mentor's keyed reference (ADR 34, ADR 35).
    keys = store_keys(db_path)
    assert {row[1] for row in stored_rows(db_path)} == {
        "programme:P-1", f"command:{sealed_command_id(db_path, 'm-1')}", "site:S-1",
        f"command:{sealed_command_id(db_path, 'm-5')}", f"mentor:{keys.reference('M-1')}",
        f"command:{sealed_command_id(db_path, 'm-7')}"}


def test_an_integer_too_large_to_store_is_reported_not_a_crash(
        cli: Any, db_path: Path, cmd: Any, write_jsonl: Any, stored_rows: Any) -> None:
    """Every line is accounted for (applied or rejected) and the others are applied."""
    lines = [cmd("open_programme", "2025-01-02", command_id="h-1"),
             cmd("register_site", "2025-01-02", command_id="h-2"),
             cmd("register_mentor", "2025-01-03", command_id="h-3",
                 years_experience=10 ** 23)]
    done = cli("--db", db_path, "import", write_jsonl(lines), "--json")
    assert done.returncode in (0, 1), done.stderr
    result = json.loads(done.stdout)
    assert result["applied"] + len(result["rejected"]) == 3
    assert {"programme:P-1", "site:S-1"} <= {row[1] for row in stored_rows(db_path)}


# ---------------------------------------------------------------------- usage errors
def test_a_missing_file_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    done = cli("--db", tmp_path / "s.db", "import", tmp_path / "missing.jsonl", "--json")
    assert done.returncode == 2
    assert_one_line_error(done.stderr)
    assert done.stdout == ""


def test_a_directory_to_import_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    done = cli("--db", tmp_path / "s.db", "import", tmp_path, "--json")
    assert done.returncode == 2
    assert_one_line_error(done.stderr)


def _not_a_store(tmp_path: Path, kind: str) -> Path:
    if kind == "directory":
        (tmp_path / "a-folder").mkdir()
        return tmp_path / "a-folder"
    if kind == "text file":
        target = tmp_path / "notes.db"
        target.write_text("these are not the events you are looking for\n")
        return target
    if kind == "other sqlite database":
        target = tmp_path / "other.db"
        with sqlite3.connect(target) as conn:
            conn.execute("CREATE TABLE payroll (id INTEGER PRIMARY KEY)")
        return target
    return tmp_path / "no-such-folder" / "store.db"


@pytest.mark.parametrize("kind", ["directory", "text file", "other sqlite database",
                                  "missing folder"])
def test_a_db_that_is_not_a_store_is_a_usage_error_and_is_left_alone(
        cli: Any, tmp_path: Path, stream: Any, kind: str) -> None:
    target = _not_a_store(tmp_path, kind)
    before = target.read_bytes() if target.is_file() else None
    commands = stream.base().write(tmp_path / "in.jsonl")
    done = cli("--db", target, "import", commands, "--json")
    assert done.returncode == 2
    assert_one_line_error(done.stderr)
    if before is not None:
        assert target.read_bytes() == before


# ---------------------------------------------------------------------- choosing the store
def test_lifecycle_db_names_the_store_when_db_is_not_given(
        cli: Any, tmp_path: Path, stream: Any, store_fingerprint: Any) -> None:
    store = tmp_path / "from-env.db"
    commands = stream.base().write(tmp_path / "in.jsonl")
    done = cli("import", commands, "--json", env={"LIFECYCLE_DB": str(store)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert store_fingerprint(store)[0] == 2 * len(stream.commands)
    assert not (tmp_path / "lifecycle.db").exists()


def test_db_wins_over_lifecycle_db(cli: Any, tmp_path: Path, stream: Any) -> None:
    commands = stream.base().write(tmp_path / "in.jsonl")
    done = cli("--db", tmp_path / "chosen.db", "import", commands, "--json",
               env={"LIFECYCLE_DB": str(tmp_path / "ignored.db")})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "chosen.db").exists()
    assert not (tmp_path / "ignored.db").exists()


def test_the_default_store_is_lifecycle_db_in_the_working_directory(
        cli: Any, tmp_path: Path, stream: Any, store_fingerprint: Any) -> None:
    commands = stream.base().write(tmp_path / "in.jsonl")
    done = cli("import", commands, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert store_fingerprint(tmp_path / "lifecycle.db")[0] == 2 * len(stream.commands)
