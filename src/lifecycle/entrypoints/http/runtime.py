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
from collections.abc import Callable
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

    async def run(self, query: Callable[[Views], T]) -> T:
        """``query(views)`` on the least busy reader thread."""
        reader = min(self._readers, key=lambda r: r.busy)
        reader.busy += 1
        try:
            return await asyncio.wrap_future(
                reader.executor.submit(self._fresh_then, reader.views, query))
        finally:
            reader.busy -= 1

    def _fresh_then(self, views: Views, query: Callable[[Views], T]) -> T:
        head = self.engine.app.recorder.max_notification_id() or 0
        if head > self._caught_up:
            # One catch-up at a time (each on its own connection would be safe too, but
            # would fold the same events twice).
            with self._lock:
                if head > self._caught_up:
                    views.catch_up()
                    self._caught_up = head
        return query(views)

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
