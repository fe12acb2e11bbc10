"""Paths are data, not syntax: every ``lifecycle`` command works on an SQLite store (and
input, output and digest files) whose path holds spaces, ``#``, ``?``, ``%`` and
non-ASCII letters, exits only with a documented status (0, 1 or 2), and leaves no
stray file beside it (an SQLite URI built without quoting once opened ``a b`` for
``a b#c.db``)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]

AS_OF = "2025-09-30"
ODD = "a b#c?x=1&y %20%41 Åsa ø.db"
"""Every character a URI would read as syntax (space, ``#``, ``?``, ``=``, ``&``,
``%``) and non-ASCII letters, in one name."""
NAMES = ["a b#c.db", "q?x=1.db", "p%20c%41t.db", "Åsa ø é.db"]


def odd_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dir #1 ?% ø"
    folder.mkdir()
    return folder


def ran(done: subprocess.CompletedProcess[str], status: int) -> subprocess.CompletedProcess[str]:
    assert done.returncode == status, (done.args, done.stdout[-2000:], done.stderr[-2000:])
    return done


@pytest.mark.slow
def test_every_command_works_on_a_store_whose_path_is_not_uri_safe(
        tmp_path: Path, cli: Run, lifecycle_bin: Path) -> None:
    folder = odd_folder(tmp_path)
    store = folder / ODD
    stream = folder / "pilot #1 ø?.jsonl"
    digest = folder / "digest %1 #?.json"

    ran(cli("simulate", "--seed", 7, "--duos", 12, "--out", stream), 0)
    imported = json.loads(ran(cli("--db", store, "import", stream, "--json"), 0).stdout)
    assert imported["rejected"] == [] and imported["applied"] > 0
    assert ran(cli("--db", store, "import", stream), 0).stdout.startswith("applied 0,")

    duo = ran(cli("--db", store, "duos", "--ids", "--limit", "1"), 0).stdout.strip()
    assert json.loads(ran(cli("--db", store, "history", duo, "--json"), 0).stdout)
    ran(cli("--db", store, "history", duo, "--as-at", "2999-01-01T00:00:00Z"), 0)
    ran(cli("--db", store, "duos", "--as-of", AS_OF, "--format", "csv"), 0)
    ran(cli("--db", store, "duos", "--as-of", AS_OF, "--json", "--overdue"), 0)
    report = json.loads(ran(cli("--db", store, "report", "--as-of", AS_OF, "--json"), 0).stdout)
    assert report["as_of"] == AS_OF
    ran(cli("--db", store, "report", "--as-of", AS_OF), 0)
    ran(cli("--db", store, "report", "--as-of", AS_OF, "--by", "site"), 0)
    ran(cli("--db", store, "report", "--as-of", AS_OF, "--as-at", "2999-01-01T00:00:00Z",
            "--json"), 0)
    page = folder / "report #1 ?% ø.html"
    ran(cli("--db", store, "report", "--as-of", AS_OF, "--html", page), 0)
    assert page.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    ran(cli("--db", store, "attention", "--as-of", AS_OF, "--json"), 0)
    ran(cli("--db", store, "mentors", "--as-of", AS_OF, "--json"), 0)
    active = ran(cli("--db", store, "duos", "--as-of", AS_OF, "--state", "active", "--ids",
                     "--limit", "1"), 0).stdout.strip()
    assert active
    ran(cli("--db", store, "suggest", active, "--at-match", "--json"), 0)

    digest.write_text(ran(cli("--db", store, "audit", "digest", "--json"), 0).stdout)
    ran(cli("--db", store, "audit", "digest"), 0)
    verdict = json.loads(ran(cli("--db", store, "audit", "verify", "--digest", digest,
                                 "--json"), 0).stdout)
    assert verdict["ok"] and verdict["events"] == json.loads(digest.read_text())["events"]
    ran(cli("--db", store, "audit", "verify", "--processes", "2"), 0)
    ran(cli("--db", store, "audit", "projections"), 0)
    ran(cli("--db", store, "projections", "status", "--json"), 0)
    export = folder / "export #1 ?% ø.jsonl.gz"
    ran(cli("--db", store, "export", export), 0)
    copy = folder / f"copy of {ODD}"
    ran(cli("--db", copy, "restore", export, "--digest", digest), 0)
    assert json.loads(ran(cli("--db", copy, "audit", "verify", "--json"), 0).stdout)[
        "head"] == verdict["head"]
    ran(cli("--db", store, "projections", "rebuild", "--processes", "2"), 0)
    ran(cli("--db", store, "project"), 0)
    follow_until_started(lifecycle_bin, store)
    token = ran(cli("--db", store, "tokens", "create", "--role", "auditor"), 0).stdout.strip()
    ran(cli("--db", store, "tokens", "list", "--json"), 0)
    served = serve_once(lifecycle_bin, store, token, f"/duos/{duo}/history")
    assert [e["version"] for e in served] == list(range(1, len(served) + 1))
    # The environment variable is the other way to name the store.
    ran(cli("projections", "status", env={"LIFECYCLE_DB": str(store)}), 0)
    ran(cli("--db", store, "schema"), 0)
    ran(cli("--db", store, "states"), 0)

    # The documented failures, on the same paths.
    ran(cli("--db", store, "history", "no-such-duo"), 2)
    ran(cli("--db", store, "report", "--as-of", AS_OF, "--programme", "NOPE"), 2)
    ran(cli("--db", store, "import", folder / "missing #1.jsonl"), 2)
    ran(cli("--db", store, "audit", "verify", "--digest", folder / "missing ?.json"), 2)
    bad = folder / "bad line #2.jsonl"
    bad.write_text('{"type": "nonsense"}\n')
    ran(cli("--db", store, "import", bad), 1)

    # Tampering is found through the same path (its views, then its log).
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE proj_duos SET mentee_id = 'tampered' WHERE duo_id = ?", (duo,))
    ran(cli("--db", store, "audit", "projections"), 1)
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE stored_events SET state = CAST('{}' AS BLOB) WHERE rowid = 2")
    ran(cli("--db", store, "audit", "verify"), 1)

    expected = {store.name, stream.name, digest.name, bad.name, page.name, export.name,
                copy.name}
    left = {p.name for p in folder.iterdir()} - {
        f"{db.name}-{end}" for db in (store, copy) for end in ("wal", "shm")}
    assert left == expected
    assert {p.name for p in tmp_path.iterdir()} == {folder.name}


def follow_until_started(lifecycle_bin: Path, store: Path) -> None:
    """``project --follow`` starts on the store, and stops with exit 0 on SIGTERM."""
    env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_DB"}
    with subprocess.Popen(
            [str(lifecycle_bin), "--db", str(store), "--log-json", "-v", "project",
             "--follow", "--poll", "0.1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stderr is not None
            for line in process.stderr:
                if json.loads(line).get("event") == "worker_started":
                    break
            else:
                pytest.fail("the worker ended without starting")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()


def serve_once(lifecycle_bin: Path, store: Path, token: str, route: str) -> Any:
    """``serve`` on the store answers one GET of ``route``, and stops on SIGINT."""
    env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_DB"}
    with subprocess.Popen(
            [str(lifecycle_bin), "--db", str(store), "serve", "--port", "0"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stderr is not None
            for line in process.stderr:
                if " on http://" in line:
                    base = line.split(" on ", 1)[1].strip()
                    break
            else:
                pytest.fail("the service ended without serving")
            request = urllib.request.Request(base + route,
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) in (0, 130)
            return answer
        finally:
            if process.poll() is None:
                process.kill()


@pytest.mark.parametrize("name", NAMES)
def test_a_store_is_written_verified_and_read_at_its_own_path(
        tmp_path: Path, cli: Run, stream: Any, name: str) -> None:
    folder = odd_folder(tmp_path)
    store = folder / name
    commands = stream.base().duo("active").write(folder / f"commands of {name}.jsonl")
    ran(cli("--db", store, "import", commands), 0)
    assert json.loads(ran(cli("--db", store, "audit", "verify", "--json"), 0).stdout)["ok"]
    assert len(json.loads(ran(cli("--db", store, "history", "D-1", "--json"), 0).stdout)) == 4
    left = {p.name for p in folder.iterdir()} - {f"{name}-wal", f"{name}-shm"}
    assert left == {name, commands.name}


def test_a_store_that_cannot_be_opened_is_a_usage_error_whatever_its_name(
        tmp_path: Path, cli: Run) -> None:
    folder = odd_folder(tmp_path)
    not_a_store = folder / ODD
    not_a_store.write_bytes(b"plain text, not SQLite " * 100)
    missing_folder = folder / "no such folder ø" / ODD
    for args in (("audit", "verify"), ("audit", "digest"), ("report", "--as-of", AS_OF),
                 ("duos",), ("projections", "status"), ("history", "D-1")):
        for target in (not_a_store, missing_folder):
            done = ran(cli("--db", target, *args), 2)
            assert done.stderr.startswith("lifecycle: error: "), done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert {p.name for p in folder.iterdir()} == {not_a_store.name}


def test_a_store_that_fails_in_use_is_an_error_of_one_line_and_status_2(
        tmp_path: Path, cli: Run, stream: Any) -> None:
    folder = odd_folder(tmp_path)
    store = folder / ODD
    ran(cli("--db", store, "import", stream.base().write(folder / "base.jsonl")), 0)
    with sqlite3.connect(store) as conn:  # views no engine could have written
        conn.execute("DROP TABLE proj_tracking")
        conn.execute("CREATE TABLE proj_tracking (nonsense TEXT)")
    for args in (("projections", "status"), ("report", "--as-of", AS_OF), ("duos",)):
        done = ran(cli("--db", store, *args), 2)
        assert done.stderr.startswith("lifecycle: error: the store failed: "), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
