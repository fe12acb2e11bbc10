"""The use cases: one method per command of CONTRACT §2, and the queries on aggregates.

This is the only place that loads and saves aggregates. A command is applied whole or
not at all: every rule is checked before any event is created, and all of a command's
events (with its idempotency marker) are saved in one transaction. Several commands
may share one transaction (a :class:`UnitOfWork`) for bulk import; a rejected command
still writes nothing.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

import orjson
import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper

from lifecycle.adapters.keyring import ShredResult
from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from lifecycle.adapters.recorders import ChainedRecorder
from lifecycle.adapters.sealing import Sealing, people_in_log
from lifecycle.application import commands as cmd
from lifecycle.application.handlers import HANDLERS
from lifecycle.application.unit_of_work import MARKER_PREFIX, MISSING, AggregateCache, UnitOfWork
from lifecycle.domain.base import Aggregate, DomainEvent, EventMeta
from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import DomainError, UnknownReference
from lifecycle.domain.markers import AppliedCommand, AppliedContent
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site
from lifecycle.domain.vocabulary import Respondent

log = structlog.get_logger(__name__)

_COMMAND_KEYS_KEPT = 4096
"""How many command ids :meth:`Lifecycle.command_key` keeps the digest of (a batch is 500)."""

MAX_ATTEMPTS = 20
"""How often a command is re-checked and re-applied after a concurrent write."""


class Outcome(StrEnum):
    """What became of a command that was not rejected."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"


class ConcurrencyConflict(DomainError):
    """Other writers kept changing the same aggregates; the command was not applied."""

    rule = 0


def command_digest(raw: dict[str, Any]) -> str:
    """SHA-256 of a command's JSON value, whatever its key order (rule 13)."""
    return hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()


def utc_today() -> date:
    return datetime.now(UTC).date()


def utc_now() -> datetime:
    return datetime.now(UTC)


class Guard(Protocol):
    """Conditions a caller sets on one command, checked inside its unit of work.

    Both checks read through the unit (so they see what earlier commands of the same
    unit staged, and a rejection resting on cached reads is decided again on fresh
    ones) and raise a :class:`DomainError` to refuse the command, which then writes
    nothing.
    """

    def admit(self, uow: UnitOfWork, command: cmd.Command) -> None:
        """Checked first, before rule 13: may this caller send this command at all?"""

    def precondition(self, uow: UnitOfWork, command: cmd.Command) -> None:
        """Checked after rule 13 (a duplicate is answered as such) and before the rules."""


class EventStoreApplication(Application[str]):
    """The eventsourcing library's application, with the engine's mapper and cache.

    It owns the recorder, the event store and the aggregate repository; the use
    cases live on :class:`Lifecycle` (the library's ``Application.close()`` would
    clash with the ``close`` command).
    """

    name = "lifecycle"
    env: ClassVar[dict[str, str]] = {}

    def construct_mapper(self) -> Mapper[str]:
        return PydanticMapper(
            transcoder=OrjsonTranscoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )


