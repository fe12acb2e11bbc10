"""The simulator's streams: accepted under every rule of CONTRACT §2, and pilot-shaped.

``ContractChecker`` below is an independent, plain-Python re-reading of the contract's
rules 1-15 and 17 (it shares no code with the engine), strict enough to prove that every
line of a generated stream would be applied by an empty store.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import lifecycle.simulate
from lifecycle.simulate import generate, write_jsonl

TODAY = datetime.now(UTC).date()
ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MODULES = {"introduction", "communication", "interpersonal", "pedagogical", "organisational"}
CLOSE_REASONS = {"completed", "programme_ended", "rematched", "mentee_withdrew",
                 "mentor_withdrew", "mentee_left_service", "mentor_left_service", "mismatch",
                 "no_mentor_available", "other"}
DROPOUT_REASONS = CLOSE_REASONS - {"completed", "programme_ended", "rematched"}
POLICY_INTS = ("min_duration_days", "max_duration_days", "contact_interval_days",
               "first_meeting_within_days", "reviews_first_interval", "review_interval_days",
               "max_duos_per_mentor")
LIFECYCLE_DATES = ("recruited", "selected", "matched", "activated", "closed")

# type → (required fields, optional fields), besides type, occurred_on, command_id.
FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "open_programme": ({"programme_id", "name", "country"}, {"policy"}),
    "register_site": ({"site_id", "programme_id", "name", "setting"}, set()),
    "register_mentor": ({"mentor_id", "programme_id", "site_id", "department", "shifts",
                         "years_experience"}, set()),
    "record_training": ({"mentor_id", "module"}, set()),
    "recruit": ({"duo_id", "programme_id", "site_id", "mentee_id", "newcomer_kind",
                 "department", "shifts"}, {"predecessor_duo_id"}),
    "select": ({"duo_id", "consent"}, set()),
    "match": ({"duo_id", "mentor_id", "mentor_kind"}, set()),
    "activate": ({"duo_id"}, set()),
    "log_contact": ({"duo_id", "contact_id", "minutes", "mode", "functions"}, set()),
    "retract_contact": ({"duo_id", "contact_id", "reason"}, set()),
    "review": ({"duo_id", "health"}, set()),
    "record_survey": ({"duo_id", "respondent", "phase", "scores"}, set()),
    "close": ({"duo_id", "reason"}, {"initiated_by", "exit_interview"}),
    "deregister_mentor": ({"mentor_id", "reason"}, set()),
    "correct": ({"duo_id", "fact", "value"}, set()),
    "record_departure": ({"duo_id", "reason"}, set()),
}
ENUMS: dict[str, set[str]] = {
    "setting": {"adult", "youth", "mixed"},
    "module": MODULES,
    "newcomer_kind": {"new_to_profession", "transferred", "new_setting"},
    "mentor_kind": {"peer", "supervisor"},
    "mode": {"in_person", "phone", "video", "message", "on_shift"},
    "respondent": {"mentee", "mentor"},
    "phase": {"pre", "post"},
    "initiated_by": {"mentee", "mentor", "coordinator", "organisation"},
}
ID_FIELDS = {"programme_id", "site_id", "mentor_id", "mentee_id", "duo_id", "contact_id",
             "predecessor_duo_id", "command_id"}


class Rejected(Exception):
    """A command the contract rejects; the message names the rule."""


def _need(condition: bool, rule: str) -> None:
    if not condition:
        raise Rejected(rule)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fields(cmd: dict[str, Any]) -> None:
    """Rule 1: every field present, of the right type and value set; nothing unknown."""
    _need(isinstance(cmd.get("type"), str) and cmd["type"] in FIELDS, "1:type")
    required, optional = FIELDS[cmd["type"]]
    keys = set(cmd) - {"type", "occurred_on", "command_id"}
    _need("occurred_on" in cmd and required <= keys <= required | optional, "1:fields")
    text = cmd["occurred_on"]
    _need(isinstance(text, str) and DATE.fullmatch(text) is not None, "1:occurred_on")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise Rejected("1:occurred_on") from None
    for name, value in cmd.items():
        if name in ID_FIELDS:
            _need(isinstance(value, str) and ID.fullmatch(value) is not None, f"1:{name}")
        elif name in ENUMS:
            _need(value in ENUMS[name], f"1:{name}")
        elif name == "name":
            _need(isinstance(value, str) and 1 <= len(value) <= 200, f"1:{name}")
        elif name == "department":  # a code since v2
            _need(isinstance(value, str) and ID.fullmatch(value) is not None, f"1:{name}")
    kind = cmd["type"]
    if kind == "open_programme":
        _need(isinstance(cmd["country"], str) and re.fullmatch(r"[A-Z]{2}", cmd["country"])
              is not None, "1:country")
        if "policy" in cmd:
            _check_policy(cmd["policy"])
    elif kind in ("register_mentor", "recruit"):
        shifts = cmd["shifts"]
        _need(isinstance(shifts, list)
              and all(isinstance(s, str) and ID.fullmatch(s) for s in shifts), "1:shifts")
        if kind == "register_mentor":
            _need(_is_int(cmd["years_experience"]) and cmd["years_experience"] >= 0,
                  "1:years_experience")
    elif kind == "select":
        _need(cmd["consent"] is True, "1:consent")
    elif kind == "log_contact":
        _need(_is_int(cmd["minutes"]) and 1 <= cmd["minutes"] <= 1440, "1:minutes")
        functions = cmd["functions"]
        _need(isinstance(functions, list) and 0 < len(functions) == len(set(functions))
              and set(functions) <= {"psychosocial", "career"}, "1:functions")
    elif kind == "retract_contact":
        _need(cmd["reason"] in {"duplicate", "wrong_duo", "did_not_happen"}, "1:reason")
    elif kind == "review":
        _need(_is_int(cmd["health"]) and 1 <= cmd["health"] <= 5, "1:health")
    elif kind == "record_survey":
        scores = cmd["scores"]
        _need(isinstance(scores, dict)
              and set(scores) == {"wellbeing", "stress", "integration", "confidence"}
              and all(_is_int(v) and 1 <= v <= 5 for v in scores.values()), "1:scores")
    elif kind == "close":
        _need(cmd["reason"] in CLOSE_REASONS, "1:reason")
        _need(isinstance(cmd.get("exit_interview", False), bool), "1:exit_interview")
    elif kind == "deregister_mentor":
        _need(cmd["reason"] in {"left_service", "withdrew", "other"}, "1:reason")
    elif kind == "record_departure":
        _need(cmd["reason"] in {"resigned", "dismissed", "retired", "other"}, "1:reason")
    elif kind == "correct":
        fact, value = cmd["fact"], cmd["value"]
        _need(fact in {f"{d}_on" for d in LIFECYCLE_DATES} | {"close_reason"}, "1:fact")
        if fact == "close_reason":
            _need(value in CLOSE_REASONS, "1:value")
        else:
            _need(isinstance(value, str) and DATE.fullmatch(value) is not None, "1:value")
            date.fromisoformat(value)


def _check_policy(policy: Any) -> None:
    allowed = {*POLICY_INTS, "mentor_kinds", "require_trained_mentor"}
    _need(isinstance(policy, dict) and set(policy) <= allowed, "1:policy")
    for key in POLICY_INTS:
        _need(_is_int(policy.get(key, 1)) and policy.get(key, 1) >= 1, f"1:policy.{key}")
    kinds = policy.get("mentor_kinds", ["peer"])
    _need(isinstance(kinds, list) and kinds != []
          and all(k in ("peer", "supervisor") for k in kinds), "1:policy.mentor_kinds")
    _need(isinstance(policy.get("require_trained_mentor", True), bool), "1:policy.require")
    _need(policy.get("min_duration_days", 182) <= policy.get("max_duration_days", 365),
          "1:policy.durations")


@dataclass
class Duo:
    programme: str
    site: str
    mentee: str
    recruited: date
    state: str = "recruited"
    selected: date | None = None
    matched: date | None = None
    activated: date | None = None
    closed: date | None = None
    closed_from: str | None = None
    reason: str | None = None
    mentor: str | None = None
    contacts: dict[str, list[Any]] = field(default_factory=dict)  # id → [date, retracted]
    surveys: set[tuple[str, str]] = field(default_factory=set)
    reviews: list[date] = field(default_factory=list)
    survey_days: list[date] = field(default_factory=list)
    first: str = ""
    """The first duo of the duo's chain (rule 17)."""
    successor: str | None = None

    @property
    def latest(self) -> date:
        return max(d for d in (self.recruited, self.selected, self.matched, self.activated)
                   if d is not None)


