"""The read side of the command line as a user runs it: ``report`` (CONTRACT §4, per
programme, broken down, as text), ``duos`` (filters and formats), ``projections status``
and ``rebuild``, ``audit projections`` and the one-shot ``project``.

One store holds the project's own worked example (``tests/examples/``, imported once);
independent invocations run two at a time (each one costs a Python start-up). The
contract's examples, when they lie beside the repository, are checked as well.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle
from lifecycle.application.importer import Importer
from projections.fold import TOPICS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE = EXAMPLES / "worked.jsonl"
EXPECTED = {day: EXAMPLES / f"worked.report-{day}.json" for day in ("2025-04-30", "2025-09-30")}
PROGRAMMES = ("FI-2025", "IE-2025")
OVERDUE_DAY = "2025-04-30"
"""A date on which one of the example's active duos (fi.duo-01) is overdue for a contact."""
SHARED_DAYS = ("2025-03-31", "2025-07-31")
"""The dates of the contract's example reports (``small-pilot.report-DATE.json``)."""

Run = Callable[..., Any]


_DONE: dict[tuple[str, ...], Any] = {}
"""Results of read-only invocations on the example store, kept for later tests."""


def run_all(cli: Run, *invocations: Sequence[Any], keep: bool = True) -> list[Any]:
    """Run independent invocations two at a time; results in the order given.

    With ``keep``, an invocation already run in this module is not run again (use it
    only for queries of the example store, which no test changes).
    """
    keys = [tuple(map(str, args)) for args in invocations]
    todo = list(dict.fromkeys(k for k in keys if not keep or k not in _DONE))
    with ThreadPoolExecutor(max_workers=2) as pool:
        fresh = dict(zip(todo, pool.map(lambda args: cli(*args), todo), strict=True))
    if keep:
        _DONE.update(fresh)
        return [_DONE[k] for k in keys]
    return [fresh[k] for k in keys]


