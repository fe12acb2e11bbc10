"""The PostgreSQL recorder with the audit hash chain (see :mod:`.base`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from lifecycle.adapters.chain import GENESIS
from lifecycle.adapters.keyring import PEOPLE_TABLE
from lifecycle.adapters.recorders.base import (
    CHAIN_TABLE,
    ChainedRecorder,
    links,
)
from lifecycle.adapters.signing import SIGNATURES_TABLE, signer_from_environment


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder, ChainedRecorder):
    """PostgreSQL recorder with the hash chain (links written under the table lock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        self.chain_table = Identifier(CHAIN_TABLE)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
            "position bigint PRIMARY KEY, link bytea NOT NULL)"
        ).format(schema=schema, table=self.chain_table))
        self.select_chain_head = SQL(
            "SELECT link FROM {schema}.{table} WHERE position < %s "
            "ORDER BY position DESC LIMIT 1"
        ).format(schema=schema, table=self.chain_table)
        self.select_streams_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(schema=schema, table=Identifier(self.events_table_name))
        self.insert_chain = SQL(
            "INSERT INTO {schema}.{table} (position, link) VALUES (%s, %s)"
        ).format(schema=schema, table=self.chain_table)
        signatures = Identifier(SIGNATURES_TABLE)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
            "position bigint PRIMARY KEY, head bytea NOT NULL, signature bytea NOT NULL)"
        ).format(schema=schema, table=signatures))
        self.insert_signature = SQL(
            "INSERT INTO {schema}.{table} (position, head, signature) VALUES (%s, %s, %s)"
        ).format(schema=schema, table=signatures)
        self.insert_people = SQL(
            "INSERT INTO {schema}.{table} VALUES (%s, %s) ON CONFLICT DO NOTHING"
        ).format(schema=schema, table=Identifier(PEOPLE_TABLE))
        self.signer = signer_from_environment()

    def select_streams(self, originator_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
        found: dict[str, list[StoredEvent]] = {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_streams_statement, (list(originator_ids),))
            for row in curs.fetchall():
                oid = row["originator_id"]
                found.setdefault(oid, []).append(StoredEvent(
                    oid, row["originator_version"], row["topic"], bytes(row["state"])))
        return found

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        if self.datastore.enable_db_functions:
            raise ProgrammingError("the audit chain needs POSTGRES_ENABLE_DB_FUNCTIONS off")
        ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        return ids

    def _fetch_ids_after_insert_events(self, curs: Cursor[DictRow],
                                       stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if not ids:
            return ids
        # Still inside the transaction holding the events table's EXCLUSIVE lock.
        curs.execute(self.select_chain_head, (ids[0],))
        head = curs.fetchone()
        rows = links(bytes(head["link"]) if head else GENESIS, ids, stored_events)
        curs.executemany(self.insert_chain, rows)
        signed = self.signature_row(rows[-1])
        if signed is not None:
            curs.execute(self.insert_signature, signed)
        people = kwargs.get("people")
        if people:  # which streams name whom, in a sealed store (ADR 35)
            curs.executemany(self.insert_people, people)
        return ids
