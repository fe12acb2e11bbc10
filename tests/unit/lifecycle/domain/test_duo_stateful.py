"""Random command sequences against one duo, checked step by step against a plain model
of CONTRACT §2 (rules 4–11, 13, and v2's corrections and departures, rules 15 and 17).

After every step: the engine accepted exactly what the model accepts (and a refusal
names one of the rules the model finds broken); a refusal wrote nothing; the duo the
engine serves, a replay of its stored events that bypasses the aggregate cache, and a
fold of its history all equal the model. On SQLite, a brand-new engine opened on the
same file at the end of each run rebuilds the same duo.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle, Outcome
from lifecycle.domain.duo import Duo
from lifecycle.domain.errors import DomainError

TODAY = date(2026, 1, 1)
RECRUITED_ON = date(2025, 1, 10)
MENTOR_REGISTERED_ON = date(2025, 1, 5)
MENTOR_TRAINED_ON = date(2025, 1, 12)
"""The mentor completes one module a day from 2025-01-08: trained on 2025-01-12."""
OPENED_ON = date(2025, 1, 1)
LIFECYCLE_DATES = ("recruited_on", "selected_on", "matched_on", "activated_on", "closed_on")

dates = st.sampled_from([*range(-4, 11), "today", "tomorrow"])
"""A command's date: days from the duo's latest lifecycle date (so that sequences reach
every state), or today, or tomorrow (rule 5)."""
contact_ids = st.sampled_from(["K-1", "K-2", "K-3"])


@dataclass
class Model:
    """What the contract says a duo is, kept by hand."""

    state: str = "recruited"
    recruited_on: date = RECRUITED_ON
    selected_on: date | None = None
    matched_on: date | None = None
    activated_on: date | None = None
    closed_on: date | None = None
    closed_from: str | None = None
    close_reason: str | None = None
    mentor_id: str | None = None
    contacts: dict[str, tuple[date, bool]] = field(default_factory=dict)
    surveys: set[tuple[str, str]] = field(default_factory=set)
    reviews: list[date] = field(default_factory=list)
    survey_dates: list[date] = field(default_factory=list)
    departed_on: date | None = None
    version: int = 1

    @property
    def latest(self) -> date:
        return max(d for d in (self.recruited_on, self.selected_on, self.matched_on,
                               self.activated_on) if d is not None)

    def broken(self, kind: str, on: date, **f: Any) -> set[int]:
        """The rules ``kind`` on ``on`` would break (empty: it must be accepted)."""
        rules = {5} if on > TODAY else set()
        step = {"select": "recruited", "match": "selected", "activate": "matched"}
        if kind in step:
            if self.state != step[kind]:
                rules.add(4)
            if on < self.latest:
                rules.add(6)
        if kind == "match":
            if on < MENTOR_REGISTERED_ON:
                rules.add(5)
            if f["mentor_kind"] != "peer" or on < MENTOR_TRAINED_ON:
                rules.add(11)
        elif kind == "close":
            if self.state == "closed" or (f["reason"] == "completed" and self.state != "active"):
                rules.add(4)
            counted = [d for d, retracted in self.contacts.values() if not retracted]
            if on < self.latest or (counted and on < max(counted)):
                rules.add(6)
        elif kind == "log_contact":
            if (self.activated_on is None or on < self.activated_on
                    or (self.closed_on is not None and on > self.closed_on)
                    or f["contact_id"] in self.contacts):
                rules.add(7)
        elif kind == "retract_contact":
            known = self.contacts.get(f["contact_id"])
            if known is None or known[1] or on < known[0]:
                rules.add(8)
        elif kind == "review":
            if on < self.recruited_on or (self.closed_on is not None and on > self.closed_on):
                rules.add(9)
        elif kind == "record_survey" and (
                on < self.recruited_on or (f["respondent"], f["phase"]) in self.surveys):
            rules.add(10)
        elif kind == "correct" and self._correction_breaks(on, f["fact"], f["value"]):
            rules.add(15)
        elif kind == "record_departure" and (
                on < self.recruited_on or self.departed_on is not None):
            rules.add(17)
        return rules

    def _correction_breaks(self, on: date, fact: str, value: date | str) -> bool:
        """Rule 15, as a list of what the corrected duo must still keep."""
        current = getattr(self, fact)
        if current is None or value == current:
            return True
        if fact == "close_reason":
            return value == "completed" and self.closed_from != "active"
        assert isinstance(value, date)
        dates = {name: getattr(self, name) for name in LIFECYCLE_DATES} | {fact: value}
        steps = [d for d in dates.values() if d is not None]
        recruited, activated, closed = (dates["recruited_on"], dates["activated_on"],
                                        dates["closed_on"])
        counted = [d for d, retracted in self.contacts.values() if not retracted]
        return (steps != sorted(steps) or max(steps) > on or recruited < OPENED_ON
                or (fact == "matched_on" and value < MENTOR_TRAINED_ON)
                or any(activated is None or d < activated
                       or (closed is not None and d > closed) for d in counted)
                or any(closed is not None and d > closed for d in self.reviews)
                or any(d < recruited for d in [*self.reviews, *self.survey_dates])
                or (self.departed_on is not None and self.departed_on < recruited))

    def apply(self, kind: str, on: date, **f: Any) -> None:
        self.version += 1
        if kind == "select":
            self.state, self.selected_on = "selected", on
        elif kind == "match":
            self.state, self.matched_on, self.mentor_id = "matched", on, f["mentor_id"]
        elif kind == "activate":
            self.state, self.activated_on = "active", on
        elif kind == "close":
            self.closed_from, self.state = self.state, "closed"
            self.closed_on, self.close_reason = on, f["reason"]
        elif kind == "log_contact":
            self.contacts[f["contact_id"]] = (on, False)
        elif kind == "retract_contact":
            self.contacts[f["contact_id"]] = (self.contacts[f["contact_id"]][0], True)
        elif kind == "record_survey":
            self.surveys.add((f["respondent"], f["phase"]))
            self.survey_dates.append(on)
        elif kind == "review":
            self.reviews.append(on)
        elif kind == "correct":
            setattr(self, f["fact"], f["value"])
        elif kind == "record_departure":
            self.departed_on = on

    def view(self) -> dict[str, Any]:
        return {
            "state": self.state, "recruited_on": self.recruited_on,
            "selected_on": self.selected_on, "matched_on": self.matched_on,
            "activated_on": self.activated_on, "closed_on": self.closed_on,
            "closed_from": self.closed_from, "close_reason": self.close_reason,
            "mentor_id": self.mentor_id, "contacts": self.contacts, "surveys": self.surveys,
            "departed_on": self.departed_on, "version": self.version,
        }


def view(duo: Duo) -> dict[str, Any]:
    """The duo as the model sees it."""
    return {
        "state": duo.state.value, "recruited_on": duo.recruited_on,
        "selected_on": duo.selected_on, "matched_on": duo.matched_on,
        "activated_on": duo.activated_on, "closed_on": duo.closed_on,
        "closed_from": duo.closed_from and duo.closed_from.value,
        "close_reason": duo.close_reason and duo.close_reason.value,
        "mentor_id": duo.mentor_id,
        "contacts": {k: (c.occurred_on, c.retracted) for k, c in duo.contacts.items()},
        "surveys": {(r.value, p.value) for r, p in duo.surveys},
        "departed_on": duo.departed_on, "version": duo.version,
    }


def fold(events: list[Any]) -> Duo:
    duo = None
    for event in events:
        duo = event.mutate(duo)
    assert isinstance(duo, Duo)
    return duo


def machine_for(backend: str, base: Any, command: Any, submit: Any,
                event_count: Any) -> type[RuleBasedStateMachine]:
    """The state machine, closed over the suite's stream and command builders."""

    class DuoCommands(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.folder: Path | None = None
            if backend == "sqlite":
                self.folder = Path(tempfile.mkdtemp(prefix="duo-stateful-"))
                self.env = resolve_target(str(self.folder / "store.db")).env
            else:
                self.env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
            self.engine = Lifecycle(self.env, today=lambda: TODAY)
            world = base(policy={"mentor_kinds": ["peer"]}, opened_on="2025-01-01",
                         trained=False)
            world.add("register_mentor", MENTOR_REGISTERED_ON, mentor_id="M-2")
            world.train("M-2", MENTOR_TRAINED_ON - timedelta(days=4))
            world.add("recruit", RECRUITED_ON, duo_id="D-1")
            world.apply(self.engine)
            self.model = Model()
            self.sent = 0
            self.accepted: list[dict[str, Any]] = []

        def send(self, kind: str, when: int | str, anchor: date | None = None,
                 **fields: Any) -> None:
            """Send ``kind`` dated ``when``: days after ``anchor`` (by default the duo's
            latest lifecycle date), or ``"today"``, or ``"tomorrow"``."""
            self.sent += 1
            on = {"today": TODAY, "tomorrow": TODAY + timedelta(days=1)}.get(
                str(when)) or (anchor or self.model.latest) + timedelta(days=int(when))
            model_fields = dict(fields)
            if kind == "correct":  # the command carries the value as JSON text
                value = fields["value"]
                fields = {**fields, "value": value.isoformat() if isinstance(value, date)
                          else value}
            raw = command(kind, on, command_id=f"x-{self.sent}", **fields)
            expected = self.model.broken(kind, on, **model_fields)
            before = event_count(self.engine)
            try:
                outcome = submit(self.engine, raw)
            except DomainError as error:
                assert expected, f"{kind} {on} {fields} was refused: {error}"
                assert error.rule in expected, f"{error} but the model finds {expected}"
                assert event_count(self.engine) == before, "a refused command wrote events"
            else:
                assert not expected, f"{kind} {on} {fields} was accepted, breaking {expected}"
                assert outcome is Outcome.APPLIED
                # The event and its id marker (and a departure's chain marker).
                written = 3 if kind == "record_departure" else 2
                assert event_count(self.engine) == before + written
                self.model.apply(kind, on, **model_fields)
                self.accepted.append(raw)

        @initialize(start=st.sampled_from(["recruited", "selected", "matched", "active"]))
        def start_in(self, start: str) -> None:
            """Runs start in any open state (valid steps two days apart)."""
            while self.model.state != start:
                self.step_forward(2)

        @precondition(lambda self: self.model.state in ("recruited", "selected", "matched"))
        @rule(days=st.integers(min_value=0, max_value=6))
        def step_forward(self, days: int) -> None:
            """The next lifecycle step on a valid date (so that runs reach every state)."""
            trigger = {"recruited": "select", "selected": "match",
                       "matched": "activate"}[self.model.state]
            fields = {"mentor_id": "M-2", "mentor_kind": "peer"} if trigger == "match" else {}
            self.send(trigger, days, **fields)

        @rule(trigger=st.sampled_from(["select", "match", "activate"]), on=dates,
              kind=st.sampled_from(["peer", "peer", "supervisor"]))
        def transition(self, trigger: str, on: int | str, kind: str) -> None:
            """Any lifecycle step on any date, allowed or not."""
            fields = {"mentor_id": "M-2", "mentor_kind": kind} if trigger == "match" else {}
            self.send(trigger, on, **fields)

        @rule(on=dates, contact_id=contact_ids)
        def log_contact(self, on: int | str, contact_id: str) -> None:
            self.send("log_contact", on, contact_id=contact_id,
                      anchor=self.model.activated_on)

        @rule(on=dates, contact_id=contact_ids)
        def retract_contact(self, on: int | str, contact_id: str) -> None:
            logged = self.model.contacts.get(contact_id)
            self.send("retract_contact", on, contact_id=contact_id,
                      anchor=logged and logged[0])

        @rule(on=dates)
        def review(self, on: int | str) -> None:
            self.send("review", on)

        @rule(on=dates, respondent=st.sampled_from(["mentee", "mentor"]),
              phase=st.sampled_from(["pre", "post"]))
        def record_survey(self, on: int | str, respondent: str, phase: str) -> None:
            self.send("record_survey", on, respondent=respondent, phase=phase)

        @precondition(lambda self: self.model.state in ("active", "closed")
                      or self.sent % 4 == 0)  # else most runs end before any contact
        @rule(on=dates, reason=st.sampled_from(["completed", "rematched", "mismatch"]))
        def close(self, on: int | str, reason: str) -> None:
            self.send("close", on, reason=reason)

        @rule(fact=st.sampled_from(LIFECYCLE_DATES), shift=st.integers(-5, 5),
              on=st.one_of(st.just("today"), dates))  # usually made long after
        def correct_a_date(self, fact: str, shift: int, on: int | str) -> None:
            """Rule 15: a date moved a few days either way (or a fact not reached)."""
            current = getattr(self.model, fact) or self.model.latest
            self.send("correct", on, fact=fact, value=current + timedelta(days=shift))

        @rule(reason=st.sampled_from(["completed", "mismatch", "other"]),
              on=st.one_of(st.just("today"), dates))
        def correct_the_close_reason(self, reason: str, on: int | str) -> None:
            self.send("correct", on, fact="close_reason", value=reason)

        @rule(on=dates, reason=st.sampled_from(["resigned", "other"]))
        def record_departure(self, on: int | str, reason: str) -> None:
            self.send("record_departure", on, anchor=self.model.recruited_on, reason=reason)

        @precondition(lambda self: bool(self.accepted))
        @rule(data=st.data())
        def resend(self, data: st.DataObject) -> None:
            """Rule 13: an accepted command sent again is a duplicate; changed, a refusal."""
            raw = data.draw(st.sampled_from(self.accepted))
            before = event_count(self.engine)
            assert submit(self.engine, dict(reversed(list(raw.items())))) is Outcome.DUPLICATE
            changed = {**raw, "occurred_on": "2025-01-01"}
            with pytest.raises(DomainError) as refused:
                submit(self.engine, changed)
            assert refused.value.rule == 13
            assert event_count(self.engine) == before

        @invariant()
        def the_duo_and_a_replay_of_its_stored_events_equal_the_model(self) -> None:
            served = self.engine.get_duo("D-1")
            assert view(served) == self.model.view()
            replayed = self.engine.app.repository.get("duo:D-1", version=served.version)
            assert view(replayed) == self.model.view()

        def teardown(self) -> None:
            try:
                assert view(fold(self.engine.history("D-1"))) == self.model.view()
                if self.folder is not None:
                    with Lifecycle(self.env, today=lambda: TODAY) as fresh:
                        assert view(fresh.get_duo("D-1")) == self.model.view()
            finally:
                self.engine.shutdown()
                if self.folder is not None:
                    shutil.rmtree(self.folder, ignore_errors=True)

    return DuoCommands


@pytest.mark.parametrize(("backend", "examples", "steps"),
                         [("memory", 60, 30), ("sqlite", 10, 25)])
def test_random_command_sequences_follow_the_rules_and_replay_to_the_same_duo(
        new_stream: Any, cmd: Any, submit: Any, event_count: Any,
        backend: str, examples: int, steps: int) -> None:
    def base(**kwargs: Any) -> Any:
        return new_stream("base").base(**kwargs)

    machine = machine_for(backend, base, cmd, submit, event_count)
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None,
        suppress_health_check=[HealthCheck.too_slow], database=None))


