"""Events of contract v2 are a storage format too, and v1 stores keep loading.

``tests/fixtures/events_v2.jsonl`` holds stored events written once by
``lifecycle.adapters.persistence.PydanticMapper`` for the event types contract v2 added (a
correction, a departure and its chain marker, a mentor's deregistration, the marker of a
command without id) and a programme whose policy sets the v2 keys. The rows continue the
streams of ``events_v1.jsonl``. Never regenerate it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import StoredEvent

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle
from lifecycle.domain.duo import Duo
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.vocabulary import Policy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDED_AT = datetime(2025, 12, 1, 8, 0, 5, 654321, tzinfo=UTC)

EXPECTED: list[tuple[str, int, str, str | None, dict[str, Any]]] = [
    ("programme:P-2", 1, "2025-01-02", "fx2-0001", {
        "name": "Second pilot", "country": "PT",
        "policy": {"min_duration_days": 182, "max_duration_days": 365,
                   "contact_interval_days": 14, "first_meeting_within_days": 14,
                   "mentor_kinds": ["peer", "supervisor"], "require_trained_mentor": True,
                   "reviews_first_interval": 3, "review_interval_days": 28,
                   "max_duos_per_mentor": 2}}),
    ("mentor:M-1", 7, "2025-11-20", "fx2-0002", {"reason": "left_service"}),
    ("duo:D-1", 11, "2025-11-25", "fx2-0003", {
        "fact": "activated_on", "value": "2025-02-03", "previous": "2025-02-04"}),
    ("duo:D-1", 12, "2025-11-25", None, {
        "fact": "close_reason", "value": "programme_ended", "previous": "completed"}),
    ("duo:D-1", 13, "2025-11-30", "fx2-0004", {"reason": "resigned"}),
    ("departure:D-OLD", 1, "2025-11-30", "fx2-0004", {"duo_id": "D-1"}),
    ("content:" + "ab" * 32, 1, "2025-11-25", None, {}),
]


def stored_events(name: str) -> list[StoredEvent]:
    rows = [json.loads(line)
            for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines()]
    return [StoredEvent(originator_id=row["originator_id"],
                        originator_version=row["originator_version"], topic=row["topic"],
                        state=row["state"].encode("utf-8")) for row in rows]


def mapper() -> PydanticMapper:
    return PydanticMapper(transcoder=OrjsonTranscoder())


@pytest.mark.parametrize(("stored", "expected"), [
    pytest.param(stored, expected, id=f"{stored.originator_id[:20]}-v{stored.originator_version}")
    for stored, expected in zip(stored_events("events_v2.jsonl"), EXPECTED, strict=True)])
def test_each_v2_stored_event_loads_with_its_fields_and_stores_the_same_bytes(
        stored: StoredEvent, expected: tuple[str, int, str, str | None, dict[str, Any]]
) -> None:
    event = mapper().to_domain_event(stored)
    originator_id, version, occurred_on, command_id, data = expected
    assert (event.originator_id, event.originator_version) == (originator_id, version)
    assert event.occurred_on == date.fromisoformat(occurred_on)
    assert (event.timestamp, event.command_id) == (RECORDED_AT, command_id)
    assert event.data == data
    assert mapper().to_stored_event(event).state == stored.state


def test_a_policy_at_its_v2_defaults_is_stored_as_a_v1_policy() -> None:
    """The v2 keys are left out at their defaults, so v1 bytes stay what they were."""
    assert orjson.loads(Policy().model_dump_json()) == {
        "min_duration_days": 182, "max_duration_days": 365, "contact_interval_days": 14,
        "first_meeting_within_days": 14, "mentor_kinds": ["peer", "supervisor"],
        "require_trained_mentor": True}
    assert Policy.model_validate_json(Policy(max_duos_per_mentor=5).model_dump_json()) == \
        Policy(max_duos_per_mentor=5)


def test_a_correction_naming_a_value_of_another_fact_does_not_load() -> None:
    row = stored_events("events_v2.jsonl")[2]
    state = orjson.loads(row.state) | {"value": "completed"}
    broken = StoredEvent(row.originator_id, row.originator_version, row.topic,
                         orjson.dumps(state))
    with pytest.raises(Exception, match="YYYY-MM-DD"):
        mapper().to_domain_event(broken)


def test_events_holding_free_text_departments_written_before_v2_still_load() -> None:
    """Departments became codes in v2; stores holding free text there keep working."""
    v1 = {row.originator_id + str(row.originator_version): row
          for row in stored_events("events_v1.jsonl")}
    for key, cls in (("mentor:M-11", Mentor.Registered), ("duo:D-OLD1", Duo.Recruited)):
        row = v1[key]
        state = orjson.loads(row.state) | {"department": "Wing A (north), 2nd floor"}
        event = mapper().to_domain_event(
            StoredEvent(row.originator_id, row.originator_version, row.topic,
                        orjson.dumps(state)))
        assert isinstance(event, cls)
        assert event.department == "Wing A (north), 2nd floor"


def test_an_engine_on_a_store_holding_the_v1_and_v2_rows_rebuilds_every_aggregate(
        tmp_path: Path) -> None:
    env = resolve_target(str(tmp_path / "v2.db")).env
    with Lifecycle(env, today=lambda: date(2026, 1, 1)) as engine:
        engine.app.recorder.insert_events(
            [*stored_events("events_v1.jsonl"), *stored_events("events_v2.jsonl")])
    with Lifecycle(env, today=lambda: date(2026, 1, 1)) as engine:
        duo = engine.get_duo("D-1")
        assert (duo.activated_on, duo.close_reason.value if duo.close_reason else None) == (
            date(2025, 2, 3), "programme_ended")
        assert duo.departed_on == date(2025, 11, 30)
        mentor = engine.app.repository.get("mentor:M-1")
        assert mentor.deregistered_on == date(2025, 11, 20)
        programme = engine.app.repository.get("programme:P-2")
        assert (programme.policy.reviews_first_interval, programme.policy.review_interval_days,
                programme.policy.max_duos_per_mentor) == (3, 28, 2)
        old = engine.app.repository.get("programme:P-1")
        assert (old.policy.reviews_first_interval, old.policy.review_interval_days,
                old.policy.max_duos_per_mentor) == (2, 30, 3)
