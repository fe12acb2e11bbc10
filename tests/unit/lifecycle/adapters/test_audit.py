"""Audit verification (``lifecycle.adapters.audit``) on an in-memory reader: every problem it can
name, the digest an auditor keeps (and what a digest file must hold), and the refusal
to describe a broken history."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from lifecycle.adapters.audit import Damaged, Digest, Verification, make_digest, verify
from lifecycle.adapters.chain import GENESIS, link

EventRow = tuple[int, str, int, str, bytes]


@dataclass
class FakeReader:
    """A store's events and chain links held in lists (what ``ChainReader`` streams).

    ``batch`` splits the fast pass into several batches, as a large store would.
    """

    events: list[EventRow]
    links: list[tuple[int, bytes]]
    batch: int = 2
    location: str = "/fake/store.db"

    def joined(self) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
        by_position = dict(self.links)
        rows = [(*event, by_position.get(event[0])) for event in sorted(self.events)]
        for start in range(0, len(rows), self.batch):
            yield rows[start:start + self.batch], 0
        yield [], len(self.links)

    def walk(self) -> Iterator[tuple[EventRow | None, tuple[int, bytes] | None]]:
        events = {e[0]: e for e in self.events}
        links = dict(self.links)
        for position in sorted(events.keys() | links.keys()):
            found = links.get(position)
            yield events.get(position), (None if found is None else (position, found))


def history(count: int, first_position: int = 1, gap: int = 1) -> list[EventRow]:
    """``count`` events of one duo, at positions ``first_position``, +``gap``, ..."""
    topics = ("Recruited", "Selected", "Matched", "Activated", "ContactLogged")
    return [(first_position + i * gap, "duo:D-1", i + 1,
             f"lifecycle.Duo.{topics[i % len(topics)]}",
             json.dumps({"occurred_on": f"2025-02-{i + 1:02d}"}).encode())
            for i in range(count)]


def chained(events: list[EventRow]) -> list[tuple[int, bytes]]:
    """The correct chain links of ``events`` (in position order)."""
    links, previous = [], GENESIS
    for event in sorted(events):
        previous = link(previous, *event)
        links.append((event[0], previous))
    return links


def intact(count: int = 6, **kwargs: Any) -> FakeReader:
    events = history(count, **kwargs)
    return FakeReader(events, chained(events))


def digest_of(reader: FakeReader) -> Digest:
    return make_digest(reader)  # type: ignore[arg-type]


def check(reader: FakeReader, digest: Digest | None = None) -> Verification:
    return verify(reader, digest)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- intact histories
def test_an_intact_history_verifies_with_its_count_head_and_last_position() -> None:
    reader = intact(6)
    result = check(reader)
    assert result == Verification(True, 6, reader.links[-1][1].hex(), None, None, 6)


def test_an_empty_history_verifies_with_the_genesis_head() -> None:
    result = check(FakeReader([], []))
    assert (result.ok, result.events, result.head, result.last_position) == (
        True, 0, GENESIS.hex(), 0)


def test_positions_with_gaps_verify_when_the_links_were_written_for_them() -> None:
    reader = intact(5, first_position=10, gap=7)
    result = check(reader)
    assert result.ok
    assert result.last_position == 10 + 4 * 7


def test_progress_is_told_the_count_of_events_checked_after_each_batch() -> None:
    seen: list[int] = []
    result = verify(intact(5), progress=seen.append)  # type: ignore[arg-type]
    assert result.ok
    assert seen == [2, 4, 5]


def test_verification_as_json_has_the_documented_keys() -> None:
    assert check(intact(2)).as_json().keys() == {
        "ok", "events", "head", "last_position", "problem", "position"}


# ---------------------------------------------------------------------- each problem
def altered(reader: FakeReader, position: int, state: bytes) -> FakeReader:
    events = [(e[0], e[1], e[2], e[3], state) if e[0] == position else e
              for e in reader.events]
    return FakeReader(events, reader.links)


def test_an_altered_event_is_named_with_its_position_stream_and_version() -> None:
    reader = intact(6)
    result = check(altered(reader, 4, b'{"occurred_on":"2025-01-01"}'))
    assert not result.ok
    assert result.position == 4
    assert result.problem == ("event at position 4 (duo:D-1 v4) does not match the chain "
                              "(altered, reordered or forged)")
    assert (result.events, result.head) == (3, reader.links[2][1].hex())


def test_an_altered_chain_link_is_reported_at_its_position() -> None:
    reader = intact(6)
    links = [(p, bytes(32) if p == 2 else x) for p, x in reader.links]
    result = check(FakeReader(reader.events, links))
    assert (result.ok, result.position) == (False, 2)
    assert "does not match the chain" in (result.problem or "")


def test_an_event_without_a_chain_link_was_inserted_outside_the_engine() -> None:
    reader = intact(6)
    forged = (7, "duo:D-1", 7, "lifecycle.Duo.ContactLogged", b"{}")
    result = check(FakeReader([*reader.events, forged], reader.links))
    assert (result.ok, result.position, result.events) == (False, 7, 6)
    assert result.problem == ("event at position 7 has no chain link (inserted outside "
                              "the engine)")


def test_a_missing_event_whose_link_remains_is_reported_as_removed() -> None:
    reader = intact(6)
    result = check(FakeReader([e for e in reader.events if e[0] != 3], reader.links))
    assert (result.ok, result.position, result.events) == (False, 3, 2)
    assert result.problem == "event at position 3 was removed (its chain link remains)"


def test_a_chain_link_past_the_last_event_is_reported_as_a_removed_event() -> None:
    reader = intact(6)
    result = check(FakeReader(reader.events[:-1], reader.links))
    assert (result.ok, result.position) == (False, 6)
    assert "was removed" in (result.problem or "")


def test_an_event_removed_with_its_link_breaks_the_chain_at_the_next_event() -> None:
    reader = intact(6)
    result = check(FakeReader([e for e in reader.events if e[0] != 3],
                              [x for x in reader.links if x[0] != 3]))
    assert (result.ok, result.position) == (False, 4)
    assert "does not match the chain" in (result.problem or "")


def test_two_swapped_events_are_reported_at_the_first_of_them() -> None:
    reader = intact(6)
    by_position = {e[0]: e for e in reader.events}
    swapped = [(e[0], *by_position[{2: 5, 5: 2}.get(e[0], e[0])][1:]) for e in reader.events]
    result = check(FakeReader(swapped, reader.links))
    assert (result.ok, result.position) == (False, 2)


def test_a_rewritten_and_rechained_history_passes_alone_but_not_against_the_digest() -> None:
    reader = intact(6)
    digest = digest_of(reader)
    events = altered(reader, 2, b'{"occurred_on":"2024-12-31"}').events
    rewritten = FakeReader(events, chained(events))
    assert check(rewritten).ok
    result = check(rewritten, digest)
    assert (result.ok, result.position, result.events) == (False, 6, 6)
    assert result.problem == ("history differs from the digest: the event at position 6 "
                              "(number 6) is not the one the digest describes (the "
                              "history was rewritten)")


def test_a_digest_naming_another_last_position_is_a_rewritten_history() -> None:
    reader = intact(6)
    digest = digest_of(reader)
    moved = Digest(digest.events, digest.position + 1, digest.head, "", "")
    result = check(reader, moved)
    assert (result.ok, result.position) == (False, 6)
    assert "history differs from the digest" in (result.problem or "")


def test_a_truncated_history_is_caught_only_against_the_digest() -> None:
    reader = intact(6)
    digest = digest_of(reader)
    truncated = FakeReader(reader.events[:4], reader.links[:4])
    assert check(truncated).ok
    result = check(truncated, digest)
    assert (result.ok, result.position, result.events) == (False, None, 4)
    assert result.problem == ("history was truncated: the digest describes 6 events, the "
                              "store has 4")


def test_a_history_that_grew_after_the_digest_still_begins_with_it() -> None:
    digest = digest_of(intact(4))
    assert check(intact(9), digest).ok


def test_the_digest_check_stops_at_the_first_problem_before_the_digest_end() -> None:
    """An alteration before the digest's last event is named where it is, not at the
    digest's end."""
    reader = intact(6)
    digest = digest_of(reader)
    result = check(altered(reader, 3, b"x"), digest)
    assert (result.ok, result.position) == (False, 3)
    assert "does not match the chain" in (result.problem or "")


