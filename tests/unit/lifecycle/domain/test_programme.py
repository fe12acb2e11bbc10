"""The programme and site aggregates (``lifecycle.domain.programme``, ``.site``): opening,
policy defaults, and the dates and memberships others are checked against (rules 3, 5)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from lifecycle.domain.errors import DomainError
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site
from lifecycle.domain.vocabulary import MentorKind, Policy, Setting


def test_opening_keeps_name_country_policy_and_date(kit: Any) -> None:
    programme = Programme.open(kit.meta("2025-01-02"), "DK-2025", name="Danish pilot",
                               country="DK", policy=Policy(contact_interval_days=10))
    assert (programme.id, programme.contract_id) == ("programme:DK-2025", "DK-2025")
    assert (programme.name, programme.country) == ("Danish pilot", "DK")
    assert programme.policy.contact_interval_days == 10
    assert programme.opened_on == date(2025, 1, 2)
    [event] = programme.collect_events()
    assert isinstance(event, Programme.Opened)


def test_a_programme_opened_without_policy_has_the_contract_defaults(kit: Any) -> None:
    policy = kit.programme().policy
    assert policy.model_dump() == {
        "min_duration_days": 182, "max_duration_days": 365, "contact_interval_days": 14,
        "first_meeting_within_days": 14,
        "mentor_kinds": (MentorKind.PEER, MentorKind.SUPERVISOR),
        "require_trained_mentor": True,
    }


@pytest.mark.parametrize(("on", "accepted"), [("2025-01-01", False), ("2025-01-02", True)])
def test_things_depending_on_a_programme_may_not_precede_its_opening(
        kit: Any, on: str, accepted: bool) -> None:
    programme = kit.programme(on="2025-01-02")
    if accepted:
        programme.check_open_by(kit.meta(on), "register_site")
    else:
        with pytest.raises(DomainError) as raised:
            programme.check_open_by(kit.meta(on), "register_site")
        assert (raised.value.rule, raised.value.field) == (5, "occurred_on")


def test_a_site_registered_before_its_programme_opened_is_refused(kit: Any) -> None:
    programme = kit.programme(on="2025-01-02")
    with pytest.raises(DomainError) as raised:
        Site.register(kit.meta("2025-01-01"), "S-1", programme=programme, name="x",
                      setting=Setting.YOUTH)
    assert raised.value.rule == 5


def test_a_site_belongs_to_the_programme_it_was_registered_in(kit: Any) -> None:
    site = kit.site(kit.programme("P-1"))
    assert site.programme_id == "P-1"
    site.check_in_programme("P-1")
    with pytest.raises(DomainError) as raised:
        site.check_in_programme("P-2")
    assert (raised.value.rule, raised.value.field) == (3, "site_id")


def test_replaying_a_programmes_event_rebuilds_it(kit: Any) -> None:
    programme = Programme.open(kit.meta("2025-01-02"), "P-1", name="x", country="PT",
                               policy=Policy(mentor_kinds=(MentorKind.PEER,)))
    [event] = programme.collect_events()
    replayed = event.mutate(None)
    assert isinstance(replayed, Programme)
    assert vars(replayed) == vars(programme)
