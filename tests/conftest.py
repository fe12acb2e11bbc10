"""Fixtures shared by the whole suite.

Engines and commands
    ``engine`` (a fresh in-memory engine whose "today" is :data:`TODAY`, 2026-01-01),
    ``make_engine(env=None, today=TODAY)``, ``event_count(engine)``,
    ``stream`` / ``new_stream(id_prefix)`` (a :class:`Stream`: builder of valid command
    streams: ``.base()`` opens programme P-1 with site S-1 and mentor M-1 trained by
    2025-01-08; ``.duo(state, duo_id)`` recruits a duo on 2025-02-01 and moves it on one
    step a day), ``cmd(type, occurred_on, **fields)`` (one command object with valid
    defaults), ``submit(engine, raw)`` (parse and apply one object).
Domain
    ``kit``: builders of programme, site, mentor and duo aggregates in any state.
Files and the command line
    ``db_path``, ``write_jsonl(lines, name)``, ``write_jsonl_at(path, lines)``,
    ``lifecycle_bin`` and ``cli(*args, input=None, env=None, cwd=None)`` (the installed
    console script, run as a subprocess without ``LIFECYCLE_DB`` unless ``env`` sets it),
    ``stored_rows(db)`` and ``store_fingerprint(db)`` (what an SQLite store holds).
Worked examples
    ``worked_example`` (``tests/examples/worked.jsonl``, the project's own stream, always
    present; its reports and the working behind them beside it). The contract's
    examples (``small-pilot*.jsonl`` and their reports) are not part of the repository:
    tests that also check them ask for ``shared_examples`` (their folder), which skips
    with the reason shown when the folder is absent, and fails instead when
    ``LIFECYCLE_REQUIRE_SHARED=1`` (as in CI). The folder is ``../shared/examples``
    beside the repository, or wherever ``LIFECYCLE_SHARED_EXAMPLES`` says.
PostgreSQL
    ``postgres_url`` yields the test server's URL with a fresh schema
    (``?schema=t_<random>``), dropped afterwards. Tests marked ``postgres`` (and any test
    using ``postgres_url``) are skipped, with the reason shown, when the server at
    ``LIFECYCLE_TEST_POSTGRES_URL`` (default :data:`DEFAULT_POSTGRES_URL`) cannot be
    reached, and fail instead when ``LIFECYCLE_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import pytest
from hypothesis import settings

from lifecycle.application import Lifecycle, Outcome
from lifecycle.application.commands import parse_command
from lifecycle.domain.base import EventMeta
from lifecycle.domain.duo import Duo
from lifecycle.domain.mentor import Mentor
from lifecycle.domain.programme import Programme
from lifecycle.domain.site import Site
from lifecycle.domain.states import DuoState
from lifecycle.domain.vocabulary import (
    CloseReason,
    MentorKind,
    Module,
    NewcomerKind,
    Policy,
    Setting,
)

TODAY = date(2026, 1, 1)
"""The engine's "today" in in-process tests (rule 5)."""

settings.register_profile("mutation", derandomize=True)
"""``make mutate`` runs the tests with ``--hypothesis-profile=mutation``: every run draws
the same examples, so that a mutant killed once is killed on every run."""

settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                          deadline=None)
"""In CI (``CI`` set, as ``.ci/run`` sets it): the same examples on every run, so a rare
counterexample cannot make CI flaky; a failure prints the blob that reproduces it.
Property tests find new examples on developers' machines, where they are random."""
if os.environ.get("CI"):
    settings.load_profile("ci")

RECORDED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
MODULES = tuple(m.value for m in Module)
LIFECYCLE_BIN = Path(sys.executable).parent / "lifecycle"
"""The installed console script, next to the interpreter running the tests."""

SCORES = {"wellbeing": 3, "stress": 3, "integration": 3, "confidence": 3}

