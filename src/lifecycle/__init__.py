"""lifecycle: an event-sourced engine for the lifecycle of workplace peer-mentoring
programmes.

The layers, each a folder, from the inside out (ADR 16; a test keeps the import rules):

- :mod:`lifecycle.domain` — aggregates, events, the duo's state machine, vocabulary
  and errors. Imports nothing else of the project.
- :mod:`lifecycle.adapters` — what touches the outside: store selection and the one
  ``connect()``, event persistence and upcasting, the recorders (one module per
  backend), the audit chain and its verification, worker interpreters, logging.
  Imports only the domain.
- :mod:`lifecycle.application` — the use cases (:class:`Lifecycle`), commands,
  handlers, the unit of work, bulk import. Imports the domain and the adapters.
- :mod:`projections` (a package beside this one) — the read models, the report and
  their SQL tables, with the read-side facade ``projections.facade.Views``. Imports
  only the domain and the adapters.
- :mod:`lifecycle.simulate` — synthetic command streams. Imports only the domain.
- :mod:`lifecycle.bootstrap` — the one place that wires a store, the engine and its
  views together.
- :mod:`lifecycle.entrypoints` — the ``lifecycle`` command line (one module per
  command group), its table rendering and the projection worker. Nothing imports it
  but ``python -m lifecycle`` and the console script.

The names below are re-exported for an embedding application, loaded on first use (a
worker interpreter that imports one adapter does not load the engine).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifecycle.application import commands
    from lifecycle.application.engine import Lifecycle, Outcome
    from lifecycle.bootstrap import open_engine, open_views
    from lifecycle.domain.errors import DomainError

_EXPORTS = {
    "commands": ("lifecycle.application.commands", None),
    "Lifecycle": ("lifecycle.application.engine", "Lifecycle"),
    "Outcome": ("lifecycle.application.engine", "Outcome"),
    "open_engine": ("lifecycle.bootstrap", "open_engine"),
    "open_views": ("lifecycle.bootstrap", "open_views"),
    "DomainError": ("lifecycle.domain.errors", "DomainError"),
}

__all__ = ["DomainError", "Lifecycle", "Outcome", "commands", "open_engine", "open_views"]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'lifecycle' has no attribute '{name}'") from None
    found = import_module(module)
    return found if attribute is None else getattr(found, attribute)
