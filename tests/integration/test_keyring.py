"""The key table in a real store: data keys kept wrapped, a wrong master key refused
before anything is written, and a shredded key gone from every file of the store
(measured by a byte search, on SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lifecycle.adapters.crypto import MasterKeyError, PersonKeys
from lifecycle.adapters.keyring import KEYS_TABLE, ForgottenPersonError, KeyRing
from lifecycle.adapters.store import connect, resolve_target
from lifecycle.application import Lifecycle
from lifecycle.application.importer import Importer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "worked.jsonl"
MASTER = bytes(range(32))
PERSON = "zz-forget-me-7731"


def store_files(db_path: Path) -> dict[str, bytes]:
    """Every file of the SQLite store (the database, its log and shared memory)."""
    return {p.name: p.read_bytes() for p in db_path.parent.iterdir()
            if p.name.startswith(db_path.name)}


@pytest.fixture
def sqlite_store(db_path: Path) -> Path:
    """A real store (the worked example imported; WAL mode, as the engine leaves it)."""
    engine = Lifecycle(resolve_target(str(db_path)).env)
    try:
        Importer(engine).run(EXAMPLE.read_bytes().splitlines(keepends=True))
    finally:
        engine.shutdown()
    return db_path


@pytest.fixture
def ring(sqlite_store: Path) -> Iterator[KeyRing]:
    opened = KeyRing(resolve_target(str(sqlite_store)), PersonKeys(MASTER))
    yield opened
    opened.close()


def test_a_person_gets_one_data_key_kept_only_wrapped(ring: KeyRing, sqlite_store: Path) -> None:
    keys = PersonKeys(MASTER)
    ref = keys.reference(PERSON)
    assert ring.data_key(ref) is None
    key = ring.data_key(ref, create=True)
    assert key is not None and ring.data_key(ref) == key
    reopened = KeyRing(resolve_target(str(sqlite_store)), keys)
    try:
        assert reopened.data_key(ref) == key
    finally:
        reopened.close()
    ring.close()
    assert all(key not in data and PERSON.encode() not in data
               for data in store_files(sqlite_store).values())


def test_a_wrong_master_key_is_refused_and_writes_nothing(
        ring: KeyRing, sqlite_store: Path) -> None:
    ring.data_key(PersonKeys(MASTER).reference(PERSON), create=True)
    ring.close()
    before = store_files(sqlite_store)
    with pytest.raises(MasterKeyError, match="not this store's"):
        KeyRing(resolve_target(str(sqlite_store)), PersonKeys(bytes(32)))
    assert store_files(sqlite_store) == before


def test_a_shredded_key_is_gone_for_good_and_no_new_one_is_made(ring: KeyRing) -> None:
    ref = PersonKeys(MASTER).reference(PERSON)
    ring.data_key(ref, create=True)
    assert ring.shred(ref).scrubbed
    assert ring.is_shredded(ref) and ring.data_key(ref) is None
    with pytest.raises(ForgottenPersonError):
        ring.data_key(ref, create=True)
    with pytest.raises(KeyError):
        ring.shred(ref)
    with pytest.raises(KeyError):
        ring.shred(PersonKeys(MASTER).reference("never-seen"))


def test_a_kept_cipher_goes_with_its_shredded_key(ring: KeyRing, sqlite_store: Path) -> None:
    """ADR 45: the cipher kept beside a data key is dropped with it, by this engine's
    shred and by another engine's (noticed at its next refresh)."""
    keys = PersonKeys(MASTER)
    ref, other = keys.reference(PERSON), keys.reference("zz-forget-me-too-8842")
    assert ring.cipher(ref) is None
    assert ring.cipher(ref, create=True) is ring.cipher(ref)
    ring.cipher(other, create=True)
    ring.shred(ref)
    assert ring.cipher(ref) is None
    with pytest.raises(ForgottenPersonError):
        ring.cipher(ref, create=True)
    elsewhere = KeyRing(resolve_target(str(sqlite_store)), keys)
    try:
        elsewhere.shred(other)
    finally:
        elsewhere.close()
    assert ring.cipher(other) is not None  # not noticed yet
    ring.refresh()
    assert ring.cipher(other) is None


