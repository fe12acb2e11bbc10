"""One duo's evaluation extras at their edges, worked out by hand: the entries of
:func:`duo_entries` (each counter number and day), the monitoring windows of
:func:`met_windows` met on their first and last days, and the ranges refused."""

from __future__ import annotations

import struct
from dataclasses import fields

import numpy as np
import pytest
from projection_builders import Log, d

from projections.evaluation import COUNTERS, DEPARTURE_REASONS, LAST_DAY, Chains
from projections.extras import (
    DuoExtras,
    Packed,
    PackedExtras,
    PolicyDays,
    duo_entries,
    extras_from_views,
    met_windows,
    pack_extras,
    packed_head,
    unpack_extras,
)
from projections.facts import NEVER, duo_facts
from projections.fold import fold
from projections.report import facts_array
from projections.views import DuoView

D = 739_000  # an ordinal day


def _split(found: list[int]) -> list[tuple[int, int]]:
    return [(entry >> 9, entry & 511) for entry in found]


def test_the_entries_of_reviews_a_window_an_exit_interview_and_a_survey_pair() -> None:
    # Counters: a review is 0 + health * 7 + (health before + 1), MET is 42, the exit
    # interview 43, and a pair's halves 44 + (respondent * 2 + half) * 81
    # + (first change + 4) * 9 + second change + 4.
    found = duo_entries([(D, 0), (D + 1, 5), (D + 2, 1)], [D + 29], D + 40,
                        [(1, D + 50, (4, -4, 0, 1))])
    assert _split(found) == [
        (D, 0 + 0 * 7 + 0),       # health 0 (erased), none before
        (D + 1, 5 * 7 + 1),       # health 5 after 0
        (D + 2, 1 * 7 + 6),       # health 1 after 5
        (D + 29, 42),
        (D + 40, 43),
        (D + 50, 44 + 2 * 81 + 8 * 9 + 0),  # mentor's first half: +4, -4
        (D + 50, 44 + 3 * 81 + 4 * 9 + 5),  # mentor's second half: 0, +1
    ]


def test_the_mentees_pair_comes_first_and_entries_are_sorted_by_day() -> None:
    found = duo_entries([(D + 9, 3)], [], NEVER, [(0, D, (-1, 0, 1, 2))])
    assert _split(found) == [
        (D, 44 + 0 * 81 + 3 * 9 + 4),
        (D, 44 + 1 * 81 + 5 * 9 + 6),
        (D + 9, 3 * 7 + 0),
    ]


def test_no_exit_interview_no_entry_and_nothing_gives_nothing() -> None:
    assert duo_entries([], [], NEVER, []) == []
    assert duo_entries([], [], D, []) == [D << 9 | 43]


@pytest.mark.parametrize("health", [-1, 6])
def test_a_health_out_of_range_is_refused(health: int) -> None:
    with pytest.raises(ValueError, match=r"^a review's health is out of range$"):
        duo_entries([(D, health)], [], NEVER, [])


@pytest.mark.parametrize("change", [-5, 5])
def test_a_survey_change_out_of_range_is_refused(change: int) -> None:
    with pytest.raises(ValueError, match=r"^a survey change is out of range$"):
        duo_entries([], [], NEVER, [(0, D, (0, 0, 0, change))])


def test_entries_dated_after_the_last_possible_day_are_dropped() -> None:
    found = duo_entries([(LAST_DAY, 2)], [LAST_DAY + 1, LAST_DAY + 5], LAST_DAY + 1, [])
    assert _split(found) == [(LAST_DAY, 2 * 7)]
    assert duo_entries([], [LAST_DAY + 1], NEVER, []) == []


def test_a_window_is_met_by_a_review_on_its_first_or_last_day() -> None:
    policy = PolicyDays(reviews_first_interval=1, review_interval_days=10)
    assert met_windows(D, NEVER, [D], policy) == [D + 9]
    assert met_windows(D, NEVER, [D + 9], policy) == [D + 9]
    assert met_windows(D, NEVER, [D + 10], policy) == [D + 19]
    assert met_windows(D, NEVER, [D - 1], policy) == []