DEFAULTS: dict[str, dict[str, Any]] = {
    "open_programme": {"programme_id": "P-1", "name": "Pilot programme", "country": "DK"},
    "register_site": {"site_id": "S-1", "programme_id": "P-1", "name": "Prison 1",
                      "setting": "adult"},
    "register_mentor": {"mentor_id": "M-1", "programme_id": "P-1", "site_id": "S-1",
                        "department": "wing-A", "shifts": ["early"], "years_experience": 5},
    "record_training": {"mentor_id": "M-1", "module": "introduction"},
    "recruit": {"duo_id": "D-1", "programme_id": "P-1", "site_id": "S-1", "mentee_id": "E-1",
                "newcomer_kind": "new_to_profession", "department": "wing-A",
                "shifts": ["early", "late"]},
    "select": {"duo_id": "D-1", "consent": True},
    "match": {"duo_id": "D-1", "mentor_id": "M-1", "mentor_kind": "peer"},
    "activate": {"duo_id": "D-1"},
    "log_contact": {"duo_id": "D-1", "contact_id": "K-1", "minutes": 30, "mode": "in_person",
                    "functions": ["psychosocial"]},
    "retract_contact": {"duo_id": "D-1", "contact_id": "K-1", "reason": "duplicate"},
    "review": {"duo_id": "D-1", "health": 4},
    "record_survey": {"duo_id": "D-1", "respondent": "mentee", "phase": "pre",
                      "scores": SCORES},
    "close": {"duo_id": "D-1", "reason": "mentee_withdrew"},
    "deregister_mentor": {"mentor_id": "M-1", "reason": "left_service"},
    "correct": {"duo_id": "D-1", "fact": "closed_on", "value": "2025-02-05"},
    "record_departure": {"duo_id": "D-1", "reason": "resigned"},
    "forget": {"person_id": "M-1"},
}
"""A valid value for every field of every command type (CONTRACT §2)."""

LIFECYCLE_STEPS = ("select", "match", "activate")


def as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def command(type_: str, occurred_on: date | str, **fields: Any) -> dict[str, Any]:
    """One command as its JSON object: the defaults of ``type_`` updated with ``fields``.

    A field given as ``...`` (Ellipsis) is left out.
    """
    raw: dict[str, Any] = {"type": type_, "occurred_on": str(occurred_on)}
    raw.update(DEFAULTS[type_])
    raw.update(fields)
    return {k: v for k, v in raw.items() if v is not ...}


class Stream:
    """A command stream under construction, in order.

    Every command gets the command id ``<prefix>-NNNN`` unless the call names one
    (``command_id=None`` leaves it out).

    Example:
        >>> s = Stream().base().duo("active", "D-1", start="2025-02-01")
        >>> s.commands[-1]["type"]
        'activate'
    """

    def __init__(self, id_prefix: str = "c") -> None:
        self.commands: list[dict[str, Any]] = []
        self.id_prefix = id_prefix

    def add(self, type_: str, occurred_on: date | str, **fields: Any) -> dict[str, Any]:
        """Append one command (see :func:`command`) and return it."""
        if "command_id" not in fields:
            fields["command_id"] = f"{self.id_prefix}-{len(self.commands) + 1:04d}"
        elif fields["command_id"] is None:
            fields["command_id"] = ...
        raw = command(type_, occurred_on, **fields)
        self.commands.append(raw)
        return raw

    def base(self, programme_id: str = "P-1", site_id: str = "S-1", mentor_id: str = "M-1",
             *, opened_on: date | str = "2025-01-02", policy: dict[str, Any] | None = None,
             trained: bool = True) -> Stream:
        """A programme opened on ``opened_on``, a site, and a mentor registered the day
        after, who (when ``trained``) completed the five modules on the five days after
        that: trained from ``opened_on + 6 days``."""
        opened = as_date(opened_on)
        extra = {} if policy is None else {"policy": policy}
        self.add("open_programme", opened, programme_id=programme_id, **extra)
        self.add("register_site", opened, site_id=site_id, programme_id=programme_id)
        self.add("register_mentor", opened + timedelta(days=1), mentor_id=mentor_id,
                 programme_id=programme_id, site_id=site_id)
        if trained:
            self.train(mentor_id, opened + timedelta(days=2))
        return self

    def train(self, mentor_id: str, first_on: date | str,
              modules: Iterable[str] = MODULES) -> Stream:
        """Record ``modules`` for the mentor, one a day from ``first_on``."""
        for offset, module in enumerate(modules):
            self.add("record_training", as_date(first_on) + timedelta(days=offset),
                     mentor_id=mentor_id, module=module)
        return self

    def duo(self, state: str, duo_id: str = "D-1", *, start: date | str = "2025-02-01",
            programme_id: str = "P-1", site_id: str = "S-1", mentor_id: str = "M-1",
            mentee_id: str | None = None, close_reason: str = "mentee_withdrew",
            **recruit_fields: Any) -> Stream:
        """Recruit a duo on ``start`` and move it on to ``state``, one step a day
        (``closed`` is reached from ``active``, with ``close_reason``)."""
        day = as_date(start)
        self.add("recruit", day, duo_id=duo_id, programme_id=programme_id, site_id=site_id,
                 mentee_id=mentee_id or f"mentee-{duo_id}", **recruit_fields)
        order = ["recruited", "selected", "matched", "active", "closed"]
        steps = {"select": {}, "match": {"mentor_id": mentor_id},
                 "activate": {}, "close": {"reason": close_reason}}
        for trigger, fields in list(steps.items())[: order.index(state)]:
            day += timedelta(days=1)
            self.add(trigger, day, duo_id=duo_id, **fields)
        return self

    def jsonl(self) -> str:
        """The stream as JSONL text (one object per line, final newline)."""
        return "".join(json.dumps(c) + "\n" for c in self.commands)

    def write(self, path: Path) -> Path:
        path.write_text(self.jsonl(), encoding="utf-8")
        return path

    def apply(self, engine: Lifecycle) -> list[Outcome]:
        """Apply every command in turn (raising at the first rejection)."""
        return [submit(engine, raw) for raw in self.commands]


