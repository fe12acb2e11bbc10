"""Commands on the event log: ``import`` and ``history``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from lifecycle.application.history import history_rows
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
    from lifecycle.application.importer import Importer  # only this command needs it

    with open_input(file) as handle:
        engine = obj.engine
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


@cli.command("history")
@click.argument("duo_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--as-at", "as_at", metavar="TIMESTAMP",
              help="Only events recorded by then (ISO date-time, UTC when no offset).")
@click.pass_obj
def history_command(obj: Context, duo_id: str, as_json: bool, as_at: str | None) -> None:
    """List a duo's events in the order they were recorded."""
    moment = parse_timestamp(as_at, "--as-at") if as_at else None
    try:
        rows = history_rows(obj.engine, duo_id, moment)
    except DomainError:
        fail(f"unknown duo '{duo_id}'")
    if moment is not None and not rows:
        fail(f"duo '{duo_id}' had not been recorded by {as_at}")
    if as_json:
        echo_json(rows)
        return
    click.echo(f"duo {duo_id}: {len(rows)} events")
    for row in rows:
        data = ", ".join(f"{k}={_show(v)}" for k, v in row["data"].items() if k != "duo_id")
        click.echo(f"  v{row['version']:<4} {row['occurred_on']}  {row['type']:<17} {data}"
                   f"  (recorded {row['recorded_at'][:19]}Z)")


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_show(v)}" for k, v in value.items()) + "}"
    return "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
