"""Builders for the projection tests: hand-made event logs, random valid logs, and an
in-memory recorder whose notification ids have gaps.

Events are built with the domain classes directly (no application), each with the next
version of its stream and a recording time one minute after the previous event's.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from eventsourcing.persistence import Notification

from lifecycle.adapters.persistence import OrjsonTranscoder, PydanticMapper
from lifecycle.domain.base import DomainEvent
from lifecycle.domain.duo import Duo
from lifecycle.domain.markers import AppliedCommand
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site
from lifecycle.domain.vocabulary import Module

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
BASE = date(2025, 1, 1)
SCORES = {"wellbeing": 3, "stress": 2, "integration": 4, "confidence": 5}


def d(value: date | str | int) -> date:
    """A date from ISO text, a date, or a day number counted from :data:`BASE`."""
    if isinstance(value, int):
        return BASE + timedelta(days=value)
    return value if isinstance(value, date) else date.fromisoformat(value)


class Log:
    """A hand-made event log, in recorded order."""

    def __init__(self, start: datetime = T0) -> None:
        self.events: list[DomainEvent] = []
        self.versions: dict[str, int] = {}
        self.clock = start

    def add(self, cls: type[DomainEvent], stream_id: str, on: date | str | int,
            **fields: Any) -> DomainEvent:
        self.clock += timedelta(minutes=1)
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        event = cls(originator_id=stream_id, originator_version=version,
                    timestamp=self.clock, occurred_on=d(on), **fields)
        self.events.append(event)
        return event

    # ------------------------------------------------------------------ reference data
    def programme(self, programme_id: str = "P-1", on: date | str | int = 0,
                  country: str = "DK", **policy: Any) -> Log:
        self.add(Programme.Opened, f"programme:{programme_id}", on, name="Pilot",
                 country=country, policy=policy)
        return self

    def site(self, site_id: str = "S-1", programme_id: str = "P-1",
             on: date | str | int = 0) -> Log:
        self.add(Site.Registered, f"site:{site_id}", on, programme_id=programme_id,
                 name="Prison", setting="adult")
        return self

    def mentor(self, mentor_id: str = "M-1", programme_id: str = "P-1", site_id: str = "S-1",
               on: date | str | int = 0, trained_on: date | str | int | None = 0, *,
               department: str = "wing-A", shifts: Sequence[str] = ("early",),
               years: int = 4) -> Log:
        self.add(Mentor.Registered, f"mentor:{mentor_id}", on, programme_id=programme_id,
                 site_id=site_id, department=department, shifts=tuple(shifts),
                 years_experience=years)
        if trained_on is not None:
            for module in Module:
                self.training(mentor_id, module.value, trained_on)
        return self

    def training(self, mentor_id: str, module: str, on: date | str | int) -> Log:
        self.add(Mentor.TrainingRecorded, f"mentor:{mentor_id}", on, module=module)
        return self

    def world(self, programme_id: str = "P-1", site_id: str = "S-1", mentor_id: str = "M-1",
              country: str = "DK", **policy: Any) -> Log:
        """A programme with one site and one trained mentor, all on day 0."""
        return (self.programme(programme_id, country=country, **policy)
                .site(site_id, programme_id).mentor(mentor_id, programme_id, site_id))

    def marker(self, command_id: str, on: date | str | int = 0) -> Log:
        self.add(AppliedCommand.Applied, f"command:{command_id}", on, digest="0" * 64)
        return self

    # ------------------------------------------------------------------ duo events
    def recruit(self, duo_id: str, on: date | str | int, programme_id: str = "P-1",
                site_id: str = "S-1", mentee_id: str | None = None,
                predecessor: str | None = None, *, department: str = "wing-A",
                shifts: Sequence[str] = ("early",)) -> Log:
        self.add(Duo.Recruited, f"duo:{duo_id}", on, programme_id=programme_id,
                 site_id=site_id, mentee_id=mentee_id or f"E-{duo_id}",
                 newcomer_kind="transferred", department=department, shifts=tuple(shifts),
                 predecessor_duo_id=predecessor)
        return self

    def select(self, duo_id: str, on: date | str | int) -> Log:
        self.add(Duo.Selected, f"duo:{duo_id}", on, consent=True)
        return self

    def match(self, duo_id: str, on: date | str | int, mentor_id: str = "M-1",
              kind: str = "peer") -> Log:
        self.add(Duo.Matched, f"duo:{duo_id}", on, mentor_id=mentor_id, mentor_kind=kind,
                 shift_overlap=True, same_department=False)
        return self

    def activate(self, duo_id: str, on: date | str | int) -> Log:
        self.add(Duo.Activated, f"duo:{duo_id}", on)
        return self

    def contact(self, duo_id: str, contact_id: str, on: date | str | int, minutes: int = 30,
                functions: Sequence[str] = ("psychosocial",), mode: str = "in_person") -> Log:
        self.add(Duo.ContactLogged, f"duo:{duo_id}", on, contact_id=contact_id,
                 minutes=minutes, mode=mode, functions=tuple(functions))
        return self

    def retract(self, duo_id: str, contact_id: str, on: date | str | int,
                reason: str = "duplicate") -> Log:
        self.add(Duo.ContactRetracted, f"duo:{duo_id}", on, contact_id=contact_id,
                 reason=reason)
        return self

    def review(self, duo_id: str, on: date | str | int, health: int = 4) -> Log:
        self.add(Duo.Reviewed, f"duo:{duo_id}", on, health=health)
        return self

    def survey(self, duo_id: str, on: date | str | int, respondent: str = "mentee",
               phase: str = "pre", scores: dict[str, int] | None = None) -> Log:
        self.add(Duo.SurveyRecorded, f"duo:{duo_id}", on, respondent=respondent,
                 phase=phase, scores=scores or SCORES)
        return self

    def close(self, duo_id: str, on: date | str | int, reason: str = "completed",
              initiated_by: str | None = None, exit_interview: bool = False) -> Log:
        self.add(Duo.Closed, f"duo:{duo_id}", on, reason=reason, initiated_by=initiated_by,
                 exit_interview=exit_interview)
        return self

    def correct(self, duo_id: str, on: date | str | int, fact: str, value: date | str | int,
                previous: date | str | int) -> Log:
        """A correction of ``fact`` (dates as day numbers, ISO text or dates; a close
        reason as itself)."""
        def text(v: date | str | int) -> str:
            return v if isinstance(v, str) and not v[:1].isdigit() else d(v).isoformat()
        self.add(Duo.Corrected, f"duo:{duo_id}", on, fact=fact, value=text(value),
                 previous=text(previous))
        return self

    def depart(self, duo_id: str, on: date | str | int, reason: str = "resigned") -> Log:
        self.add(Duo.DepartureRecorded, f"duo:{duo_id}", on, reason=reason)
        return self

    def deregister(self, mentor_id: str, on: date | str | int,
                   reason: str = "left_service") -> Log:
        self.add(Mentor.Deregistered, f"mentor:{mentor_id}", on, reason=reason)
        return self

    def duo(self, duo_id: str, recruited: date | str | int,
            selected: date | str | int | None = None, matched: date | str | int | None = None,
            activated: date | str | int | None = None,
            closed: date | str | int | None = None, reason: str = "completed",
            programme_id: str = "P-1", site_id: str = "S-1", mentor_id: str = "M-1") -> Log:
        """Recruit a duo and move it through the steps given a date."""
        self.recruit(duo_id, recruited, programme_id, site_id)
        if selected is not None:
            self.select(duo_id, selected)
        if matched is not None:
            self.match(duo_id, matched, mentor_id)
        if activated is not None:
            self.activate(duo_id, activated)
        if closed is not None:
            self.close(duo_id, closed, reason)
        return self


# ---------------------------------------------------------------------- random valid logs
DROPOUTS = ("mentee_withdrew", "mentor_withdrew", "mentee_left_service",
            "mentor_left_service", "mismatch", "no_mentor_available", "other")


def random_log(rnd: random.Random, *, max_duos: int = 8, markers: bool = True,
               v2: bool = False) -> Log:
    """A random log that keeps every rule of CONTRACT §2: one or two programmes, duos in
    every state, closed from every state, contacts (some logged after closure, some
    retracted, some retractions dated later than the closure), reviews, pre and post
    surveys of both respondents, exit interviews, refresher training, a rematch,
    markers; the duos' events interleaved.

    With ``v2``, also corrections of lifecycle facts (some corrected twice), departures
    from the service and a mentor leaving the pool. (A correction applies to every
    ``as_of``, so such a log cut at a business date is not the log as of that date.)"""
    log = Log()
    programmes = [f"P-{i}" for i in range(rnd.randint(1, 2))]
    for i, p in enumerate(programmes):
        log.world(p, f"S-{i}", f"M-{i}", country=("DK", "PT")[i],
                  contact_interval_days=rnd.randint(1, 20))
    if v2:
        log.mentor("X-0", "P-0", "S-0", on=rnd.randint(0, 30), trained_on=None)
        log.deregister("X-0", rnd.randint(31, 200))
        # After the last match a random log can hold (day 370), with duos still open.
        log.deregister("M-0", rnd.randint(380, 420))
    plans: list[Plan] = []
    rematched: list[tuple[str, str, int]] = []
    for i in range(rnd.randint(0, max_duos)):
        programme = rnd.randrange(len(programmes))
        plan, rematch_day = _duo_plan(rnd, f"D-{i}", programme, v2=v2)
        if rematch_day is not None:
            rematched.append((f"D-{i}", f"P-{programme}", rematch_day))
        plans.append(plan)
    for j, (old, programme, closed) in enumerate(rematched[:1]):
        successor, _ = _duo_plan(rnd, f"R-{j}", int(programme[2:]), start=closed,
                                 mentee=f"E-{old}", predecessor=old, v2=v2)
        plans[[p[0][1] for p in plans].index(f"duo:{old}")] += successor
    if markers:
        plans.append([(AppliedCommand.Applied, f"command:c-{k}", BASE, {"digest": "0" * 64})
                      for k in range(rnd.randint(0, 5))])
    plans.append([(Mentor.TrainingRecorded, "mentor:M-0", d(rnd.randint(0, 90)),
                   {"module": "communication"})])
    plans = [plan for plan in plans if plan]
    while plans:
        plan = rnd.choice(plans)
        cls, stream_id, on, fields = plan.pop(0)
        log.add(cls, stream_id, on, **fields)
        if not plan:
            plans.remove(plan)
    return log


Plan = list[tuple[type[DomainEvent], str, date, dict[str, Any]]]


def _duo_plan(rnd: random.Random, duo_id: str, programme: int, *, start: int = 0,
              mentee: str | None = None, predecessor: str | None = None, v2: bool = False,
              ) -> tuple[Plan, int | None]:
    sid = f"duo:{duo_id}"
    r = start + rnd.randint(0, 60)
    plan: list[tuple[type[DomainEvent], str, date, dict[str, Any]]] = [
        (Duo.Recruited, sid, d(r), {
            "programme_id": f"P-{programme}", "site_id": f"S-{programme}",
            "mentee_id": mentee or f"E-{duo_id}", "newcomer_kind": "new_setting",
            "department": "wing-A", "shifts": ("early",), "predecessor_duo_id": predecessor})]
    steps = rnd.randint(0, 3)
    day = r
    dates = [r]
    for step in range(steps):
        day += rnd.randint(0, 20)
        dates.append(day)
        cls, fields = ((Duo.Selected, {"consent": True}),
                       (Duo.Matched, {"mentor_id": f"M-{programme}", "mentor_kind": "peer",
                                      "shift_overlap": True, "same_department": True}),
                       (Duo.Activated, {}))[step]
        plan.append((cls, sid, d(day), fields))
    closed: int | None = None
    reason = None
    if rnd.random() < 0.6:
        closed = day + rnd.choice((0, rnd.randint(0, 150)))
        reasons = (*DROPOUTS, "programme_ended", "rematched")
        reason = rnd.choice(("completed", *reasons) if steps == 3 else reasons)
    tail: list[list[tuple[type[DomainEvent], str, date, dict[str, Any]]]] = []
    if steps == 3:
        activated = dates[3]
        last = closed if closed is not None else activated + 120
        for k in range(rnd.randint(0, 6)):
            on = rnd.randint(activated, last)
            item = [(Duo.ContactLogged, sid, d(on), {
                "contact_id": f"K-{k}", "minutes": rnd.randint(1, 240),
                "mode": "phone", "functions": rnd.choice(
                    (("psychosocial",), ("career",), ("career", "psychosocial")))})]
            if rnd.random() < 0.3:
                item.append((Duo.ContactRetracted, sid, d(on + rnd.randint(0, 40)),
                             {"contact_id": f"K-{k}", "reason": "did_not_happen"}))
            tail.append(item)
    for _ in range(rnd.randint(0, 2)):
        on = rnd.randint(r, closed if closed is not None else r + 100)
        tail.append([(Duo.Reviewed, sid, d(on), {"health": rnd.randint(1, 5)})])
    for respondent, phase in rnd.sample([("mentee", "pre"), ("mentee", "post"),
                                         ("mentor", "pre"), ("mentor", "post")],
                                        rnd.randint(0, 4)):
        tail.append([(Duo.SurveyRecorded, sid, d(r + rnd.randint(0, 200)),
                      {"respondent": respondent, "phase": phase,
                       "scores": {k: rnd.randint(1, 5) for k in SCORES}})])
    if closed is not None:
        tail.append([(Duo.Closed, sid, d(closed), {"reason": reason, "initiated_by": None,
                                                   "exit_interview": rnd.random() < 0.4})])
    while tail:
        item = rnd.choice(tail)
        plan.append(item.pop(0))
        if not item:
            tail.remove(item)
    if v2 and reason != "rematched":
        plan += _v2_plan(rnd, sid, dates, closed, reason, predecessor is None)
    return plan, (closed if reason == "rematched" else None)


def _v2_plan(rnd: random.Random, sid: str, dates: list[int], closed: int | None,
             reason: str | None, first: bool) -> Plan:
    """Corrections and a departure for a duo that rematches none (when ``first``) and
    is no predecessor, which keep every rule: an earlier recruitment (not before the
    programme's opening on day 0), an earlier activation (not before the matching), a
    later closure, or another close reason."""
    plan: Plan = []
    last = max([*dates, closed or 0]) + 150
    choices: list[tuple[str, int | str, int | str]] = []
    if first and dates[0] > 0:
        choices.append(("recruited_on", rnd.randint(0, dates[0] - 1), dates[0]))
    if len(dates) == 4 and dates[3] > dates[2]:
        choices.append(("activated_on", rnd.randint(dates[2], dates[3] - 1), dates[3]))
    if closed is not None and reason is not None:
        choices.append(("closed_on", closed + rnd.randint(1, 10), closed))
        allowed = [r for r in (*DROPOUTS, "programme_ended", "completed")
                   if r != reason and (r != "completed" or len(dates) == 4)]
        choices.append(("close_reason", rnd.choice(allowed), reason))
    if choices and rnd.random() < 0.5:
        fact, value, previous = rnd.choice(choices)
        on = d(last + rnd.randint(0, 30))

        def text(v: int | str) -> str:
            return v if isinstance(v, str) else d(v).isoformat()

        plan.append((Duo.Corrected, sid, on, {"fact": fact, "value": text(value),
                                              "previous": text(previous)}))
        if rnd.random() < 0.3:  # corrected again, back to the original
            plan.append((Duo.Corrected, sid, on + timedelta(days=rnd.randint(0, 9)), {
                "fact": fact, "value": text(previous), "previous": text(value)}))
    if rnd.random() < 0.3:
        plan.append((Duo.DepartureRecorded, sid, d(dates[0] + rnd.randint(0, 200)),
                     {"reason": rnd.choice(("resigned", "dismissed", "retired", "other"))}))
    return plan


# ---------------------------------------------------------------------- a recorder
class MemoryRecorder:
    """An application recorder in memory whose notification ids may have gaps."""

    def __init__(self, *, gaps: bool = True, seed: int = 0,
                 mapper: Any | None = None) -> None:
        self.mapper = mapper or PydanticMapper(transcoder=OrjsonTranscoder())
        self.notifications: list[Notification] = []
        self.gaps = gaps
        self.rnd = random.Random(seed)
        self.next_id = 1
        self.reads = 0

    def append(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            stored = self.mapper.to_stored_event(event)
            self.notifications.append(Notification(
                id=self.next_id, originator_id=stored.originator_id,
                originator_version=stored.originator_version, topic=stored.topic,
                state=stored.state))
            self.next_id += 1 + (self.rnd.choice((0, 0, 1, 5)) if self.gaps else 0)

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> list[Notification]:
        self.reads += 1
        found = []
        for n in self.notifications:
            if start is not None and (n.id < start or (n.id == start
                                                       and not inclusive_of_start)):
                continue
            if stop is not None and n.id > stop:
                break
            if topics and n.topic not in topics:
                continue
            found.append(n)
            if len(found) == limit:
                break
        return found

    def max_notification_id(self) -> int | None:
        return self.notifications[-1].id if self.notifications else None


def truncated(events: Iterable[DomainEvent], as_of: date) -> list[DomainEvent]:
    """The events that had happened by ``as_of``, in recorded order."""
    return [e for e in events if e.occurred_on <= as_of]
