"""Export of the whole history to a file an auditor can check without the store.

The format (``lifecycle-export`` version 1, described in ``docs/export-format.md``) is
JSON lines: a header object, one object per stored event (or per chain link whose event
is missing), and a trailer object with the counts and the chain's head. Each event line
holds the stored payload byte for byte — verbatim when it is one line of JSON, as base64
when it is not — so encrypted fields stay encrypted and the chain can be recomputed from
the file alone. :class:`ExportReader` reads it back as a
:class:`~lifecycle.adapters.audit.ChainSource`, so ``audit verify --export`` is the very
verifier of ``audit verify``.

Writing and reading stream the file (constant memory, whatever the history's length); a
file whose first bytes are gzip's magic number is read through gzip.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from operator import itemgetter
from pathlib import Path
from typing import Any, Protocol

import orjson

from lifecycle.adapters import interpreters
from lifecycle.adapters.audit import (
    ALGORITHM,
    Damaged,
    EventRow,
    LinkRow,
    Record,
    SignedHead,
    Span,
    _chain,
)
from lifecycle.adapters.chain import GENESIS
from lifecycle.adapters.interpreters import available_processes, can_start_workers

FORMAT = "lifecycle-export"
VERSION = 1
GZIP_LEVEL = 6
"""zlib's default: about a sixth of the plain size on this engine's events."""
BATCH = 512
"""Records per batch, read or written."""

_PAYLOAD = b',"payload":'
_LINE = (b'{"position":%d,"stream":"%s","version":%d,"type":"%s","occurred_on":"%s",'
         b'"recorded_at":"%s","link":"%s","payload":%s}')
"""An event line as :func:`_event_line` writes it, for strings that need no escaping."""
_LINE_NL = _LINE + b"\n"
_MARK_IN_LINE = bytes(c if 0x20 <= c < 0x7F and c != 0x5C else 0 for c in range(256))
"""Like :data:`_MARK`, but keeping the quote: for a line's JSON before its payload."""
_MARK = bytes(c if 0x20 <= c < 0x7F and c not in b'"\\' else int(c == 0) for c in range(256))
"""A translation that changes every byte but printable ASCII other than the quote and the
backslash (what a JSON string holds as is): ``s.translate(_MARK) == s`` when all are."""
_DATES = b'{"timestamp":"%s","occurred_on":"%s"'
"""How the engine's payloads begin (the recorded time, then the business date)."""
_EVENT_KEYS = frozenset({"position", "stream", "version", "type", "occurred_on",
                         "recorded_at", "link"})
_BASE64_KEYS = {"stream": "stream_base64", "version": "version_base64",
                "type": "type_base64"}
_TRAILER_KEYS = frozenset({"end", "events", "links", "signatures", "last_position", "head"})


class RecordSource(Protocol):
    """A store's history as :meth:`lifecycle.adapters.audit.ChainReader.record_batches` reads it."""

    def record_batches(self) -> Iterator[list[Record]]: ...


class Writable(Protocol):
    """A binary file being written (plain or gzip)."""

    def write(self, data: bytes, /) -> int: ...


class ExportError(Exception):
    """The file is not a readable export (missing, not an export, a newer version)."""


@dataclass(frozen=True)
class ExportSummary:
    """What an export holds: the trailer's figures."""

    events: int
    links: int
    signatures: int
    last_position: int | None
    head: str | None

    def as_json(self) -> dict[str, Any]:
        return {"end": FORMAT, "events": self.events, "links": self.links,
                "signatures": self.signatures, "last_position": self.last_position,
                "head": self.head}