class ContractChecker:
    """Applies commands to a minimal model of the store, raising ``Rejected`` per rule."""

    def __init__(self, today: date = TODAY) -> None:
        self.today = today
        self.programmes: dict[str, tuple[date, dict[str, Any]]] = {}
        self.sites: dict[str, tuple[str, date]] = {}
        self.mentors: dict[str, tuple[str, str, date, dict[str, date]]] = {}
        self.left: dict[str, date] = {}
        self.duos: dict[str, Duo] = {}
        self.departed: dict[str, date] = {}  # first duo of a chain → its departure
        self.commands: dict[str, dict[str, Any]] = {}

    def apply(self, cmd: dict[str, Any]) -> None:
        _check_fields(cmd)
        command_id = cmd.get("command_id")
        if command_id is not None:
            # Rule 13; a generated stream never repeats an id, not even as a duplicate.
            _need(command_id not in self.commands, "13:command_id")
        day = date.fromisoformat(cmd["occurred_on"])
        _need(day <= self.today, "5:future")
        getattr(self, "_" + cmd["type"])(cmd, day)
        if command_id is not None:
            self.commands[command_id] = cmd

    def _new_id(self, value: str) -> None:
        taken = (value in self.programmes or value in self.sites or value in self.mentors
                 or value in self.duos)
        _need(not taken, "2:exists")

    def _programme(self, programme_id: str) -> tuple[date, dict[str, Any]]:
        _need(programme_id in self.programmes, "2:programme")
        return self.programmes[programme_id]

    def _duo(self, duo_id: str) -> Duo:
        _need(duo_id in self.duos, "2:duo")
        return self.duos[duo_id]

    def _open_programme(self, cmd: dict[str, Any], day: date) -> None:
        self._new_id(cmd["programme_id"])
        self.programmes[cmd["programme_id"]] = (day, cmd.get("policy", {}))

    def _register_site(self, cmd: dict[str, Any], day: date) -> None:
        self._new_id(cmd["site_id"])
        opened, _ = self._programme(cmd["programme_id"])
        _need(day >= opened, "5:site_before_programme")
        self.sites[cmd["site_id"]] = (cmd["programme_id"], day)

    def _register_mentor(self, cmd: dict[str, Any], day: date) -> None:
        self._new_id(cmd["mentor_id"])
        opened, _ = self._programme(cmd["programme_id"])
        _need(cmd["site_id"] in self.sites, "2:site")
        _need(self.sites[cmd["site_id"]][0] == cmd["programme_id"], "3:site_programme")
        _need(day >= opened, "5:mentor_before_programme")
        self.mentors[cmd["mentor_id"]] = (cmd["programme_id"], cmd["site_id"], day, {})

    def _record_training(self, cmd: dict[str, Any], day: date) -> None:
        _need(cmd["mentor_id"] in self.mentors, "2:mentor")
        _, _, registered, modules = self.mentors[cmd["mentor_id"]]
        _need(day >= registered, "5:training_before_registration")
        modules[cmd["module"]] = min(day, modules.get(cmd["module"], day))

    def _recruit(self, cmd: dict[str, Any], day: date) -> None:
        self._new_id(cmd["duo_id"])
        opened, _ = self._programme(cmd["programme_id"])
        _need(cmd["site_id"] in self.sites, "2:site")
        _need(self.sites[cmd["site_id"]][0] == cmd["programme_id"], "3:site_programme")
        _need(day >= opened, "5:recruit_before_programme")
        if "predecessor_duo_id" in cmd:
            old = self._duo(cmd["predecessor_duo_id"])
            _need(old.mentee == cmd["mentee_id"] and old.programme == cmd["programme_id"],
                  "12:same_mentee_programme")
            _need(old.reason == "rematched" and old.closed is not None and old.closed <= day,
                  "12:closed_rematched")
            _need(old.successor is None, "12:one_successor")
            old.successor = cmd["duo_id"]
        first = (self.duos[cmd["predecessor_duo_id"]].first if "predecessor_duo_id" in cmd
                 else cmd["duo_id"])
        self.duos[cmd["duo_id"]] = Duo(cmd["programme_id"], cmd["site_id"], cmd["mentee_id"],
                                       day, first=first)

    def _step(self, cmd: dict[str, Any], day: date, source: str, target: str) -> Duo:
        duo = self._duo(cmd["duo_id"])
        _need(duo.state == source, "4:transition")
        _need(day >= duo.latest, "6:before_lifecycle")
        duo.state = target
        return duo

    def _select(self, cmd: dict[str, Any], day: date) -> None:
        self._step(cmd, day, "recruited", "selected").selected = day

    def _match(self, cmd: dict[str, Any], day: date) -> None:
        duo = self._duo(cmd["duo_id"])
        _need(cmd["mentor_id"] in self.mentors, "2:mentor")
        programme, site, registered, modules = self.mentors[cmd["mentor_id"]]
        _need(programme == duo.programme, "3:mentor_programme")
        _need(site == duo.site, "3:same_site")
        _need(day >= registered, "5:match_before_registration")
        _, policy = self.programmes[duo.programme]
        _need(cmd["mentor_kind"] in policy.get("mentor_kinds", ["peer", "supervisor"]),
              "11:mentor_kind")
        if policy.get("require_trained_mentor", True):
            _need(set(modules) == MODULES and max(modules.values()) <= day, "11:untrained")
        _need(self.left.get(cmd["mentor_id"], date.max) > day, "11:deregistered")
        matched = self._step(cmd, day, "selected", "matched")
        matched.matched, matched.mentor = day, cmd["mentor_id"]

    def _activate(self, cmd: dict[str, Any], day: date) -> None:
        self._step(cmd, day, "matched", "active").activated = day

    def _close(self, cmd: dict[str, Any], day: date) -> None:
        duo = self._duo(cmd["duo_id"])
        _need(duo.state != "closed", "4:transition")
        _need(cmd["reason"] != "completed" or duo.state == "active", "4:completed")
        live = [d for d, retracted in duo.contacts.values() if not retracted]
        _need(not live or day >= max(live), "6:close_before_contact")
        duo.closed_from = duo.state
        self._step(cmd, day, duo.state, "closed")
        duo.closed = day
        duo.reason = cmd["reason"]

    def _log_contact(self, cmd: dict[str, Any], day: date) -> None:
        duo = self._duo(cmd["duo_id"])
        _need(duo.activated is not None and duo.activated <= day, "7:not_active")
        _need(duo.closed is None or day <= duo.closed, "7:after_close")
        _need(cmd["contact_id"] not in duo.contacts, "7:contact_id")
        duo.contacts[cmd["contact_id"]] = [day, False]

    def _retract_contact(self, cmd: dict[str, Any], day: date) -> None:
        duo = self._duo(cmd["duo_id"])
        contact = duo.contacts.get(cmd["contact_id"])
        _need(contact is not None and not contact[1], "8:contact")
        assert contact is not None
        _need(day >= contact[0], "8:before_contact")
        contact[1] = True

    def _review(self, cmd: dict[str, Any], day: date) -> None:
        duo = self._duo(cmd["duo_id"])
        _need(day >= duo.recruited, "9:before_recruit")
        _need(duo.closed is None or day <= duo.closed, "9:after_close")
        duo.reviews.append(day)

    def _record_survey(self, cmd: dict[str, Any], day: date) -> None:
        duo = self._duo(cmd["duo_id"])
        _need(day >= duo.recruited, "10:before_recruit")
        key = (cmd["respondent"], cmd["phase"])
        _need(key not in duo.surveys, "10:twice")
        duo.surveys.add(key)
        duo.survey_days.append(day)

    def _deregister_mentor(self, cmd: dict[str, Any], day: date) -> None:
        _need(cmd["mentor_id"] in self.mentors, "2:mentor")
        _need(cmd["mentor_id"] not in self.left, "14:twice")
        _need(day >= self.mentors[cmd["mentor_id"]][2], "14:before_registration")
        self.left[cmd["mentor_id"]] = day

    def _record_departure(self, cmd: dict[str, Any], day: date) -> None:
        duo = self._duo(cmd["duo_id"])
        _need(day >= self.duos[duo.first].recruited, "17:before_chain")
        _need(duo.first not in self.departed, "17:twice")
        self.departed[duo.first] = day

    def _correct(self, cmd: dict[str, Any], day: date) -> None:
        duo = self._duo(cmd["duo_id"])
        fact = cmd["fact"].removesuffix("_on")
        if fact == "close_reason":
            _need(duo.reason is not None and duo.reason != cmd["value"], "15:same")
            _need(duo.successor is None, "15:predecessor")
            _need(cmd["value"] != "completed" or duo.closed_from == "active", "15:completed")
            duo.reason = cmd["value"]
            return
        value = date.fromisoformat(cmd["value"])
        _need(getattr(duo, fact) not in (None, value), "15:same")
        days = {name: getattr(duo, name) for name in LIFECYCLE_DATES} | {fact: value}
        steps = [d for d in days.values() if d is not None]
        _need(steps == sorted(steps) and steps[-1] <= day, "15:order")
        _need(days["recruited"] >= self.programmes[duo.programme][0], "15:programme")
        if fact == "matched":
            _, _, registered, modules = self.mentors[duo.mentor or ""]
            _need(value >= registered and max(modules.values()) <= value
                  and self.left.get(duo.mentor or "", date.max) > value, "15:mentor")
        live = [d for d, retracted in duo.contacts.values() if not retracted]
        activated, closed = days["activated"], days["closed"]
        _need(all(activated is not None and activated <= d
                  and (closed is None or d <= closed) for d in live), "15:contacts")
        _need(all(closed is None or d <= closed for d in duo.reviews), "15:reviews")
        _need(all(d >= days["recruited"] for d in [*duo.reviews, *duo.survey_days]),
              "15:recruited")
        setattr(duo, fact, value)


