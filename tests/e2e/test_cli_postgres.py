"""The command line on PostgreSQL (``--db postgresql://…?schema=…``): the same import,
idempotency and history as on SQLite."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.postgres


def test_import_reimport_and_history_on_postgresql(
        cli: Any, postgres_url: str, stream: Any, tmp_path: Any, cmd: Any,
        write_jsonl: Any) -> None:
    stream.base().duo("active")
    commands = stream.write(tmp_path / "in.jsonl")

    first = cli("--db", postgres_url, "import", commands, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"applied": len(stream.commands), "duplicates": 0,
                                        "rejected": []}

    bad = cmd("activate", "2025-03-01", command_id="pg-bad")
    second = cli("--db", postgres_url, "import",
                 write_jsonl([*stream.commands, "", bad], "again.jsonl"), "--json")
    assert second.returncode == 1
    result = json.loads(second.stdout)
    assert (result["applied"], result["duplicates"]) == (0, len(stream.commands))
    assert [(r["line"], r["command_id"], r["error"][:6]) for r in result["rejected"]] == [
        (len(stream.commands) + 2, "pg-bad", "rule 4")]

    history = cli("history", "D-1", "--json", env={"LIFECYCLE_DB": postgres_url})
    assert history.returncode == 0, history.stderr
    assert [row["type"] for row in json.loads(history.stdout)] == [
        "Recruited", "Selected", "Matched", "Activated"]
