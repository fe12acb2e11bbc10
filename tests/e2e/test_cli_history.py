"""``lifecycle history DUO_ID --json`` (CONTRACT §3): the duo's events by version, each
``{type, version, occurred_on, recorded_at, data}``, ``data`` being the command's fields
but ``type``, ``occurred_on`` and ``command_id``, with optional ones at their defaults
(and, for ``Matched``, the two booleans the engine computed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

EVENT_TYPE = {"recruit": "Recruited", "select": "Selected", "match": "Matched",
              "activate": "Activated", "log_contact": "ContactLogged",
              "retract_contact": "ContactRetracted", "review": "Reviewed",
              "record_survey": "SurveyRecorded", "close": "Closed"}
OPTIONAL_DEFAULTS = {"recruit": {"predecessor_duo_id": None}}


def duo_with_every_event(stream: Any) -> Any:
    """Mentor M-1 works early shifts in wing-A; the mentee early and late in wing-B."""
    stream.base()
    stream.add("recruit", "2025-02-01", duo_id="D-ALL", mentee_id="E-1",
               department="wing-B", shifts=["early", "late"])
    stream.add("record_survey", "2025-02-01", duo_id="D-ALL", respondent="mentor",
               phase="pre", scores={"wellbeing": 5, "stress": 1, "integration": 4,
                                    "confidence": 2})
    stream.add("select", "2025-02-02", duo_id="D-ALL")
    stream.add("match", "2025-02-03", duo_id="D-ALL", mentor_kind="supervisor")
    stream.add("activate", "2025-02-04", duo_id="D-ALL")
    stream.add("log_contact", "2025-02-05", duo_id="D-ALL", contact_id="K-1", minutes=45,
               mode="video", functions=["career", "psychosocial"])
    stream.add("retract_contact", "2025-02-06", duo_id="D-ALL", contact_id="K-1",
               reason="did_not_happen")
    stream.add("review", "2025-02-07", duo_id="D-ALL", health=2)
    stream.add("close", "2025-02-08", duo_id="D-ALL", reason="mentor_left_service",
               initiated_by="mentor", exit_interview=True)
    return stream


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, new_stream: Any,
          cli: Any) -> tuple[Path, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("history")
    stream = duo_with_every_event(new_stream())
    done = cli("--db", folder / "h.db", "import", stream.write(folder / "in.jsonl"))
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "h.db", [c for c in stream.commands if c.get("duo_id") == "D-ALL"]


def expected_rows(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for version, raw in enumerate(commands, start=1):
        data = {k: v for k, v in raw.items() if k not in ("type", "occurred_on", "command_id")}
        data = {**OPTIONAL_DEFAULTS.get(raw["type"], {}), **data}
        if raw["type"] == "match":
            data |= {"shift_overlap": True, "same_department": False}
        if raw["type"] == "select":
            data |= {"consent": True}
        rows.append({"type": EVENT_TYPE[raw["type"]], "version": version,
                     "occurred_on": raw["occurred_on"], "data": data})
    return rows


def test_history_json_lists_every_event_by_version_in_the_contract_shape(
        store: tuple[Path, list[dict[str, Any]]], cli: Any) -> None:
    db, commands = store
    started = datetime.now(UTC)
    done = cli("history", "D-ALL", "--json", env={"LIFECYCLE_DB": str(db)})
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert all(set(row) == {"type", "version", "occurred_on", "recorded_at", "data"}
               for row in rows)
    assert [{k: v for k, v in row.items() if k != "recorded_at"} for row in rows] == (
        expected_rows(commands))

    recorded = [datetime.fromisoformat(row["recorded_at"].replace("Z", "+00:00"))
                for row in rows]
    assert all(moment.utcoffset() == timedelta(0) for moment in recorded)
    assert recorded == sorted(recorded)
    assert recorded[-1] <= started


def test_history_of_an_unknown_duo_exits_2(store: tuple[Path, Any], cli: Any) -> None:
    db, _ = store
    done = cli("--db", db, "history", "D-404", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("lifecycle: error") and "D-404" in done.stderr