@dataclass
class DamagedReader(FakeReader):
    """A source that cannot be read past the event at ``damaged_at`` (as an export
    with a broken line there)."""

    damaged_at: int = 0

    def joined(self) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
        for rows, count in super().joined():
            kept = [row for row in rows if row[0] < self.damaged_at]
            if kept:
                yield kept, count
            if len(kept) < len(rows) or not rows:
                raise Damaged(f"line at {self.damaged_at} is not a record", self.damaged_at)

    def walk(self) -> Iterator[tuple[EventRow | None, tuple[int, bytes] | None]]:
        for event, chained in super().walk():
            if (event or chained or (0,))[0] >= self.damaged_at:
                raise Damaged(f"line at {self.damaged_at} is not a record", self.damaged_at)
            yield event, chained


def test_a_source_that_breaks_off_is_reported_where_it_broke_with_what_verified_before(
        ) -> None:
    reader = intact(6)
    result = check(DamagedReader(reader.events, reader.links, damaged_at=5))
    assert result == Verification(False, 4, reader.links[3][1].hex(),
                                  "line at 5 is not a record", 5)


def test_a_chain_problem_before_the_damage_is_the_one_reported() -> None:
    reader = altered(intact(6), 2, b"{}")
    result = check(DamagedReader(reader.events, reader.links, damaged_at=5))
    assert (result.ok, result.position) == (False, 2)
    assert "does not match the chain" in str(result.problem)


