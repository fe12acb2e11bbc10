"""Builders shared by the export tests (unit: ``tests/unit/lifecycle/adapters/
test_export.py``; integration: ``tests/integration/test_export_split.py``): an in-memory
store of records as ``ChainReader.record_batches()`` yields them from SQLite, and the
edits of an export file an auditor might find, with what ``audit verify --export``
must say about each.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from lifecycle.adapters.audit import EventRow, LinkRow, Record, _event_row, _link_row
from lifecycle.adapters.chain import GENESIS, link_bytes


@dataclass
class FakeStore:
    """Records held in a list (events, links without their event, signed heads), read
    as the store's reader reads its tables."""

    rows: list[Record]
    location: str = "/fake/store.db"

    def record_batches(self) -> Iterator[list[Record]]:
        for start in range(0, len(self.rows), 2):
            yield self.rows[start:start + 2]

    def joined(self) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
        events = [row for row in self.rows if len(row) == 6]
        for start in range(0, len(events), 3):
            yield events[start:start + 3], 0
        yield [], sum(1 for row in self.rows if len(row) != 3 and row[-1] is not None)

    def walk(self) -> Iterator[tuple[EventRow | None, LinkRow | None]]:
        for row in self.rows:
            if len(row) == 3:
                continue  # a signed head
            chained = row[-1]
            yield (_event_row(row[:5]) if len(row) == 6 else None,
                   None if chained is None else _link_row((row[0], chained)))


def payload(number: int, occurred_on: str = "2025-02-01") -> bytes:
    """A stored state laid out as the engine writes it."""
    return orjson.dumps({"timestamp": f"2025-02-0{1 + number % 9}T10:00:00.{number:06d}Z",
                         "occurred_on": occurred_on, "command_id": f"c-{number}",
                         "duo_id": "D-1", "minutes": 30 + number})


def chained_store(cells: list[tuple[Any, Any, Any, Any]], first: int = 1) -> FakeStore:
    """Events with these (oid, version, topic, state) cells at consecutive positions,
    each with the link the engine would have written for them."""
    rows: list[Record] = []
    previous = GENESIS
    for offset, (oid, version, topic, state) in enumerate(cells):
        position = first + offset
        if type(version) is int:
            previous = link_bytes(previous, position, oid or b"", version, topic or b"",
                                  state or b"")
        rows.append((position, oid, version, topic, state, previous))
    return FakeStore(rows)


def engine_cells(count: int) -> list[tuple[Any, Any, Any, Any]]:
    return [(b"duo:D-1", n + 1, b"lifecycle.Duo.ContactLogged", payload(n))
            for n in range(count)]



def edit_payload(lines: list[bytes]) -> list[bytes]:
    lines[2] = lines[2].replace(b'"minutes":31', b'"minutes":41')
    return lines


def edit_dates(lines: list[bytes]) -> list[bytes]:
    lines[3] = lines[3].replace(b'"occurred_on":"2025-02-01"', b'"occurred_on":"2025-01-01"', 1)
    return lines


def delete_line(lines: list[bytes]) -> list[bytes]:
    del lines[3]
    return lines


def swap_lines(lines: list[bytes]) -> list[bytes]:
    lines[2], lines[3] = lines[3], lines[2]
    return lines


def repeat_line(lines: list[bytes]) -> list[bytes]:
    return [*lines[:3], lines[2], *lines[3:]]



def cut_short(lines: list[bytes]) -> list[bytes]:
    return lines[:-3]


def cut_mid_line(lines: list[bytes]) -> list[bytes]:
    return [*lines[:3], lines[3][:40]]


def garble_line(lines: list[bytes]) -> list[bytes]:
    lines[4] = b"{not json\n"
    return lines


def trailer_edited(lines: list[bytes]) -> list[bytes]:
    trailer = json.loads(lines[-1])
    trailer["events"] += 1
    lines[-1] = json.dumps(trailer, separators=(",", ":")).encode() + b"\n"
    return lines


def line_after_trailer(lines: list[bytes]) -> list[bytes]:
    return [*lines, lines[2]]


def unknown_field(lines: list[bytes]) -> list[bytes]:
    lines[2] = lines[2].replace(b'{"position":2,', b'{"position":2,"note":"x",')
    return lines


def link_not_hex(lines: list[bytes]) -> list[bytes]:
    record = json.loads(lines[2])
    lines[2] = lines[2].replace(record["link"].encode(), b"z" * 64)
    return lines


FILE_EDITS: dict[str, tuple[Callable[[list[bytes]], list[bytes]], int | None, str]] = {
    "payload": (edit_payload, 2, "event at position 2 (duo:D-1 v2) does not match the chain"),
    "dates": (edit_dates, 3, "line 4 of the export (position 3): its occurred_on or "
                             "recorded_at is not the payload's"),
    "deleted-line": (delete_line, 4, "event at position 4 (duo:D-1 v4) does not match"),
    "swapped-lines": (swap_lines, 3, "event at position 3 (duo:D-1 v3) does not match"),
    "repeated-line": (repeat_line, 2, "line 4 of the export: position 2 does not follow "
                                      "position 2"),
    "cut-short": (cut_short, None, "the export ends after line 4 without its trailer"),
    "cut-mid-line": (cut_mid_line, None, "line 4 of the export is not a record"),
    "garbled-line": (garble_line, None, "line 5 of the export is not a record"),
    "trailer-edited": (trailer_edited, None, "the export's trailer (line 7) does not match "
                                             "its lines"),
    "line-after-trailer": (line_after_trailer, None, "line 8 of the export follows its "
                                                     "trailer"),
    "unknown-field": (unknown_field, 2, "line 3 of the export (position 2) is not an event "
                                        "record: fields ['note']"),
    "link-not-hex": (link_not_hex, 2, "line 3 of the export (position 2): its link is not "
                                      "hexadecimal"),
}


def spy_on_workers(monkeypatch: Any) -> list[dict[str, Any]]:
    """Record the job of every export worker started from now on (they still start):
    the list fills as they do."""
    from lifecycle.adapters import export as export_module

    seen: list[dict[str, Any]] = []
    original = export_module.interpreters.start

    def spy(main: str, job: str) -> Any:
        seen.append(json.loads(job))
        return original(main, job)

    monkeypatch.setattr(export_module.interpreters, "start", spy)
    return seen
