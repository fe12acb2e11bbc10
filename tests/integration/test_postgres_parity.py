"""The same simulated pilot on PostgreSQL and on SQLite gives byte-identical reports and
histories (apart from the recording times).

The pilot (``lifecycle simulate --seed 11 --duos 150``, about 7,000 commands) is
imported into both stores by the installed command, at the same time. Whole-store
reports and two histories are compared as the command prints them; the rest of the
grid (every programme at every date, more histories) through the same functions the
command uses, serialised the same way, to keep the run short.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from lifecycle.adapters.store import ensure_postgres_schema, resolve_target
from lifecycle.application import Lifecycle
from lifecycle.bootstrap import open_engine
from lifecycle.entrypoints.cli import history_rows
from projections.facade import Views

pytestmark = pytest.mark.postgres

DATES = ("2025-03-31", "2025-09-30", "2026-03-31", "2026-12-31")
PROGRAMMES = ("DK-2025", "GR-2025", "PT-2025", "RO-2025")


def run_all(cli: Callable[..., Any], *invocations: Sequence[Any]) -> list[Any]:
    """Independent invocations two at a time; results in the order given."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda args: cli(*args), invocations))
    for done in results:
        assert done.returncode == 0, (done.args, done.stderr)
    return results


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory, cli: Callable[..., Any]) -> Path:
    out = tmp_path_factory.mktemp("parity") / "pilot.jsonl"
    done = cli("simulate", "--seed", "11", "--duos", "150", "--out", out)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def stores(pilot: Path, tmp_path: Path, postgres_url: str,
           cli: Callable[..., Any]) -> dict[str, str]:
    """The pilot imported into an SQLite file and a PostgreSQL schema."""
    found = {"sqlite": str(tmp_path / "pilot.db"), "postgres": postgres_url}
    imports = run_all(cli, *[("--db", db, "import", pilot, "--json")
                             for db in found.values()])
    commands = sum(1 for line in pilot.read_bytes().splitlines() if line.strip())
    for done in imports:
        assert json.loads(done.stdout) == {"applied": commands, "duplicates": 0,
                                           "rejected": []}
    return found


@pytest.fixture
def engines(stores: dict[str, str]) -> Iterator[dict[str, tuple[Lifecycle, Views]]]:
    opened = {}
    for name, db in stores.items():
        target = resolve_target(db)
        ensure_postgres_schema(target)
        engine = open_engine(target)  # a sealed store: its mapper opens personal fields
        opened[name] = (engine, Views(target, engine.app.recorder, engine.app.mapper))
    yield opened
    for engine, views in opened.values():
        views.close()
        engine.shutdown()


def duo_ids(pilot: Path) -> dict[str, str]:
    """Duos of interest: one with a retracted contact, a rematched one and its
    successor, one with a survey."""
    found: dict[str, str] = {}
    for line in pilot.read_bytes().splitlines():
        raw = json.loads(line)
        if raw["type"] == "retract_contact":
            found.setdefault("retracted", raw["duo_id"])
        elif raw["type"] == "recruit" and raw.get("predecessor_duo_id"):
            found.setdefault("successor", raw["duo_id"])
            found.setdefault("rematched", raw["predecessor_duo_id"])
        elif raw["type"] == "record_survey":
            found.setdefault("surveyed", raw["duo_id"])
    assert set(found) == {"retracted", "successor", "rematched", "surveyed"}, found
    return found


def without_recorded_at(text: str) -> list[dict[str, Any]]:
    rows = json.loads(text)
    assert rows and all("recorded_at" in row for row in rows)
    return [{k: v for k, v in row.items() if k != "recorded_at"} for row in rows]


def test_reports_and_histories_of_a_simulated_pilot_match_on_postgresql_and_sqlite(
        pilot: Path, stores: dict[str, str], engines: dict[str, tuple[Lifecycle, Views]],
        cli: Callable[..., Any]) -> None:
    """One test for all (the import of the pilot into a fresh schema is the cost)."""
    assert_reports_are_byte_identical(stores, engines, cli)
    assert_histories_are_identical_but_for_recorded_at(pilot, stores, engines, cli)
    assert_the_coordinators_queries_match(pilot, stores, engines, cli)


