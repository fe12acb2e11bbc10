"""The audit hash chain's link (``lifecycle.adapters.chain``): its exact byte layout, a fixed
genesis, fields that cannot shift into each other, and order that matters.

Saved digests hold chain heads, so the layout is a storage format: the known-answer
vector below pins ``sha256-chain-v1``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import pytest

from lifecycle.adapters.chain import GENESIS, HEADER, link, link_each

Event = tuple[int, str, int, str, bytes]
"""(position, originator_id, version, topic, state), as stored."""

RECRUITED: Event = (1, "duo:D-1", 1, "lifecycle.Duo.Recruited", b'{"a":1}')
SELECTED: Event = (2, "duo:D-1", 2, "lifecycle.Duo.Selected", b"{}")


def by_hand(previous: bytes, position: int, oid: str, version: int, topic: str,
            state: bytes) -> bytes:
    """The link as the module docstring describes it, computed independently."""
    oid_bytes, topic_bytes = oid.encode("utf-8"), topic.encode("utf-8")
    header = struct.pack(">qqII", position, version, len(oid_bytes), len(topic_bytes))
    return hashlib.sha256(previous + header + oid_bytes + topic_bytes + state).digest()


def head_of(events: Sequence[Event]) -> bytes:
    previous = GENESIS
    for event in events:
        previous = link(previous, *event)
    return previous


def test_genesis_is_thirty_two_zero_bytes() -> None:
    assert GENESIS == b"\x00" * 32


def test_header_is_big_endian_int64_int64_uint32_uint32() -> None:
    assert HEADER.format == ">qqII"
    assert HEADER.size == 24
    assert HEADER.pack(2, 2, 7, 22).hex() == (
        "0000000000000002" "0000000000000002" "00000007" "00000016")


def test_first_link_matches_the_pinned_known_answer_vector() -> None:
    assert link(GENESIS, *RECRUITED).hex() == (
        "19eaf18a7dae3842a95856ad8d34e89a67f322f44c7596403e89bea36a87c38c")


@pytest.mark.parametrize("event", [
    RECRUITED,
    SELECTED,
    (9_000_000_000, "command:c-0001", 1, "lifecycle.AppliedCommand.Applied", b"\x00\xff"),
    (3, "duo:Dé-ü", 7, "lifecycle.Duo.ContactLogged", "ø".encode()),  # multi-byte UTF-8
    (4, "x", 1, "t", b""),                                              # empty state
])
def test_link_is_sha256_of_previous_header_id_topic_and_state_as_stored(
        event: Event) -> None:
    previous = hashlib.sha256(b"some earlier link").digest()
    assert link(previous, *event) == by_hand(previous, *event)


def test_lengths_in_the_header_count_utf8_bytes_not_characters() -> None:
    oid = "duo:Ærø"  # 7 characters, 9 bytes
    header = by_hand(GENESIS, 1, oid, 1, "t", b"")
    assert link(GENESIS, 1, oid, 1, "t", b"") == header
    assert HEADER.unpack(HEADER.pack(1, 1, len(oid.encode()), 1))[2] == 9


def test_a_link_is_thirty_two_bytes() -> None:
    assert len(link(GENESIS, *RECRUITED)) == 32


@pytest.mark.parametrize(("left", "right"), [
    # The same concatenated bytes, split differently between originator id, topic, state.
    ((1, "duo:D-1x", 1, "topic", b"state"), (1, "duo:D-1", 1, "xtopic", b"state")),
    ((1, "duo:D-1", 1, "topicx", b"state"), (1, "duo:D-1", 1, "topic", b"xstate")),
    ((1, "duo:D-1", 1, "", b"topicstate"), (1, "duo:D-1", 1, "topic", b"state")),
    ((1, "", 1, "duo:D-1topic", b"state"), (1, "duo:D-1", 1, "topic", b"state")),
    ((1, "aé", 1, "b", b""), (1, "a", 1, "éb", b"")),
    # Position and version swapped.
    ((1, "duo:D-1", 2, "topic", b"state"), (2, "duo:D-1", 1, "topic", b"state")),
    # Digits moved from a number into the id.
    ((12, "duo:D-1", 1, "topic", b"state"), (1, "2duo:D-1", 1, "topic", b"state")),
])
def test_bytes_cannot_shift_between_fields_without_changing_the_link(
        left: Event, right: Event) -> None:
    flat = [b"".join((e[1].encode(), e[3].encode(), e[4])) for e in (left, right)]
    if left[0] == right[0] and left[2] == right[2]:
        assert flat[0] == flat[1], "the pair must only move bytes across a boundary"
    assert link(GENESIS, *left) != link(GENESIS, *right)


@pytest.mark.parametrize("field", range(5))
def test_changing_any_single_field_changes_the_link(field: int) -> None:
    changed: list[object] = list(SELECTED)
    changed[field] = {0: 3, 1: "duo:D-2", 2: 3, 3: "lifecycle.Duo.Matched",
                      4: b"{ }"}[field]
    assert link(GENESIS, *SELECTED) != link(GENESIS, *changed)  # type: ignore[arg-type]


def test_the_previous_link_is_part_of_the_hash() -> None:
    other = b"\x00" * 31 + b"\x01"
    assert link(GENESIS, *SELECTED) != link(other, *SELECTED)


def test_order_of_events_matters() -> None:
    """Swapping two events (with or without their positions) gives another head."""
    swapped_contents = [(1, *SELECTED[1:]), (2, *RECRUITED[1:])]
    swapped_positions = [SELECTED, RECRUITED]
    heads = {head_of([RECRUITED, SELECTED]), head_of(swapped_contents),
             head_of(swapped_positions)}
    assert len(heads) == 3


def test_chaining_depends_on_every_earlier_event() -> None:
    """Changing the first event changes every later link, not only its own."""
    later = (3, "duo:D-1", 3, "lifecycle.Duo.Matched", b"{}")
    original = head_of([RECRUITED, SELECTED, later])
    altered = head_of([(1, "duo:D-1", 1, "lifecycle.Duo.Recruited", b'{"a":2}'),
                       SELECTED, later])
    assert original != altered


def test_link_is_deterministic() -> None:
    assert link(GENESIS, *RECRUITED) == link(GENESIS, *RECRUITED)


def test_link_each_gives_the_links_of_link_in_turn() -> None:
    """The recorders' loop (``link_each``) computes exactly what ``link`` does, event by
    event, with ids and topics of several characters' widths."""
    events: list[Event] = [RECRUITED, SELECTED,
                           (7, "duo:Å-1", 3, "lifecycle.Duo.Selected", b"{}"),
                           (9, "mentor:中-2", 1, "lifecycle.Mentor.Registered",
                            b'{"x":"\xc3\xa5"}')]
    previous, expected = GENESIS, []
    for event in events:
        previous = by_hand(previous, *event)
        expected.append((event[0], previous))
    assert link_each(GENESIS, events) == expected
