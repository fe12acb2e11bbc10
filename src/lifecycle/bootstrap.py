"""The one place that wires a store, the engine and its views together (the
application layer and the projections meet only here and in the entry points)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import structlog

from lifecycle.adapters import logconfig
from lifecycle.adapters.store import StoreTarget, resolve_target, setup_lock
from lifecycle.application.engine import Lifecycle, utc_now, utc_today
from projections.facade import Views


def open_engine(target: StoreTarget | str | None = None, *,
                today: Callable[[], date] = utc_today,
                clock: Callable[[], datetime] = utc_now) -> Lifecycle:
    """An engine on ``target`` (a StoreTarget, a ``--db`` string, or None for the default),
    its tables created on first use — safely when several processes start at once."""
    if not structlog.is_configured():
        logconfig.configure()  # an embedding host that set up no logging gets quiet logs
    resolved = target if isinstance(target, StoreTarget) else resolve_target(target)
    with setup_lock(resolved):
        return Lifecycle(resolved.env, today=today, clock=clock)


def open_views(engine: Lifecycle, target: StoreTarget | str | None = None) -> Views:
    """The engine's views, their tables created on first use."""
    resolved = target if isinstance(target, StoreTarget) else resolve_target(target)
    views = Views(resolved, engine.app.recorder, engine.app.mapper)
    with setup_lock(resolved):
        _: Any = views.conn
    return views