def test_the_first_window_needs_reviews_first_interval_reviews_the_others_one() -> None:
    policy = PolicyDays(reviews_first_interval=2, review_interval_days=10)
    assert met_windows(D, NEVER, [D + 1, D + 12], policy) == [D + 19]
    assert met_windows(D, NEVER, [D + 1, D + 9, D + 12], policy) == [D + 9, D + 19]
    assert met_windows(D, NEVER, [D + 11, D + 12], policy) == [D + 19]


def test_a_window_counts_only_if_the_duo_was_open_on_its_last_day() -> None:
    policy = PolicyDays(reviews_first_interval=1, review_interval_days=10)
    assert met_windows(D, D + 9, [D, D + 5], policy) == [D + 9]
    assert met_windows(D, D + 8, [D, D + 5], policy) == []
    assert met_windows(D, D + 19, [D, D + 10], policy) == [D + 9, D + 19]


def test_a_duo_never_matched_meets_no_window() -> None:
    assert met_windows(NEVER, NEVER, [D], PolicyDays()) == []


# ------------------------------------------------------------------ from the read model
def _duos(log: Log) -> list[DuoView]:
    return sorted(fold(log.events).duos.values(), key=lambda duo: duo.duo_id)


def _viewed(duos: list[DuoView], stamp: str | None = None,
            policy: PolicyDays | None = None) -> DuoExtras:
    return extras_from_views(duos, facts_array([duo_facts(duo)[0] for duo in duos]),
                             policy or PolicyDays(), stamp)


def _entries(extras: DuoExtras) -> list[tuple[int, int]]:
    return _split(extras.entries.tolist())


B = d(0).toordinal()


def test_a_departure_recorded_on_a_later_duo_is_its_whole_chains() -> None:
    log = Log().world().duo("A", 0, 1, 2, 3, closed=40, reason="rematched")
    log.recruit("B", 41, mentee_id="E-A", predecessor="A").depart("B", 50, "retired")
    log.duo("C", 5)
    duos = _duos(log)
    extras = _viewed(duos)
    retired = DEPARTURE_REASONS.index("retired")
    assert extras.chain_departed.tolist() == [B + 50, B + 50, NEVER]
    assert extras.chain_reason.tolist() == [retired, retired, -1]
    assert extras.recruited.tolist() == [B, B + 41, B + 5]
    departed_at = duos[1].departed_at
    assert departed_at is not None
    assert _viewed(duos, departed_at).chain_departed.tolist() == [B + 50, B + 50, NEVER]
    assert _viewed(duos, duos[1].recruited_at).chain_departed.tolist() == [NEVER] * 3
    # In the records, only the first duo's own departures are in its head.
    assert [_head(duo)[2:4] for duo in duos] == [(NEVER, -1)] * 3


def _head(duo: DuoView) -> tuple[int, ...]:
    return struct.unpack("<5i", pack_extras(duo, duo_facts(duo)[0], PolicyDays()).head)


def test_a_departure_recorded_on_the_first_duo_is_in_its_head() -> None:
    log = Log().world().duo("A", 0, 1, 2, 3).depart("A", 7, "other")
    (duo,) = _duos(log)
    assert _head(duo) == (B, 1, B + 7, DEPARTURE_REASONS.index("other"), 0)
    extras = _viewed([duo])
    assert (extras.chain_departed.tolist(), extras.chain_reason.tolist()) == (
        [B + 7], [DEPARTURE_REASONS.index("other")])


def test_an_exit_interview_counts_on_the_close_day_once_recorded() -> None:
    log = Log().world().duo("A", 0, 1, 2, 3)
    log.close("A", 20, "completed", exit_interview=True).duo("C", 4, closed=30)
    duos = _duos(log)
    closed_at = duos[0].closed_at
    assert closed_at is not None
    assert _entries(_viewed(duos)) == [(B + 20, 43)]
    assert _viewed(duos).entry_count.tolist() == [1, 0]
    assert _entries(_viewed(duos, closed_at)) == [(B + 20, 43)]
    assert _entries(_viewed(duos, duos[0].activated_at)) == []
    assert _split(list(struct.unpack("<1i", pack_extras(
        duos[0], duo_facts(duos[0])[0], PolicyDays()).entries))) == [(B + 20, 43)]


