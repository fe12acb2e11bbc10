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
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

import orjson
import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper

from lifecycle import commands as cmd
from lifecycle.domain.base import Aggregate, DomainEvent, EventMeta
from lifecycle.domain.correction import CorrectionContext
from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import AlreadyExists, DomainError, UnknownReference
from lifecycle.domain.markers import AppliedCommand, AppliedContent, Departure, Succession
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site
from lifecycle.domain.vocabulary import CorrectableFact
from lifecycle.persistence import OrjsonTranscoder, PydanticMapper
from lifecycle.recorders import SelectsStreams

log = structlog.get_logger(__name__)

A = TypeVar("A", bound=Aggregate)

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


_MISSING: Any = object()
"""Cached knowledge that an aggregate did not exist when last looked up."""

_MARKER_PREFIX = (AppliedCommand.stream_id(""), AppliedContent.stream_id(""))
"""How the stream ids of command markers begin (by id, and by content for commands
without id)."""


class AggregateCache:
    """Aggregates (and known absences) this process has loaded or saved, LRU-bounded.

    Entries may be stale when other processes write the same store. That is safe:
    a write based on a stale aggregate fails on the store's version constraint and is
    retried with fresh reads, and the facts a command only reads (a programme's policy,
    a mentor's site or training, a closed predecessor) never change in a way that would
    wrongly accept a command — a stale read can only reject, and a rejection based on
    cached reads is re-checked with fresh ones (:meth:`Lifecycle.apply_in`).

    Command markers have an LRU of their own (``marker_maxsize``). Every applied command
    adds one, so in a shared LRU a long import's markers push out the programmes,
    mentors and duos, which are then read and replayed from the store again and again
    (importing a 20,000-duo pilot re-read almost as many events as it wrote). A marker
    is needed again only when its command comes again.
    """

    def __init__(self, maxsize: int = 50_000, marker_maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self.marker_maxsize = marker_maxsize
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._markers: OrderedDict[str, Any] = OrderedDict()

    def _area(self, stream_id: str) -> OrderedDict[str, Any]:
        return self._markers if stream_id.startswith(_MARKER_PREFIX) else self._items

    def __contains__(self, stream_id: str) -> bool:
        """Whether the stream is cached (as an aggregate or a known absence)."""
        return stream_id in self._area(stream_id)

    def uncached(self, stream_ids: Iterable[str]) -> list[str]:
        """The given streams (once each, in order) that are not cached."""
        items, markers = self._items, self._markers
        return [sid for sid in dict.fromkeys(stream_ids)
                if sid not in (markers if sid.startswith(_MARKER_PREFIX) else items)]

    def get(self, stream_id: str) -> Any:
        """The cached aggregate, ``_MISSING`` for a known absence, or None."""
        items = self._area(stream_id)
        found = items.get(stream_id)
        if found is not None:
            items.move_to_end(stream_id)
        return found

    def put(self, stream_id: str, value: Any) -> None:
        items = self._area(stream_id)
        items[stream_id] = value
        items.move_to_end(stream_id)
        if len(items) > (self.marker_maxsize if items is self._markers else self.maxsize):
            items.popitem(last=False)

    def evict(self, stream_ids: Iterable[str]) -> None:
        for stream_id in stream_ids:
            self._area(stream_id).pop(stream_id, None)

    def clear(self) -> None:
        self._items.clear()
        self._markers.clear()


class UnitOfWork:
    """The aggregates one transaction loads and changes.

    Aggregates changed by an earlier command of the same unit are seen by later ones;
    nothing reaches the store before :meth:`commit`.
    """

    def __init__(self, engine: Lifecycle) -> None:
        self._engine = engine
        self._changed: dict[str, Aggregate] = {}
        self.cached_reads: set[str] = set()
        """Stream ids the current command read from the cache (not from the store)."""
        self.fresh = False
        """When set, read every aggregate not changed in this unit from the store."""

    def find(self, cls: type[A], contract_id: str) -> A | None:
        """The aggregate of ``cls`` with ``contract_id``, or None when it does not exist."""
        stream_id = cls.stream_id(contract_id)
        found: Any = self._changed.get(stream_id)
        if found is None:
            cache = self._engine.cache
            found = None if self.fresh else cache.get(stream_id)
            if found is None:
                try:
                    found = self._engine.app.repository.get(stream_id)
                except AggregateNotFoundError:
                    found = _MISSING
                cache.put(stream_id, found)
            else:
                self.cached_reads.add(stream_id)
        if found is _MISSING:
            return None
        assert isinstance(found, cls)
        return found

    def find_stored(self, cls: type[A], contract_id: str) -> A | None:
        """Like :meth:`find`, but read from the store unless changed in this unit."""
        stream_id = cls.stream_id(contract_id)
        if stream_id not in self._changed:
            self._engine.cache.evict((stream_id,))
        fresh, self.fresh = self.fresh, True
        try:
            return self.find(cls, contract_id)
        finally:
            self.fresh = fresh

    def get(self, cls: type[A], contract_id: str, field: str) -> A:
        """Like :meth:`find`, but a missing aggregate breaks rule 2 for ``field``."""
        found = self.find(cls, contract_id)
        if found is None:
            kind = cls.PREFIX
            raise UnknownReference(f"{kind} '{contract_id}' does not exist", field=field)
        return found

    def check_new(self, cls: type[Aggregate], contract_id: str, field: str) -> None:
        """Rule 2: an id being created does not exist yet."""
        if self.find(cls, contract_id) is not None:
            raise AlreadyExists(f"{cls.PREFIX} '{contract_id}' already exists", field=field)

    def stage(self, *aggregates: Aggregate) -> None:
        """Keep changed aggregates for the commit."""
        for aggregate in aggregates:
            self._changed[aggregate.id] = aggregate
            self._engine.cache.put(aggregate.id, aggregate)

    @property
    def changed_ids(self) -> Iterable[str]:
        """Stream ids changed (or created) in this unit so far."""
        return self._changed.keys()

    def commit(self) -> None:
        """Save every change in one transaction (all or nothing).

        Raises:
            IntegrityError: another writer changed one of the aggregates first; the
                unit's changes are discarded (and dropped from the cache).
        """
        if self._changed:
            try:
                self._engine.save(*self._changed.values())
            except BaseException:
                self.discard()
                raise
        self._changed.clear()

    def discard(self) -> None:
        """Forget every change (nothing was written), also in the engine's cache."""
        self._engine.cache.evict(self._changed)
        self._changed.clear()


Handler = Callable[["Lifecycle", UnitOfWork, Any, EventMeta], list[Aggregate]]


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
        env: the eventsourcing environment (see :func:`lifecycle.store.resolve_target`).
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
        self.last_position = 0
        """Log position of the last event this engine stored (for read-your-writes)."""

    def save(self, *aggregates: Aggregate) -> None:
        """Store the aggregates' pending events in one transaction."""
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        if events:
            # The recorder directly: the event store's put() would also build a
            # notification object per event, which nothing here uses.
            to_stored = self.app.mapper.to_stored_event
            ids = self.app.recorder.insert_events([to_stored(e) for e in events])
            if ids:
                self.last_position = ids[-1]

    def prefetch(self, stream_ids: Iterable[str]) -> None:
        """Load the given streams not yet cached with one query (absent ones as absent,
        but for command markers)."""
        recorder = self.app.recorder
        wanted = self.cache.uncached(stream_ids)
        if not wanted or not isinstance(recorder, SelectsStreams):
            return
        found = recorder.select_streams(wanted)
        to_event = self.app.mapper.to_domain_event
        for stream_id in wanted:
            stored = found.get(stream_id)
            if stored is None:
                # A marker's absence is not kept: a command whose marker was not read
                # is applied as new, and the store refuses the marker of a twin (see
                # _apply). Kept, it would take room in the cache for every command.
                if not stream_id.startswith(_MARKER_PREFIX):
                    self.cache.put(stream_id, _MISSING)
                continue
            aggregate: Aggregate | None = None
            for record in stored:
                event: DomainEvent = to_event(record)  # type: ignore[assignment]
                aggregate = event.mutate(aggregate)
            self.cache.put(stream_id, aggregate)

    def shutdown(self) -> None:
        """Close the store's connections."""
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

    def execute(self, command: cmd.Command, raw: dict[str, Any] | None = None) -> Outcome:
        """Apply one command in its own transaction, retrying after concurrent writes.

        Args:
            command: a validated command.
            raw: the command's JSON object as received (for the idempotency digest);
                derived from ``command`` when not given.

        Raises:
            DomainError: the command broke a rule; nothing was written.
        """
        digest = command_digest(raw if raw is not None else _raw_of(command))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            uow = UnitOfWork(self)
            uow.fresh = attempt > 1
            outcome = self.apply_in(uow, command, digest)
            try:
                uow.commit()
            except IntegrityError:
                log.info("command_conflicted", command_type=command.type, attempt=attempt)
                # Back off with jitter, so writers contending for one duo spread out.
                time.sleep(random.uniform(0, min(0.5, 0.002 * 2**attempt)))
                continue
            log.debug("command_applied", command_type=command.type, outcome=outcome.value,
                      command_id=command.command_id)
            return outcome
        raise ConcurrencyConflict(
            f"gave up after {MAX_ATTEMPTS} attempts: other writers kept changing the same "
            "aggregates", field=None)

    def apply_in(self, uow: UnitOfWork, command: cmd.Command, digest: str) -> Outcome:
        """Check and apply ``command`` inside ``uow`` (no write until the unit commits).

        Raises:
            DomainError: the command broke a rule; ``uow`` is unchanged.
        """
        uow.cached_reads.clear()
        try:
            return self._apply(uow, command, digest)
        except DomainError:
            if not uow.cached_reads or uow.fresh:
                raise
        # The rejection rests on cached reads another process may have outdated:
        # decide again on fresh ones.
        self.cache.evict(uow.cached_reads)
        uow.cached_reads.clear()
        return self._apply(uow, command, digest)

    def _apply(self, uow: UnitOfWork, command: cmd.Command, digest: str) -> Outcome:
        meta = EventMeta(occurred_on=command.occurred_on, recorded_at=self.clock(),
                         command_id=command.command_id)
        command_id = command.command_id
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
            changed = _HANDLERS[type(command)](self, uow, command, meta)
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

    # ------------------------------------------------------------------ queries
    def get_duo(self, duo_id: str) -> Duo:
        """The duo's current state, read from the store (UnknownReference when none)."""
        uow = UnitOfWork(self)
        uow.fresh = True
        return uow.get(Duo, duo_id, "duo_id")

    def history(self, duo_id: str) -> list[DomainEvent]:
        """The duo's events in the order they were recorded (by version)."""
        events = list(self.app.events.get(Duo.stream_id(duo_id)))
        if not events:
            raise UnknownReference(f"duo '{duo_id}' does not exist", field="duo_id")
        return events  # type: ignore[return-value]


_REFERENCES: dict[str, tuple[type[Aggregate], ...]] = {
    "programme_id": (Programme,),
    "site_id": (Site,),
    "mentor_id": (Mentor,),
    "duo_id": (Duo,),
    "predecessor_duo_id": (Duo, Succession),
}


_REFERENCE_FIELDS: dict[type[cmd.Command], list[tuple[str, tuple[type[Aggregate], ...]]]] = {
    model: [(name, kinds) for name, kinds in _REFERENCES.items() if name in model.model_fields]
    for model in cmd.COMMANDS.values()
}


def stream_ids_of(command: cmd.Command, digest: str | None = None) -> list[str]:
    """Every stream a command may read or create (for :meth:`Lifecycle.prefetch`);
    ``digest``: the command's content digest, for the marker of a command without id."""
    ids = []
    if command.command_id is not None:
        ids.append(AppliedCommand.stream_id(command.command_id))
    elif digest is not None:
        ids.append(AppliedContent.stream_id(digest))
    for name, kinds in _REFERENCE_FIELDS[type(command)]:
        value = getattr(command, name)
        if value is not None:
            ids.extend(kind.stream_id(value) for kind in kinds)
    return ids


def _raw_of(command: cmd.Command) -> dict[str, Any]:
    raw = command.model_dump(mode="json", exclude_unset=True)
    raw["type"] = command.type
    return raw


# ---------------------------------------------------------------------- handlers
def _open_programme(app: Lifecycle, uow: UnitOfWork, c: cmd.OpenProgramme,
                    meta: EventMeta) -> list[Aggregate]:
    uow.check_new(Programme, c.programme_id, "programme_id")
    return [Programme.open(meta, c.programme_id, name=c.name, country=c.country,
                           policy=c.policy)]


def _register_site(app: Lifecycle, uow: UnitOfWork, c: cmd.RegisterSite,
                   meta: EventMeta) -> list[Aggregate]:
    uow.check_new(Site, c.site_id, "site_id")
    programme = uow.get(Programme, c.programme_id, "programme_id")
    return [Site.register(meta, c.site_id, programme=programme, name=c.name, setting=c.setting)]


def _register_mentor(app: Lifecycle, uow: UnitOfWork, c: cmd.RegisterMentor,
                     meta: EventMeta) -> list[Aggregate]:
    uow.check_new(Mentor, c.mentor_id, "mentor_id")
    programme = uow.get(Programme, c.programme_id, "programme_id")
    site = uow.get(Site, c.site_id, "site_id")
    return [Mentor.register(meta, c.mentor_id, programme=programme, site=site,
                            department=c.department, shifts=c.shifts,
                            years_experience=c.years_experience)]


def _record_training(app: Lifecycle, uow: UnitOfWork, c: cmd.RecordTraining,
                     meta: EventMeta) -> list[Aggregate]:
    mentor = uow.get(Mentor, c.mentor_id, "mentor_id")
    mentor.record_training(meta, c.module)
    return [mentor]


def _recruit(app: Lifecycle, uow: UnitOfWork, c: cmd.Recruit,
             meta: EventMeta) -> list[Aggregate]:
    uow.check_new(Duo, c.duo_id, "duo_id")
    programme = uow.get(Programme, c.programme_id, "programme_id")
    site = uow.get(Site, c.site_id, "site_id")
    predecessor = None
    if c.predecessor_duo_id is not None:
        predecessor = uow.get(Duo, c.predecessor_duo_id, "predecessor_duo_id")
    duo = Duo.recruit(meta, c.duo_id, programme=programme, site=site, mentee_id=c.mentee_id,
                      newcomer_kind=c.newcomer_kind, department=c.department, shifts=c.shifts,
                      predecessor=predecessor)
    changed: list[Aggregate] = [duo]
    if c.predecessor_duo_id is not None:
        existing = uow.find(Succession, c.predecessor_duo_id)
        changed.append(Succession.claim(meta, c.predecessor_duo_id, c.duo_id, existing))
    return changed


def _duo_command(method: str) -> Handler:
    """A handler for a command that changes one duo and names nothing else."""

    def handle(app: Lifecycle, uow: UnitOfWork, c: Any,
               meta: EventMeta) -> list[Aggregate]:
        duo = uow.get(Duo, c.duo_id, "duo_id")
        fields = cmd.command_fields(c)
        del fields["duo_id"]
        getattr(duo, method)(meta, **fields)
        return [duo]

    handle.__name__ = f"_{method}"
    return handle


def _match(app: Lifecycle, uow: UnitOfWork, c: cmd.Match,
           meta: EventMeta) -> list[Aggregate]:
    duo = uow.get(Duo, c.duo_id, "duo_id")
    mentor = uow.get(Mentor, c.mentor_id, "mentor_id")
    programme = uow.get(Programme, duo.programme_id, "duo_id")
    duo.match(meta, mentor=mentor, mentor_kind=c.mentor_kind, programme=programme)
    return [duo]


def _deregister_mentor(app: Lifecycle, uow: UnitOfWork, c: cmd.DeregisterMentor,
                       meta: EventMeta) -> list[Aggregate]:
    mentor = uow.get(Mentor, c.mentor_id, "mentor_id")
    mentor.deregister(meta, c.reason)
    return [mentor]


def _first_of_chain(uow: UnitOfWork, duo: Duo) -> Duo:
    """The first duo of ``duo``'s chain (following ``predecessor_duo_id`` back)."""
    first = duo
    while first.predecessor_duo_id is not None:
        first = uow.get(Duo, first.predecessor_duo_id, "duo_id")
    return first


def _correct(app: Lifecycle, uow: UnitOfWork, c: cmd.Correct,
             meta: EventMeta) -> list[Aggregate]:
    duo = uow.get(Duo, c.duo_id, "duo_id")
    fact = c.fact
    mentor = predecessor = successor = None
    departed_on = None
    if fact is CorrectableFact.MATCHED_ON and duo.mentor_id is not None:
        mentor = uow.get(Mentor, duo.mentor_id, "duo_id")
    if fact is CorrectableFact.RECRUITED_ON:
        if duo.predecessor_duo_id is not None:
            predecessor = uow.get(Duo, duo.predecessor_duo_id, "duo_id")
        else:
            departure = uow.find(Departure, duo.contract_id)
            departed_on = None if departure is None else departure.departed_on
    if fact in (CorrectableFact.CLOSED_ON, CorrectableFact.CLOSE_REASON):
        succession = uow.find(Succession, duo.contract_id)
        if succession is not None:
            successor = uow.get(Duo, succession.successor_duo_id, "duo_id")
    context = CorrectionContext(
        programme=uow.get(Programme, duo.programme_id, "duo_id"), mentor=mentor,
        predecessor=predecessor, successor=successor, chain_departed_on=departed_on)
    duo.correct(meta, fact=fact, value=c.corrected_value, context=context)
    return [duo]


def _record_departure(app: Lifecycle, uow: UnitOfWork, c: cmd.RecordDeparture,
                      meta: EventMeta) -> list[Aggregate]:
    duo = uow.get(Duo, c.duo_id, "duo_id")
    first = _first_of_chain(uow, duo)
    duo.record_departure(meta, reason=c.reason, first=first)
    existing = uow.find(Departure, first.contract_id)
    return [duo, Departure.record(meta, first.contract_id, duo.contract_id, existing)]


_HANDLERS: dict[type[cmd.Command], Handler] = {
    cmd.OpenProgramme: _open_programme,
    cmd.RegisterSite: _register_site,
    cmd.RegisterMentor: _register_mentor,
    cmd.RecordTraining: _record_training,
    cmd.Recruit: _recruit,
    cmd.Select: _duo_command("select"),
    cmd.Match: _match,
    cmd.Activate: _duo_command("activate"),
    cmd.LogContact: _duo_command("log_contact"),
    cmd.RetractContact: _duo_command("retract_contact"),
    cmd.Review: _duo_command("review"),
    cmd.RecordSurvey: _duo_command("record_survey"),
    cmd.Close: _duo_command("close"),
    cmd.DeregisterMentor: _deregister_mentor,
    cmd.Correct: _correct,
    cmd.RecordDeparture: _record_departure,
}
