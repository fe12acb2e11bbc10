"""The contract's v2 worked example (``small-pilot-v2.jsonl``): imported through the
engine, it applies 1,057 commands and finds 1 duplicate, and ``attention`` and
``mentors`` from the views equal the example's files; re-importing it changes nothing;
a rebuild gives the same rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lifecycle.adapters.store import resolve_target
from lifecycle.application.engine import Lifecycle
from lifecycle.application.importer import Importer
from projections.facade import Views


@pytest.fixture(scope="module")
def example(shared_examples: Path) -> Path:
    """The contract's examples (skipped without them, failed when required: see the
    ``shared_examples`` fixture)."""
    return shared_examples


@pytest.fixture(scope="module")
def imported(example: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    target = resolve_target(str(tmp_path_factory.mktemp("example-v2") / "example.db"))
    engine = Lifecycle(target.env, today=lambda: date(2026, 1, 1))
    views = Views(target, engine.app.recorder, engine.app.mapper)
    with (example / "small-pilot-v2.jsonl").open("rb") as lines:
        result = Importer(engine, batch_size=100).run(lines)
    yield engine, views, result
    views.close()
    engine.shutdown()


def test_the_v2_example_applies_1057_commands_and_finds_one_duplicate(imported: Any) -> None:
    _, _, result = imported
    assert result.as_json() == {"applied": 1057, "duplicates": 1, "rejected": []}


@pytest.mark.parametrize("as_of", ["2025-07-31", "2025-12-31"])
def test_attention_equals_the_example(imported: Any, example: Path, as_of: str) -> None:
    _, views, _ = imported
    want = json.loads((example / f"small-pilot-v2.attention-{as_of}.json").read_text())
    got = [row.as_json() for row in views.attention(date.fromisoformat(as_of))]
    assert got == want


def test_the_danish_mentor_pool_equals_the_example(imported: Any, example: Path) -> None:
    _, views, _ = imported
    want = json.loads(
        (example / "small-pilot-v2.mentors-DK-2025-2025-07-31.json").read_text())
    got = [row.as_json() for row in views.mentors(date(2025, 7, 31), "DK-2025")]
    assert got == want


def test_the_history_shows_the_corrections_and_the_departures(imported: Any) -> None:
    engine, _, _ = imported
    [corrected] = [e for e in engine.history("pt.duo-0004") if type(e).__name__ == "Corrected"]
    assert corrected.data == {"fact": "activated_on", "value": "2025-04-05",
                              "previous": corrected.data["previous"]}
    assert corrected.data["previous"] != "2025-04-05"
    departed = [type(e).__name__ for e in engine.history("ro.duo-0007")]
    assert departed[-1] == "DepartureRecorded"


def test_importing_the_example_again_changes_nothing(imported: Any, example: Path) -> None:
    engine, views, _ = imported
    before = engine.app.recorder.max_notification_id()
    with (example / "small-pilot-v2.jsonl").open("rb") as lines:
        again = Importer(engine, batch_size=100).run(lines)
    assert again.as_json() == {"applied": 0, "duplicates": 1058, "rejected": []}
    assert engine.app.recorder.max_notification_id() == before
    assert views.differences() == []


@pytest.mark.parametrize("as_of", ["2025-07-31", "2025-12-31"])
def test_the_reports_v1_figures_use_the_corrected_facts_as_the_example(
        imported: Any, example: Path, as_of: str) -> None:
    _, views, _ = imported
    want = json.loads((example / f"small-pilot-v2.report-{as_of}.json").read_text())
    got = views.report(date.fromisoformat(as_of))
    for key in ("duos", "duration", "contact_frequency"):
        assert_close(got[key], want[key], key)
    for key in ("count", "rate", "by_stage", "by_reason", "survival"):
        assert_close(got["dropouts"][key], want["dropouts"][key], f"dropouts.{key}")


def assert_close(got: Any, want: Any, where: str) -> None:
    """Equal JSON values, floats within 1e-9."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            assert_close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, float):
        assert isinstance(got, float) and abs(got - want) <= 1e-9, f"{where}: {got} {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"