def submit(engine: Lifecycle, raw: dict[str, Any]) -> Outcome:
    """Parse ``raw`` as a command and apply it in its own transaction."""
    return engine.execute(parse_command(raw), raw)


def make_engine(env: dict[str, str] | None = None, today: date = TODAY) -> Lifecycle:
    """An engine (in memory by default) whose "today" is fixed."""
    return Lifecycle(env or {"PERSISTENCE_MODULE": "eventsourcing.popo"}, today=lambda: today)


def event_count(engine: Lifecycle) -> int:
    """How many events the engine's store holds (every aggregate, markers included)."""
    return engine.app.recorder.max_notification_id() or 0


# ---------------------------------------------------------------------- engine fixtures
@pytest.fixture
def engine() -> Iterator[Lifecycle]:
    """A fresh in-memory engine; "today" is 2026-01-01."""
    lifecycle = make_engine()
    yield lifecycle
    lifecycle.shutdown()


@pytest.fixture
def stream() -> Stream:
    """An empty command stream builder."""
    return Stream()


@pytest.fixture(scope="session")
def new_stream() -> Callable[..., Stream]:
    """``new_stream(id_prefix="c")``: more empty stream builders."""
    return Stream


@pytest.fixture(scope="session")
def cmd() -> Callable[..., dict[str, Any]]:
    """``cmd(type, occurred_on, **fields)``: one command object (see :func:`command`)."""
    return command


@pytest.fixture(scope="session", name="submit")
def submit_fixture() -> Callable[[Lifecycle, dict[str, Any]], Outcome]:
    """``submit(engine, raw)``: parse and apply one command object."""
    return submit


@pytest.fixture(name="make_engine")
def make_engine_fixture() -> Iterator[Callable[..., Lifecycle]]:
    """``make_engine(env=None, today=TODAY)``: more engines, shut down after the test."""
    made: list[Lifecycle] = []

    def make(env: dict[str, str] | None = None, today: date = TODAY) -> Lifecycle:
        made.append(make_engine(env, today))
        return made[-1]

    yield make
    for lifecycle in made:
        lifecycle.shutdown()


@pytest.fixture(scope="session", name="event_count")
def event_count_fixture() -> Callable[[Lifecycle], int]:
    """``event_count(engine)``: events in the engine's store (markers included)."""
    return event_count