def check_stream(commands: Iterable[dict[str, Any]]) -> ContractChecker:
    """Applies every command, failing with the line number and rule of the first rejection."""
    checker = ContractChecker()
    for line, cmd in enumerate(commands, start=1):
        try:
            checker.apply(cmd)
        except Rejected as error:
            pytest.fail(f"line {line} rejected by rule {error}: {cmd}")
    return checker


def first_rejection(commands: Iterable[dict[str, Any]]) -> str | None:
    checker = ContractChecker()
    try:
        for cmd in commands:
            checker.apply(cmd)
    except Rejected as error:
        return str(error)
    return None


def _earlier(day: str, days: int = 1) -> str:
    return (date.fromisoformat(day) - timedelta(days=days)).isoformat()


def _contact_before_activation(commands: list[dict[str, Any]]) -> None:
    contact = next(c for c in commands if c["type"] == "log_contact")
    activation = next(c for c in commands
                      if c["type"] == "activate" and c["duo_id"] == contact["duo_id"])
    contact["occurred_on"] = _earlier(activation["occurred_on"])


def _survey_twice(commands: list[dict[str, Any]]) -> None:
    index, survey = next((i, c) for i, c in enumerate(commands) if c["type"] == "record_survey")
    commands.insert(index + 1, dict(survey, command_id="again"))


