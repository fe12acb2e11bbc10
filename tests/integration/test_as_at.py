"""Bitemporal replay: ``as_at`` (what had been recorded by a time) on real stores.

A stream with late entries — a contact logged a week after it happened, retractions
recorded long after the contacts they withdraw, a close recorded after the duo's
contacts, a contact entered after the close, a duo recruited on a date earlier than
commands recorded before it — is applied command by command through ``Lifecycle`` with
an injected clock, so every event's recording time is known. For each recording time
T_k, the full store queried ``as_at=T_k`` must answer exactly like a fresh store that
received only the first k commands: the report (CONTRACT §4) at several ``as_of``
dates, the ``duos`` listing and each duo's ``history``. The installed command's
``report --as-at``, ``duos --as-at`` and ``history --as-at`` are checked on the same
kind of store, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle, Outcome
from lifecycle.domain.errors import DomainError
from lifecycle.entrypoints.cli import history_rows
from projections.facade import Views
from projections.listing import DuoRow

TODAY = date(2026, 1, 1)
FIRST_RECORDED = datetime(2025, 3, 20, 8, 0, tzinfo=UTC)
"""When the first command is recorded; each later one is recorded an hour after."""
AS_OFS = (date(2025, 2, 15), date(2025, 3, 3), date(2025, 12, 31))
DUO_IDS = ("D-1", "D-2", "D-3", "D-4")
LATE_CONTACT_ENTERED = datetime(2025, 2, 20, 18, 0, tzinfo=UTC)
"""When D-1's contact K-3 of 2025-02-13 is entered on the business-time clock."""

Run = Callable[..., subprocess.CompletedProcess[str]]
Submit = Callable[[Lifecycle, dict[str, Any]], Outcome]

BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def late_entry_stream(stream: Any) -> list[dict[str, Any]]:
    """Two duos with late entries, a rematch and a duo recruited "in the past"."""
    s = stream.base()                                   # programme, site, trained mentor
    s.duo("active", "D-1", start="2025-02-01")         # active from 2025-02-04
    s.duo("active", "D-2", start="2025-02-03")         # active from 2025-02-06
    s.add("log_contact", "2025-02-10", duo_id="D-1", contact_id="K-1",
          functions=["psychosocial", "career"])
    s.add("log_contact", "2025-02-12", duo_id="D-2", contact_id="K-1", minutes=45,
          mode="phone")
    s.add("log_contact", "2025-02-18", duo_id="D-1", contact_id="K-2", functions=["career"])
    s.add("log_contact", "2025-02-13", duo_id="D-1", contact_id="K-3", minutes=60,
          command_id="late-contact")                   # logged a week late
    s.add("log_contact", "2025-02-25", duo_id="D-2", contact_id="K-2")
    s.add("review", "2025-02-26", duo_id="D-1", health=4)
    s.add("retract_contact", "2025-02-11", duo_id="D-1", contact_id="K-1",
          reason="duplicate")                           # recorded two weeks later
    s.add("close", "2025-03-01", duo_id="D-2", reason="mentor_withdrew",
          initiated_by="mentor")                        # close recorded after contacts
    s.add("log_contact", "2025-02-27", duo_id="D-2", contact_id="K-3")  # after the close
    s.add("retract_contact", "2025-02-28", duo_id="D-2", contact_id="K-2",
          reason="did_not_happen")                      # of a closed duo
    s.add("record_survey", "2025-03-02", duo_id="D-2", respondent="mentee", phase="post")
    s.add("close", "2025-03-05", duo_id="D-1", reason="rematched")
    s.add("recruit", "2025-03-06", duo_id="D-3", mentee_id="mentee-D-1",
          predecessor_duo_id="D-1")
    s.add("select", "2025-03-07", duo_id="D-3")
    s.add("match", "2025-03-08", duo_id="D-3")
    s.add("activate", "2025-03-10", duo_id="D-3")
    s.add("log_contact", "2025-03-12", duo_id="D-3", contact_id="K-1")
    s.add("recruit", "2025-03-01", duo_id="D-4", mentee_id="mentee-D-4")  # recorded late
    commands: list[dict[str, Any]] = s.commands
    return commands