# ---------------------------------------------------------------------- writing
def write_export(reader: RecordSource, out: Writable, *,
                 as_at: datetime | None = None) -> ExportSummary:
    """Write the store's history to ``out`` in the export format.

    Args:
        reader: the store's events and chain links.
        out: a binary file (already compressing, if wanted).
        as_at: export the history as it had been recorded by then: the longest prefix
            of the log whose events were all recorded by ``as_at`` (an event whose
            recorded time cannot be read does not end it).

    Returns:
        The trailer's figures.
    """
    # Nothing in the file depends on when or from where it was written: the same
    # history always gives the same bytes, so two exports compare with any checksum
    # tool, and export → restore → export gives the file back.
    header = {"format": FORMAT, "version": VERSION, "algorithm": ALGORITHM,
              "as_at": None if as_at is None else _iso(as_at)}
    out.write(orjson.dumps(header) + b"\n")
    events = links = signatures = 0
    last: int | None = None
    head: bytes | None = None
    dumps, loads = orjson.dumps, orjson.loads
    for batch in reader.record_batches():
        lines = []
        for record in batch:
            if len(record) == 3:  # the signed head at the position of the record before
                position, signed, signature = record
                lines.append(dumps({"position": position, "head": signed.hex(),
                                    "signature": base64.b64encode(signature).decode()}))
                signatures += 1
                continue
            if len(record) == 2:  # a link whose event is missing
                position, chained = record
                lines.append(dumps({"position": position, "link": chained.hex()}))
                links += 1
                head, last = chained, position
                continue
            position, oid, version, topic, state, chained = record
            try:  # the hot path: an event as the engine writes it
                if (type(version) is not int or b"\n" in state or b"\r" in state
                        or oid.translate(_MARK) != oid or topic.translate(_MARK) != topic):
                    raise ValueError("not as the engine writes it")
                payload = loads(state)  # also checks that it is JSON
                recorded_at = payload["timestamp"]
                when, occurred_on = recorded_at.encode(), payload["occurred_on"].encode()
                # The payload begins with them as they decode: so they hold nothing
                # that JSON escapes, and go into the line as they are.
                if not state.startswith(_DATES % (when, occurred_on)):
                    raise ValueError("not as the engine writes it")
                # Formatted by hand (every string checked to need no escaping in JSON):
                # twice as fast as building and dumping a dict.
                line = _LINE % (position, oid, version, topic, occurred_on, when,
                                chained.hex().encode(), state)
            except (AttributeError, KeyError, TypeError, ValueError):
                line, recorded_at = _event_line(position, oid, version, topic, state, chained)
            if as_at is not None and recorded_at is not None and _after(recorded_at, as_at):
                if lines:
                    out.write(b"\n".join(lines) + b"\n")
                return _trailer(out, events, links, signatures, last, head)
            lines.append(line)
            events += 1
            if chained is not None:
                links += 1
                head = chained
            last = position
        if lines:
            out.write(b"\n".join(lines) + b"\n")
    return _trailer(out, events, links, signatures, last, head)


def _trailer(out: Writable, events: int, links: int, signatures: int, last: int | None,
             head: bytes | None) -> ExportSummary:
    summary = ExportSummary(events, links, signatures, last,
                            None if head is None else head.hex())
    out.write(orjson.dumps(summary.as_json()) + b"\n")
    return summary