def _retraction_before_contact(commands: list[dict[str, Any]]) -> None:
    retraction = next(c for c in commands if c["type"] == "retract_contact")
    contact = next(c for c in commands if c["type"] == "log_contact"
                   and (c["duo_id"], c["contact_id"]) == (retraction["duo_id"],
                                                          retraction["contact_id"]))
    retraction["occurred_on"] = _earlier(contact["occurred_on"])


def _supervisor_where_only_peers(commands: list[dict[str, Any]]) -> None:
    duos = {c["duo_id"] for c in commands
            if c["type"] == "recruit" and c["programme_id"] == "RO-2025"}
    next(c for c in commands if c["type"] == "match" and c["duo_id"] in duos)[
        "mentor_kind"] = "supervisor"


def _unknown_field(commands: list[dict[str, Any]]) -> None:
    next(c for c in commands if c["type"] == "review")["note"] = "x"


def _close_before_contact(commands: list[dict[str, Any]]) -> None:
    close = next(c for c in commands if c["type"] == "close" and c["reason"] == "completed")
    contacts = [c for c in commands[:commands.index(close)]
                if c["type"] == "log_contact" and c["duo_id"] == close["duo_id"]]
    close["occurred_on"] = _earlier(contacts[-1]["occurred_on"])


def _match_after_the_mentor_left(commands: list[dict[str, Any]]) -> None:
    matched = {c["mentor_id"]: c for c in reversed(commands) if c["type"] == "match"}
    leaving = next(c for c in commands if c["type"] == "deregister_mentor"
                   and c["mentor_id"] in matched)
    match = matched[leaving["mentor_id"]]
    leaving["occurred_on"] = match["occurred_on"]
    commands.remove(leaving)
    commands.insert(commands.index(match), leaving)


