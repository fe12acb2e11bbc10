"""Every rule of CONTRACT §2 through the installed command:
``lifecycle --db FILE import FILE --json``.

A base store is built once per module. One import then sends it a file that starts with
a line already applied (a duplicate: it writes nothing), a blank line, and one line per
case below, each breaking one rule. Each line is its own command and a rejected line
writes nothing, so the cases do not disturb one another; each test checks its own line:
the 1-based line number, the line's own command id (null when that id is invalid), that
the error names the rule and the field, exit status 1, and the store left unchanged.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DUP_LINES = 2
"""The duplicate line and the blank line before the cases."""


@dataclass(frozen=True)
class Case:
    """One rule-breaking line: the command (a dict, or raw text), and what is expected."""

    id: str
    rule: int
    field: str | None
    line: dict[str, Any] | str
    command_id: str | None = "own"  # "own": the line's own command_id


def c(type_: str, on: str, case_id: str, **fields: Any) -> dict[str, Any]:
    """One command line with the case's own command id."""
    return {"type": type_, "occurred_on": on, "command_id": case_id, **fields}


SCORES = {"wellbeing": 3, "stress": 3, "integration": 3, "confidence": 3}
CONTACT = {"minutes": 30, "mode": "phone", "functions": ["career"]}
RECRUIT = {"programme_id": "P-1", "site_id": "S-1", "newcomer_kind": "transferred",
           "department": "wing-A", "shifts": ["early"]}

