"""A duo's packed facts, timeline and month-by-month contact states: the counts the
month's states give at any day are those recounted from the timeline."""

from __future__ import annotations

import random
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from projection_builders import Log, random_log

from projections.facts import contacts_at, duo_facts, month_states, pack_timeline
from projections.fold import fold
from projections.report import facts_at


def _months_of(model_duos: list[tuple[tuple[int, ...], list[tuple[str, bytes]]]],
               month: str) -> bytes:
    return b"".join(states for _, months in model_duos for m, states in months
                    if m == month)


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_states_of_a_month_give_the_counts_of_the_timeline_on_every_day(
        rnd: random.Random) -> None:
    model = fold(random_log(rnd, max_duos=10, v2=True).events)
    duos = []
    for duo in model.duos.values():
        facts, timeline = duo_facts(duo)
        duos.append((facts, month_states(facts, timeline), timeline))
    if not duos:
        return
    first = min(f[0] for f, _, _ in duos)
    last = max(f[12] for f, _, _ in duos)
    for ordinal in range(first, last + 1):
        day = date.fromordinal(ordinal)
        states = _months_of([(f, m) for f, m, _ in duos], day.isoformat()[:7])
        got = facts_at(states, day).tolist()
        want = [[*f[:7], *contacts_at(t, ordinal)] for f, _, t in duos
                if f[0] <= ordinal < f[12]]
        assert sorted(row[:12] for row in got) == sorted(want)
        # each duo's "settled" at as_of is the day of its last change by then
        assert all(row[12] <= ordinal for row in got)


def test_a_duo_has_a_month_from_its_recruitment_to_its_last_change() -> None:
    log = Log().world().duo("D-1", "2025-01-20", "2025-01-21", "2025-01-22", "2025-01-23")
    log.contact("D-1", "K-1", "2025-01-25").contact("D-1", "K-2", "2025-02-03")
    log.retract("D-1", "K-1", "2025-04-02")
    facts, timeline = duo_facts(fold(log.events).duos["D-1"])
    months = month_states(facts, timeline)
    assert [m for m, _ in months] == ["2025-01", "2025-02", "2025-03", "2025-04"]
    # March has no change: its only state is the one it began with
    assert len(months[2][1]) == 4 * 6 * 3
    assert month_states(*duo_facts(fold(Log().world().recruit("D-2", 3).events).duos["D-2"])
                        ) == []


def test_a_contact_retracted_on_its_own_day_never_counts() -> None:
    on = date(2025, 3, 10).toordinal()
    timeline = [(on, on, 1, 30), (on + 1, 2**31 - 1, 2, 20)]
    facts = (on - 5, 0, 0, on - 1, 2**31 - 1, -1, -1, 1, 0, 1, 20, on + 1, on + 1)
    (_, states), = month_states(facts, timeline)
    got = facts_at(states, date.fromordinal(on)).tolist()
    assert got == [[*facts[:7], 0, 0, 0, 0, 0, on]]
    assert contacts_at(pack_timeline(timeline), on) == (0, 0, 0, 0, 0)


def test_each_duo_of_a_month_keeps_its_own_latest_state() -> None:
    """Two duos' March states one after the other: on 03-20 each has the one contact it
    had logged by then (its state of 03-05, or 03-10), not its neighbour's."""
    log = Log().world()
    log.duo("D-1", "2025-03-01", "2025-03-01", "2025-03-01", "2025-03-01")
    log.contact("D-1", "K-1", "2025-03-05").contact("D-1", "K-2", "2025-04-02")
    log.duo("D-2", "2025-03-01", "2025-03-01", "2025-03-01", "2025-03-01")
    log.contact("D-2", "K-1", "2025-03-10", minutes=45, functions=["career"])
    log.contact("D-2", "K-2", "2025-04-03")
    model = fold(log.events)
    march = []
    for duo_id in ("D-1", "D-2"):
        facts, timeline = duo_facts(model.duos[duo_id])
        march.append(dict(month_states(facts, timeline))["2025-03"])
    day = date(2025, 3, 20)
    got = facts_at(b"".join(march), day).tolist()
    # contacts, psychosocial, career, minutes, last contact day; then the state's day
    assert [row[7:] for row in got] == [
        [1, 1, 0, 30, date(2025, 3, 5).toordinal(), date(2025, 3, 5).toordinal()],
        [1, 0, 1, 45, date(2025, 3, 10).toordinal(), date(2025, 3, 10).toordinal()]]