def _second_departure(commands: list[dict[str, Any]]) -> None:
    index, departure = next((i, c) for i, c in enumerate(commands)
                            if c["type"] == "record_departure")
    commands.insert(index + 1, dict(departure, command_id="again"))


def _activation_corrected_past_the_closure(commands: list[dict[str, Any]]) -> None:
    correction = next(c for c in commands if c["type"] == "correct"
                      and c["fact"] == "activated_on")
    close = next(c for c in commands if c["type"] == "close"
                 and c["duo_id"] == correction["duo_id"])
    correction["value"] = (date.fromisoformat(close["occurred_on"])
                           + timedelta(days=1)).isoformat()
    correction["occurred_on"] = max(correction["occurred_on"], correction["value"])
    commands.remove(correction)
    commands.insert(commands.index(close) + 1, correction)


@pytest.mark.parametrize(("mutate", "rule"), [
    (_match_after_the_mentor_left, "11:deregistered"),
    (_second_departure, "17:twice"),
    (_activation_corrected_past_the_closure, "15:order"),
    (_contact_before_activation, "7:not_active"),
    (_survey_twice, "10:twice"),
    (_retraction_before_contact, "8:before_contact"),
    (_supervisor_where_only_peers, "11:mentor_kind"),
    (_unknown_field, "1:fields"),
    (_close_before_contact, "6:close_before_contact"),
])
def test_the_checker_is_not_vacuous(
        mutate: Callable[[list[dict[str, Any]]], None], rule: str) -> None:
    """Each breach of a rule, planted in a valid stream, is caught by the checker."""
    commands = list(generate(6, 300))
    assert first_rejection(commands) is None
    mutate(commands)
    assert first_rejection(commands) == rule