CASES = [
    # Rule 1: fields, types, value sets; nothing unknown.
    Case("r1-unknown-field", 1, "note",
         c("select", "2025-02-10", "r1-a", duo_id="D-REC", consent=True, note="typo")),
    Case("r1-int-as-string", 1, "minutes",
         c("log_contact", "2025-02-11", "r1-b", duo_id="D-ACT", contact_id="K-9",
           **{**CONTACT, "minutes": "30"})),
    Case("r1-unknown-policy-key", 1, "policy.max_duration",
         c("open_programme", "2025-01-05", "r1-c", programme_id="P-9", name="x",
           country="DK", policy={"max_duration": 100})),
    Case("r1-consent-false", 1, "consent",
         c("select", "2025-02-10", "r1-d", duo_id="D-REC", consent=False)),
    Case("r1-invalid-command-id", 1, "command_id",
         c("activate", "2025-02-10", "not a valid id", duo_id="D-MAT"), command_id=None),
    Case("r1-not-json", 1, None, '{"type": "activate", "command_id": "r1-f", ',
         command_id=None),
    # Rule 2: references exist; created ids do not.
    Case("r2-unknown-duo", 2, "duo_id", c("select", "2025-02-10", "r2-a", duo_id="D-404",
                                          consent=True)),
    Case("r2-unknown-mentor", 2, "mentor_id",
         c("match", "2025-02-10", "r2-b", duo_id="D-SEL", mentor_id="M-404",
           mentor_kind="peer")),
    Case("r2-existing-duo", 2, "duo_id",
         c("recruit", "2025-02-10", "r2-c", duo_id="D-REC", mentee_id="E-9", **RECRUIT)),
    # Rule 3: memberships.
    Case("r3-mentor-at-another-site", 3, "mentor_id",
         c("match", "2025-02-10", "r3-a", duo_id="D-SEL", mentor_id="M-1b",
           mentor_kind="peer")),
    Case("r3-site-of-another-programme", 3, "site_id",
         c("register_mentor", "2025-02-10", "r3-b", mentor_id="M-9", programme_id="P-1",
           site_id="S-2", department="x", shifts=[], years_experience=1)),
    # Rule 4: transitions.
    Case("r4-activate-a-selected-duo", 4, "type",
         c("activate", "2025-02-10", "r4-a", duo_id="D-SEL")),
    Case("r4-close-a-closed-duo", 4, "type",
         c("close", "2025-03-01", "r4-b", duo_id="D-CLO", reason="other")),
    Case("r4-completed-before-active", 4, "reason",
         c("close", "2025-03-01", "r4-c", duo_id="D-MAT", reason="completed")),
    # Rule 5: not in the future, not before what it depends on.
    Case("r5-future-date", 5, "occurred_on",
         c("review", "2999-01-01", "r5-a", duo_id="D-ACT", health=3)),
    Case("r5-site-before-programme-opened", 5, "occurred_on",
         c("register_site", "2025-01-01", "r5-b", site_id="S-9", programme_id="P-1",
           name="x", setting="adult")),
    Case("r5-training-before-registration", 5, "occurred_on",
         c("record_training", "2025-01-02", "r5-c", mentor_id="M-U",
           module="introduction")),
    Case("r5-match-before-mentor-registration", 5, "occurred_on",
         c("match", "2025-02-15", "r5-d", duo_id="D-P2", mentor_id="M-LATE",
           mentor_kind="peer")),
    # Rule 6: lifecycle dates and contacts do not go backwards.
    Case("r6-select-before-recruitment", 6, "occurred_on",
         c("select", "2025-01-31", "r6-a", duo_id="D-REC", consent=True)),
    Case("r6-close-before-latest-contact", 6, "occurred_on",
         c("close", "2025-02-09", "r6-b", duo_id="D-ACT", reason="mismatch")),
    # Rule 7: contacts within the active period, ids never reused.
    Case("r7-contact-of-a-matched-duo", 7, "occurred_on",
         c("log_contact", "2025-02-10", "r7-a", duo_id="D-MAT", contact_id="K-1",
           **CONTACT)),
    Case("r7-contact-after-closure", 7, "occurred_on",
         c("log_contact", "2025-02-06", "r7-b", duo_id="D-CLO", contact_id="K-1",
           **CONTACT)),
    Case("r7-reused-retracted-contact-id", 7, "contact_id",
         c("log_contact", "2025-02-22", "r7-c", duo_id="D-ACT", contact_id="K-2",
           **CONTACT)),
    # Rule 8: retractions.
    Case("r8-unknown-contact", 8, "contact_id",
         c("retract_contact", "2025-02-22", "r8-a", duo_id="D-ACT", contact_id="K-404",
           reason="duplicate")),
    Case("r8-already-retracted", 8, "contact_id",
         c("retract_contact", "2025-02-22", "r8-b", duo_id="D-ACT", contact_id="K-2",
           reason="duplicate")),
    Case("r8-retraction-before-contact", 8, "occurred_on",
         c("retract_contact", "2025-02-09", "r8-c", duo_id="D-ACT", contact_id="K-1",
           reason="wrong_duo")),
    # Rule 9: reviews.
    Case("r9-review-after-closure", 9, "occurred_on",
         c("review", "2025-03-01", "r9-a", duo_id="D-CLO", health=2)),
    Case("r9-review-before-recruitment", 9, "occurred_on",
         c("review", "2025-01-31", "r9-b", duo_id="D-ACT", health=2)),
    # Rule 10: surveys.
    Case("r10-second-survey", 10, "phase",
         c("record_survey", "2025-03-01", "r10-a", duo_id="D-ACT", respondent="mentee",
           phase="pre", scores=SCORES)),
    Case("r10-survey-before-recruitment", 10, "occurred_on",
         c("record_survey", "2025-01-31", "r10-b", duo_id="D-ACT", respondent="mentor",
           phase="pre", scores=SCORES)),
    # Rule 11: mentor kind and training.
    Case("r11-kind-outside-policy", 11, "mentor_kind",
         c("match", "2025-03-02", "r11-a", duo_id="D-P2", mentor_id="M-2",
           mentor_kind="supervisor")),
    Case("r11-untrained-mentor", 11, "mentor_id",
         c("match", "2025-02-10", "r11-b", duo_id="D-SEL", mentor_id="M-U",
           mentor_kind="peer")),
    # Rule 12: predecessors.
    Case("r12-predecessor-already-claimed", 12, "predecessor_duo_id",
         c("recruit", "2025-03-01", "r12-a", duo_id="D-NEW", mentee_id="E-C2",
           predecessor_duo_id="D-CLO2", **RECRUIT)),
    Case("r12-predecessor-not-rematched", 12, "predecessor_duo_id",
         c("recruit", "2025-03-01", "r12-b", duo_id="D-NEW", mentee_id="mentee-D-ACT",
           predecessor_duo_id="D-ACT", **RECRUIT)),
    Case("r12-predecessor-of-another-mentee", 12, "predecessor_duo_id",
         c("recruit", "2025-03-01", "r12-c", duo_id="D-NEW", mentee_id="E-other",
           predecessor_duo_id="D-CLO", **RECRUIT)),
    # Rule 13: the same command id with other content.
    Case("r13-command-id-reused", 13, "command_id",
         c("open_programme", "2025-01-02", "b-0001", programme_id="P-1",
           name="Another name", country="DK")),
    # v2: codes, not free text; a correction's value of its fact's kind (rule 1).
    Case("r1-department-free-text", 1, "department",
         c("recruit", "2025-03-01", "r1-g", duo_id="D-NEW", mentee_id="E-9",
           **{**RECRUIT, "department": "Wing A, 2nd floor"})),
    Case("r1-correction-value-of-another-kind", 1, "value",
         c("correct", "2025-03-01", "r1-h", duo_id="D-CLO", fact="closed_on",
           value="completed")),
    # Rule 11 (v2): a mentor who left the pool.
    Case("r11-deregistered-mentor", 11, "mentor_id",
         c("match", "2025-02-10", "r11-c", duo_id="D-SEL", mentor_id="M-GONE",
           mentor_kind="peer")),
    # Rule 14: deregistration.
    Case("r14-deregistered-twice", 14, "mentor_id",
         c("deregister_mentor", "2025-03-01", "r14-a", mentor_id="M-GONE", reason="other")),
    Case("r14-before-registration", 14, "occurred_on",
         c("deregister_mentor", "2025-01-02", "r14-b", mentor_id="M-1",
           reason="left_service")),
    # Rule 15: corrections.
    Case("r15-dates-out-of-order", 15, "value",
         c("correct", "2025-03-01", "r15-a", duo_id="D-ACT", fact="activated_on",
           value="2025-02-02")),
    Case("r15-matched-before-the-mentor-was-trained", 15, "value",
         c("correct", "2025-03-01", "r15-b", duo_id="D-MLT", fact="matched_on",
           value="2025-02-04")),
    Case("r15-strands-a-counted-contact", 15, "value",
         c("correct", "2025-03-01", "r15-c", duo_id="D-ACT", fact="activated_on",
           value="2025-02-11")),
    Case("r15-completed-never-active", 15, "value",
         c("correct", "2025-03-01", "r15-d", duo_id="D-CLM", fact="close_reason",
           value="completed")),
    Case("r15-fact-not-reached", 15, "fact",
         c("correct", "2025-03-01", "r15-e", duo_id="D-REC", fact="matched_on",
           value="2025-02-05")),
    Case("r15-close-reason-of-a-predecessor", 15, "fact",
         c("correct", "2025-03-01", "r15-f", duo_id="D-CLO2", fact="close_reason",
           value="other")),
    # Rule 17: departures.
    Case("r17-second-departure-of-a-chain", 17, "duo_id",
         c("record_departure", "2025-03-02", "r17-a", duo_id="D-CLO2", reason="other")),
    Case("r17-before-the-chain-began", 17, "occurred_on",
         c("record_departure", "2025-01-31", "r17-b", duo_id="D-ACT", reason="resigned")),
]


