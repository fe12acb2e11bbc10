"""The worked examples — the project's own (``tests/examples/``) and, when it lies beside
the repository, the contract's (``shared/examples``) — imported through the engine's
importer (views caught up after every committed batch): the report from the
materialised views equals the example's reports, to 1e-9 and with the same JSON types."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lifecycle.adapters.store import connect, resolve_target
from lifecycle.application import Lifecycle
from lifecycle.application.importer import Importer
from projections import catchup, compare, loading, rebuild


@dataclass(frozen=True)
class Example:
    """A stream ``NAME.jsonl`` and its reports ``NAME.report-DATE.json`` in ``folder``."""

    folder: Path
    name: str
    dates: tuple[str, ...]

    @property
    def stream(self) -> Path:
        return self.folder / f"{self.name}.jsonl"

    def report(self, as_of: str) -> Any:
        return json.loads((self.folder / f"{self.name}.report-{as_of}.json").read_text())


@pytest.fixture(scope="module", params=["worked", "small-pilot"])
def example(request: pytest.FixtureRequest) -> Example:
    """The project's own example, then the contract's (skipped when absent)."""
    if request.param == "worked":
        return Example(Path(__file__).resolve().parents[1] / "examples", "worked",
                       ("2025-04-30", "2025-09-30"))
    return Example(request.getfixturevalue("shared_examples"), "small-pilot",
                   ("2025-03-31", "2025-07-31"))


def assert_same_json(got: Any, want: Any, where: str = "report") -> None:
    """Equal keys in equal order, equal JSON types, floats within 1e-9; keys beyond the
    expected ones are allowed (a report of v2 against an example of v1 keys)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        assert [key for key in got if key in want] == list(want), where
        for key in want:
            assert_same_json(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (item, wanted) in enumerate(zip(got, want, strict=True)):
            assert_same_json(item, wanted, f"{where}[{i}]")
    elif isinstance(want, float):
        assert type(got) is float, f"{where}: {got!r} is not a float"
        assert abs(got - want) <= 1e-9, f"{where}: {got!r} != {want!r}"
    else:
        assert type(got) is type(want) and got == want, f"{where}: {got!r} != {want!r}"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, example: Example) -> Any:
    target = resolve_target(str(tmp_path_factory.mktemp("example") / "example.db"))
    engine = Lifecycle(target.env, today=lambda: date(2026, 1, 1))
    conn = connect(target)
    recorder, mapper = engine.app.recorder, engine.app.mapper
    importer = Importer(engine, batch_size=100,
                        on_commit=lambda: catchup.catch_up(recorder, mapper, conn))
    with example.stream.open("rb") as lines:
        result = importer.run(lines)
    assert result.rejected == []
    catchup.catch_up(recorder, mapper, conn)
    yield engine, conn
    conn.close()
    engine.shutdown()


def test_the_report_from_the_views_equals_the_worked_example(imported: Any,
                                                             example: Example) -> None:
    _, conn = imported
    for as_of in example.dates:
        assert_same_json(loading.report_from_db(conn, date.fromisoformat(as_of)),
                         example.report(as_of), f"{example.name} {as_of}")


def test_a_rebuild_from_empty_views_gives_the_same_bytes(imported: Any,
                                                         example: Example) -> None:
    engine, conn = imported
    days = [date.fromisoformat(d) for d in example.dates]
    before = [json.dumps(loading.report_from_db(conn, day)) for day in days]
    assert compare.compare_with_rebuild(engine.app.recorder, engine.app.mapper, conn) == []
    rebuild.rebuild(engine.app.recorder, engine.app.mapper, conn)
    assert [json.dumps(loading.report_from_db(conn, day)) for day in days] == before


def test_the_programmes_add_up_to_the_whole_store(imported: Any) -> None:
    _, conn = imported
    as_of = date(2025, 7, 31)
    whole = loading.report_from_db(conn, as_of)
    programmes = [row[0] for row in conn.execute("SELECT programme_id FROM proj_programmes")]
    conn.commit()
    parts = [loading.report_from_db(conn, as_of, p) for p in programmes]
    assert sum(p["duos"]["total"] for p in parts) == whole["duos"]["total"]
    assert sum(p["contact_frequency"]["contacts"] for p in parts) == (
        whole["contact_frequency"]["contacts"])
    assert sum(p["dropouts"]["count"] for p in parts) == whole["dropouts"]["count"]
