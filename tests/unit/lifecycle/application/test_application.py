"""The use cases (``lifecycle.application``) on an in-memory store: the rules of CONTRACT §2
that need more than one aggregate (2, 3, 5, 11, 12, 13), and that a refused command writes
nothing.

Unless a test says otherwise the store holds programme P-1 (opened 2025-01-02), site S-1,
mentor M-1 (registered 2025-01-03, trained 2025-01-08) and today is 2026-01-01.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from lifecycle.application import Lifecycle, Outcome
from lifecycle.application import commands as cmds
from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import DomainError, UnknownReference
from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import NewcomerKind, Setting


class Harness:
    """An engine with the base world, and short ways to submit commands to it."""

    def __init__(self, engine: Lifecycle, build: Callable[..., dict[str, Any]],
                 submit: Callable[[Lifecycle, dict[str, Any]], Outcome],
                 count: Callable[[Lifecycle], int]) -> None:
        self.engine, self.build, self._submit, self._count = engine, build, submit, count

    def ok(self, type_: str, on: str, **fields: Any) -> Outcome:
        return self._submit(self.engine, self.build(type_, on, **fields))

    def send(self, raw: dict[str, Any]) -> Outcome:
        return self._submit(self.engine, raw)

    def refused(self, type_: str, on: str, rule: int, field: str | None,
                **fields: Any) -> DomainError:
        """The command breaks ``rule`` naming ``field``, and the store is unchanged."""
        return self.refused_raw(self.build(type_, on, **fields), rule, field)

    def refused_raw(self, raw: dict[str, Any], rule: int, field: str | None) -> DomainError:
        before = self.events
        with pytest.raises(DomainError) as raised:
            self._submit(self.engine, raw)
        assert (raised.value.rule, raised.value.field) == (rule, field), str(raised.value)
        assert self.events == before, "a refused command wrote events"
        return raised.value

    @property
    def events(self) -> int:
        return self._count(self.engine)


@pytest.fixture
def app(engine: Lifecycle, stream: Any, cmd: Any, submit: Any, event_count: Any) -> Harness:
    stream.base()
    stream.apply(engine)
    return Harness(engine, cmd, submit, event_count)


def duo_to(app: Harness, new_stream: Any, state: str, duo_id: str = "D-1",
           **fields: Any) -> None:
    new_stream(f"{duo_id}-cmd").duo(state, duo_id, **fields).apply(app.engine)


# ---------------------------------------------------------------------- use cases
def test_every_command_has_a_use_case_named_with_its_verb() -> None:
    for kind in cmds.COMMANDS:
        assert callable(getattr(Lifecycle, kind)), kind


def test_use_case_applies_a_command_model_and_says_applied_then_duplicate(
        engine: Lifecycle) -> None:
    command = cmds.OpenProgramme(programme_id="DK-2025", name="Danish pilot", country="DK",
                                 occurred_on=date(2025, 1, 2), command_id="fe-1")
    assert engine.open_programme(command) is Outcome.APPLIED
    assert engine.open_programme(command) is Outcome.DUPLICATE


def test_the_engine_sets_recorded_at_from_its_clock() -> None:
    moment = datetime(2025, 5, 5, 8, 30, tzinfo=UTC)
    engine = Lifecycle({"PERSISTENCE_MODULE": "eventsourcing.popo"},
                       today=lambda: date(2026, 1, 1), clock=lambda: moment)
    engine.open_programme(cmds.OpenProgramme(programme_id="P", name="x", country="DK",
                                             occurred_on=date(2025, 1, 2)))
    engine.register_site(cmds.RegisterSite(site_id="S", programme_id="P", name="x",
                                           setting=Setting.ADULT, occurred_on=date(2025, 1, 2)))
    engine.recruit(cmds.Recruit(duo_id="D", programme_id="P", site_id="S", mentee_id="E",
                                newcomer_kind=NewcomerKind.TRANSFERRED, department="x",
                                shifts=(), occurred_on=date(2025, 1, 3)))
    [event] = engine.history("D")
    assert event.timestamp == moment
    assert event.occurred_on == date(2025, 1, 3)


def test_get_duo_and_history_follow_the_duos_events(app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "active")
    duo = app.engine.get_duo("D-1")
    assert (duo.state, duo.mentor_id, duo.activated_on) == (
        DuoState.ACTIVE, "M-1", date(2025, 2, 4))
    history = app.engine.history("D-1")
    assert [type(e).__name__ for e in history] == ["Recruited", "Selected", "Matched",
                                                   "Activated"]
    assert [e.originator_version for e in history] == [1, 2, 3, 4]


def test_who_initiated_a_closure_and_its_exit_interview_are_stored_in_the_history(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "active")
    app.ok("close", "2025-03-01", reason="mentee_left_service", initiated_by="organisation",
           exit_interview=True)
    closed = app.engine.history("D-1")[-1]
    assert type(closed) is Duo.Closed
    assert (closed.reason, closed.initiated_by, closed.exit_interview) == (
        "mentee_left_service", "organisation", True)


def test_an_unknown_duo_has_no_state_and_no_history(app: Harness) -> None:
    for read in (app.engine.get_duo, app.engine.history):
        with pytest.raises(UnknownReference) as raised:
            read("D-404")
        assert (raised.value.rule, raised.value.field) == (2, "duo_id")
        assert raised.value.message == "duo 'D-404' does not exist"


# ---------------------------------------------------------------------- rule 2
@pytest.mark.parametrize(("type_", "fields", "field"), [
    ("register_site", {"site_id": "S-9", "programme_id": "P-404"}, "programme_id"),
    ("register_mentor", {"mentor_id": "M-9", "programme_id": "P-404"}, "programme_id"),
    ("register_mentor", {"mentor_id": "M-9", "site_id": "S-404"}, "site_id"),
    ("record_training", {"mentor_id": "M-404"}, "mentor_id"),
    ("recruit", {"duo_id": "D-9", "programme_id": "P-404"}, "programme_id"),
    ("recruit", {"duo_id": "D-9", "site_id": "S-404"}, "site_id"),
    ("recruit", {"duo_id": "D-9", "predecessor_duo_id": "D-404"}, "predecessor_duo_id"),
    ("select", {"duo_id": "D-404"}, "duo_id"),
    ("match", {"duo_id": "D-404"}, "duo_id"),
    ("match", {"duo_id": "D-1", "mentor_id": "M-404"}, "mentor_id"),
    ("activate", {"duo_id": "D-404"}, "duo_id"),
    ("log_contact", {"duo_id": "D-404"}, "duo_id"),
    ("retract_contact", {"duo_id": "D-404"}, "duo_id"),
    ("review", {"duo_id": "D-404"}, "duo_id"),
    ("record_survey", {"duo_id": "D-404"}, "duo_id"),
    ("close", {"duo_id": "D-404"}, "duo_id"),
])
def test_a_reference_to_something_that_does_not_exist_is_refused(
        app: Harness, new_stream: Any, type_: str, fields: dict[str, Any], field: str) -> None:
    duo_to(app, new_stream, "selected")
    app.refused(type_, "2025-03-01", 2, field, **fields)


@pytest.mark.parametrize(("type_", "fields", "field"), [
    ("open_programme", {"programme_id": "P-1"}, "programme_id"),
    ("register_site", {"site_id": "S-1"}, "site_id"),
    ("register_mentor", {"mentor_id": "M-1"}, "mentor_id"),
    ("recruit", {"duo_id": "D-1", "mentee_id": "E-other"}, "duo_id"),
])
def test_an_id_being_created_must_not_exist_yet(
        app: Harness, new_stream: Any, type_: str, fields: dict[str, Any], field: str) -> None:
    duo_to(app, new_stream, "recruited")
    app.refused(type_, "2025-03-01", 2, field, **fields)


def test_site_mentor_and_duo_ids_are_unique_across_programmes(
        app: Harness, new_stream: Any) -> None:
    new_stream("p2").base("P-2", "S-2", "M-2").apply(app.engine)
    duo_to(app, new_stream, "recruited")
    app.refused("register_site", "2025-03-01", 2, "site_id", site_id="S-1",
                programme_id="P-2")
    app.refused("register_mentor", "2025-03-01", 2, "mentor_id", mentor_id="M-1",
                programme_id="P-2", site_id="S-2")
    app.refused("recruit", "2025-03-01", 2, "duo_id", duo_id="D-1", programme_id="P-2",
                site_id="S-2")


def test_ids_of_different_kinds_do_not_clash(app: Harness) -> None:
    app.ok("register_site", "2025-03-01", site_id="P-1")
    app.ok("register_mentor", "2025-03-01", mentor_id="S-1")
    app.ok("recruit", "2025-03-01", duo_id="M-1")
    assert app.engine.get_duo("M-1").state is DuoState.RECRUITED


# ---------------------------------------------------------------------- rule 3
@pytest.fixture
def two_programmes(app: Harness, new_stream: Any) -> Harness:
    """Adds programme P-2 with site S-2 and trained mentor M-2, and site S-1b of P-1
    with trained mentor M-1b."""
    new_stream("p2").base("P-2", "S-2", "M-2").apply(app.engine)
    extra = new_stream("s1b")
    extra.add("register_site", "2025-01-02", site_id="S-1b")
    extra.add("register_mentor", "2025-01-03", mentor_id="M-1b", site_id="S-1b")
    extra.train("M-1b", "2025-01-04")
    extra.apply(app.engine)
    return app


def test_a_mentor_is_registered_at_a_site_of_the_programme_named(
        two_programmes: Harness) -> None:
    two_programmes.refused("register_mentor", "2025-03-01", 3, "site_id", mentor_id="M-9",
                           programme_id="P-1", site_id="S-2")


def test_a_duo_is_recruited_at_a_site_of_the_programme_named(two_programmes: Harness) -> None:
    two_programmes.refused("recruit", "2025-03-01", 3, "site_id", duo_id="D-9",
                           programme_id="P-2", site_id="S-1")


@pytest.mark.parametrize("mentor_id", ["M-2", "M-1b"], ids=["other-programme", "other-site"])
def test_match_needs_a_mentor_of_the_duos_programme_and_site(
        two_programmes: Harness, new_stream: Any, mentor_id: str) -> None:
    duo_to(two_programmes, new_stream, "selected")
    two_programmes.refused("match", "2025-03-01", 3, "mentor_id", mentor_id=mentor_id)


# ---------------------------------------------------------------------- rule 5
EVERY_COMMAND_DATED: list[tuple[str, str, dict[str, Any]]] = [
    # (command type, state of duo D-1 before it, fields)
    ("open_programme", "recruited", {"programme_id": "P-9"}),
    ("register_site", "recruited", {"site_id": "S-9"}),
    ("register_mentor", "recruited", {"mentor_id": "M-9"}),
    ("record_training", "recruited", {}),
    ("recruit", "recruited", {"duo_id": "D-9"}),
    ("select", "recruited", {}),
    ("match", "selected", {}),
    ("activate", "matched", {}),
    ("log_contact", "active", {"contact_id": "K-9"}),
    ("retract_contact", "active", {}),
    ("review", "recruited", {}),
    ("record_survey", "recruited", {}),
    ("close", "recruited", {}),
    ("deregister_mentor", "recruited", {}),
    ("correct", "closed", {"value": "2025-02-20"}),
    ("record_departure", "recruited", {}),
]


def test_the_rule_5_cases_name_every_command_type_once() -> None:
    """(``forget`` needs a sealed store, which an in-memory engine is not: its rule 5
    is tested in tests/integration/test_forget.py.)"""
    assert sorted(t for t, _, _ in EVERY_COMMAND_DATED) == sorted(
        set(cmds.COMMANDS) - {"forget"})


@pytest.mark.parametrize(("type_", "state", "fields"), EVERY_COMMAND_DATED)
def test_nothing_may_be_dated_later_than_today(
        app: Harness, new_stream: Any, type_: str, state: str, fields: dict[str, Any]) -> None:
    """Every command type: tomorrow (2026-01-02) is refused, today (2026-01-01) accepted."""
    duo_to(app, new_stream, state)
    if state == "active":  # contact K-1, for the retraction
        app.ok("log_contact", "2025-02-05")
    app.refused(type_, "2026-01-02", 5, "occurred_on", **fields)
    assert app.ok(type_, "2026-01-01", **fields) is Outcome.APPLIED


@pytest.mark.parametrize(("type_", "fields"), [
    ("register_site", {"site_id": "S-9"}),
    ("register_mentor", {"mentor_id": "M-9"}),
    ("recruit", {"duo_id": "D-9"}),
])
def test_nothing_in_a_programme_precedes_its_opening(
        app: Harness, type_: str, fields: dict[str, Any]) -> None:
    app.refused(type_, "2025-01-01", 5, "occurred_on", **fields)
    assert app.ok(type_, "2025-01-02", **fields) is Outcome.APPLIED


def test_training_does_not_precede_the_mentors_registration(app: Harness) -> None:
    app.refused("record_training", "2025-01-02", 5, "occurred_on")
    assert app.ok("record_training", "2025-01-03") is Outcome.APPLIED


def test_match_does_not_precede_the_mentors_registration(
        app: Harness, new_stream: Any) -> None:
    app.ok("open_programme", "2025-01-02", programme_id="P-U",
           policy={"require_trained_mentor": False})
    app.ok("register_site", "2025-01-02", site_id="S-U", programme_id="P-U")
    duo_to(app, new_stream, "selected", programme_id="P-U", site_id="S-U")
    app.ok("register_mentor", "2025-03-01", mentor_id="M-U", programme_id="P-U",
           site_id="S-U")
    app.refused("match", "2025-02-28", 5, "occurred_on", mentor_id="M-U")
    assert app.ok("match", "2025-03-01", mentor_id="M-U") is Outcome.APPLIED


# ---------------------------------------------------------------------- rule 11
def test_match_uses_the_mentor_kinds_of_the_duos_own_programme(
        app: Harness, new_stream: Any) -> None:
    new_stream("p2").base("P-2", "S-2", "M-2", policy={"mentor_kinds": ["supervisor"]}).apply(
        app.engine)
    duo_to(app, new_stream, "selected", "D-2", programme_id="P-2", site_id="S-2")
    duo_to(app, new_stream, "selected", "D-1")
    app.refused("match", "2025-03-01", 11, "mentor_kind", duo_id="D-2", mentor_id="M-2",
                mentor_kind="peer")
    assert app.ok("match", "2025-03-01", duo_id="D-2", mentor_id="M-2",
                  mentor_kind="supervisor") is Outcome.APPLIED
    assert app.ok("match", "2025-03-01", duo_id="D-1", mentor_kind="peer") is Outcome.APPLIED


def test_match_needs_the_mentor_trained_by_the_match_date(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "selected")
    app.ok("register_mentor", "2025-01-03", mentor_id="M-N")
    new_stream("train").train("M-N", "2025-02-10").apply(app.engine)  # trained 02-14
    app.refused("match", "2025-02-13", 11, "mentor_id", mentor_id="M-N")
    assert app.ok("match", "2025-02-14", mentor_id="M-N") is Outcome.APPLIED


def test_a_late_entry_of_training_makes_a_mentor_trained_earlier(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "selected")
    app.ok("register_mentor", "2025-01-03", mentor_id="M-N")
    new_stream("late").train("M-N", "2025-03-01").apply(app.engine)
    app.refused("match", "2025-02-20", 11, "mentor_id", mentor_id="M-N")
    new_stream("early").train("M-N", "2025-01-10").apply(app.engine)
    assert app.ok("match", "2025-02-20", mentor_id="M-N") is Outcome.APPLIED


# ---------------------------------------------------------------------- rule 12
@pytest.fixture
def rematched(app: Harness, new_stream: Any) -> Harness:
    """D-OLD of mentee E-1 closed with ``rematched`` on 2025-02-05."""
    duo_to(app, new_stream, "closed", "D-OLD", mentee_id="E-1", close_reason="rematched")
    return app


def test_a_rematch_recruits_the_same_mentee_naming_the_old_duo(rematched: Harness) -> None:
    assert rematched.ok("recruit", "2025-02-05", duo_id="D-NEW", mentee_id="E-1",
                        predecessor_duo_id="D-OLD") is Outcome.APPLIED
    assert rematched.engine.get_duo("D-NEW").predecessor_duo_id == "D-OLD"


def test_a_duo_is_no_other_duos_predecessor_twice(rematched: Harness) -> None:
    rematched.ok("recruit", "2025-02-05", duo_id="D-NEW", mentee_id="E-1",
                 predecessor_duo_id="D-OLD")
    error = rematched.refused("recruit", "2025-02-06", 12, "predecessor_duo_id",
                              duo_id="D-NEWER", mentee_id="E-1", predecessor_duo_id="D-OLD")
    assert "D-NEW" in str(error)
    with pytest.raises(UnknownReference, match="'D-NEWER'"):
        rematched.engine.get_duo("D-NEWER")


def test_a_refused_successor_does_not_claim_its_predecessor(rematched: Harness) -> None:
    rematched.refused("recruit", "2025-02-04", 12, "predecessor_duo_id", duo_id="D-EARLY",
                      mentee_id="E-1", predecessor_duo_id="D-OLD")
    assert rematched.ok("recruit", "2025-02-05", duo_id="D-NEW", mentee_id="E-1",
                        predecessor_duo_id="D-OLD") is Outcome.APPLIED


@pytest.mark.parametrize(("on", "mentee_id"), [
    pytest.param("2025-02-05", "E-2", id="another mentee"),
    pytest.param("2025-02-04", "E-1", id="before the rematch closure"),
])
def test_a_predecessor_has_the_same_mentee_and_closed_as_rematched_by_then(
        rematched: Harness, on: str, mentee_id: str) -> None:
    rematched.refused("recruit", on, 12, "predecessor_duo_id", duo_id="D-NEW",
                      mentee_id=mentee_id, predecessor_duo_id="D-OLD")


def test_a_predecessor_belongs_to_the_same_programme(
        rematched: Harness, new_stream: Any) -> None:
    new_stream("p2").base("P-2", "S-2", "M-2").apply(rematched.engine)
    rematched.refused("recruit", "2025-03-01", 12, "predecessor_duo_id", duo_id="D-NEW",
                      programme_id="P-2", site_id="S-2", mentee_id="E-1",
                      predecessor_duo_id="D-OLD")


@pytest.mark.parametrize("state", ["recruited", "selected", "matched", "active"])
def test_an_open_duo_is_no_predecessor(app: Harness, new_stream: Any, state: str) -> None:
    duo_to(app, new_stream, state, "D-OLD", mentee_id="E-1")
    app.refused("recruit", "2025-03-01", 12, "predecessor_duo_id", duo_id="D-NEW",
                mentee_id="E-1", predecessor_duo_id="D-OLD")


def test_a_duo_closed_for_another_reason_is_no_predecessor(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "closed", "D-OLD", mentee_id="E-1", close_reason="mismatch")
    app.refused("recruit", "2025-03-01", 12, "predecessor_duo_id", duo_id="D-NEW",
                mentee_id="E-1", predecessor_duo_id="D-OLD")


def test_a_chain_of_rematches_is_allowed(rematched: Harness) -> None:
    rematched.ok("recruit", "2025-02-05", duo_id="D-2", mentee_id="E-1",
                 predecessor_duo_id="D-OLD")
    rematched.ok("close", "2025-02-06", duo_id="D-2", reason="rematched")
    assert rematched.ok("recruit", "2025-02-06", duo_id="D-3", mentee_id="E-1",
                        predecessor_duo_id="D-2") is Outcome.APPLIED


# ---------------------------------------------------------------------- rule 13
def test_the_same_command_id_with_the_same_content_is_a_duplicate(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "recruited")
    raw = app.build("select", "2025-02-02", command_id="cmd-1")
    assert app.send(raw) is Outcome.APPLIED
    before = app.events
    assert app.send(dict(raw)) is Outcome.DUPLICATE
    assert app.events == before


def test_a_duplicate_is_skipped_even_when_the_command_would_now_break_a_rule(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "recruited")
    raw = app.build("select", "2025-02-02", command_id="cmd-1")
    app.send(raw)
    app.ok("close", "2025-02-03")
    assert app.send(raw) is Outcome.DUPLICATE


def test_key_order_does_not_change_the_content_at_any_level(app: Harness) -> None:
    raw = app.build("open_programme", "2025-01-05", programme_id="P-9", command_id="cmd-p",
                    policy={"min_duration_days": 100, "mentor_kinds": ["peer"],
                            "require_trained_mentor": False})
    assert app.send(raw) is Outcome.APPLIED
    reordered = {k: raw[k] for k in reversed(list(raw))}
    reordered["policy"] = {k: raw["policy"][k] for k in reversed(list(raw["policy"]))}
    assert list(reordered) != list(raw)
    assert app.send(reordered) is Outcome.DUPLICATE


def test_scores_in_another_key_order_are_the_same_content(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "recruited")
    scores = {"wellbeing": 1, "stress": 2, "integration": 3, "confidence": 4}
    app.send(app.build("record_survey", "2025-02-02", command_id="s-1", scores=scores))
    reversed_scores = dict(reversed(list(scores.items())))
    assert app.send(app.build("record_survey", "2025-02-02", command_id="s-1",
                              scores=reversed_scores)) is Outcome.DUPLICATE


@pytest.mark.parametrize("change", [
    {"health": 2},
    {"occurred_on": "2025-02-03"},
    {"type": "activate", "health": ...},
    {"duo_id": "D-2"},
], ids=["field", "date", "type", "target"])
def test_the_same_command_id_with_other_content_is_refused(
        app: Harness, new_stream: Any, change: dict[str, Any]) -> None:
    duo_to(app, new_stream, "matched")
    duo_to(app, new_stream, "recruited", "D-2", mentee_id="E-2")
    raw = app.build("review", "2025-02-02", command_id="cmd-1")
    app.send(raw)
    other = {k: v for k, v in {**raw, **change}.items() if v is not ...}
    app.refused_raw(other, 13, "command_id")


def test_an_explicit_default_is_other_content_than_an_omitted_field(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "active")
    raw = app.build("close", "2025-03-01", command_id="cmd-c")
    app.send(raw)
    app.refused_raw({**raw, "exit_interview": False}, 13, "command_id")


def test_a_command_id_that_was_refused_is_not_taken(app: Harness, new_stream: Any) -> None:
    raw = app.build("select", "2025-02-02", command_id="cmd-1")
    app.refused_raw(raw, 2, "duo_id")
    duo_to(app, new_stream, "recruited")
    assert app.send(raw) is Outcome.APPLIED


def test_a_command_without_an_id_equal_to_an_earlier_one_without_id_is_a_duplicate(
        app: Harness, new_stream: Any) -> None:
    """Rule 13 (v2): two identical lines without ids are one command."""
    duo_to(app, new_stream, "active")
    raw = app.build("review", "2025-03-01", command_id=...)
    assert app.send(raw) is Outcome.APPLIED
    before = app.events
    assert app.send(dict(reversed(raw.items()))) is Outcome.DUPLICATE  # key order aside
    assert app.events == before
    assert [type(e).__name__ for e in app.engine.history("D-1")][-2:] == [
        "Activated", "Reviewed"]


def test_commands_without_an_id_of_other_content_are_not_duplicates(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "active")
    assert app.send(app.build("review", "2025-03-01", command_id=...)) is Outcome.APPLIED
    assert app.send(app.build("review", "2025-03-01", command_id=..., health=2)) \
        is Outcome.APPLIED
    assert app.send(app.build("review", "2025-03-02", command_id=...)) is Outcome.APPLIED
    # With an id, the same content is a command of its own (known by its id).
    assert app.send(app.build("review", "2025-03-01", command_id="r-1")) is Outcome.APPLIED
    assert [type(e).__name__ for e in app.engine.history("D-1")].count("Reviewed") == 4


def test_a_command_without_an_id_writes_its_content_marker_with_its_events(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "recruited")
    before = app.events
    assert app.send(app.build("select", "2025-02-02", command_id=...)) is Outcome.APPLIED
    assert app.events == before + 2  # the Selected event and the content marker


def test_a_refused_command_without_an_id_leaves_no_marker_and_may_come_again(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "recruited")
    raw = app.build("activate", "2025-02-03", command_id=...)
    app.refused_raw(raw, 4, "type")
    app.ok("select", "2025-02-02")
    app.ok("match", "2025-02-03")
    assert app.send(raw) is Outcome.APPLIED


# ---------------------------------------------------------------------- whole or nothing
def test_a_refused_recruit_leaves_neither_duo_nor_succession_behind(
        rematched: Harness) -> None:
    rematched.refused("recruit", "2026-01-02", 5, "occurred_on", duo_id="D-NEW",
                      mentee_id="E-1", predecessor_duo_id="D-OLD")
    assert rematched.ok("recruit", "2025-02-05", duo_id="D-NEW", mentee_id="E-1",
                        predecessor_duo_id="D-OLD") is Outcome.APPLIED


def test_a_command_with_an_id_writes_its_events_and_its_marker_together(
        app: Harness, new_stream: Any) -> None:
    duo_to(app, new_stream, "recruited")
    before = app.events
    app.ok("select", "2025-02-02", command_id="cmd-s")
    assert app.events == before + 2
    events = app.engine.history("D-1")
    assert isinstance(events[-1], Duo.Selected)
    assert events[-1].command_id == "cmd-s"