def base_stream(new_stream: Any) -> Any:
    """The world every case is sent to (see the module docstring)."""
    s = new_stream("b")
    s.base()                                                    # P-1, S-1, M-1 trained
    s.add("register_mentor", "2025-01-03", mentor_id="M-U")     # untrained
    s.add("register_site", "2025-01-02", site_id="S-1b")
    s.add("register_mentor", "2025-01-03", mentor_id="M-1b", site_id="S-1b")
    s.train("M-1b", "2025-01-04")
    s.base("P-2", "S-2", "M-2", policy={"mentor_kinds": ["peer"],
                                         "require_trained_mentor": False}, trained=False)
    s.add("register_mentor", "2025-03-01", mentor_id="M-LATE", programme_id="P-2",
          site_id="S-2")
    s.duo("recruited", "D-REC")
    s.duo("selected", "D-SEL")
    s.duo("matched", "D-MAT")
    s.duo("active", "D-ACT")
    s.add("record_survey", "2025-02-01", duo_id="D-ACT")
    s.add("log_contact", "2025-02-10", duo_id="D-ACT", contact_id="K-1")
    s.add("log_contact", "2025-02-20", duo_id="D-ACT", contact_id="K-2")
    s.add("retract_contact", "2025-02-21", duo_id="D-ACT", contact_id="K-2")
    s.duo("closed", "D-CLO", mentee_id="E-CLO", close_reason="rematched")
    s.duo("closed", "D-CLO2", mentee_id="E-C2", close_reason="rematched")
    s.add("recruit", "2025-02-06", duo_id="D-SUCC", mentee_id="E-C2",
          predecessor_duo_id="D-CLO2")
    s.add("record_departure", "2025-03-01", duo_id="D-SUCC", reason="resigned")
    s.add("register_mentor", "2025-01-03", mentor_id="M-GONE")  # left the pool
    s.train("M-GONE", "2025-01-04")
    s.add("deregister_mentor", "2025-02-01", mentor_id="M-GONE", reason="withdrew")
    s.add("register_mentor", "2025-01-03", mentor_id="M-LT")    # trained 2025-02-05
    s.train("M-LT", "2025-02-01")
    s.add("recruit", "2025-01-20", duo_id="D-MLT", mentee_id="E-MLT")
    s.add("select", "2025-01-21", duo_id="D-MLT")
    s.add("match", "2025-02-10", duo_id="D-MLT", mentor_id="M-LT")
    s.duo("matched", "D-CLM")                                   # closed from matched
    s.add("close", "2025-02-05", duo_id="D-CLM", reason="mismatch")
    s.duo("selected", "D-P2", programme_id="P-2", site_id="S-2", mentor_id="M-2")
    return s