def assert_the_coordinators_queries_match(
        pilot: Path, stores: dict[str, str], engines: dict[str, tuple[Lifecycle, Views]],
        cli: Callable[..., Any]) -> None:
    """attention, mentors and suggest (the pilot holds corrections, departures and
    mentors leaving the pool)."""
    lines = [json.loads(line) for line in pilot.read_bytes().splitlines()]
    assert {"correct", "record_departure", "deregister_mentor"} <= {c["type"] for c in lines}
    printed = run_all(cli, *[("--db", db, "attention", "--as-of", DATES[1], "--json")
                             for db in stores.values()])
    assert printed[0].stdout == printed[1].stdout
    assert json.loads(printed[0].stdout)

    def rows(name: str, query: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return [row.as_json() for row in getattr(engines[name][1], query)(*args, **kwargs)]

    for day in map(date.fromisoformat, DATES):
        for programme in (None, *PROGRAMMES):
            for query in ("attention", "mentors"):
                assert rows("postgres", query, day, programme) == rows(
                    "sqlite", query, day, programme), (query, day, programme)
    selections = [(c["duo_id"], date.fromisoformat(c["occurred_on"]))
                  for c in lines if c["type"] == "select"][:10]
    for duo_id, day in selections:
        assert rows("postgres", "suggest", duo_id, day) == rows("sqlite", "suggest", duo_id,
                                                                day), duo_id
    matched = [c["duo_id"] for c in lines if c["type"] == "match"][:5]
    for duo_id in matched:
        assert rows("postgres", "suggest", duo_id, date.max, at_match=True) == rows(
            "sqlite", "suggest", duo_id, date.max, at_match=True), duo_id


def assert_reports_are_byte_identical(
        stores: dict[str, str], engines: dict[str, tuple[Lifecycle, Views]],
        cli: Callable[..., Any]) -> None:
    printed = run_all(cli, *[("--db", db, "report", "--as-of", DATES[1], "--json")
                             for db in stores.values()])
    for sqlite, postgres in zip(printed[::2], printed[1::2], strict=True):
        assert postgres.stdout == sqlite.stdout
        assert json.loads(sqlite.stdout)["duos"]["total"] > 0

    def text(name: str, day: str, programme: str | None) -> str:
        # exactly what ``report --json`` prints
        return json.dumps(engines[name][1].report(date.fromisoformat(day), programme),
                          indent=2)

    for day in DATES:
        for programme in (None, *PROGRAMMES):
            assert text("postgres", day, programme) == text("sqlite", day, programme), (
                day, programme)
    assert text("sqlite", DATES[1], None) + "\n" == printed[0].stdout


def assert_histories_are_identical_but_for_recorded_at(
        pilot: Path, stores: dict[str, str], engines: dict[str, tuple[Lifecycle, Views]],
        cli: Callable[..., Any]) -> None:
    interesting = duo_ids(pilot)
    sqlite, postgres = run_all(cli, *[("--db", db, "history", interesting["retracted"],
                                       "--json") for db in stores.values()])
    assert postgres.stdout != sqlite.stdout  # recorded at different moments
    assert without_recorded_at(postgres.stdout) == without_recorded_at(sqlite.stdout)
    assert "ContactRetracted" in {row["type"] for row in without_recorded_at(sqlite.stdout)}

    def history(name: str, duo_id: str) -> list[dict[str, Any]]:
        rows = history_rows(engines[name][0], duo_id)
        return without_recorded_at(orjson.dumps(rows).decode())

    for duo_id in interesting.values():
        assert history("postgres", duo_id) == history("sqlite", duo_id), duo_id
    assert history("sqlite", interesting["successor"])[0]["data"]["predecessor_duo_id"] == (
        interesting["rematched"])
    assert history("sqlite", interesting["retracted"]) == without_recorded_at(sqlite.stdout)
