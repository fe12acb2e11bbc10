"""Commands on the event log: ``import`` and ``history``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import click
import orjson

from lifecycle.application.engine import HISTORY_KINDS, Lifecycle
from lifecycle.application.history import history_rows, log_rows
from lifecycle.domain.errors import DomainError
from lifecycle.entrypoints.cli.app import (
    Context,
    cli,
    echo_json,
    fail,
    open_input,
    parse_timestamp,
    progress,
)


@cli.command("import")
@click.argument("file", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--batch-size", default=500, show_default=True,
              help="Commands per transaction (1: one transaction per command).")
@click.pass_obj
def import_command(obj: Context, file: str, as_json: bool, batch_size: int) -> None:
    """Apply a JSONL command file (- for standard input)."""
    from lifecycle.adapters.crypto import MasterKeyError
    from lifecycle.application.importer import Importer  # only this command needs it

    with open_input(file) as handle:
        engine = obj.engine
        if engine.sealing is not None and not engine.sealing.writable:
            try:
                engine.sealing.check_writable()
            except MasterKeyError as exc:
                fail(str(exc))
        with progress("importing", _count_lines(file)) as advance:
            result = Importer(engine, batch_size=batch_size, progress=advance).run(handle)
    # The views follow at once, so the next query has nothing left to catch up.
    obj.views.catch_up()
    if as_json:
        click.echo(json.dumps(result.as_json()))
    else:
        click.echo(f"applied {result.applied}, duplicates {result.duplicates}, "
                   f"rejected {len(result.rejected)} (of {result.lines} lines)")
        for rejection in result.rejected:
            ident = f" ({rejection.command_id})" if rejection.command_id else ""
            click.echo(f"  line {rejection.line}{ident}: {rejection.error}")
    sys.exit(1 if result.rejected else 0)


def _count_lines(file: str) -> int | None:
    if file == "-" or not sys.stderr.isatty():
        return None
    with open(file, "rb") as handle:
        return sum(1 for _ in handle)


def _resolve(engine: Lifecycle, contract_id: str, kind: str | None,
             moment: datetime | None) -> tuple[str, list[dict[str, Any]]]:
    """The kind of the stream ``contract_id`` names and its rows: the duo's when a duo
    has the id (as the contract reads ``history DUO_ID``), else the one programme, site
    or mentor that has it; a usage error when none does, or several."""
    kinds = [kind] if kind is not None else list(HISTORY_KINDS)
    found: dict[str, list[dict[str, Any]]] = {}
    for name in kinds:
        try:
            found[name] = history_rows(engine, contract_id, moment, name)
        except DomainError:
            continue
        if name == "duo":
            break
    if not found:
        fail(f"unknown {kind} '{contract_id}'" if kind is not None else
             f"no duo, programme, site or mentor has the id '{contract_id}'")
    if len(found) > 1:
        fail(f"'{contract_id}' is the id of a {' and a '.join(found)}: say which with "
             "--kind")
    [(name, rows)] = found.items()
    return name, rows


@cli.command("history")
@click.argument("stream_id", metavar="ID", required=False)
@click.option("--kind", type=click.Choice(list(HISTORY_KINDS)),
              help="What ID names (default: the duo with that id, else the one programme, "
                   "site or mentor that has it).")
@click.option("--all", "whole_log", is_flag=True,
              help="Every stored event of every stream, in log order (JSON lines with "
                   "--json).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--as-at", "as_at", metavar="TIMESTAMP",
              help="Only events recorded by then (ISO date-time, UTC when no offset).")
@click.pass_obj
def history_command(obj: Context, stream_id: str | None, kind: str | None, whole_log: bool,
                    as_json: bool, as_at: str | None) -> None:
    """List a duo's (or programme's, site's, mentor's) events in the order they were
    recorded; with --all, the whole log."""
    moment = parse_timestamp(as_at, "--as-at") if as_at else None
    if whole_log:
        if stream_id is not None or kind is not None:
            fail("history --all takes no ID and no --kind")
        _print_log(log_rows(obj.engine, moment), as_json)
        return
    if stream_id is None:
        fail("history needs an ID (or --all)")
    name, rows = _resolve(obj.engine, stream_id, kind, moment)
    if moment is not None and not rows:
        fail(f"{name} '{stream_id}' had not been recorded by {as_at}")
    if as_json:
        echo_json(rows)
        return
    click.echo(f"{name} {stream_id}: {len(rows)} events")
    for row in rows:
        click.echo(f"  v{row['version']:<4} {_line(row, f'{name}_id')}")


def _line(row: dict[str, Any], own_id: str) -> str:
    data = ", ".join(f"{k}={_show(v)}" for k, v in row["data"].items() if k != own_id)
    return (f"{row['occurred_on']}  {row['type']:<17} {data}"
            f"  (recorded {row['recorded_at'][:19]}Z)")


def _print_log(rows: Iterator[dict[str, Any]], as_json: bool) -> None:
    """The whole log, streamed: one JSON object per line (``--json``), or one text line
    per event, written a thousand at a time."""
    out = sys.stdout.buffer
    chunk: list[bytes] = []
    for row in rows:
        if as_json:
            chunk.append(orjson.dumps(row))
        else:
            chunk.append(f"{row['position']:>9} {row['stream']:<28} v{row['version']:<4} "
                         f"{_line(row, '')}".encode())
        if len(chunk) >= 1000:
            out.write(b"\n".join(chunk) + b"\n")
            chunk.clear()
    if chunk:
        out.write(b"\n".join(chunk) + b"\n")
    out.flush()


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_show(v)}" for k, v in value.items()) + "}"
    return "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
