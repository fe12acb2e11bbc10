"""Reading the event log for the views: notifications in batches, decoded (and
upcast) for the fold, and the passes of a large rebuild.

Positions are notification ids, which may have gaps (PostgreSQL): the code never
assumes they are contiguous.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate, pairwise
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, Protocol

import orjson
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper, upcast
from lifecycle.adapters.sealing import Sealing
from lifecycle.domain.base import event_class_for_topic
from lifecycle.domain.duo import Duo
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from projections.fold import (
    HANDLERS,
    TOPICS,
    contract_id,
    evolve_stored,
)
from projections.views import ReadModel

BATCH_SIZE: Final = 5_000
RECRUITED: Final = Duo.Recruited.TOPIC
OPENED: Final = Programme.Opened.TOPIC
DUO_TOPICS: Final = tuple(t for t in TOPICS
                           if event_class_for_topic(t).__qualname__.startswith("Duo."))


_EXCLUDE: Final = {"originator_id", "originator_version"}

Decoded = tuple[str, str, int, dict[str, Any]]
"""An event as the fold's fast path takes it: topic, stream id, version, payload."""
Progress = Callable[[int, int], None]
"""Called with (position reached, log position aimed at) after each batch."""


class Recorder(Protocol):
    """The part of eventsourcing's ``ApplicationRecorder`` the views use."""

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> Sequence[Notification]: ...

    def max_notification_id(self) -> int | None: ...


class EventMapper(Protocol):
    def to_domain_event(self, stored_event: Any) -> Any: ...


# ---------------------------------------------------------------------- reading
Raw = tuple[int, str, int, str, bytes]
"""A notification as read: id, stream id, version, topic, stored state."""


def read(recorder: Recorder, start: int, stop: int, limit: int) -> Sequence[Raw]:
    """Up to ``limit`` followed notifications with ``start < id <= stop``, in order.

    From the library's SQLite recorder they are read with one plain query on its own
    connection: building a ``Notification`` per row would cost more than the fold.
    """
    if isinstance(recorder, SQLiteApplicationRecorder):
        with sqlite_reader(recorder) as cursor:
            cursor.execute(_SQLITE_READ.format(table=recorder.events_table_name),
                           (start, stop, *TOPICS, limit))
            rows: Sequence[Raw] = cursor.fetchall()
            return rows
    return [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in recorder.select_notifications(start, limit, stop=stop, topics=TOPICS,
                                                   inclusive_of_start=False)]


@contextmanager
def sqlite_reader(recorder: SQLiteApplicationRecorder) -> Iterator[sqlite3.Cursor]:
    """A plain ``sqlite3`` cursor of the recorder's, in a read transaction, giving rows
    as tuples (the library's connections make ``sqlite3.Row`` objects, which cost a
    third more to make and to unpack)."""
    with recorder.datastore.transaction(commit=False) as wrapped, wrapped as cursor:
        cursor.row_factory = None
        yield cursor


_SQLITE_READ: Final = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
    f"WHERE rowid > ? AND rowid <= ? AND topic IN ({', '.join('?' * len(TOPICS))}) "
    "ORDER BY rowid LIMIT ?")