def test_a_review_counts_once_recorded_and_by_its_version_order() -> None:
    log = Log().world().duo("A", 0, 1, 2, 3).review("A", 10, health=5).review("A", 10, 2)
    (duo,) = _duos(log)
    first, second = (review.recorded_at for review in duo.reviews)
    # Health 2 after 5 (20), health 5 after none (35), and two reviews meet the first
    # window (matched on day 2: its last day is 31).
    both = [(B + 10, 2 * 7 + 6), (B + 10, 5 * 7), (B + 31, 42)]
    assert _entries(_viewed([duo])) == both
    assert _entries(_viewed([duo], second)) == both
    assert _entries(_viewed([duo], first)) == [(B + 10, 5 * 7)]
    assert _entries(_viewed([duo], duo.activated_at)) == []


def test_a_survey_pair_counts_on_the_later_day_with_the_changes() -> None:
    log = Log().world().duo("A", 0, 1, 2, 3)
    log.survey("A", 30, "mentor", "post", {"wellbeing": 5, "stress": 1,
                                           "integration": 1, "confidence": 5})
    log.survey("A", 10, "mentor", "pre", {"wellbeing": 1, "stress": 5,
                                          "integration": 2, "confidence": 4})
    (duo,) = _duos(log)
    want = [(B + 30, 44 + 2 * 81 + 8 * 9 + 0), (B + 30, 44 + 3 * 81 + 3 * 9 + 5)]
    assert _entries(_viewed([duo])) == want
    packed = pack_extras(duo, duo_facts(duo)[0], PolicyDays())
    assert _split(list(struct.unpack("<2i", packed.entries))) == want
    post_at = next(s.recorded_at for s in duo.surveys.values() if s.phase == "post")
    assert _entries(_viewed([duo], post_at)) == []
    pre_at = next(s.recorded_at for s in duo.surveys.values() if s.phase == "pre")
    assert _entries(_viewed([duo], pre_at)) == want


# ------------------------------------------------------------------ records read back
def _records(*heads: tuple[int, ...], entries: tuple[int, ...] = ()) -> Packed:
    return Packed(b"".join(struct.pack("<5i", *head) for head in heads),
                  struct.pack(f"<{len(entries)}i", *entries))


def test_an_entry_dated_on_as_of_counts_one_dated_the_day_after_does_not() -> None:
    records = _records((B, 1, NEVER, -1, 2), entries=(B + 5 << 9 | 42, B + 6 << 9 | 43))
    for extras in (PackedExtras.of(packed_head(records.head), records.entries),
                   unpack_extras(records)):
        assert extras.counts(B + 4)[42:44].tolist() == [0, 0]
        assert extras.counts(B + 5)[42:44].tolist() == [1, 0]
        assert extras.counts(B + 6)[42:44].tolist() == [1, 1]
        assert int(extras.counts(B + 6).sum()) == 2