def hourly_times(count: int) -> list[datetime]:
    """T_1 … T_count: the recording time of each command, one hour apart."""
    return [FIRST_RECORDED + timedelta(hours=k) for k in range(count)]


def business_times(commands: Sequence[dict[str, Any]]) -> list[datetime]:
    """Each command recorded at 17:00 on its business date (a minute after the previous
    one when that is earlier), the late contact on :data:`LATE_CONTACT_ENTERED`."""
    times: list[datetime] = []
    for raw in commands:
        moment = (LATE_CONTACT_ENTERED if raw.get("command_id") == "late-contact" else
                  datetime.combine(date.fromisoformat(raw["occurred_on"]), time(17),
                                   tzinfo=UTC))
        if times and moment <= times[-1]:
            moment = times[-1] + timedelta(minutes=1)
        times.append(moment)
    return times


class SetClock:
    """The engine's recording clock, set by the test before each command."""

    def __init__(self) -> None:
        self.now = FIRST_RECORDED

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def opened(store: str, clock: SetClock | None = None) -> Iterator[tuple[Lifecycle, Views]]:
    """An engine on ``store`` (its clock ``clock``) and the views of its store."""
    target = resolve_target(store)
    engine = Lifecycle(target.env, today=lambda: TODAY, clock=clock or SetClock())
    views = Views(target, engine.app.recorder, engine.app.mapper)
    try:
        yield engine, views
    finally:
        views.close()
        engine.shutdown()


def record(engine: Lifecycle, clock: SetClock, submit: Submit,
           commands: Sequence[dict[str, Any]], times: Sequence[datetime],
           after: Callable[[int], None] | None = None) -> None:
    """Apply the commands one by one, each recorded at its time; ``after(k)`` follows
    the k-th."""
    for k, (raw, moment) in enumerate(zip(commands, times, strict=True), start=1):
        clock.now = moment
        assert submit(engine, raw) is Outcome.APPLIED, raw
        if after is not None:
            after(k)


def history_or_none(engine: Lifecycle, duo_id: str,
                    as_at: datetime | None = None) -> list[dict[str, Any]] | None:
    try:
        return history_rows(engine, duo_id, as_at)
    except DomainError:
        return None


def store_for(backend: str, request: pytest.FixtureRequest, path: Path) -> str:
    if backend == "sqlite":
        return str(path)
    url: str = request.getfixturevalue("postgres_url")
    return url


# ---------------------------------------------------------------------- prefix stores
@dataclass
class Prefixes:
    """What a fresh store answered after receiving only the first k commands."""

    commands: list[dict[str, Any]]
    times: list[datetime]
    reports: list[dict[date, dict[str, Any]]] = field(default_factory=list)
    listings: list[dict[date, list[DuoRow]]] = field(default_factory=list)
    histories: list[dict[str, list[dict[str, Any]] | None]] = field(default_factory=list)

    def recorded_by(self, k: int) -> datetime:
        """T_k; for k = 0, a time before anything was recorded."""
        return self.times[k - 1] if k else self.times[0] - timedelta(hours=1)


@pytest.fixture(scope="module")
def prefixes(tmp_path_factory: pytest.TempPathFactory, new_stream: Callable[..., Any],
             submit: Submit) -> Prefixes:
    """One SQLite store grown command by command, queried after each (as of now)."""
    commands = late_entry_stream(new_stream("asat"))
    found = Prefixes(commands, hourly_times(len(commands)))
    clock = SetClock()
    with opened(str(tmp_path_factory.mktemp("prefix") / "prefix.db"), clock) as (engine, views):
        def snapshot(_: int) -> None:
            found.reports.append({d: views.report(d) for d in AS_OFS})
            found.listings.append({d: views.duos(d) for d in AS_OFS})
            found.histories.append({duo: history_or_none(engine, duo) for duo in DUO_IDS})

        snapshot(0)
        record(engine, clock, submit, commands, found.times, snapshot)
    return found


