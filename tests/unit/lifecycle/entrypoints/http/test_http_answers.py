"""The answers the service keeps while the log's head stands still (ADR 37)."""

from __future__ import annotations

from lifecycle.entrypoints.http.runtime import Answers


def test_an_answer_is_kept_at_its_head_and_only_there() -> None:
    answers = Answers()
    answers.put(7, ("report", "2025-06-30"), b"seven")
    assert answers.get(7, ("report", "2025-06-30")) == b"seven"
    assert answers.get(7, ("report", "2025-07-31")) is None  # another query
    assert answers.get(8, ("report", "2025-06-30")) is None  # the log moved on


def test_a_newer_head_drops_every_answer_and_an_older_one_is_not_kept() -> None:
    answers = Answers()
    answers.put(7, "a", b"a at 7")
    answers.put(7, "b", b"b at 7")
    answers.put(9, "a", b"a at 9")
    assert answers.get(9, "a") == b"a at 9"
    assert answers.get(9, "b") is None
    assert len(answers) == 1
    answers.put(8, "b", b"b at 8")  # computed before the head of 9 was seen
    assert answers.get(9, "b") is None
    assert answers.get(8, "b") is None


def test_only_the_most_recently_used_answers_are_kept() -> None:
    answers = Answers(size=2)
    answers.put(1, "a", b"a")
    answers.put(1, "b", b"b")
    assert answers.get(1, "a") == b"a"  # now the most recently used
    answers.put(1, "c", b"c")
    assert answers.get(1, "b") is None
    assert answers.get(1, "a") == b"a"
    assert answers.get(1, "c") == b"c"


def test_a_commit_clears_them() -> None:
    answers = Answers()
    answers.put(3, "a", b"a")
    answers.clear()
    assert answers.get(3, "a") is None
    assert len(answers) == 0
