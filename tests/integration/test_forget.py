"""``forget`` on a sealed SQLite store through the command line (contract §8, rule 16;
ADR 34, ADR 35): the person's id and values leave every file the engine wrote, the
chain and the v1 figures stay, history shows nulls and the erasure, the id is refused
afterwards and re-importing their commands applies nothing; and the master key's
handling (a wrong key, no key, a plain store, export and restore)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import store_keys

Run = Callable[..., Any]

MENTEE = "ie.mentee-01"
MENTOR = "ie.mentor-1"
V1_KEYS = ("as_of", "duos", "duration", "contact_frequency")
"""Report keys of v1 that hold no survey or health figure (dropouts is v1 plus v2 keys,
all of lifecycle facts)."""


def ok(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    return done


def forget_lines(*people: str, on: str = "2025-10-01") -> str:
    return "".join(json.dumps({"type": "forget", "occurred_on": on, "person_id": p}) + "\n"
                   for p in people)


def import_json(cli: Run, db: Path, path: Path, *more: str) -> dict[str, Any]:
    done = cli(*more, "--db", db, "import", path, "--json")
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def report(cli: Run, db: Path, *more: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ok(cli(*more, "--db", db, "report", "--as-of",
                                             "2025-09-30", "--json")).stdout)
    return found


def engine_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix != ".jsonl"]


@pytest.fixture
def store(tmp_path: Path, cli: Run, worked_example: Path) -> Path:
    db = tmp_path / "store" / "pilot.db"
    db.parent.mkdir()
    assert import_json(cli, db, worked_example)["rejected"] == []
    return db


def test_forget_leaves_no_readable_trace_and_keeps_the_chain_and_the_v1_figures(
        store: Path, tmp_path: Path, cli: Run) -> None:
    digest = tmp_path / "digest.json"
    digest.write_text(ok(cli("--db", store, "audit", "digest", "--json")).stdout)
    before = report(cli, store)
    # The search can find them: the views hold opened values until an erasure.
    for person in (MENTEE, MENTOR):
        assert any(person.encode() in p.read_bytes() for p in engine_files(store.parent))
    erase = tmp_path / "forget.jsonl"
    erase.write_text(forget_lines(MENTEE, MENTOR))
    assert import_json(cli, store, erase) == {"applied": 2, "duplicates": 0, "rejected": []}
    for path in engine_files(store.parent):
        data = path.read_bytes()
        for person in (MENTEE, MENTOR):
            assert person.encode() not in data, f"{person} found in {path.name}"
    ok(cli("--db", store, "audit", "verify", "--digest", digest))
    ok(cli("--db", store, "audit", "projections"))
    after = report(cli, store)
    assert {k: after[k] for k in V1_KEYS} == {k: before[k] for k in V1_KEYS}
    assert after["dropouts"] == before["dropouts"]
    assert after["monitoring"]["latest_health"]["n"] == (
        before["monitoring"]["latest_health"]["n"] - 1)


def test_history_shows_the_erased_fields_as_null_and_the_erasure(
        store: Path, tmp_path: Path, cli: Run) -> None:
    erase = tmp_path / "forget.jsonl"
    erase.write_text(forget_lines(MENTEE))
    import_json(cli, store, erase)
    rows = json.loads(ok(cli("--db", store, "history", "ie.duo-01", "--json")).stdout)
    recruited = rows[0]["data"]
    assert (recruited["mentee_id"], recruited["department"], recruited["shifts"]) == (
        None, None, None)
    assert all(r["data"]["health"] is None for r in rows if r["type"] == "Reviewed")
    assert all(r["data"]["scores"] is None for r in rows
               if r["type"] == "SurveyRecorded" and r["data"]["respondent"] == "mentee")
    matched = next(r for r in rows if r["type"] == "Matched")
    assert matched["data"]["mentor_id"] == MENTOR  # the mentor was not forgotten
    erased = rows[-1]
    assert erased["type"] == "Erased"
    assert erased["data"]["role"] == "mentee"
    assert set(erased["data"]["fields"]) >= {"mentee_id", "department", "shifts", "health"}
    assert MENTEE not in json.dumps(erased)


def test_rule_16_both_ways_and_re_import_applies_nothing(
        store: Path, tmp_path: Path, cli: Run, worked_example: Path) -> None:
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(forget_lines("nobody-at-all"))
    result = import_json(cli, store, unknown)
    assert result["applied"] == 0 and result["rejected"][0]["error"].startswith("rule 16")
    erase = tmp_path / "forget.jsonl"
    erase.write_text(forget_lines(MENTOR))
    assert import_json(cli, store, erase)["applied"] == 1
    again = tmp_path / "again.jsonl"
    again.write_text(forget_lines(MENTOR, on="2025-10-02"))
    result = import_json(cli, store, again)
    assert result["applied"] == 0 and result["rejected"][0]["error"].startswith(
        "rule 16 [person_id]")
    assert import_json(cli, store, worked_example) == {
        "applied": 0, "duplicates": 154, "rejected": []}
    naming = tmp_path / "naming.jsonl"
    naming.write_text(json.dumps({
        "type": "register_mentor", "occurred_on": "2025-10-02", "mentor_id": MENTOR,
        "programme_id": "IE-2025", "site_id": "ie.site-1", "department": "d",
        "shifts": [], "years_experience": 1}) + "\n" + json.dumps({
        "type": "match", "occurred_on": "2025-10-02", "duo_id": "ie.duo-01",
        "mentor_id": MENTOR, "mentor_kind": "peer"}) + "\n")
    result = import_json(cli, store, naming)
    assert [r["error"][:17] for r in result["rejected"]] == ["rule 16 [mentor_i"] * 2


def test_forget_is_refused_on_a_plain_store(tmp_path: Path, cli: Run,
                                            worked_example: Path) -> None:
    from lifecycle.adapters.store import resolve_target
    from lifecycle.application import Lifecycle
    from lifecycle.application.importer import Importer

    db = tmp_path / "plain.db"
    engine = Lifecycle(resolve_target(str(db)).env)  # a store made before sealing
    with worked_example.open("rb") as lines:
        assert not Importer(engine).run(lines).rejected
    engine.shutdown()
    erase = tmp_path / "forget.jsonl"
    erase.write_text(forget_lines(MENTEE))
    result = import_json(cli, db, erase)
    assert "created before sealing" in result["rejected"][0]["error"]
    assert MENTEE.encode() in db.read_bytes()  # never rewritten


def test_a_wrong_master_key_is_refused_at_start(store: Path, tmp_path: Path,
                                                cli: Run) -> None:
    other = tmp_path / "other.key"
    other.write_text("A" * 43 + "=\n")
    events = store.stat().st_size
    done = cli("--master-key-file", other, "--db", store, "report", "--as-of",
               "2025-09-30", "--json")
    assert done.returncode == 2
    assert "not this store's" in done.stderr and len(done.stderr.splitlines()) == 1
    assert store.stat().st_size == events


def test_without_the_master_key_a_store_verifies_reports_and_writes_nothing(
        store: Path, tmp_path: Path, cli: Run, worked_example: Path) -> None:
    before = report(cli, store)
    elsewhere = tmp_path / "another installation"  # no master key file there
    nokey = {"XDG_CONFIG_HOME": str(elsewhere)}
    ok(cli("--db", store, "audit", "verify", env=nokey))
    assert {k: json.loads(ok(cli("--db", store, "report", "--as-of", "2025-09-30", "--json",
                                 env=nokey)).stdout)[k] for k in V1_KEYS} == {
        k: before[k] for k in V1_KEYS}
    rows = json.loads(ok(cli("--db", store, "history", "ie.duo-01", "--json",
                             env=nokey)).stdout)
    assert rows[0]["data"]["mentee_id"] is None
    size = store.stat().st_size
    done = cli("--db", store, "import", worked_example, "--json", env=nokey)
    assert done.returncode == 2 and "master key" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert store.stat().st_size == size
    assert not elsewhere.exists()  # no new key made for it
    ok(cli("--db", store, "audit", "projections"))


def test_an_export_after_forget_holds_no_trace_and_restores_the_same_reports(
        store: Path, tmp_path: Path, cli: Run) -> None:
    erase = tmp_path / "forget.jsonl"
    erase.write_text(forget_lines(MENTEE))
    import_json(cli, store, erase)
    export = tmp_path / "pilot.export.jsonl"
    ok(cli("--db", store, "export", export))
    assert MENTEE.encode() not in export.read_bytes()
    fresh = tmp_path / "fresh" / "new.db"
    fresh.parent.mkdir()
    # On an installation without the master key the export was sealed with, restore
    # is refused and writes nothing; on this one it needs no option.
    refused = cli("--db", fresh, "restore", export,
                  env={"XDG_CONFIG_HOME": str(tmp_path / "another installation")})
    assert refused.returncode == 2 and "master key" in refused.stderr
    assert not fresh.exists()
    ok(cli("--db", fresh, "restore", export))
    assert report(cli, fresh) == report(cli, store)
    ok(cli("--db", fresh, "audit", "projections"))
    # The restored store knows the forgotten person (rule 16) and the live keys.
    again = tmp_path / "again.jsonl"
    again.write_text(forget_lines(MENTEE, on="2025-10-03"))
    assert import_json(cli, fresh, again)["rejected"][0]["error"].startswith("rule 16")
    keys = store_keys(fresh)
    assert keys.check_value() == store_keys(store).check_value()


def test_forget_is_dated_like_every_command(store: Path, tmp_path: Path, cli: Run) -> None:
    late = tmp_path / "late.jsonl"
    late.write_text(forget_lines(MENTEE, on="2999-01-01"))
    result = import_json(cli, store, late)
    assert result["rejected"][0]["error"].startswith("rule 5")


def test_a_restored_store_forgets_as_its_source_would(store: Path, tmp_path: Path,
                                                      cli: Run) -> None:
    # The restored log arrives without the table of which duos name whom: restore
    # builds it from the events, so that forget finds every duo of the person there.
    export = tmp_path / "before.export.jsonl"
    ok(cli("--db", store, "export", export))
    fresh = tmp_path / "restored" / "pilot.db"
    fresh.parent.mkdir()
    ok(cli("--db", fresh, "restore", export))
    erase = tmp_path / "forget.jsonl"
    erase.write_text(forget_lines(MENTEE, MENTOR))
    for db in (store, fresh):
        assert import_json(cli, db, erase) == {"applied": 2, "duplicates": 0, "rejected": []}
    for path in engine_files(fresh.parent):
        data = path.read_bytes()
        for person in (MENTEE, MENTOR):
            assert person.encode() not in data, f"{person} found in {path.name}"
    assert report(cli, fresh) == report(cli, store)
    assert ok(cli("--db", fresh, "audit", "digest")).stdout != ""
