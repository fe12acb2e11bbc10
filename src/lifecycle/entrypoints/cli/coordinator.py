"""The coordinator's commands (CONTRACT §3 v2): ``attention``, ``mentors`` and ``suggest``.

Each reads the views (caught up first) and prints a table, or with ``--json`` the
contract's JSON list.
"""

from __future__ import annotations

import click

from lifecycle.entrypoints import tables
from lifecycle.entrypoints.cli.app import Context, as_of_default, cli, echo_json, fail
from projections.coordinator import REASONS, NotSelected, UnknownDuo
from projections.report import UnknownProgramme


@cli.command("attention")
@click.option("--as-of", "as_of", metavar="DATE", help="Business date (default: today).")
@click.option("--programme", metavar="ID", help="Only this programme's duos.")
@click.option("--reason", type=click.Choice(REASONS), help="Only duos with this reason.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON list of docs/interface.md.")
@click.pass_obj
def attention_command(obj: Context, as_of: str | None, programme: str | None,
                      reason: str | None, as_json: bool) -> None:
    """The duos that need a coordinator at a date, and why."""
    day = as_of_default(as_of)
    try:
        rows = obj.views.attention(day, programme, reason=reason)
    except UnknownProgramme:
        fail(f"programme '{programme}' was never opened in this store")
    if as_json:
        echo_json([row.as_json() for row in rows])
    else:
        click.echo(tables.attention_table(rows, day))


@cli.command("mentors")
@click.option("--as-of", "as_of", metavar="DATE", help="Business date (default: today).")
@click.option("--programme", metavar="ID", help="Only this programme's pool.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON list of docs/interface.md.")
@click.pass_obj
def mentors_command(obj: Context, as_of: str | None, programme: str | None,
                    as_json: bool) -> None:
    """The mentor pool at a date: trained and deregistered dates, open and all duos."""
    day = as_of_default(as_of)
    try:
        rows = obj.views.mentors(day, programme)
    except UnknownProgramme:
        fail(f"programme '{programme}' was never opened in this store")
    if as_json:
        echo_json([row.as_json() for row in rows])
    else:
        click.echo(tables.mentors_table(rows, day))


@cli.command("suggest")
@click.argument("duo_id")
@click.option("--as-of", "as_of", metavar="DATE", help="Business date (default: today).")
@click.option("--at-match", is_flag=True,
              help="Rank as on the morning of the duo's own match (the chosen mentor is "
                   "marked); --as-of is then ignored.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON list of docs/interface.md.")
@click.pass_obj
def suggest_command(obj: Context, duo_id: str, as_of: str | None, at_match: bool,
                    as_json: bool) -> None:
    """The mentors a selected duo can be matched with, best first, with their reasons."""
    day = as_of_default(as_of)
    try:
        rows = obj.views.suggest(duo_id, day, at_match=at_match)
    except UnknownDuo:
        fail(f"unknown duo '{duo_id}'")
    except NotSelected as exc:
        fail(str(exc))
    if as_json:
        echo_json([row.as_json() for row in rows])
    else:
        click.echo(tables.suggestions_table(rows, duo_id))