def ok(done: Any) -> Any:
    assert done.returncode == 0, (done.args, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def ok_json(done: Any) -> Any:
    return json.loads(ok(done).stdout)


def assert_one_line_usage_error(done: Any) -> None:
    assert done.returncode == 2, (done.args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("lifecycle: error: "), done.stderr


def assert_close(actual: Any, expected: Any, where: str = "report") -> None:
    """Equal key for key (and in the same order), floats to 1e-9; keys beyond the
    expected ones (fields beyond the contract, e.g. v2 keys against a v1 example) are
    allowed."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert [k for k in actual if k in expected] == list(expected), where
        for key in expected:
            assert_close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_close(got, want, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool):
        assert isinstance(actual, int | float), where
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9), (
            where, actual, expected)
    else:
        assert actual == expected and type(actual) is type(expected), (
            where, actual, expected)


@pytest.fixture(scope="module")
def pilot_db(tmp_path_factory: pytest.TempPathFactory, cli: Run) -> Path:
    db = tmp_path_factory.mktemp("views") / "pilot.db"
    done = cli("--db", db, "import", EXAMPLE, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rejected"] == []
    return db


def log_position(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (top,) = conn.execute("SELECT max(rowid) FROM stored_events").fetchone()
    finally:
        conn.close()
    return int(top)


# ---------------------------------------------------------------------- report
def test_report_json_equals_the_worked_examples(pilot_db: Path, cli: Run) -> None:
    days = list(EXPECTED)
    results = run_all(cli, *[("--db", pilot_db, "report", "--as-of", day, "--json")
                             for day in days])
    for day, done in zip(days, results, strict=True):
        expected = json.loads(EXPECTED[day].read_text(encoding="utf-8"))
        assert_close(ok_json(done), expected, f"report {day}")


def test_report_json_equals_the_contracts_examples(
        shared_examples: Path, tmp_path: Path, cli: Run) -> None:
    db = tmp_path / "small-pilot.db"
    done = cli("--db", db, "import", shared_examples / "small-pilot.jsonl", "--json")
    assert done.returncode == 0, done.stderr
    results = run_all(cli, *[("--db", db, "report", "--as-of", day, "--json")
                             for day in SHARED_DAYS], keep=False)
    for day, report in zip(SHARED_DAYS, results, strict=True):
        expected = json.loads((shared_examples / f"small-pilot.report-{day}.json").read_text(
            encoding="utf-8"))
        assert_close(ok_json(report), expected, f"small-pilot report {day}")


def test_report_json_equals_the_contracts_v2_examples_of_the_v1_stream(
        shared_examples: Path, tmp_path: Path, cli: Run) -> None:
    """The evaluation sections (and every v1 key) of the same stream, as worked out in
    ``small-pilot.report-v2-DATE.json``."""
    db = tmp_path / "small-pilot.db"
    ok(cli("--db", db, "import", shared_examples / "small-pilot.jsonl", "--json"))
    results = run_all(cli, *[("--db", db, "report", "--as-of", day, "--json")
                             for day in SHARED_DAYS], keep=False)
    for day, done in zip(SHARED_DAYS, results, strict=True):
        expected = json.loads((shared_examples / f"small-pilot.report-v2-{day}.json")
                              .read_text(encoding="utf-8"))
        assert_close(ok_json(done), expected, f"small-pilot report v2 {day}")


def test_the_contracts_v2_stream_imports_and_reports_as_its_examples(
        shared_examples: Path, tmp_path: Path, cli: Run) -> None:
    """Check-ins without ids (one a duplicate), a mentor leaving, two departures (one on
    a rematched mentee's second duo) and three corrections: 1,057 applied, 1 duplicate,
    and the reports of ``small-pilot-v2.report-DATE.json``."""
    db = tmp_path / "v2.db"
    imported = ok_json(cli("--db", db, "import", shared_examples / "small-pilot-v2.jsonl",
                           "--json"))
    assert imported == {"applied": 1057, "duplicates": 1, "rejected": []}
    days = ("2025-07-31", "2025-12-31")
    results = run_all(cli, *[("--db", db, "report", "--as-of", day, "--json")
                             for day in days], keep=False)
    for day, done in zip(days, results, strict=True):
        expected = json.loads((shared_examples / f"small-pilot-v2.report-{day}.json")
                              .read_text(encoding="utf-8"))
        assert_close(ok_json(done), expected, f"small-pilot-v2 report {day}")


def _sum_sections(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The additive parts of per-programme reports, summed."""

    def total(path: Sequence[str]) -> Any:
        values = []
        for part in parts:
            value: Any = part
            for key in path:
                value = value[key]
            values.append(value)
        if isinstance(values[0], dict):
            return {k: sum(v[k] for v in values) for k in values[0]}
        return sum(values)

    return {
        "total": total(("duos", "total")),
        "by_state": total(("duos", "by_state")),
        "n": {name: total(("duration", name, "n")) for name in parts[0]["duration"]},
        "contacts": total(("contact_frequency", "contacts")),
        "by_function": total(("contact_frequency", "by_function")),
        "per_30_n": total(("contact_frequency", "contacts_per_30_days", "n")),
        "overdue": total(("contact_frequency", "overdue_active_duos")),
        "dropouts": total(("dropouts", "count")),
        "by_stage": total(("dropouts", "by_stage")),
        "by_reason": total(("dropouts", "by_reason")),
    }


def test_the_reports_of_the_programmes_add_up_to_the_whole(
        pilot_db: Path, cli: Run) -> None:
    day = "2025-07-31"
    whole, *parts = (ok_json(done) for done in run_all(
        cli, ("--db", pilot_db, "report", "--as-of", day, "--json"),
        *[("--db", pilot_db, "report", "--as-of", day, "--programme", p, "--json")
          for p in PROGRAMMES]))
    assert all(part["as_of"] == day for part in parts)
    assert all(part["duos"]["total"] > 0 for part in parts)
    assert _sum_sections(parts) == _sum_sections([whole])
    for part in parts:
        rate = part["dropouts"]["rate"]
        assert math.isclose(rate, part["dropouts"]["count"] / part["duos"]["total"])


def test_report_for_a_programme_never_opened_exits_2_with_one_line(
        pilot_db: Path, cli: Run) -> None:
    unknown, bad_day, missing = run_all(
        cli,
        ("--db", pilot_db, "report", "--as-of", "2025-07-31", "--programme", "UNKNOWN",
         "--json"),
        ("--db", pilot_db, "report", "--as-of", "2025-02-30", "--json"),
        ("--db", pilot_db, "report", "--json"))
    assert_one_line_usage_error(unknown)
    assert "UNKNOWN" in unknown.stderr and unknown.stdout == ""
    assert_one_line_usage_error(bad_day)
    assert "--as-of" in bad_day.stderr and bad_day.stdout == ""
    assert missing.returncode == 2, missing.stderr
    assert "--as-of" in missing.stderr and "Traceback" not in missing.stderr
    assert missing.stdout == ""


def test_a_report_page_of_more_months_than_it_draws_exits_2_with_one_line(
        pilot_db: Path, cli: Run, tmp_path: Path) -> None:
    far, last = run_all(
        cli,
        ("--db", pilot_db, "report", "--as-of", "2300-01-01", "--html", tmp_path / "a.html"),
        ("--db", pilot_db, "report", "--as-of", "9999-12-31", "--html", tmp_path / "b.html"))
    for done in (far, last):
        assert_one_line_usage_error(done)
        assert "--as-of" in done.stderr and "at most 240" in done.stderr
    assert not (tmp_path / "a.html").exists() and not (tmp_path / "b.html").exists()


def test_report_breakdowns_partition_the_duos_by_every_dimension(
        pilot_db: Path, cli: Run) -> None:
    day = "2025-07-31"
    dimensions = ("programme", "site", "country", "month", "quarter", "setting",
                  "newcomer_kind", "mentor_kind", "shift_overlap", "same_department",
                  "outcome")
    whole, *breakdowns = (ok_json(done) for done in run_all(
        cli, ("--db", pilot_db, "report", "--as-of", day, "--json"),
        *[("--db", pilot_db, "report", "--as-of", day, "--by", by, "--json")
          for by in dimensions]))
    report_keys = [key for key in whole if key != "as_of"]
    by = dict(zip(dimensions, breakdowns, strict=True))
    for name, value in by.items():
        assert list(value) == ["as_of", "by", "groups", "comparison"]
        test = value["comparison"]["survival_logrank"]
        assert test is None or (test["groups"] == sorted(test["groups"])
                                and 0.0 <= test["p_value"] <= 1.0), name
        assert (value["as_of"], value["by"]) == (day, name)
        groups = value["groups"]
        assert list(groups) == sorted(groups) and groups
        for sections in groups.values():
            assert list(sections) == [*report_keys, "contact_minutes"]
            assert sections["duos"]["total"] > 0
            assert set(sections["contact_minutes"]) >= {
                "minutes", "benchmark_minutes_per_30_days", "minutes_per_30_days",
                "duos_meeting_benchmark"}
        assert _sum_sections(list(groups.values())) == _sum_sections([whole]), name
    assert list(by["programme"]["groups"]) == list(PROGRAMMES)
    assert list(by["country"]["groups"]) == ["FI", "IE"]
    assert all(len(key) == 7 and key[4] == "-" for key in by["month"]["groups"])
    assert all(key.split(".")[0] in {"fi", "ie"}
               for key in by["site"]["groups"])
    assert all(len(key) == 7 and key[4:6] == "-Q" for key in by["quarter"]["groups"])
    assert set(by["setting"]["groups"]) <= {"adult", "youth", "mixed"}
    assert set(by["outcome"]["groups"]) <= {"completed", "dropout", "other_close", "open"}
    for name in ("shift_overlap", "same_department"):
        assert set(by[name]["groups"]) <= {"true", "false", "unmatched"}
    # a programme's group equals that programme's own report, section for section
    own = run_all(cli, *[("--db", pilot_db, "report", "--as-of", day, "--programme", p,
                          "--json") for p in PROGRAMMES])
    for programme, done in zip(PROGRAMMES, own, strict=True):
        group = by["programme"]["groups"][programme]
        for key in report_keys:
            assert_close(group[key], ok_json(done)[key], f"{programme}.{key}")


def test_report_without_json_prints_the_report_as_text(pilot_db: Path, cli: Run) -> None:
    [text] = run_all(cli, ("--db", pilot_db, "report", "--as-of", "2025-09-30"))
    lines = ok(text).stdout.splitlines()
    assert lines[0] == "Report as of 2025-09-30 (all programmes)"
    assert lines[1] == "Duos: 13 (recruited 1, selected 1, matched 1, active 2, closed 8)"
    for heading in ("Duration:", "Contact frequency:", "Dropouts:"):
        assert heading in lines
    assert "  contacts 48 (psychosocial 37, career 24); overdue active duos 1" in lines
    assert "  5 dropouts, rate 38.5 %" in lines
    assert ("  survival of active relationships: S(30)=1.000, S(90)=0.833, S(182)=0.667, "
            "S(365)=—") in lines
    assert not ok(text).stdout.lstrip().startswith("{")


# ---------------------------------------------------------------------- duos
def test_duos_filters_formats_ids_and_limit(pilot_db: Path, cli: Run) -> None:
    base = ("--db", pilot_db, "duos", "--as-of", OVERDUE_DAY)
    (everything, active, programme, site, overdue, as_csv, table, ids, report) = run_all(
        cli, (*base, "--format", "json"), (*base, "--state", "active", "--format", "json"),
        (*base, "--programme", "FI-2025", "--format", "json"),
        (*base, "--site", "ie.site-1", "--json"), (*base, "--overdue", "--json"),
        (*base, "--format", "csv"), (*base, "--format", "table"),
        (*base, "--ids", "--state", "active", "--limit", "3"),
        ("--db", pilot_db, "report", "--as-of", OVERDUE_DAY, "--json"))
    rows = ok_json(everything)
    summary = ok_json(report)
    assert [row["duo_id"] for row in rows] == sorted(row["duo_id"] for row in rows)
    assert len(rows) == summary["duos"]["total"]
    assert set(rows[0]) >= {"duo_id", "programme_id", "site_id", "state", "contacts",
                            "last_contact_on", "active_days", "overdue"}

    def where(**match: Any) -> list[dict[str, Any]]:
        return [row for row in rows if all(row[k] == v for k, v in match.items())]

    assert ok_json(active) == where(state="active")
    assert len(where(state="active")) == summary["duos"]["by_state"]["active"]
    assert ok_json(programme) == where(programme_id="FI-2025") != []
    assert ok_json(site) == where(site_id="ie.site-1") != []
    assert ok_json(overdue) == where(overdue=True)
    assert len(where(overdue=True)) == summary["contact_frequency"]["overdue_active_duos"] > 0
    assert sum(row["contacts"] for row in rows) == summary["contact_frequency"]["contacts"]

    header, *body = list(csv.reader(io.StringIO(ok(as_csv).stdout)))
    assert header == list(rows[0])
    assert [dict(zip(header, values, strict=True)) for values in body] == [
        {k: "" if v is None else str(v) for k, v in row.items()} for row in rows]

    lines = ok(table).stdout.splitlines()
    assert lines[0] == f"{len(rows)} duos as of {OVERDUE_DAY}"
    assert [line.split()[0] for line in lines[3:]] == [row["duo_id"] for row in rows]
    assert sum(line.split()[-1] == "yes" for line in lines[3:]) == len(where(overdue=True))

    assert ok(ids).stdout.splitlines() == [row["duo_id"] for row in where(state="active")][:3]


# ---------------------------------------------------------------------- projections
def test_after_import_every_view_is_up_to_date_and_equals_a_rebuild(
        pilot_db: Path, cli: Run) -> None:
    status, audit = run_all(cli, ("--db", pilot_db, "projections", "status", "--json"),
                            ("--db", pilot_db, "audit", "projections"))
    views = ok_json(status)
    assert [v["view"] for v in views] == ["programmes", "sites", "mentors", "duos"]
    top = log_position(pilot_db)
    assert all((v["position"], v["log_position"], v["up_to_date"]) == (top, top, True)
               for v in views), views
    assert ok(audit).stdout.strip() == "every stored view equals a rebuild from the events"


def test_a_rebuild_gives_the_same_report_bytes(pilot_db: Path, cli: Run) -> None:
    reports = [("--db", pilot_db, "report", "--as-of", day, "--json") for day in EXPECTED]
    reports.append(("--db", pilot_db, "report", "--as-of", "2025-07-31"))
    before = [ok(done).stdout for done in run_all(cli, *reports)]
    rebuilt = ok(cli("--db", pilot_db, "projections", "rebuild"))
    assert rebuilt.stdout.strip() == (
        f"rebuilt every view from {followed_events(pilot_db)} events")
    after = [ok(done).stdout for done in run_all(cli, *reports, keep=False)]
    assert after == before


def followed_events(db: Path) -> int:
    """Events the views read (every stored event but the idempotency markers)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (count,) = conn.execute(
            f"SELECT count(*) FROM stored_events WHERE topic IN ({', '.join('?' * len(TOPICS))})",
            TOPICS).fetchone()
    finally:
        conn.close()
    return int(count)


def test_project_once_brings_views_written_without_them_up_to_date(
        tmp_path: Path, cli: Run) -> None:
    db = tmp_path / "behind.db"
    # Commands applied through the library alone: nothing touches the views.
    engine = Lifecycle(resolve_target(str(db)).env)
    try:
        lines = EXAMPLE.read_bytes().splitlines(keepends=True)[:100]
        result = Importer(engine).run(lines)
    finally:
        engine.shutdown()
    assert result.rejected == []
    top, followed = log_position(db), followed_events(db)

    behind = ok(cli("--db", db, "projections", "status")).stdout.splitlines()
    assert len(behind) == 4 and all(line.endswith("behind") for line in behind), behind
    project = ok(cli("--db", db, "project"))
    assert project.stdout.strip() == f"applied {followed} events; views at position {top}"
    status, again = run_all(cli, ("--db", db, "projections", "status", "--json"),
                            ("--db", db, "project"), keep=False)
    views = ok_json(status)
    assert all((v["position"], v["log_position"], v["up_to_date"]) == (top, top, True)
               for v in views), views
    assert ok(again).stdout.strip() == f"applied 0 events; views at position {top}"
