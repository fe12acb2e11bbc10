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
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, pairwise
from operator import itemgetter, lt
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

from lifecycle.adapters import interpreters
from lifecycle.adapters.audit import (
    ALGORITHM,
    ChainReader,
    Damaged,
    EventRow,
    LinkRow,
    Record,
    SignedHead,
    Span,
    _chain,
)
from lifecycle.adapters.chain import GENESIS, HEADER
from lifecycle.adapters.interpreters import available_processes, can_start_workers
from lifecycle.adapters.store import StoreTarget

FORMAT = "lifecycle-export"
VERSION = 1
GZIP_LEVEL = 6
"""zlib's default: about a sixth of the plain size on this engine's events."""
BATCH = 512
"""Records per batch, read or written."""

_PAYLOAD = b',"payload":'
_LINE = (b'{"position":%d,"stream":"%s","version":%d,"type":"%s","occurred_on":"%s",'
         b'"recorded_at":"%s","link":"%s","payload":%s}\n')
"""An event line as :func:`_event_line` writes it, for strings that need no escaping."""
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


SealedKeys = tuple[str, list[tuple[str, bytes | None]]]
"""A sealed store's master key check value and key rows (reference, wrapped or None)."""


def sealed_keys(header: dict[str, Any]) -> SealedKeys | None:
    """The check value and key rows an export's header carries (None: a plain store's).

    Raises:
        ExportError: the header's ``sealed`` entry is malformed.
    """
    sealed = header.get("sealed")
    if sealed is None:
        return None
    try:
        check = sealed["check"]
        rows = [(str(reference), None if wrapped is None else base64.b64decode(wrapped))
                for reference, wrapped in sealed["keys"]]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise ExportError("the export's header holds a malformed 'sealed' entry") from None
    if not isinstance(check, str):
        raise ExportError("the export's header holds a malformed 'sealed' entry")
    return check, rows


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
                 as_at: datetime | None = None, keys: SealedKeys | None = None
                 ) -> ExportSummary:
    """Write the store's history to ``out`` in the export format.

    Args:
        reader: the store's events and chain links.
        out: a binary file (already compressing, if wanted).
        as_at: export the history as it had been recorded by then: the longest prefix
            of the log whose events were all recorded by ``as_at`` (an event whose
            recorded time cannot be read does not end it).
        keys: a sealed store's master key check value and key table (ADR 34): carried
            in the header, outside the chain, so that a restore under the same master
            key opens the same fields (a forgotten person's row, a tombstone, holds
            only the keyed reference).

    Returns:
        The trailer's figures.
    """
    # Nothing in the file depends on when or from where it was written: the same
    # history always gives the same bytes, so two exports compare with any checksum
    # tool, and export → restore → export gives the file back.
    _write_header(out, as_at, keys)
    tally = _Tally()
    _write_records(reader.record_batches(), out, tally, as_at)
    return _write_trailer(out, tally)


def _write_header(out: Writable, as_at: datetime | None,
                  keys: SealedKeys | None = None) -> None:
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION, "algorithm": ALGORITHM,
                              "as_at": None if as_at is None else _iso(as_at)}
    if keys is not None:
        check, rows = keys
        header["sealed"] = {"check": check, "keys": [
            [reference, None if wrapped is None else base64.b64encode(wrapped).decode()]
            for reference, wrapped in rows]}
    out.write(orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE))


def _write_records(batches: Iterator[list[Record]], out: Writable, tally: _Tally,
                   as_at: datetime | None) -> bool:
    """Write the lines of these batches of records, counted in ``tally``; whether
    ``as_at`` ended the history there (the lines then stop before the first event
    recorded after it)."""
    for batch in batches:
        lines, ended = _batch_lines(batch, tally, as_at)
        out.write(b"".join(lines))  # one write per batch
        if ended:
            return True
    return False


def _write_trailer(out: Writable, tally: _Tally) -> ExportSummary:
    summary = ExportSummary(tally.events, tally.links, tally.signatures, tally.last,
                            None if tally.head is None else tally.head.hex())
    out.write(orjson.dumps(summary.as_json(), option=orjson.OPT_APPEND_NEWLINE))
    return summary


