"""The application layer: the engine's use cases, over the domain and the adapters.

- :mod:`~lifecycle.application.commands` — the commands of CONTRACT §2 as pydantic
  input models (the JSON Schema of ``lifecycle schema``).
- :mod:`~lifecycle.application.engine` — :class:`Lifecycle`, one method per command and
  the queries on aggregates.
- :mod:`~lifecycle.application.handlers` — what each command does to the aggregates.
- :mod:`~lifecycle.application.unit_of_work` — one transaction's aggregates, and the
  aggregate cache.
- :mod:`~lifecycle.application.history` — a duo's history as front ends read it.
- :mod:`~lifecycle.application.batch` — several commands in one transaction, each whole
  or not at all (bulk import and group commit).
- :mod:`~lifecycle.application.importer` — bulk import of a JSONL command file.
- :mod:`~lifecycle.application.groupcommit` — one writer thread applying many callers'
  commands in shared transactions (the HTTP service).
- :mod:`~lifecycle.application.access` — a caller's conditions on a command: its
  programmes, the duo version it expects.

It imports the domain and the adapters, never the projections or the entry points.
"""

from lifecycle.application.engine import (
    MAX_ATTEMPTS,
    ConcurrencyConflict,
    Lifecycle,
    Outcome,
    command_digest,
    utc_now,
    utc_today,
)
from lifecycle.application.unit_of_work import AggregateCache, UnitOfWork

__all__ = [
    "MAX_ATTEMPTS",
    "AggregateCache",
    "ConcurrencyConflict",
    "Lifecycle",
    "Outcome",
    "UnitOfWork",
    "command_digest",
    "utc_now",
    "utc_today",
]