class Decoder:
    """Turns notifications into :data:`Decoded` events, or folds them straight away.

    With the engine's own mapper (no cipher, no compressor) the stored JSON already is
    the payload the fold reads (``model_dump(mode="json")``), so it is decoded without
    building pydantic models; with any other mapper, through the mapper.
    """

    def __init__(self, mapper: EventMapper, *, preload: bool = False) -> None:
        self.mapper = mapper
        self.loads: Callable[[bytes], Any] | None = None
        # A sealed store's personal fields are opened as they are read (None where
        # they cannot be); a forgotten mentor's id gives way to their reference, which
        # still names them in the views (ADR 35). Only the events with personal fields
        # are opened, each data key unwrapped once (the key ring keeps it).
        self.sealing: Sealing | None = getattr(mapper, "sealing", None)
        if self.sealing is not None and preload:
            self.sealing.preload()
        if (isinstance(mapper, PydanticMapper) and mapper.cipher is None
                and mapper.compressor is None):
            transcoder = mapper.transcoder
            # The engine's transcoder is orjson itself: calling it directly saves a frame
            # per event.
            self.loads = (orjson.loads if type(transcoder) is OrjsonTranscoder
                          else transcoder.decode)

    @property
    def plain(self) -> bool:
        """Whether stored states are plain orjson (what a worker interpreter decodes
        without the mapper, and so without any key)."""
        return self.loads is orjson.loads and self.sealing is None

    def _open(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert self.sealing is not None
        return self.sealing.open(payload, _KEEP_REFERENCE)

    def __call__(self, raw: Raw) -> Decoded:
        _, stream_id, version, topic, state = raw
        if self.loads is not None:
            payload = self.loads(state)
            if self.sealing is not None and topic in SEALED_TOPICS:
                self._open(payload)
            return self._upcast(topic, stream_id, version, payload)
        # (the mapper opens a sealed store's fields itself)
        event = self.mapper.to_domain_event(StoredEvent(stream_id, version, topic, state))
        return (type(event).TOPIC, event.originator_id, event.originator_version,
                event.model_dump(mode="json", exclude=_EXCLUDE))

    @staticmethod
    def _upcast(topic: str, stream_id: str, version: int,
                payload: dict[str, Any]) -> Decoded:
        return topic, stream_id, version, upcast(event_class_for_topic(topic), payload)

    def fold(self, state: ReadModel, batch: Iterable[Stored]) -> None:
        """Apply ``batch`` to ``state``: what :func:`evolve_stored` does for each decoded
        event, in one loop (the hot path of a rebuild)."""
        loads = self.loads
        if loads is None:
            for stream_id, version, topic, blob in batch:
                evolve_stored(state, *self((0, stream_id, version, topic, blob)))
            return
        handlers = HANDLERS
        if _UPCAST or self.sealing is not None:
            for stream_id, version, topic, blob in batch:
                evolve_stored(state, *self((0, stream_id, version, topic, blob)))
            return
        # No followed class is above version 1, so no payload needs upcasting (one
        # stored with a class_version keeps it as a key the handlers do not read).
        for stream_id, version, topic, blob in batch:
            handler = handlers.get(topic)
            if handler is not None:
                handler(state, stream_id.partition(":")[2], version, loads(blob))


SEALED_TOPICS: Final = frozenset((
    Duo.Recruited.TOPIC, Duo.Matched.TOPIC, Duo.Reviewed.TOPIC, Duo.SurveyRecorded.TOPIC,
    Mentor.Registered.TOPIC, Mentor.TrainingRecorded.TOPIC))
"""The events whose personal fields a sealed store seals (ADR 34)."""
_KEEP_REFERENCE: Final = ("mentor_id",)

_UPCAST: Final = frozenset(topic for topic in TOPICS
                           if event_class_for_topic(topic).class_version > 1)
"""Topics whose stored payloads may need upcasting (none while every class is at v1)."""

Stored = tuple[str, int, str, bytes]
"""An event as a rebuild reads it: stream id, version, topic, stored state."""
_TOPIC: Final = itemgetter(2)



@dataclass(frozen=True)
class Pass:
    """What one pass of a rebuild reads: every event of the duos whose stream ids lie in
    ``[low, high)`` (None: unbounded), plus the events every pass needs.

    A rebuild of a large log folds its duos in several passes over the log, each
    holding only its own duos' records, so that its memory does not grow with the log.
    Every pass also folds the programmes (a recruitment reads its programme's country)
    and every recruitment (which links a predecessor to its successor across ranges);
    the first pass also folds the sites and mentors.
    """

    low: str | None = None
    high: str | None = None
    first: bool = True

    @property
    def whole(self) -> bool:
        return self.low is None and self.high is None

    @property
    def topics(self) -> tuple[str, ...]:
        return TOPICS if self.first else (OPENED, *DUO_TOPICS)

    @property
    def shared_topics(self) -> tuple[str, ...]:
        """Topics read whatever their stream (every other one only in range)."""
        return (*(t for t in TOPICS if t not in DUO_TOPICS), RECRUITED) if self.first \
            else (OPENED, RECRUITED)

    def where(self) -> tuple[str, tuple[Any, ...]]:
        """The SQL condition on a notification (``topic``, ``originator_id``)."""
        topics = self.topics
        sql = f"topic IN ({', '.join('?' * len(topics))})"
        if self.whole:
            return sql, topics
        bounds = [(">=", self.low), ("<", self.high)]
        in_range = " AND ".join(f"originator_id {op} ?" for op, at in bounds if at is not None)
        shared = self.shared_topics
        # The range first: most rows fail it at once (the shared topics are among the
        # followed ones), which makes the scan of each pass about a third cheaper.
        head = (f"(({in_range}) AND {sql}) OR ",
                (*(f"duo:{at}" for _, at in bounds if at is not None), *topics))
        if self.first:
            return (head[0] + f"topic IN ({', '.join('?' * len(shared))})",
                    (*head[1], *shared))
        # A later pass needs, of another range's recruitments, only those that link a
        # predecessor (a recruitment without one changes no other duo, and the first
        # pass counts them all): those whose stored JSON says "no predecessor" are left
        # out (a state in any other form, ciphered or compressed, is read as before).
        return (head[0] + "topic = ? OR (topic = ? AND instr(state, ?) = 0)",
                (*head[1], OPENED, RECRUITED, NO_PREDECESSOR))

    def as_tuple(self) -> tuple[str | None, str | None, bool]:
        return self.low, self.high, self.first

    def holds(self, duo_id: str) -> bool:
        return ((self.low is None or duo_id >= self.low)
                and (self.high is None or duo_id < self.high))


NO_PREDECESSOR: Final = b'"predecessor_duo_id":null'
"""How a recruitment's stored JSON (orjson's, or pydantic's: the same bytes) says it
rematches no duo (a JSON string cannot hold these bytes: its quotes are escaped)."""

PASS_EVENTS: Final = 400_000
"""Duo events one pass of a rebuild folds at most (a pass holds about 250 bytes of
records per event); a log with more is rebuilt in several passes."""


def plan_passes(recorder: Recorder, stop: int, per_pass: int | None = None) -> list[Pass]:
    """The passes that rebuild the log up to ``stop`` in one process (see
    :func:`plan_shares`)."""
    return plan_shares(recorder, stop, 1, per_pass)[0]


def plan_shares(recorder: Recorder, stop: int, processes: int,
                per_pass: int | None = None, *, first: float = 1.0) -> list[list[Pass]]:
    """The passes that rebuild the log up to ``stop``, shared out between ``processes``.

    One pass unless the log's duos have more than ``per_pass`` events (default
    :data:`PASS_EVENTS`); then the duos, in stream order (a duo is never split), are cut
    into ``processes`` contiguous shares (fewer when there are too few duos) of about as
    many events each, the first ``first`` times as many as each other, and each share
    into as few passes of about equal events as keep each at most ``per_pass``. Only the
    library's SQLite recorder is read in several passes; the first pass of the first
    share is the one that also folds the sites and mentors.
    """
    per_pass = PASS_EVENTS if per_pass is None else max(1, per_pass)
    if not isinstance(recorder, SQLiteApplicationRecorder) or stop <= per_pass:
        return [[Pass()]]
    with sqlite_reader(recorder) as cursor:
        # Counted from the primary key's index alone ("duo;" is the first string after
        # every "duo:..." one).
        cursor.execute(f"SELECT originator_id, count(*) FROM {recorder.events_table_name} "
                       "WHERE originator_id >= 'duo:' AND originator_id < 'duo;' "
                       "AND rowid <= ? GROUP BY originator_id ORDER BY originator_id",
                       (stop,))
        counts: list[tuple[str, int]] = cursor.fetchall()
    total = sum(events for _, events in counts)
    if total <= per_pass:
        return [[Pass()]]
    # Where each share, then each of its passes, begins: the first duo at which the
    # events before it reach the share's (the pass's) part of the whole.
    shares = _cut(counts, 0, len(counts), [first] + [1.0] * (max(1, processes) - 1))
    starts: list[list[int]] = []
    for begin, end in zip(shares, [*shares[1:], len(counts)], strict=True):
        events = sum(n for _, n in counts[begin:end])
        starts.append(_cut(counts, begin, end, [1.0] * -(-events // per_pass)))
    bounds = [i for share in starts for i in share]
    ids: list[str | None] = [None, *(contract_id(counts[i][0]) for i in bounds[1:]), None]
    passes = iter([Pass(low, high, first=i == 0)
                   for i, (low, high) in enumerate(pairwise(ids))])
    return [[next(passes) for _ in share] for share in starts]


def _cut(counts: Sequence[tuple[str, int]], begin: int, end: int,
         weights: Sequence[float]) -> list[int]:
    """Where each of (at most) ``len(weights)`` runs begins among the streams
    ``counts[begin:end]`` (``begin`` first; a run holds one stream at least), each run
    with about its weight's part of their events: a run ends before the stream that
    would take it further past its part than it is short of it (a stream is never
    split), so that with two weights or more and two streams there are two runs."""
    total = sum(n for _, n in counts[begin:end])
    targets = list(accumulate(w * total / sum(weights) for w in weights))
    starts, held = [begin], 0
    for i in range(begin, end):
        target = targets[len(starts) - 1]
        if i > starts[-1] and held + counts[i][1] - target > target - held:
            starts.append(i)
        held += counts[i][1]
    return starts


def batches(recorder: Recorder, start: int, stop: int, size: int,
             scope: Pass = Pass()) -> Iterator[tuple[list[Stored], int]]:
    """The events of ``scope`` after ``start`` up to ``stop``, in order, a batch per
    ``size`` notification ids, each with the position it reaches (``stop`` at last).

    From the library's SQLite recorder they are read in one transaction, so the whole
    range comes from one snapshot of the log, with one plain query per batch on its
    own connection. (A pass's rows found by their positions in the stream index instead
    of a scan measured no faster, and took more memory.)
    """
    if isinstance(recorder, SQLiteApplicationRecorder):
        where, params = scope.where()
        query = (f"SELECT originator_id, originator_version, topic, state "
                 f"FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ? "
                 f"AND ({where})")
        with sqlite_reader(recorder) as cursor:
            for low in range(start, stop, size):
                high = min(low + size, stop)
                cursor.execute(query, (low, high, *params))
                yield cursor.fetchall(), high
        return
    if not scope.whole:
        raise ValueError("only the SQLite recorder is read in passes")
    position = start
    while position < stop:
        found = read(recorder, position, stop, size)
        position = found[-1][0] if len(found) == size else stop
        yield [raw[1:] for raw in found], position


@contextmanager
def bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector while a fold builds many objects.

    The records hold no reference cycles, and a collection pass over hundreds of
    thousands of live records after every few hundred allocations would triple the
    time of a rebuild.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fold_log(recorder: Recorder, decoder: Decoder, state: ReadModel, start: int,
              stop: int, size: int, progress: Progress | None,
              scope: Pass = Pass()) -> int:
    """Fold the events of ``scope`` from ``start`` to ``stop`` into ``state``; return
    how many were new to the rebuild (a later pass re-reads the shared ones).

    The caller writes every record afterwards, so the changes are not kept (they would
    grow with the log); the duos out of the pass's range are dropped as they come.
    """
    count = 0
    shared = frozenset(() if scope.first else scope.shared_topics).__contains__
    low, high = scope.low, scope.high
    for batch, position in batches(recorder, start, stop, size, scope):
        decoder.fold(state, batch)
        if not scope.whole:
            duos = state.duos
            for duo_id in state.changes.duos:  # (what scope.holds tells, inline)
                if (low is not None and duo_id < low) or (high is not None and duo_id >= high):
                    duos.pop(duo_id, None)
        state.changes.clear()
        count += len(batch) - sum(map(shared, map(_TOPIC, batch)))
        if progress is not None:
            progress(position, stop)
    return count


def sqlite_file(recorder: Recorder) -> str | None:
    """The file of the library's SQLite recorder (None for any other store, or an
    in-memory database)."""
    if not isinstance(recorder, SQLiteApplicationRecorder):
        return None
    name = str(recorder.datastore.pool.db_name)
    if name.startswith("file:") or ":memory:" in name or not Path(name).is_file():
        return None
    return name