def export_to(reader: RecordSource, path: str, *, compress: bool | None = None,
              as_at: datetime | None = None) -> ExportSummary:
    """Export to ``path`` (``-``: standard output), gzip-compressed when ``compress`` is
    true or, when None, when the name ends in ``.gz``. A file is written beside its
    final name and moved there only when complete, so a failed export leaves nothing."""
    gzipped = path.endswith(".gz") if compress is None else compress
    if path == "-":
        import sys

        stdout = sys.stdout.buffer
        if gzipped:
            with gzip.GzipFile(fileobj=stdout, mode="wb", compresslevel=GZIP_LEVEL) as out:
                return write_export(reader, out, as_at=as_at)
        return write_export(reader, stdout, as_at=as_at)
    final = Path(path)
    partial = final.with_name(f".{final.name}.partial")
    try:
        with partial.open("wb") as raw:
            if gzipped:
                # No file name or time in the gzip header: the same history gives the
                # same bytes (an export is compared, and restored, by its content).
                with gzip.GzipFile(filename="", fileobj=raw, mode="wb",
                                   compresslevel=GZIP_LEVEL, mtime=0) as out:
                    summary = write_export(reader, out, as_at=as_at)
            else:
                summary = write_export(reader, raw, as_at=as_at)
        partial.replace(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


def _event_line(position: int, oid: Any, version: Any, topic: Any, state: Any,
                chained: bytes | None) -> tuple[bytes, str | None]:
    """One event's line and its recorded time (None when the payload has none), for an
    event the hot path of :func:`write_export` did not take."""
    try:
        stream, kind = oid.decode(), topic.decode()
        if type(version) is not int or b"\n" in state or b"\r" in state:
            raise ValueError
        payload = orjson.loads(state)
    except (AttributeError, TypeError, ValueError):  # orjson's error is a ValueError
        return _odd_line(position, oid, version, topic, state, chained)
    occurred_on, recorded_at = _dates(payload)
    return orjson.dumps({
        "position": position, "stream": stream, "version": version, "type": kind,
        "occurred_on": occurred_on, "recorded_at": recorded_at,
        "link": None if chained is None else chained.hex(),
        # Verbatim: the stored bytes are the line's, up to its closing brace.
        "payload": orjson.Fragment(state)}), recorded_at


def _odd_line(position: int, oid: Any, version: Any, topic: Any, state: Any,
              chained: bytes | None) -> tuple[bytes, str | None]:
    """The line of an event whose cells are not what the engine writes (a hand edit):
    every cell is kept so that it hashes as the store's does — bytes that are not
    UTF-8 text (or a payload that is not one line of JSON) as base64, the rest as the
    JSON value of the cell."""
    record: dict[str, Any] = {"position": position}
    for key, value in (("stream", oid), ("version", version), ("type", topic)):
        # The id and topic are read as bytes (text when they are UTF-8); a version read
        # as bytes was a BLOB cell, which the verifier shows as bytes: base64 too.
        text = _utf8(value) if isinstance(value, bytes) and key != "version" else value
        if isinstance(text, bytes):
            record[_BASE64_KEYS[key]] = base64.b64encode(text).decode()
        else:
            record[key] = text
    data = b"" if state is None else bytes(state)
    try:
        if b"\n" in data or b"\r" in data:
            raise ValueError("not one line")
        payload, verbatim = orjson.loads(data), True
    except ValueError:
        payload, verbatim = None, False
    occurred_on, recorded_at = _dates(payload)
    record["occurred_on"], record["recorded_at"] = occurred_on, recorded_at
    record["link"] = None if chained is None else chained.hex()
    if verbatim:
        record["payload"] = orjson.Fragment(data)
    else:
        record["payload_base64"] = base64.b64encode(data).decode()
    return orjson.dumps(record), recorded_at


def _utf8(value: bytes) -> str | bytes:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value


def _dates(payload: Any) -> tuple[str | None, str | None]:
    """The payload's business date and recorded time (``occurred_on``, ``timestamp``)."""
    if type(payload) is not dict:
        return None, None
    occurred_on, recorded_at = payload.get("occurred_on"), payload.get("timestamp")
    return (occurred_on if type(occurred_on) is str else None,
            recorded_at if type(recorded_at) is str else None)


def _after(recorded_at: str, moment: datetime) -> bool:
    try:
        stamp = datetime.fromisoformat(recorded_at)
    except ValueError:
        return False
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp > moment


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------- reading
Row = tuple[Any, ...]
"""An event: (position, oid bytes, version, topic bytes, state bytes, link bytes or
None); a chain link whose event is missing: (position, link bytes)."""

READ_CHUNK = 1 << 20
"""Bytes of lines read at a time."""
SPLIT_MIN_BYTES = 32 << 20
"""Bytes of export each process must have to check before the fast pass is split (about
100,000 events)."""


class ExportReader:
    """An export file read as a :class:`~lifecycle.adapters.audit.ChainSource`.

    Opening reads only the header (:class:`ExportError` when the file is missing, is not
    an export, or is of a format version this engine does not read). The records are
    read on each pass, streamed; a line that is not a record, lines out of order, a
    trailer that does not match the lines, or a missing trailer raise
    :class:`~lifecycle.adapters.audit.Damaged` where they are met. The fast pass of a large
    uncompressed export is split across processes, as a large SQLite log's is (ADR 14).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with self._open() as handle:
            first = handle.readline()
            self.compressed = isinstance(handle, gzip.GzipFile)
        try:
            header = orjson.loads(first)
        except ValueError:
            header = None
        if type(header) is not dict or header.get("format") != FORMAT:
            raise ExportError(f"'{path}' is not a lifecycle export (its first line is not "
                              "an export header)")
        if header.get("version") != VERSION:
            raise ExportError(f"'{path}' is a lifecycle export of format version "
                              f"{header.get('version')!r}; this engine reads version {VERSION}")
        if header.get("algorithm") != ALGORITHM:
            raise ExportError(f"'{path}' chains its events with {header.get('algorithm')!r}; "
                              f"this engine checks {ALGORITHM!r}")
        self.header: dict[str, Any] = header
        self.header_size = len(first)

    @property
    def location(self) -> str:
        return str(self.path)

    @contextmanager
    def _open(self) -> Iterator[io.BufferedReader | gzip.GzipFile]:
        try:
            raw = self.path.open("rb")
        except OSError as exc:
            raise ExportError(f"cannot read export '{self.path}': {exc.strerror}") from None
        with raw:
            if raw.peek(2)[:2] == b"\x1f\x8b":  # gzip's magic number
                with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
                    yield unpacked
            else:
                yield raw

    def batches(self) -> Iterator[list[Row]]:
        """Every record in file order, in batches; the trailer checked at the end."""
        scan = _Scan()
        with self._open() as handle:
            try:
                handle.readline()
                while chunk := handle.readlines(READ_CHUNK):
                    yield scan.rows(chunk)
                    if scan.damage is not None:
                        raise scan.damage
            except (OSError, EOFError, zlib.error) as exc:  # damaged compressed data
                raise Damaged(f"the export's compressed data is damaged after line "
                              f"{scan.number}: {exc}") from None
        scan.finish()

    def joined(self) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
        links = 0
        for rows in self.batches():
            links += list(map(len, rows)).count(2)  # links without their event
            events = [row for row in rows if len(row) == 6]
            links += len(events) - list(map(_LINK, events)).count(None)
            if events:
                yield events, 0
        yield [], links

    def walk(self) -> Iterator[tuple[EventRow | None, LinkRow | None]]:
        for rows in self.batches():
            for row in rows:
                if len(row) == 3:
                    continue  # a signed head: checked by signed_heads()
                chained = row[-1]
                yield (row[:5] if len(row) == 6 else None,
                       None if chained is None else (row[0], chained))

    def signed_heads(self) -> Iterator[SignedHead]:
        """Every signed head in file order, with the link of the record it follows when
        that record is at its position (None otherwise)."""
        position: int | None = None
        chained: bytes | None = None
        for rows in self.batches():
            for row in rows:
                if len(row) == 3:
                    yield SignedHead(row[0], row[1], row[2],
                                     chained if row[0] == position else None)
                else:
                    position, chained = row[0], row[-1]

    def events_after(self, position: int) -> tuple[int, int | None]:
        """The number of events after ``position``, and the first one's position."""
        count, first = 0, None
        for rows in self.batches():
            after = [row[0] for row in rows if len(row) == 6 and row[0] > position]
            if after and first is None:
                first = after[0]
            count += len(after)
        return count, first

    def split_spans(self, mark: int | None, progress: Callable[[int], None] | None,
                    processes: int | None) -> list[Span] | None:
        """An uncompressed export of at least ``SPLIT_MIN_BYTES`` per process in byte
        ranges of whole lines, the first checked here and each other by a worker, each
        from the link of the line before it. None when not split."""
        wanted = available_processes() if processes is None else processes
        if self.compressed or wanted < 2 or not can_start_workers():
            return None
        size = self.path.stat().st_size
        wanted = min(wanted, (size - self.header_size) // SPLIT_MIN_BYTES)
        if wanted < 2:
            return None
        cuts = [self.header_size, *(self.header_size + (size - self.header_size) * i // wanted
                                    for i in range(1, wanted)), size]
        jobs = [_range_job(self.path, lo, hi, mark) for lo, hi in pairwise(cuts)]
        if any(job is None for job in jobs[1:]):
            return None  # a cut in a line that is not a record: the exact pass says where
        workers: list[subprocess.Popen[bytes]] = []
        try:
            for job in jobs[1:]:
                worker = interpreters.start(RANGE_MAIN, json.dumps(job))
                if worker is None:
                    return None
                workers.append(worker)
            first = _check_range(self.path, self.header_size, cuts[1], GENESIS, None, mark)
            spans, trailers, signed = [first[0]], [first[1]], first[2]
            if first[0].ok:
                for worker in workers:
                    found = _range_span(worker)
                    if found is None:
                        return None
                    spans.append(found[0])
                    trailers.append(found[1])
                    signed += found[2]
        finally:
            for worker in workers:
                interpreters.stop(worker)
        if not all(span.ok for span in spans) or trailers[-1] is None or any(trailers[:-1]):
            return [Span(False)]  # the exact pass names what is wrong
        events = sum(span.events for span in spans)
        links = sum(span.links for span in spans)
        last = next((span.last for span in reversed(spans) if span.last is not None), None)
        summary = ExportSummary(events, links, signed, last,
                                spans[-1].head.hex() if links else None)
        if trailers[-1] != summary.as_json():
            return [Span(False)]
        if progress is not None:
            progress(events)
        return spans


_LINK = itemgetter(5)


class _Scan:
    """Reads record lines in order: checks each, counts them, and notes the trailer.

    ``number`` is the number of the last line read (the header is line 1);
    ``previous`` the position of the last record.
    """

    def __init__(self, number: int = 1, previous: int | None = None) -> None:
        self.number = number
        self.previous = previous
        self.events = self.links = self.signatures = 0
        self.head: bytes | None = None
        self.trailer: tuple[int, bytes] | None = None
        self.damage: Damaged | None = None

    def rows(self, lines: list[bytes]) -> list[Row]:
        """The records of these lines (the trailer is noted, not returned). At a line
        that is not a record, or out of order, the records before it are returned and
        :attr:`damage` is set: the caller checks those first (an earlier problem in them
        is the one to report), then raises it."""
        rows: list[Row] = []
        append = rows.append
        number, previous, links, head = self.number, self.previous, self.links, self.head
        try:
            for line in lines:
                number += 1
                if self.trailer is not None:
                    raise Damaged(f"line {number} of the export follows its trailer")
                row = _event_row(line)
                if row is None:
                    row = _slow_row(number, line)
                    if row is None:
                        self.trailer = (number, line)
                        continue
                position = row[0]
                if len(row) == 3:  # a signed head, after the record at its position
                    if previous is not None and position < previous:
                        raise Damaged(f"line {number} of the export: the signed head at "
                                      f"position {position} comes after position "
                                      f"{previous} (lines were reordered)", position)
                    append(row)
                    continue
                if previous is not None and position <= previous:
                    raise Damaged(f"line {number} of the export: position {position} does "
                                  f"not follow position {previous} (lines were reordered "
                                  "or repeated)", position)
                previous = position
                chained = row[-1]
                if chained is not None:
                    links += 1
                    head = chained
                append(row)
        except Damaged as damage:
            self.damage = damage
        self.number, self.previous, self.links, self.head = number, previous, links, head
        kinds = list(map(len, rows))
        self.events += kinds.count(6)
        self.signatures += kinds.count(3)
        return rows

    def finish(self) -> None:
        """The whole file was read: its trailer must be there and match the lines."""
        if self.trailer is None:
            raise Damaged(f"the export ends after line {self.number} without its trailer "
                          "(the file was cut short)")
        number, line = self.trailer
        _check_trailer(number, line, ExportSummary(
            self.events, self.links, self.signatures, self.previous,
            None if self.head is None else self.head.hex()))


def _range_job(path: Path, lo: int, hi: int, mark: int | None) -> dict[str, Any] | None:
    """A worker's job: the lines that begin in [lo, hi), moved on to the first line
    beginning at or after ``lo``, with the position and link of the line before it
    (None when that line is no record with a link)."""
    with path.open("rb") as handle:
        back = max(0, lo - READ_CHUNK)
        handle.seek(back)
        before = handle.read(lo - back)
        rest = handle.readline()
        if not before.endswith(b"\n"):
            before += rest  # lo fell inside a line: the range begins after it
            lo += len(rest)
        lines = before.splitlines(keepends=True)
    # The last record before the range (a signed head may follow it); the first line
    # read is whole only when the file's start was read.
    for line in reversed(lines if back == 0 else lines[1:]):
        try:
            row = _event_row(line) or _slow_row(0, line)
        except Damaged:
            return None
        if row is None or len(row) != 3:
            break
    else:
        return None  # no record in what was read before the range
    if row is None or row[-1] is None:
        return None
    return {"path": str(path), "lo": lo, "hi": max(lo, hi), "position": row[0],
            "link": row[-1].hex(), "mark": mark}


def _check_range(path: Path, lo: int, hi: int, start: bytes, position: int | None,
                 mark: int | None) -> tuple[Span, dict[str, Any] | None, int]:
    """The fast pass over the lines beginning in [lo, hi), chained from ``start`` (the
    link of the record before them, at ``position``); the trailer, if met there; and
    the number of signed heads."""
    scan = _Scan(0, position)
    previous, count, last, at_mark = start, 0, None, None
    try:
        with path.open("rb") as handle:
            handle.seek(lo)
            offset = lo
            while offset < hi:
                chunk = handle.readlines(min(READ_CHUNK, hi - offset))
                if not chunk:
                    break
                offset += sum(map(len, chunk))
                rows = [row for row in scan.rows(chunk) if len(row) == 6]
                if scan.damage is not None:
                    return Span(False), None, 0
                if mark is not None and at_mark is None and rows and rows[-1][0] >= mark:
                    cut = next(i for i, row in enumerate(rows) if row[0] >= mark) + 1
                    parts = [rows[:cut], rows[cut:]]
                else:
                    parts = [rows]
                for part in parts:
                    if not part:
                        continue
                    head = _chain(previous, part)
                    if head is None:
                        return Span(False), None, 0
                    previous, count, last = head, count + len(part), part[-1][0]
                    if mark is not None and at_mark is None and last == mark:
                        at_mark = (count, last, previous)
    except Damaged:
        return Span(False), None, 0
    trailer = None if scan.trailer is None else orjson.loads(scan.trailer[1])
    return (Span(True, start, count, scan.links, last, previous, at_mark), trailer,
            scan.signatures)


RANGE_MAIN = "lifecycle.adapters.export:range_main"


def range_main(argument: str) -> None:
    """A worker's main: check the job's byte range; print its span and trailer as JSON."""
    job = json.loads(argument)
    span, trailer, signatures = _check_range(
        Path(job["path"]), job["lo"], job["hi"], bytes.fromhex(job["link"]),
        job["position"], job["mark"])
    sys.stdout.write(json.dumps({**span.as_json(), "trailer": trailer,
                                 "signatures": signatures}))


def _range_span(worker: subprocess.Popen[bytes]) -> tuple[Span, Any, int] | None:
    found, _ = interpreters.answer(worker)
    if found is None:
        return None
    try:
        return Span.from_json(found), found["trailer"], int(found["signatures"])
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _event_row(line: bytes) -> Row | None:
    """The row of an event line exactly as :func:`write_export` writes an event of the
    engine; None for any other line (which :func:`_slow_row` then reads).

    The line is cut at its quotes and must then be the very bytes the writer would
    make of the pieces, with no backslash (so no escape) and nothing but printable
    ASCII before the payload, which begins with the line's recorded time and business
    date (once each). That is a full check of the line, at half the cost of parsing it
    as JSON.
    """
    parts = line.split(b'"', 26)
    if len(parts) != 27:
        return None
    (_, _, position, _, _, oid, _, _, version, _, _, topic, _, _, _, occurred_on, _, _, _,
     when, _, _, _, link, _, _, rest) = parts
    try:
        number, count = int(position[1:-1]), int(version[1:-1])
    except ValueError:
        return None
    state = rest[1:-2]
    if (line != _LINE_NL % (number, oid, count, topic, occurred_on, when, link, state)
            or not state.startswith(_DATES % (when, occurred_on))
            or state.count(b'"timestamp"') != 1 or state.count(b'"occurred_on"') != 1):
        return None
    before = line[:len(line) - len(rest)]
    if before.translate(_MARK_IN_LINE) != before:
        return None
    try:
        return number, oid, count, topic, state, bytes.fromhex(link.decode())
    except ValueError:
        return None


def _slow_row(number: int, line: bytes) -> Row | None:
    """The row of any other record line; None for the trailer."""
    try:
        fields = orjson.loads(line)
    except ValueError:
        fields = None
    if type(fields) is not dict or type(fields.get("position", fields.get("end"))) is not (
            int if "position" in fields else str):
        raise Damaged(f"line {number} of the export is not a record of the export format "
                      "(altered or cut)")
    if "end" in fields:
        return None
    position = fields["position"]
    if fields.keys() == {"position", "link"} and fields["link"] is not None:
        return (position, _link(number, position, fields["link"]))
    if fields.keys() == {"position", "head", "signature"}:
        try:
            return (position, _link(number, position, fields["head"]),
                    _unbase64(fields["signature"]))
        except (TypeError, ValueError):
            raise Damaged(f"line {number} of the export (position {position}): its signature "
                          "is not base64", position) from None
    try:
        cells = [_cell(fields, key) for key in ("stream", "version", "type")]
        if "payload_base64" in fields and "payload" not in fields:
            state = _unbase64(fields["payload_base64"])
        elif "payload" in fields and "payload_base64" not in fields:
            state = _verbatim(line, fields["payload"])
        else:
            raise ValueError("one of payload and payload_base64")
        known = (_EVENT_KEYS - {"stream", "version", "type"}) | {"payload", "payload_base64"}
        unknown = fields.keys() - known - set(_BASE64_KEYS) - set(_BASE64_KEYS.values())
        if unknown or not {"occurred_on", "recorded_at", "link"} <= fields.keys():
            raise ValueError(f"fields {sorted(unknown)}" if unknown else "a missing field")
    except (KeyError, ValueError, TypeError) as exc:
        raise Damaged(f"line {number} of the export (position {position}) is not an event "
                      f"record: {exc}", position) from None
    stream, version, kind = cells
    _check_dates(number, position, fields, state)
    return (position, b"" if stream is None else _text(stream), version,
            b"" if kind is None else _text(kind), state,
            _link(number, position, fields["link"]))


def _cell(fields: dict[str, Any], key: str) -> Any:
    """A cell written as its JSON value or, under ``<key>_base64``, as base64 bytes."""
    encoded = _BASE64_KEYS[key]
    if (key in fields) == (encoded in fields):
        raise KeyError(f"one of {key} and {encoded}")
    return fields[key] if key in fields else _unbase64(fields[encoded])


def _text(value: Any) -> bytes:
    # As the store's reader hashes a cell: its text's UTF-8 bytes (bytes as they are).
    return value if isinstance(value, bytes) else str(value).encode()


def _unbase64(value: Any) -> bytes:
    if type(value) is not str:
        raise TypeError("base64 must be a string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"bad base64: {exc}") from None


def _verbatim(line: bytes, payload: Any) -> bytes:
    """The payload's bytes: those after the ``payload`` key up to the line's closing
    brace; a line rewritten with its keys in another order gives its value's compact
    JSON (which then verifies only if that is what was stored)."""
    at = line.find(_PAYLOAD)
    end = len(line.rstrip(b"\r\n")) - 1
    if at >= 0 and end > at:
        return line[at + len(_PAYLOAD):end]
    return orjson.dumps(payload)


def _link(number: int, position: int, value: Any) -> bytes | None:
    if value is None:
        return None
    try:
        if type(value) is not str:
            raise ValueError
        return bytes.fromhex(value)
    except ValueError:
        raise Damaged(f"line {number} of the export (position {position}): its link is not "
                      "hexadecimal", position) from None


def _check_dates(number: int, position: int, fields: dict[str, Any], state: bytes) -> None:
    """The line's ``occurred_on`` and ``recorded_at`` must be the payload's own."""
    occurred_on, recorded_at = fields["occurred_on"], fields["recorded_at"]
    if type(occurred_on) is str and type(recorded_at) is str and state.startswith(
            b'{"timestamp":"%s","occurred_on":"%s"' % (recorded_at.encode(),
                                                       occurred_on.encode())) \
            and state.count(b'"timestamp"') == 1 and state.count(b'"occurred_on"') == 1:
        return  # the engine's own layout: the payload begins with them, once each
    try:
        payload = orjson.loads(state)
    except ValueError:
        payload = None
    if _dates(payload) != (occurred_on, recorded_at):
        raise Damaged(f"line {number} of the export (position {position}): its occurred_on "
                      "or recorded_at is not the payload's (the line was altered)", position)


def _check_trailer(number: int, line: bytes, found: ExportSummary) -> None:
    """The trailer (line ``number``) must say what the lines hold."""
    fields = orjson.loads(line)
    if fields.keys() != _TRAILER_KEYS or fields != found.as_json():
        said = {k: fields.get(k) for k in ("events", "links", "signatures", "last_position",
                                           "head")}
        raise Damaged(f"the export's trailer (line {number}) does not match its lines: it "
                      f"says {said}, the lines hold {found.events} events, {found.links} "
                      f"links and {found.signatures} signed heads, the last at position "
                      f"{found.last_position}, head {found.head}")
