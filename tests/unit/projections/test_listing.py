"""The per-duo listing (``lifecycle duos``): each duo as it stood at a business date,
from read models folded out of hand-made event logs.

Day numbers count from 2025-01-01 (day 0), as in ``projection_builders``.
"""

from __future__ import annotations

import random
from datetime import timedelta, timezone

import pytest
from projection_builders import Log, d, random_log

from projections.fold import fold
from projections.listing import COLUMNS, DuoRow, duo_row, list_duos
from projections.report import build_report
from projections.views import ReadModel


def row(model: ReadModel, duo_id: str, day: int, as_at: str | None = None) -> DuoRow | None:
    return duo_row(model.duos[duo_id], model, d(day), as_at)


def only(model: ReadModel, duo_id: str, day: int) -> DuoRow:
    found = row(model, duo_id, day)
    assert found is not None, f"{duo_id} is not listed on day {day}"
    return found


def lifecycle_log() -> Log:
    """D-1: recruited day 0, selected 2, matched 10, activated 15, closed 60 (completed)."""
    return Log().world().duo("D-1", 0, 2, 10, 15, closed=60, reason="completed")


# ---------------------------------------------------------------------- state and dates
@pytest.mark.parametrize(("day", "state"), [
    (0, "recruited"), (1, "recruited"), (2, "selected"), (9, "selected"), (10, "matched"),
    (14, "matched"), (15, "active"), (59, "active"), (60, "closed"), (400, "closed")])
def test_the_state_at_as_of_follows_the_lifecycle_dates(day: int, state: str) -> None:
    model = fold(lifecycle_log().events)
    assert model.duos["D-1"].state == "closed"  # the latest state is not what is listed
    assert only(model, "D-1", day).state == state


def test_a_duo_is_not_listed_before_its_recruitment() -> None:
    model = fold(lifecycle_log().events)
    assert row(model, "D-1", -1) is None
    assert list_duos(model, d(-1)) == []
    assert [r.duo_id for r in list_duos(model, d(0))] == ["D-1"]


def test_dates_later_than_as_of_are_left_out_with_what_depends_on_them() -> None:
    model = fold(lifecycle_log().events)
    selected = only(model, "D-1", 5)
    assert (selected.recruited_on, selected.selected_on, selected.matched_on,
            selected.activated_on, selected.closed_on) == (
        "2025-01-01", "2025-01-03", None, None, None)
    assert selected.mentor_id is None  # not matched yet
    assert selected.active_days is None
    matched = only(model, "D-1", 12)
    assert (matched.matched_on, matched.mentor_id, matched.activated_on) == (
        "2025-01-11", "M-1", None)
    active = only(model, "D-1", 40)
    assert (active.activated_on, active.closed_on, active.close_reason,
            active.closed_from) == ("2025-01-16", None, None, None)
    closed = only(model, "D-1", 90)
    assert (closed.closed_on, closed.close_reason, closed.closed_from) == (
        "2025-03-02", "completed", "active")


def test_a_duo_closed_before_activation_keeps_its_closing_stage_and_has_no_active_days() -> None:
    log = Log().world().duo("D-1", 0, 3, closed=8, reason="no_mentor_available")
    model = fold(log.events)
    before, after = only(model, "D-1", 7), only(model, "D-1", 8)
    assert (before.state, before.closed_on, before.close_reason) == ("selected", None, None)
    assert (after.state, after.closed_on, after.close_reason, after.closed_from,
            after.active_days, after.overdue) == (
        "closed", "2025-01-09", "no_mentor_available", "selected", None, False)


def test_active_days_run_to_as_of_while_active_and_to_the_closure_after() -> None:
    model = fold(lifecycle_log().events)
    assert only(model, "D-1", 14).active_days is None
    assert only(model, "D-1", 15).active_days == 0
    assert only(model, "D-1", 40).active_days == 25
    assert only(model, "D-1", 60).active_days == 45
    assert only(model, "D-1", 300).active_days == 45