def test_records_read_back_with_their_heads_chains_and_joined_departures() -> None:
    records = _records((B, 1, B + 9, 2, 1), (B + 3, 0, NEVER, -1, 0), (B + 4, 1, NEVER, -1, 1),
                       entries=(B << 9 | 43, B + 4 << 9 | 42))
    packed = PackedExtras.of(packed_head(records.head), records.entries)
    assert len(packed) == 3
    assert packed.recruited.tolist() == [B, B + 3, B + 4]
    assert packed.first_of_chain.tolist() == [True, False, True]
    chains = packed.chains()
    assert (chains.first_recruited.tolist(), chains.departed.tolist(),
            chains.reason.tolist()) == ([B, B + 4], [B + 9, NEVER], [2, -1])
    own = unpack_extras(records)
    assert own.chain.tolist() == [0, 1, 2]
    assert own.chain_departed.tolist() == [B + 9, NEVER, NEVER]
    assert own.entry_count.tolist() == [1, 0, 1]
    assert _rows(own.subset([2, 0])) == [[(B + 4, 42)], [(B, 43)]]
    assert own.subset([2, 1, 0]).chain.tolist() == [2, 1, 0]
    assert own.subset([2, 1, 0]).recruited.tolist() == [B + 4, B + 3, B]
    assert len(own.subset([])) == 0
    assert _rows(packed.subset([1, 2])) == [[], [(B + 4, 42)]]
    joined = unpack_extras(records, np.array([0, 0, 1]), Chains(
        np.array([B, B, B + 4]), np.array([B + 9, B + 9, B + 8]), np.array([2, 2, 0])))
    assert joined.chain.tolist() == [0, 0, 1]
    assert joined.chain_departed.tolist() == [B + 9, B + 9, B + 8]
    assert joined.chain_reason.tolist() == [2, 2, 0]
    assert joined.chains().departed.tolist() == [B + 9, B + 8]
    assert joined.chains().first_recruited.tolist() == [B, B + 4]


def _rows(extras: DuoExtras) -> list[list[tuple[int, int]]]:
    ends = np.cumsum(extras.entry_count).tolist()
    found = _split(extras.entries.tolist())
    return [found[end - count:end]
            for end, count in zip(ends, extras.entry_count.tolist(), strict=True)]


def test_a_programmes_policy_days_repeated_per_duo() -> None:
    log = Log().programme(first_meeting_within_days=7, min_duration_days=100,
                          max_duration_days=200, reviews_first_interval=3,
                          review_interval_days=14)
    (programme,) = fold(log.events).programmes.values()
    policy = PolicyDays.of(programme)
    assert policy == PolicyDays(7, 100, 200, 3, 14)
    arrays = policy.arrays(2)
    assert [getattr(arrays, field.name).tolist() for field in fields(arrays)] == [
        [7, 7], [100, 100], [200, 200], [3, 3], [14, 14]]
    assert arrays.review_interval_days.dtype == np.int64


def test_the_extras_of_no_duo_count_nothing_and_have_no_chain() -> None:
    extras = DuoExtras.empty()
    assert len(extras) == 0
    assert extras.decoded() is extras
    assert extras.counts(D).tolist() == [0] * COUNTERS
    assert extras.chains().first_recruited.tolist() == []
    assert extras.first_of_chain.dtype == np.bool_
    assert [len(extras.subset([])), len(extras.subset(np.array([], dtype=np.int64)))] == [0, 0]
    for ints in (extras.recruited, extras.chain, extras.chain_departed, extras.chain_reason,
                 extras.entry_count, extras.entries):
        assert (ints.dtype, ints.shape) == (np.int64, (0,))


def test_a_forgotten_respondents_survey_makes_no_pair() -> None:
    log = Log().world().duo("A", 0, 1, 2, 3)
    log.survey("A", 10, "mentee", "pre").survey("A", 30, "mentee", "post")
    (duo,) = _duos(log)
    post = duo.surveys[("mentee", "post")]
    post.wellbeing = post.stress = post.integration = post.confidence = None
    assert pack_extras(duo, duo_facts(duo)[0], PolicyDays()).entries == b""
    assert _entries(_viewed([duo])) == []


def test_the_read_models_extras_number_chains_in_whole_numbers() -> None:
    # Sorted by id: A and its rematch B are the first chain (0), C the second (1).
    log = Log().world().duo("A", 0, 1, 2, 3, closed=40, reason="rematched")
    log.recruit("B", 41, mentee_id="E-A", predecessor="A").duo("C", 5)
    extras = _viewed(_duos(log))
    assert extras.chain.tolist() == [0, 0, 1]
    assert extras.first_of_chain.tolist() == [True, False, True]
    assert extras.first_of_chain.dtype == np.bool_
    for ints in (extras.recruited, extras.chain, extras.chain_departed, extras.chain_reason,
                 extras.entry_count, extras.entries):
        assert (ints.dtype, ints.shape[1:]) == (np.int64, ())
