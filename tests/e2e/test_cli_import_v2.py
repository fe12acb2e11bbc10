"""``lifecycle import`` with contract v2's implicit command ids (rule 13 v2): importing any
file twice, with or without ids, leaves the store exactly as after the first import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def test_a_pilot_without_any_command_id_imported_twice_applies_nothing_the_second_time(
        cli: Any, tmp_path: Path, stored_rows: Any, store_fingerprint: Any) -> None:
    simulated = tmp_path / "simulated.jsonl"
    assert cli("simulate", "--seed", "7", "--duos", "30", "--out", simulated).returncode == 0
    lines = [json.loads(line) for line in simulated.read_text(encoding="utf-8").splitlines()]
    pilot = tmp_path / "pilot.jsonl"
    pilot.write_text("".join(json.dumps({k: v for k, v in line.items() if k != "command_id"})
                             + "\n" for line in lines), encoding="utf-8")
    db = tmp_path / "pilot.db"
    first = cli("--db", db, "import", pilot, "--json")
    assert first.returncode == 0, first.stderr
    counts = json.loads(first.stdout)
    applied = counts["applied"]
    assert applied + counts["duplicates"] == len(lines)
    rows, fingerprint = stored_rows(db), store_fingerprint(db)
    again = cli("--db", db, "import", pilot, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"applied": 0, "duplicates": applied, "rejected": []}
    assert (store_fingerprint(db), stored_rows(db)) == (fingerprint, rows)


def test_two_equal_lines_without_ids_in_one_file_are_one_command(
        cli: Any, tmp_path: Path, stream: Any) -> None:
    stream.base().duo("active")
    review = stream.add("review", "2025-03-01", command_id=None)
    stream.commands.append(dict(reversed(review.items())))  # the same JSON value
    done = cli("--db", tmp_path / "s.db", "import", stream.write(tmp_path / "in.jsonl"),
               "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"applied": len(stream.commands) - 1, "duplicates": 1,
                                       "rejected": []}
