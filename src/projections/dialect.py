"""The little that differs between SQLite (stdlib ``sqlite3``) and PostgreSQL
(``psycopg`` 3) for the materialised views: placeholders, column types, transactions.

Everything else is SQL both accept (``INSERT … ON CONFLICT … DO UPDATE``,
``CREATE … IF NOT EXISTS``), written once with ``?`` placeholders.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

_TYPES: Final = {
    "sqlite": {"text": "TEXT", "int": "INTEGER", "bigint": "INTEGER", "blob": "BLOB"},
    "postgres": {"text": "TEXT", "int": "INTEGER", "bigint": "BIGINT", "blob": "BYTEA"},
}


class OpenTransaction(RuntimeError):
    """The connection already has a transaction open: the views need their own."""


class Dialect:
    """How to talk to one connection's database.

    Args:
        conn: a ``sqlite3.Connection`` or a ``psycopg.Connection``.

    Raises:
        TypeError: for any other kind of connection.
    """

    def __init__(self, conn: Any) -> None:
        if isinstance(conn, sqlite3.Connection):
            self.name = "sqlite"
        elif type(conn).__module__.startswith("psycopg"):
            self.name = "postgres"
        else:
            raise TypeError(f"unsupported connection {type(conn).__name__}: "
                            "use sqlite3 or psycopg 3")
        self.conn = conn
        self.types = _TYPES[self.name]

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    def sql(self, text: str) -> str:
        """``text`` with its ``?`` placeholders in this database's style."""
        return text.replace("?", "%s") if self.is_postgres else text

    @property
    def max_parameters(self) -> int:
        """How many parameters one statement may bind."""
        if self.is_postgres:
            return 65_535
        limit: int = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return limit

    def concatenated(self, column: str) -> str:
        """An aggregate of the blobs of ``column`` joined end to end, in no set order
        (NULL over no rows)."""
        if self.is_postgres:
            return f"string_agg({column}, ''::bytea)"
        # group_concat joins the bytes as they are; the cast makes the result a blob again.
        return f"CAST(group_concat({column}, '') AS BLOB)"

    @property
    def for_update(self) -> str:
        """Row-lock suffix of a SELECT (SQLite's ``BEGIN IMMEDIATE`` locks already)."""
        return " FOR UPDATE" if self.is_postgres else ""

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Any]:
        """A cursor inside one transaction: committed on success, else rolled back.

        Args:
            write: take the write lock at once (SQLite ``BEGIN IMMEDIATE``), so that
                two writers never both read a position and then both advance it.

        Raises:
            OpenTransaction: the caller left a transaction open on the connection.
        """
        conn = self.conn
        if self.is_postgres:
            from psycopg import pq

            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                raise OpenTransaction("the connection has an open transaction")
            with conn.transaction(), conn.cursor() as cursor:
                yield cursor
            return
        if conn.in_transaction:
            raise OpenTransaction("the connection has an open transaction")
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield cursor
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cursor.close()

    def table_exists(self, cursor: Any, table: str) -> bool:
        if self.is_postgres:
            cursor.execute("SELECT to_regclass(%s)", (table,))
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
                           (table,))
        found = cursor.fetchone()
        return found is not None and found[0] is not None
