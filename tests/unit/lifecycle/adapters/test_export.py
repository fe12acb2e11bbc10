"""The export format (``lifecycle.adapters.export``): what a line holds, that reading an export
gives the verifier the very rows the store gave it (so the verdicts are the same, also
for cells no engine writes), and that every edit of the file itself is caught where it
is.

The store here is a list of records as ``ChainReader.record_batches()`` yields them
from SQLite: the id, topic and state as the bytes of their cells (None for NULL), the
version as its cell holds it (``tests/export_cases.py``).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from export_cases import FILE_EDITS, FakeStore, chained_store, engine_cells, payload
from lifecycle.adapters.audit import Digest, Verification, make_digest, verify
from lifecycle.adapters.export import (
    FORMAT,
    ExportError,
    ExportReader,
    _engine_found,
    _engine_lines,
    _event_line,
    _Scan,
    write_export,
)


def exported(store: FakeStore, folder: Path, name: str = "history.jsonl",
             **options: Any) -> Path:
    out = io.BytesIO()
    write_export(store, out, **options)
    path = folder / name
    path.write_bytes(out.getvalue())
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, edit: Callable[[list[bytes]], list[bytes]]) -> Path:
    path.write_bytes(b"".join(edit(lines_of(path))))
    return path


def check(path: Path, digest: Digest | None = None) -> Verification:
    return verify(ExportReader(path), digest)


# ---------------------------------------------------------------------- the lines
def test_an_export_is_a_header_one_line_per_event_and_a_trailer(tmp_path: Path) -> None:
    store = chained_store(engine_cells(3))
    lines = [json.loads(line) for line in lines_of(exported(store, tmp_path))]
    assert lines[0] == {"format": FORMAT, "version": 1, "algorithm": "sha256-chain-v1",
                        "as_at": None}
    assert [line["position"] for line in lines[1:-1]] == [1, 2, 3]
    first = lines[1]
    assert list(first) == ["position", "stream", "version", "type", "occurred_on",
                           "recorded_at", "link", "payload"]
    assert first["stream"] == "duo:D-1" and first["type"] == "lifecycle.Duo.ContactLogged"
    assert first["payload"] == json.loads(payload(0))
    assert (first["occurred_on"], first["recorded_at"]) == ("2025-02-01",
                                                            "2025-02-01T10:00:00.000000Z")
    head = store.rows[-1][-1]
    assert lines[-1] == {"end": FORMAT, "events": 3, "links": 3, "signatures": 0,
                         "last_position": 3, "head": head.hex()}


def test_the_payload_is_written_byte_for_byte(tmp_path: Path) -> None:
    """Whitespace, key order and escapes as stored: the line holds the very bytes."""
    state = b'{"timestamp":"2025-02-01T10:00:00Z", "occurred_on":"2025-02-01","x":"\\u00e9"}'
    store = chained_store([(b"duo:D-1", 1, b"lifecycle.Duo.Selected", state)])
    line = lines_of(exported(store, tmp_path))[1]
    assert line.endswith(b',"payload":' + state + b"}\n")


def test_the_same_history_gives_the_same_bytes(tmp_path: Path) -> None:
    store = chained_store(engine_cells(5))
    first = exported(store, tmp_path, "a.jsonl").read_bytes()
    assert exported(store, tmp_path, "b.jsonl").read_bytes() == first


def test_an_export_as_at_a_time_stops_before_the_first_event_recorded_later(
        tmp_path: Path) -> None:
    store = chained_store(engine_cells(6))  # recorded on 2025-02-01, -02, ... at 10:00
    path = exported(store, tmp_path, as_at=datetime(2025, 2, 3, 12, tzinfo=UTC))
    lines = [json.loads(line) for line in lines_of(path)]
    assert lines[0]["as_at"] == "2025-02-03T12:00:00Z"
    assert [line["position"] for line in lines[1:-1]] == [1, 2, 3]
    result = check(path)
    assert (result.ok, result.events, result.head) == (True, 3, store.rows[2][-1].hex())


def test_a_gzip_export_reads_as_the_plain_one(tmp_path: Path) -> None:
    plain = exported(chained_store(engine_cells(4)), tmp_path)
    packed = tmp_path / "history.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert check(packed) == check(plain)
    assert check(packed).ok


# ---------------------------------------------------------------------- same rows as the store
ODD_CELLS: dict[str, tuple[Any, Any, Any, Any]] = {
    "stream-not-utf8": (b"duo:\xff-1", 2, b"lifecycle.Duo.Selected", payload(1)),
    "stream-null": (None, 2, b"lifecycle.Duo.Selected", payload(1)),
    "topic-not-utf8": (b"duo:D-1", 2, b"lifecycle.Duo.\xc3", payload(1)),
    "version-text": (b"duo:D-1", "v2", b"lifecycle.Duo.Selected", payload(1)),
    "version-real": (b"duo:D-1", 2.0, b"lifecycle.Duo.Selected", payload(1)),
    "version-null": (b"duo:D-1", None, b"lifecycle.Duo.Selected", payload(1)),
    "version-blob": (b"duo:D-1", b"\x02", b"lifecycle.Duo.Selected", payload(1)),
    "state-not-json": (b"duo:D-1", 2, b"lifecycle.Duo.Selected", b"\x00\x01binary"),
    "state-two-lines": (b"duo:D-1", 2, b"lifecycle.Duo.Selected", b'{"a":\n1}'),
    "state-null": (b"duo:D-1", 2, b"lifecycle.Duo.Selected", None),
    "state-json-not-object": (b"duo:D-1", 2, b"lifecycle.Duo.Selected", b"[1,2]"),
}


@pytest.mark.parametrize("odd", list(ODD_CELLS))
def test_a_hand_edited_cell_verifies_from_the_export_as_from_the_store(
        tmp_path: Path, odd: str) -> None:
    """The cell is kept so that it hashes as the store's reader hashes it: with its
    link recomputed the export still verifies, and with the original link both fail at
    the same position with the same words."""
    cells = engine_cells(3)
    cells[1] = ODD_CELLS[odd]
    rechained = chained_store(cells)
    path = exported(rechained, tmp_path)
    assert check(path) == verify(rechained)  # type: ignore[arg-type]
    kept = chained_store(engine_cells(3))
    kept.rows[1] = (2, *ODD_CELLS[odd], kept.rows[1][-1])
    path = exported(kept, tmp_path, "kept.jsonl")
    assert check(path) == verify(kept)  # type: ignore[arg-type]
    assert (check(path).ok, check(path).position) == (False, 2)


def test_a_cell_that_is_not_text_is_written_as_base64_under_its_own_key(
        tmp_path: Path) -> None:
    cells = engine_cells(2)
    cells[1] = (b"duo:\xff", 2, b"lifecycle.Duo.Selected", b"\x00\x01")
    line = json.loads(lines_of(exported(chained_store(cells), tmp_path))[2])
    assert base64.b64decode(line["stream_base64"]) == b"duo:\xff"
    assert base64.b64decode(line["payload_base64"]) == b"\x00\x01"
    assert "stream" not in line and "payload" not in line
    assert (line["occurred_on"], line["recorded_at"]) == (None, None)


def test_links_without_events_and_events_without_links_get_the_store_verdicts(
        tmp_path: Path) -> None:
    removed = chained_store(engine_cells(4))
    removed.rows[1] = (2, removed.rows[1][-1])
    unlinked = chained_store(engine_cells(4))
    unlinked.rows.append((5, b"duo:D-1", 5, b"lifecycle.Duo.Reviewed", payload(5), None))
    for number, store in enumerate((removed, unlinked)):
        path = exported(store, tmp_path, f"{number}.jsonl")
        assert check(path) == verify(store)  # type: ignore[arg-type]
    assert "was removed (its chain link remains)" in str(check(tmp_path / "0.jsonl").problem)
    assert "has no chain link" in str(check(tmp_path / "1.jsonl").problem)


cell = st.one_of(st.none(), st.binary(max_size=12), st.integers(-3, 3), st.text(max_size=6),
                 st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=150, deadline=None)
@given(oid=cell, version=cell, topic=cell, state=cell, rechain=st.booleans())
def test_any_cells_verify_from_the_export_as_from_the_store(
        tmp_path_factory: pytest.TempPathFactory, oid: Any, version: Any, topic: Any,
        state: Any, rechain: bool) -> None:
    # The store's reader reads the id, topic and state as bytes (or NULL): so does this.
    as_blob = [v if v is None or isinstance(v, bytes) else str(v).encode()
               for v in (oid, topic, state)]
    cells = engine_cells(3)
    cells[1] = (as_blob[0], version, as_blob[1], as_blob[2])
    store = chained_store(cells) if rechain else chained_store(engine_cells(3))
    if not rechain:
        store.rows[1] = (2, *cells[1], store.rows[1][-1])
    path = exported(store, tmp_path_factory.mktemp("any"))
    assert check(path) == verify(store)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- edits of the file
@pytest.mark.parametrize("edit", list(FILE_EDITS))
def test_an_edit_of_the_export_file_is_caught_where_it_is(tmp_path: Path, edit: str) -> None:
    change, position, problem = FILE_EDITS[edit]
    path = rewrite(exported(chained_store(engine_cells(5)), tmp_path), change)
    result = check(path)
    assert (result.ok, result.position) == (False, position), result
    assert problem in str(result.problem), result.problem


def test_an_edited_gzip_stream_is_caught(tmp_path: Path) -> None:
    plain = exported(chained_store(engine_cells(50)), tmp_path)
    packed = bytearray(gzip.compress(plain.read_bytes()))
    packed[len(packed) // 2] ^= 0xFF
    path = tmp_path / "history.jsonl.gz"
    path.write_bytes(bytes(packed))
    result = check(path)
    assert not result.ok
    assert result.problem is not None


def test_a_trailer_truncated_with_its_lines_is_caught_only_against_a_digest(
        tmp_path: Path) -> None:
    """Lines and trailer both rewritten: the file alone is consistent, as a truncated
    store is; the digest saved before reveals it, with the store's very words."""
    store = chained_store(engine_cells(5))
    digest = make_digest(store)  # type: ignore[arg-type]
    del store.rows[3:]
    path = exported(store, tmp_path)
    assert check(path).ok
    result = check(path, digest)
    assert (result.ok, result.problem) == (False, "history was truncated: the digest "
                                                  "describes 5 events, the store has 3")