class Lifecycle:
    """The engine: applies commands to event-sourced aggregates and answers queries.

    Args:
        env: the eventsourcing environment (see :func:`lifecycle.adapters.store.resolve_target`).
        today: the date rule 5 compares with (default: today in UTC).
        clock: the recording clock for events (default: now in UTC).

    Example:
        >>> engine = Lifecycle({"PERSISTENCE_MODULE": "eventsourcing.popo"})
        >>> engine.open_programme(cmd.OpenProgramme(
        ...     programme_id="DK-2025", name="Danish pilot", country="DK",
        ...     occurred_on=date(2025, 1, 2)))
        <Outcome.APPLIED: 'applied'>
    """

    def __init__(self, env: dict[str, str] | None = None, *,
                 today: Callable[[], date] = utc_today,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.app = EventStoreApplication(env)
        self.today = today
        self.clock = clock
        self.cache = AggregateCache()
        self._erasures_seen = 0
        self.last_position = 0
        """Log position of the last event this engine stored (for read-your-writes)."""
        self.sealing: Sealing | None = None
        """How the store seals personal fields (ADR 34); None for a plain store."""
        self.last_shred: ShredResult | None = None
        """What the latest ``forget`` of this engine did to the store's files."""
        self._command_keys: dict[str, str] = {}
        """Command ids → their keyed digests (:meth:`command_key`), of recent commands."""

    def attach_sealing(self, sealing: Sealing | None) -> None:
        """Seal personal fields with ``sealing`` (a sealed store), or not (None)."""
        self.sealing = sealing
        mapper = self.app.mapper
        if isinstance(mapper, PydanticMapper):
            mapper.sealing = sealing
        self.cache.clear()
        self._command_keys.clear()

    def stream_id(self, cls: type[Aggregate], contract_id: str) -> str:
        """The stream of an aggregate: a sealed store names a mentor's by the keyed
        reference of the mentor's id, never by the id."""
        if cls is Mentor and self.sealing is not None:
            return Mentor.stream_id(self.sealing.reference(contract_id))
        return cls.stream_id(contract_id)

    def stream_key(self, cls: type[Aggregate], contract_id: str) -> str:
        """The contract id part of :meth:`stream_id`."""
        return self.stream_id(cls, contract_id).partition(":")[2]

    def command_key(self, command_id: str | None) -> str | None:
        """What the store keeps of a command id (in its events and its marker): the id
        in a plain store; in a sealed one a keyed digest of it, since callers often
        build command ids from the ids of the people a command names (ADR 35)."""
        if command_id is None or self.sealing is None:
            return command_id
        # Asked twice per command (for the batch's prefetch and when it is applied):
        # the keyed digest is kept for the commands of the latest batches.
        keys = self._command_keys
        found = keys.get(command_id)
        if found is None:
            if len(keys) >= _COMMAND_KEYS_KEPT:
                keys.clear()
            found = keys[command_id] = self.sealing.marker_digest(f"id:{command_id}")
        return found

    def marker_digest(self, digest: str) -> str:
        """What the idempotency markers keep of a command's SHA-256: itself in a plain
        store, a keyed digest of it in a sealed one (ADR 34)."""
        return digest if self.sealing is None else self.sealing.marker_digest(digest)

    def save(self, *aggregates: Aggregate) -> None:
        """Store the aggregates' pending events in one transaction."""
        pending = [(aggregate, event) for aggregate in aggregates
                   for event in aggregate.collect_events()]
        if not pending:
            return
        mapper = self.app.mapper
        if self.sealing is not None and isinstance(mapper, PydanticMapper):
            owners = [_owners(self.sealing, aggregate, event) for aggregate, event in pending]
            # Every new person's key is made in one transaction, before the events.
            self.sealing.ensure(r for found in owners if found for r in found.values())
            to_sealed = mapper.to_sealed_event
            stored = [to_sealed(event, own)
                      for (_, event), own in zip(pending, owners, strict=True)]
            # Which duos name whom, written with the events (``forget`` reads it).
            people = [(own[field], event.originator_id)
                      for (_, event), own in zip(pending, owners, strict=True)
                      if own and (field := _NAMING.get(type(event))) is not None]
        else:
            to_stored = mapper.to_stored_event
            stored = [to_stored(event) for _, event in pending]
            people = []
        # The recorder directly: the event store's put() would also build a
        # notification object per event, which nothing here uses.
        ids = self.app.recorder.insert_events(stored, people=people)
        if ids:
            self.last_position = ids[-1]

    def note_people_from_log(self) -> None:
        """Note which duos name whom from the log itself (after a restore, whose events
        arrive without that table; ADR 35). Nothing to do in a plain store."""
        if self.sealing is None:
            return
        naming = {cls.TOPIC: field for cls, field in _NAMING.items()}
        self.sealing.put_streams(people_in_log(self.app.recorder, naming))

    def prefetch(self, stream_ids: Iterable[str]) -> None:
        """Load the given streams not yet cached with one query (absent ones as absent,
        but for command markers)."""
        recorder = self.app.recorder
        wanted = self.cache.uncached(stream_ids)
        if not wanted or not isinstance(recorder, ChainedRecorder):
            return
        found = recorder.select_streams(wanted)
        to_event = self.app.mapper.to_domain_event
        for stream_id in wanted:
            stored = found.get(stream_id)
            if stored is None:
                # A marker's absence is not kept: a command whose marker was not read
                # is applied as new, and the store refuses the marker of a twin (see
                # _apply). Kept, it would take room in the cache for every command.
                if not stream_id.startswith(MARKER_PREFIX):
                    self.cache.put(stream_id, MISSING)
                continue
            aggregate: Aggregate | None = None
            for record in stored:
                event: DomainEvent = to_event(record)  # type: ignore[assignment]
                aggregate = event.mutate(aggregate)
            self.cache.put(stream_id, aggregate)

    def shutdown(self) -> None:
        """Close the store's connections."""
        if self.sealing is not None:
            self.sealing.close()
        self.app.close()

    def __enter__(self) -> Lifecycle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ running commands
    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """A transaction for several commands; committed on leaving without error."""
        uow = UnitOfWork(self)
        try:
            yield uow
        except BaseException:
            uow.discard()
            raise
        uow.commit()

    def execute(self, command: cmd.Command, raw: dict[str, Any] | None = None, *,
                guard: Guard | None = None) -> Outcome:
        """Apply one command in its own transaction, retrying after concurrent writes.

        Args:
            command: a validated command.
            raw: the command's JSON object as received (for the idempotency digest);
                derived from ``command`` when not given.
            guard: the caller's own conditions on the command (see :class:`Guard`).

        Raises:
            DomainError: the command broke a rule (or the guard refused it); nothing
                was written.
        """
        if self.sealing is not None:
            self.sealing.check_writable()
            self.notice_erasures()
        digest = self.marker_digest(command_digest(raw if raw is not None else _raw_of(command)))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            uow = UnitOfWork(self)
            uow.fresh = attempt > 1
            outcome = self.apply_in(uow, command, digest, guard=guard)
            forgotten = list(uow.forgotten)
            try:
                uow.commit()
            except IntegrityError:
                log.info("command_conflicted", command_type=command.type, attempt=attempt)
                # Back off with jitter, so writers contending for one duo spread out.
                time.sleep(random.uniform(0, min(0.5, 0.002 * 2**attempt)))
                continue
            # Not the command id: callers often build it from people's ids (ADR 35).
            log.debug("command_applied", command_type=command.type, outcome=outcome.value)
            if forgotten:
                self._shred(forgotten)
            return outcome
        raise ConcurrencyConflict(
            f"gave up after {MAX_ATTEMPTS} attempts: other writers kept changing the same "
            "aggregates", field=None)

    def apply_in(self, uow: UnitOfWork, command: cmd.Command, digest: str, *,
                 guard: Guard | None = None) -> Outcome:
        """Check and apply ``command`` inside ``uow`` (no write until the unit commits).

        Raises:
            DomainError: the command broke a rule (or ``guard`` refused it); ``uow`` is
                unchanged.
        """
        uow.cached_reads.clear()
        try:
            return self._apply(uow, command, digest, guard)
        except DomainError:
            if not uow.cached_reads or uow.fresh:
                raise
        # The rejection rests on cached reads another process may have outdated:
        # decide again on fresh ones.
        self.cache.evict(uow.cached_reads)
        uow.cached_reads.clear()
        return self._apply(uow, command, digest, guard)

    def _apply(self, uow: UnitOfWork, command: cmd.Command, digest: str,
               guard: Guard | None = None) -> Outcome:
        command_id = self.command_key(command.command_id)
        meta = EventMeta(occurred_on=command.occurred_on, recorded_at=self.clock(),
                         command_id=command_id)
        if guard is not None:
            # Before rule 13: a caller must not learn whether a command it may not
            # send was applied.
            guard.admit(uow, command)
        # Rule 13: a command is known by its id, or without one by its content (v2).
        marker_cls: type[AppliedCommand | AppliedContent]
        if command_id is None:
            marker_cls, marker_key = AppliedContent, digest
        else:
            marker_cls, marker_key = AppliedCommand, command_id
        # Rule 13 comes first: a duplicate is skipped whatever the rules say now. When
        # the marker is neither cached nor asked for fresh, it is looked up only if
        # the command is rejected: a duplicate that passes the rules again still
        # cannot be stored twice, because its marker's creation fails on the store's
        # unique constraint and the retry then reads the marker.
        marker_id = marker_cls.stream_id(marker_key)
        lazy_marker = (not uow.fresh and marker_id not in self.cache
                       and marker_id not in uow.changed_ids)
        if not lazy_marker and self._is_duplicate(uow.find(marker_cls, marker_key), digest):
            return Outcome.DUPLICATE
        try:
            meta.check_not_future(self.today())
            if guard is not None:
                guard.precondition(uow, command)
            changed = HANDLERS[type(command)](uow, command, meta)
        except DomainError:
            # Rule 13 before any other rule: look the marker up again, in the store
            # itself, since a twin of this command may have been applied by another
            # process after the marker was first read (or was never read).
            if self._is_duplicate(uow.find_stored(marker_cls, marker_key), digest):
                return Outcome.DUPLICATE
            raise
        if command_id is None:
            changed.append(AppliedContent.record(meta, digest))
        else:
            changed.append(AppliedCommand.record(meta, command_id, digest))
        uow.stage(*changed)
        return Outcome.APPLIED

    def notice_erasures(self, *, writer: bool = True) -> None:
        """Before a command or a read: when another process forgot someone since this
        one last looked, drop their key (ADR 35). The writer (``writer``, the thread
        that applies commands) also drops every aggregate read before, which may hold
        their opened fields, as the process that forgot them did; a reader thread leaves
        the writer's cache to the writer, which notices the change by its count."""
        if self.sealing is None:
            return
        generation = self.sealing.refresh()
        if writer and generation != self._erasures_seen:
            self._erasures_seen = generation
            self.cache.clear()
            self._command_keys.clear()

    def _shred(self, references: list[str]) -> None:
        """After a ``forget`` was committed: destroy the person's data key and every
        copy of it and of their fields this process holds (ADR 35)."""
        assert self.sealing is not None
        for reference in references:
            self.last_shred = self.sealing.shred(reference)
            log.info("person_forgotten", scrubbed=self.last_shred.scrubbed)
        # Aggregates read before hold the person's opened fields in memory, and command
        # ids may name them.
        self.cache.clear()
        self._command_keys.clear()

    @staticmethod
    def _is_duplicate(marker: AppliedCommand | AppliedContent | None, digest: str) -> bool:
        """Rule 13: an applied twin makes a duplicate; an id applied with other content
        is rejected (CommandIdConflict)."""
        if marker is None:
            return False
        return isinstance(marker, AppliedContent) or marker.is_duplicate_of(digest)

    # ------------------------------------------------------------------ use cases
    def open_programme(self, command: cmd.OpenProgramme) -> Outcome:
        """Open a programme."""
        return self.execute(command)

    def register_site(self, command: cmd.RegisterSite) -> Outcome:
        """Add a site to a programme."""
        return self.execute(command)

    def register_mentor(self, command: cmd.RegisterMentor) -> Outcome:
        """Add a mentor to a programme's pool."""
        return self.execute(command)

    def record_training(self, command: cmd.RecordTraining) -> Outcome:
        """Record a training module a mentor completed."""
        return self.execute(command)

    def recruit(self, command: cmd.Recruit) -> Outcome:
        """Open a duo in ``recruited`` (optionally as a rematch of a predecessor)."""
        return self.execute(command)

    def select(self, command: cmd.Select) -> Outcome:
        """``recruited → selected``."""
        return self.execute(command)

    def match(self, command: cmd.Match) -> Outcome:
        """``selected → matched`` with a mentor."""
        return self.execute(command)

    def activate(self, command: cmd.Activate) -> Outcome:
        """``matched → active``: the first meeting took place."""
        return self.execute(command)

    def log_contact(self, command: cmd.LogContact) -> Outcome:
        """Record one contact of a duo."""
        return self.execute(command)

    def retract_contact(self, command: cmd.RetractContact) -> Outcome:
        """Withdraw a logged contact (the original stays in the history)."""
        return self.execute(command)

    def review(self, command: cmd.Review) -> Outcome:
        """Record a coordinator's check-in."""
        return self.execute(command)

    def record_survey(self, command: cmd.RecordSurvey) -> Outcome:
        """Record one survey answer set."""
        return self.execute(command)

    def close(self, command: cmd.Close) -> Outcome:
        """Close a duo from any state but ``closed``."""
        return self.execute(command)

    def deregister_mentor(self, command: cmd.DeregisterMentor) -> Outcome:
        """Take a mentor out of the pool (the mentor's open duos are left as they are)."""
        return self.execute(command)

    def correct(self, command: cmd.Correct) -> Outcome:
        """Replace a mistaken lifecycle fact of a duo (the original event stays)."""
        return self.execute(command)

    def record_departure(self, command: cmd.RecordDeparture) -> Outcome:
        """Record that a duo's mentee left the prison service (it closes nothing)."""
        return self.execute(command)

    def forget(self, command: cmd.Forget) -> Outcome:
        """Erase a person's personal data (contract §8, rule 16; ADR 35)."""
        return self.execute(command)

    # ------------------------------------------------------------------ queries
    def get_duo(self, duo_id: str) -> Duo:
        """The duo's current state, read from the store (UnknownReference when none)."""
        self.notice_erasures(writer=False)
        uow = UnitOfWork(self)
        uow.fresh = True
        return uow.get(Duo, duo_id, "duo_id")

    def read_duo(self, duo_id: str) -> Duo:
        """The duo's current state, read from the store without the engine's cache, so
        that any thread may call it while another applies commands (UnknownReference
        when there is no such duo)."""
        self.notice_erasures(writer=False)
        try:
            found: Any = self.app.repository.get(Duo.stream_id(duo_id))
        except AggregateNotFoundError:
            raise UnknownReference(f"duo '{duo_id}' does not exist", field="duo_id") from None
        assert isinstance(found, Duo)
        return found

    def history(self, contract_id: str, kind: str = "duo") -> list[DomainEvent]:
        """A stream's events in the order they were recorded (by version): the duo's,
        or, by ``kind`` (a key of :data:`HISTORY_KINDS`), the programme's, site's or
        mentor's (UnknownReference when there is none)."""
        cls = HISTORY_KINDS[kind]
        if cls is Mentor and self.sealing is not None and not self.sealing.writable:
            raise UnknownReference(
                f"{kind} '{contract_id}' cannot be looked up without the master key "
                "(its stream is named by a keyed reference)", field=f"{kind}_id")
        self.notice_erasures(writer=False)
        events = list(self.app.events.get(self.stream_id(cls, contract_id)))
        if not events:
            raise UnknownReference(f"{kind} '{contract_id}' does not exist",
                                   field=f"{kind}_id")
        return events  # type: ignore[return-value]

    def log(self, batch: int = 1000) -> Iterator[tuple[int, str, DomainEvent]]:
        """Every stored event in log order, as (position, stream id, event); the
        engine's own markers (command ids, successions, departures) too."""
        self.notice_erasures(writer=False)
        recorder = self.app.recorder
        to_event = self.app.mapper.to_domain_event
        start = 1
        while notifications := recorder.select_notifications(start, batch):
            for notification in notifications:
                event: DomainEvent = to_event(notification)  # type: ignore[assignment]
                yield notification.id, str(notification.originator_id), event
            start = notifications[-1].id + 1


_NAMING: dict[type[DomainEvent], str] = {Duo.Recruited: "mentee_id", Duo.Matched: "mentor_id"}
"""The events that name a duo's mentee and its mentor, and the field that does."""


_PERSONAL_EVENTS = frozenset({Duo.Recruited, Duo.Matched, Duo.Reviewed, Duo.SurveyRecorded,
                              Mentor.Registered, Mentor.TrainingRecorded})
"""The events that hold personal fields (see :func:`_owners`)."""


def _owners(sealing: Sealing, aggregate: Aggregate,
            event: DomainEvent) -> dict[str, str] | None:
    """Whose each personal field of ``event`` is (field → the person's reference), as
    contract §8 lists them; None for an event without personal fields."""
    if type(event) not in _PERSONAL_EVENTS:  # most of an import's events: said at once
        return None
    ref = sealing.reference
    if isinstance(event, Duo.Recruited) and event.mentee_id is not None:
        mentee = ref(event.mentee_id)
        return {"mentee_id": mentee, "department": mentee, "shifts": mentee}
    if isinstance(event, Duo.Matched) and event.mentor_id is not None:
        return {"mentor_id": ref(event.mentor_id)}
    if isinstance(aggregate, Duo) and isinstance(event, Duo.Reviewed | Duo.SurveyRecorded):
        person = aggregate.mentee_id
        if (isinstance(event, Duo.SurveyRecorded) and event.respondent is Respondent.MENTOR
                and aggregate.mentor_id is not None):
            person = aggregate.mentor_id
        if person is None:  # the handlers refuse this (rule 16); never store it in clear
            raise ValueError("a review or survey of a forgotten person cannot be sealed")
        return {"health" if isinstance(event, Duo.Reviewed) else "scores": ref(person)}
    if isinstance(aggregate, Mentor):
        # A sealed store's mentor stream is named by the mentor's reference.
        mentor = aggregate.contract_id
        if isinstance(event, Mentor.Registered):
            return dict.fromkeys(("mentor_id", "department", "shifts", "years_experience"),
                                 mentor)
        if isinstance(event, Mentor.TrainingRecorded):
            return {"module": mentor}
    return None


HISTORY_KINDS: dict[str, type[Aggregate]] = {
    "duo": Duo, "programme": Programme, "site": Site, "mentor": Mentor}
"""The aggregates whose history ``lifecycle history`` shows, by the name of their kind."""


def _raw_of(command: cmd.Command) -> dict[str, Any]:
    raw = command.model_dump(mode="json", exclude_unset=True)
    raw["type"] = command.type
    return raw