# ---------------------------------------------------------------------- contacts
def contacts_log() -> Log:
    """D-1 active from day 15 (interval 14). K-1 day 20 (60 min), K-2 day 30 (120 min),
    K-3 day 40 (500 min, retracted day 50), K-4 day 45 (90 min, retracted day 52),
    K-5 day 95 (30 min)."""
    log = Log().world().duo("D-1", 0, 2, 10, 15)
    log.contact("D-1", "K-1", 20, minutes=60)
    log.contact("D-1", "K-2", 30, minutes=120, functions=["career", "psychosocial"])
    log.contact("D-1", "K-3", 40, minutes=500)
    log.contact("D-1", "K-4", 45, minutes=90)
    log.retract("D-1", "K-3", 50).retract("D-1", "K-4", 52)
    log.contact("D-1", "K-5", 95, minutes=30)
    return log


@pytest.mark.parametrize(("day", "contacts", "minutes", "last"), [
    (15, 0, 0, None),
    (20, 1, 60, "2025-01-21"),
    (29, 1, 60, "2025-01-21"),
    (45, 4, 770, "2025-02-15"),
    (49, 4, 770, "2025-02-15"),   # K-3's retraction is dated later: still counted
    (50, 3, 270, "2025-02-15"),   # K-3 retracted
    (52, 2, 180, "2025-01-31"),   # K-4 retracted: the latest counted contact is K-2
    (94, 2, 180, "2025-01-31"),
    (95, 3, 210, "2025-04-06"),
])
def test_counted_contacts_minutes_and_last_contact_leave_out_what_was_retracted_by_as_of(
        day: int, contacts: int, minutes: int, last: str | None) -> None:
    found = only(fold(contacts_log().events), "D-1", day)
    assert (found.contacts, found.contact_minutes, found.last_contact_on) == (
        contacts, minutes, last)


def test_a_contact_logged_after_the_closure_counts_by_its_own_date() -> None:
    log = Log().world().duo("D-1", 0, 1, 2, 3, closed=30, reason="mentee_withdrew")
    log.contact("D-1", "K-1", 29, minutes=45)  # logged late, after the close event
    model = fold(log.events)
    assert only(model, "D-1", 28).contacts == 0
    closed = only(model, "D-1", 31)
    assert (closed.state, closed.contacts, closed.contact_minutes, closed.last_contact_on,
            closed.overdue) == ("closed", 1, 45, "2025-01-30", False)


