"""Group commit (``lifecycle.groupcommit``): commands from many callers applied by one
writer in shared transactions, each still whole or not at all, each caller told its own
outcome only once its transaction is committed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lifecycle.application.batch import Submission
from lifecycle.application.commands import parse_command
from lifecycle.application.engine import Lifecycle, Outcome
from lifecycle.application.groupcommit import GroupCommitter, WriterStopped
from lifecycle.domain.errors import DomainError


def submission(raw: dict[str, Any]) -> Submission:
    return Submission(parse_command(raw), raw)


def review(number: int, duo_id: str = "D-1", **fields: Any) -> Submission:
    return submission({"type": "review", "occurred_on": "2025-03-01", "duo_id": duo_id,
                       "health": 3, "command_id": f"r-{number}", **fields})


class HeldSaves:
    """Holds the engine's saves until released, recording what was saved when."""

    def __init__(self, engine: Lifecycle) -> None:
        self.saving = threading.Event()
        self.release = threading.Event()
        self.saves: list[int] = []
        original = engine.save

        def save(*aggregates: Any) -> None:
            self.saving.set()
            assert self.release.wait(10)
            original(*aggregates)
            self.saves.append(engine.last_position)

        engine.save = save  # type: ignore[method-assign]


@pytest.fixture
def engine_with_duo(engine: Lifecycle, stream: Any) -> Lifecycle:
    stream.base().duo("active", "D-1").duo("active", "D-2", mentee_id="E-2").apply(engine)
    return engine


@pytest.fixture
def writer(engine_with_duo: Lifecycle) -> Iterator[GroupCommitter]:
    committer = GroupCommitter(engine_with_duo).start()
    yield committer
    committer.stop()


def test_commands_queued_while_the_writer_commits_share_the_next_transaction(
        engine_with_duo: Lifecycle, writer: GroupCommitter) -> None:
    held = HeldSaves(engine_with_duo)
    first = writer.submit(review(0))
    assert held.saving.wait(10)  # the writer is committing the first command now
    queued = [writer.submit(review(n, "D-2" if n % 2 else "D-1")) for n in range(1, 11)]
    held.release.set()
    outcomes = [first.result(10), *(future.result(10) for future in queued)]
    assert [s.outcome for s in outcomes] == [Outcome.APPLIED] * 11
    assert writer.batches == 2 and writer.commands == 11
    assert len(held.saves) == 2
    # Every command of the second transaction is stored by its last position.
    assert {s.position for s in outcomes[1:]} == {held.saves[1]}
    assert engine_with_duo.get_duo("D-1").version + engine_with_duo.get_duo("D-2").version \
        == 2 * 4 + 11


def test_an_outcome_is_told_only_after_its_transaction_is_committed(
        engine_with_duo: Lifecycle, writer: GroupCommitter) -> None:
    held = HeldSaves(engine_with_duo)
    future = writer.submit(review(1))
    assert held.saving.wait(10)
    assert not future.done()
    held.release.set()
    assert future.result(10).outcome is Outcome.APPLIED


def test_a_rejected_command_in_a_batch_changes_nothing_and_the_others_are_applied(
        engine_with_duo: Lifecycle, writer: GroupCommitter) -> None:
    held = HeldSaves(engine_with_duo)
    first = writer.submit(review(0))
    assert held.saving.wait(10)
    good = writer.submit(review(1))
    bad = writer.submit(review(2, occurred_on="2025-01-01"))  # before recruitment: rule 9
    duplicate = writer.submit(review(1))
    held.release.set()
    assert first.result(10).outcome is Outcome.APPLIED
    assert good.result(10).outcome is Outcome.APPLIED
    rejected = bad.result(10)
    assert rejected.outcome is None and rejected.position is None
    assert isinstance(rejected.error, DomainError) and rejected.error.rule == 9
    assert duplicate.result(10).outcome is Outcome.DUPLICATE
    assert writer.batches == 2


def test_a_store_failure_fails_its_batch_and_the_writer_goes_on(
        engine_with_duo: Lifecycle, writer: GroupCommitter) -> None:
    original = engine_with_duo.save
    failures = [OSError("disk gone")]

    def save(*aggregates: Any) -> None:
        if failures:
            raise failures.pop()
        original(*aggregates)

    engine_with_duo.save = save  # type: ignore[method-assign]
    version = engine_with_duo.get_duo("D-1").version
    with pytest.raises(OSError, match="disk gone"):
        writer.submit(review(1)).result(10)
    assert engine_with_duo.get_duo("D-1").version == version
    assert writer.submit(review(1)).result(10).outcome is Outcome.APPLIED
    assert engine_with_duo.get_duo("D-1").version == version + 1


def test_stopping_applies_what_is_queued_then_takes_no_more(
        engine_with_duo: Lifecycle) -> None:
    committer = GroupCommitter(engine_with_duo)
    queued = [committer.submit(review(n)) for n in range(5)]  # not started yet
    committer.start().stop()
    assert [future.result(10).outcome for future in queued] == [Outcome.APPLIED] * 5
    with pytest.raises(WriterStopped):
        committer.submit(review(9)).result(10)


def test_a_command_whose_caller_went_away_before_it_was_taken_is_dropped(
        engine_with_duo: Lifecycle, writer: GroupCommitter) -> None:
    held = HeldSaves(engine_with_duo)
    first = writer.submit(review(0))
    assert held.saving.wait(10)
    gone = writer.submit(review(1))
    assert gone.cancel()
    kept = writer.submit(review(2))
    held.release.set()
    assert first.result(10).outcome is kept.result(10).outcome is Outcome.APPLIED
    assert writer.commands == 2
