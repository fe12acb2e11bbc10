"""``export`` and ``restore``: the whole history to a file an auditor can check without
the store, and back into an empty store (CONTRACT §3, docs/export-format.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from lifecycle.adapters.crypto import (
    MASTER_KEY_ENV,
    MasterKeyError,
    PersonKeys,
    default_key_path,
    load_master_key,
    save_master_key,
)
from lifecycle.adapters.export import ExportError, export_to, sealed_keys
from lifecycle.adapters.keyring import read_key_table
from lifecycle.adapters.restore import StoreNotEmpty, has_history, load
from lifecycle.adapters.store import StoreError
from lifecycle.entrypoints.cli.app import Context, cli, fail, parse_timestamp
from lifecycle.entrypoints.cli.audit import chain_reader, checked, open_export, read_digest


@cli.command("export")
@click.argument("file", metavar="FILE")
@click.option("--as-at", "as_at", metavar="TIMESTAMP",
              help="The history as it had been recorded by then (ISO date-time, UTC when "
                   "no offset).")
@click.option("--gzip", "compress", is_flag=True, default=None,
              help="Compress with gzip (also when FILE ends in .gz).")
@click.pass_obj
def export_command(obj: Context, file: str, as_at: str | None, compress: bool | None) -> None:
    """Write every stored event and its chain link to FILE (- for standard output)."""
    moment = parse_timestamp(as_at, "--as-at") if as_at else None
    try:
        summary = export_to(chain_reader(obj), file, compress=compress, as_at=moment,
                            keys=read_key_table(obj.target))
    except OSError as exc:
        fail(f"cannot write export '{file}': {exc.strerror or exc}")
    head = summary.head or "none"
    click.echo(f"exported {summary.events} events (last position {summary.last_position}, "
               f"head {head}) to {file}", err=True)


@cli.command("restore")
@click.argument("file", metavar="FILE")
@click.option("--digest", "digest_file", metavar="FILE",
              help="A saved `audit digest --json`: the export must begin with that history.")
@click.option("--public-key", "public_key", metavar="FILE",
              help="The export's signed heads must verify with this public key, up to "
                   "its last event.")
@click.pass_obj
def restore_command(obj: Context, file: str, digest_file: str | None,
                    public_key: str | None) -> None:
    """Load a verified export into an empty store, then build its views.

    Nothing is written when the store is not empty (exit 2) or the export does not
    verify (exit 1).
    """
    reader = open_export(file)
    digest = read_digest(digest_file)
    target = obj.target
    try:
        if has_history(target):
            fail(f"store '{target.location}' is not empty: restore writes only into an "
                 "empty store")
    except StoreError as exc:
        fail(str(exc))
    result = checked(reader, digest, public_key)
    if not result.ok:
        where = f" at position {result.position}" if result.position is not None else ""
        click.echo(f"lifecycle: error: export '{file}' does not verify{where}: "
                   f"{result.problem}; nothing was restored", err=True)
        sys.exit(1)
    try:
        keys = sealed_keys(reader.header)
    except ExportError as exc:
        fail(str(exc))
    if keys is None:
        obj.sealed = False  # a plain store's export makes a plain store
    else:
        _adopt_master_key(obj, keys[0])
    engine = obj.engine  # opening the engine creates the store's tables
    if keys is not None:
        assert engine.sealing is not None
        try:
            engine.sealing.put_wrapped(keys[1])
        except MasterKeyError as exc:
            fail(str(exc))
    try:
        count = load(target, reader)
    except StoreNotEmpty as exc:
        fail(f"{exc}: restore writes only into an empty store")
    engine.note_people_from_log()
    obj.views.rebuild()
    click.echo(f"restored {count} events (head {result.head}) into {target.location}; "
               "views rebuilt")


def _adopt_master_key(obj: Context, check: str) -> None:
    """Make sure the new store opens under the master key the export was sealed with:
    it is taken from ``$LIFECYCLE_MASTER_KEY``, ``--master-key-file`` or the
    installation's default key file, and written to that default file when it is
    missing (so the restored store opens like any other). Fails (exit 2, nothing
    written) when no key is found or it is another one."""
    default = default_key_path()
    given = obj.master_key_file
    path = default if given is None else Path(given)
    try:
        master = load_master_key(path, create=False)
    except MasterKeyError as exc:
        fail(f"this export holds sealed personal data: restoring it needs the master "
             f"key it was sealed with ({exc})")
    try:
        PersonKeys(master).verify(check)
    except MasterKeyError:
        fail("the master key given is not the one this export was sealed with: nothing "
             "was restored")
    if MASTER_KEY_ENV not in os.environ and not default.exists():
        try:
            save_master_key(default, master)
        except MasterKeyError as exc:
            fail(str(exc))
        obj.master_key_file = None
