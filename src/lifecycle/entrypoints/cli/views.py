"""Commands on the views: ``report``, ``duos``, ``projections`` and ``project``."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click

from lifecycle.domain.states import DuoState
from lifecycle.entrypoints import tables
from lifecycle.entrypoints.cli.app import (
    Context,
    as_of_default,
    cli,
    fail,
    parse_date,
    parse_timestamp,
    progress,
)
from lifecycle.entrypoints.cli.audit import chain_reader
from projections.coordinator import REASONS
from projections.publish import DEFAULT_THRESHOLD, MIN_THRESHOLD
from projections.report import BREAKDOWNS, UnknownProgramme
from projections.series import SeriesTooLong


@cli.command("report")
@click.option("--as-of", "as_of", metavar="DATE", required=True,
              help="Only what had happened by this date (YYYY-MM-DD).")
@click.option("--as-at", "as_at", metavar="TIMESTAMP",
              help="Only what had been recorded by this time (ISO date-time).")
@click.option("--programme", metavar="ID", help="Restrict to one programme.")
@click.option("--by", type=click.Choice(BREAKDOWNS),
              help="Break the metrics down by a group of duos (beyond the contract).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON of docs/interface.md.")
@click.option("--tests", is_flag=True,
              help="Add the signed-rank test of each survey measure's change.")
@click.option("--publish", is_flag=True,
              help="Suppress figures that could single people out (publishing).")
@click.option("--threshold", metavar="K",
              help="With --publish: the smallest count shown (an integer ≥ 3; default 10).")
@click.option("--html", "html_file", metavar="FILE",
              help="Write the report as one self-contained HTML page (- for standard "
                   "output).")
@click.pass_obj
def report_command(obj: Context, as_of: str, as_at: str | None, programme: str | None,
                   by: str | None, as_json: bool, tests: bool, publish: bool,
                   threshold: str | None, html_file: str | None) -> None:
    """Duration, contact frequency, dropouts and the evaluation sections (docs/interface.md)."""
    day = parse_date(as_of, "--as-of")
    moment = parse_timestamp(as_at, "--as-at") if as_at else None
    k = _threshold(threshold, publish)
    if html_file is not None:
        if as_json:
            fail("--html and --json cannot be combined: the page holds the report")
        _write_html(obj, html_file, day, programme, moment, by, k if publish else None,
                    tests)
        return
    views = obj.views
    try:
        if by is not None:
            value = views.breakdown(day, by, programme, moment, publish=publish, threshold=k,
                                    tests=tests)
        else:
            # The text report shows contact minutes too: a section of the report, so
            # published with it by the same rules.
            value = views.report(day, programme, moment, publish=publish, threshold=k,
                                 tests=tests, minutes=not as_json)
    except UnknownProgramme:
        fail(f"programme '{programme}' was never opened in this store")
    if as_json:
        click.echo(json.dumps(value, indent=2))
        return
    if by is not None:
        click.echo(tables.breakdown(tables.marked(value)))
    else:
        click.echo(tables.report(tables.marked(value), None, programme))


def _write_html(obj: Context, file: str, day: date, programme: str | None,
                moment: datetime | None, by: str | None, threshold: int | None,
                tests: bool) -> None:
    """Write the report page (ADR 21); ``-`` is standard output."""
    from lifecycle.adapters.audit import stored_head
    from lifecycle.entrypoints.render.html import ChainHead
    from lifecycle.entrypoints.render.page import report_page

    try:
        page = report_page(obj.views, day, programme=programme, as_at=moment, by=by,
                           chain=ChainHead(**vars(stored_head(chain_reader(obj)))),
                           threshold=threshold, tests=tests)
    except UnknownProgramme:
        fail(f"programme '{programme}' was never opened in this store")
    except SeriesTooLong as exc:
        fail(f"--as-of: {exc}")
    if file == "-":
        click.echo(page, nl=False)
        return
    try:
        Path(file).write_text(page, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write '{file}': {exc.strerror or exc}")
    click.echo(f"wrote {file}")


def _threshold(value: str | None, publish: bool) -> int:
    """K from ``--threshold`` (a usage error unless an int ≥ 3 given with --publish)."""
    if value is None:
        return DEFAULT_THRESHOLD
    if not publish:
        fail("--threshold needs --publish")
    try:
        k = int(value)
    except ValueError:
        fail(f"--threshold must be an integer of at least {MIN_THRESHOLD}, not '{value}'")
    if k < MIN_THRESHOLD:
        fail(f"--threshold must be at least {MIN_THRESHOLD}, not {k}")
    return k


@cli.command("duos")
@click.option("--as-of", "as_of", metavar="DATE", help="Business date (default: today).")
@click.option("--as-at", "as_at", metavar="TIMESTAMP", help="As recorded by this time.")
@click.option("--state", type=click.Choice([state.value for state in DuoState]))
@click.option("--programme", metavar="ID")
@click.option("--site", metavar="ID")
@click.option("--overdue", is_flag=True, help="Only active duos overdue for a contact.")
@click.option("--reason", type=click.Choice(REASONS),
              help="Only duos needing attention for this reason (see `attention`).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--ids", is_flag=True, help="Print only the duo ids, one per line.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many duos.")
@click.pass_obj
def duos_command(obj: Context, as_of: str | None, as_at: str | None, state: str | None,
                 programme: str | None, site: str | None, overdue: bool,
                 reason: str | None, fmt: str, as_json: bool, ids: bool,
                 limit: int | None) -> None:
    """The per-duo view: state, lifecycle dates, contacts, overdue, rematches."""
    day = as_of_default(as_of)
    moment = parse_timestamp(as_at, "--as-at") if as_at else None
    try:
        rows = obj.views.duos(day, state=state, programme=programme, site=site,
                              overdue=overdue, as_at=moment, reason=reason)
    except UnknownProgramme:
        fail(f"programme '{programme}' was never opened in this store")
    if limit is not None:
        rows = rows[:limit]
    if ids:
        for row in rows:
            click.echo(row.duo_id)
        return
    fmt = "json" if as_json else fmt
    if fmt == "json":
        click.echo(json.dumps([row.as_json() for row in rows], indent=2))
    elif fmt == "csv":
        click.echo(tables.duos_csv(rows), nl=False)
    else:
        click.echo(tables.duos_table(rows, day))


@cli.group("projections")
def projections_group() -> None:
    """The materialised views: rebuild them, or see how far they have got."""


@projections_group.command("rebuild")
@click.option("--processes", type=click.IntRange(min=1), default=None, metavar="N",
              help="Processes for a large SQLite log (default: one per CPU, at most 4; "
                   "1 keeps it in this one).")
@click.pass_obj
def projections_rebuild_command(obj: Context, processes: int | None) -> None:
    """Drop every view and rebuild it from the event log."""
    with progress("rebuilding") as advance:
        count = obj.views.rebuild(progress=advance, processes=processes)
    click.echo(f"rebuilt every view from {count} events")


@projections_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def projections_status_command(obj: Context, as_json: bool) -> None:
    """Each view's position against the log's latest."""
    statuses = obj.views.status()
    if as_json:
        click.echo(json.dumps([{"view": st.name, "position": st.position,
                                "log_position": st.log_position,
                                "up_to_date": st.up_to_date} for st in statuses], indent=2))
        return
    for st in statuses:
        mark = "up to date" if st.up_to_date else "behind"
        position = "none" if st.position is None else st.position
        click.echo(f"{st.name:<11} position {position:>9} of {st.log_position:>9}  {mark}")


@cli.command("project")
@click.option("--follow", is_flag=True,
              help="Keep running and apply new events as they are stored (worker mode).")
@click.option("--poll", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between polls on SQLite.")
@click.pass_obj
def project_command(obj: Context, follow: bool, poll: float) -> None:
    """Bring the views up to date; with --follow, run as a projection worker."""
    views = obj.views
    if not follow:
        count = views.catch_up()
        click.echo(f"applied {count} events; views at position {views.position()}")
        return
    import signal
    import threading

    from lifecycle.entrypoints.follow import follow as run_worker

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_worker(views, stop, poll=poll)
