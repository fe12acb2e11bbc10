"""How events become stored bytes (``lifecycle.adapters.persistence``) and how the engine builds
them (``DomainEvent.from_validated``): both are shortcuts that must change nothing.

The stored bytes are a format (the audit chain hashes them, old rows must keep
loading), so the mapper's direct serialisation must give exactly the bytes of orjson
over the event's JSON dump, and ``from_validated`` exactly the event
``model_construct`` gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import StoredEvent, Transcoder

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from lifecycle.domain.base import DomainEvent, registered_topics
from lifecycle.domain.mentor import Mentor

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "events_v1.jsonl"
_BASE = {"originator_id", "originator_version"}


def fixture_rows() -> list[StoredEvent]:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    return [StoredEvent(row["originator_id"], row["originator_version"], row["topic"],
                        row["state"].encode("utf-8")) for row in rows]


def mapper() -> PydanticMapper:
    return PydanticMapper(transcoder=OrjsonTranscoder())


def fields_of(event: DomainEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in type(event).model_fields}


@pytest.mark.parametrize("stored", fixture_rows(),
                         ids=lambda s: f"{s.originator_id}-v{s.originator_version}")
def test_every_v1_row_is_stored_again_as_the_very_same_bytes(stored: StoredEvent) -> None:
    again = mapper().to_stored_event(mapper().to_domain_event(stored))
    assert (again.originator_id, again.originator_version, again.topic, again.state) == (
        stored.originator_id, stored.originator_version, stored.topic, stored.state)


class _PlainOrjson(Transcoder):
    """Encodes like OrjsonTranscoder, but is not one: the mapper takes its general path."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


