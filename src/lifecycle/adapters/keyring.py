"""The store's key table: each person's data key, wrapped by the master key, and the
check value of that master key (ADR 34).

The table lives in the store's own database, beside the events but outside them: the
events and their hash chain are never rewritten, while a key row can be shredded. A
shredded person keeps a row without a key (a tombstone holding only the keyed hash), so
that no new key is ever made for a forgotten person by mistake.

Shredding must leave no copy of the wrapped key anywhere in the files the engine wrote.
On SQLite the connection sets ``PRAGMA secure_delete`` (the freed bytes of the row are
overwritten with zeros, in the page and so in the page as the write-ahead log and the
database file get it) and then checkpoints the log with ``TRUNCATE``, which copies the
zeroed page into the database file and cuts the log (which held the page as it was
before) to nothing. On PostgreSQL an update leaves the old row version as a dead tuple
in the table file until it is vacuumed; a plain ``VACUUM`` frees the space but does not
always overwrite it (measured: a deleted row inserted last in its page stayed in the
file), so the table (one row per person, small) is rewritten with ``VACUUM FULL``, which
writes a new file and drops the old one. Neither can remove a row version that a
transaction still running elsewhere may see; so the shred then reads the table's new
file (``pg_read_binary_file``, which needs a superuser or ``pg_read_server_files``)
and says whether the wrapped key is gone from it, and :meth:`KeyRing.scrub` can be
called again later.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lifecycle.adapters.crypto import MasterKeyError, PersonKeys, data_cipher
from lifecycle.adapters.store import StoreTarget, connect, setup_lock

KEYS_TABLE = "lifecycle_person_keys"
CHECK_TABLE = "lifecycle_master_key_check"
SHREDS_TABLE = "lifecycle_shreds"
"""The references whose keys were shredded, one row each: a process that keeps data
keys in memory counts its rows before each command or read, and when another process
has shredded a key since, drops it (ADR 35). The key table's tombstones say the same,
but counting them would read the whole key table."""
PEOPLE_TABLE = "lifecycle_person_streams"
"""Which streams name which person (reference, stream id): written with the events that
name a duo's mentee or mentor, so that ``forget`` finds a person's duos without reading
the log (ADR 35). It holds keyed references and stream ids only, as the events do."""


def read_key_table(target: StoreTarget) -> tuple[str, list[tuple[str, bytes | None]]] | None:
    """A sealed store's check value and key rows (ordered by reference), read without
    the master key (for an export); None for a store without a check value."""
    conn = connect(target)
    try:
        cur = conn.cursor()
        try:
            cur.execute(f"SELECT check_value FROM {CHECK_TABLE}")
        except Exception:  # no such table: a plain store
            return None
        row = cur.fetchone()
        if row is None:
            return None
        cur.execute(f"SELECT reference, wrapped FROM {KEYS_TABLE} ORDER BY reference")
        rows = [(str(r), None if w is None else bytes(w)) for r, w in cur.fetchall()]
        return str(row[0]), rows
    finally:
        conn.rollback()
        conn.close()


class ForgottenPersonError(Exception):
    """A data key was asked for a person whose key was shredded."""


@dataclass(frozen=True)
class ShredResult:
    """What a shred did to the files.

    Attributes:
        scrubbed: SQLite: the write-ahead log was checkpointed in full and truncated
            (false when a reader kept it from completing: the old page may then still be
            in the log until the next full checkpoint); PostgreSQL: the rewritten key
            table's file was read and holds no copy of the wrapped key (false when a
            transaction running elsewhere kept the old row version, or the file could
            not be read).
        wrapped: the wrapped key that was shredded, to check a later :meth:`KeyRing.scrub`
            against (useless without the master key, which never enters the store).
    """

    scrubbed: bool
    wrapped: bytes


class KeyRing:
    """The wrapped data keys of one store, opened under one master key.

    Args:
        target: the store.
        keys: the keys derived from the master key.

    Raises:
        MasterKeyError: the store was sealed under another master key (checked before
            anything is written; a store without a check value gets this key's).
    """

    def __init__(self, target: StoreTarget, keys: PersonKeys) -> None:
        self._target = target
        self._keys = keys
        self._postgres = target.is_postgres
        self._mark = "%s" if self._postgres else "?"
        self._cache: dict[str, bytes] = {}
        self._ciphers: dict[str, Any] = {}
        """The AES-GCM cipher of each cached key that sealed or opened something;
        dropped with the key."""
        self._shredded: set[str] = set()
        # One connection writes, used from every thread of the engine (the HTTP
        # service's writer and its readers), one call at a time; reads go through a
        # second one, so that a reader (a views catch-up holding the database's write
        # lock while it opens fields) never waits behind a writer waiting for that lock.
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._reader: Any = None
        # Under the store's set-up lock: two engines opening a new PostgreSQL store at
        # once must not both create the tables, nor both write a check value.
        with setup_lock(target):
            self._conn: Any = connect(target, threads=True)
            if not self._postgres:
                # Every delete or update on this connection overwrites the freed bytes.
                self._conn.execute("PRAGMA secure_delete = ON")
            self._setup()

    def _setup(self) -> None:
        blob = "BYTEA" if self._postgres else "BLOB"
        cur = self._conn.cursor()
        cur.execute(f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} "
                    f"(reference TEXT PRIMARY KEY, wrapped {blob})")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {PEOPLE_TABLE} "
                    "(reference TEXT NOT NULL, stream TEXT NOT NULL, "
                    "PRIMARY KEY (reference, stream))"
                    + ("" if self._postgres else " WITHOUT ROWID"))
        cur.execute(f"CREATE TABLE IF NOT EXISTS {SHREDS_TABLE} (reference TEXT PRIMARY KEY)")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {CHECK_TABLE} "
                    "(only_row INTEGER PRIMARY KEY CHECK (only_row = 1),"
                    " check_value TEXT NOT NULL)")
        cur.execute(f"SELECT check_value FROM {CHECK_TABLE}")
        row = cur.fetchone()
        if row is None:
            # Two engines opening a new store at once: the first check value stays.
            cur.execute(f"INSERT INTO {CHECK_TABLE} VALUES (1, {self._mark}) "
                        "ON CONFLICT DO NOTHING", (self._keys.check_value(),))
            cur.execute(f"SELECT check_value FROM {CHECK_TABLE}")
            row = cur.fetchone()
        try:
            self._keys.verify(row[0])
        except MasterKeyError:
            self._conn.rollback()
            self._conn.close()
            raise
        cur.execute(f"SELECT count(*) FROM {SHREDS_TABLE}")
        self._shreds_seen = int(cur.fetchone()[0])
        self.generation = 0
        """Counts the times :meth:`refresh` found keys another process shredded."""
        self._conn.commit()

    def refresh(self) -> int:
        """Drop from memory the keys another process shredded since this one last
        looked (one count of a small table when nothing changed).

        Returns:
            :attr:`generation`, one more each time keys were newly found shredded.
        """
        count = int(self._read(f"SELECT count(*) FROM {SHREDS_TABLE}")[0][0])
        if count == self._shreds_seen:
            return self.generation
        found = False
        for (reference,) in self._read(f"SELECT reference FROM {SHREDS_TABLE}"):
            if reference not in self._shredded:
                self._cache.pop(reference, None)
                self._ciphers.pop(reference, None)
                self._shredded.add(reference)
                found = True
        self._shreds_seen = count
        self.generation += found
        return self.generation

    def close(self) -> None:
        """Close the connections and forget every cached data key."""
        with self._lock, self._read_lock:
            self._cache.clear()
            self._ciphers.clear()
            self._conn.close()
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._read_lock:
            if self._reader is None:
                self._reader = connect(self._target, threads=True)
            cur = self._reader.cursor()
            cur.execute(sql, params)
            rows = cur.fetchall()
            self._reader.commit()
        return list(rows)

    def _row(self, reference: str) -> tuple[bool, bytes | None]:
        found = self._read(
            f"SELECT wrapped FROM {KEYS_TABLE} WHERE reference = {self._mark}", (reference,))
        row = found[0] if found else None
        if row is None:
            return False, None
        return True, None if row[0] is None else bytes(row[0])

    def preload(self) -> None:
        """Read every live key at once (before a rebuild opens the fields of many
        people), and note every shredded one."""
        rows = self._read(f"SELECT reference, wrapped FROM {KEYS_TABLE}")
        for reference, wrapped in rows:
            if wrapped is None:
                self._shredded.add(reference)
            elif reference not in self._cache:
                self._cache[reference] = self._keys.unwrap(reference, bytes(wrapped))

    def ensure(self, references: Iterable[str]) -> None:
        """Make sure each person has a key, making the missing ones in one transaction
        (before the events sealed under them are stored).

        Raises:
            ForgottenPersonError: one of them was forgotten (no new key is made).
        """
        wanted = [r for r in dict.fromkeys(references) if r not in self._cache]
        if not wanted:
            return
        if any(r in self._shredded for r in wanted):
            raise ForgottenPersonError("this person was forgotten: no new key is made")
        with self._lock, self._flushed_by_next_commit():
            cur = self._conn.cursor()
            found = self._select(cur, wanted)
            if any(found.get(r, b"") is None for r in wanted):
                self._conn.commit()
                raise ForgottenPersonError("this person was forgotten: no new key is made")
            made = {r: self._keys.new_data_key() for r in wanted if r not in found}
            if made:
                # ON CONFLICT: another engine may make the same person's key meanwhile;
                # its key then stays. Read back in the same transaction, after the
                # insert: each person's row as it is stored, whichever engine made it.
                cur.executemany(
                    f"INSERT INTO {KEYS_TABLE} VALUES ({self._mark}, {self._mark}) "
                    "ON CONFLICT DO NOTHING",
                    [(r, self._keys.wrap(r, key)) for r, key in made.items()])
                found.update(self._select(cur, list(made)))
            self._conn.commit()
        for reference in wanted:
            wrapped = found.get(reference)
            if wrapped is None:
                self._shredded.add(reference)
                raise ForgottenPersonError("this person was forgotten: no new key is made")
            self._cache[reference] = self._keys.unwrap(reference, bytes(wrapped))

    @contextmanager
    def _flushed_by_next_commit(self) -> Iterator[None]:
        """On SQLite, commit without flushing the write-ahead log to disk (then back to
        ``synchronous=FULL``): for new keys, whose events are committed next by the
        same engine in the same log, with a flush that makes every earlier frame of the
        log durable too. The log is replayed in order after a power cut, so keys are
        never lost while their events stay (at worst, unused keys are lost with the
        events that were not committed). This saves one flush per batch of commands.

        Nor does that commit checkpoint the log (``wal_autocheckpoint = 0``), which the
        commit of the events does when it is due: with SQLite's default (every 1,000
        pages) on this connection, a bulk import's log, which the recorder lets grow to
        10,000 pages (ADR 42), was copied into the database file and flushed at every
        batch's new keys (ADR 45)."""
        if self._postgres:
            yield
            return
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA wal_autocheckpoint = 0")
        try:
            yield
        finally:
            if self._conn.in_transaction:  # a failure half-way: nothing of it stays
                self._conn.rollback()
            self._conn.execute("PRAGMA wal_autocheckpoint = 1000")
            self._conn.execute("PRAGMA synchronous = FULL")

    def _select(self, cur: Any, references: list[str]) -> dict[str, Any]:
        """The key rows of ``references`` (reference → wrapped key, None when shredded)
        read on the writing connection, 500 at a time."""
        found: dict[str, Any] = {}
        for at in range(0, len(references), 500):
            part = references[at:at + 500]
            marks = ", ".join([self._mark] * len(part))
            cur.execute(f"SELECT reference, wrapped FROM {KEYS_TABLE} "
                        f"WHERE reference IN ({marks})", part)
            found.update(cur.fetchall())
        return found

    def status(self, reference: str) -> str:
        """``live`` (the person has a key), ``shredded`` (forgotten) or ``none``."""
        if reference in self._cache:
            return "live"
        if reference in self._shredded:
            return "shredded"
        exists, wrapped = self._row(reference)
        if wrapped is not None:
            return "live"
        if exists:
            self._shredded.add(reference)
            return "shredded"
        return "none"

    def data_key(self, reference: str, *, create: bool = False) -> bytes | None:
        """The data key of the person ``reference``.

        Args:
            reference: the person's keyed hash.
            create: make (and store) a key for a person who has none yet.

        Returns:
            The key, or None for a person without one (when not ``create``) or whose key
            was shredded.

        Raises:
            ForgottenPersonError: ``create`` for a person whose key was shredded.
            MasterKeyError: the wrapped key does not open under this master key.
        """
        cached = self._cache.get(reference)
        if cached is not None:
            return cached
        if reference in self._shredded:
            if create:
                raise ForgottenPersonError("this person was forgotten: no new key is made")
            return None
        exists, wrapped = self._row(reference)
        if wrapped is not None:
            key = self._keys.unwrap(reference, wrapped)
        elif exists:
            self._shredded.add(reference)
            if create:
                raise ForgottenPersonError("this person was forgotten: no new key is made")
            return None
        elif not create:
            return None
        else:
            key = self._keys.new_data_key()
            with self._lock:
                cur = self._conn.cursor()
                cur.execute(f"INSERT INTO {KEYS_TABLE} VALUES ({self._mark}, {self._mark})",
                            (reference, self._keys.wrap(reference, key)))
                self._conn.commit()
        self._cache[reference] = key
        return key

    def cipher(self, reference: str, *, create: bool = False) -> Any:
        """The AES-GCM cipher of the person's data key (see :meth:`data_key`, whose
        arguments and errors it shares), made once per person and kept with the key;
        None where :meth:`data_key` gives None."""
        found = self._ciphers.get(reference)
        if found is None:
            key = self.data_key(reference, create=create)
            if key is None:
                return None
            found = self._ciphers[reference] = data_cipher(key)
        return found

    def is_shredded(self, reference: str) -> bool:
        """Whether the person's key was shredded."""
        exists, wrapped = self._row(reference)
        return exists and wrapped is None

    def shred(self, reference: str) -> ShredResult:
        """Destroy the person's data key for good, leaving a tombstone row.

        Raises:
            KeyError: the person has no live key (none, or shredded already).
        """
        _, wrapped = self._row(reference)
        if wrapped is None:
            raise KeyError(reference)
        self._cache.pop(reference, None)
        self._ciphers.pop(reference, None)
        self._shredded.add(reference)
        with self._lock:
            cur = self._conn.cursor()
            # Delete, then insert the tombstone: the row's bytes are freed (and, with
            # secure_delete, zeroed) rather than left to an in-place update to handle.
            cur.execute(f"DELETE FROM {KEYS_TABLE} WHERE reference = {self._mark}",
                        (reference,))
            cur.execute(f"INSERT INTO {KEYS_TABLE} VALUES ({self._mark}, NULL)", (reference,))
            cur.execute(f"INSERT INTO {SHREDS_TABLE} VALUES ({self._mark}) "
                        "ON CONFLICT DO NOTHING", (reference,))
            self._conn.commit()
            self._shreds_seen += 1
        return ShredResult(self.scrub(wrapped), wrapped)

    def streams_of(self, reference: str) -> list[str]:
        """The streams whose events name the person (see :data:`PEOPLE_TABLE`)."""
        rows = self._read(f"SELECT stream FROM {PEOPLE_TABLE} WHERE reference = "
                          f"{self._mark} ORDER BY stream", (reference,))
        return [str(row[0]) for row in rows]

    def put_streams(self, rows: Iterable[tuple[str, str]]) -> None:
        """Note which streams name whom (a restore, whose events arrive without it)."""
        with self._lock:
            cur = self._conn.cursor()
            cur.executemany(f"INSERT INTO {PEOPLE_TABLE} VALUES ({self._mark}, {self._mark}) "
                            "ON CONFLICT DO NOTHING", list(rows))
            self._conn.commit()

    def wrapped_keys(self) -> list[tuple[str, bytes | None]]:
        """Every row of the key table (reference, wrapped key or None when shredded),
        ordered by reference (for an export)."""
        rows = self._read(f"SELECT reference, wrapped FROM {KEYS_TABLE} ORDER BY reference")
        return [(r, None if w is None else bytes(w)) for r, w in rows]

    def put_wrapped(self, rows: Iterable[tuple[str, bytes | None]]) -> None:
        """Store key rows as an export carried them (a restore into a new store under
        the same master key); each key must open under this master key.

        Raises:
            MasterKeyError: a key does not open (another master key's).
        """
        checked = []
        for reference, wrapped in rows:
            if wrapped is not None:
                self._keys.unwrap(reference, wrapped)
            checked.append((reference, wrapped))
        with self._lock:
            cur = self._conn.cursor()
            cur.executemany(f"INSERT INTO {KEYS_TABLE} VALUES ({self._mark}, {self._mark}) "
                            "ON CONFLICT DO NOTHING", checked)
            shredded = [(reference,) for reference, wrapped in checked if wrapped is None]
            cur.executemany(f"INSERT INTO {SHREDS_TABLE} VALUES ({self._mark}) "
                            "ON CONFLICT DO NOTHING", shredded)
            self._conn.commit()
            self._shreds_seen += len(shredded)
            self._shredded.update(reference for (reference,) in shredded)

    def scrub(self, wrapped: bytes) -> bool:
        """Remove the freed copies of shredded keys from the store's files (again).

        Args:
            wrapped: a shredded wrapped key, looked for in the key table's file on
                PostgreSQL.

        Returns:
            Whether the files are known to be free of it (see :class:`ShredResult`).
        """
        with self._lock:
            if self._postgres:
                return self._scrub_postgres(wrapped)
            try:
                busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:
                return False
            return bool(busy == 0)

    def _scrub_postgres(self, wrapped: bytes) -> bool:
        import psycopg

        autocommit = self._conn.autocommit
        self._conn.autocommit = True  # VACUUM cannot run inside a transaction
        try:
            self._conn.execute(f"VACUUM FULL {KEYS_TABLE}")
            # VACUUM FULL writes the new file directly (not through shared buffers), so
            # the file as read now is what is on disk.
            row = self._conn.execute(
                "SELECT pg_read_binary_file(pg_relation_filepath(%s::regclass))",
                (KEYS_TABLE,)).fetchone()
        except psycopg.errors.InsufficientPrivilege:
            return False
        finally:
            self._conn.autocommit = autocommit
        return wrapped not in bytes(row[0])
