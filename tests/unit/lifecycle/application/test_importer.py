"""JSONL import (``lifecycle.application.importer``, CONTRACT §3 ``import``): each line is its own
command, line numbers count every physical line, rejections name the line, its own valid
command id and the rule; batches never let a rejected line write anything."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest

from lifecycle.application import Lifecycle
from lifecycle.application.importer import Importer, ImportResult


def lines_of(*items: dict[str, Any] | str) -> list[bytes]:
    """JSONL lines as a file yields them (dicts as JSON, strings verbatim)."""
    return [((i if isinstance(i, str) else json.dumps(i)) + "\n").encode() for i in items]


def run(engine: Lifecycle, lines: list[bytes], batch_size: int = 500) -> ImportResult:
    return Importer(engine, batch_size=batch_size).run(lines)


@pytest.fixture
def base(stream: Any) -> list[dict[str, Any]]:
    """Programme, site, trained mentor, and duo D-1 active since 2025-02-04."""
    return stream.base().duo("active").commands


@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_a_valid_stream_is_applied_whole_in_any_batch_size(
        engine: Lifecycle, base: list[dict[str, Any]], batch_size: int,
        event_count: Any) -> None:
    result = run(engine, lines_of(*base), batch_size)
    assert result.as_json() == {"applied": len(base), "duplicates": 0, "rejected": []}
    assert result.lines == len(base)
    assert engine.get_duo("D-1").state == "active"
    assert event_count(engine) == 2 * len(base)  # each command's event and id marker


def test_blank_lines_are_skipped_but_counted(engine: Lifecycle, cmd: Any) -> None:
    good = cmd("open_programme", "2025-01-02", command_id="c-1")
    bad = cmd("register_site", "2025-01-02", command_id="c-2", programme_id="P-404")
    result = run(engine, lines_of("", good, "   \t", "", bad, ""))
    assert result.applied == 1
    assert [(r.line, r.command_id) for r in result.rejected] == [(5, "c-2")]
    assert result.rejected[0].error.startswith("rule 2")
    assert result.lines == 6


@pytest.mark.parametrize("batch_size", [1, 3, 500])
def test_valid_lines_are_applied_around_rejected_ones_and_later_lines_see_earlier_ones(
        engine: Lifecycle, cmd: Any, base: list[dict[str, Any]], batch_size: int) -> None:
    run(engine, lines_of(*base))
    mixed = lines_of(
        cmd("recruit", "2025-03-01", duo_id="D-2", command_id="m-1"),
        cmd("select", "2025-02-28", duo_id="D-2", command_id="m-2"),      # rule 6
        cmd("select", "2025-03-02", duo_id="D-2", command_id="m-3"),
        cmd("select", "2025-03-03", duo_id="D-2", command_id="m-4"),      # rule 4
        cmd("match", "2025-03-04", duo_id="D-2", command_id="m-5"),
    )
    result = run(engine, mixed, batch_size)
    assert (result.applied, result.duplicates) == (3, 0)
    assert [(r.line, r.command_id, r.error[:6]) for r in result.rejected] == [
        (2, "m-2", "rule 6"), (4, "m-4", "rule 4")]
    duo = engine.get_duo("D-2")
    assert (duo.state, duo.selected_on.isoformat(), duo.version) == ("matched",
                                                                     "2025-03-02", 3)


def test_a_rejected_line_in_a_batch_writes_nothing(
        engine: Lifecycle, cmd: Any, base: list[dict[str, Any]], event_count: Any) -> None:
    run(engine, lines_of(*base))
    before = event_count(engine)
    result = run(engine, lines_of(
        cmd("review", "2025-03-01", health=3, command_id="r-1"),
        cmd("review", "2026-01-02", health=3, command_id="r-2"),        # rule 5
        cmd("log_contact", "2025-03-01", contact_id="K-9", command_id="r-3")))
    assert [r.line for r in result.rejected] == [2]
    assert event_count(engine) == before + 4
    assert [type(e).__name__ for e in engine.history("D-1")][-2:] == ["Reviewed",
                                                                      "ContactLogged"]


def test_reimporting_the_same_lines_applies_nothing_and_counts_duplicates(
        engine: Lifecycle, base: list[dict[str, Any]], event_count: Any) -> None:
    run(engine, lines_of(*base))
    before = event_count(engine)
    again = run(engine, lines_of(*base))
    assert again.as_json() == {"applied": 0, "duplicates": len(base), "rejected": []}
    assert event_count(engine) == before


def test_a_line_repeated_in_the_same_file_is_a_duplicate_or_a_conflict(
        engine: Lifecycle, cmd: Any) -> None:
    first = cmd("open_programme", "2025-01-02", command_id="c-1")
    reordered = dict(reversed(list(first.items())))
    changed = {**first, "name": "Other name"}
    result = run(engine, lines_of(first, reordered, changed))
    assert (result.applied, result.duplicates) == (1, 1)
    assert [(r.line, r.command_id, r.error[:7]) for r in result.rejected] == [
        (3, "c-1", "rule 13")]


def test_rejections_name_the_lines_own_valid_command_id_for_every_rule(
        engine: Lifecycle, cmd: Any) -> None:
    """Also for rule 1: a line with a valid ``command_id`` and a bad other field."""
    result = run(engine, lines_of(
        cmd("open_programme", "2025-01-02", command_id="c-1", country="dk"),
        cmd("open_programme", "2025-01-02", command_id="c-2", colour="blue"),
        cmd("register_site", "2025-01-02", command_id="c-3")))
    assert [(r.line, r.command_id) for r in result.rejected] == [
        (1, "c-1"), (2, "c-2"), (3, "c-3")]
    assert [r.error[:6] for r in result.rejected] == ["rule 1", "rule 1", "rule 2"]


@pytest.mark.parametrize("line", [
    '{"type": "activate", "occurred_on": "2025-01-02", "duo_id": "D-1", "command_id": ""}',
    '{"type": "activate", "occurred_on": "2025-01-02", "duo_id": "D-1", "command_id": "a b"}',
    '{"type": "activate", "occurred_on": "2025-01-02", "duo_id": "D-1", "command_id": 7}',
    '{"type": "activate", "occurred_on": "2025-01-02", "duo_id": "D-1", '
    '"command_id": "c-1\\n"}',
    '{"type": "activate", "occurred_on": "2025-01-02", "duo_id": "D-1", '
    f'"command_id": "{"x" * 65}"}}',
    '{"type": "activate", "command_id": "c-1", ',
    '["activate", "c-1"]',
    "not json at all",
], ids=["empty", "space", "number", "trailing-newline", "too-long", "truncated", "array",
        "text"])
def test_a_line_without_a_valid_own_command_id_is_reported_with_null(
        engine: Lifecycle, line: str) -> None:
    result = run(engine, lines_of(line))
    [rejection] = result.rejected
    assert (rejection.line, rejection.command_id) == (1, None)
    assert rejection.error.startswith("rule 1")


def test_an_integer_beyond_64_bits_is_reported_not_fatal(
        engine: Lifecycle, cmd: Any, event_count: Any) -> None:
    """A JSON integer too large to store is a rejection (or stored): the import goes on
    and the other lines of its batch are applied."""
    huge = 10 ** 23
    lines = lines_of(cmd("open_programme", "2025-01-02", command_id="c-1"),
                     cmd("register_site", "2025-01-02", command_id="c-2"),
                     cmd("register_mentor", "2025-01-03", command_id="c-3",
                         years_experience=huge),
                     cmd("review", "2025-01-03", duo_id="D-404", command_id="c-4"))
    result = run(engine, lines)
    assert result.applied + len(result.rejected) == 4
    assert {r.line for r in result.rejected} <= {3, 4}
    assert engine.app.repository.get("site:S-1").programme_id == "P-1"


def test_as_json_has_exactly_the_contract_keys(engine: Lifecycle, cmd: Any) -> None:
    result = run(engine, lines_of(cmd("activate", "2025-01-02", command_id="c-1")))
    out = result.as_json()
    assert list(out) == ["applied", "duplicates", "rejected"]
    assert list(out["rejected"][0]) == ["line", "command_id", "error"]
    json.dumps(out)


def test_str_lines_are_accepted_too(engine: Lifecycle, cmd: Any) -> None:
    result = Importer(engine).run([json.dumps(cmd("open_programme", "2025-01-02"))])
    assert result.applied == 1


def test_the_garbage_collector_is_paused_per_batch_and_left_as_it_was(
        engine: Lifecycle, base: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    flush = Importer._flush

    def watched(self: Importer, *args: Any) -> None:
        seen.append(gc.isenabled())
        flush(self, *args)

    monkeypatch.setattr(Importer, "_flush", watched)
    assert gc.isenabled()
    run(engine, lines_of(*base), batch_size=4)
    assert seen and not any(seen)
    assert gc.isenabled()
    gc.disable()  # a host that runs without the collector keeps it off
    try:
        run(engine, lines_of(*base), batch_size=4)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_garbage_collector_is_resumed_when_a_batch_fails(
        engine: Lifecycle, base: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(Importer, "_flush", broken)
    with pytest.raises(OSError, match="disk gone"):
        run(engine, lines_of(*base))
    assert gc.isenabled()