def copy_store(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        extra = Path(f"{source}{suffix}")
        if extra.exists():
            shutil.copyfile(extra, f"{target}{suffix}")
    return target


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory, new_stream: Any, cli: Any) -> Path:
    folder = tmp_path_factory.mktemp("rules-base")
    stream = base_stream(new_stream)
    done = cli("--db", folder / "base.db", "import", stream.write(folder / "base.jsonl"),
               "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"applied": len(stream.commands), "duplicates": 0,
                                       "rejected": []}
    return folder / "base.db"


@dataclass
class Run:
    result: dict[str, Any]
    returncode: int
    before: list[tuple[Any, ...]]
    after: list[tuple[Any, ...]]
    fingerprint: tuple[tuple[int, int | None], tuple[int, int | None]]


@pytest.fixture(scope="module")
def rules_run(tmp_path_factory: pytest.TempPathFactory, base_db: Path, new_stream: Any,
              cli: Any, write_jsonl_at: Any, stored_rows: Any,
              store_fingerprint: Any) -> Run:
    folder = tmp_path_factory.mktemp("rules-run")
    db = copy_store(base_db, folder / "store.db")
    before, fp_before = stored_rows(db), store_fingerprint(db)
    first_base_line = base_stream(new_stream).commands[0]
    lines = [first_base_line, "", *(case.line for case in CASES)]
    done = cli("--db", db, "import", write_jsonl_at(folder / "cases.jsonl", lines), "--json")
    return Run(json.loads(done.stdout), done.returncode, before, stored_rows(db),
               (fp_before, store_fingerprint(db)))


def test_the_cases_were_all_rejected_and_the_store_is_unchanged(rules_run: Run) -> None:
    assert rules_run.returncode == 1
    assert (rules_run.result["applied"], rules_run.result["duplicates"]) == (0, 1)
    assert len(rules_run.result["rejected"]) == len(CASES)
    assert rules_run.fingerprint[0] == rules_run.fingerprint[1]
    assert rules_run.after == rules_run.before


def test_every_rule_has_a_case() -> None:
    """Rules 1-15 and 17 (rule 16, ``forget``, has its own tests)."""
    assert {case.rule for case in CASES} >= {*range(1, 16), 17}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_line_breaking_a_rule_is_rejected_naming_line_command_id_rule_and_field(
        rules_run: Run, case: Case) -> None:
    line = DUP_LINES + CASES.index(case) + 1
    found = [r for r in rules_run.result["rejected"] if r["line"] == line]
    assert found, f"line {line} was not rejected: {rules_run.result}"
    [rejection] = found
    assert rejection["error"].startswith(f"rule {case.rule}"), rejection["error"]
    if case.field is not None:
        assert f"[{case.field}" in rejection["error"], rejection["error"]
    assert rules_run.returncode == 1
    assert rules_run.after == rules_run.before
    own_id = case.line.get("command_id") if isinstance(case.line, dict) else None
    assert rejection["command_id"] == (own_id if case.command_id == "own" else None)
