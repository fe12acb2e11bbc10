"""The site aggregate: a prison or detention centre taking part in one programme."""

from __future__ import annotations

from typing import ClassVar

from lifecycle.domain.base import Aggregate, DomainEvent, EventMeta
from lifecycle.domain.errors import WrongProgramme
from lifecycle.domain.programme import Programme
from lifecycle.domain.vocabulary import Setting, Text


class Site(Aggregate):
    """A site of one programme. Site ids are unique in the whole store."""

    PREFIX: ClassVar[str] = "site"

    programme_id: str
    name: str
    setting: Setting

    class Registered(DomainEvent):
        TOPIC: ClassVar[str] = "lifecycle.Site.Registered"
        creates: ClassVar[bool] = True
        programme_id: str
        name: Text
        setting: Setting

        def apply(self, aggregate: Site) -> None:
            aggregate.programme_id = self.programme_id
            aggregate.name = self.name
            aggregate.setting = self.setting

    @classmethod
    def register(cls, meta: EventMeta, site_id: str, *, programme: Programme, name: str,
                 setting: Setting) -> Site:
        """Register a site in ``programme`` (rule 5: not before its opening)."""
        programme.check_open_by(meta, "register_site")
        return cls._create(cls.Registered, site_id, meta, programme_id=programme.contract_id,
                           name=name, setting=setting)

    def check_in_programme(self, programme_id: str, field: str = "site_id") -> None:
        """Rule 3: the site belongs to the programme named or implied."""
        if self.programme_id != programme_id:
            raise WrongProgramme(
                f"site '{self.contract_id}' belongs to programme '{self.programme_id}', "
                f"not '{programme_id}'",
                field=field,
            )
