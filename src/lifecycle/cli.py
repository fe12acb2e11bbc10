"""The ``lifecycle`` command line (CONTRACT §3). Thin: it translates and delegates.

Errors are one line on standard error, never a traceback; exit status 2 for a usage
error (bad option, missing file, a store that cannot be opened or is not a store).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, NoReturn

import click
import orjson

from lifecycle import commands, logconfig
from lifecycle.application import Lifecycle
from lifecycle.bootstrap import open_engine, open_views
from lifecycle.domain import states
from lifecycle.domain.errors import DomainError
from lifecycle.store import StoreError, StoreTarget, resolve_target


class UsageFailure(click.ClickException):
    """A usage error: one line, exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"lifecycle: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise UsageFailure(message)


class Context:
    """What every subcommand shares: the store target and the engine (opened lazily)."""

    def __init__(self, db: str | None) -> None:
        self._db = db
        self._target: StoreTarget | None = None
        self._engine: Lifecycle | None = None
        self._views: Any = None

    @property
    def target(self) -> StoreTarget:
        if self._target is None:
            try:
                self._target = resolve_target(self._db)
            except StoreError as exc:
                fail(str(exc))
        return self._target

    @property
    def engine(self) -> Lifecycle:
        if self._engine is None:
            try:
                self._engine = open_engine(self.target)
            except StoreError as exc:
                fail(str(exc))
            except Exception as exc:  # the library raises several kinds for a bad store
                fail(f"cannot open store '{self.target.location}': {exc}")
        return self._engine

    @property
    def views(self) -> Any:
        if self._views is None:
            self._views = open_views(self.engine, self.target)
        return self._views

    def close(self) -> None:
        if self._views is not None:
            self._views.close()
            self._views = None
        if self._engine is not None:
            self._engine.shutdown()
            self._engine = None


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def progress_bar(total: int | None, label: str) -> Any:
    """A progress bar on an interactive standard error; nothing otherwise."""
    return click.progressbar(length=total, label=label, file=sys.stderr,
                             show_pos=True) if sys.stderr.isatty() else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="TARGET", envvar="LIFECYCLE_DB",
              help="Store: an SQLite file path (default lifecycle.db) or a postgresql:// URL.")
@click.option("--log-json", is_flag=True, help="Write logs as JSON lines to standard error.")
@click.option("-v", "--verbose", is_flag=True, help="Log informational events too.")
@click.version_option(package_name="lifecycle")
@click.pass_context
def cli(ctx: click.Context, db: str | None, log_json: bool, verbose: bool) -> None:
    """Event-sourced engine for workplace peer-mentoring programmes."""
    logconfig.configure(json=log_json, verbose=verbose)
    context = Context(db)
    ctx.obj = context
    ctx.call_on_close(context.close)


