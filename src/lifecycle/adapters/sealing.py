"""A store's sealing of personal fields (ADR 34, ADR 35): whether the store seals, its
master key and key table, and what the mapper, the views and ``forget`` ask of them.

A store is *sealed* when it was created with encryption: its key table holds the check
value of a master key. Every store created by :func:`open_sealing` is (new stores are
sealed by default); a store that already held events without a check value is *plain*
and stays so (nothing of it is ever rewritten). A sealed store opened without its
master key (no ``$LIFECYCLE_MASTER_KEY``, no key file where one is looked for) opens
*without keys*: it verifies, reads and reports, with every sealed field as None, and
refuses every command, so that nothing is half-written; a wrong master key is refused
at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lifecycle.adapters.crypto import (
    MASTER_KEY_ENV,
    MasterKeyError,
    PersonKeys,
    default_key_path,
    is_sealed,
    load_master_key,
    seal,
    sealed_reference,
    unseal,
)
from lifecycle.adapters.keyring import CHECK_TABLE, KeyRing, ShredResult
from lifecycle.adapters.store import StoreTarget, connect

SEALED_PREFIX_BYTES = b"enc1:"


class Sealing:
    """The personal-data keys of one sealed store.

    Args:
        keys: the keys derived from the master key; None when the store was opened
            without it (read only).
        ring: the store's key table (None without the master key).
        key_file: where the master key was looked for (for messages).
    """

    def __init__(self, keys: PersonKeys | None, ring: KeyRing | None,
                 key_file: Path | None = None) -> None:
        self._keys = keys
        self._ring = ring
        self.key_file = key_file

    @property
    def writable(self) -> bool:
        """Whether the master key is at hand (commands need it)."""
        return self._keys is not None and self._ring is not None

    def check_writable(self) -> None:
        """Refuse a write without the master key.

        Raises:
            MasterKeyError: the store was opened without it.
        """
        if not self.writable:
            raise MasterKeyError(
                f"this store seals personal data and its master key was not found "
                f"(looked for ${MASTER_KEY_ENV} and {self.key_file}): it is open for "
                "reading only, nothing was written")

    def _need(self) -> tuple[PersonKeys, KeyRing]:
        self.check_writable()
        assert self._keys is not None and self._ring is not None
        return self._keys, self._ring

    def reference(self, person_id: str) -> str:
        """The keyed reference of a person id (what names, compares and keys them)."""
        keys = self._keys
        if keys is None or self._ring is None:  # spelled out: a few calls per command
            keys = self._need()[0]
        return keys.reference(person_id)

    def marker_digest(self, digest: str) -> str:
        """The keyed digest an idempotency marker keeps for a command's SHA-256."""
        keys = self._keys
        if keys is None or self._ring is None:
            keys = self._need()[0]
        return keys.command_digest(digest)

    def status(self, reference: str) -> str:
        """``live``, ``shredded`` (forgotten) or ``none`` (never used)."""
        return self._need()[1].status(reference)

    def ensure(self, references: Iterable[str]) -> None:
        """Make the missing data keys of these people (see :meth:`KeyRing.ensure`)."""
        self._need()[1].ensure(references)

    def seal(self, state: dict[str, Any], owners: Mapping[str, str]) -> dict[str, Any]:
        """``state`` with each field of ``owners`` (field → reference) sealed under the
        data key of its owner (made when missing)."""
        cipher = self._need()[1].cipher
        for field, reference in owners.items():
            if field in state:
                state[field] = seal(cipher(reference, create=True), reference, field,
                                    state[field])
        return state

    def data_key(self, reference: str) -> bytes | None:
        """The data key of a reference; None when shredded, unknown or without keys."""
        if self._ring is None:
            return None
        return self._ring.data_key(reference)

    def _cipher(self, reference: str) -> Any:
        """The cipher of a reference's data key (None as for :meth:`data_key`)."""
        if self._ring is None:
            return None
        return self._ring.cipher(reference)

    def open(self, state: dict[str, Any], keep_reference: Iterable[str] = ()) -> dict[str, Any]:
        """``state`` (changed in place) with every sealed field opened, or None where it
        cannot be (forgotten, or no master key); a field named in ``keep_reference``
        that cannot be opened holds its owner's reference instead.

        Raises:
            SealedFieldError: a field does not open under its owner's existing key.
        """
        for field, value in state.items():
            if isinstance(value, str) and value.startswith("enc1:"):
                reference = sealed_reference(value)
                cipher = self._cipher(reference)
                if cipher is not None:
                    state[field] = unseal(cipher, field, value)
                else:
                    state[field] = reference if field in keep_reference else None
        return state

    def preload(self) -> None:
        """Read every live data key at once (before opening many people's fields)."""
        if self._ring is not None:
            self._ring.preload()

    def shred(self, reference: str) -> ShredResult:
        """Destroy a person's data key (see :meth:`KeyRing.shred`)."""
        return self._need()[1].shred(reference)

    def scrub(self, wrapped: bytes) -> bool:
        """Checkpoint again (see :meth:`KeyRing.scrub`)."""
        return self._need()[1].scrub(wrapped)

    def refresh(self) -> int:
        """Drop the keys another process shredded since this one last looked; the
        count of times that happened (see :meth:`KeyRing.refresh`)."""
        return 0 if self._ring is None else self._ring.refresh()

    def streams_of(self, reference: str) -> list[str]:
        """The streams whose events name the person (see :meth:`KeyRing.streams_of`)."""
        return self._need()[1].streams_of(reference)

    def put_streams(self, rows: Iterable[tuple[str, str]]) -> None:
        """Note which streams name whom (see :meth:`KeyRing.put_streams`)."""
        self._need()[1].put_streams(rows)

    def wrapped_keys(self) -> list[tuple[str, bytes | None]]:
        """The key table's rows (reference, wrapped key or None), for an export."""
        return [] if self._ring is None else self._ring.wrapped_keys()

    def put_wrapped(self, rows: Iterable[tuple[str, bytes | None]]) -> None:
        """Store key rows an export carried (see :meth:`KeyRing.put_wrapped`)."""
        self._need()[1].put_wrapped(rows)

    def close(self) -> None:
        if self._ring is not None:
            self._ring.close()
            self._ring = None


