"""Bearer tokens of the HTTP service (``lifecycle.adapters.tokens``): made once, kept
only as a keyed hash in the store's own database, revocable, and checked against it —
one contract, passed by the SQLite and the PostgreSQL store."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lifecycle.adapters.store import StoreTarget, resolve_target
from lifecycle.adapters.tokens import Role, TokenError, TokenStore
from lifecycle.bootstrap import open_engine


def made(target: str) -> StoreTarget:
    """The store ``target`` with the engine's own tables (a token table alone is no store)."""
    resolved = resolve_target(target)
    open_engine(resolved).shutdown()
    return resolved


def stored_rows(target: StoreTarget) -> list[tuple[Any, ...]]:
    """Every row of the token table, as the database holds it."""
    if target.is_postgres:
        import psycopg
        from psycopg import sql

        env = target.env
        with psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                             port=int(env["POSTGRES_PORT"]), user=env["POSTGRES_USER"]) as conn:
            query = sql.SQL("SELECT * FROM {}.api_tokens").format(
                sql.Identifier(target.schema or "public"))
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                    for row in conn.execute(query).fetchall()]
    conn = sqlite3.connect(target.location)
    try:
        return conn.execute("SELECT * FROM api_tokens").fetchall()
    finally:
        conn.close()


class TokenStoreContract:
    """What every store's token table does; a subclass defines the ``target`` fixture."""

    @pytest.fixture
    def tokens(self, target: StoreTarget) -> Iterator[TokenStore]:
        with TokenStore(target) as store:
            yield store

    def test_a_token_is_256_random_bits_shown_once_and_stored_only_as_a_keyed_hash(
            self, tokens: TokenStore, target: StoreTarget) -> None:
        info, token = tokens.create("admin")
        assert token.startswith("lct_") and len(token) == 4 + 43
        rows = stored_rows(target)
        assert token not in repr(rows) and token[4:] not in repr(rows)
        digest = bytes(rows[0][1])
        assert len(digest) == 32
        assert digest != hashlib.sha256(token.encode()).digest()
        assert tokens.authenticate(token) == info

    def test_two_tokens_differ_and_each_authenticates_as_itself(
            self, tokens: TokenStore) -> None:
        first, one = tokens.create("auditor")
        second, two = tokens.create("coordinator", ["P-2", "P-1", "P-1"])
        assert one != two and first.token_id != second.token_id
        assert tokens.authenticate(one) == first
        assert tokens.authenticate(two) == second
        assert second.programmes == ("P-1", "P-2")

    def test_the_key_is_made_once_and_kept_by_the_store(
            self, tokens: TokenStore, target: StoreTarget) -> None:
        _, token = tokens.create("analyst")
        with TokenStore(target) as again:
            assert again.authenticate(token) is not None

    @pytest.mark.parametrize("token", ["", "lct_", "lct_" + "A" * 43, "Bearer x",
                                       "lct_" + "A" * 42 + "!"])
    def test_an_unknown_or_malformed_token_does_not_authenticate(
            self, tokens: TokenStore, token: str) -> None:
        tokens.create("admin")
        assert tokens.authenticate(token) is None

    def test_a_revoked_token_no_longer_authenticates_and_stays_listed(
            self, tokens: TokenStore) -> None:
        info, token = tokens.create("admin")
        revoked = tokens.revoke(info.token_id)
        assert revoked.revoked_at is not None
        assert tokens.authenticate(token) is None
        assert tokens.revoke(info.token_id).revoked_at == revoked.revoked_at  # no change
        assert tokens.list() == [revoked]
        with pytest.raises(TokenError, match="no token"):
            tokens.revoke("nope")

    @pytest.mark.parametrize(("role", "programmes", "message"), [
        ("owner", [], "unknown role"),
        ("coordinator", [], "at least one programme"),
        ("admin", ["P-1"], "coordinators only"),
        ("analyst", ["P-1"], "coordinators only"),
        ("coordinator", ["P 1"], "not a programme id"),
    ])
    def test_a_token_that_would_not_make_sense_is_not_made(
            self, tokens: TokenStore, role: str, programmes: list[str], message: str) -> None:
        with pytest.raises(TokenError, match=message):
            tokens.create(role, programmes)
        assert tokens.list() == []

    def test_every_role_of_section_7_can_be_given(self, tokens: TokenStore) -> None:
        made_roles = [tokens.create(role, ["P-1"] if role is Role.COORDINATOR else [])[0].role
                      for role in Role]
        assert made_roles == [Role.COORDINATOR, Role.ANALYST, Role.AUDITOR, Role.ADMIN]


class TestSQLiteTokens(TokenStoreContract):
    @pytest.fixture
    def target(self, tmp_path: Path) -> StoreTarget:
        return made(str(tmp_path / "tokens.db"))


@pytest.mark.postgres
class TestPostgresTokens(TokenStoreContract):
    @pytest.fixture
    def target(self, postgres_url: str) -> StoreTarget:
        return made(postgres_url)