class _Tally:
    """What the lines written so far hold, for the trailer."""

    def __init__(self) -> None:
        self.events = self.links = self.signatures = 0
        self.last: int | None = None
        self.head: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "links": self.links, "signatures": self.signatures,
                "last": self.last, "head": None if self.head is None else self.head.hex()}

    def add(self, part: dict[str, Any]) -> None:
        """Count the lines of a part written after those counted so far
        (:meth:`as_json` of the part's tally)."""
        self.events += int(part["events"])
        self.links += int(part["links"])
        self.signatures += int(part["signatures"])
        if part["last"] is not None:
            self.last = int(part["last"])
        if part["head"] is not None:
            self.head = bytes.fromhex(part["head"])


def _batch_lines(batch: list[Record], tally: _Tally,
                 as_at: datetime | None) -> tuple[list[bytes], bool]:
    """The lines of a batch of records, in order, each ending in a newline, counted in
    ``tally``; and whether ``as_at`` ended the history in this batch (the lines then
    stop before the first event recorded after it)."""
    engine = _engine_lines(batch)  # None unless every record is an event of the engine
    if engine is not None and as_at is None:
        # The hot path: a batch of events as the engine writes them, every one linked.
        tally.events += len(batch)
        tally.links += len(batch)
        tally.last, tally.head = batch[-1][0], batch[-1][5]
        return engine[0], False
    events = batch if engine is not None else [r for r in batch if len(r) == 6]
    if engine is None and events and len(events) < len(batch):
        engine = _engine_lines(events)  # the events between signed heads or lost links
    made = None if engine is None else zip(*engine, strict=True)
    lines: list[bytes] = []
    for record in batch:
        if len(record) == 3:  # the signed head at the position of the record before
            position, signed, signature = record
            lines.append(orjson.dumps({"position": position, "head": signed.hex(),
                                       "signature": base64.b64encode(signature).decode()},
                                      option=orjson.OPT_APPEND_NEWLINE))
            tally.signatures += 1
            continue
        if len(record) == 2:  # a link whose event is missing
            position, chained = record
            lines.append(orjson.dumps({"position": position, "link": chained.hex()},
                                      option=orjson.OPT_APPEND_NEWLINE))
            tally.links += 1
            tally.head, tally.last = chained, position
            continue
        position, oid, version, topic, state, chained = record
        if made is not None:
            line, when = next(made)
            recorded_at: str | None = when.decode()
        else:
            line, recorded_at = _event_line(position, oid, version, topic, state, chained)
        if as_at is not None and recorded_at is not None and _after(recorded_at, as_at):
            return lines, True
        lines.append(line)
        tally.events += 1
        if chained is not None:
            tally.links += 1
            tally.head = chained
        tally.last = position
    return lines, False


_TIMESTAMP, _OCCURRED_ON = itemgetter("timestamp"), itemgetter("occurred_on")


def _engine_lines(events: Sequence[Record]) -> tuple[list[bytes], list[bytes]] | None:
    """The lines of these events (each ending in a newline) and their recorded times,
    when every one is as the engine writes it; None when any is not, or any record is
    not an event (each event is then written by :func:`_event_line`).

    As the engine writes it: a linked event whose version is an int, whose payload is a
    JSON object on one line with a recorded time and a business date, and whose id,
    topic and dates are printable ASCII with no quote or backslash (what JSON writes
    as it is). The line is then formatted by hand — the very bytes
    :func:`_event_line` would make, at a fraction of the cost: the whole batch is
    checked and formatted column by column, with no Python code per event.
    """
    try:
        positions, oids, versions, topics, states, links = zip(*events, strict=True)
        payloads = list(map(orjson.loads, states))  # also checks that each is JSON
        recorded = list(map(str.encode, map(_TIMESTAMP, payloads)))
        occurred = list(map(str.encode, map(_OCCURRED_ON, payloads)))
        hexes = list(map(binascii.hexlify, links))
        text = b"".join(chain(oids, topics, recorded, occurred))
        payloads_joined = b"".join(states)
        if (text.translate(_MARK) != text or set(map(type, versions)) != {int}
                or b"\n" in payloads_joined or b"\r" in payloads_joined):
            return None  # e.g. a line break in a payload: the line would not be one line
        return list(map(_LINE.__mod__, zip(positions, oids, versions, topics, occurred,
                                              recorded, hexes, states, strict=True))), recorded
    except (KeyError, TypeError, ValueError):  # orjson's error is a ValueError
        return None


