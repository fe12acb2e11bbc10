"""Signed chain heads on real stores (ADR 26), through the ``lifecycle`` command.

A small pilot is imported with a signing key configured (``LIFECYCLE_SIGNING_KEY_FILE``,
a pair made by ``audit keygen``): some commands in batches, some one transaction each.
Every commit signs the chain's head in its own transaction. Then each claim of ADR 26
is shown on its own copy of the store, checked in the store itself and in its export
(``source``):

caught now
    an event appended with a correct link by someone who can write to the database but
    does not hold the key; a history rewritten and rechained without a digest; a
    signature forged with another key; signatures removed;
still not caught
    the key's holder appending and signing a forged event; a rollback to an earlier
    signed state, which only a digest kept elsewhere reveals.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lifecycle.adapters.chain import GENESIS, link
from lifecycle.adapters.signing import KEY_FILE_VARIABLE, message

Run = Callable[..., subprocess.CompletedProcess[str]]

UNSIGNED = "are not signed"
REWRITTEN = "is not the chain's link there (the history was rewritten after it was signed)"
FORGED = "does not verify with this public key (forged, or made with another key)"


@dataclass
class Signed:
    """The signed pilot: its store, key pair, saved digest and what it holds."""

    folder: Path
    store: Path
    key: Path
    public: Path
    digest_file: Path
    digest: dict[str, Any]
    commits: int

    @property
    def env(self) -> dict[str, str]:
        return {KEY_FILE_VARIABLE: str(self.key)}


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def signed(cli: Run, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    folder = tmp_path_factory.mktemp("signed")
    ok(cli("audit", "keygen", "--out", folder / "engine"))
    key, public = folder / "engine.key", folder / "engine.pub"
    env = {KEY_FILE_VARIABLE: str(key)}
    pilot = folder / "pilot.jsonl"
    ok(cli("simulate", "--seed", 4, "--duos", 12, "--out", pilot))
    lines = pilot.read_bytes().splitlines(keepends=True)
    batched, single = folder / "batched.jsonl", folder / "single.jsonl"
    batched.write_bytes(b"".join(lines[:-30]))
    single.write_bytes(b"".join(lines[-30:]))
    store = folder / "signed.db"
    ok(cli("--db", store, "import", batched, "--batch-size", 100, env=env))
    ok(cli("--db", store, "import", single, "--batch-size", 1, env=env))
    digest_file = folder / "digest.json"
    digest_file.write_text(ok(cli("--db", store, "audit", "digest", "--json")).stdout)
    commits = (len(lines) - 30 + 99) // 100 + 30
    return Signed(folder, store, key, public, digest_file, json.loads(digest_file.read_text()),
                  commits)


def rows(store: Path, sql: str, *params: Any) -> list[Any]:
    conn = sqlite3.connect(store)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@contextmanager
def edited(store: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(store)
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def copy(signed: Signed, name: str, copy_sqlite: Callable[[Path, Path], Path]) -> Path:
    return copy_sqlite(signed.store, signed.folder / f"{name}.db")


def verdict(cli: Run, store: Path, source: str, *options: str | Path) -> tuple[int, Any]:
    """``audit verify --public-key --json`` of the store, or of its export."""
    args: list[str | Path] = ["audit", "verify", "--json", *options]
    if source == "export":
        exported = store.with_suffix(".jsonl")
        ok(cli("--db", store, "export", exported))
        args += ["--export", exported]
    done = cli("--db", store, *args)
    return done.returncode, json.loads(done.stdout)


def forged_contact(store: Path, position: int, previous: bytes) -> tuple[Any, ...]:
    """A copy of the last logged contact as the next version of its duo, at
    ``position``, with the link a forger computes after ``previous``."""
    oid, topic, state = rows(store, "SELECT originator_id, topic, state FROM stored_events "
                                    "WHERE topic LIKE '%ContactLogged' ORDER BY rowid DESC "
                                    "LIMIT 1")[0]
    [(top,)] = rows(store, "SELECT max(originator_version) FROM stored_events "
                           "WHERE originator_id = ?", oid)
    row = (position, oid, top + 1, topic, state)
    return (*row, link(previous, *row))


def append(store: Path, row: tuple[Any, ...]) -> None:
    with edited(store) as conn:
        conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, "
                     "topic, state) VALUES (?, ?, ?, ?, ?)", row[:5])
        conn.execute("INSERT INTO event_chain (position, link) VALUES (?, ?)",
                     (row[0], row[5]))


def last_link(store: Path) -> tuple[int, bytes]:
    position, chained = rows(store, "SELECT position, link FROM event_chain "
                                    "ORDER BY position DESC LIMIT 1")[0]
    return int(position), bytes(chained)


SOURCES = ["store", "export"]


# ---------------------------------------------------------------------- signing itself
def test_every_commit_signs_the_head_it_wrote(signed: Signed) -> None:
    heads = rows(signed.store, "SELECT s.position, s.head, c.link FROM chain_signatures s "
                               "LEFT JOIN event_chain c ON c.position = s.position")
    assert len(heads) == signed.commits
    assert all(head == chained for _, head, chained in heads)
    assert max(p for p, _, _ in heads) == signed.digest["position"]


def test_a_rejected_command_signs_nothing(signed: Signed, cli: Run, tmp_path: Path,
                                          copy_sqlite: Callable[[Path, Path], Path],
                                          write_jsonl: Callable[..., Path],
                                          cmd: Callable[..., dict[str, Any]]) -> None:
    store = copy_sqlite(signed.store, tmp_path / "rejected.db")
    before = rows(store, "SELECT count(*) FROM chain_signatures")
    bad = write_jsonl([cmd("select", "2025-03-01", duo_id="no-such-duo")])
    assert cli("--db", store, "import", bad, env=signed.env).returncode == 1
    assert rows(store, "SELECT count(*) FROM chain_signatures") == before


def test_the_signed_store_verifies_with_its_public_key_up_to_its_last_event(
        signed: Signed, cli: Run) -> None:
    for source in SOURCES:
        status, said = verdict(cli, signed.store, source, "--public-key", signed.public)
        assert status == 0, said
        assert said["signed"]["position"] == signed.digest["position"]
        assert said["signed"]["signatures"] == signed.commits


def test_the_digest_holds_the_latest_signed_head(signed: Signed) -> None:
    signature = signed.digest["signature"]
    assert signature["position"] == signed.digest["position"]
    assert signature["head"] == signed.digest["head"]


def test_a_bad_signing_key_stops_the_engine_before_it_writes(
        signed: Signed, cli: Run, tmp_path: Path, copy_sqlite: Callable[[Path, Path], Path],
        write_jsonl: Callable[..., Path], cmd: Callable[..., dict[str, Any]]) -> None:
    store = copy_sqlite(signed.store, tmp_path / "bad-key.db")
    before = rows(store, "SELECT count(*) FROM stored_events")
    later = write_jsonl([cmd("open_programme", "2025-12-01", programme_id="P-LATER")])
    said = cli("--db", store, "import", later, env={KEY_FILE_VARIABLE: str(signed.public)})
    assert said.returncode == 2
    assert said.stderr.startswith(f"lifecycle: error: {KEY_FILE_VARIABLE}: ")
    assert said.stderr.count("\n") == 1
    assert rows(store, "SELECT count(*) FROM stored_events") == before


# ---------------------------------------------------------------------- caught now
@pytest.mark.parametrize("source", SOURCES)
def test_caught_an_event_appended_with_a_correct_link_without_the_key(
        signed: Signed, cli: Run, source: str,
        copy_sqlite: Callable[[Path, Path], Path]) -> None:
    """The gap ADR 8 left open: the chain alone takes the forgery for a later command."""
    store = copy(signed, f"forged-{source}", copy_sqlite)
    position, head = last_link(store)
    append(store, forged_contact(store, position + 1, head))
    status, said = verdict(cli, store, source)
    assert status == 0 and said["events"] == signed.digest["events"] + 1
    status, said = verdict(cli, store, source, "--public-key", signed.public)
    assert (status, said["ok"], said["position"]) == (1, False, position + 1)
    assert said["problem"] == (f"1 events after position {position} are not signed, from "
                               f"position {position + 1} on (written without the signing "
                               "key)")


@pytest.mark.parametrize("source", SOURCES)
def test_caught_a_history_rewritten_and_rechained_without_a_digest(
        signed: Signed, cli: Run, source: str,
        copy_sqlite: Callable[[Path, Path], Path]) -> None:
    store = copy(signed, f"rewritten-{source}", copy_sqlite)
    events = rows(store, "SELECT rowid, originator_id, originator_version, topic, state "
                         "FROM stored_events ORDER BY rowid")
    target = next(i for i, r in enumerate(events) if r[3].endswith("ContactLogged"))
    payload = json.loads(events[target][4])
    payload["minutes"] = payload["minutes"] % 1440 + 1
    changed = json.dumps(payload, separators=(",", ":")).encode()
    events[target] = (*events[target][:4], changed)
    previous, chain = GENESIS, []
    for row in events:
        previous = link(previous, row[0], row[1], row[2], row[3], bytes(row[4]))
        chain.append((row[0], previous))
    with edited(store) as conn:
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                     (changed, events[target][0]))
        conn.execute("DELETE FROM event_chain")
        conn.executemany("INSERT INTO event_chain (position, link) VALUES (?, ?)", chain)
    assert verdict(cli, store, source)[0] == 0  # the chain alone: intact
    status, said = verdict(cli, store, source, "--public-key", signed.public)
    first_signed = rows(store, "SELECT min(position) FROM chain_signatures "
                               "WHERE position >= ?", events[target][0])[0][0]
    assert (status, said["position"]) == (1, first_signed)
    assert REWRITTEN in said["problem"]


@pytest.mark.parametrize("source", SOURCES)
def test_caught_a_signature_forged_with_another_key(
        signed: Signed, cli: Run, source: str,
        copy_sqlite: Callable[[Path, Path], Path]) -> None:
    store = copy(signed, f"other-key-{source}", copy_sqlite)
    position, head = last_link(store)
    append(store, forged_contact(store, position + 1, head))
    _, forged_head = last_link(store)
    other = Ed25519PrivateKey.generate()
    with edited(store) as conn:
        conn.execute("INSERT INTO chain_signatures (position, head, signature) "
                     "VALUES (?, ?, ?)", (position + 1, forged_head,
                                          other.sign(message(position + 1, forged_head))))
    status, said = verdict(cli, store, source, "--public-key", signed.public)
    assert (status, said["position"]) == (1, position + 1)
    assert FORGED in said["problem"]


@pytest.mark.parametrize("source", SOURCES)
def test_caught_signatures_removed(signed: Signed, cli: Run, source: str,
                                   copy_sqlite: Callable[[Path, Path], Path]) -> None:
    store = copy(signed, f"unsigned-{source}", copy_sqlite)
    with edited(store) as conn:
        conn.execute("DELETE FROM chain_signatures")
    status, said = verdict(cli, store, source, "--public-key", signed.public)
    assert (status, said["position"]) == (1, 1)
    assert UNSIGNED in said["problem"] and "no head is signed" in said["problem"]


# ---------------------------------------------------------------------- still not caught
@pytest.mark.parametrize("source", SOURCES)
def test_not_caught_the_key_s_holder_appending_and_signing_a_forged_event(
        signed: Signed, cli: Run, source: str,
        copy_sqlite: Callable[[Path, Path], Path]) -> None:
    """Whoever holds the private key signs what they like: the key is the trust."""
    from cryptography.hazmat.primitives import serialization

    store = copy(signed, f"holder-{source}", copy_sqlite)
    position, head = last_link(store)
    row = forged_contact(store, position + 1, head)
    append(store, row)
    key = serialization.load_pem_private_key(signed.key.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    with edited(store) as conn:
        conn.execute("INSERT INTO chain_signatures (position, head, signature) "
                     "VALUES (?, ?, ?)", (row[0], row[5], key.sign(message(row[0], row[5]))))
    status, said = verdict(cli, store, source, "--public-key", signed.public)
    assert status == 0 and said["signed"]["position"] == position + 1


@pytest.mark.parametrize("source", SOURCES)
def test_not_caught_a_rollback_to_an_earlier_signed_state_but_by_a_digest_kept_elsewhere(
        signed: Signed, cli: Run, source: str,
        copy_sqlite: Callable[[Path, Path], Path]) -> None:
    store = copy(signed, f"rollback-{source}", copy_sqlite)
    earlier = rows(store, "SELECT position FROM chain_signatures ORDER BY position DESC "
                          "LIMIT 1 OFFSET 5")[0][0]
    with edited(store) as conn:
        for table, column in (("stored_events", "rowid"), ("event_chain", "position"),
                              ("chain_signatures", "position")):
            conn.execute(f"DELETE FROM {table} WHERE {column} > ?", (earlier,))
    status, said = verdict(cli, store, source, "--public-key", signed.public)
    assert status == 0 and said["signed"]["position"] == earlier
    status, said = verdict(cli, store, source, "--public-key", signed.public,
                           "--digest", signed.digest_file)
    assert status == 1
    assert said["problem"].startswith("history was truncated: the digest describes "
                                      f"{signed.digest['events']} events")


# ---------------------------------------------------------------------- PostgreSQL
@pytest.mark.postgres
def test_a_postgresql_store_signs_every_commit_and_verifies_with_the_key(
        signed: Signed, cli: Run, postgres_url: str) -> None:
    jsonl = signed.folder / "batched.jsonl"
    ok(cli("--db", postgres_url, "import", jsonl, "--batch-size", 100, env=signed.env))
    done = ok(cli("--db", postgres_url, "audit", "verify", "--json", "--public-key",
                  signed.public))
    assert json.loads(done.stdout)["signed"]["signatures"] == signed.commits - 30
    unsigned = signed.folder / "single.jsonl"
    ok(cli("--db", postgres_url, "import", unsigned))
    done = cli("--db", postgres_url, "audit", "verify", "--json", "--public-key", signed.public)
    assert done.returncode == 1 and UNSIGNED in json.loads(done.stdout)["problem"]