# ---------------------------------------------------------------------- overdue
def overdue_log() -> Log:
    """P-1 (interval 14): A active from day 10 without contacts; B active from day 10,
    contact K-1 day 20 retracted day 40, K-2 day 50 (logged before K-1's retraction).
    P-2 (interval 5): C active from day 10, contact day 12; M matched only; X closed."""
    log = Log().world("P-1", "S-1", "M-1", contact_interval_days=14)
    log.world("P-2", "S-2", "M-2", country="PT", contact_interval_days=5)
    log.duo("A", 0, 1, 2, 10)
    log.duo("B", 0, 1, 2, 10).contact("B", "K-1", 20).contact("B", "K-2", 50)
    log.retract("B", "K-1", 40)
    log.duo("C", 0, 1, 2, 10, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    log.contact("C", "K-1", 12)
    log.duo("M", 0, 1, 2, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    log.duo("X", 0, 1, 2, 3, closed=5, reason="completed", programme_id="P-2",
            site_id="S-2", mentor_id="M-2")
    return log


@pytest.mark.parametrize(("duo_id", "day", "overdue"), [
    # A: no contact, measured from the activation (day 10), interval 14
    ("A", 24, False), ("A", 25, True),
    # B: K-1 (day 20) counts until its retraction on day 40
    ("B", 34, False), ("B", 35, True), ("B", 39, True),
    # from day 40 the activation date is the reference again: 30 days > 14
    ("B", 40, True),
    # K-2 (day 50) is counted from its own date on
    ("B", 49, True), ("B", 50, False), ("B", 64, False), ("B", 65, True),
    # C: the programme's own interval of 5, from the contact on day 12
    ("C", 17, False), ("C", 18, True),
    # a matched duo and a closed duo are never overdue
    ("M", 500, False), ("X", 500, False),
])
def test_overdue_uses_the_latest_counted_contact_and_the_programmes_own_interval(
        duo_id: str, day: int, overdue: bool) -> None:
    assert only(fold(overdue_log().events), duo_id, day).overdue is overdue


def test_overdue_is_strictly_more_than_the_interval_on_the_activation_day_itself() -> None:
    log = Log().world(contact_interval_days=1).duo("D-1", 0, 1, 2, 3)
    model = fold(log.events)
    assert [only(model, "D-1", day).overdue for day in (3, 4, 5)] == [False, False, True]


# ---------------------------------------------------------------------- rematches
def rematch_log() -> Log:
    """OLD closed with ``rematched`` on day 30; NEW recruited for the same mentee on
    day 40 as its successor."""
    log = Log().world().duo("OLD", 0, 1, 2, closed=30, reason="rematched")
    log.recruit("NEW", 40, mentee_id="E-OLD", predecessor="OLD")
    return log


def test_the_successor_is_hidden_until_it_was_recruited() -> None:
    model = fold(rematch_log().events)
    assert model.duos["OLD"].successor_duo_id == "NEW"
    before = list_duos(model, d(39))
    assert [(r.duo_id, r.successor_duo_id) for r in before] == [("OLD", None)]
    after = {r.duo_id: r for r in list_duos(model, d(40))}
    assert (after["OLD"].successor_duo_id, after["OLD"].close_reason) == ("NEW", "rematched")
    assert (after["NEW"].predecessor_duo_id, after["NEW"].state) == ("OLD", "recruited")


def test_the_successor_is_hidden_when_recorded_after_as_at() -> None:
    log = rematch_log()
    model = fold(log.events)
    recruited_at = log.events[-1].timestamp
    hidden = list_duos(model, d(100), as_at=recruited_at - timedelta(microseconds=1))
    assert [(r.duo_id, r.successor_duo_id) for r in hidden] == [("OLD", None)]
    shown = list_duos(model, d(100), as_at=recruited_at)
    assert [(r.duo_id, r.successor_duo_id) for r in shown] == [("NEW", None), ("OLD", "NEW")]


# ---------------------------------------------------------------------- filters
def filters_log() -> Log:
    """Two programmes, three sites, duos in every state (some overdue on day 60)."""
    log = Log().world("P-1", "S-1", "M-1", contact_interval_days=14)
    log.site("S-1b", "P-1").mentor("M-1b", "P-1", "S-1b")
    log.world("P-2", "S-2", "M-2", country="PT", contact_interval_days=30)
    log.duo("a-rec", 0)
    log.duo("b-sel", 0, 1, site_id="S-1b")
    log.duo("c-act", 0, 1, 2, 3)                                  # overdue at 60 (P-1: 14)
    log.duo("d-act", 0, 1, 2, 3, site_id="S-1b", mentor_id="M-1b")
    log.contact("d-act", "K-1", 55)                               # not overdue at 60
    log.duo("e-act", 0, 1, 2, 40, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    log.duo("f-act", 0, 1, 2, 3, programme_id="P-2", site_id="S-2", mentor_id="M-2")
    log.duo("g-clo", 0, 1, 2, 3, closed=20, reason="mismatch", site_id="S-1b",
            mentor_id="M-1b")
    log.duo("h-late", 70)                                         # after as_of
    return log


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, ["a-rec", "b-sel", "c-act", "d-act", "e-act", "f-act", "g-clo"]),
    ({"state": "active"}, ["c-act", "d-act", "e-act", "f-act"]),
    ({"state": "closed"}, ["g-clo"]),
    ({"state": "matched"}, []),
    ({"programme": "P-2"}, ["e-act", "f-act"]),
    ({"programme": "P-9"}, []),
    ({"site": "S-1b"}, ["b-sel", "d-act", "g-clo"]),
    ({"overdue": True}, ["c-act", "f-act"]),
    ({"overdue": True, "programme": "P-1"}, ["c-act"]),
    ({"state": "active", "site": "S-1b"}, ["d-act"]),
    ({"state": "recruited", "overdue": True}, []),
])
def test_filters_select_duos_by_state_programme_site_and_overdue(
        filters: dict[str, object], expected: list[str]) -> None:
    model = fold(filters_log().events)
    rows = list_duos(model, d(60), **filters)  # type: ignore[arg-type]
    assert [r.duo_id for r in rows] == expected
    everything = {r.duo_id: r for r in list_duos(model, d(60))}
    assert rows == [everything[duo_id] for duo_id in expected]  # filtering changes no row


