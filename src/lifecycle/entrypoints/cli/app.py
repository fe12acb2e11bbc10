"""The ``lifecycle`` root group, its shared context, and what every command group uses:
one-line usage errors, date and time options, JSON output, progress bars."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, NoReturn

import click
import orjson

from lifecycle.adapters import logconfig
from lifecycle.adapters.crypto import MasterKeyError
from lifecycle.adapters.signing import SigningError
from lifecycle.adapters.store import StoreError, StoreTarget, resolve_target
from lifecycle.application.engine import Lifecycle, utc_today
from lifecycle.bootstrap import open_engine, open_views


class UsageFailure(click.ClickException):
    """A usage error: one line, exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"lifecycle: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise UsageFailure(message)


class Context:
    """What every subcommand shares: the store target and the engine (opened lazily)."""

    def __init__(self, db: str | None, master_key_file: str | None = None) -> None:
        self._db = db
        self.master_key_file = master_key_file
        self.sealed: bool | None = None
        """False: a new store is created plain (a restore of a plain export)."""
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
                self._engine = open_engine(self.target, master_key_file=self.master_key_file,
                                           sealed=self.sealed)
            except (StoreError, SigningError, MasterKeyError) as exc:
                fail(str(exc))
            except Exception as exc:  # the library raises several kinds for a bad store
                fail(f"cannot open store '{self.target.location}': {exc}")
        return self._engine

    @property
    def views(self) -> Any:
        if self._views is None:
            self._views = open_views(self.engine, self.target)
        return self._views

    def release_engine(self) -> Lifecycle:
        """Hand the engine over to a new owner, which closes it (it is not closed here)."""
        engine = self.engine
        self._engine = None
        return engine

    def close(self) -> None:
        if self._views is not None:
            self._views.close()
            self._views = None
        if self._engine is not None:
            self._engine.shutdown()
            self._engine = None


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


Advance = Callable[..., None]
"""``advance(done, total=None)``: the count done so far (and the total, once known)."""


@contextmanager
def progress(label: str, total: int | None = None) -> Iterator[Advance]:
    """A progress bar on an interactive standard error (nothing otherwise), moved by the
    callback it yields; the bar is drawn from the first call (which may bring the
    total) and finished on leaving."""
    if not sys.stderr.isatty():
        yield lambda done, total=None: None
        return
    bars: list[Any] = []
    reached = [0]

    def advance(done: int, known: int | None = None) -> None:
        if not bars:
            bars.append(click.progressbar(length=known if known is not None else total,
                                          label=label, file=sys.stderr, show_pos=True))
        bars[0].update(done - reached[0])
        reached[0] = done

    try:
        yield advance
    finally:
        if bars:
            bars[0].render_finish()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="TARGET", envvar="LIFECYCLE_DB",
              help="Store: an SQLite file path (default lifecycle.db) or a postgresql:// URL.")
@click.option("--master-key-file", "master_key_file", metavar="FILE",
              help="The master key that seals personal data (default: $LIFECYCLE_MASTER_KEY, "
                   "else $XDG_CONFIG_HOME/lifecycle/master.key, by default "
                   "~/.config/lifecycle/master.key, created with the first new store).")
@click.option("--log-json", is_flag=True, help="Write logs as JSON lines to standard error.")
@click.option("-v", "--verbose", is_flag=True, help="Log informational events too.")
@click.version_option(package_name="lifecycle")
@click.pass_context
def cli(ctx: click.Context, db: str | None, master_key_file: str | None, log_json: bool,
        verbose: bool) -> None:
    """Event-sourced engine for workplace peer-mentoring programmes."""
    logconfig.configure(json=log_json, verbose=verbose)
    context = Context(db, master_key_file)
    ctx.obj = context
    ctx.call_on_close(context.close)


def main() -> None:
    """Console entry point: any unexpected failure is one line, never a traceback, and
    exits 2 like every other error (the contract knows only 0, 1 and 2)."""
    try:
        cli.main(prog_name="lifecycle")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("lifecycle: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: say what failed, in one line
        click.echo(f"lifecycle: error: {_failure(exc)}", err=True)
        sys.exit(UsageFailure.exit_code)


def _failure(exc: Exception) -> str:
    """One line on an unexpected failure: the store's own words when the store failed
    (a file that is no SQLite database after all, a read-only or full disk, a lost
    server), else the exception's type and message."""
    from eventsourcing.persistence import PersistenceError

    if isinstance(exc, PersistenceError | sqlite3.Error) or type(exc).__module__.startswith(
            "psycopg"):
        return f"the store failed: {exc}"
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    file = Path(path)
    if not file.is_file():
        fail(f"cannot read '{path}': no such file")
    with file.open("rb") as handle:
        yield handle


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
        moment = moment.replace(tzinfo=UTC)
    return moment


def as_of_default(value: str | None) -> date:
    return parse_date(value, "--as-of") if value else utc_today()