@dataclass
class Stats:
    """Shape of a stream, measured the way the report (CONTRACT §4) counts."""

    commands: list[dict[str, Any]]
    checker: ContractChecker
    types: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    stages: Counter[str] = field(default_factory=Counter)
    retract_reasons: Counter[str] = field(default_factory=Counter)
    late_types: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, commands: list[dict[str, Any]]) -> Stats:
        stats = cls(commands, check_stream(commands))
        state: dict[str, str] = {}
        newest = ""
        for cmd in commands:
            stats.types[cmd["type"]] += 1
            if cmd["occurred_on"] < newest:
                stats.late_types[cmd["type"]] += 1
            newest = max(newest, cmd["occurred_on"])
            kind = cmd["type"]
            if kind in ("recruit", "select", "match", "activate"):
                state[cmd["duo_id"]] = {"recruit": "recruited", "select": "selected",
                                        "match": "matched", "activate": "active"}[kind]
            elif kind == "close":
                stats.reasons[cmd["reason"]] += 1
                if cmd["reason"] in DROPOUT_REASONS:
                    stats.stages[state[cmd["duo_id"]]] += 1
            elif kind == "retract_contact":
                stats.retract_reasons[cmd["reason"]] += 1
        return stats

    @property
    def late_entries(self) -> int:
        """Lines dated before a line above them."""
        return sum(self.late_types.values())

    @property
    def duos(self) -> int:
        return self.types["recruit"]

    @property
    def dropout_rate(self) -> float:
        return sum(self.stages.values()) / self.duos


@pytest.fixture(scope="module")
def medium() -> Stats:
    return Stats.of(list(generate(2025, 500)))


@pytest.mark.parametrize(("seed", "duos"), [(1, 20), (2, 50), (3, 120), (42, 200), (-7, 35)])
def test_every_line_of_a_generated_stream_is_accepted(seed: int, duos: int) -> None:
    stats = Stats.of(list(generate(seed, duos)))
    assert stats.duos == duos
    assert len(stats.checker.duos) == duos


def test_a_medium_stream_is_accepted_and_recruits_exactly_the_duos_asked(medium: Stats) -> None:
    assert medium.duos == 500
    assert all(duo.state == "closed" for duo in medium.checker.duos.values())


def test_the_same_seed_gives_the_same_stream_and_another_seed_another() -> None:
    first = list(generate(11, 80))
    assert first == list(generate(11, 80))
    assert first != list(generate(12, 80))


def test_command_ids_are_unique_and_follow_the_file_order() -> None:
    commands = list(generate(5, 60))
    assert [c["command_id"] for c in commands] == [
        f"sim5-{n:07d}" for n in range(1, len(commands) + 1)]


def test_four_pilot_programmes_with_differing_policies(medium: Stats) -> None:
    openings = {c["programme_id"]: c for c in medium.commands if c["type"] == "open_programme"}
    assert set(openings) == {"DK-2025", "PT-2025", "RO-2025", "GR-2025"}
    policies = [c.get("policy", {}) for c in openings.values()]
    assert any(p.get("mentor_kinds") == ["peer"] for p in policies)
    assert any(p.get("require_trained_mentor") is False for p in policies)
    assert len({p.get("contact_interval_days", 14) for p in policies}) >= 3
    sites = [c for c in medium.commands if c["type"] == "register_site"]
    assert {c["setting"] for c in sites} == {"adult", "youth", "mixed"}
    assert all(2 <= n <= 8 for n in Counter(c["programme_id"] for c in sites).values())


def test_mentor_pools_scale_with_duos_and_training_varies(medium: Stats) -> None:
    mentors = medium.checker.mentors
    assert 500 / 3.5 <= len(mentors) <= 500 / 2
    complete = [m for m in mentors.values() if set(m[3]) == MODULES]
    assert len(mentors) * 0.1 <= len(mentors) - len(complete)  # some never fully trained
    late = [m for m in complete if (max(m[3].values()) - m[2]).days > 60]
    assert late
    trainings = Counter((c["mentor_id"], c["module"]) for c in medium.commands
                        if c["type"] == "record_training")
    assert any(n > 1 for n in trainings.values())  # refreshers
    assert {tuple(c["shifts"]) for c in medium.commands if c["type"] == "register_mentor"} > {
        ("early",), ("late",), ("night",)}


def test_dropout_rate_is_around_a_third(medium: Stats) -> None:
    assert 0.28 <= medium.dropout_rate <= 0.42


def test_every_close_reason_and_every_dropout_stage_occurs(medium: Stats) -> None:
    assert set(medium.reasons) == CLOSE_REASONS
    assert set(medium.stages) == {"recruited", "selected", "matched", "active"}
    assert sum(medium.reasons.values()) == medium.duos


