"""Read models of the lifecycle engine: pure folds over the event log, the report of
CONTRACT §4 computed from them, and their materialisation as SQL tables.

- :mod:`projections.fold` — ``initial()`` / ``evolve(state, event)``.
- :mod:`projections.report` — ``build_report``, ``build_breakdown``, ``contact_minutes``.
- :mod:`projections.survival` — Kaplan-Meier with the contract's null rules.
- :mod:`projections.publish` — ``publish``: the report with small-cell suppression
  (CONTRACT §6), driven by one table of figure kinds.
- :mod:`projections.sql` — ``catch_up``, ``rebuild``, ``status``,
  ``compare_with_rebuild``, ``load_report_rows``, ``report_from_db``.
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
