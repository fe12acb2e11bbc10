"""The simulation: a calendar of FIFO buckets per day and priority, walked day by day
(see the package's description)."""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import (
    CloseReason,
    MentorKind,
    Phase,
    Respondent,
    RetractReason,
    Setting,
)
from lifecycle.simulate.pilot import (
    _ACTIVATE,
    _CLOSE,
    _DEPARTMENTS,
    _DEPARTURE_REASONS,
    _DROPOUT_REASONS_BY_STAGE,
    _DUOS_PER_EXTRA_SITE,
    _DUOS_PER_MENTOR,
    _FUNCTION_BAG,
    _GAP_SHARE,
    _INITIATORS,
    _LEAVE_REASONS,
    _MATCH,
    _MIN_MENTORS_PER_SITE,
    _MINUTES,
    _MODE_BAG,
    _NEWCOMER_BAG,
    _P_ACTIVATION_TYPO,
    _P_DEPARTS_AFTER_DROPOUT,
    _P_DEPARTS_LATER,
    _P_DEPARTS_WHILE_RUNNING,
    _P_DID_NOT_HAPPEN,
    _P_DROP_ACTIVE,
    _P_DROP_MATCHED,
    _P_DROP_RECRUITED,
    _P_DROP_SELECTED,
    _P_DUPLICATE,
    _P_LAPSE,
    _P_LATE,
    _P_MENTOR_LEAVES,
    _P_REASON_TYPO,
    _P_REMATCH_ACTIVE,
    _P_REMATCH_MATCHED,
    _P_REMATCH_WHEN_MENTOR_LEAVES,
    _P_REVIEW_LAPSE,
    _P_WRONG_DUO,
    _PILOT,
    _PRIO_DUO,
    _PRIO_MENTOR,
    _PRIO_SETUP,
    _RECRUIT,
    _SELECT,
    _SHIFT_BAG,
    _STAGES,
    MODULES,
    Command,
)
from lifecycle.simulate.records import _DuoPlan, _IsoDays, _Mentor, _Programme, _Site

_Handler = Callable[["_Simulation", Any, Any, int], Command | None]
"""A plain function, not a bound method: no allocation per scheduled item."""
_Item = tuple[_Handler, Any, Any]


