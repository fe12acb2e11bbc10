"""Conditions a front end sets on a command: the programmes its caller may touch, and
the duo version it expects (HTTP ``If-Match``). Both are checked inside the command's
unit of work (:class:`lifecycle.application.engine.Guard`), so they hold for the state the
command is applied to, also when many commands share one transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from lifecycle.application import commands as cmd
from lifecycle.application.unit_of_work import UnitOfWork
from lifecycle.domain.base import Aggregate
from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import DomainError
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.site import Site


class NotPermitted(DomainError):
    """The command names a programme, or a site, mentor or duo, outside the caller's
    programmes — or one that does not exist, which the caller cannot tell apart."""

    rule = 0


class StaleVersion(DomainError):
    """The duo is not at the version the caller expected (``If-Match``).

    Attributes:
        current: the duo's version now (None when there is no such duo).
    """

    rule = 0

    def __init__(self, message: str, *, current: int | None) -> None:
        super().__init__(message, field="duo_id")
        self.current = current


_HELD: Final[dict[str, type[Aggregate]]] = {
    "site_id": Site,
    "mentor_id": Mentor,
    "duo_id": Duo,
    "predecessor_duo_id": Duo,
}
"""Reference fields naming something that belongs to a programme, and its aggregate."""

_CREATED: Final[dict[type[cmd.Command], str]] = {
    cmd.OpenProgramme: "programme_id",
    cmd.RegisterSite: "site_id",
    cmd.RegisterMentor: "mentor_id",
    cmd.Recruit: "duo_id",
}
"""The field naming what each creating command creates."""

_UNSCOPED: Final = frozenset({"command_id", "contact_id", "mentee_id"})
"""Identifier fields that name nothing held by a programme on their own."""


def scoped_fields(model: type[cmd.Command]) -> list[str] | None:
    """The fields of ``model`` whose programme a scoped caller must hold, or None when
    the model has an identifier field this module cannot place in a programme (a
    scoped caller may not send such a command at all: closed by default)."""
    fields = []
    for name in model.model_fields:
        if name == "programme_id" or name in _HELD:
            fields.append(name)
        elif name.endswith("_id") and name not in _UNSCOPED:
            return None
    return fields


@dataclass(frozen=True)
class CommandGuard:
    """The conditions one caller sets on one command.

    Attributes:
        programmes: the programmes the caller may touch; None for any.
        if_match: the duo versions the caller accepts (``If-Match``); ``"*"`` for any
            existing duo; None for no condition.
    """

    programmes: frozenset[str] | None = None
    if_match: Collection[int] | str | None = None

    def admit(self, uow: UnitOfWork, command: cmd.Command) -> None:
        """Every programme the command names or implies is one of the caller's.

        Raises:
            NotPermitted: it is not, or it names a site, mentor or duo that does not
                exist (told apart from one of another programme, it would reveal what
                other programmes hold).
        """
        if self.programmes is None:
            return
        fields = scoped_fields(type(command))
        if fields is None:
            raise NotPermitted(f"a {command.type} command is not limited to programmes, "
                               "so only an unrestricted caller may send it", field="type")
        created = _CREATED.get(type(command))
        for name in fields:
            value = getattr(command, name)
            if value is None:
                continue
            if name == "programme_id":
                if value not in self.programmes:
                    raise NotPermitted(f"programme '{value}' is not one of this caller's "
                                       "programmes", field=name)
                continue
            if name == created:
                continue  # a taken id is rejected by rule 2 whichever programme holds it
            held = uow.find(_HELD[name], value)
            if held is None or held.programme_id not in self.programmes:  # type: ignore[attr-defined]
                kind = _HELD[name].PREFIX
                raise NotPermitted(f"{kind} '{value}' is not in this caller's programmes",
                                   field=name)

    def precondition(self, uow: UnitOfWork, command: cmd.Command) -> None:
        """The duo the command names is at a version the caller accepts.

        Raises:
            StaleVersion: it is not (or there is no such duo).
        """
        if self.if_match is None:
            return
        duo_id = getattr(command, "duo_id", None)
        duo = None if duo_id is None else uow.find(Duo, duo_id)
        if duo is None:
            raise StaleVersion(f"duo '{duo_id}' does not exist, so it matches no If-Match",
                               current=None)
        if self.if_match != "*" and duo.version not in self.if_match:
            raise StaleVersion(f"duo '{duo_id}' is at version {duo.version}, not at the "
                               "version of If-Match", current=duo.version)
