"""``lifecycle tokens`` and ``lifecycle serve`` as a user runs them: a token is printed
once and never again, listed without its secret, revoked by id; usage errors exit 2
with one line."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]


def test_a_token_is_printed_once_and_then_only_listed_by_id(cli: Cli, db_path: Path) -> None:
    made = cli("--db", db_path, "tokens", "create", "--role", "coordinator",
               "--programme", "DK-2025", "--programme", "PT-2025")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("lct_") and "\n" not in token
    assert "shown only now" in made.stderr
    listed = cli("--db", db_path, "tokens", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["role"] == "coordinator" and row["programmes"] == ["DK-2025", "PT-2025"]
    assert row["revoked_at"] is None
    assert token not in listed.stdout and token[4:] not in listed.stdout
    table = cli("--db", db_path, "tokens", "list")
    assert row["token_id"] in table.stdout and "valid" in table.stdout
    assert token not in table.stdout
    revoked = cli("--db", db_path, "tokens", "revoke", row["token_id"])
    assert revoked.returncode == 0, revoked.stderr
    [after] = json.loads(cli("--db", db_path, "tokens", "list", "--json").stdout)
    assert after["revoked_at"] is not None


def test_create_with_json_gives_the_token_with_its_record(cli: Cli, db_path: Path) -> None:
    made = cli("--db", db_path, "tokens", "create", "--role", "auditor", "--json")
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    assert record["role"] == "auditor" and record["token"].startswith("lct_")


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--role", "coordinator"], "at least one programme"),
    (["create", "--role", "admin", "--programme", "P-1"], "coordinators only"),
    (["create", "--role", "owner"], "owner"),
    (["create", "--role", "coordinator", "--programme", "bad id"], "not a programme id"),
    (["revoke", "no-such-id"], "no token"),
])
def test_a_token_command_that_cannot_be_done_is_a_usage_error(
        cli: Cli, db_path: Path, args: list[str], message: str) -> None:
    done = cli("--db", db_path, "tokens", *args)
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1]  # the error's own line
    assert "Traceback" not in done.stderr


def test_serve_on_an_address_in_use_is_a_usage_error(cli: Cli, db_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("--db", db_path, "serve", "--port", port)
    assert done.returncode == 2
    assert done.stderr.startswith(f"lifecycle: error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in done.stderr


def test_serve_on_something_that_is_not_a_store_is_a_usage_error(cli: Cli,
                                                                 tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database")
    done = cli("--db", notes, "serve", "--port", "0")
    assert done.returncode == 2
    assert "not a lifecycle store" in done.stderr
