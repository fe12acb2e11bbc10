"""What the service holds while it runs: the engine with its one writer, the readers
of the views, the token store and the wake-up of event streams.

Connections to the store's database belong to one thread each (SQLite wants a
connection used and closed by the thread that made it): the views are read on a few
reader threads, each with its own connection, and the token store lives on a thread
of its own. The engine's event store reads (a duo, its history, the log) go through
the library's connection pool, safe from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from lifecycle.adapters.store import StoreTarget
from lifecycle.adapters.tokens import TokenInfo, TokenStore
from lifecycle.application.engine import Lifecycle
from lifecycle.application.groupcommit import GroupCommitter
from lifecycle.bootstrap import open_engine
from projections.facade import Views

T = TypeVar("T")

READERS = 2
"""Threads that read the views, each with its own connection."""

ANSWERS = 64
"""How many answers :class:`Answers` keeps at one head of the log."""


class Answers:
    """Encoded answers of queries of the views, kept while the event log's head stays
    where it was when they were computed (ADR 37).

    An answer is a function of its query and of the events up to the head: the views
    are a fold of the log, and every query kept names all it depends on (dates,
    programme, options; never "today"). So an answer computed at head ``h`` is the
    answer of any later request that finds the head still at ``h``; the first request
    that finds another head drops them all. Only :data:`ANSWERS` are kept (the least
    recently used go first).
    """

    def __init__(self, size: int = ANSWERS) -> None:
        self._size = size
        self._head = -1
        self._kept: OrderedDict[Hashable, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, head: int, key: Hashable) -> bytes | None:
        """The answer to ``key`` kept at ``head``, if any."""
        with self._lock:
            if head != self._head:
                return None
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def put(self, head: int, key: Hashable, answer: bytes) -> None:
        """Keep ``answer`` to ``key``, computed with the views at ``head`` or later."""
        with self._lock:
            if head < self._head:
                return  # computed before a newer head was seen: not kept
            if head > self._head:
                self._kept.clear()
                self._head = head
            self._kept[key] = answer
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        """Drop every answer (a command was committed)."""
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


class _Reader:
    """One thread and the views connection it alone uses."""

    def __init__(self, target: StoreTarget, engine: Lifecycle, name: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.views = Views(target, engine.app.recorder, engine.app.mapper)
        self.busy = 0

    def close(self) -> None:
        self.executor.submit(self.views.close).result()
        self.executor.shutdown()


class ViewReaders:
    """Runs queries of the views on a few reader threads, after bringing the views up to
    the log's end as it stood when the query came: a caller reads its own writes.

    Args:
        target: the store.
        engine: the engine whose log the views follow.
        readers: how many reader threads.
    """

    def __init__(self, target: StoreTarget, engine: Lifecycle, readers: int = READERS) -> None:
        self.engine = engine
        self._readers = [_Reader(target, engine, f"lifecycle-reader-{n}")
                         for n in range(readers)]
        self._lock = threading.Lock()
        self._caught_up = 0
        self.answers = Answers()

    async def run(self, query: Callable[[Views], T]) -> T:
        """``query(views)`` on the least busy reader thread."""
        return await self._submit(self._fresh_then, query)

    async def answer(self, key: Hashable, query: Callable[[Views], Any],
                     encode: Callable[[Any], bytes]) -> bytes:
        """``encode(query(views))``, or the same bytes kept from an earlier request with
        the same ``key`` while the log has not moved on (:class:`Answers`). ``key``
        must name everything the answer depends on."""
        return await self._submit(self._kept_or_fresh, key, query, encode)

    async def _submit(self, work: Callable[..., T], *args: Any) -> T:
        reader = min(self._readers, key=lambda r: r.busy)
        reader.busy += 1
        try:
            return await asyncio.wrap_future(reader.executor.submit(work, reader.views,
                                                                    *args))
        finally:
            reader.busy -= 1

    def _fresh(self, views: Views) -> int:
        """Bring the views up to the log's head as it stands now; returns that head."""
        head: int = self.engine.app.recorder.max_notification_id() or 0
        if head > self._caught_up:
            # One catch-up at a time (each on its own connection would be safe too, but
            # would fold the same events twice).
            with self._lock:
                if head > self._caught_up:
                    views.catch_up()
                    self._caught_up = head
        return head

    def _fresh_then(self, views: Views, query: Callable[[Views], T]) -> T:
        self._fresh(views)
        return query(views)

    def _kept_or_fresh(self, views: Views, key: Hashable, query: Callable[[Views], Any],
                       encode: Callable[[Any], bytes]) -> bytes:
        head = self._fresh(views)
        kept = self.answers.get(head, key)
        if kept is not None:
            return kept
        answer = encode(query(views))
        self.answers.put(head, key, answer)
        return answer

    def close(self) -> None:
        for reader in self._readers:
            reader.close()


class Tokens:
    """The token store on a thread of its own."""

    def __init__(self, target: StoreTarget) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lifecycle-tokens")
        self._store = self._executor.submit(TokenStore, target).result()

    async def authenticate(self, token: str) -> TokenInfo | None:
        return await asyncio.wrap_future(self._executor.submit(self._store.authenticate,
                                                               token))

    def close(self) -> None:
        self._executor.submit(self._store.close).result()
        self._executor.shutdown()


class Runtime:
    """The service's resources on one store, opened together and closed together.

    Args:
        target: the store.
        engine: an engine to use; by default one is opened on ``target``. The runtime
            closes it.
    """

    def __init__(self, target: StoreTarget, engine: Lifecycle | None = None) -> None:
        self.target = target
        self.engine = engine if engine is not None else open_engine(target)
        self.tokens = Tokens(target)
        self.readers = ViewReaders(target, self.engine)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self.writer = GroupCommitter(self.engine, on_commit=self._committed)

    def start(self) -> None:
        """Start the writer; call from the event loop that serves requests."""
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self.writer.start()

    def close(self) -> None:
        self.writer.stop()
        self.readers.close()
        self.tokens.close()
        self.engine.shutdown()

    # ------------------------------------------------------------------ event streams
    def changed(self) -> asyncio.Event:
        """An event set at the next commit of this service (streams then look again)."""
        assert self._changed is not None, "the runtime was not started"
        return self._changed

    def _committed(self, position: int) -> None:
        self.readers.answers.clear()  # kept answers are of an older head now
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        # Every stream waiting now wakes; later waits wait for the next commit.
        assert self._changed is not None
        self._changed.set()
        self._changed = asyncio.Event()

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker thread (reads of the event store)."""
        return await run_in_threadpool(function, *args)
