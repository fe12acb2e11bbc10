"""Bearer authentication and the four roles of CONTRACT §7.

Every route but ``/openapi.json`` needs ``Authorization: Bearer TOKEN``; a missing,
unknown or revoked token gets 401. What a role may do is decided per route with
:func:`allow`; a coordinator's programme scope is checked where the programme is known
(commands inside their unit of work, reads on the thing read).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lifecycle.adapters.tokens import Role
from lifecycle.entrypoints.http.problems import Problem
from lifecycle.entrypoints.http.runtime import Tokens

CACHE_SECONDS = 1.0
"""How long a checked token is trusted without asking the store again: a revoked
token stops working within this time."""
_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, role and (for a coordinator) programmes."""

    token_id: str
    role: Role
    programmes: frozenset[str]

    @property
    def scoped(self) -> bool:
        """Whether the caller is limited to its programmes."""
        return self.role is Role.COORDINATOR

    def holds(self, programme_id: str | None) -> bool:
        """Whether the caller may touch ``programme_id`` (a scoped caller never holds
        "every programme", written None)."""
        return not self.scoped or (programme_id is not None
                                   and programme_id in self.programmes)


class Authenticator:
    """Checks bearer tokens against the store, trusting a valid one for a second.

    Only valid tokens are remembered, so a new token works at once; unknown ones are
    asked of the store every time.
    """

    def __init__(self, tokens: Tokens, *, ttl: float = CACHE_SECONDS) -> None:
        self.tokens = tokens
        self.ttl = ttl
        self._valid: dict[str, tuple[Principal, float]] = {}

    async def principal(self, token: str) -> Principal | None:
        now = time.monotonic()
        cached = self._valid.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        info = await self.tokens.authenticate(token)
        if info is None:
            self._valid.pop(token, None)
            return None
        principal = Principal(info.token_id, info.role, frozenset(info.programmes))
        if len(self._valid) >= _CACHE_SIZE:
            self._valid = {k: v for k, v in self._valid.items() if v[1] > now}
            if len(self._valid) >= _CACHE_SIZE:
                self._valid.clear()
        self._valid[token] = (principal, now + self.ttl)
        return principal


_bearer = HTTPBearer(auto_error=False, description="A token made by `lifecycle tokens create`.")


def _unauthorized(detail: str, error: str | None = None) -> Problem:
    challenge = 'Bearer realm="lifecycle"' + (f', error="{error}"' if error else "")
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


async def authenticated(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of ``request`` (401 without a valid bearer token)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("this route needs an Authorization: Bearer token")
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.principal(credentials.credentials.strip())
    if principal is None:
        raise _unauthorized("unknown or revoked token", "invalid_token")
    # For the request log: the role, never the token.
    request.scope.setdefault("state", {})["role"] = principal.role.value
    return principal


def allow(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only callers of ``roles`` (403 for the others)."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(role.value for role in allowed))

    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if principal.role not in allowed:
            raise Problem(403, f"a token of role {principal.role.value} may not use this "
                               f"route (it is for: {names})")
        return principal

    return check


Writer = Annotated[Principal, Depends(allow(Role.ADMIN, Role.COORDINATOR))]
"""A route parameter: the caller, who may send commands."""
Reader = Annotated[Principal, Depends(allow(Role.ADMIN, Role.AUDITOR, Role.COORDINATOR))]
"""A route parameter: the caller, who may read (within its programmes)."""
ReportReader = Annotated[Principal, Depends(allow(Role.ADMIN, Role.AUDITOR,
                                                  Role.COORDINATOR, Role.ANALYST))]
"""A route parameter: the caller, who may read the report (an analyst: published)."""


def out_of_scope(what: str) -> Problem:
    """The 403 of a scoped caller touching ``what`` outside its programmes — worded the
    same whether ``what`` belongs to another programme or does not exist at all."""
    return Problem(403, f"{what} is not in this token's programmes")
