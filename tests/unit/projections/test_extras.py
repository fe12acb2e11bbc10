"""The duos' evaluation extras: packed records (worked out per duo when it changes) read
back equal the read model's extras (worked out for all duos at once by the sections'
definitions)."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from projection_builders import Log, random_log

from projections.evaluation import COUNTERS, Lifecycle, Reviews, schedule
from projections.extras import (
    DuoExtras,
    Packed,
    PolicyDays,
    extras_from_views,
    met_windows,
    pack_extras,
    unpack_extras,
)
from projections.facts import NEVER, duo_facts
from projections.fold import fold
from projections.report import facts_array
from projections.views import DuoView

D = 739_000  # an ordinal day


def _rows(e: DuoExtras) -> dict[str, object]:
    ends = np.cumsum(e.entry_count).tolist()
    found = e.entries.tolist()
    return {"recruited": e.recruited.tolist(), "first": e.first_of_chain.tolist(),
            "entries": [found[end - count:end] for end, count
                        in zip(ends, e.entry_count.tolist(), strict=True)]}


def _packed(duos: list[DuoView], policy: PolicyDays) -> DuoExtras:
    packed = [pack_extras(d, duo_facts(d)[0], policy) for d in duos]
    return unpack_extras(Packed(*(b"".join(p[i] for p in packed) for i in range(2))))


def _viewed(duos: list[DuoView], policy: PolicyDays) -> DuoExtras:
    return extras_from_views(duos, facts_array([duo_facts(d)[0] for d in duos]), policy)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_packed_records_read_back_as_the_read_models_extras(seed: int) -> None:
    rnd = random.Random(seed)
    model = fold(random_log(rnd, max_duos=10, v2=rnd.random() < 0.5).events)
    duos = sorted(model.duos.values(), key=lambda d: d.duo_id)
    policy = PolicyDays(reviews_first_interval=rnd.randint(1, 3),
                        review_interval_days=rnd.choice([1, 7, 30, 90, 2**40]))
    assert _rows(_packed(duos, policy)) == _rows(_viewed(duos, policy))


@settings(max_examples=200, deadline=None)
@given(matched=st.integers(0, 60), closed=st.one_of(st.just(NEVER), st.integers(0, 200)),
       interval=st.integers(1, 40), first=st.integers(1, 3),
       days=st.lists(st.integers(0, 220), max_size=12))
def test_one_duos_met_windows_are_those_of_the_schedule(matched: int, closed: int,
                                                        interval: int, first: int,
                                                        days: list[int]) -> None:
    policy = PolicyDays(reviews_first_interval=first, review_interval_days=interval)
    n = len(days)
    found = schedule(
        Lifecycle(np.array([matched]), np.array([NEVER]), np.array([closed]),
                  np.array([-1]), np.array([False])),
        policy.arrays(1),
        Reviews(np.zeros(n, dtype=np.int64), np.array(days, dtype=np.int64),
                np.arange(n, dtype=np.int64), np.ones(n, dtype=np.int64)))
    assert met_windows(matched, closed, sorted(days), policy) == found.met_day.tolist()


def test_a_rematch_is_one_chain_whose_first_duo_carries_it() -> None:
    log = Log().world().duo("A", 0, 1, 2, 3, closed=40, reason="rematched")
    log.recruit("B", 41, mentee_id="E-A", predecessor="A")
    log.duo("C", 5)
    duos = sorted(fold(log.events).duos.values(), key=lambda d: d.duo_id)
    assert [d.chain_id for d in duos] == ["A", "A", "C"]
    extras = _viewed(duos, PolicyDays())
    assert extras.first_of_chain.tolist() == [True, False, True]
    assert extras.chain.tolist()[0] == extras.chain.tolist()[1] != extras.chain.tolist()[2]
    assert _packed(duos, PolicyDays()).first_of_chain.tolist() == [True, False, True]


def test_a_subset_keeps_each_rows_entries_in_order_whatever_the_rows_order() -> None:
    log = Log().world()
    for i, duo in enumerate("ABC"):
        log.duo(duo, i, i + 1, i + 2, i + 3)
        for k in range(3):
            log.review(duo, i + 4 + 10 * k, health=1 + k + i)
    duos = sorted(fold(log.events).duos.values(), key=lambda d: d.duo_id)
    extras = _packed(duos, PolicyDays(reviews_first_interval=1, review_interval_days=10))
    picked = extras.subset([2, 0])
    assert _rows(picked)["entries"] == [_rows(extras)["entries"][2],
                                        _rows(extras)["entries"][0]]
    assert picked.recruited.tolist() == [extras.recruited[2], extras.recruited[0]]
    # Each row's three reviews, and the windows they met.
    assert picked.entry_count.tolist() == extras.entry_count[[2, 0]].tolist()
    assert all(count >= 3 for count in picked.entry_count.tolist())
    assert extras.subset([0, 1, 2]) is extras


def test_no_duo_no_extras() -> None:
    extras = unpack_extras(Packed(b"", b""))
    assert len(extras) == 0
    assert extras.counts(D).tolist() == [0] * COUNTERS
    assert extras.chains().first_recruited.tolist() == []