def test_the_state_filter_applies_to_the_state_at_as_of() -> None:
    model = fold(filters_log().events)
    assert [r.duo_id for r in list_duos(model, d(2), state="matched")] == [
        "c-act", "d-act", "e-act", "f-act", "g-clo"]
    assert [r.duo_id for r in list_duos(model, d(10), state="closed")] == []


def test_rows_are_ordered_by_duo_id_and_have_the_listing_columns() -> None:
    model = fold(filters_log().events)
    rows = list_duos(model, d(60))
    assert [r.duo_id for r in rows] == sorted(r.duo_id for r in rows)
    for found in rows:
        assert tuple(found.as_json()) == COLUMNS


# ---------------------------------------------------------------------- as_at
def test_as_at_hides_steps_contacts_retractions_and_duos_recorded_later() -> None:
    log = Log().world().duo("D-1", 0, 1, 2, 3)
    log.contact("D-1", "K-1", 5, minutes=40)
    first_contact_at = log.clock
    log.contact("D-1", "K-2", 6, minutes=50)
    log.retract("D-1", "K-1", 20)
    retracted_at = log.clock
    log.close("D-1", 25, "completed")
    closed_at = log.clock
    log.contact("D-1", "K-3", 24, minutes=60)  # recorded after the closure
    log.duo("D-2", 1)
    model = fold(log.events)

    def at(moment: object) -> dict[str, DuoRow]:
        return {r.duo_id: r for r in list_duos(model, d(30), as_at=moment)}

    early = at(first_contact_at)
    assert list(early) == ["D-1"]
    assert (early["D-1"].state, early["D-1"].contacts, early["D-1"].contact_minutes,
            early["D-1"].last_contact_on) == ("active", 1, 40, "2025-01-06")
    # the retraction of K-1 is not recorded yet one microsecond earlier
    before_retraction = at(retracted_at - timedelta(microseconds=1))["D-1"]
    assert (before_retraction.contacts, before_retraction.contact_minutes) == (2, 90)
    retracted = at(retracted_at)["D-1"]
    assert (retracted.contacts, retracted.contact_minutes, retracted.last_contact_on) == (
        1, 50, "2025-01-07")
    closed = at(closed_at)["D-1"]
    assert (closed.state, closed.closed_on, closed.close_reason, closed.contacts) == (
        "closed", "2025-01-26", "completed", 1)
    everything = at(log.clock)
    assert (everything["D-1"].contacts, everything["D-1"].last_contact_on) == (
        2, "2025-01-25")
    assert list(everything) == ["D-1", "D-2"]
    assert list_duos(model, d(30), as_at=log.clock) == list_duos(model, d(30))


def test_as_at_accepts_text_and_aware_datetimes_in_any_zone() -> None:
    log = lifecycle_log()
    model = fold(log.events)
    activated_at = log.events[-2].timestamp
    plus_two = activated_at.astimezone(timezone(timedelta(hours=2)))
    as_text = activated_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    states = {list_duos(model, d(100), as_at=moment)[0].state
              for moment in (activated_at, plus_two, as_text)}
    assert states == {"active"}
    assert list_duos(model, d(100), as_at=activated_at - timedelta(seconds=1))[0].state == (
        "matched")


# ---------------------------------------------------------------------- the report agrees
@pytest.mark.parametrize("seed", range(25))
def test_the_listing_agrees_with_the_report_on_random_logs(seed: int) -> None:
    """By state, contacts and overdue duos, the listing adds up to the report."""
    rnd = random.Random(seed)
    log = random_log(rnd, v2=True)
    model = fold(log.events)
    for day in (0, 15, 45, 90, 180, 400):
        as_of = d(day)
        rows = list_duos(model, as_of)
        report = build_report(model, as_of)
        states = {s: 0 for s in report["duos"]["by_state"]}
        for found in rows:
            states[found.state] += 1
        assert states == report["duos"]["by_state"]
        frequency = report["contact_frequency"]
        assert sum(r.contacts for r in rows) == frequency["contacts"]
        assert sum(r.overdue for r in rows) == frequency["overdue_active_duos"]
        assert [r.duo_id for r in list_duos(model, as_of, overdue=True)] == [
            r.duo_id for r in rows if r.overdue]
        for programme in model.programmes:
            mine = list_duos(model, as_of, programme=programme)
            assert len(mine) == build_report(model, as_of, programme)["duos"]["total"]