TEXTS = [
    "".join(map(chr, range(128))),  # every ASCII character, control characters too
    "é ü ß 中文 🎉 \u2028 \u2029 \ufeff \x7f \x85",
    'a/b\\c"d\'e',
    "\U0010ffff",
]
RECORDED = [
    datetime(2025, 6, 1, 9, 30, 15, 123456, tzinfo=UTC),
    datetime(2025, 6, 1, 9, 30, 15, tzinfo=UTC),
    datetime(2025, 6, 1, 9, 30, 15, 120000, tzinfo=UTC),
    datetime(2025, 6, 1, 9, 30, 15, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    datetime(2025, 6, 1, 9, 30, 15, 5),
]



def _fixture_events(text: str, recorded_at: datetime) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Every fixture event with ``text`` for its name and department and ``recorded_at``
    for its time, with its field values."""
    for stored in fixture_rows():
        event = mapper().to_domain_event(stored)
        values = fields_of(event) | {"timestamp": recorded_at}
        for name in ("name", "department"):
            if name in values:
                values[name] = text
        yield type(event).model_construct(**values), values

@pytest.mark.parametrize("recorded_at", RECORDED, ids=str)
@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_the_direct_serialisation_equals_orjson_over_the_json_dump(
        text: str, recorded_at: datetime) -> None:
    for event, _values in _fixture_events(text, recorded_at):
        general = PydanticMapper(transcoder=_PlainOrjson()).to_stored_event(event).state
        # A plain store names a mentor by the stream alone (a sealed one seals the id).
        own = {"mentor_id"} if isinstance(event, Mentor.Registered) else set()
        assert general == orjson.dumps(event.model_dump(mode="json", exclude=_BASE | own))
        assert mapper().to_stored_event(event).state == general


@pytest.mark.parametrize("stored", fixture_rows(),
                         ids=lambda s: f"{s.originator_id}-v{s.originator_version}")
def test_from_validated_builds_what_model_construct_builds(stored: StoredEvent) -> None:
    values = fields_of(mapper().to_domain_event(stored))
    cls = type(mapper().to_domain_event(stored))
    made, constructed = cls.from_validated(**values), cls.model_construct(**values)
    assert made == constructed
    assert list(made.__dict__) == list(constructed.__dict__)  # the serialisation order
    assert made.model_fields_set == constructed.model_fields_set
    assert mapper().to_stored_event(made).state == stored.state


def test_from_validated_fills_in_defaults_in_field_order() -> None:
    closed = registered_topics()["lifecycle.Duo.Closed"]
    made = closed.from_validated(originator_id="duo:D-1", originator_version=2,
                                 timestamp=RECORDED[0], occurred_on=date(2025, 3, 1),
                                 reason="other")
    constructed = closed.model_construct(originator_id="duo:D-1", originator_version=2,
                                         timestamp=RECORDED[0], occurred_on=date(2025, 3, 1),
                                         reason="other")
    assert list(made.__dict__.items()) == list(constructed.__dict__.items())
    assert made.model_fields_set == constructed.model_fields_set


def test_from_validated_refuses_to_leave_a_required_field_out() -> None:
    reviewed = registered_topics()["lifecycle.Duo.Reviewed"]
    with pytest.raises(TypeError, match="health"):
        reviewed.from_validated(originator_id="duo:D-1", originator_version=2,
                                timestamp=RECORDED[0], occurred_on=date(2025, 3, 1))


def test_the_events_of_a_bulk_import_are_written_by_orjson_itself() -> None:
    """ADR 42: the plain events (every kind an import writes in bulk) take the fast path;
    the two with a nested model of their own take pydantic's serialiser."""
    from lifecycle.adapters.persistence import _is_plain

    topics = registered_topics()
    for topic in ("lifecycle.Duo.ContactLogged", "lifecycle.Duo.Recruited",
                  "lifecycle.Duo.Corrected", "lifecycle.AppliedCommand.Applied",
                  "lifecycle.AppliedContent.Applied", "lifecycle.Mentor.Registered"):
        assert _is_plain(topics[topic]), topic
    for topic in ("lifecycle.Programme.Opened", "lifecycle.Duo.SurveyRecorded"):
        assert not _is_plain(topics[topic]), topic


@pytest.mark.parametrize("recorded_at", [
    datetime(2025, 6, 1, 9, 30, 15, 5, tzinfo=timezone(timedelta(seconds=37))),
    datetime(2025, 6, 1, 9, 30, 15, 5, tzinfo=timezone(timedelta(hours=5, seconds=-1))),
], ids=str)
def test_an_offset_finer_than_a_minute_is_written_as_pydantic_writes_it(
        recorded_at: datetime) -> None:
    """orjson would round the offset where pydantic truncates it: such a stamp takes
    pydantic's serialiser."""
    reviewed = registered_topics()["lifecycle.Duo.Reviewed"]
    event = reviewed.from_validated(originator_id="duo:D-1", originator_version=2,
                                    timestamp=recorded_at, occurred_on=date(2025, 3, 1),
                                    health=3)
    assert mapper().to_stored_event(event).state == orjson.dumps(
        event.model_dump(mode="json", exclude=_BASE))


def test_a_value_orjson_cannot_write_is_written_by_pydantic() -> None:
    """An integer beyond 64 bits (no rule bounds every integer a Python caller may build):
    orjson refuses it, and pydantic's serialiser writes it as before."""
    registered = registered_topics()["lifecycle.Mentor.Registered"]
    event = registered.from_validated(
        originator_id="mentor:M-1", originator_version=1, timestamp=RECORDED[0],
        occurred_on=date(2025, 3, 1), programme_id="P-1", site_id="S-1",
        department="wing-a", shifts=("early",), years_experience=2**70)
    state = mapper().to_stored_event(event).state
    # A plain store leaves the mentor's id out (it is the stream's name, ADR 34).
    assert state == registered.__pydantic_serializer__.to_json(
        event, exclude=_BASE | {"mentor_id"})
    assert b'"years_experience":1180591620717411303424' in state


_PERSONAL = ("mentee_id", "department", "shifts", "mentor_id", "health", "scores",
             "years_experience", "module")


class _ClearSealing:
    """Seals a field as ``enc1:<reference>:`` and the very JSON the real sealing would
    encrypt, in clear: two mappers' bytes can then be compared (real ones differ by
    their random nonces)."""

    def seal(self, state: dict[str, Any], owners: dict[str, str]) -> dict[str, Any]:
        for field, reference in owners.items():
            if field in state:
                state[field] = f"enc1:{reference}:" + orjson.dumps(state[field]).decode()
        return state


def sealing_mapper(transcoder: Transcoder) -> PydanticMapper:
    mapped = PydanticMapper(transcoder=transcoder)
    mapped.sealing = _ClearSealing()  # type: ignore[assignment]
    return mapped


@pytest.mark.parametrize("recorded_at", RECORDED, ids=str)
@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_a_sealed_event_written_by_orjson_seals_what_the_json_dump_seals(
        text: str, recorded_at: datetime) -> None:
    """ADR 45: the events with personal fields take orjson's path too; the JSON sealed of
    each field, and the bytes around the sealed fields, are those of the dump."""
    for event, values in _fixture_events(text, recorded_at):
        owners = {field: "ref-1" for field in _PERSONAL if field in values}
        general = sealing_mapper(_PlainOrjson()).to_sealed_event(event, owners).state
        dump = event.model_dump(mode="json", exclude=_BASE)
        assert general == orjson.dumps(_ClearSealing().seal(dump, owners))
        assert sealing_mapper(OrjsonTranscoder()).to_sealed_event(event, owners).state \
            == general
