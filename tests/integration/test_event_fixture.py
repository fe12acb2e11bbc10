"""Events are a storage format: events stored by version 1 of the engine must keep loading.

``tests/fixtures/events_v1.jsonl`` holds stored events (topic, originator id and version,
state bytes as UTF-8 text) written once by ``lifecycle.adapters.persistence.PydanticMapper`` for
every event type. Never regenerate it: a change of an event's schema must come with an
upcaster (``class_version`` and ``upcast_vN_vM``) that makes these rows load again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle, Outcome
from lifecycle.application.commands import parse_command
from lifecycle.domain.base import event_class_for_topic, registered_topics

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events_v1.jsonl"
RECORDED_AT = datetime(2025, 6, 1, 9, 30, 15, 123456, tzinfo=UTC)

EXPECTED: list[tuple[str, int, str, dict[str, Any]]] = [
    ("programme:P-1", 1, "2025-01-02", {
        "name": "Pilot programme", "country": "DK",
        "policy": {"min_duration_days": 182, "max_duration_days": 365,
                   "contact_interval_days": 10, "first_meeting_within_days": 14,
                   "mentor_kinds": ["peer"], "require_trained_mentor": True}}),
    ("command:fx-0001", 1, "2025-01-02", {
        "digest": "266c3ad4ccd9e04b3ddc0381e7fa0a73fa637a449596ad080ead6a3920aceda3"}),
    ("site:S-1", 1, "2025-01-02", {"programme_id": "P-1", "name": "Prison 1",
                                   "setting": "youth"}),
    ("mentor:M-1", 1, "2025-01-03", {
        "programme_id": "P-1", "site_id": "S-1", "department": "wing-A",
        "shifts": ["early", "night"], "years_experience": 12}),
    ("mentor:M-1", 2, "2025-01-04", {"module": "introduction"}),
    ("mentor:M-1", 3, "2025-01-05", {"module": "communication"}),
    ("mentor:M-1", 4, "2025-01-06", {"module": "interpersonal"}),
    ("mentor:M-1", 5, "2025-01-07", {"module": "pedagogical"}),
    ("mentor:M-1", 6, "2025-01-08", {"module": "organisational"}),
    ("duo:D-OLD", 1, "2025-01-20", {
        "programme_id": "P-1", "site_id": "S-1", "mentee_id": "E-1",
        "newcomer_kind": "new_to_profession", "department": "wing-B", "shifts": ["late"],
        "predecessor_duo_id": None}),
    ("duo:D-OLD", 2, "2025-01-31", {"reason": "rematched", "initiated_by": None,
                                    "exit_interview": False}),
    ("duo:D-1", 1, "2025-02-01", {
        "programme_id": "P-1", "site_id": "S-1", "mentee_id": "E-1",
        "newcomer_kind": "transferred", "department": "wing-A", "shifts": ["early", "late"],
        "predecessor_duo_id": "D-OLD"}),
    ("succession:D-OLD", 1, "2025-02-01", {"successor_duo_id": "D-1"}),
    ("duo:D-1", 2, "2025-02-01", {
        "respondent": "mentee", "phase": "pre",
        "scores": {"wellbeing": 2, "stress": 4, "integration": 1, "confidence": 3}}),
    ("duo:D-1", 3, "2025-02-02", {"consent": True}),
    ("duo:D-1", 4, "2025-02-03", {"mentor_id": "M-1", "mentor_kind": "peer",
                                  "shift_overlap": True, "same_department": True}),
    ("duo:D-1", 5, "2025-02-04", {}),
    ("duo:D-1", 6, "2025-02-05", {"contact_id": "K-1", "minutes": 45, "mode": "on_shift",
                                  "functions": ["career", "psychosocial"]}),
    ("duo:D-1", 7, "2025-02-06", {"contact_id": "K-2", "minutes": 10, "mode": "phone",
                                  "functions": ["psychosocial"]}),
    ("duo:D-1", 8, "2025-02-07", {"contact_id": "K-2", "reason": "wrong_duo"}),
    ("duo:D-1", 9, "2025-02-08", {"health": 4}),
    ("duo:D-1", 10, "2025-08-10", {"reason": "completed", "initiated_by": "coordinator",
                                   "exit_interview": True}),
]
"""Every fixture row, in order: originator, version, business date and the event's own
fields as JSON values (fields added later with defaults may come on top)."""


def stored_events() -> list[StoredEvent]:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    return [StoredEvent(originator_id=row["originator_id"],
                        originator_version=row["originator_version"], topic=row["topic"],
                        state=row["state"].encode("utf-8")) for row in rows]


def mapper() -> PydanticMapper:
    return PydanticMapper(transcoder=OrjsonTranscoder())


def test_the_fixture_has_one_row_per_expectation() -> None:
    assert [(s.originator_id, s.originator_version) for s in stored_events()] == [
        (oid, version) for oid, version, _, _ in EXPECTED]


def test_the_fixtures_cover_every_event_type() -> None:
    """A new event type needs rows in a new fixture (``events_*.jsonl``); old rows stay
    as they are."""
    topics = {json.loads(line)["topic"] for fixture in FIXTURE.parent.glob("events_*.jsonl")
              for line in fixture.read_text(encoding="utf-8").splitlines()}
    assert topics == set(registered_topics())


@pytest.mark.parametrize(("stored", "expected"), [
    pytest.param(stored, expected, id=f"{stored.originator_id}-v{stored.originator_version}")
    for stored, expected in zip(stored_events(), EXPECTED, strict=True)])
def test_each_v1_stored_event_loads_with_its_fields(
        stored: StoredEvent, expected: tuple[str, int, str, dict[str, Any]]) -> None:
    event = mapper().to_domain_event(stored)
    originator_id, version, occurred_on, data = expected
    assert type(event) is event_class_for_topic(stored.topic)
    assert (event.originator_id, event.originator_version) == (originator_id, version)
    assert event.occurred_on == date.fromisoformat(occurred_on)
    assert event.timestamp == RECORDED_AT
    assert event.command_id == ("fx-0001" if version == 1 and originator_id in (
        "programme:P-1", "command:fx-0001") else None)
    assert {k: event.data.get(k, "<missing>") for k in data} == data


def test_an_engine_on_a_store_holding_the_v1_rows_rebuilds_every_aggregate(
        tmp_path: Path) -> None:
    env = resolve_target(str(tmp_path / "v1.db")).env
    with Lifecycle(env, today=lambda: date(2026, 1, 1)) as engine:
        engine.app.recorder.insert_events(stored_events())
    with Lifecycle(env, today=lambda: date(2026, 1, 1)) as engine:
        duo = engine.get_duo("D-1")
        assert (duo.state.value, duo.closed_from.value, duo.close_reason.value) == (
            "closed", "active", "completed")
        assert duo.predecessor_duo_id == "D-OLD"
        assert {k: c.retracted for k, c in duo.contacts.items()} == {"K-1": False,
                                                                     "K-2": True}
        mentor = engine.app.repository.get("mentor:M-1")
        assert mentor.trained_on == date(2025, 1, 8)
        programme = engine.app.repository.get("programme:P-1")
        assert programme.policy.contact_interval_days == 10
        # The v1 idempotency digest still recognises the command it was made from.
        raw = {"type": "open_programme", "occurred_on": "2025-01-02", "programme_id": "P-1",
               "name": "Pilot programme", "country": "DK", "command_id": "fx-0001",
               "policy": {"contact_interval_days": 10, "mentor_kinds": ["peer"]}}
        assert engine.execute(parse_command(raw), raw) is Outcome.DUPLICATE


def test_the_mapper_reads_every_topic_without_the_aggregates_being_imported_first() -> None:
    """A reader of the store (an audit or analysis tool) needs only the mapper."""
    script = (
        "import json, sys\n"
        "from eventsourcing.persistence import StoredEvent\n"
        "from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper\n"
        "mapper = PydanticMapper(transcoder=OrjsonTranscoder())\n"
        "for line in open(sys.argv[1], encoding='utf-8'):\n"
        "    row = json.loads(line)\n"
        "    mapper.to_domain_event(StoredEvent(row['originator_id'],\n"
        "        row['originator_version'], row['topic'], row['state'].encode()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(FIXTURE)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
