"""What every recorder of the engine adds to the library's: the audit hash chain, and
loading many streams in one query.

Each insert of events also writes their chain links (table ``event_chain``) in the
same transaction, so a committed event always has its link and a link never exists
without its event. The recorder takes the chain's head after its own inserts, while it
holds the store's write lock (SQLite's single writer; PostgreSQL's table lock taken by
the library before inserting), so concurrent writers extend the chain one at a time.

With a signing key configured (:mod:`lifecycle.adapters.signing`, ADR 26), every insert
also signs the chain's new head, in the same transaction: a row of ``chain_signatures``
(position, head, signature) per commit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from eventsourcing.persistence import StoredEvent

from lifecycle.adapters.chain import link_each
from lifecycle.adapters.signing import Signer

CHAIN_TABLE = "event_chain"
IN_CHUNK = 500
"""Stream ids per query of :meth:`ChainedRecorder.select_streams` (SQLite)."""


class ChainedRecorder(ABC):
    """The interface of the engine's application recorders (one per backend).

    A subclass also derives from the library's recorder of its backend and writes the
    chain link of every event it inserts, in the insert's transaction, and with a
    :attr:`signer` the signature of the new head.
    """

    signer: Signer | None = None
    """Signs the chain's head at every commit (from the environment, see
    :func:`lifecycle.adapters.signing.signer_from_environment`); None: no signing."""

    def signature_row(self, head: tuple[int, bytes]) -> tuple[int, bytes, bytes] | None:
        """The ``chain_signatures`` row of a commit whose last link is ``head``
        (position, link), or None without a signer."""
        if self.signer is None:
            return None
        position, chained = head
        return position, chained, self.signer.sign(position, chained)

    @abstractmethod
    def select_streams(self, originator_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        """Events of each given stream that has any, in version order."""


def links(previous: bytes, ids: Sequence[int],
          stored_events: Sequence[StoredEvent]) -> list[tuple[int, bytes]]:
    """The chain links ``(position, link)`` of events stored at ``ids``, after the link
    ``previous``."""
    return link_each(previous, (
        (position, str(event.originator_id), event.originator_version, event.topic,
         event.state)
        for position, event in zip(ids, stored_events, strict=True)))
