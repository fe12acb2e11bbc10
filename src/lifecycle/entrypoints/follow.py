"""The projection worker (``lifecycle project --follow``): keeps the views current.

On PostgreSQL it follows the log through the library's LISTEN/NOTIFY subscription; on
SQLite it polls. Every catch-up is exactly-once (tracking positions are written with
the rows, under a row lock), so several workers may run at once and a worker killed at
any moment resumes where the views stand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from eventsourcing.postgres import PostgresApplicationRecorder

from projections.facade import Views

log = structlog.get_logger(__name__)


def follow(views: Views, stop: threading.Event, *, poll: float = 1.0,
           on_catch_up: Callable[[int], None] | None = None) -> None:
    """Catch up, then keep catching up as events arrive, until ``stop`` is set.

    Args:
        views: the views to keep current.
        stop: set it (e.g. from a signal handler) to end the loop.
        poll: seconds between polls on SQLite (and the longest a stop may wait).
        on_catch_up: called with the number of events each catch-up applied.
    """
    recorder = views.recorder

    def run_once() -> None:
        count = views.catch_up()
        if on_catch_up is not None:
            on_catch_up(count)

    run_once()
    log.info("worker_started", position=views.position())
    if isinstance(recorder, PostgresApplicationRecorder):
        _follow_postgres(views, recorder, stop, run_once, poll)
    else:
        while not stop.wait(poll):
            run_once()
    log.info("worker_stopped", position=views.position())


def _follow_postgres(views: Views, recorder: PostgresApplicationRecorder,
                     stop: threading.Event, run_once: Callable[[], None], poll: float) -> None:
    reached = views.position()
    with recorder.subscribe(gt=reached) as subscription:
        def stop_subscription() -> None:
            stop.wait()
            subscription.stop()

        threading.Thread(target=stop_subscription, daemon=True).start()
        for notification in subscription:
            if stop.is_set():
                break
            if notification.id <= reached:
                continue  # already folded by an earlier catch-up
            ceiling = recorder.max_notification_id() or notification.id
            run_once()
            reached = max(reached, ceiling)
        stop.set()
