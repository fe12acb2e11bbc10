"""The one place that wires a store, the engine and its views together (the
application layer and the projections meet only here and in the entry points)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog

from lifecycle.adapters import logconfig
from lifecycle.adapters.sealing import open_sealing
from lifecycle.adapters.store import StoreTarget, resolve_target, setup_lock
from lifecycle.application.engine import Lifecycle, utc_now, utc_today
from projections.facade import Views


def open_engine(target: StoreTarget | str | None = None, *,
                today: Callable[[], date] = utc_today,
                clock: Callable[[], datetime] = utc_now,
                master_key_file: str | Path | None = None,
                sealed: bool | None = None) -> Lifecycle:
    """An engine on ``target`` (a StoreTarget, a ``--db`` string, or None for the default),
    its tables created on first use — safely when several processes start at once.

    A new store is created sealed (ADR 34): its personal fields are stored encrypted
    under a key per person, wrapped by the master key from ``$LIFECYCLE_MASTER_KEY``,
    ``master_key_file`` or the default key file (created, mode 0600, for a new store).
    A store holding events from before keeps loading as it is (plain). ``sealed=False``
    creates a new store plain (what a restore of a plain export needs).

    Raises:
        MasterKeyError: the master key is malformed or not the store's (nothing was
            written).
    """
    if not structlog.is_configured():
        logconfig.configure()  # an embedding host that set up no logging gets quiet logs
    resolved = target if isinstance(target, StoreTarget) else resolve_target(target)
    with setup_lock(resolved):
        engine = Lifecycle(resolved.env, today=today, clock=clock)
    try:
        empty = not engine.app.recorder.max_notification_id()
        if sealed is False and empty:
            return engine
        engine.attach_sealing(open_sealing(resolved, empty=empty, key_file=master_key_file))
    except BaseException:
        engine.shutdown()
        raise
    return engine


def open_views(engine: Lifecycle, target: StoreTarget | str | None = None) -> Views:
    """The engine's views, their tables created on first use."""
    resolved = target if isinstance(target, StoreTarget) else resolve_target(target)
    views = Views(resolved, engine.app.recorder, engine.app.mapper)
    with setup_lock(resolved):
        _: Any = views.conn
    return views
