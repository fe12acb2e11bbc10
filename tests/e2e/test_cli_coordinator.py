"""The coordinator's commands as a user runs them (CONTRACT §3 v2): ``attention``,
``mentors``, ``suggest``, ``duos --reason``, and the v2 commands through ``import``
and ``history``.

One store is built once: programme P-1 (opened 2025-01-02) with site S-1, trained
mentors M-1 (early shift, wing-A) and M-2 (late shift, wing-B, 2 open duos), a mentor
M-GONE who left the pool on 2025-02-01, and duos in every state; today is real today.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest


def world(new_stream: Any) -> Any:
    s = new_stream("w")
    s.base()                                                    # M-1 trained 2025-01-08
    s.add("register_mentor", "2025-01-03", mentor_id="M-2", department="wing-B",
          shifts=["late"], years_experience=9)
    s.train("M-2", "2025-01-04")
    s.add("register_mentor", "2025-01-03", mentor_id="M-GONE")
    s.train("M-GONE", "2025-01-04")
    s.add("deregister_mentor", "2025-02-01", mentor_id="M-GONE", reason="left_service")
    s.duo("active", "D-A1", mentor_id="M-2")
    s.duo("matched", "D-A2", mentor_id="M-2")
    s.duo("selected", "D-SEL", department="wing-A", shifts=["early", "night"])
    s.duo("recruited", "D-REC")
    s.duo("closed", "D-OLD", mentee_id="E-OLD", close_reason="rematched")
    s.add("recruit", "2025-02-10", duo_id="D-NEW", mentee_id="E-OLD",
          predecessor_duo_id="D-OLD")
    s.add("record_departure", "2025-03-01", duo_id="D-NEW", reason="resigned")
    return s


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, new_stream: Any, cli: Any) -> Path:
    folder = tmp_path_factory.mktemp("coordinator")
    stream = world(new_stream)
    done = cli("--db", folder / "store.db", "import", stream.write(folder / "w.jsonl"),
               "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "store.db"


def copy(store: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{store}{suffix}").exists():
            shutil.copyfile(f"{store}{suffix}", f"{target}{suffix}")
    return target


def as_json(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ---------------------------------------------------------------------- attention
def test_attention_lists_the_duos_and_their_reasons_in_the_contracts_order(
        cli: Any, store: Path) -> None:
    rows = as_json(cli("--db", store, "attention", "--as-of", "2025-03-05", "--json"))
    assert [(r["duo_id"], r["state"], r["reasons"]) for r in rows] == [
        ("D-A1", "active", ["contact_overdue", "review_overdue"]),
        ("D-A2", "matched", ["first_meeting_overdue", "review_overdue"]),
        ("D-NEW", "recruited", ["mentee_departed"]),
    ]
    assert set(rows[0]) == {"duo_id", "programme_id", "site_id", "state", "reasons"}


def test_attention_as_text_and_by_reason(cli: Any, store: Path) -> None:
    text = cli("--db", store, "attention", "--as-of", "2025-03-05",
               "--reason", "mentee_departed")
    assert text.returncode == 0, text.stderr
    assert "1 duos need attention as of 2025-03-05" in text.stdout
    assert "D-NEW" in text.stdout and "D-A1" not in text.stdout


def test_the_duo_listing_filters_by_an_attention_reason(cli: Any, store: Path) -> None:
    done = cli("--db", store, "duos", "--as-of", "2025-03-05", "--reason",
               "first_meeting_overdue", "--ids")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["D-A2"]


@pytest.mark.parametrize("command", [["attention"], ["mentors"], ["duos", "--reason",
                                                                  "contact_overdue"]])
def test_an_unknown_programme_is_a_usage_error(cli: Any, store: Path,
                                                command: list[str]) -> None:
    done = cli("--db", store, *command, "--programme", "P-404", "--as-of", "2025-03-05")
    assert done.returncode == 2
    assert done.stderr.startswith("lifecycle: error: programme 'P-404' was never opened")


# ---------------------------------------------------------------------- mentors
def test_mentors_lists_the_pool_at_a_date(cli: Any, store: Path) -> None:
    rows = as_json(cli("--db", store, "mentors", "--as-of", "2025-03-05", "--json"))
    assert [(r["mentor_id"], r["trained_on"], r["deregistered_on"], r["open_duos"],
             r["duos"]) for r in rows] == [
        ("M-1", "2025-01-08", None, 0, 1),
        ("M-2", "2025-01-08", None, 2, 2),
        ("M-GONE", "2025-01-08", "2025-02-01", 0, 0)]
    early = as_json(cli("--db", store, "mentors", "--as-of", "2025-01-05", "--json"))
    assert [(r["mentor_id"], r["trained_on"], r["deregistered_on"]) for r in early] == [
        ("M-1", None, None), ("M-2", None, None), ("M-GONE", None, None)]


# ---------------------------------------------------------------------- suggest
def test_suggest_ranks_the_mentors_match_accepts(cli: Any, store: Path) -> None:
    rows = as_json(cli("--db", store, "suggest", "D-SEL", "--as-of", "2025-03-05",
                       "--json"))
    assert [(r["mentor_id"], r["rank"], r["score"]) for r in rows] == [
        ("M-1", 1, 40 + 25 + 20 + 5 + 5), ("M-2", 2, 0 + 0 + 6 + 9 + 5)]
    assert {"shift_overlap", "same_department", "open_duos", "years_experience"} <= set(
        rows[0]["reasons"])


def test_every_suggested_mentor_is_accepted_by_match_on_that_date(
        cli: Any, store: Path, tmp_path: Path, write_jsonl: Any) -> None:
    rows = as_json(cli("--db", store, "suggest", "D-SEL", "--as-of", "2025-03-05",
                       "--json"))
    for row in rows:
        db = copy(store, tmp_path / f"{row['mentor_id']}.db")
        line = {"type": "match", "occurred_on": "2025-03-05", "duo_id": "D-SEL",
                "mentor_id": row["mentor_id"], "mentor_kind": row["reasons"]["mentor_kind"]}
        done = cli("--db", db, "import", write_jsonl([line], f"{row['mentor_id']}.jsonl"),
                   "--json")
        assert as_json(done)["applied"] == 1
        again = as_json(cli("--db", db, "suggest", "D-SEL", "--at-match", "--json"))
        assert [r["mentor_id"] for r in again if r["reasons"]["chosen"]] == [
            row["mentor_id"]]


@pytest.mark.parametrize(("duo_id", "message"), [
    ("D-404", "unknown duo 'D-404'"),
    ("D-REC", "duo 'D-REC' is not in 'selected' on 2025-03-05"),
    ("D-A2", "duo 'D-A2' is not in 'selected' on 2025-03-05")])
def test_suggest_for_a_duo_not_selected_exits_2(cli: Any, store: Path, duo_id: str,
                                                 message: str) -> None:
    done = cli("--db", store, "suggest", duo_id, "--as-of", "2025-03-05", "--json")
    assert done.returncode == 2
    assert done.stderr.strip() == f"lifecycle: error: {message}"
    assert done.stdout == ""


# ---------------------------------------------------------------------- corrections
def test_a_correction_shows_in_history_and_in_every_view_but_as_at_before_it(
        cli: Any, store: Path, tmp_path: Path, write_jsonl: Any) -> None:
    db = copy(store, tmp_path / "corrected.db")
    before = as_json(cli("--db", db, "history", "D-A1", "--json"))[-1]["recorded_at"]
    line = {"type": "correct", "occurred_on": "2025-03-05", "duo_id": "D-A1",
            "fact": "activated_on", "value": "2025-02-20"}
    assert as_json(cli("--db", db, "import", write_jsonl([line]), "--json"))["applied"] == 1
    history = as_json(cli("--db", db, "history", "D-A1", "--json"))
    assert (history[-1]["type"], history[-1]["data"]) == (
        "Corrected", {"duo_id": "D-A1", "fact": "activated_on", "value": "2025-02-20",
                      "previous": "2025-02-04"})
    matched = as_json(cli("--db", db, "duos", "--as-of", "2025-02-10", "--state", "matched",
                          "--json"))
    assert "D-A1" in [r["duo_id"] for r in matched]
    original = as_json(cli("--db", db, "duos", "--as-of", "2025-02-10", "--as-at", before,
                           "--json"))
    assert [r["state"] for r in original if r["duo_id"] == "D-A1"] == ["active"]
    report = as_json(cli("--db", db, "report", "--as-of", "2025-02-10", "--json"))
    assert report["duos"]["by_state"]["active"] == 0
    assert cli("--db", db, "audit", "projections").returncode == 0
    assert cli("--db", db, "projections", "rebuild").returncode == 0
    assert as_json(cli("--db", db, "report", "--as-of", "2025-02-10", "--json")) == report


def test_a_departure_shows_in_the_history_of_the_duo_it_names(
        cli: Any, store: Path) -> None:
    history = as_json(cli("--db", store, "history", "D-NEW", "--json"))
    assert (history[-1]["type"], history[-1]["data"]) == (
        "DepartureRecorded", {"duo_id": "D-NEW", "reason": "resigned"})
