"""The ``audit`` group: digests, chain verification, view checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from lifecycle.adapters.audit import (
    ChainReader,
    ChainSource,
    Digest,
    Verification,
    make_digest,
    verify,
)
from lifecycle.adapters.export import ExportError, ExportReader
from lifecycle.adapters.signed_heads import SignedSource, check_signatures
from lifecycle.adapters.signing import (
    SigningError,
    generate,
    load_public_key,
)
from lifecycle.entrypoints.cli.app import Context, cli, echo_json, fail, progress


@cli.group("audit")
def audit_group() -> None:
    """Tamper-evidence: digests, chain verification, view checks."""


def chain_reader(obj: Context) -> Any:
    """The store's events and chain links, for the auditor's commands and the report
    (opening the engine creates a missing store's tables, as every command does)."""
    engine = obj.engine
    return ChainReader(obj.target, engine.app.recorder.events_table_name)  # type: ignore[attr-defined]


def open_export(file: str) -> ExportReader:
    """The export at ``file``; a usage error (exit 2) when it is none."""
    try:
        return ExportReader(file)
    except ExportError as exc:
        fail(str(exc))


def checked(source: ChainSource, digest: Digest | None, public_key: str | None,
            processes: int | None = None) -> Verification:
    """The verdict on a history's chain (against ``digest``) and, given a public key
    file, on its signed heads; a usage error (exit 2) when the key cannot be read."""
    key = None
    if public_key is not None:
        try:
            key = load_public_key(public_key)
        except SigningError as exc:
            fail(str(exc))
    with progress("verifying") as advance:
        result = verify(source, digest, progress=advance, processes=processes)
    if key is None:
        return result
    assert isinstance(source, SignedSource)
    return check_signatures(source, key, result)


def read_digest(file: str | None) -> Digest | None:
    """A saved ``audit digest --json``; a usage error (exit 2) when unreadable."""
    if file is None:
        return None
    try:
        return Digest.from_json(json.loads(Path(file).read_text()))
    except (OSError, ValueError) as exc:
        fail(f"cannot read digest '{file}': {exc}")


@audit_group.command("digest")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (what an auditor keeps).")
@click.pass_obj
def audit_digest_command(obj: Context, as_json: bool) -> None:
    """Describe the history as it stands: event count, last position, head hash."""
    try:
        digest = make_digest(chain_reader(obj))
    except ValueError as exc:
        click.echo(f"lifecycle: {exc}", err=True)
        sys.exit(1)
    if as_json:
        echo_json(digest.as_json())
    else:
        signed = ("" if digest.signature is None else
                  f", signed at position {digest.signature['position']}")
        click.echo(f"{digest.events} events, last position {digest.position}, "
                   f"head {digest.head}{signed} ({digest.created_at})")


@audit_group.command("verify")
@click.option("--digest", "digest_file", metavar="FILE",
              help="A saved `audit digest --json`: the history must still begin with it.")
@click.option("--export", "export_file", metavar="FILE",
              help="Verify this export (`lifecycle export`) instead of a store: no store "
                   "is opened.")
@click.option("--public-key", "public_key", metavar="FILE",
              help="Also check every signed head with this Ed25519 public key (`audit "
                   "keygen`); events after the last valid signature are unsigned.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--processes", type=click.IntRange(min=1), default=None, metavar="N",
              help="Processes for a large SQLite log or uncompressed export (default: one "
                   "per CPU, at most 4; 1 keeps it in this one).")
@click.pass_obj
def audit_verify_command(obj: Context, digest_file: str | None, export_file: str | None,
                         public_key: str | None, as_json: bool, processes: int | None) -> None:
    """Recompute the hash chain; exit 1 at the first alteration, with where and what."""
    digest = read_digest(digest_file)
    source: ChainSource = chain_reader(obj) if export_file is None else open_export(export_file)
    result = checked(source, digest, public_key, processes)
    if as_json:
        click.echo(json.dumps(result.as_json()))
    elif result.ok:
        against = " and begins with the digest" if digest else ""
        signed = "" if result.signed is None else (
            f", signed up to position {result.signed['position']} "
            f"({result.signed['signatures']} signatures, key {result.signed['key']})")
        click.echo(f"intact: {result.events} events, head {result.head}{against}{signed}")
    else:
        where = f" at position {result.position}" if result.position is not None else ""
        click.echo(f"ALTERED{where}: {result.problem}")
    sys.exit(0 if result.ok else 1)


@audit_group.command("keygen")
@click.option("--out", "prefix", metavar="PREFIX", required=True,
              help="Write PREFIX.key (the private key, mode 0600) and PREFIX.pub.")
def audit_keygen_command(prefix: str) -> None:
    """Make an Ed25519 key pair for signing the chain's head (ADR 26)."""
    try:
        pair = generate(prefix)
    except SigningError as exc:
        fail(str(exc))
    click.echo(f"private key {pair.private} (mode 0600; give it only to the engine: "
               f"LIFECYCLE_SIGNING_KEY_FILE={pair.private})")
    click.echo(f"public key {pair.public} (for auditors: audit verify --public-key "
               f"{pair.public}), fingerprint {pair.fingerprint}")


@audit_group.command("projections")
@click.option("--json", "as_json", is_flag=True, help="Print the differing rows as JSON.")
@click.pass_obj
def audit_projections_command(obj: Context, as_json: bool) -> None:
    """Exit 1 when any stored view differs from a rebuild from the events."""
    differences = obj.views.differences()
    if as_json:
        click.echo(json.dumps([{"table": d.table, "key": list(d.key), "stored": _jsonable(d.stored),
                                "expected": _jsonable(d.expected)} for d in differences],
                              indent=2, default=str))
    elif differences:
        for d in differences[:20]:
            click.echo(f"{d.table} {d.key}: stored {d.stored!r}, rebuild gives {d.expected!r}")
        if len(differences) > 20:
            click.echo(f"... and {len(differences) - 20} more")
    else:
        click.echo("every stored view equals a rebuild from the events")
    sys.exit(1 if differences else 0)


def _jsonable(row: Any) -> Any:
    if row is None:
        return None
    return [value.hex() if isinstance(value, bytes | memoryview) else value
            for value in (bytes(v) if isinstance(v, memoryview) else v for v in row)]