def export_to(reader: RecordSource, path: str, *, compress: bool | None = None,
              as_at: datetime | None = None, keys: SealedKeys | None = None,
              processes: int | None = None) -> ExportSummary:
    """Export to ``path`` (``-``: standard output), gzip-compressed when ``compress`` is
    true or, when None, when the name ends in ``.gz``. A file is written beside its
    final name and moved there only when complete, so a failed export leaves nothing.

    An uncompressed file of a large SQLite store is written by ``processes`` (default:
    one per available CPU, up to ``interpreters.MAX_PROCESSES``; 1 keeps it in this
    process), each writing the lines of a range of positions (ADR 41): the same bytes.
    """
    gzipped = path.endswith(".gz") if compress is None else compress
    if path == "-":
        import sys

        stdout = sys.stdout.buffer
        if gzipped:
            with gzip.GzipFile(fileobj=stdout, mode="wb", compresslevel=GZIP_LEVEL) as out:
                return write_export(reader, out, as_at=as_at, keys=keys)
        return write_export(reader, stdout, as_at=as_at, keys=keys)
    final = Path(path)
    partial = final.with_name(f".{final.name}.partial")
    try:
        with partial.open("wb") as raw:
            if gzipped:
                # No file name or time in the gzip header: the same history gives the
                # same bytes (an export is compared, and restored, by its content).
                with gzip.GzipFile(filename="", fileobj=raw, mode="wb",
                                   compresslevel=GZIP_LEVEL, mtime=0) as out:
                    summary = write_export(reader, out, as_at=as_at, keys=keys)
            else:
                found = _write_split(reader, raw, partial, as_at, processes, keys)
                summary = (write_export(reader, raw, as_at=as_at, keys=keys) if found is None
                           else found)
        partial.replace(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


SPLIT_MIN_EVENTS = 250_000
"""Positions each process must have to write before an export is split: a worker's
start and the copy of its lines cost about what writing 20,000 events does."""
SPLIT_PROBE = 50_000
"""Positions written by this process alone first, while it measures how many CPUs the
machine leaves idle (about a tenth of a second)."""
SPLIT_IDLE = 0.7
"""Idle CPU a worker needs: on a busy machine, a second process slows the first by more
than it helps."""
SPLIT_SHARE = 0.8
"""This process's range, against a worker's: it also copies the workers' lines."""
PART_MAIN = "lifecycle.adapters.export:part_main"


def _write_split(reader: RecordSource, out: BinaryIO, partial: Path, as_at: datetime | None,
                 processes: int | None, keys: SealedKeys | None = None
                 ) -> ExportSummary | None:
    """Write the export of a large SQLite store to ``out`` (the file ``partial``) split
    into ranges of positions (ADR 41): the first written here, each other by a worker
    interpreter to a file of its own beside ``partial``, then copied after the lines
    before it; the same bytes as :func:`write_export`. None, with nothing written, when
    the store is not SQLite or too small to split, or no worker can be started.

    With ``processes`` None, this process first writes :data:`SPLIT_PROBE` positions
    alone while it measures the CPU the machine leaves idle, and starts a worker per
    :data:`SPLIT_IDLE` of it (none: it writes the rest alone).

    Every range is bounded by the highest position in this process's snapshot, and the
    log only ever grows at its end (events are never updated nor deleted), so a
    worker's snapshot, begun a little later, holds the same records in its range. A
    worker that fails has its range written here instead, from this snapshot.
    """
    wanted = available_processes() if processes is None else processes
    if (not isinstance(reader, ChainReader) or reader.target.is_postgres or wanted < 2
            or not can_start_workers()):
        return None
    workers: list[tuple[subprocess.Popen[bytes] | None, Path, int, int]] = []
    try:
        with reader.record_snapshot() as snapshot:
            bounds = snapshot.bounds()
            if bounds is None or (bounds[1] - bounds[0] + 1) // SPLIT_MIN_EVENTS < 2:
                return None
            lo, last = bounds[0] - 1, bounds[1]
            _write_header(out, as_at, keys)
            tally = _Tally()
            if processes is None:
                before = _cpu_times()
                hi = lo + SPLIT_PROBE
                if _write_records(snapshot.batches(lo, hi), out, tally, as_at):
                    return _write_trailer(out, tally)
                lo = hi
                wanted = min(wanted, 1 + _idle_cpus(before))
            span = last - lo
            wanted = max(1, min(wanted, span // SPLIT_MIN_EVENTS))
            # This process also copies the workers' lines: it takes a smaller range.
            weight = wanted - 1 + SPLIT_SHARE
            cuts = [lo, *(lo + round(span * (i - 1 + SPLIT_SHARE) / weight)
                          for i in range(1, wanted)), last]
            ranges = list(pairwise(cuts))
            for number, (low, high) in enumerate(ranges[1:], 1):
                part = partial.with_name(f"{partial.name}.{number}")
                part.write_bytes(b"")  # there to follow from the start
                job = {"location": reader.target.location, "events": reader.events_table,
                       "chain": reader.chain_table, "lo": low, "hi": high, "path": str(part),
                       "as_at": None if as_at is None else as_at.isoformat()}
                workers.append((interpreters.start(PART_MAIN, json.dumps(job)), part, low,
                                high))
            ended = _write_records(snapshot.batches(*ranges[0]), out, tally, as_at)
            for worker, part, low, high in workers:
                if ended:
                    break
                found = None if worker is None else _copy_part(worker, part, out)
                if found is None:  # written here instead, from this snapshot
                    ended = _write_records(snapshot.batches(low, high), out, tally, as_at)
                    continue
                tally.add(found)
                ended = bool(found["ended"])
            return _write_trailer(out, tally)
    finally:
        for worker, part, _, _ in workers:
            if worker is not None:
                interpreters.stop(worker)
            part.unlink(missing_ok=True)


def _cpu_times() -> tuple[int, int] | None:
    """The machine's idle CPU time and its whole CPU time so far, in clock ticks
    (Linux's ``/proc/stat``); None where there is none."""
    try:
        with Path("/proc/stat").open("rb") as stat:
            fields = stat.readline().split()
        values = [int(value) for value in fields[1:9]]
    except (OSError, ValueError):
        return None
    if fields[:1] != [b"cpu"] or len(values) < 8:
        return None
    return values[3] + values[4], sum(values)  # idle and waiting for I/O


def _idle_cpus(before: tuple[int, int] | None) -> int:
    """The workers the CPU left idle since ``before`` makes room for (one per
    :data:`SPLIT_IDLE` of a CPU); as many as may run when it cannot be measured."""
    now = _cpu_times()
    if before is None or now is None or now[1] <= before[1]:
        return interpreters.MAX_PROCESSES
    idle = (os.cpu_count() or 1) * (now[0] - before[0]) / (now[1] - before[1])
    return int(idle / SPLIT_IDLE)


def part_main(argument: str) -> None:
    """A worker's main: write the lines of the job's range of positions to the job's
    file; print their tally, whether ``as_at`` ended the history there, and the bytes
    written, as JSON."""
    job = json.loads(argument)
    reader = ChainReader(StoreTarget("sqlite", job["location"], {}), job["events"],
                         job["chain"])
    as_at = None if job["as_at"] is None else datetime.fromisoformat(job["as_at"])
    tally = _Tally()
    with reader.record_snapshot() as snapshot, Path(job["path"]).open("wb") as out:
        ended = _write_records(snapshot.batches(job["lo"], job["hi"]), out, tally, as_at)
        written = out.tell()
    sys.stdout.write(json.dumps({**tally.as_json(), "ended": ended, "bytes": written}))


def _copy_part(worker: subprocess.Popen[bytes], part: Path,
               out: BinaryIO) -> dict[str, Any] | None:
    """Copy a worker's lines to the end of ``out`` as its file grows, then wait for its
    answer; None, with ``out`` as it was, when it failed or its file is not the size
    it says."""
    out.flush()
    start = out.seek(0, os.SEEK_END)
    with part.open("rb", buffering=0) as source:
        copied = 0
        while worker.poll() is None:
            grown = os.fstat(source.fileno()).st_size - copied
            if grown > 0:
                copied += _copy(source, out, grown)
            else:
                time.sleep(0.005)
        found, _ = interpreters.answer(worker)
        try:
            size = int(found["bytes"])
            _Tally().add(found)  # well-formed
            if os.fstat(source.fileno()).st_size != size or copied > size:
                raise ValueError
            copied += _copy(source, out, size - copied)
        except (OSError, ValueError, KeyError, TypeError):
            out.truncate(start)  # the range is written again, by this process
            out.seek(start)
            return None
    return dict(found)


def _copy(source: io.FileIO, out: BinaryIO, size: int) -> int:
    """Copy ``size`` bytes from ``source``'s position to the end of ``out`` (in the
    kernel when it can); the bytes copied."""
    copied = 0
    try:
        while copied < size:
            done = os.copy_file_range(source.fileno(), out.fileno(), size - copied)
            if done == 0:
                break
            copied += done
    except (AttributeError, OSError):  # no copy_file_range here, or not between these
        while copied < size:
            chunk = source.read(min(READ_CHUNK, size - copied))
            if not chunk:
                break
            out.write(chunk)
            copied += len(chunk)
        out.flush()
    out.seek(0, os.SEEK_END)
    if copied != size:
        raise OSError("a worker's lines could not be copied")
    return copied


def _event_line(position: int, oid: Any, version: Any, topic: Any, state: Any,
                chained: bytes | None) -> tuple[bytes, str | None]:
    """One event's line (ending in a newline) and its recorded time (None when the
    payload has none), for an event :func:`_engine_lines` did not take."""
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
        "payload": orjson.Fragment(state)}, option=orjson.OPT_APPEND_NEWLINE), recorded_at


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
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE), recorded_at


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
                for block in _blocks(handle):
                    yield scan.rows(block)
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
        """The fast pass in consecutive spans: an uncompressed export of at least
        ``SPLIT_MIN_BYTES`` per process in byte ranges of whole lines, the first checked
        here and each other by a worker, each from the link of the line before it; any
        other export (or when a worker cannot answer) in one span checked here."""
        parts = self._split(mark, processes)
        if parts is None:
            with self._open() as handle:
                handle.readline()
                parts = [_check_blocks(_blocks(handle), GENESIS, None, mark, progress)]
        spans = [span for span, _, _ in parts]
        trailers = [trailer for _, trailer, _ in parts]
        if not all(span.ok for span in spans) or trailers[-1] is None or any(trailers[:-1]):
            return [Span(False)]  # the exact pass names what is wrong
        events = sum(span.events for span in spans)
        links = sum(span.links for span in spans)
        last = next((span.last for span in reversed(spans) if span.last is not None), None)
        summary = ExportSummary(events, links, sum(signed for _, _, signed in parts), last,
                                spans[-1].head.hex() if links else None)
        if trailers[-1] != summary.as_json():
            return [Span(False)]
        if progress is not None:
            progress(events)
        return spans

    def _split(self, mark: int | None, processes: int | None) -> list[_Part] | None:
        """The fast pass split across processes; None when the export is not split."""
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
            parts = [_check_range(self.path, self.header_size, cuts[1], GENESIS, None, mark)]
            if parts[0][0].ok:
                for worker in workers:
                    found = _range_span(worker)
                    if found is None:
                        return None
                    parts.append(found)
        finally:
            for worker in workers:
                interpreters.stop(worker)
        return parts


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

    def rows(self, block: bytes) -> list[Row]:
        """The records of these lines (the trailer is noted, not returned). At a line
        that is not a record, or out of order, the records before it are returned and
        :attr:`damage` is set: the caller checks those first (an earlier problem in them
        is the one to report), then raises it."""
        found = None if self.trailer is not None else _engine_found(block)
        rows = None if found is None else _engine_rows(found, self.previous)
        if rows is not None:  # every line an event as the engine's are written
            self.counted(len(rows), rows[-1][0], rows[-1][5])
            return rows
        return self._line_rows(block.splitlines(keepends=True))

    def counted(self, events: int, last: int, head: bytes) -> None:
        """Count the lines of ``events`` linked events, the last at ``last`` with link
        ``head``, read without :meth:`rows`."""
        self.number += events
        self.events += events
        self.links += events
        self.previous, self.head = last, head

    def _line_rows(self, lines: list[bytes]) -> list[Row]:
        """:meth:`rows`, line by line."""
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


