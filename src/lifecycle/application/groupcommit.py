"""Group commit: commands from many callers applied in shared transactions (ADR 25).

Callers (the HTTP service's request handlers) hand commands to one writer thread and
wait for their own outcome. The writer takes every command waiting when it is free —
one when commands come one at a time, many while it was busy committing — and applies
them as one batch (:func:`lifecycle.application.batch.apply_batch`): each command is still whole or
not at all, later ones see earlier ones, and the batch costs one durable commit. An
outcome is handed back only after the commit returned, so an acknowledged command is
on disk.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import structlog

from lifecycle.application.batch import Settled, Submission, apply_batch
from lifecycle.application.engine import Lifecycle

log = structlog.get_logger(__name__)

MAX_BATCH = 256
"""At most this many commands share one transaction."""


@dataclass
class _Job:
    submission: Submission
    future: Future[Settled]


class WriterStopped(RuntimeError):
    """The writer is shut down (or shutting down) and takes no more commands."""


class GroupCommitter:
    """The one writer thread of an engine.

    Args:
        engine: the engine it applies commands with; nothing else may apply commands
            with it while the writer runs (its aggregate cache is not shared).
        on_commit: called in the writer thread with the log position after each
            transaction that stored something.
        max_batch: the most commands one transaction takes.
    """

    def __init__(self, engine: Lifecycle, *, on_commit: Callable[[int], None] | None = None,
                 max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.on_commit = on_commit
        self.max_batch = max(1, max_batch)
        self.batches = 0
        """Transactions (batches) applied so far."""
        self.commands = 0
        """Commands applied, found duplicate or rejected so far."""
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._accepting = True
        self._gate = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lifecycle-writer",
                                        daemon=True)

    def start(self) -> GroupCommitter:
        self._thread.start()
        return self

    def submit(self, submission: Submission) -> Future[Settled]:
        """Queue one command; the future holds what became of it once committed.

        The future fails with the store's exception when the batch could not be
        committed (nothing of it was written), and with :class:`WriterStopped` when
        the writer no longer takes commands.
        """
        future: Future[Settled] = Future()
        with self._gate:
            if not self._accepting:
                future.set_exception(WriterStopped("the service is shutting down"))
                return future
            self._queue.put(_Job(submission, future))
        return future

    def stop(self, timeout: float | None = None) -> None:
        """Apply what is queued, then end the writer thread."""
        with self._gate:
            if not self._accepting:
                return
            self._accepting = False
            self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)
        log.info("writer_stopped", batches=self.batches, commands=self.commands)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            jobs = [first]
            while len(jobs) < self.max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
            self._apply(jobs)

    def _apply(self, jobs: list[_Job]) -> None:
        # A caller that went away before its command was taken cancelled its future:
        # nothing was promised to it, so its command is dropped.
        jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        before = self.engine.last_position
        try:
            settled = apply_batch(self.engine, [job.submission for job in jobs])
        except Exception as exc:
            # The store failed. Each caller is told so and may send its command again:
            # one that was stored after all (in a one-by-one retry) is then a duplicate.
            log.error("batch_failed", commands=len(jobs), error=type(exc).__name__)
            self.engine.cache.clear()  # what the failed batch staged must not linger
            for job in jobs:
                job.future.set_exception(exc)
            return
        self.batches += 1
        self.commands += len(jobs)
        for job, done in zip(jobs, settled, strict=True):
            job.future.set_result(done)
        if self.on_commit is not None and self.engine.last_position != before:
            self.on_commit(self.engine.last_position)