class _Simulation:
    """The pilot's world and its calendar; ``run`` walks the calendar day by day."""

    def __init__(self, seed: int, duos: int, start: date, today: date) -> None:
        self.rng = random.Random(seed)
        self.prefix = f"sim{seed}-"
        self.start = start.toordinal()
        self.today = today.toordinal()
        self.iso = _IsoDays()
        self.calendar: dict[int, tuple[list[_Item], list[_Item], list[_Item]]] = {}
        self.now = self.start
        self.duo_serial = 0
        self.programmes = self._build_programmes(duos)
        self._build_mentor_pools()

    # ------------------------------------------------------------------ calendar

    def run(self) -> Iterator[Command]:
        self._schedule_setup()
        calendar = self.calendar
        prefix = self.prefix
        emitted = 0
        day = min(calendar, default=self.today + 1)
        while calendar and day <= self.today:
            self.now = day
            buckets = calendar.get(day)
            if buckets is not None:
                for bucket in buckets:
                    # Handlers append to the bucket being walked (same day and priority).
                    index = 0
                    while index < len(bucket):
                        handler, subject, payload = bucket[index]
                        index += 1
                        cmd = handler(self, subject, payload, day)
                        if cmd is not None:
                            emitted += 1
                            cmd["command_id"] = f"{prefix}{emitted:07d}"
                            yield cmd
                del calendar[day]
            day += 1

    def _at(self, day: int, prio: int, handler: _Handler, subject: Any, payload: Any) -> None:
        if day < self.now:
            raise AssertionError(f"scheduled into the past: {handler.__name__} on {day}")
        buckets = self.calendar.get(day)
        if buckets is None:
            buckets = self.calendar[day] = ([], [], [])
        buckets[prio].append((handler, subject, payload))

    def _emit(self, _subject: Any, cmd: Command, _day: int) -> Command:
        return cmd

    # ------------------------------------------------------------------ set-up

    def _build_programmes(self, duos: int) -> list[_Programme]:
        rng = self.rng
        programmes: list[_Programme] = []
        assigned = 0
        extra_sites = duos // _DUOS_PER_EXTRA_SITE
        for index, spec in enumerate(_PILOT):
            policy = spec.policy or {}
            budget = (duos - assigned if index == len(_PILOT) - 1
                      else round(duos * spec.share))
            assigned += budget
            opened = self.start + spec.open_offset
            prog = _Programme(
                spec=spec,
                programme_id=f"{spec.country}-2025",
                prefix=spec.country.lower(),
                opened=opened,
                end=self.start + spec.end_offset,
                min_days=policy.get("min_duration_days", 182),
                max_days=policy.get("max_duration_days", 365),
                interval=policy.get("contact_interval_days", 14),
                first_within=policy.get("first_meeting_within_days", 14),
                review_interval=policy.get("review_interval_days", 30),
                mentor_kinds=tuple(policy.get("mentor_kinds", tuple(MentorKind))),
                require_trained=policy.get("require_trained_mentor", True),
                budget=budget,
            )
            settings = spec.settings + tuple(
                rng.choice(tuple(Setting)) for _ in range(extra_sites))
            for number, setting in enumerate(settings, start=1):
                prog.sites.append(_Site(
                    site_id=f"{prog.prefix}.site-{number:02d}",
                    programme=prog,
                    setting=setting,
                    name=f"{spec.country} prison {number} ({setting})",
                    registered=opened + rng.randint(0, 3),
                    weight=rng.uniform(0.5, 2.0),
                ))
            programmes.append(prog)
        return programmes

    def _build_mentor_pools(self) -> None:
        """Plans every mentor up front: matching needs to know who is ready when."""
        for prog in self.programmes:
            wanted = prog.budget / _DUOS_PER_MENTOR
            total_weight = sum(site.weight for site in prog.sites)
            for site in prog.sites:
                count = max(_MIN_MENTORS_PER_SITE, round(wanted * site.weight / total_weight))
                for number in range(1, count + 1):
                    mentor = self._new_mentor(prog, site, number)
                    if mentor.ready is not None:
                        site.mentors.append(mentor)
                    self._at(mentor.registered, _PRIO_MENTOR, _Simulation._on_mentor, mentor, None)
                site.mentors.sort(key=lambda m: m.ready or 0)
                site.ready = [m.ready or 0 for m in site.mentors]

    def _new_mentor(self, prog: _Programme, site: _Site, number: int) -> _Mentor:
        rng = self.rng
        if rng.random() < 0.75:
            registered = site.registered + rng.randint(0, 21)
        else:  # the pool grows during recruitment
            registered = site.registered + rng.randint(0, prog.spec.recruit_days)
        kind = rng.random()
        trained: int | None
        if kind < 0.65:
            trained = registered + rng.randint(7, 50)
        elif kind < 0.87:
            trained = registered + rng.randint(60, 240)
        else:
            trained = None
        leaves = (registered + rng.randint(90, 420) if rng.random() < _P_MENTOR_LEAVES
                  else None)
        return _Mentor(
            mentor_id=f"{site.site_id}:mentor-{number:04d}",
            site=site,
            department=rng.choice(_DEPARTMENTS),
            shifts=rng.choice(_SHIFT_BAG),
            years=min(35, 2 + int(rng.expovariate(1 / 9))),
            registered=registered,
            trained=trained,
            ready=trained if prog.require_trained else registered,
            leaves=leaves,
            leave_reason=rng.choice(_LEAVE_REASONS),
        )

    def _schedule_setup(self) -> None:
        iso = self.iso
        for prog in self.programmes:
            opening: Command = {
                "type": "open_programme", "occurred_on": iso[prog.opened], "command_id": None,
                "programme_id": prog.programme_id, "name": prog.spec.name,
                "country": prog.spec.country,
            }
            if prog.spec.policy is not None:
                opening["policy"] = {k: (list(v) if isinstance(v, list) else v)
                                     for k, v in prog.spec.policy.items()}
            self._at(prog.opened, _PRIO_SETUP, _Simulation._emit, prog, opening)
            for site in prog.sites:
                self._at(site.registered, _PRIO_SETUP, _Simulation._emit, site, {
                    "type": "register_site", "occurred_on": iso[site.registered],
                    "command_id": None, "site_id": site.site_id,
                    "programme_id": prog.programme_id, "name": site.name,
                    "setting": site.setting,
                })
            self._schedule_recruitment(prog)

    def _schedule_recruitment(self, prog: _Programme) -> None:
        """Recruitment days: weekdays, busier in the first ten days of a month (intakes)."""
        rng = self.rng
        first = prog.opened + prog.spec.recruit_lead
        # Ordinal % 7: 0 is Sunday, 6 is Saturday.
        days = [d for d in range(first, first + prog.spec.recruit_days) if d % 7 not in (6, 0)]
        weights = [2.0 if date.fromordinal(d).day <= 10 else 1.0 for d in days]
        per_day = Counter(rng.choices(days, weights, k=prog.budget))
        for day in sorted(per_day):
            self._at(day, _PRIO_DUO, _Simulation._on_recruitment_day, prog, per_day[day])

    # ------------------------------------------------------------------ mentors

    def _on_mentor(self, mentor: _Mentor, _payload: None, day: int) -> Command:
        for training_day, module in self._training_schedule(mentor):
            self._at(training_day, _PRIO_MENTOR, _Simulation._emit, mentor, {
                "type": "record_training", "occurred_on": self.iso[training_day],
                "command_id": None, "mentor_id": mentor.mentor_id, "module": module})
        site = mentor.site
        if mentor.leaves is not None:
            self._at(mentor.leaves, _PRIO_MENTOR, _Simulation._emit, mentor, {
                "type": "deregister_mentor", "occurred_on": self.iso[mentor.leaves],
                "command_id": None, "mentor_id": mentor.mentor_id,
                "reason": mentor.leave_reason})
        return {
            "type": "register_mentor", "occurred_on": self.iso[day], "command_id": None,
            "mentor_id": mentor.mentor_id, "programme_id": site.programme.programme_id,
            "site_id": site.site_id, "department": mentor.department,
            "shifts": list(mentor.shifts), "years_experience": mentor.years,
        }

    def _training_schedule(self, mentor: _Mentor) -> list[tuple[int, str]]:
        """Module dates consistent with ``mentor.trained``, plus refreshers."""
        rng = self.rng
        others = list(MODULES[1:])
        rng.shuffle(others)
        order = [MODULES[0], *others]
        start = mentor.registered
        if mentor.trained is None:
            count = rng.randint(1, 4)
            days = sorted(start + rng.randint(0, 120) for _ in range(count))
            return list(zip(days, order[:count], strict=True))
        # The fifth distinct module is completed exactly on the ``trained`` day.
        days = sorted(rng.randint(start, mentor.trained) for _ in range(4))
        schedule = list(zip([*days, mentor.trained], order, strict=True))
        if rng.random() < 0.3:
            end = mentor.site.programme.end
            if mentor.leaves is not None:
                end = min(end, mentor.leaves - 1)  # no refresher once out of the pool
            for _ in range(rng.randint(1, 2)):
                day = mentor.trained + rng.randint(40, 300)
                if day <= end:
                    schedule.append((day, rng.choice(MODULES)))
        return schedule

    # ------------------------------------------------------------------ duo planning

    def _on_recruitment_day(self, prog: _Programme, count: int, day: int) -> None:
        rng = self.rng
        sites = prog.sites
        weights = [site.weight for site in sites]
        for _ in range(count):
            if prog.budget <= 0:
                return
            prog.budget -= 1
            plan = self._plan_duo(prog, rng.choices(sites, weights)[0], day, None)
            self._at(day, _PRIO_DUO, _Simulation._on_stage, plan, _RECRUIT)

    def _plan_duo(self, prog: _Programme, site: _Site, recruited: int,
                  predecessor: _DuoPlan | None) -> _DuoPlan:
        rng = self.rng
        self.duo_serial += 1
        if predecessor is None:
            mentee_id = f"{prog.prefix}.mentee-{self.duo_serial:06d}"
            newcomer = rng.choice(_NEWCOMER_BAG)
            department = rng.choice(_DEPARTMENTS)
            shifts = rng.choice(_SHIFT_BAG)
        else:
            mentee_id = predecessor.mentee_id
            newcomer = predecessor.newcomer_kind
            department = predecessor.department
            shifts = predecessor.shifts
        plan = _DuoPlan(
            duo_id=f"{prog.prefix}.duo-{self.duo_serial:06d}",
            mentee_id=mentee_id, programme=prog, site=site, newcomer_kind=newcomer,
            department=department, shifts=shifts,
            predecessor_id=predecessor.duo_id if predecessor else None,
            recruited=recruited,
            mean_gap=prog.interval * _GAP_SHARE * rng.uniform(0.6, 1.5),
        )
        self._plan_lifecycle(plan, predecessor)
        self._apply_mentor_leaving(plan, predecessor is None)
        self._apply_programme_end(plan)
        if plan.reason == CloseReason.REMATCHED:
            if plan.closed <= prog.end - 30 and prog.budget > 0:
                prog.budget -= 1  # the successor's recruit
            else:
                plan.reason = CloseReason.MISMATCH
        self._plan_departure(plan)
        return plan

    def _plan_lifecycle(self, plan: _DuoPlan, predecessor: _DuoPlan | None) -> None:
        rng = self.rng
        prog = plan.programme
        first = predecessor is None
        recruited = plan.recruited
        if first and rng.random() < _P_DROP_RECRUITED:
            self._close(plan, recruited + rng.randint(1, 21), DuoState.RECRUITED)
            return
        selected = plan.selected = recruited + min(10, 1 + int(rng.expovariate(1 / 3)))
        if rng.random() < _P_DROP_SELECTED:
            self._close(plan, selected + rng.randint(3, 35), DuoState.SELECTED)
            return
        target = selected + (rng.randint(7, 35) if first else rng.randint(3, 14))
        picked = self._pick_mentor(plan, target, latest=recruited + 60,
                                   exclude=predecessor.mentor if predecessor else None)
        if picked is None:
            self._close(plan, selected + rng.randint(14, 45), DuoState.SELECTED,
                        CloseReason.NO_MENTOR_AVAILABLE)
            return
        plan.mentor, matched = picked
        plan.matched = matched
        plan.mentor_kind = self._mentor_kind(prog, plan.mentor)
        fate = rng.random()
        if first and fate < _P_REMATCH_MATCHED:
            self._close(plan, matched + rng.randint(2, 25), DuoState.MATCHED,
                        CloseReason.REMATCHED)
            return
        if fate < _P_REMATCH_MATCHED + _P_DROP_MATCHED:
            self._close(plan, matched + rng.randint(2, 25), DuoState.MATCHED)
            return
        # The first meeting usually happens within the policy's window, now and then later.
        activated = plan.activated = matched + min(
            21, int(rng.expovariate(2.5 / prog.first_within)))
        full = rng.randint(prog.min_days, prog.max_days)
        if rng.random() < 0.12:  # some run a little past the planned maximum
            full += rng.randint(1, 30)
        fate = rng.random()
        if first and fate < _P_REMATCH_ACTIVE:
            self._close(plan, activated + rng.randint(14, 120), DuoState.ACTIVE,
                        CloseReason.REMATCHED)
        elif fate < _P_REMATCH_ACTIVE + _P_DROP_ACTIVE:
            length = 3 + int(rng.expovariate(1 / 75))
            if length >= full:
                length = rng.randint(3, full - 1)
            self._close(plan, activated + length, DuoState.ACTIVE)
        else:
            self._close(plan, activated + full, DuoState.ACTIVE, CloseReason.COMPLETED)

    def _pick_mentor(self, plan: _DuoPlan, target: int, latest: int,
                     exclude: _Mentor | None) -> tuple[_Mentor, int] | None:
        """A mentor of the duo's site ready by the match day, and that day.

        The coordinator waits (up to ``latest``) for the first mentor to become ready;
        among those ready, one from the mentee's department is preferred.
        """
        rng = self.rng
        site = plan.site
        ready = site.ready
        if not ready or ready[0] > latest:
            return None
        day = max(target, min(latest, ready[0] + rng.randint(0, 3)))
        count = bisect_right(ready, day)
        mentors = site.mentors
        fallback: _Mentor | None = None
        for _ in range(4):
            mentor = mentors[rng.randrange(count)]
            if mentor is exclude or (mentor.leaves is not None and mentor.leaves <= day):
                continue
            if mentor.department == plan.department:
                return mentor, day
            fallback = fallback or mentor
        return (fallback, day) if fallback is not None else None

    def _mentor_kind(self, prog: _Programme, mentor: _Mentor) -> str:
        kinds = prog.mentor_kinds
        if MentorKind.PEER not in kinds:
            return kinds[0]
        if MentorKind.SUPERVISOR in kinds and self.rng.random() < (
                0.35 if mentor.years >= 15 else 0.1):
            return MentorKind.SUPERVISOR
        return MentorKind.PEER

    def _close(self, plan: _DuoPlan, day: int, stage: str, reason: str | None = None) -> None:
        plan.closed = day
        plan.reason = reason or self.rng.choice(_DROPOUT_REASONS_BY_STAGE[stage])

    def _apply_mentor_leaving(self, plan: _DuoPlan, first: bool) -> None:
        """A mentor who leaves the pool while matched: the coordinator closes the duo a
        few days later (or rematches the mentee), as the contract leaves it to them."""
        mentor = plan.mentor
        if (mentor is None or mentor.leaves is None or plan.matched is None
                or not plan.matched < mentor.leaves < plan.closed):
            return
        rng = self.rng
        day = min(plan.closed, mentor.leaves + rng.randint(3, 20))
        if plan.activated is not None and plan.activated > day:
            plan.activated = None  # the first meeting never took place
        stage = DuoState.ACTIVE if plan.activated is not None else DuoState.MATCHED
        reason = (CloseReason.REMATCHED if first and rng.random() < _P_REMATCH_WHEN_MENTOR_LEAVES
                  else CloseReason.MENTOR_LEFT_SERVICE)
        self._close(plan, day, stage, reason)

    def _plan_departure(self, plan: _DuoPlan) -> None:
        """Whether (and when) the mentee leaves the prison service, recorded on this duo:
        mostly after a close for leaving the service, sometimes while the duo still
        runs, and now and then months after a completed or ended mentoring."""
        rng = self.rng
        if plan.reason == CloseReason.REMATCHED:
            return  # the chain goes on: its last duo decides
        if plan.reason == CloseReason.MENTEE_LEFT_SERVICE:
            if rng.random() < _P_DEPARTS_WHILE_RUNNING:
                day = max(plan.recruited, plan.closed - rng.randint(5, 30))
            else:
                day = plan.closed + rng.randint(0, 10)
        else:
            share = _P_DEPARTS_LATER.get(plan.reason,
                                         _P_DEPARTS_AFTER_DROPOUT if plan.dropout else 0.0)
            if rng.random() >= share:
                return
            day = plan.closed + rng.randint(30, 330)
        plan.departs = day
        plan.departure_reason = rng.choice(_DEPARTURE_REASONS)

    @staticmethod
    def _apply_programme_end(plan: _DuoPlan) -> None:
        """Whatever is still open on the programme's last day closes ``programme_ended``."""
        end = plan.programme.end
        if plan.closed <= end:
            return
        plan.closed = end
        plan.reason = CloseReason.PROGRAMME_ENDED
        if plan.selected is not None and plan.selected > end:
            plan.selected = None
        if plan.selected is None or (plan.matched is not None and plan.matched > end):
            plan.matched = None
            plan.mentor = None
        if plan.matched is None or (plan.activated is not None and plan.activated > end):
            plan.activated = None

    # ------------------------------------------------------------------ duo handlers

    def _on_stage(self, plan: _DuoPlan, stage: int, day: int) -> Command:
        """A lifecycle command; schedules the next one and what the stage starts."""
        rng = self.rng
        cmd = self._lifecycle_command(plan, stage, day)
        closed = plan.closed
        if stage != _CLOSE:
            following = stage + 1
            while (following_day := plan.day_of(following)) is None:
                following += 1  # a stage the duo never reaches; the close always comes
            self._at(following_day, _PRIO_DUO, _Simulation._on_stage, plan, following)
        if stage == _RECRUIT:
            if rng.random() < 0.9:
                self._survey_at(plan, day + rng.randint(0, 12), Respondent.MENTEE, Phase.PRE)
            review = day + rng.randint(10, 30)
            if review <= closed and (plan.matched is None or review < plan.matched):
                self._at(review, _PRIO_DUO, _Simulation._on_review, plan, None)
            if plan.departs is not None:
                self._at(plan.departs, _PRIO_DUO, _Simulation._on_departure, plan, None)
        elif stage == _MATCH:
            pre = day + rng.randint(0, 10)
            if rng.random() < 0.85 and pre <= closed:
                self._survey_at(plan, pre, Respondent.MENTOR, Phase.PRE)
            # The monitoring schedule: two check-ins in the match's first month, then
            # one a month (the second schedules the next).
            check_ins: tuple[tuple[int, int | None], ...] = (
                (day + rng.randint(2, 12), None), (day + rng.randint(14, 29), 1))
            for check_in, window in check_ins:
                if check_in <= closed:
                    self._at(check_in, _PRIO_DUO, _Simulation._on_review, plan, window)
        elif stage == _ACTIVATE:
            first_contact = day if rng.random() < 0.85 else day + rng.randint(1, 5)
            if first_contact <= closed:
                self._at(first_contact, _PRIO_DUO, _Simulation._on_contact_due, plan, None)
        elif stage == _CLOSE:
            self._schedule_post_surveys(plan)
            if plan.reason == CloseReason.REMATCHED:
                successor = self._plan_duo(plan.programme, plan.site,
                                           day + rng.randint(0, 10), plan)
                self._at(successor.recruited, _PRIO_DUO, _Simulation._on_stage, successor, _RECRUIT)
        return cmd

    def _lifecycle_command(self, plan: _DuoPlan, stage: int, day: int) -> Command:
        cmd: Command = {"type": _STAGES[stage], "occurred_on": self.iso[day],
                        "command_id": None, "duo_id": plan.duo_id}
        if stage == _RECRUIT:
            cmd.update(programme_id=plan.programme.programme_id, site_id=plan.site.site_id,
                       mentee_id=plan.mentee_id, newcomer_kind=plan.newcomer_kind,
                       department=plan.department, shifts=list(plan.shifts))
            if plan.predecessor_id is not None:
                cmd["predecessor_duo_id"] = plan.predecessor_id
        elif stage == _SELECT:
            cmd["consent"] = True
        elif stage == _MATCH:
            assert plan.mentor is not None
            cmd.update(mentor_id=plan.mentor.mentor_id, mentor_kind=plan.mentor_kind)
        elif stage == _ACTIVATE:
            assert plan.matched is not None
            if plan.activated is not None and plan.activated > plan.matched \
                    and self.rng.random() < _P_ACTIVATION_TYPO:
                # Typed a few days early; noticed and corrected weeks later.
                typed = day - self.rng.randint(1, min(3, day - plan.matched))
                cmd["occurred_on"] = self.iso[typed]
                self._correct_later(plan, day + self.rng.randint(5, 40), "activated_on",
                                    self.iso[day])
        elif stage == _CLOSE:
            self._fill_close(plan, cmd)
        return cmd

    def _correct_later(self, plan: _DuoPlan, day: int, fact: str, value: str) -> None:
        self._at(day, _PRIO_DUO, _Simulation._emit, plan, {
            "type": "correct", "occurred_on": self.iso[day], "command_id": None,
            "duo_id": plan.duo_id, "fact": fact, "value": value})

    def _fill_close(self, plan: _DuoPlan, cmd: Command) -> None:
        rng = self.rng
        cmd["reason"] = plan.reason
        if plan.dropout and plan.reason != CloseReason.OTHER and rng.random() < _P_REASON_TYPO:
            # Entered as "other" in a hurry, the real reason put right later.
            cmd["reason"] = CloseReason.OTHER
            self._correct_later(plan, plan.closed + rng.randint(2, 30), "close_reason",
                                plan.reason)
        if rng.random() < 0.85:
            cmd["initiated_by"] = rng.choice(_INITIATORS[plan.reason])
        interviewed = plan.dropout and rng.random() < (0.5 if plan.activated else 0.15)
        if interviewed or rng.random() < 0.3:
            cmd["exit_interview"] = interviewed

    def _on_contact_due(self, plan: _DuoPlan, _payload: None, day: int) -> Command | None:
        """A contact takes place; it is logged now or later, and the next one is due."""
        rnd = self.rng.random
        plan.contacts += 1
        mode = _MODE_BAG[int(rnd() * len(_MODE_BAG))]
        low, high = _MINUTES[mode]
        cmd: Command = {
            "type": "log_contact", "occurred_on": self.iso[day], "command_id": None,
            "duo_id": plan.duo_id, "contact_id": f"c{plan.contacts:04d}",
            "minutes": low + int(rnd() * (high - low + 1)), "mode": mode,
            "functions": list(_FUNCTION_BAG[int(rnd() * len(_FUNCTION_BAG))]),
        }
        late = rnd() < _P_LATE
        entry = day + 1 + int(self.rng.expovariate(1 / 7)) if late else day
        if late:
            self._at(entry, _PRIO_DUO, _Simulation._emit, plan, cmd)
        self._maybe_retract(plan, cmd, entry)
        interval = plan.programme.interval
        gap = 1 + int((rnd() + rnd()) * plan.mean_gap)
        if rnd() < _P_LAPSE:
            gap += interval + int(rnd() * 2 * interval)
        if day + gap <= plan.closed:
            self._at(day + gap, _PRIO_DUO, _Simulation._on_contact_due, plan, None)
        return None if late else cmd

    def _maybe_retract(self, plan: _DuoPlan, cmd: Command, entry: int) -> None:
        """Now and then the contact is entered twice, or logged by mistake, and retracted."""
        rng = self.rng
        draw = rng.random()
        if draw < _P_DUPLICATE:
            plan.contacts += 1
            duplicate = dict(cmd, contact_id=f"c{plan.contacts:04d}",
                             functions=list(cmd["functions"]))
            logged = entry + rng.randint(0, 2)
            self._at(logged, _PRIO_DUO, _Simulation._emit, plan, duplicate)
            self._at(logged + rng.randint(0, 14), _PRIO_DUO, _Simulation._on_retract, plan,
                     (duplicate["contact_id"], RetractReason.DUPLICATE))
        elif draw < _P_DUPLICATE + _P_WRONG_DUO:
            self._at(entry + rng.randint(0, 30), _PRIO_DUO, _Simulation._on_retract, plan,
                     (cmd["contact_id"], RetractReason.WRONG_DUO))
        elif draw < _P_DUPLICATE + _P_WRONG_DUO + _P_DID_NOT_HAPPEN:
            self._at(entry + rng.randint(0, 30), _PRIO_DUO, _Simulation._on_retract, plan,
                     (cmd["contact_id"], RetractReason.DID_NOT_HAPPEN))

    def _on_retract(self, plan: _DuoPlan, payload: tuple[str, str], day: int) -> Command:
        contact_id, reason = payload
        return {"type": "retract_contact", "occurred_on": self.iso[day], "command_id": None,
                "duo_id": plan.duo_id, "contact_id": contact_id, "reason": reason}

    def _on_review(self, plan: _DuoPlan, window: int | None, day: int) -> Command:
        """A check-in; with ``window``, it schedules the one of that monitoring window
        (or, now and then lapsing, of the window after)."""
        rng = self.rng
        if window is not None:
            assert plan.matched is not None
            if rng.random() < _P_REVIEW_LAPSE:
                window += 1
            interval = plan.programme.review_interval
            following = plan.matched + window * interval + rng.randint(0, interval - 1)
            if following <= plan.closed:
                self._at(following, _PRIO_DUO, _Simulation._on_review, plan, window + 1)
        if plan.dropout and day >= plan.closed - 45:  # trouble shows before a dropout
            health = rng.choice((1, 2, 2, 3))
        else:
            base = 3 if plan.dropout else 4
            health = max(1, min(5, base + rng.choice((-1, 0, 0, 1, 1))))
        return {"type": "review", "occurred_on": self.iso[day], "command_id": None,
                "duo_id": plan.duo_id, "health": health}

    def _on_departure(self, plan: _DuoPlan, _payload: None, day: int) -> Command:
        return {"type": "record_departure", "occurred_on": self.iso[day], "command_id": None,
                "duo_id": plan.duo_id, "reason": plan.departure_reason}

    def _schedule_post_surveys(self, plan: _DuoPlan) -> None:
        rng = self.rng
        went_well = not plan.dropout and plan.activated is not None
        if rng.random() < (0.8 if went_well else 0.3 if plan.activated else 0.1):
            self._survey_at(plan, plan.closed + rng.randint(1, 30), Respondent.MENTEE, Phase.POST)
        if plan.matched is not None and rng.random() < (0.75 if went_well else 0.3):
            self._survey_at(plan, plan.closed + rng.randint(1, 30), Respondent.MENTOR, Phase.POST)

    def _survey_at(self, plan: _DuoPlan, day: int, respondent: str, phase: str) -> None:
        self._at(day, _PRIO_DUO, _Simulation._on_survey, plan, (respondent, phase))

    def _on_survey(self, plan: _DuoPlan, payload: tuple[str, str], day: int) -> Command:
        rng = self.rng
        respondent, phase = payload
        lift = 1 if phase == Phase.POST and not plan.dropout else 0
        steady = 1 if respondent == Respondent.MENTOR else 0
        scores = {
            "wellbeing": min(5, rng.randint(2, 4) + lift),
            "stress": max(1, rng.randint(2, 5) - lift - steady),
            "integration": min(5, rng.randint(1, 3) + lift + steady + rng.randint(0, lift)),
            "confidence": min(5, rng.randint(1, 4) + lift + steady),
        }
        return {"type": "record_survey", "occurred_on": self.iso[day], "command_id": None,
                "duo_id": plan.duo_id, "respondent": respondent, "phase": phase,
                "scores": scores}
