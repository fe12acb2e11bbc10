"""The engine's aggregate cache (``lifecycle.application.AggregateCache``): LRU-bounded,
with command markers in an LRU of their own, so that a long import's markers (one per
applied command) never push the programmes, mentors and duos out."""

from __future__ import annotations

from typing import Any

from lifecycle.application import AggregateCache, Lifecycle
from lifecycle.application.importer import Importer
from lifecycle.domain.duo import Duo
from lifecycle.domain.markers import AppliedCommand
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = AggregateCache(maxsize=2)
    cache.put("duo:A", "a")
    cache.put("duo:B", "b")
    assert cache.get("duo:A") == "a"  # now B is the least recently used
    cache.put("duo:C", "c")
    assert (cache.get("duo:A"), cache.get("duo:B"), cache.get("duo:C")) == ("a", None, "c")


def test_markers_are_bounded_apart_and_never_evict_aggregates() -> None:
    cache = AggregateCache(maxsize=2, marker_maxsize=3)
    cache.put("duo:A", "a")
    cache.put("mentor:M", "m")
    for n in range(10):
        cache.put(AppliedCommand.stream_id(f"c-{n}"), n)
    assert (cache.get("duo:A"), cache.get("mentor:M")) == ("a", "m")
    assert [cache.get(AppliedCommand.stream_id(f"c-{n}")) for n in range(10)] == [
        None] * 7 + [7, 8, 9]


def test_evict_and_clear_reach_both_kinds() -> None:
    cache = AggregateCache()
    marker = AppliedCommand.stream_id("c-1")
    cache.put("duo:A", "a")
    cache.put(marker, "x")
    cache.evict(["duo:A", marker, "duo:never-cached"])
    assert (cache.get("duo:A"), cache.get(marker)) == (None, None)
    cache.put("duo:A", "a")
    cache.put(marker, "x")
    cache.clear()
    assert (cache.get("duo:A"), cache.get(marker)) == (None, None)


def test_an_import_with_more_markers_than_room_keeps_what_it_read_long_ago(
        engine: Lifecycle, stream: Any) -> None:
    engine.cache.maxsize, engine.cache.marker_maxsize = 20, 5
    stream.base().duo("active")
    for n in range(40):  # 40 markers more, and only the duo read again
        stream.add("review", "2025-03-01", duo_id="D-1", health=1 + n % 5)
    lines = [line.encode() for line in stream.jsonl().splitlines()]
    assert Importer(engine, batch_size=7).run(lines).applied == len(lines)
    cached = [engine.cache.get(kind.stream_id(contract_id)) for kind, contract_id in (
        (Programme, "P-1"), (Site, "S-1"), (Mentor, "M-1"), (Duo, "D-1"))]
    assert [type(found) for found in cached] == [Programme, Site, Mentor, Duo]
    assert engine.cache.get(AppliedCommand.stream_id(stream.commands[0]["command_id"])) is None


def test_uncached_names_each_stream_not_cached_once_in_order() -> None:
    cache = AggregateCache()
    marker = AppliedCommand.stream_id("c-1")
    cache.put("duo:A", "a")
    cache.put(AppliedCommand.stream_id("c-2"), "x")
    assert cache.uncached(["duo:B", marker, "duo:A", "duo:B", AppliedCommand.stream_id("c-2"),
                           marker]) == ["duo:B", marker]
    assert (marker in cache, "duo:A" in cache) == (False, True)