# ---------------------------------------------------------------------- domain builders
class DomainKit:
    """Builds aggregates straight from the domain (no store, no application)."""

    @staticmethod
    def meta(on: date | str, command_id: str | None = None) -> EventMeta:
        return EventMeta(occurred_on=as_date(on), recorded_at=RECORDED_AT,
                         command_id=command_id)

    def programme(self, programme_id: str = "P-1", on: date | str = "2025-01-02",
                  **policy: Any) -> Programme:
        programme = Programme.open(self.meta(on), programme_id, name="Pilot", country="DK",
                                   policy=Policy(**policy))
        programme.collect_events()
        return programme

    def site(self, programme: Programme, site_id: str = "S-1",
             on: date | str = "2025-01-02") -> Site:
        site = Site.register(self.meta(on), site_id, programme=programme, name="Prison",
                             setting=Setting.ADULT)
        site.collect_events()
        return site

    def mentor(self, programme: Programme, site: Site, mentor_id: str = "M-1", *,
               on: date | str = "2025-01-03", trained_on: date | str | None = "2025-01-08",
               department: str = "wing-A", shifts: tuple[str, ...] = ("early",)) -> Mentor:
        """A mentor registered ``on``; all five modules completed by ``trained_on``
        (the last one on that day), or none when it is None."""
        mentor = Mentor.register(self.meta(on), mentor_id, programme=programme, site=site,
                                 department=department, shifts=shifts, years_experience=3)
        if trained_on is not None:
            for module in Module:
                mentor.record_training(self.meta(trained_on), module)
        mentor.collect_events()
        return mentor

    def world(self, **policy: Any) -> tuple[Programme, Site, Mentor]:
        programme = self.programme(**policy)
        site = self.site(programme)
        return programme, site, self.mentor(programme, site)

    def duo(self, state: DuoState | str = DuoState.RECRUITED, duo_id: str = "D-1", *,
            start: date | str = "2025-02-01", world: tuple[Programme, Site, Mentor] | None = None,
            mentee_id: str = "E-1", department: str = "wing-A",
            shifts: tuple[str, ...] = ("early", "late"),
            close_reason: CloseReason = CloseReason.MENTEE_WITHDREW) -> Duo:
        """A duo recruited on ``start`` and moved on to ``state`` one step a day (a
        closed duo is closed from ``active``); its events are collected (saved)."""
        programme, site, mentor = world or self.world()
        day = as_date(start)
        duo = Duo.recruit(self.meta(day), duo_id, programme=programme, site=site,
                          mentee_id=mentee_id, newcomer_kind=NewcomerKind.TRANSFERRED,
                          department=department, shifts=shifts)
        target = DuoState(state)
        order = list(DuoState)
        actions: list[Callable[[EventMeta], None]] = [
            lambda m: duo.select(m, consent=True),
            lambda m: duo.match(m, mentor=mentor, mentor_kind=MentorKind.PEER,
                                programme=programme),
            duo.activate,
            lambda m: duo.close(m, reason=close_reason),
        ]
        for action in actions[: order.index(target)]:
            day += timedelta(days=1)
            action(self.meta(day))
        duo.collect_events()
        return duo


@pytest.fixture(scope="session")
def kit() -> DomainKit:
    """Builders of domain aggregates in any state."""
    return DomainKit()


# ---------------------------------------------------------------------- files and the CLI
@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's SQLite store lives (not created yet)."""
    return tmp_path / "lifecycle.db"


def _write_jsonl(path: Path, lines: Iterable[dict[str, Any] | str]) -> Path:
    """Write one line per item: dicts as JSON, strings verbatim (e.g. ``""`` or bad JSON)."""
    text = "".join((item if isinstance(item, str) else json.dumps(item)) + "\n"
                   for item in lines)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """``write_jsonl(lines, name="commands.jsonl") -> Path`` in the test's tmp folder."""

    def write(lines: Iterable[dict[str, Any] | str], name: str = "commands.jsonl") -> Path:
        return _write_jsonl(tmp_path / name, lines)

    return write


@pytest.fixture(scope="session")
def write_jsonl_at() -> Callable[[Path, Iterable[dict[str, Any] | str]], Path]:
    """``write_jsonl_at(path, lines)``: like ``write_jsonl``, at any path."""
    return _write_jsonl


