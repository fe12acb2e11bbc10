"""Commands that need no store: ``schema``, ``states`` and ``simulate``."""

from __future__ import annotations

import sys

import click

from lifecycle.application import commands
from lifecycle.domain import states
from lifecycle.entrypoints.cli.app import cli, echo_json, parse_date


@cli.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of one command line."""
    echo_json(commands.json_schema())


@cli.command("states")
def states_command() -> None:
    """Print the duo's state diagram as Mermaid."""
    click.echo(states.mermaid(), nl=False)


@cli.command("simulate")
@click.option("--seed", type=int, default=2025, show_default=True)
@click.option("--duos", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--out", "out", default="-", show_default=True,
              help="Output JSONL file (- for standard output).")
@click.option("--until", "until", metavar="DATE",
              help="Stop as if today were DATE: only what had been entered by then "
                   "(default: today).")
def simulate_command(seed: int, duos: int, out: str, until: str | None) -> None:
    """Write a realistic command stream shaped like the 2025 M4Pris pilot."""
    from lifecycle import simulate  # only this command needs it

    options = {} if until is None else {"today": parse_date(until, "--until")}
    if out == "-":
        simulate.write_jsonl(sys.stdout, seed, duos, **options)
        return
    count = simulate.write_jsonl(out, seed, duos, **options)
    click.echo(f"wrote {count} commands for {duos} duos to {out}", err=True)
