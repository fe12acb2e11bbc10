"""Synthetic command streams shaped like the 2025 M4Pris pilot (CONTRACT §2).

Four programmes (DK, PT, RO, GR) with a few sites each, mentor pools that are trained
over time, and duos recruited over several months that go through the whole lifecycle:
dropouts at every stage, completions, rematches, ``programme_ended`` closures, contacts
(some entered late, a few retracted), reviews and pre/post surveys.

The simulator is a small discrete-event simulation over a calendar: for every day, one
FIFO bucket per priority (set-up, mentors, duos) holds what a coordinator enters that
day, as ``(handler, subject, payload)`` items. Handling an item returns the command to
emit (or nothing) and may schedule further items on that day or later; the stream is
the calendar walked day by day. A duo's fate (dates, mentor, close reason) is planned
when it is recruited, but its contacts, reviews and surveys are scheduled one at a time,
so memory stays proportional to the duos open at one time, not to the stream's length.

Every item is scheduled by the item it depends on (a duo's select by its recruit, a
contact by the activation or the previous contact, a retraction by its contact, a
successor's recruit by the predecessor's close), on the same day or later: the file
order therefore respects every "not before" of the contract. An item's entry day is
never before its ``occurred_on``; a late entry is one entered after its business date.

Dates are handled as proleptic ordinals (``date.toordinal()``) for speed.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import IO, Any

import orjson

from lifecycle.simulate.pilot import Command
from lifecycle.simulate.simulation import _Simulation

__all__ = ["generate", "write_jsonl"]


def generate(seed: int, duos: int, *, start: date = date(2025, 1, 6),
             today: date | None = None) -> Iterator[dict[str, Any]]:
    """Yield a realistic command stream (CONTRACT §2 command dicts) in file order.

    The stream opens four programmes shaped like the 2025 M4Pris pilot (``DK-2025``,
    ``PT-2025``, ``RO-2025``, ``GR-2025``), registers their sites and mentor pools
    (about one mentor per 2.5 duos), trains the mentors and recruits exactly ``duos``
    duos (rematch successors included) over six to nine months from ``start``; each duo
    then lives its lifecycle until it drops out, completes, is rematched or the
    programme ends, 16 to 18 months after ``start``. File order is the order of entry:
    chronological, except for late entries. Every command would be accepted by an empty
    store; commands that would happen after today (UTC) are not generated.

    Args:
        seed: Seed of the private ``random.Random``; the same seed gives the same stream
            (as long as the whole stream lies before today).
        duos: Number of duos to recruit (``recruit`` commands).
        start: Day the first programme opens.
        today: The day the stream stops, as if it were today: what would have been
            entered after it is not generated (default: today, UTC).

    Returns:
        An iterator of command dicts, each with a unique ``command_id``
        (``sim{seed}-{n:07d}``); about 50 commands per duo.

    Raises:
        ValueError: If ``duos`` is negative or the seed makes command ids too long.
    """
    if duos < 0:
        raise ValueError("duos must not be negative")
    if len(f"sim{seed}-") > 56:
        raise ValueError("seed too long for a 64-character command_id")
    return _Simulation(seed, duos, start, today or datetime.now(UTC).date()).run()


def write_jsonl(path_or_stream: str | os.PathLike[str] | IO[Any], seed: int, duos: int,
                **kw: Any) -> int:
    """Write ``generate(seed, duos, **kw)`` as JSONL: one compact object per line.

    Args:
        path_or_stream: A file path (created or overwritten), or an open text or binary
            stream (left open).
        seed: Passed to :func:`generate`.
        duos: Passed to :func:`generate`.
        **kw: Passed to :func:`generate` (``start``, ``today``).

    Returns:
        The number of lines written.
    """
    if isinstance(path_or_stream, str | os.PathLike):
        with open(path_or_stream, "wb") as stream:
            return _write(stream, generate(seed, duos, **kw), text=False)
    return _write(path_or_stream, generate(seed, duos, **kw),
                  text=isinstance(path_or_stream, io.TextIOBase))


def _write(stream: IO[Any], commands: Iterator[Command], *, text: bool) -> int:
    dumps = orjson.dumps
    lines = 0
    chunk: list[bytes] = []
    for cmd in commands:
        chunk.append(dumps(cmd))
        lines += 1
        if len(chunk) == 8192:
            _flush(stream, chunk, text)
            chunk = []
    if chunk:
        _flush(stream, chunk, text)
    return lines


def _flush(stream: IO[Any], chunk: list[bytes], text: bool) -> None:
    data = b"\n".join(chunk) + b"\n"
    stream.write(data.decode() if text else data)
