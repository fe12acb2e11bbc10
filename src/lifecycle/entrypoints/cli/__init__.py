"""The ``lifecycle`` command line (CONTRACT §3). Thin: it translates and delegates.

Errors are one line on standard error, never a traceback; exit status 2 for a usage
error (bad option, missing file, a store that cannot be opened or is not a store).

One module per command group: :mod:`.app` (the root group and what every command
shares), :mod:`.log` (``import``, ``history``), :mod:`.tools` (``schema``, ``states``,
``simulate``), :mod:`.audit` (``audit …``), :mod:`.archive` (``export``, ``restore``),
:mod:`.views` (``report``, ``duos``, ``projections …``, ``project``),
:mod:`.coordinator` (``attention``, ``mentors``, ``suggest``), :mod:`.serve` (``serve``,
the HTTP service), :mod:`.tokens` (``tokens …``, its bearer tokens). Importing this
package registers every command.
"""

from lifecycle.application.history import history_rows
from lifecycle.entrypoints.cli import (
    archive,
    audit,
    coordinator,
    log,
    serve,
    tokens,
    tools,
    views,
)
from lifecycle.entrypoints.cli.app import cli, main

__all__ = ["archive", "audit", "cli", "coordinator", "history_rows", "log", "main", "serve",
           "tokens", "tools", "views"]