# ---------------------------------------------------------------------- make_digest
def test_make_digest_describes_count_last_position_head_and_store() -> None:
    reader = intact(5, first_position=3, gap=2)
    digest = digest_of(reader)
    assert (digest.events, digest.position, digest.head, digest.store) == (
        5, 11, reader.links[-1][1].hex(), "/fake/store.db")
    assert datetime.fromisoformat(digest.created_at).tzinfo is not None


@pytest.mark.parametrize("breaking", [
    lambda r: altered(r, 2, b"{}"),
    lambda r: FakeReader(r.events[:-1], r.links),
    lambda r: FakeReader(r.events, r.links[:-1]),
], ids=["altered", "event-removed", "link-missing"])
def test_make_digest_refuses_a_broken_history(
        breaking: Callable[[FakeReader], FakeReader]) -> None:
    with pytest.raises(ValueError, match="cannot make a digest of a broken history: event at"):
        digest_of(breaking(intact(4)))


def test_a_digest_round_trips_through_its_json() -> None:
    digest = digest_of(intact(3))
    data = json.loads(json.dumps(digest.as_json()))
    assert data["algorithm"] == "sha256-chain-v1"
    assert Digest.from_json(data) == digest


# ---------------------------------------------------------------------- Digest.from_json
GOOD = {"events": 3, "position": 3, "head": "ab" * 32, "algorithm": "sha256-chain-v1",
        "created_at": "2026-01-01T00:00:00+00:00", "store": "/x.db"}


def test_from_json_accepts_a_digest_without_its_informative_fields() -> None:
    digest = Digest.from_json({"events": 0, "position": 0, "head": GENESIS.hex()})
    assert (digest.events, digest.position, digest.created_at, digest.store) == (0, 0, "", "")


@pytest.mark.parametrize("data", [
    {"position": 3, "head": "ab" * 32},
    {"events": 3, "head": "ab" * 32},
    {"events": 3, "position": 3},
    [3, 3, "ab" * 32],
    None,
    "a digest",
], ids=["no-events", "no-position", "no-head", "a-list", "null", "a-string"])
def test_from_json_refuses_what_is_not_a_digest_object(data: Any) -> None:
    with pytest.raises(ValueError, match="not a digest: needs events, position and head"):
        Digest.from_json(data)


@pytest.mark.parametrize("change", [
    {"events": "3"},
    {"events": 3.0},
    {"position": None},
    {"position": "3"},
    {"head": 3},
    {"head": None},
], ids=["events-text", "events-float", "position-null", "position-text", "head-int",
        "head-null"])
def test_from_json_refuses_fields_of_the_wrong_type(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="events and position are ints, head a string"):
        Digest.from_json({**GOOD, **change})


@pytest.mark.parametrize("change", [
    {"events": True},
    {"position": False},
    {"events": -1},
    {"position": -5},
    {"head": "not-a-sha256-head"},
    {"head": "ab" * 31},
    {"algorithm": "sha512-chain-v9"},
], ids=["events-bool", "position-bool", "events-negative", "position-negative",
        "head-not-hex", "head-too-short", "unknown-algorithm"])
def test_from_json_refuses_a_digest_that_cannot_describe_a_sha256_chain(
        change: dict[str, Any]) -> None:
    """A malformed digest must be a usage error, not a verdict on the store: verifying
    against a head that no SHA-256 chain can have would blame the history ("rewritten")
    for a broken digest file."""
    with pytest.raises(ValueError):
        Digest.from_json({**GOOD, **change})
