"""Several commands in one durable transaction, each still whole or not at all (ADR 7).

Bulk import (:mod:`lifecycle.application.importer`) and the HTTP service's group commit (ADR 25)
both apply commands this way: every command of a batch is checked and staged in one
:class:`~lifecycle.application.unit_of_work.UnitOfWork` (a rejected command stages nothing, later
commands see earlier ones), and the unit is committed once. When the commit fails
because another process wrote the same aggregates first, every command of the batch is
decided again, one by one, against the store as it now is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError

from lifecycle.application.commands import Command, Forget
from lifecycle.application.engine import Guard, Lifecycle, Outcome, command_digest
from lifecycle.application.handlers import stream_ids_of
from lifecycle.application.unit_of_work import UnitOfWork
from lifecycle.domain.errors import DomainError

log = structlog.get_logger(__name__)


@dataclass
class Submission:
    """One command of a batch.

    Attributes:
        command: the validated command.
        raw: its JSON object as received (for the idempotency digest of rule 13).
        guard: the caller's own conditions on it (authorisation, ``If-Match``).
    """

    command: Command
    raw: dict[str, Any]
    guard: Guard | None = None
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        self.digest = command_digest(self.raw)


@dataclass(frozen=True)
class Settled:
    """What became of one submission, once its batch was committed.

    Attributes:
        outcome: applied or duplicate; None when the command was rejected.
        error: why it was rejected (None when it was not).
        position: for an applied command, the log position of the last event of the
            transaction that stored it (every event of the command is at or before it);
            for a duplicate, the log's last position when it was recognised (so every
            event of the original is at or before it); None for a rejection.
    """

    outcome: Outcome | None
    error: DomainError | None = None
    position: int | None = None


def apply_batch(engine: Lifecycle, submissions: Sequence[Submission]) -> list[Settled]:
    """Apply ``submissions`` in one transaction; return what became of each, in order.

    Nothing is returned before the transaction is committed (or, after a conflict, each
    command's own transaction), so an outcome is never reported for a command that could
    still be lost.
    """
    if not submissions:
        return []
    if engine.sealing is not None:
        engine.sealing.check_writable()
        engine.notice_erasures()
    # A ``forget`` is applied in a transaction of its own, between the commands before
    # and after it: its key is shredded once it is committed (ADR 35).
    settled: list[Settled] = []
    run: list[Submission] = []
    for submission in submissions:
        if isinstance(submission.command, Forget):
            settled.extend(_apply_run(engine, run))
            settled.append(_apply_alone(engine, submission))
            run = []
        else:
            run.append(submission)
    settled.extend(_apply_run(engine, run))
    return settled


def _apply_run(engine: Lifecycle, submissions: Sequence[Submission]) -> list[Settled]:
    if not submissions:
        return []
    digests = [engine.marker_digest(s.digest) for s in submissions]
    # One query loads every stream the batch names that is not cached yet.
    engine.prefetch(sid for s, digest in zip(submissions, digests, strict=True)
                    for sid in stream_ids_of(engine, s.command, digest))
    uow = UnitOfWork(engine)
    decided: list[Outcome | DomainError] = []
    for submission, digest in zip(submissions, digests, strict=True):
        try:
            decided.append(engine.apply_in(uow, submission.command, digest,
                                           guard=submission.guard))
        except DomainError as exc:
            decided.append(exc)
    try:
        uow.commit()
    except IntegrityError:
        # A rejection inside the batch may rest on what an earlier command of the same
        # batch staged, which rested on cached reads; only a successful commit proves
        # those were current (the store's version check). So every command of the
        # batch, rejected ones included, is decided again.
        uow.discard()
        log.info("batch_conflicted", commands=len(submissions))
        # Another writer changed these streams: what the cache holds of them is old.
        engine.cache.evict(sid for s, digest in zip(submissions, digests, strict=True)
                           for sid in stream_ids_of(engine, s.command, digest))
        return [_apply_alone(engine, submission) for submission in submissions]
    log.debug("batch_committed", commands=len(submissions))
    committed = engine.last_position
    head: int | None = None
    settled = []
    for result in decided:
        if isinstance(result, DomainError):
            settled.append(Settled(None, result))
        elif result is Outcome.APPLIED:
            settled.append(Settled(result, position=committed))
        else:
            if head is None:
                head = engine.app.recorder.max_notification_id() or 0
            settled.append(Settled(result, position=head))
    return settled


def _apply_alone(engine: Lifecycle, submission: Submission) -> Settled:
    try:
        outcome = engine.execute(submission.command, submission.raw, guard=submission.guard)
    except DomainError as exc:
        return Settled(None, exc)
    if outcome is Outcome.APPLIED:
        return Settled(outcome, position=engine.last_position)
    return Settled(outcome, position=engine.app.recorder.max_notification_id() or 0)