def has_sealed_value(state: Mapping[str, Any]) -> bool:
    """Whether a decoded stored state holds any sealed field."""
    return any(is_sealed(value) for value in state.values())


def is_sealed_store(target: StoreTarget) -> bool:
    """Whether the store holds a master key's check value (was created sealed)."""
    conn = connect(target)
    try:
        cur = conn.cursor()
        if target.is_postgres:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (CHECK_TABLE,))
            exists = bool(cur.fetchone()[0])
        else:
            cur.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (CHECK_TABLE,))
            exists = bool(cur.fetchone()[0])
        if not exists:
            return False
        cur.execute(f"SELECT count(*) FROM {CHECK_TABLE}")
        return bool(cur.fetchone()[0])
    finally:
        conn.rollback()
        conn.close()


def open_sealing(target: StoreTarget, *, empty: bool,
                 key_file: str | Path | None = None) -> Sealing | None:
    """The sealing of a store, or None for a plain store.

    Args:
        target: the store.
        empty: whether the store holds no event yet (a new store is created sealed).
        key_file: the master key file (``--master-key-file``); default
            :func:`~lifecycle.adapters.crypto.default_key_path`. ``$LIFECYCLE_MASTER_KEY``
            wins over any file.

    Raises:
        MasterKeyError: the key is malformed, or not this store's; or a key file named
            explicitly is missing.
    """
    sealed = is_sealed_store(target)
    if not sealed and not empty:
        return None
    path = Path(key_file) if key_file is not None else default_key_path()
    if sealed and MASTER_KEY_ENV not in os.environ and key_file is None \
            and not path.exists():
        return Sealing(None, None, path)  # read only: verifies and reports, writes nothing
    master = load_master_key(path, create=not sealed)
    keys = PersonKeys(master)
    return Sealing(keys, KeyRing(target, keys), path)


def people_in_log(recorder: Any, naming: Mapping[str, str]) -> list[tuple[str, str]]:
    """Which streams name whom, read from the log: for each event whose topic is a key
    of ``naming``, the owner of its field ``naming[topic]`` (the reference in the sealed
    token) and its stream. A restore, whose events arrive without the table that keeps
    this (:data:`~lifecycle.adapters.keyring.PEOPLE_TABLE`), builds it so."""
    topics = list(naming)
    table = recorder.events_table_name
    datastore = recorder.datastore
    if hasattr(datastore, "schema"):  # PostgreSQL
        from psycopg import sql

        query = sql.SQL(
            "SELECT originator_id, topic, state FROM {schema}.{table} "
            "WHERE topic IN ({marks})").format(
            schema=sql.Identifier(datastore.schema), table=sql.Identifier(table),
            marks=sql.SQL(", ").join(sql.Placeholder() * len(topics)))
        with datastore.transaction(commit=False) as curs:
            curs.execute(query, topics)
            rows = [(r["originator_id"], r["topic"], r["state"]) for r in curs.fetchall()]
    else:
        marks = ", ".join("?" * len(topics))
        with datastore.transaction(commit=False) as wrapped, wrapped as cursor:
            cursor.execute(f"SELECT originator_id, topic, state FROM {table} "
                           f"WHERE topic IN ({marks})", topics)
            return _owners_of(cursor, naming)
    return _owners_of(rows, naming)


def _owners_of(rows: Iterable[Any], naming: Mapping[str, str]) -> list[tuple[str, str]]:
    import orjson

    found: list[tuple[str, str]] = []
    for originator_id, topic, state in rows:
        value = orjson.loads(bytes(state)).get(naming[topic])
        if is_sealed(value):
            found.append((sealed_reference(value), str(originator_id)))
    return found