def run_cli(*args: str | Path, input: str | None = None,
            env: dict[str, str] | None = None, cwd: Path | None = None,
            ) -> subprocess.CompletedProcess[str]:
    """Run the installed ``lifecycle`` command; ``LIFECYCLE_DB`` only when ``env`` sets it."""
    full_env = {k: v for k, v in os.environ.items() if k != "LIFECYCLE_DB"}
    full_env.update(env or {})
    return subprocess.run(
        [str(LIFECYCLE_BIN), *map(str, args)], input=input, env=full_env, cwd=cwd,
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture(scope="session")
def lifecycle_bin() -> Path:
    """The installed ``lifecycle`` console script (next to ``sys.executable``)."""
    assert LIFECYCLE_BIN.exists(), f"the console script is not installed at {LIFECYCLE_BIN}"
    return LIFECYCLE_BIN


@pytest.fixture(scope="session")
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``cli(*args, input=None, env=None, cwd=None)``: the installed command, run."""
    assert LIFECYCLE_BIN.exists(), f"the console script is not installed at {LIFECYCLE_BIN}"
    return run_cli


def copy_sqlite(source: Path, target: Path) -> Path:
    """A consistent copy of a WAL-mode SQLite store (the backup API, not a file copy)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return target


@pytest.fixture(scope="session", name="copy_sqlite")
def copy_sqlite_fixture() -> Callable[[Path, Path], Path]:
    """``copy_sqlite(source, target)``: a consistent copy of an SQLite store."""
    return copy_sqlite


@pytest.fixture(scope="session")
def simulated_store(cli: Callable[..., subprocess.CompletedProcess[str]]
                    ) -> Callable[[Path, int, int], Path]:
    """``simulated_store(folder, seed, duos)``: ``lifecycle simulate`` imported into
    ``folder/pilot.db`` with the installed command (no rejection allowed)."""
    def make(folder: Path, seed: int, duos: int) -> Path:
        jsonl, path = folder / "pilot.jsonl", folder / "pilot.db"
        made = cli("simulate", "--seed", seed, "--duos", duos, "--out", jsonl)
        assert made.returncode == 0, made.stderr
        imported = cli("--db", path, "import", jsonl, "--json")
        assert imported.returncode == 0, imported.stdout + imported.stderr
        return path

    return make


def _stored_rows(db: Path) -> list[tuple[Any, ...]]:
    """Every stored event row of an SQLite store, in rowid order."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT rowid, originator_id, originator_version, topic, state "
            "FROM stored_events ORDER BY rowid").fetchall()
    finally:
        conn.close()


def _store_fingerprint(db: Path) -> tuple[int, int | None]:
    """``(count(*), max(rowid))`` of the stored events."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        count, top = conn.execute("SELECT count(*), max(rowid) FROM stored_events").fetchone()
    finally:
        conn.close()
    return count, top


@pytest.fixture(scope="session")
def stored_rows() -> Callable[[Path], list[tuple[Any, ...]]]:
    """``stored_rows(db)``: every stored event row of an SQLite store, by rowid."""
    return _stored_rows


@pytest.fixture(scope="session")
def store_fingerprint() -> Callable[[Path], tuple[int, int | None]]:
    """``store_fingerprint(db)``: ``(count(*), max(rowid))`` of the stored events."""
    return _store_fingerprint


# ---------------------------------------------------------------------- worked examples
REPOSITORY = Path(__file__).resolve().parents[1]
WORKED_EXAMPLE = REPOSITORY / "tests" / "examples" / "worked.jsonl"
"""The project's own worked example (see ``tests/examples/README.md``)."""

SHARED_EXAMPLES_VAR = "LIFECYCLE_SHARED_EXAMPLES"
REQUIRE_SHARED_VAR = "LIFECYCLE_REQUIRE_SHARED"


def shared_examples_folder() -> Path:
    """Where the contract's examples are looked for: ``$LIFECYCLE_SHARED_EXAMPLES``, else
    ``shared/examples`` beside the repository (where CI lays them)."""
    configured = os.environ.get(SHARED_EXAMPLES_VAR)
    return Path(configured) if configured else REPOSITORY.parent / "shared" / "examples"


def require_shared_examples() -> Path:
    """The folder of the contract's examples; skip the test (or, with
    ``LIFECYCLE_REQUIRE_SHARED=1``, fail it) when it is absent."""
    folder = shared_examples_folder()
    if folder.is_dir():
        return folder
    problem = f"the contract's shared examples are not at {folder}"
    if os.environ.get(REQUIRE_SHARED_VAR) == "1":
        pytest.fail(f"{problem}; {REQUIRE_SHARED_VAR}=1 requires them", pytrace=False)
    pytest.skip(f"{problem} (lay them beside the repository as shared/examples, or set "
                f"{SHARED_EXAMPLES_VAR})")


@pytest.fixture(scope="session")
def worked_example() -> Path:
    """The project's own worked example stream (``tests/examples/worked.jsonl``)."""
    return WORKED_EXAMPLE


@pytest.fixture(scope="session")
def shared_examples() -> Path:
    """The folder of the contract's examples (skips, or fails when required, if absent)."""
    return require_shared_examples()


# ---------------------------------------------------------------------- PostgreSQL
POSTGRES_URL_VAR = "LIFECYCLE_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_VAR = "LIFECYCLE_REQUIRE_POSTGRES"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_base_url() -> str:
    return os.environ.get(POSTGRES_URL_VAR) or DEFAULT_POSTGRES_URL


def _without_query(url: str) -> str:
    return urlunparse(urlparse(url)._replace(query=""))


def _shown(url: str) -> str:
    """The URL without its password (for messages)."""
    parts = urlparse(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunparse(parts._replace(netloc=netloc))


@functools.cache
def _postgres_problem() -> str | None:
    """Why the test server cannot be used (None when it can); asked once per run."""
    url = _postgres_base_url()
    try:
        import psycopg

        with psycopg.connect(_without_query(url), connect_timeout=3):
            pass
    except Exception as exc:  # any failure means "not usable"; the reason is shown
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        return f"PostgreSQL at {_shown(url)} is unreachable ({first_line})"
    return None


def require_postgres() -> None:
    """Skip (or, with ``LIFECYCLE_REQUIRE_POSTGRES=1``, fail) without a usable server."""
    problem = _postgres_problem()
    if problem is None:
        return
    if os.environ.get(REQUIRE_POSTGRES_VAR) == "1":
        pytest.fail(f"{problem}; {REQUIRE_POSTGRES_VAR}=1 requires it", pytrace=False)
    pytest.skip(f"{problem}; set {POSTGRES_URL_VAR} to run the PostgreSQL tests")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") is not None:
        require_postgres()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL of the test server with a fresh, empty schema ``t_<random>``
    (``?schema=…``), dropped with everything in it afterwards."""
    require_postgres()
    import psycopg
    from psycopg import sql

    base = _postgres_base_url()
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(_without_query(base), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    parts = urlparse(base)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    query.append(("schema", schema))
    try:
        yield urlunparse(parts._replace(query=urlencode(query)))
    finally:
        with psycopg.connect(_without_query(base), autocommit=True,
                             connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


def store_keys(db: str | Path) -> Any:
    """The keys of a sealed store created by the engine (the installation's master key
    file, which the tests keep in their own folder, or ``$LIFECYCLE_MASTER_KEY``), for
    tests that name what the store keeps of an id: a mentor's stream by the keyed
    reference, a command id by its digest."""
    from lifecycle.adapters.crypto import PersonKeys, default_key_path, load_master_key

    del db  # every store of the installation is sealed under the same master key
    return PersonKeys(load_master_key(default_key_path(), create=False))


def sealed_command_id(db: str | Path, command_id: str) -> str:
    """What a sealed store keeps of a command id (ADR 35)."""
    keys = store_keys(db)
    return str(keys.command_digest(f"id:{command_id}"))


@pytest.fixture(scope="session", autouse=True)
def _private_master_key_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stores keep their master key under ``$XDG_CONFIG_HOME`` (ADR 34): the
    tests' own folder, never the user's (also for the commands they run)."""
    before = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    if before is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = before