def main() -> None:
    """Console entry point: any unexpected failure is one line, never a traceback."""
    try:
        cli.main(prog_name="lifecycle")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("lifecycle: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: say what failed, in one line
        click.echo(f"lifecycle: error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(3)


@contextmanager
def _open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    file = Path(path)
    if not file.is_file():
        fail(f"cannot read '{path}': no such file")
    with file.open("rb") as handle:
        yield handle


@cli.command("import")
@click.argument("file", metavar="FILE")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--batch-size", default=500, show_default=True,
              help="Commands per transaction (1: one transaction per command).")
@click.pass_obj
def import_command(obj: Context, file: str, as_json: bool, batch_size: int) -> None:
    """Apply a JSONL command file (- for standard input)."""
    from lifecycle.importer import Importer

    with _open_input(file) as handle:
        engine = obj.engine
        total = _count_lines(file)
        bar = progress_bar(total, "importing")
        done = [0]

        def advance(line: int) -> None:
            if bar is not None:
                bar.update(line - done[0])
            done[0] = line

        importer = Importer(engine, batch_size=batch_size, progress=advance)
        if bar is not None:
            with bar:
                result = importer.run(handle)
        else:
            result = importer.run(handle)
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


def history_rows(engine: Lifecycle, duo_id: str,
                 as_at: datetime | None = None) -> list[dict[str, Any]]:
    """The duo's events as CONTRACT §3 ``history`` rows (recorded by ``as_at``, if given)."""
    rows = []
    for event in engine.history(duo_id):
        if as_at is not None and event.timestamp > as_at:
            break  # versions are recorded in order: the rest came later
        rows.append({
            "type": type(event).__name__,
            "version": event.originator_version,
            "occurred_on": event.occurred_on.isoformat(),
            "recorded_at": event.timestamp.isoformat(),
            "data": {"duo_id": duo_id, **event.data},
        })
    return rows


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
def simulate_command(seed: int, duos: int, out: str) -> None:
    """Write a realistic command stream shaped like the 2025 M4Pris pilot."""
    from lifecycle import simulate

    if out == "-":
        simulate.write_jsonl(sys.stdout, seed, duos)
        return
    count = simulate.write_jsonl(out, seed, duos)
    click.echo(f"wrote {count} commands for {duos} duos to {out}", err=True)


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_date(option, value)
    except ValueError:
        _bad_date(option, value)


def _bad_date(option: str, value: str) -> NoReturn:
    fail(f"{option} must be a date written YYYY-MM-DD, not '{value}'")


def parse_timestamp(value: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} must be an ISO date-time (e.g. 2025-03-01T12:00:00Z), not '{value}'")
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment


@cli.group("audit")
def audit_group() -> None:
    """Tamper-evidence: digests, chain verification, view checks."""


def _chain_reader(obj: Context) -> Any:
    from lifecycle.audit import ChainReader

    engine = obj.engine
    return ChainReader(obj.target, engine.app.recorder.events_table_name)  # type: ignore[attr-defined]


@audit_group.command("digest")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (what an auditor keeps).")
@click.pass_obj
def audit_digest_command(obj: Context, as_json: bool) -> None:
    """Describe the history as it stands: event count, last position, head hash."""
    from lifecycle.audit import make_digest

    try:
        digest = make_digest(_chain_reader(obj))
    except ValueError as exc:
        click.echo(f"lifecycle: {exc}", err=True)
        sys.exit(1)
    if as_json:
        echo_json(digest.as_json())
    else:
        click.echo(f"{digest.events} events, last position {digest.position}, "
                   f"head {digest.head} ({digest.created_at})")


@audit_group.command("verify")
@click.option("--digest", "digest_file", metavar="FILE",
              help="A saved `audit digest --json`: the history must still begin with it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--processes", type=click.IntRange(min=1), default=None, metavar="N",
              help="Processes for a large SQLite log (default: one per CPU, at most 4; "
                   "1 keeps it in this one).")
@click.pass_obj
def audit_verify_command(obj: Context, digest_file: str | None, as_json: bool,
                         processes: int | None) -> None:
    """Recompute the hash chain; exit 1 at the first alteration, with where and what."""
    from lifecycle.audit import Digest, verify

    digest = None
    if digest_file is not None:
        try:
            digest = Digest.from_json(json.loads(Path(digest_file).read_text()))
        except (OSError, ValueError) as exc:
            fail(f"cannot read digest '{digest_file}': {exc}")
    bar = progress_bar(None, "verifying")
    result = verify(_chain_reader(obj), digest,
                    progress=(lambda n: bar.update(n - bar.pos)) if bar else None,
                    processes=processes)
    if as_json:
        click.echo(json.dumps(result.as_json()))
    elif result.ok:
        against = " and begins with the digest" if digest else ""
        click.echo(f"intact: {result.events} events, head {result.head}{against}")
    else:
        where = f" at position {result.position}" if result.position is not None else ""
        click.echo(f"ALTERED{where}: {result.problem}")
    sys.exit(0 if result.ok else 1)


def _as_of_default(value: str | None) -> date:
    from lifecycle.application import utc_today

    return parse_date(value, "--as-of") if value else utc_today()


@cli.command("report")
@click.option("--as-of", "as_of", metavar="DATE", required=True,
              help="Only what had happened by this date (YYYY-MM-DD).")
@click.option("--as-at", "as_at", metavar="TIMESTAMP",
              help="Only what had been recorded by this time (ISO date-time).")
@click.option("--programme", metavar="ID", help="Restrict to one programme.")
@click.option("--by", type=click.Choice(["programme", "site", "country", "month"]),
              help="Break the metrics down (beyond the contract).")
@click.option("--json", "as_json", is_flag=True, help="Print the CONTRACT §4 JSON.")
@click.option("--publish", is_flag=True,
              help="Suppress figures that could single people out (CONTRACT §6).")
@click.option("--threshold", metavar="K",
              help="With --publish: the smallest count shown (an integer ≥ 3; default 10).")
@click.pass_obj
def report_command(obj: Context, as_of: str, as_at: str | None, programme: str | None,
                   by: str | None, as_json: bool, publish: bool,
                   threshold: str | None) -> None:
    """Duration, contact frequency and dropouts (CONTRACT §4)."""
    from projections.report import UnknownProgramme

    day = parse_date(as_of, "--as-of")
    moment = parse_timestamp(as_at, "--as-at") if as_at else None
    k = _threshold(threshold, publish)
    views = obj.views
    try:
        if by is not None:
            value = views.breakdown(day, by, programme, moment, publish=publish, threshold=k)
        else:
            value = views.report(day, programme, moment)
            minutes = None if as_json else views.contact_minutes(day, programme, moment)
    except UnknownProgramme:
        fail(f"programme '{programme}' was never opened in this store")
    if publish and by is None:
        from projections.publish import publish as published

        if minutes is not None:
            # The text report shows contact minutes too: a section of the same
            # publication, so the same rules suppress its figures.
            value["contact_minutes"] = {key: v for key, v in minutes.items() if key != "as_of"}
            minutes = None
        value = published(value, k)
    if as_json:
        click.echo(json.dumps(value, indent=2))
        return
    from lifecycle import tables

    if by is not None:
        click.echo(tables.breakdown(tables.marked(value)))
    else:
        click.echo(tables.report(tables.marked(value), minutes, programme))


def _threshold(value: str | None, publish: bool) -> int:
    """K from ``--threshold`` (a usage error unless an int ≥ 3 given with --publish)."""
    from projections.publish import DEFAULT_THRESHOLD, MIN_THRESHOLD

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
@click.option("--state", type=click.Choice(["recruited", "selected", "matched", "active",
                                            "closed"]))
@click.option("--programme", metavar="ID")
@click.option("--site", metavar="ID")
@click.option("--overdue", is_flag=True, help="Only active duos overdue for a contact.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--ids", is_flag=True, help="Print only the duo ids, one per line.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many duos.")
@click.pass_obj
def duos_command(obj: Context, as_of: str | None, as_at: str | None, state: str | None,
                 programme: str | None, site: str | None, overdue: bool, fmt: str,
                 as_json: bool, ids: bool, limit: int | None) -> None:
    """The per-duo view: state, lifecycle dates, contacts, overdue, rematches."""
    from lifecycle import tables

    day = _as_of_default(as_of)
    moment = parse_timestamp(as_at, "--as-at") if as_at else None
    rows = obj.views.duos(day, state=state, programme=programme, site=site,
                          overdue=overdue, as_at=moment)
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
    bars: list[Any] = []
    done = [0]

    def advance(count: int, total: int) -> None:
        if not bars:
            bars.append(progress_bar(total, "rebuilding"))
        if bars[0] is not None:
            bars[0].update(count - done[0])
        done[0] = count

    count = obj.views.rebuild(progress=advance, processes=processes)
    if bars and bars[0] is not None:
        bars[0].render_finish()
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

    from lifecycle.worker import follow as run_worker

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_worker(views, stop, poll=poll)