COUNTEREXAMPLES = [
    # A close dated on the match day of a duo activated the day after breaks rule 6: the
    # activation date is part of the latest lifecycle date.
    pytest.param([("start_in", {"start": "recruited"}),
                  ("transition", {"trigger": "select", "on": 2, "kind": "peer"}),
                  ("step_forward", {"days": 0}), ("step_forward", {"days": 1}),
                  ("close", {"on": -1, "reason": "completed"})],
                 id="close-between-match-and-activation"),
    pytest.param([("start_in", {"start": "recruited"}), ("step_forward", {"days": 0}),
                  ("step_forward", {"days": 2}), ("step_forward", {"days": 1}),
                  ("close", {"on": -1, "reason": "completed"})],
                 id="close-between-match-and-activation-two-days-on"),
    # A review on the recruitment day is allowed (rule 9).
    pytest.param([("start_in", {"start": "selected"}), ("review", {"on": -2})],
                 id="review-on-the-recruitment-day"),
]
"""Sequences the random runs found (shrunk by hypothesis) against a duo with a mutation
(``activated_on`` left out of ``latest_lifecycle_date``; ``<`` turned into ``<=`` in
``review``), kept as fixed cases: the random runs find them only by chance."""


@pytest.mark.parametrize("steps", COUNTEREXAMPLES)
def test_sequences_the_random_runs_found_follow_the_rules(
        new_stream: Any, cmd: Any, submit: Any, event_count: Any,
        steps: list[tuple[str, dict[str, Any]]]) -> None:
    def base(**kwargs: Any) -> Any:
        return new_stream("base").base(**kwargs)

    machine = machine_for("memory", base, cmd, submit, event_count)()
    try:
        for name, arguments in steps:
            getattr(machine, name)(**arguments)
            machine.the_duo_and_a_replay_of_its_stored_events_equal_the_model()
    finally:
        machine.teardown()
