"""``lifecycle history`` of every stream: a programme's, a site's and a mentor's events
(``--as-at`` too), an id two kinds share (the duo first, as ``history DUO_ID`` always
read; ``--kind`` for the others), and ``history --all``: the whole log as JSON lines, in
log order, which an auditor diffs between two ``--as-at`` times."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import store_keys

Run = Callable[..., subprocess.CompletedProcess[str]]


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, new_stream: Callable[..., Any],
          cli: Run) -> tuple[Path, list[dict[str, Any]], list[dict[str, Any]]]:
    """P-1 with site S-1 and mentor M-1 (trained), a duo named like the mentor, and a
    second batch of commands imported later (the mentor deregistered, a second site)."""
    folder = tmp_path_factory.mktemp("streams")
    first = new_stream("a").base().duo("active", "M-1", start="2025-02-01")
    second = new_stream("b")
    second.add("register_site", "2025-03-01", site_id="S-2", programme_id="P-1")
    second.add("deregister_mentor", "2025-03-02", mentor_id="M-1", reason="left_service")
    db = folder / "h.db"
    ok(cli("--db", db, "import", first.write(folder / "first.jsonl"), "--batch-size", 1))
    ok(cli("--db", db, "import", second.write(folder / "second.jsonl"), "--batch-size", 1))
    return db, first.commands, second.commands


def rows(cli: Run, db: Path, *args: str) -> Any:
    return json.loads(ok(cli("--db", db, "history", *args, "--json")).stdout)


def test_a_programme_s_history_is_its_opening(store: Any, cli: Run) -> None:
    db, first, _ = store
    [opened] = rows(cli, db, "P-1")
    assert (opened["type"], opened["version"], opened["occurred_on"]) == (
        "Opened", 1, first[0]["occurred_on"])
    assert opened["data"]["programme_id"] == "P-1"
    assert opened["data"]["name"] == first[0]["name"]


def test_a_site_s_history_is_its_registration(store: Any, cli: Run) -> None:
    db, _, second = store
    [registered] = rows(cli, db, "S-2")
    assert registered["type"] == "Registered"
    assert registered["data"]["site_id"] == "S-2"
    assert registered["occurred_on"] == second[0]["occurred_on"]


def test_a_mentor_s_history_has_its_registration_training_and_leaving(
        store: Any, cli: Run) -> None:
    db, _, _ = store
    said = rows(cli, db, "M-1", "--kind", "mentor")
    assert [r["type"] for r in said] == ["Registered", *["TrainingRecorded"] * 5,
                                          "Deregistered"]
    assert [r["version"] for r in said] == list(range(1, 8))
    assert all(r["data"]["mentor_id"] == "M-1" for r in said)


def test_a_mentor_s_history_as_at_a_time_leaves_out_what_was_recorded_later(
        store: Any, cli: Run) -> None:
    db, _, _ = store
    said = rows(cli, db, "M-1", "--kind", "mentor")
    before_leaving = said[-2]["recorded_at"]
    then = rows(cli, db, "M-1", "--kind", "mentor", "--as-at", before_leaving)
    assert then == said[:-1]
    early = datetime(2000, 1, 1, tzinfo=UTC).isoformat()
    done = cli("--db", db, "history", "S-1", "--as-at", early)
    assert done.returncode == 2
    assert done.stderr == f"lifecycle: error: site 'S-1' had not been recorded by {early}\n"


def test_an_id_a_duo_shares_is_the_duo_s_unless_the_kind_is_named(store: Any,
                                                                     cli: Run) -> None:
    db, _, _ = store
    assert [r["type"] for r in rows(cli, db, "M-1")] == [
        "Recruited", "Selected", "Matched", "Activated"]
    assert rows(cli, db, "M-1", "--kind", "mentor")[0]["type"] == "Registered"


def test_an_unknown_id_or_kind_is_a_usage_error(store: Any, cli: Run) -> None:
    db, _, _ = store
    done = cli("--db", db, "history", "X-9")
    assert done.returncode == 2
    assert done.stderr == ("lifecycle: error: no duo, programme, site or mentor has the id "
                           "'X-9'\n")
    done = cli("--db", db, "history", "P-1", "--kind", "site")
    assert (done.returncode, done.stderr) == (2, "lifecycle: error: unknown site 'P-1'\n")


def test_an_id_two_kinds_but_no_duo_share_needs_its_kind(
        tmp_path: Path, cli: Run, new_stream: Callable[..., Any]) -> None:
    stream = new_stream().base(programme_id="X-1", site_id="X-1", mentor_id="M-9")
    ok(cli("--db", tmp_path / "x.db", "import", stream.write(tmp_path / "x.jsonl")))
    done = cli("--db", tmp_path / "x.db", "history", "X-1")
    assert done.returncode == 2
    assert done.stderr == ("lifecycle: error: 'X-1' is the id of a programme and a site: say "
                           "which with --kind\n")


def test_the_text_history_of_a_mentor_has_one_line_per_event(store: Any, cli: Run) -> None:
    db, _, _ = store
    lines = ok(cli("--db", db, "history", "M-1", "--kind", "mentor")).stdout.splitlines()
    assert lines[0] == "mentor M-1: 7 events"
    assert "Deregistered" in lines[-1] and "reason=left_service" in lines[-1]


# ---------------------------------------------------------------------- --all
def log(cli: Run, db: Path, *args: str) -> list[dict[str, Any]]:
    said = ok(cli("--db", db, "history", "--all", "--json", *args)).stdout
    return [json.loads(line) for line in said.splitlines()]


def test_history_all_is_every_stored_event_in_log_order_as_json_lines(
        store: Any, cli: Run) -> None:
    db, first, second = store
    every = log(cli, db)
    verified = json.loads(ok(cli("--db", db, "audit", "verify", "--json")).stdout)
    assert len(every) == verified["events"]
    positions = [r["position"] for r in every]
    assert positions == sorted(positions) and positions[-1] == verified["last_position"]
    assert set(every[0]) == {"position", "stream", "type", "version", "occurred_on",
                             "recorded_at", "data"}
    streams = {r["stream"] for r in every}
    # A sealed store names a mentor's stream by the mentor's keyed reference (ADR 34).
    stream = f"mentor:{store_keys(db).reference('M-1')}"
    assert {"programme:P-1", "site:S-1", "site:S-2", stream, "duo:M-1"} <= streams
    markers = [r for r in every if r["stream"].startswith("command:")]
    assert len(markers) == len(first) + len(second)  # one per applied command
    mentor = [r for r in every if r["stream"] == stream]
    assert [{k: r[k] for k in r if k not in ("position", "stream")} for r in mentor] == \
        rows(cli, db, "M-1", "--kind", "mentor")


def test_two_as_at_times_differ_by_exactly_the_events_recorded_between_them(
        store: Any, cli: Run) -> None:
    db, _, second = store
    every = log(cli, db)
    later = sorted(every, key=lambda r: r["recorded_at"])[-2 * len(second)]["recorded_at"]
    earlier = max(r["recorded_at"] for r in every if r["recorded_at"] < later)
    before, after = log(cli, db, "--as-at", earlier), log(cli, db, "--as-at", later)
    assert all(r["recorded_at"] <= earlier for r in before)
    added = [r for r in after if r not in before]
    assert added and all(earlier < r["recorded_at"] <= later for r in added)
    assert [r for r in after if r in before] == before


def test_history_all_in_text_has_one_line_per_event(store: Any, cli: Run) -> None:
    db, _, _ = store
    said = ok(cli("--db", db, "history", "--all")).stdout.splitlines()
    assert len(said) == len(log(cli, db))
    assert said[0].split()[:3] == ["1", "programme:P-1", "v1"]


@pytest.mark.parametrize("args", [("P-1", "--all"), ("--all", "--kind", "duo"), ()])
def test_history_needs_an_id_or_all_but_not_both(store: Any, cli: Run,
                                                  args: tuple[str, ...]) -> None:
    db, _, _ = store
    done = cli("--db", db, "history", *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
