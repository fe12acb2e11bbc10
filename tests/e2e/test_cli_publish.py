"""``report --publish [--threshold K]`` as a user runs it (CONTRACT §6), on the project's
worked example (tests/examples): the whole store, one programme and every breakdown, as
JSON and as text."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from projections.publish import path_text

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "worked.jsonl"
"""The project's own worked example (tests/examples/)."""
DAY = "2025-09-30"
BREAKDOWNS = ("programme", "site", "country", "month")
NOT_COUNTS = {"t", "median", "mean", "median_change", "mean_change",
              "median_survival_days", "benchmark_minutes_per_30_days", "minutes", "threshold"}

Run = Callable[..., Any]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, cli: Run) -> Path:
    db = tmp_path_factory.mktemp("publish") / "pilot.db"
    done = cli("--db", db, "import", EXAMPLE, "--json")
    assert done.returncode == 0, done.stderr
    return db


def run(cli: Run, *invocations: tuple[Any, ...]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda args: cli(*args), invocations))


def ok(done: Any) -> Any:
    assert done.returncode == 0, (done.args, done.stderr)
    return done


def numbers(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, (*path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from numbers(item, (*path, str(i)))
    elif isinstance(value, int) and not isinstance(value, bool):
        yield path, value


def assert_no_small_count(value: Any, k: int) -> None:
    for path, number in numbers(value):
        if path[-1] not in NOT_COUNTS:
            assert not 0 < number < k, (".".join(path), number)


def leaves(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[
        tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list) and path[-1:] != ("survival_curve",):
        for i, item in enumerate(value):
            yield from leaves(item, (*path, i))
    else:
        yield path, value


def assert_replaced_only_what_it_lists(plain: dict[str, Any],
                                       published: dict[str, Any]) -> None:
    """The published report is the report with the listed figures null (and the curve
    cut to a first part of its rows), plus ``suppressed`` and ``threshold``."""
    assert list(published) == [*plain, "suppressed", "threshold"]
    listed = set(published["suppressed"])
    for path, value in leaves(plain):
        shown: Any = published
        for key in path:
            shown = None if shown is None else shown[key]
        if path[-1] == "survival_curve":
            rows = shown or []
            assert rows == [{**row, **{key: None for key in ("events", "censored")
                                       if f"{path_text((*path, i, key))}" in listed}}
                            for i, row in enumerate(value[:len(rows)])]
        elif value is not None and shown is None:
            assert path_text(path) in listed, path
        else:
            assert shown == value, path


def test_published_json_is_the_report_published_and_the_same_bytes_every_time(
        store: Path, cli: Run) -> None:
    plain, first, second, small = run(
        cli, ("--db", store, "report", "--as-of", DAY, "--json"),
        ("--db", store, "report", "--as-of", DAY, "--json", "--publish"),
        ("--db", store, "report", "--as-of", DAY, "--json", "--publish"),
        ("--db", store, "report", "--as-of", DAY, "--json", "--publish", "--threshold", "3"))
    assert ok(first).stdout == ok(second).stdout
    published = json.loads(first.stdout)
    assert_replaced_only_what_it_lists(json.loads(ok(plain).stdout), published)
    assert published["threshold"] == 10 and published["suppressed"]
    assert published["suppressed"] == sorted(published["suppressed"])
    assert_no_small_count(published, 10)
    three = json.loads(ok(small).stdout)
    assert three["threshold"] == 3
    # a lower threshold hides less: each path it hides is hidden at 10 too, itself or
    # within a whole curve row dropped there (a curve is cut earlier at 10)
    hidden_at_ten = set(published["suppressed"])
    assert all(path in hidden_at_ten or any(path.startswith(f"{p}.") for p in hidden_at_ten)
               for path in three["suppressed"])
    assert_replaced_only_what_it_lists(json.loads(plain.stdout), three)
    assert len(three["suppressed"]) < len(published["suppressed"])
    assert_no_small_count(three, 3)


def test_a_programme_and_every_breakdown_publish_no_count_below_the_threshold(
        store: Path, cli: Run) -> None:
    invocations = [("--db", store, "report", "--as-of", DAY, "--programme", "IE-2025",
                    "--json", "--publish", "--threshold", "4")]
    invocations += [("--db", store, "report", "--as-of", DAY, "--by", by, "--json",
                     "--publish", "--threshold", "4") for by in BREAKDOWNS]
    invocations += [("--db", store, "report", "--as-of", DAY, "--by", "site", "--json",
                     "--publish", "--threshold", "4")]
    programme, *broken, again = (ok(done) for done in run(cli, *invocations))
    assert json.loads(programme.stdout)["threshold"] == 4
    assert_no_small_count(json.loads(programme.stdout), 4)
    for by, done in zip(BREAKDOWNS, broken, strict=True):
        value = json.loads(done.stdout)
        assert list(value) == ["as_of", "by", "groups", "comparison", "suppressed",
                               "threshold"]
        assert value["by"] == by and value["groups"]
        assert_no_small_count(value["groups"], 4)
        # the groups' cells, and the comparison's figures when its smallest group is small
        assert all(path.startswith(("groups.", 'groups["', "comparison.survival_logrank."))
                   for path in value["suppressed"])
    assert again.stdout == broken[1].stdout  # site, twice: the same bytes


def test_the_text_report_marks_suppressed_figures_and_says_why(
        store: Path, cli: Run) -> None:
    text, by_site = (ok(done).stdout for done in run(
        cli, ("--db", store, "report", "--as-of", DAY, "--publish"),
        ("--db", store, "report", "--as-of", DAY, "--by", "site", "--publish",
         "--threshold", "3")))
    assert "[c] dropouts" in text  # the example's dropouts are fewer than ten
    footer = text.splitlines()[-1]
    assert footer.startswith("[c] suppressed for publication") and "threshold 10" in footer
    assert "a count of 1 to 9" in footer
    rows = by_site.splitlines()
    assert any("[c]" in row for row in rows[3:-1])
    assert "threshold 3" in rows[-1]


@pytest.mark.parametrize(("args", "says"), [
    (("--publish", "--threshold", "2"), "--threshold must be at least 3, not 2"),
    (("--publish", "--threshold", "ten"), "--threshold must be an integer"),
    (("--threshold", "5"), "--threshold needs --publish"),
    (("--publish", "--threshold", "2", "--by", "site"), "at least 3"),
])
def test_a_bad_threshold_is_a_one_line_usage_error(store: Path, cli: Run,
                                                   args: tuple[str, ...], says: str) -> None:
    done = cli("--db", store, "report", "--as-of", DAY, "--json", *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"lifecycle: error: {says}"] or (
        len(done.stderr.strip().splitlines()) == 1 and says in done.stderr)