def test_the_stream_has_the_late_entries_it_is_meant_to_have(prefixes: Prefixes) -> None:
    dates = [c["occurred_on"] for c in prefixes.commands]
    late = [k for k in range(1, len(dates)) if dates[k] < max(dates[:k])]
    kinds = {prefixes.commands[k]["type"] for k in late}
    assert {"log_contact", "retract_contact", "recruit"} <= kinds
    assert len(prefixes.reports) == len(prefixes.commands) + 1


def test_reports_differ_between_prefixes_so_the_replay_check_has_teeth(
        prefixes: Prefixes) -> None:
    at_end = AS_OFS[-1]
    distinct = {json.dumps(r[at_end], sort_keys=True) for r in prefixes.reports}
    assert len(distinct) > len(prefixes.commands) // 2


# ---------------------------------------------------------------------- replay
@pytest.mark.parametrize("backend", BACKENDS)
def test_as_at_each_recording_time_equals_a_store_given_only_the_commands_recorded_by_then(
        backend: str, prefixes: Prefixes, submit: Submit, request: pytest.FixtureRequest,
        tmp_path: Path) -> None:
    """Report at every as_of, listing and history, at T_k and half-way to T_k+1."""
    clock = SetClock()
    mismatches: list[str] = []
    with opened(store_for(backend, request, tmp_path / "full.db"), clock) as (engine, views):
        record(engine, clock, submit, prefixes.commands, prefixes.times)
        views.catch_up()
        for k in range(len(prefixes.commands) + 1):
            moments = [prefixes.recorded_by(k), prefixes.recorded_by(k) + timedelta(minutes=30)]
            for moment in moments:
                for as_of in AS_OFS:
                    if views.report(as_of, as_at=moment, catch_up=False) != \
                            prefixes.reports[k][as_of]:
                        mismatches.append(f"report as_of {as_of} as_at T_{k} ({moment})")
                    if views.duos(as_of, as_at=moment, catch_up=False) != \
                            prefixes.listings[k][as_of]:
                        mismatches.append(f"duos as_of {as_of} as_at T_{k} ({moment})")
                for duo in DUO_IDS:
                    expected = prefixes.histories[k][duo] or []
                    if history_or_none(engine, duo, moment) != expected:
                        mismatches.append(f"history {duo} as_at T_{k} ({moment})")
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:5]}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_history_as_at_on_the_command_line_lists_only_events_recorded_by_then(
        backend: str, prefixes: Prefixes, submit: Submit, request: pytest.FixtureRequest,
        tmp_path: Path, cli: Run) -> None:
    store = store_for(backend, request, tmp_path / "full.db")
    clock = SetClock()
    with opened(store, clock) as (engine, _):
        record(engine, clock, submit, prefixes.commands, prefixes.times)
    late_close = next(k for k, c in enumerate(prefixes.commands, start=1)
                      if c["type"] == "close" and c["duo_id"] == "D-2")
    d3_recruited = next(k for k, c in enumerate(prefixes.commands, start=1)
                        if c["type"] == "recruit" and c["duo_id"] == "D-3")
    asks = {
        "D-2 at its late close": ("D-2", late_close),
        "D-3 before it was recruited": ("D-3", d3_recruited - 1),
    }
    with ThreadPoolExecutor(2) as pool:
        said = dict(zip(asks, pool.map(
            lambda ask: cli("--db", store, "history", ask[0], "--json", "--as-at",
                            prefixes.recorded_by(ask[1]).isoformat()),
            asks.values()), strict=True))
    for name, (duo, k) in asks.items():
        expected = prefixes.histories[k][duo]
        if expected is None:
            assert said[name].returncode == 2, said[name].stdout
            assert "had not been recorded by" in said[name].stderr
            continue
        assert said[name].returncode == 0, said[name].stderr
        assert json.loads(said[name].stdout) == json.loads(json.dumps(expected)), name
    assert [r["type"] for r in json.loads(said["D-2 at its late close"].stdout)][-1] == "Closed"