def test_rematches_keep_mentee_programme_and_site(medium: Stats) -> None:
    recruits = {c["duo_id"]: c for c in medium.commands if c["type"] == "recruit"}
    successors = [c for c in recruits.values() if "predecessor_duo_id" in c]
    assert successors
    assert len(successors) == medium.reasons["rematched"]
    for new in successors:
        old = recruits[new["predecessor_duo_id"]]
        assert (old["mentee_id"], old["programme_id"], old["site_id"]) == (
            new["mentee_id"], new["programme_id"], new["site_id"])


def test_there_are_late_entries_and_retractions_of_every_kind(medium: Stats) -> None:
    assert medium.late_entries > 0
    assert set(medium.retract_reasons) == {"duplicate", "wrong_duo", "did_not_happen"}


def test_file_order_is_chronological_but_for_late_entries(medium: Stats) -> None:
    """Late: contacts entered after the day, and activations typed a few days early."""
    assert medium.late_entries <= 0.08 * len(medium.commands)
    assert set(medium.late_types) == {"log_contact", "activate"}


def test_a_large_stream_starts_streaming_at_once() -> None:
    """Only the mentor pools are planned up front; duos are planned as they are recruited."""
    head = list(itertools.islice(generate(1, 100_000), 2000))
    assert len(head) == 2000
    check_stream(head)


def test_about_fifty_commands_per_duo(medium: Stats) -> None:
    assert 40 <= len(medium.commands) / medium.duos <= 60


def test_timing_is_realistic(medium: Stats) -> None:
    days: dict[str, dict[str, date]] = {}
    for cmd in medium.commands:
        if cmd["type"] in ("recruit", "select", "match", "activate", "close"):
            days.setdefault(cmd["duo_id"], {})[cmd["type"]] = date.fromisoformat(
                cmd["occurred_on"])
    to_select = [d["select"] - d["recruit"] for d in days.values() if "select" in d]
    to_match = [d["match"] - d["recruit"] for d in days.values() if "match" in d]
    to_meet = [d["activate"] - d["match"] for d in days.values() if "activate" in d]
    assert all(timedelta(1) <= t <= timedelta(10) for t in to_select)
    assert all(timedelta(3) <= t <= timedelta(62) for t in to_match)
    assert sum(t <= timedelta(42) for t in to_match) >= 0.9 * len(to_match)
    assert all(timedelta(0) <= t <= timedelta(21) for t in to_meet)
    successors = {c["duo_id"] for c in medium.commands
                  if c["type"] == "recruit" and "predecessor_duo_id" in c}
    # First recruitments span the intake; a rematch may come later (a mentor leaving).
    recruited = sorted(d["recruit"] for duo_id, d in days.items() if duo_id not in successors)
    assert timedelta(150) <= recruited[-1] - recruited[0] <= timedelta(300)
    minutes = [c["minutes"] for c in medium.commands if c["type"] == "log_contact"]
    assert min(minutes) >= 10
    assert max(minutes) <= 120


def test_surveys_pre_near_start_and_post_after_closure(medium: Stats) -> None:
    closed = {d: duo.closed for d, duo in medium.checker.duos.items()}
    for cmd in medium.commands:
        if cmd["type"] == "record_survey" and cmd["phase"] == "post":
            day = date.fromisoformat(cmd["occurred_on"])
            closed_on = closed[cmd["duo_id"]]
            assert closed_on is not None
            assert day > closed_on
    phases = Counter((c["respondent"], c["phase"]) for c in medium.commands
                     if c["type"] == "record_survey")
    assert set(phases) == {("mentee", "pre"), ("mentor", "pre"), ("mentee", "post"),
                           ("mentor", "post")}


def test_a_stream_reaching_into_the_future_stops_at_today() -> None:
    commands = list(generate(9, 80, start=TODAY - timedelta(days=200)))
    check_stream(commands)
    assert commands
    assert max(c["occurred_on"] for c in commands) <= TODAY.isoformat()


def test_no_duos_still_sets_up_the_pilot() -> None:
    commands = list(generate(1, 0))
    check_stream(commands)
    assert {c["type"] for c in commands} <= {
        "open_programme", "register_site", "register_mentor", "record_training",
        "deregister_mentor"}


def test_a_negative_number_of_duos_is_refused() -> None:
    with pytest.raises(ValueError, match="duos"):
        generate(1, -1)


@pytest.mark.parametrize("binary", [True, False])
def test_write_jsonl_writes_one_compact_object_per_line(binary: bool) -> None:
    stream: io.BytesIO | io.StringIO = io.BytesIO() if binary else io.StringIO()
    written = write_jsonl(stream, 3, 40)
    raw = stream.getvalue()
    text = raw.decode() if isinstance(raw, bytes) else raw
    lines = text.splitlines()
    assert written == len(lines)
    assert [json.loads(line) for line in lines] == list(generate(3, 40))
    assert all(", " not in line and '": ' not in line for line in lines)