# ---------------------------------------------------------------------- not an export
@pytest.mark.parametrize(("content", "words"), [
    (b"", "is not a lifecycle export"),
    (b'{"type":"open_programme"}\n', "is not a lifecycle export"),
    (b"\x89PNG\r\n", "is not a lifecycle export"),
    (b'{"format":"lifecycle-export","version":2,"algorithm":"sha256-chain-v1"}\n',
     "format version 2; this engine reads version 1"),
    (b'{"format":"lifecycle-export","version":1,"algorithm":"md5"}\n', "chains its events"),
])
def test_a_file_that_is_not_an_export_of_this_format_is_refused_on_opening(
        tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    with pytest.raises(ExportError, match=words):
        ExportReader(path)


def test_a_missing_export_is_refused_on_opening(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"cannot read export .*No such file"):
        ExportReader(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------- the batch paths
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.tuples(text, text, st.booleans()), min_size=1, max_size=6))
def test_a_batch_formatted_by_columns_is_the_lines_of_the_general_path(
        values: list[tuple[str, str, bool]]) -> None:
    """Each event written alone by the general path (orjson) gives the very bytes the
    batch path gives for the whole batch, whatever the strings hold (quotes, escapes,
    non-ASCII, the dates in another key order); the batch path declines a batch it
    cannot format by hand, never formats it differently."""
    cells = []
    for number, (name, date, reordered) in enumerate(values):
        fields = {"timestamp": f"2025-02-01T10:00:0{number}Z", "occurred_on": date or "d",
                  "name": name}
        if reordered:
            fields = {"name": name, **{k: v for k, v in fields.items() if k != "name"}}
        cells.append((f"duo:{name}".encode(), number + 1, b"lifecycle.Duo.Selected",
                      orjson.dumps(fields)))
    records = chained_store(cells).rows
    general = [_event_line(*record)[0] for record in records]
    batch = _engine_lines(records)
    if batch is not None:
        assert batch[0] == general
    singles = [_engine_lines([record]) for record in records]
    assert [line[0][0] for line in singles if line is not None] == [
        line for line, single in zip(general, singles, strict=True) if single is not None]


