"""How events become stored bytes and back: a pydantic mapper and an orjson transcoder.

The stored state of an event is the orjson encoding of its own fields (plus
``class_version`` when above 1); the topic is the event's explicit ``TOPIC``, so classes
can be renamed or moved without breaking stored history.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import (
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
)

# Importing the aggregates registers every event topic, so a reader of the store that
# never touched the domain can still decode what it finds.
from lifecycle.domain import duo, markers, mentor, programme, site  # noqa: F401
from lifecycle.domain.base import DomainEvent, event_class_for_topic

_BASE_FIELDS = {"originator_id", "originator_version"}


def upcast(cls: type[DomainEvent], state: dict[str, Any]) -> dict[str, Any]:
    """Bring the stored payload of an event of ``cls`` up to the class's current version,
    in place: its ``class_version`` (1 when absent) is removed and each upcaster
    ``upcast_vN_vM`` from there on is applied in turn."""
    version = state.pop("class_version", 1)
    while version < cls.class_version:
        getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
        version += 1
    return state


class OrjsonTranscoder(Transcoder):
    """JSON bytes via orjson (dates and datetimes as ISO strings, keys in field order)."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class PydanticMapper(Mapper[str]):
    """Maps frozen pydantic events to stored events and back, upcasting old versions."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event: DomainEvent = domain_event
        cls = type(event)
        if cls.class_version == 1 and type(self.transcoder) is OrjsonTranscoder:
            # The very bytes orjson makes of the dump below (the same serialiser writes
            # compact UTF-8 JSON in the same key order), without the dict in between:
            # this halves the cost of storing an event.
            stored = cls.__pydantic_serializer__.to_json(event, exclude=_BASE_FIELDS)
        else:
            state = event.model_dump(mode="json", exclude=_BASE_FIELDS)
            if cls.class_version > 1:
                state["class_version"] = cls.class_version
            stored = self.transcoder.encode(state)
        if self.compressor:
            stored = self.compressor.compress(stored)
        if self.cipher:
            stored = self.cipher.encrypt(stored)
        return StoredEvent(event.originator_id, event.originator_version, cls.TOPIC, stored)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        try:
            cls = event_class_for_topic(stored_event.topic)
            data = stored_event.state
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            state: dict[str, Any] = self.transcoder.decode(data)
        except Exception as exc:
            raise MapperDeserialisationError(
                f"cannot read stored event {stored_event.originator_id!s} "
                f"v{stored_event.originator_version} ({stored_event.topic}): {exc}"
            ) from exc
        upcast(cls, state)
        state["originator_id"] = str(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        return cls.model_validate(state)
