"""How events become stored bytes and back: a pydantic mapper and an orjson transcoder.

The stored state of an event is the orjson encoding of its own fields (plus
``class_version`` when above 1); the topic is the event's explicit ``TOPIC``, so classes
can be renamed or moved without breaking stored history.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from lifecycle.adapters.sealing import Sealing

_BASE_FIELDS = {"originator_id", "originator_version"}
_PLAIN_EXCLUDE: dict[type[DomainEvent], set[str]] = {
    mentor.Mentor.Registered: _BASE_FIELDS | {"mentor_id"}}
"""What a plain store leaves out of an event: a mentor's id is its stream's name."""
_REGISTERED = mentor.Mentor.Registered

_PLAIN_TYPES = frozenset({"str", "int", "bool", "enum", "tuple", "list", "nullable", "default",
                          "literal", "function-after", "function-before"})
"""Core schema types whose JSON pydantic writes exactly as orjson writes the value itself
(for an enum: its value; validators only: they do not change what is serialised)."""
_OWN_DATES = frozenset({"timestamp", "occurred_on"})
_MINUTE = timedelta(minutes=1)
_plain: dict[type[DomainEvent], bool] = {}


def _is_plain(cls: type[DomainEvent]) -> bool:
    """Whether orjson writes the very bytes pydantic writes for every event of ``cls``:
    version 1, no serialiser of its own, and besides the base fields only plain values
    (strings, integers, booleans, enums of strings, tuples and lists of them, None)."""
    found = _plain.get(cls)
    if found is None:
        found = cls.class_version == 1 and _plain_schema(cls.__pydantic_core_schema__)
        _plain[cls] = found
    return found


def _plain_schema(schema: Any) -> bool:
    while schema.get("type") != "model-fields":
        if "serialization" in schema or "schema" not in schema:
            return False
        schema = schema["schema"]
    if schema.get("computed_fields"):
        return False
    return all(
        name in _BASE_FIELDS or name in _OWN_DATES or _plain_node(field["schema"])
        for name, field in schema["fields"].items()
    ) and all(name in schema["fields"] for name in _OWN_DATES)


def _plain_node(node: Any) -> bool:
    if isinstance(node, list):
        return all(_plain_node(item) for item in node)
    if not isinstance(node, dict):
        return True
    if "serialization" in node:
        return False
    kind = node.get("type")
    if kind is not None and kind not in _PLAIN_TYPES:
        return False
    if kind == "enum" and node.get("sub_type") != "str":
        return False
    return all(_plain_node(value) for key, value in node.items()
               if key not in ("metadata", "cls", "members", "ref"))


def _plain_fields(event: DomainEvent) -> dict[str, Any] | None:
    """The fields of a plain event to be written by orjson, or None when a date is one
    whose JSON the two may write differently (then pydantic's serialiser writes it)."""
    state = event.__dict__.copy()
    del state["originator_id"]
    del state["originator_version"]
    stamp = state["timestamp"]
    if type(stamp) is not datetime or type(state["occurred_on"]) is not date:
        return None
    if stamp.tzinfo is not UTC:
        # pydantic writes an offset to the minute; orjson would round a finer one.
        offset = stamp.utcoffset()
        if offset is not None and offset % _MINUTE:
            return None
    return state


def _plain_json(state: dict[str, Any]) -> bytes | None:
    """orjson's JSON of :func:`_plain_fields`, or None when it refuses a value (e.g. an
    integer beyond 64 bits, which pydantic writes)."""
    try:
        return orjson.dumps(state, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        return None


def _plain_state(event: DomainEvent) -> bytes | None:
    """The stored state of a plain event straight from its fields by orjson (half the cost
    of pydantic's serialiser), or None when pydantic's serialiser must write it."""
    state = _plain_fields(event)
    return None if state is None else _plain_json(state)


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
    """Maps frozen pydantic events to stored events and back, upcasting old versions.

    With a :class:`~lifecycle.adapters.sealing.Sealing` (a sealed store, ADR 34) the
    events' personal fields are stored sealed (:meth:`to_sealed_event`) and opened when
    read (None where they cannot be).
    """

    sealing: Sealing | None = None

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        return self.to_sealed_event(domain_event, None)

    def to_sealed_event(self, domain_event: Any,
                        owners: Mapping[str, str] | None) -> StoredEvent:
        """The stored event, its fields named in ``owners`` (field → the reference of
        the person it belongs to) sealed under that person's key."""
        event: DomainEvent = domain_event
        cls = type(event)
        stored: bytes | None = None
        if owners and self.sealing is not None:
            fields: dict[str, Any] | None = None
            if (cls.class_version == 1 and type(self.transcoder) is OrjsonTranscoder
                    and _is_plain(cls)):
                # As for a plain event below (ADR 42): each personal field's JSON, sealed,
                # and the event's, written from its own fields by orjson (ADR 45).
                fields = _plain_fields(event)
                if fields is not None:
                    stored = _plain_json(self.sealing.seal(fields, owners))
            if stored is None:
                state = event.model_dump(mode="json", exclude=_BASE_FIELDS)
                if cls.class_version > 1:
                    state["class_version"] = cls.class_version
                stored = self.transcoder.encode(self.sealing.seal(state, owners))
        elif cls.class_version == 1 and type(self.transcoder) is OrjsonTranscoder:
            # The very bytes orjson makes of the dump below (the same serialiser writes
            # compact UTF-8 JSON in the same key order), without the dict in between:
            # this halves the cost of storing an event. A plain event's fields are
            # written by orjson itself, which writes the same bytes in half the time
            # (ADR 42).
            exclude = _BASE_FIELDS if self.sealing is not None else _PLAIN_EXCLUDE.get(
                cls, _BASE_FIELDS)
            if exclude is _BASE_FIELDS and _is_plain(cls):
                stored = _plain_state(event)
            if stored is None:
                stored = cls.__pydantic_serializer__.to_json(event, exclude=exclude)
        else:
            exclude = _BASE_FIELDS if self.sealing is not None else _PLAIN_EXCLUDE.get(
                cls, _BASE_FIELDS)
            state = event.model_dump(mode="json", exclude=exclude)
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
        if self.sealing is not None:
            self.sealing.open(state)
        elif cls is _REGISTERED and "mentor_id" not in state:
            state["mentor_id"] = str(stored_event.originator_id).partition(":")[2]
        state["originator_id"] = str(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        return cls.model_validate(state)
