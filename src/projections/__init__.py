"""Read models of the lifecycle engine: pure folds over the event log, the report of
CONTRACT §4 computed from them, and their materialisation as SQL tables.

- :mod:`projections.fold` — ``initial()`` / ``evolve(state, event)``.
- :mod:`projections.report` — ``build_report``, ``build_breakdown``, ``contact_minutes``.
- :mod:`projections.survival` — Kaplan-Meier with the contract's null rules.
- :mod:`projections.publish` — ``publish``: the report with small-cell suppression
  (CONTRACT §6), driven by one table of figure kinds.
- :mod:`projections.views` — the read model's records (``ReadModel``, ``DuoView``, …).
- :mod:`projections.schema` / :mod:`projections.dialect` — the tables, their rows, and
  what differs between SQLite and PostgreSQL.
- :mod:`projections.reading` — the log in batches (decoded, upcast) and a rebuild's passes.
- :mod:`projections.writing` — DDL, tracking positions, rows out.
- :mod:`projections.loading` — rows in: ``load_read_model``, ``load_report_rows``,
  ``report_from_db``.
- :mod:`projections.catchup` — ``catch_up``, ``status``.
- :mod:`projections.rebuild` — ``rebuild`` (with :mod:`projections.split`'s worker
  interpreters for a large SQLite log).
- :mod:`projections.compare` — ``compare_with_rebuild``.
- :mod:`projections.facade` — ``Views``, the read side an engine's user holds.

The package imports only ``lifecycle.domain`` and ``lifecycle.adapters`` (ADR 16).
"""

from projections.fold import ProjectionError, evolve, evolve_stored, fold, initial
from projections.report import (
    ReportRows,
    UnknownProgramme,
    build_breakdown,
    build_report,
    contact_minutes,
)
from projections.views import ReadModel

__all__ = [
    "ProjectionError",
    "ReadModel",
    "ReportRows",
    "UnknownProgramme",
    "build_breakdown",
    "build_report",
    "contact_minutes",
    "evolve",
    "evolve_stored",
    "fold",
    "initial",
]