_Part = tuple[Span, dict[str, Any] | None, int]
"""A span of the fast pass, the trailer if met there, and the number of signed heads."""


def _blocks(handle: io.BufferedReader | gzip.GzipFile, size: int | None = None
            ) -> Iterator[bytes]:
    """Whole lines read from ``handle`` about :data:`READ_CHUNK` bytes at a time: every
    line (``size`` None) or those that begin in the next ``size`` bytes."""
    left = READ_CHUNK if size is None else size
    while left > 0:
        block = handle.read(min(READ_CHUNK, left))
        if not block:
            return
        if not block.endswith(b"\n"):
            block += handle.readline()
        if size is not None:
            left -= len(block)
        yield block


def _check_range(path: Path, lo: int, hi: int, start: bytes, position: int | None,
                 mark: int | None) -> _Part:
    """The fast pass over the lines beginning in [lo, hi) (see :func:`_check_blocks`)."""
    with path.open("rb") as handle:
        handle.seek(lo)
        return _check_blocks(_blocks(handle, hi - lo), start, position, mark)


def _check_blocks(blocks: Iterator[bytes], start: bytes, position: int | None,
                  mark: int | None, progress: Callable[[int], None] | None = None) -> _Part:
    """The fast pass over blocks of whole lines, chained from ``start`` (the link of the
    record before them, at ``position``); the trailer, if met there; and the number of
    signed heads. ``mark``: the digest's position, where the span notes its count and
    head.

    A block of event lines as the engine's are written is chained as it is parsed, with
    no row made; any other block is read line by line, as :class:`ExportReader` reads
    it for the exact pass.
    """
    scan = _Scan(0, position)
    previous, count, last, at_mark = start, 0, None, None
    marked = mark is None
    try:
        for block in blocks:
            found = None if scan.trailer is not None else _engine_found(block)
            if found is not None and (marked or int(found[-1][0]) < mark):  # type: ignore[operator]
                chained = _chain_found(previous, scan.previous, found)
                if chained is None:
                    return Span(False), None, 0
                previous, last = chained
                count += len(found)
                scan.counted(len(found), last, previous)
                if progress is not None:
                    progress(count)
                continue
            rows = [row for row in scan.rows(block) if len(row) == 6]
            if scan.damage is not None:
                return Span(False), None, 0
            if not marked and rows and rows[-1][0] >= mark:
                marked = True
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
            if progress is not None:
                progress(count)
    except (Damaged, OSError, EOFError, zlib.error):  # the exact pass names it
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


