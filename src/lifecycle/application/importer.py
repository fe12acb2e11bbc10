"""Import of JSONL command files (CONTRACT §3 ``lifecycle import``).

Each line is its own command: valid lines are applied even when others are rejected.
Commands are grouped into transactions of up to ``batch_size`` for speed
(:func:`lifecycle.application.batch.apply_batch`); a rejected command changes nothing in
its batch, and when a batch cannot be committed because another process wrote the same
aggregates, its commands are re-applied one by one (re-checked against the store as it
now is).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from lifecycle.application.batch import Submission, apply_batch
from lifecycle.application.commands import Command, parse_command
from lifecycle.application.engine import Lifecycle, Outcome
from lifecycle.domain.errors import DomainError, InvalidCommand
from lifecycle.domain.vocabulary import ID_PATTERN

log = structlog.get_logger(__name__)
_VALID_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class Rejection:
    """One rejected line: 1-based line number, its own valid command id, the error."""

    line: int
    command_id: str | None
    error: str


@dataclass
class ImportResult:
    """What an import did (the ``--json`` output of CONTRACT §3)."""

    applied: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    lines: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "duplicates": self.duplicates,
            "rejected": [{"line": r.line, "command_id": r.command_id, "error": r.error}
                         for r in self.rejected],
        }


def _own_command_id(raw: Any) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("command_id")
        if isinstance(value, str) and _VALID_ID.fullmatch(value):
            return value
    return None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one batch is applied.

    A batch keeps its commands, events and markers alive until it commits, so each
    collection during it finds them alive and moves them to an older generation, and
    that promotion triggers full collections walking every cached aggregate: a quarter
    of the time of a large import went there. Paused around the call of a batch, the
    collector resumes once the batch's objects were freed by reference counting; only
    cycles wait for the next collection. It is resumed only when this paused it
    (another thread may have paused it too).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class LineRejected(Exception):
    """A line that is not a valid command, with its own command id when it has one."""

    def __init__(self, error: DomainError, command_id: str | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.command_id = command_id


def decode_line(text: bytes) -> tuple[dict[str, Any], Command]:
    """Decode and validate one JSONL line.

    Raises:
        LineRejected: the line is not JSON, not an object, or breaks rule 1.
    """
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise LineRejected(InvalidCommand(f"not valid JSON ({exc})"), None) from None
    try:
        return raw, parse_command(raw, text)
    except DomainError as exc:
        raise LineRejected(exc, _own_command_id(raw)) from None


class Importer:
    """Applies a stream of JSONL lines to an engine.

    Args:
        engine: the engine to apply commands to.
        batch_size: commands per transaction (1 = one transaction per command).
        on_commit: called after each committed transaction (e.g. projection catch-up).
        progress: called with the number of lines read so far, after each batch.
    """

    def __init__(self, engine: Lifecycle, *, batch_size: int = 500,
                 on_commit: Callable[[], None] | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.engine = engine
        self.batch_size = max(1, batch_size)
        self.on_commit = on_commit
        self.progress = progress

    def run(self, lines: Iterable[bytes | str]) -> ImportResult:
        """Apply every line; return counts and rejections (sorted by line)."""
        result = ImportResult()
        chunk: list[tuple[int, bytes]] = []
        number = 0
        for number, line in enumerate(lines, start=1):
            text = line.encode() if isinstance(line, str) else line
            if not text.strip():
                continue
            chunk.append((number, text))
            if len(chunk) >= self.batch_size:
                with _collector_paused():
                    self._run_batch(chunk, result)
                chunk = []
                if self.progress:
                    self.progress(number)
        with _collector_paused():
            self._run_batch(chunk, result)
        result.lines = number
        if self.progress:
            self.progress(number)
        result.rejected.sort(key=lambda r: r.line)
        return result

    def _run_batch(self, chunk: list[tuple[int, bytes]], result: ImportResult) -> None:
        decoded: list[tuple[int, dict[str, Any], Command]] = []
        for number, text in chunk:
            try:
                raw, command = decode_line(text)
            except LineRejected as exc:
                self._reject(result, number, exc.command_id, exc.error)
                continue
            decoded.append((number, raw, command))
        self._flush(decoded, result)

    def _reject(self, result: ImportResult, line: int, command_id: str | None,
                exc: DomainError) -> None:
        # The line, rule and field, not the command id nor the message: callers often
        # build command ids from people's ids (ADR 35), messages name the mentor or
        # mentee at fault ("mentor 'X' is not trained"), and a log must not keep a
        # person's id (contract §8). The caller gets the whole message in the result.
        log.info("command_rejected", line=line, rule=exc.rule, field=exc.field)
        result.rejected.append(Rejection(line, command_id, str(exc)))

    def _flush(self, decoded: list[tuple[int, dict[str, Any], Command]],
               result: ImportResult) -> None:
        """Apply the decoded lines as one batch; count its outcomes, report its rejections."""
        if not decoded:
            return
        settled = apply_batch(self.engine, [Submission(command, raw)
                                            for _, raw, command in decoded])
        for (number, raw, _), done in zip(decoded, settled, strict=True):
            if done.error is not None:
                self._reject(result, number, _own_command_id(raw), done.error)
            else:
                self._count(result, done.outcome)
        if self.on_commit:
            self.on_commit()

    @staticmethod
    def _count(result: ImportResult, outcome: Outcome | None) -> None:
        assert outcome is not None
        if outcome is Outcome.APPLIED:
            result.applied += 1
        else:
            result.duplicates += 1
