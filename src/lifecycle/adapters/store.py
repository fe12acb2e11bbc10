"""Store selection: ``--db`` / ``LIFECYCLE_DB`` to an eventsourcing environment.

A file path means an embedded SQLite database (created when missing); a
``postgresql://`` URL means PostgreSQL (``?schema=NAME`` selects a schema, created on
first use). Nothing else in the engine knows which store it runs on.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

DEFAULT_DB = "lifecycle.db"
ENV_VAR = "LIFECYCLE_DB"
_RECORDERS = "lifecycle.adapters.recorders"
SQLITE_RECORDER = f"{_RECORDERS}.sqlite:ChainedSQLiteApplicationRecorder"
POSTGRES_RECORDER = f"{_RECORDERS}.postgres:ChainedPostgresApplicationRecorder"


class StoreError(Exception):
    """The store cannot be opened, or is not a lifecycle store."""


@dataclass(frozen=True)
class StoreTarget:
    """A parsed ``--db`` target.

    Attributes:
        kind: ``sqlite`` or ``postgres``.
        location: the SQLite file path, or the PostgreSQL URL without password.
        env: the eventsourcing environment that selects this store.
    """

    kind: str
    location: str
    env: dict[str, str]
    schema: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"


def resolve_target(target: str | None) -> StoreTarget:
    """Parse ``target`` (or ``$LIFECYCLE_DB``, or the default file) into a store target.

    Raises:
        StoreError: for a URL of an unknown scheme, a directory, or a file that is not
            an SQLite database.
    """
    raw = target or os.environ.get(ENV_VAR) or DEFAULT_DB
    if raw.startswith(("postgresql://", "postgres://")):
        return _postgres_target(raw)
    if "://" in raw:
        raise StoreError(f"unsupported store '{raw}': use a file path or a postgresql:// URL")
    return _sqlite_target(raw)


def _sqlite_target(raw: str) -> StoreTarget:
    path = Path(raw).expanduser()
    if path.is_dir():
        raise StoreError(f"store '{raw}' is a directory, not an SQLite file")
    if path.exists() and path.stat().st_size > 0:
        # Asked through sqlite3 only: opening and closing the file by hand would drop
        # this process's SQLite locks on it (POSIX advisory locks are per process).
        _check_sqlite_is_store(path, raw)
    elif not path.parent.exists():
        raise StoreError(f"cannot create store '{raw}': folder '{path.parent}' does not exist")
    location = str(path.resolve())
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": location,
        "SQLITE_LOCK_TIMEOUT": "30",
        "ORIGINATOR_ID_TYPE": "text",
        "APPLICATION_RECORDER_TOPIC": SQLITE_RECORDER,
    }
    return StoreTarget("sqlite", location, env)


def _check_sqlite_is_store(path: Path, raw: str) -> None:
    try:
        conn = _sqlite(str(path), read_only=True)
        try:
            tables = {row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise StoreError(f"'{raw}' is not a lifecycle store (not an SQLite database)"
                             ) from None
        raise StoreError(f"cannot open store '{raw}': {exc}") from None
    if tables and "stored_events" not in tables:
        raise StoreError(f"'{raw}' is an SQLite database but not a lifecycle store")


def _postgres_target(raw: str) -> StoreTarget:
    url = urlparse(raw)
    if not url.hostname or not url.path.strip("/"):
        raise StoreError(f"PostgreSQL URL '{raw}' needs a host and a database name")
    query = parse_qs(url.query)
    schema = query.get("schema", [""])[0] or None
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(url.path.strip("/")),
        "POSTGRES_HOST": url.hostname,
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "30",
        "ORIGINATOR_ID_TYPE": "text",
        "APPLICATION_RECORDER_TOPIC": POSTGRES_RECORDER,
    }
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    shown = url._replace(netloc=f"{url.username or 'postgres'}@{url.hostname}:{url.port or 5432}")
    return StoreTarget("postgres", shown.geturl(), env, schema)


_SETUP_LOCK = 0x6C696665  # "life": one advisory lock for first-use set-up


@contextmanager
def setup_lock(target: StoreTarget) -> Iterator[None]:
    """Serialise first-use set-up (schema, tables) across processes.

    PostgreSQL's ``CREATE … IF NOT EXISTS`` is not safe when several processes run it at
    once ("tuple concurrently updated"), so on PostgreSQL set-up runs under a
    session-level advisory lock, after creating the target's schema. SQLite needs
    nothing: its writers are serialised by the file lock.
    """
    if not target.is_postgres:
        yield
        return
    import psycopg
    from psycopg import sql

    try:
        conn = connect(target, autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"cannot open store '{target.location}': {exc}") from None
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
        if target.schema:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(target.schema)))
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        conn.close()


def ensure_postgres_schema(target: StoreTarget) -> None:
    """Create the target's PostgreSQL schema when missing (safe with concurrent callers)."""
    with setup_lock(target):
        pass


def connect(target: StoreTarget, *, read_only: bool = False, autocommit: bool = False,
            threads: bool = False) -> Any:
    """A plain DB-API connection to the store's database (the one way the engine opens
    one outside the library's recorders).

    Args:
        target: the store.
        read_only: SQLite only: open the file read-only (it must exist).
        autocommit: PostgreSQL only: every statement its own transaction.
        threads: SQLite only: the connection may be used from several threads (its
            user serialises the calls).

    Returns:
        A ``sqlite3.Connection`` (its lock timeout the store's) or a ``psycopg.Connection``
        with the target's schema first on its search path.
    """
    env = target.env
    if not target.is_postgres:
        return _sqlite(target.location, read_only=read_only,
                       timeout=float(env.get("SQLITE_LOCK_TIMEOUT", "30")), threads=threads)
    import psycopg
    from psycopg import sql

    conn = psycopg.connect(
        dbname=env["POSTGRES_DBNAME"], host=env.get("POSTGRES_HOST", "localhost"),
        port=int(env.get("POSTGRES_PORT", "5432")), user=env.get("POSTGRES_USER"),
        password=env.get("POSTGRES_PASSWORD") or None,
        connect_timeout=int(env.get("POSTGRES_CONNECT_TIMEOUT", "10")), autocommit=autocommit)
    if target.schema:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(target.schema)))
        if not autocommit:
            conn.commit()
    return conn


def sqlite_uri(path: str, *, read_only: bool = False) -> str:
    """The ``file:`` URI of an SQLite file: its path percent-encoded, so that a ``?``,
    ``#``, ``%`` or space in it is part of the name, not URI syntax."""
    return f"file:{quote(path)}{'?mode=ro' if read_only else ''}"


def _sqlite(path: str, *, read_only: bool = False, timeout: float = 30.0,
            threads: bool = False) -> sqlite3.Connection:
    return sqlite3.connect(sqlite_uri(path, read_only=read_only), uri=True, timeout=timeout,
                           check_same_thread=not threads)
