"""The unit of work: the aggregates one transaction loads and changes, and the
process-wide cache of aggregates it reads through."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application

from lifecycle.domain.base import Aggregate
from lifecycle.domain.errors import AlreadyExists, UnknownReference
from lifecycle.domain.markers import AppliedCommand, AppliedContent

A = TypeVar("A", bound=Aggregate)

MISSING: Any = object()
"""Cached knowledge that an aggregate did not exist when last looked up."""

MARKER_PREFIX = (AppliedCommand.stream_id(""), AppliedContent.stream_id(""))
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
        return self._markers if stream_id.startswith(MARKER_PREFIX) else self._items

    def __contains__(self, stream_id: str) -> bool:
        """Whether the stream is cached (as an aggregate or a known absence)."""
        return stream_id in self._area(stream_id)

    def uncached(self, stream_ids: Iterable[str]) -> list[str]:
        """The given streams (once each, in order) that are not cached."""
        items, markers = self._items, self._markers
        return [sid for sid in dict.fromkeys(stream_ids)
                if sid not in (markers if sid.startswith(MARKER_PREFIX) else items)]

    def get(self, stream_id: str) -> Any:
        """The cached aggregate, ``MISSING`` for a known absence, or None."""
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


class Engine(Protocol):
    """What a unit of work needs of the engine (:class:`lifecycle.application.engine.Lifecycle`)."""

    cache: AggregateCache

    @property
    def app(self) -> Application[str]:
        """The library's application (its repository loads aggregates)."""

    def save(self, *aggregates: Aggregate) -> None:
        """Store the aggregates' pending events in one transaction."""

    def stream_id(self, cls: type[Aggregate], contract_id: str) -> str:
        """The stream of an aggregate (a sealed store names mentors by reference)."""


class UnitOfWork:
    """The aggregates one transaction loads and changes.

    Aggregates changed by an earlier command of the same unit are seen by later ones;
    nothing reaches the store before :meth:`commit`.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._changed: dict[str, Aggregate] = {}
        self.cached_reads: set[str] = set()
        """Stream ids the current command read from the cache (not from the store)."""
        self.fresh = False
        """When set, read every aggregate not changed in this unit from the store."""
        self.forgotten: list[str] = []
        """References of the people a ``forget`` of this unit erased: their keys are
        shredded once the unit is committed."""

    @property
    def sealing(self) -> Any:
        """The store's :class:`~lifecycle.adapters.sealing.Sealing` (None: plain store)."""
        return getattr(self._engine, "sealing", None)

    def stream_key(self, cls: type[Aggregate], contract_id: str) -> str:
        """What names the stream of ``cls`` with ``contract_id`` after its kind prefix."""
        return self._engine.stream_id(cls, contract_id).partition(":")[2]

    def find(self, cls: type[A], contract_id: str) -> A | None:
        """The aggregate of ``cls`` with ``contract_id``, or None when it does not exist."""
        stream_id = self._engine.stream_id(cls, contract_id)
        found: Any = self._changed.get(stream_id)
        if found is None:
            cache = self._engine.cache
            found = None if self.fresh else cache.get(stream_id)
            if found is None:
                try:
                    found = self._engine.app.repository.get(stream_id)
                except AggregateNotFoundError:
                    found = MISSING
                cache.put(stream_id, found)
            else:
                self.cached_reads.add(stream_id)
        if found is MISSING:
            return None
        assert isinstance(found, cls)
        return found

    def find_stored(self, cls: type[A], contract_id: str) -> A | None:
        """Like :meth:`find`, but read from the store unless changed in this unit."""
        stream_id = self._engine.stream_id(cls, contract_id)
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
        self.forgotten.clear()