def _wrapped(conn: Any, ref: str, mark: str) -> bytes:
    cur = conn.cursor()
    cur.execute(f"SELECT wrapped FROM {KEYS_TABLE} WHERE reference = {mark}", (ref,))
    wrapped = bytes(cur.fetchone()[0])
    conn.commit()
    return wrapped


def test_after_a_shred_no_file_of_the_sqlite_store_holds_the_wrapped_key(
        ring: KeyRing, sqlite_store: Path) -> None:
    ref = PersonKeys(MASTER).reference(PERSON)
    ring.data_key(ref, create=True)
    ring.data_key(PersonKeys(MASTER).reference("stays"), create=True)
    conn = sqlite3.connect(sqlite_store)
    wrapped = _wrapped(conn, ref, "?")
    conn.close()
    # The control: before the shred the bytes are there to be found.
    assert any(wrapped in data for data in store_files(sqlite_store).values())

    ring.shred(ref)
    ring.close()
    found = [name for name, data in store_files(sqlite_store).items() if wrapped in data]
    assert found == []


def test_a_plain_delete_without_secure_delete_leaves_the_key_in_the_file(
        sqlite_store: Path) -> None:
    """Why the key table's connection sets ``secure_delete``: SQLite's default keeps the
    freed bytes of a deleted row in the page (measured here, not assumed)."""
    conn = sqlite3.connect(sqlite_store)
    conn.execute("PRAGMA secure_delete = OFF")
    conn.execute("CREATE TABLE plain (reference TEXT PRIMARY KEY, wrapped BLOB)")
    secret = b"zz-wrapped-key-bytes-" + bytes(range(40))
    conn.execute("INSERT INTO plain VALUES ('a', ?), ('b', ?)", (secret, b"other"))
    conn.commit()
    conn.execute("DELETE FROM plain WHERE reference = 'a'")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert any(secret in data for data in store_files(sqlite_store).values())


@pytest.mark.postgres
def test_after_a_shred_the_postgresql_key_table_file_holds_no_wrapped_key(
        postgres_url: str) -> None:
    """The table's file on disk is read with ``pg_read_binary_file`` after a
    ``CHECKPOINT`` (which writes every dirty page out), before and after the shred."""
    target = resolve_target(postgres_url)
    keys = PersonKeys(MASTER)
    ref = keys.reference(PERSON)
    ring = KeyRing(target, keys)
    conn = connect(target, autocommit=True)
    try:
        ring.data_key(ref, create=True)
        ring.data_key(keys.reference("stays"), create=True)
        wrapped = _wrapped(conn, ref, "%s")

        def table_file() -> bytes:
            conn.execute("CHECKPOINT")
            row = conn.execute(
                "SELECT pg_read_binary_file(pg_relation_filepath(%s))",
                (KEYS_TABLE,)).fetchone()
            return bytes(row[0])

        assert wrapped in table_file()  # the control: found before the shred
        result = ring.shred(ref)
        assert result.wrapped == wrapped
        # A transaction of another session on the shared test server may still see the
        # old row version; VACUUM FULL must keep it until that one ends. Scrub again
        # until it did (an erasure waits for it too), then look at the file ourselves.
        scrubbed, tries = result.scrubbed, 0
        while not scrubbed and tries < 60:
            time.sleep(0.5)
            scrubbed, tries = ring.scrub(wrapped), tries + 1
        assert scrubbed
        assert wrapped not in table_file()
        assert ring.data_key(keys.reference("stays")) is not None
    finally:
        ring.close()
        conn.close()


@pytest.mark.postgres
def test_a_wrong_master_key_is_refused_on_postgresql(postgres_url: str) -> None:
    target = resolve_target(postgres_url)
    KeyRing(target, PersonKeys(MASTER)).close()
    with pytest.raises(MasterKeyError):
        KeyRing(target, PersonKeys(bytes(32)))