def test_write_jsonl_to_a_path(tmp_path: Path) -> None:
    target = tmp_path / "pilot.jsonl"
    written = write_jsonl(target, 4, 30, start=date(2025, 2, 3))
    lines = target.read_text().splitlines()
    assert written == len(lines)
    assert json.loads(lines[0])["occurred_on"] == "2025-02-03"


@pytest.mark.parametrize(("seed", "duos"), [(8, 40), (-3, 25)])
def test_the_engine_imports_a_generated_stream_without_rejections(
        tmp_path: Path, seed: int, duos: int) -> None:
    """Cross-check with the real engine, run as a user would (CONTRACT §3)."""
    stream = tmp_path / "pilot.jsonl"
    written = write_jsonl(stream, seed, duos)
    src = str(Path(lifecycle.simulate.__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (src, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run(
        [sys.executable, "-m", "lifecycle", "--db", str(tmp_path / "x.db"), "import",
         str(stream), "--json"],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"applied": written, "duplicates": 0, "rejected": []}


# ---------------------------------------------------------------------- contract v2
def test_some_mentors_leave_the_pool_and_their_open_duos_close_or_are_rematched(
        medium: Stats) -> None:
    left = medium.checker.left
    assert 0.02 * len(medium.checker.mentors) <= len(left) <= 0.2 * len(medium.checker.mentors)
    reasons = Counter(c["reason"] for c in medium.commands if c["type"] == "deregister_mentor")
    assert set(reasons) == {"left_service", "withdrew", "other"}
    affected = [d for d in medium.checker.duos.values()
                if d.mentor in left and d.matched is not None and d.matched < left[d.mentor]
                and d.closed is not None and d.closed > left[d.mentor]]
    assert affected
    assert all(d.closed is not None and d.mentor is not None
               and (d.closed - left[d.mentor]).days <= 20 for d in affected)
    assert {d.reason for d in affected} <= {"mentor_left_service", "rematched", "completed",
                                            "programme_ended"} | DROPOUT_REASONS


def test_coordinators_correct_activations_and_close_reasons(medium: Stats) -> None:
    corrections = [c for c in medium.commands if c["type"] == "correct"]
    assert {c["fact"] for c in corrections} == {"activated_on", "close_reason"}
    assert 0.02 * medium.duos <= len(corrections) <= 0.15 * medium.duos
    typed = {c["duo_id"]: c["occurred_on"] for c in medium.commands if c["type"] == "activate"}
    for correction in corrections:
        if correction["fact"] == "activated_on":
            assert typed[correction["duo_id"]] < correction["value"]  # typed too early


def test_mentees_leave_the_service_mostly_after_a_close_for_it_some_while_running(
        medium: Stats) -> None:
    departures = [c for c in medium.commands if c["type"] == "record_departure"]
    duos = medium.checker.duos
    after_close = [c for c in departures
                   if (duos[c["duo_id"]].closed or date.max).isoformat() <= c["occurred_on"]]
    running = [c for c in departures if c not in after_close]
    assert running and len(after_close) > len(running)
    left_service = [c for c in after_close if duos[c["duo_id"]].reason == "mentee_left_service"]
    assert left_service and len(after_close) > len(left_service)  # some long after others
    assert {c["reason"] for c in departures} >= {"resigned", "dismissed", "other"}
    assert len({duos[c["duo_id"]].first for c in departures}) == len(departures)


def test_check_ins_follow_the_monitoring_schedule(medium: Stats) -> None:
    """Two reviews in the match's first 30 days for most matched duos, then about one a
    month (with the odd lapse)."""
    duos = [d for d in medium.checker.duos.values()
            if d.matched is not None and d.closed is not None
            and (d.closed - d.matched).days >= 90]
    first_month = [sum(1 for r in d.reviews if 0 <= (r - d.matched).days < 30) for d in duos]
    assert sum(n >= 2 for n in first_month) >= 0.9 * len(duos)
    months = [sum(1 for r in d.reviews if (r - d.matched).days >= 30)
              / (((d.closed or date.max) - d.matched).days / 30 - 1) for d in duos]
    assert 0.75 <= sum(months) / len(months) <= 1.05


def test_a_stream_until_a_day_is_what_had_been_entered_by_then() -> None:
    """As if today were that day: a prefix of the whole stream, nothing dated later."""
    whole = list(generate(9, 80))
    until = list(generate(9, 80, today=date(2025, 4, 1)))
    assert until == whole[:len(until)]
    assert max(c["occurred_on"] for c in until) <= "2025-04-01" < whole[-1]["occurred_on"]
    check_stream(until)