# ---------------------------------------------------------------------- the command line
@pytest.fixture
def business_store(new_stream: Callable[..., Any], submit: Submit) -> Callable[[str], None]:
    """``fill(store)``: the late-entry stream recorded on business times."""
    def fill(store: str) -> None:
        commands = late_entry_stream(new_stream("biz"))
        clock = SetClock()
        with opened(store, clock) as (engine, _):
            record(engine, clock, submit, commands, business_times(commands))

    return fill


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_late_contact_is_absent_as_at_the_day_before_its_entry_and_present_after(
        backend: str, business_store: Callable[[str], None], cli: Run,
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """``report --as-of D --as-at T --json`` and ``duos --as-at T --json``: D-1's contact
    of 2025-02-13, entered on 2025-02-20 18:00 UTC, counts only as at its entry."""
    store = store_for(backend, request, tmp_path / "business.db")
    business_store(store)
    before = (LATE_CONTACT_ENTERED - timedelta(days=1)).isoformat()
    entered = LATE_CONTACT_ENTERED.isoformat().replace("+00:00", "Z")
    calls = [("report", "--as-of", "2025-02-28", "--as-at", before, "--json"),
             ("report", "--as-of", "2025-02-28", "--as-at", entered, "--json"),
             ("duos", "--as-of", "2025-02-28", "--as-at", before, "--json"),
             ("duos", "--as-of", "2025-02-28", "--as-at", entered, "--json")]
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda args: cli("--db", store, *args), calls))
    for result in done:
        assert result.returncode == 0, result.stderr
    report_before, report_after, duos_before, duos_after = (
        json.loads(r.stdout) for r in done)

    frequency = [r["contact_frequency"] for r in (report_before, report_after)]
    assert [f["contacts"] for f in frequency] == [3, 4]
    assert [f["by_function"] for f in frequency] == [
        {"psychosocial": 2, "career": 2}, {"psychosocial": 3, "career": 2}]
    for report in (report_before, report_after):
        assert report["as_of"] == "2025-02-28"
        assert report["duos"] == {"total": 2, "by_state": {
            "recruited": 0, "selected": 0, "matched": 0, "active": 2, "closed": 0}}
    same = {k: v for k, v in report_before.items() if k != "contact_frequency"}
    assert same == {k: v for k, v in report_after.items() if k != "contact_frequency"}

    rows = [{row["duo_id"]: row for row in listing} for listing in (duos_before, duos_after)]
    assert [list(r) for r in rows] == [["D-1", "D-2"], ["D-1", "D-2"]]
    assert [(r["D-1"]["contacts"], r["D-1"]["contact_minutes"], r["D-1"]["last_contact_on"])
            for r in rows] == [(2, 60, "2025-02-18"), (3, 120, "2025-02-18")]
    assert rows[0]["D-2"] == rows[1]["D-2"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_late_contact_counts_from_the_exact_moment_it_was_recorded(
        backend: str, business_store: Callable[[str], None],
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store = store_for(backend, request, tmp_path / "business.db")
    business_store(store)
    counted = []
    with opened(store) as (_, views):
        for moment in (LATE_CONTACT_ENTERED - timedelta(microseconds=1),
                       LATE_CONTACT_ENTERED, LATE_CONTACT_ENTERED + timedelta(days=1)):
            report = views.report(date(2025, 2, 28), as_at=moment)
            counted.append(report["contact_frequency"]["contacts"])
    assert counted == [3, 4, 4]