_LINES = re.compile(
    rb'^(?:\{"position":(0|-?[1-9][0-9]*),"stream":"([^"\n]*)","version":(0|-?[1-9][0-9]*),'
    rb'"type":"([^"\n]*)","occurred_on":"([^"\n]*)","recorded_at":"([^"\n]*)",'
    rb'"link":"(.{64})","payload":(\{"timestamp":"\6","occurred_on":"\5"(.*))\}\n'
    rb'|(.*\n))', re.MULTILINE)
"""Each whole line of a block: an event line as :func:`write_export` writes an event of
the engine — its recorded time and business date as the payload begins — in the groups
position, stream, version, type, occurred_on, recorded_at, link, payload and the
payload's rest after the dates; any other line in the last group."""


_TEXTS, _REST, _OTHER = itemgetter(1, 3, 4, 5), itemgetter(8), itemgetter(9)
_POSITION, _STREAM, _VERSION, _TYPE, _HEX, _STATE = map(itemgetter, (0, 1, 2, 3, 6, 7))
_BEFORE_ALL = -(2**63) - 1
"""Below every 64-bit position."""


def _engine_found(block: bytes) -> list[tuple[bytes, ...]] | None:
    """The groups of :data:`_LINES` for each line of a block of whole lines when every
    one is an event line as the engine's are written; None when any is not (the lines
    are then read one by one, and any doubt settled by parsing them).

    Besides the shape the pattern checks: the strings before the payload hold nothing
    but printable ASCII with no backslash (so no escape: they are what they say), and
    the payload names its recorded time and business date once each (so the copies are
    the payload's). That is a full check of the lines but for their link (which
    :func:`_engine_rows` and :func:`_chain_found` read as hexadecimal) and the order of
    their positions, made for the whole block at once, with no Python code per line.
    """
    if not block.endswith(b"\n"):
        return None
    found = _LINES.findall(block)
    if not found or any(map(_OTHER, found)):
        return None
    text = b"".join(chain.from_iterable(map(_TEXTS, found)))
    rest = b"\n".join(map(_REST, found))
    if (text.translate(_MARK) != text or b'"timestamp"' in rest
            or b'"occurred_on"' in rest):
        return None
    return found


