"""Bearer tokens of the HTTP service, kept hashed in the store's own database (ADR 24).

A token is ``lct_`` and 43 URL-safe characters: 256 random bits. The store keeps only
HMAC-SHA256 of it under a key of 256 random bits that the store makes on first use
(table ``api_token_key``), so a copy of the token table alone cannot be matched against
tokens seen elsewhere, and no token can be recovered from the table. Tokens are looked
up by that digest (an index), so the time a lookup takes tells nothing about any stored
token. A revoked token stays in the table (with ``revoked_at``) and never authenticates
again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from lifecycle.adapters.store import StoreTarget, connect, setup_lock
from lifecycle.domain.vocabulary import ID_PATTERN

PREFIX = "lct_"
"""How every token begins (so that secret scanners and people can tell one)."""

_TOKEN = re.compile(r"^lct_[A-Za-z0-9_-]{43}$")
_ID = re.compile(ID_PATTERN)
TOKENS_TABLE = "api_tokens"
KEY_TABLE = "api_token_key"


class Role(StrEnum):
    """What a token may do (CONTRACT §7)."""

    COORDINATOR = "coordinator"
    """Commands and every read, only for the programmes named on the token."""
    ANALYST = "analyst"
    """Only the published (suppressed) report, of any programme."""
    AUDITOR = "auditor"
    """Every read, no command."""
    ADMIN = "admin"
    """Everything."""


class TokenError(ValueError):
    """A token cannot be made or changed as asked (unknown role, bad programme id…)."""


@dataclass(frozen=True)
class TokenInfo:
    """What the store knows of a token (never the token itself).

    Attributes:
        token_id: the token's public name (for ``tokens list`` and ``tokens revoke``).
        role: what it may do.
        programmes: the programmes a coordinator's token is limited to (empty for the
            other roles, which are not limited to programmes).
        created_at: when it was made (UTC).
        revoked_at: when it was revoked, or None while it is valid.
    """

    token_id: str
    role: Role
    programmes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {"token_id": self.token_id, "role": self.role.value,
                "programmes": list(self.programmes),
                "created_at": self.created_at.isoformat(),
                "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat()}


class TokenStore:
    """The token table of one store, on a connection of its own (use it from one thread).

    Args:
        target: the store whose database keeps the tokens (tables made on first use).
            Open the engine on it first: an SQLite file that the engine has not made
            its tables in yet is not a store.
    """

    def __init__(self, target: StoreTarget) -> None:
        self._postgres = target.is_postgres
        with setup_lock(target):
            self._conn = connect(target, autocommit=True)
            self._create_tables()
            self._key = self._load_key()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor whose writes are committed when it is done (rolled back on error)."""
        cursor = self._conn.cursor()
        try:
            yield cursor
        except BaseException:
            self._conn.rollback()
            raise
        else:
            self._conn.commit()
        finally:
            cursor.close()

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self._postgres else text

    def _create_tables(self) -> None:
        blob = "BYTEA" if self._postgres else "BLOB"
        with self._cursor() as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {KEY_TABLE} ("
                           f"id INTEGER PRIMARY KEY CHECK (id = 1), key {blob} NOT NULL)")
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {TOKENS_TABLE} ("
                           f"token_id TEXT PRIMARY KEY, digest {blob} NOT NULL UNIQUE, "
                           "role TEXT NOT NULL, programmes TEXT NOT NULL, "
                           "created_at TEXT NOT NULL, revoked_at TEXT)")

    def _load_key(self) -> bytes:
        with self._cursor() as cursor:
            cursor.execute(self._sql(f"INSERT INTO {KEY_TABLE} (id, key) VALUES (1, ?) "
                                     "ON CONFLICT (id) DO NOTHING"),
                           (secrets.token_bytes(32),))
            cursor.execute(f"SELECT key FROM {KEY_TABLE} WHERE id = 1")
            return bytes(cursor.fetchone()[0])

    def _digest(self, token: str) -> bytes:
        return hmac.new(self._key, token.encode(), hashlib.sha256).digest()

    # ------------------------------------------------------------------ management
    def create(self, role: Role | str, programmes: Iterable[str] = ()) -> tuple[TokenInfo, str]:
        """Make a token; returns what the store keeps of it and the token itself, which
        is shown once and never again.

        Raises:
            TokenError: an unknown role, a coordinator without programmes, programmes
                on another role, or a programme id that is not an identifier.
        """
        try:
            role = Role(role)
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise TokenError(f"unknown role '{role}' (known: {known})") from None
        scope = tuple(sorted(set(programmes)))
        for programme in scope:
            if not _ID.match(programme):
                raise TokenError(f"'{programme}' is not a programme id (1-64 characters "
                                 "of A-Z a-z 0-9 . _ : -)")
        if role is Role.COORDINATOR and not scope:
            raise TokenError("a coordinator's token names at least one programme")
        if role is not Role.COORDINATOR and scope:
            raise TokenError(f"a token of role {role.value} is not limited to programmes "
                             "(programmes are for coordinators only)")
        token = PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(secrets.token_hex(6), role, scope, datetime.now(UTC))
        with self._cursor() as cursor:
            cursor.execute(self._sql(
                f"INSERT INTO {TOKENS_TABLE} (token_id, digest, role, programmes, created_at) "
                "VALUES (?, ?, ?, ?, ?)"),
                (info.token_id, self._digest(token), role.value, json.dumps(list(scope)),
                 info.created_at.isoformat()))
        return info, token

    def list(self) -> list[TokenInfo]:
        """Every token made in this store, revoked ones too, oldest first."""
        with self._cursor() as cursor:
            cursor.execute(f"SELECT token_id, role, programmes, created_at, revoked_at "
                           f"FROM {TOKENS_TABLE} ORDER BY created_at, token_id")
            return [_info(row) for row in cursor.fetchall()]

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke a token (again: nothing changes); returns it as it now stands.

        Raises:
            TokenError: no token has that id.
        """
        with self._cursor() as cursor:
            cursor.execute(self._sql(f"UPDATE {TOKENS_TABLE} SET revoked_at = ? "
                                     "WHERE token_id = ? AND revoked_at IS NULL"),
                           (datetime.now(UTC).isoformat(), token_id))
            cursor.execute(self._sql(f"SELECT token_id, role, programmes, created_at, "
                                     f"revoked_at FROM {TOKENS_TABLE} WHERE token_id = ?"),
                           (token_id,))
            row = cursor.fetchone()
        if row is None:
            raise TokenError(f"no token has the id '{token_id}'")
        return _info(row)

    # ------------------------------------------------------------------ checking
    def authenticate(self, token: str) -> TokenInfo | None:
        """The valid (made, not revoked) token ``token`` is, or None."""
        if not _TOKEN.match(token):
            return None
        digest = self._digest(token)
        with self._cursor() as cursor:
            cursor.execute(self._sql(f"SELECT token_id, role, programmes, created_at, "
                                     f"revoked_at, digest FROM {TOKENS_TABLE} "
                                     "WHERE digest = ?"), (digest,))
            row = cursor.fetchone()
        if row is None or not hmac.compare_digest(bytes(row[5]), digest):
            return None
        info = _info(row[:5])
        return None if info.revoked_at is not None else info


def _info(row: Any) -> TokenInfo:
    token_id, role, programmes, created_at, revoked_at = row
    return TokenInfo(token_id, Role(role), tuple(json.loads(programmes)),
                     datetime.fromisoformat(created_at),
                     None if revoked_at is None else datetime.fromisoformat(revoked_at))
