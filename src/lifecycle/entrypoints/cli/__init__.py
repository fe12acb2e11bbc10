"""The ``lifecycle`` command line (CONTRACT §3). Thin: it translates and delegates.

Errors are one line on standard error, never a traceback; exit status 2 for a usage
error (bad option, missing file, a store that cannot be opened or is not a store).

One module per command group: :mod:`.app` (the root group and what every command
shares), :mod:`.log` (``import``, ``history``), :mod:`.tools` (``schema``, ``states``,
``simulate``), :mod:`.audit` (``audit …``), :mod:`.archive` (``export``, ``restore``),
:mod:`.views` (``report``, ``duos``, ``projections …``, ``project``),
:mod:`.coordinator` (``attention``, ``mentors``, ``suggest``). Importing this package
registers every command.
"""

from lifecycle.entrypoints.cli import archive, audit, coordinator, log, tools, views
from lifecycle.entrypoints.cli.app import cli, main
from lifecycle.entrypoints.cli.log import history_rows

__all__ = ["archive", "audit", "cli", "coordinator", "history_rows", "log", "main", "tools",
           "views"]