def _engine_rows(found: list[tuple[bytes, ...]], previous: int | None) -> list[Row] | None:
    """The rows of the lines :func:`_engine_found` found, when their positions increase
    after ``previous`` and their links are hexadecimal; None otherwise."""
    numbers = list(map(int, map(_POSITION, found)))
    if ((previous is not None and numbers[0] <= previous)
            or not all(map(lt, numbers, numbers[1:]))):
        return None  # out of order: the lines say where
    try:
        chained = list(map(binascii.unhexlify, map(_HEX, found)))
    except ValueError:  # binascii.Error
        return None
    return list(zip(numbers, map(_STREAM, found), map(int, map(_VERSION, found)),
                    map(_TYPE, found), map(_STATE, found), chained, strict=True))


def _chain_found(head: bytes, previous: int | None, found: list[tuple[bytes, ...]],
                 sha256: Callable[[bytes], Any] = hashlib.sha256,
                 join: Callable[[Any], bytes] = b"".join,
                 pack: Callable[..., bytes] = HEADER.pack,
                 hexlify: Callable[[bytes], bytes] = binascii.hexlify,
                 ) -> tuple[bytes, int] | None:
    """The link after the lines :func:`_engine_found` found, chained from ``head``, and
    the last one's position; None when a line's link is not the one computed (in its
    lower-case hexadecimal digits) or the positions do not increase after ``previous``.
    The fast pass's hot loop: each line hashed as it is parsed, with no row made."""
    last = _BEFORE_ALL if previous is None else previous
    try:
        for position, oid, version, topic, _, _, link, state, _, _ in found:
            number = int(position)
            if number <= last:
                return None
            last = number
            # The same bytes as lifecycle.adapters.chain.link, inlined.
            head = sha256(join((head, pack(number, int(version), len(oid), len(topic)),
                                oid, topic, state))).digest()
            if hexlify(head) != link:
                return None
    except struct.error:  # a number beyond 64 bits
        return None
    return head, last


def _event_row(line: bytes) -> Row | None:
    """The row of one event line exactly as :func:`write_export` writes an event of the
    engine (see :func:`_engine_found`); None for any other line (which
    :func:`_slow_row` then reads)."""
    found = _engine_found(line)
    rows = None if found is None or len(found) != 1 else _engine_rows(found, None)
    return None if rows is None else rows[0]


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
            _DATES % (recorded_at.encode(), occurred_on.encode())) \
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