def test_a_block_read_at_once_gives_the_rows_read_line_by_line(tmp_path: Path) -> None:
    path = exported(chained_store(engine_cells(40)), tmp_path)
    block = b"".join(lines_of(path)[1:-1])
    assert _engine_found(block) is not None
    assert _Scan().rows(block) == _Scan()._line_rows(block.splitlines(keepends=True))


@pytest.mark.parametrize("payload_rest", [
    b',"note":{"timestamp":"x"}', b',"occurred_on":"2025-01-01"', b',"a":"\\"q\\""'])
def test_a_block_with_a_line_in_doubt_is_read_line_by_line(
        tmp_path: Path, payload_rest: bytes) -> None:
    """A payload naming its dates again (or any line the pattern does not take) sends
    its block to the line-by-line reader, which gives the exact verdict."""
    cells = engine_cells(6)
    state = cells[3][3]
    cells[3] = (*cells[3][:3], state[:-1] + payload_rest + b"}")
    store = chained_store(cells)
    path = exported(store, tmp_path)
    block = b"".join(lines_of(path)[1:-1])
    found = _engine_found(block)
    assert (found is None) == (b"timestamp" in payload_rest or b"occurred_on" in payload_rest)
    assert check(path) == verify(store)  # type: ignore[arg-type]
    assert check(path).ok
