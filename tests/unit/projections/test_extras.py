"""The duos' evaluation extras: packed records read back equal the read model's."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from projection_builders import Log, random_log

from projections.extras import extras_from_views, pack_extras, unpack_extras
from projections.fold import fold


def _rows(extras: object) -> dict[str, object]:
    e = extras
    reviews = sorted(zip(e.reviews.row.tolist(), e.reviews.day.tolist(),  # type: ignore[attr-defined]
                         e.reviews.order.tolist(), e.reviews.health.tolist(),  # type: ignore[attr-defined]
                         strict=True))
    surveys = sorted(zip(e.surveys.row.tolist(), e.surveys.respondent.tolist(),  # type: ignore[attr-defined]
                         e.surveys.phase.tolist(), e.surveys.day.tolist(),  # type: ignore[attr-defined]
                         map(tuple, e.surveys.scores.tolist()), strict=True))  # type: ignore[attr-defined]
    return {"exit": e.exit_interview.tolist(), "first": e.first_of_chain.tolist(),  # type: ignore[attr-defined]
            "reviews": reviews, "surveys": surveys}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_packed_records_read_back_as_the_read_models_extras(seed: int) -> None:
    model = fold(random_log(random.Random(seed), max_duos=10).events)
    duos = sorted(model.duos.values(), key=lambda d: d.duo_id)
    packed = unpack_extras(b"".join(pack_extras(d) for d in duos))
    assert _rows(packed) == _rows(extras_from_views(duos))


def test_a_rematch_is_one_chain_whose_first_duo_carries_it() -> None:
    log = Log().world().duo("A", 0, 1, 2, 3, closed=40, reason="rematched")
    log.recruit("B", 41, mentee_id="E-A", predecessor="A")
    log.duo("C", 5)
    duos = sorted(fold(log.events).duos.values(), key=lambda d: d.duo_id)
    assert [d.chain_id for d in duos] == ["A", "A", "C"]
    extras = extras_from_views(duos)
    assert extras.first_of_chain.tolist() == [True, False, True]
    assert extras.chain.tolist()[0] == extras.chain.tolist()[1] != extras.chain.tolist()[2]
    assert unpack_extras(b"".join(pack_extras(d) for d in duos)).first_of_chain.tolist() == [
        True, False, True]


def test_no_duo_no_extras() -> None:
    extras = unpack_extras(b"")
    assert len(extras.chain) == 0
    assert extras.surveys.scores.shape == (0, 4)
    assert np.array_equal(extras.reviews.row, np.empty(0, dtype=np.int64))
