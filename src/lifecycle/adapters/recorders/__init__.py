"""The engine's application recorders, one module per backend behind one interface
(:class:`~lifecycle.adapters.recorders.base.ChainedRecorder`).

The store's environment names a recorder by its topic (``APPLICATION_RECORDER_TOPIC``,
see :mod:`lifecycle.adapters.store`). The topics of the modules these recorders lived in
before the layers had folders stay resolvable (registered with the library below), so
an environment written down with an old topic still selects the same recorder.
"""

from __future__ import annotations

from eventsourcing.utils import register_topic

from lifecycle.adapters.recorders.base import CHAIN_TABLE, ChainedRecorder
from lifecycle.adapters.recorders.postgres import ChainedPostgresApplicationRecorder
from lifecycle.adapters.recorders.sqlite import ChainedSQLiteApplicationRecorder

register_topic("lifecycle.recorders:ChainedSQLiteApplicationRecorder",
               ChainedSQLiteApplicationRecorder)
register_topic("lifecycle.recorders:ChainedPostgresApplicationRecorder",
               ChainedPostgresApplicationRecorder)

__all__ = [
    "CHAIN_TABLE",
    "ChainedPostgresApplicationRecorder",
    "ChainedRecorder",
    "ChainedSQLiteApplicationRecorder",
]
