"""Tamper battery for ``lifecycle audit`` (CONTRACT §5, ADR 8) on real stores.

A small simulated pilot (``lifecycle simulate --seed 3 --duos 30``, about 1,100
commands and 2,200 events) is imported through the installed command and its digest
saved with ``audit digest --json``. Each case then tampers with its own copy of that
store straight in the database (SQLite: ``stored_events`` by rowid; PostgreSQL:
``lifecycle_events`` by notification id in the URL's schema; the chain in
``event_chain``), and ``audit verify --json`` must exit 1 naming exactly the tampered
position. Cases the chain alone cannot reveal (a truncated tail, a history rewritten
with its whole chain recomputed) must pass without the digest and fail against it.
Hand edits of the stored views must make ``audit projections`` exit 1 naming the table.

Every case is counted and the detection rate per store must be 100 %.

Each case also runs against an export: the tampered store is written out with
``lifecycle export`` (which copies what is stored, tampered or not) and ``audit verify
--export FILE`` must give the very verdict the store gave, without opening any store
(the ``source`` parameter of the batteries: ``store`` or ``export``).

The store is built, and the untouched store checked, with the installed ``lifecycle``
command; the battery's many verifications run the same click command in-process
(:func:`invoke`), which saves a second of interpreter start-up per case. A crash is
never mistaken for a detection: an exception other than the command's own exit counts
as 3, a status the console script never gives (it reports such a failure with 2).
"""

from __future__ import annotations

import gc
import json
import sqlite3
import subprocess
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse, urlunparse

import pytest
import structlog
from click.testing import CliRunner

from lifecycle.adapters.audit import ChainReader, Digest, verify
from lifecycle.adapters.chain import GENESIS, link
from lifecycle.adapters.export import ExportReader
from lifecycle.adapters.store import resolve_target
from lifecycle.application import Lifecycle
from lifecycle.entrypoints.cli import cli as lifecycle_command

SEED, DUOS = 3, 30

NOT_CHAINED = "does not match the chain"
NO_LINK = "has no chain link (inserted outside the engine)"
REMOVED = "was removed (its chain link remains)"
REWRITTEN = "history differs from the digest"
VERIFY_KEYS = {"ok", "events", "head", "last_position", "problem", "position"}

Row = tuple[int, str, int, str, bytes]
Run = Callable[..., subprocess.CompletedProcess[str]]


# ---------------------------------------------------------------------- tampering
class Tamperer:
    """Hand edits of one store's events and chain, on SQLite or on a PostgreSQL schema.

    SQL is written with ``{events}``, ``{chain}`` and ``{pos}`` (the events table's
    position column) and ``?`` placeholders.
    """

    def __init__(self, conn: Any, *, schema: str | None = None) -> None:
        self.conn = conn
        self.postgres = schema is not None
        if schema is None:
            self.names = {"events": "stored_events", "chain": "event_chain", "pos": "rowid"}
        else:
            self.names = {"events": f'"{schema}"."lifecycle_events"',
                          "chain": f'"{schema}"."event_chain"', "pos": "notification_id"}

    def sql(self, text: str) -> str:
        text = text.format(**self.names)
        return text.replace("?", "%s") if self.postgres else text

    def run(self, text: str, *params: Any) -> list[Any]:
        cursor = self.conn.execute(self.sql(text), params)
        return list(cursor.fetchall()) if cursor.description else []

    def rows(self) -> list[Row]:
        return [(int(p), str(o), int(v), str(t), bytes(s)) for p, o, v, t, s in self.run(
            "SELECT {pos}, originator_id, originator_version, topic, state FROM {events} "
            "ORDER BY {pos}")]

    def row_at(self, fraction: float) -> Row:
        rows = self.rows()
        return rows[int(len(rows) * fraction)]

    def following(self, position: int) -> Row:
        return next(r for r in self.rows() if r[0] > position)

    def links(self) -> list[tuple[int, bytes]]:
        return [(int(p), bytes(x)) for p, x in self.run(
            "SELECT position, link FROM {chain} ORDER BY position")]

    def set_event(self, position: int, column: str, value: Any) -> None:
        self.run(f"UPDATE {{events}} SET {column} = ? WHERE {{pos}} = ?", value, position)

    def set_link(self, position: int, value: bytes) -> None:
        self.run("UPDATE {chain} SET link = ? WHERE position = ?", value, position)

    def delete_event(self, position: int) -> None:
        self.run("DELETE FROM {events} WHERE {pos} = ?", position)

    def delete_link(self, position: int) -> None:
        self.run("DELETE FROM {chain} WHERE position = ?", position)

    def insert_event(self, row: Row) -> None:
        self.run("INSERT INTO {events} ({pos}, originator_id, originator_version, topic, "
                 "state) VALUES (?, ?, ?, ?, ?)", *row)

    def insert_link(self, position: int, value: bytes) -> None:
        self.run("INSERT INTO {chain} (position, link) VALUES (?, ?)", position, value)

    def move_event(self, old: int, new: int) -> None:
        self.run("UPDATE {events} SET {pos} = ? WHERE {pos} = ?", new, old)

    def move_link(self, old: int, new: int) -> None:
        self.run("UPDATE {chain} SET position = ? WHERE position = ?", new, old)

    def rechain(self) -> None:
        """Recompute the whole chain from the events as they now stand (a forger who
        knows the algorithm)."""
        links, previous = [], GENESIS
        for row in self.rows():
            previous = link(previous, *row)
            links.append((row[0], previous))
        self.run("DELETE FROM {chain}")
        cursor = self.conn.cursor()
        cursor.executemany(self.sql("INSERT INTO {chain} (position, link) VALUES (?, ?)"),
                           links)

    def forged_contact(self, position: int) -> Row:
        """A duplicate of the last logged contact, as the next version of its duo."""
        contact = [r for r in self.rows() if r[3].endswith(".ContactLogged")][-1]
        [(top,)] = self.run("SELECT max(originator_version) FROM {events} "
                            "WHERE originator_id = ?", contact[1])
        return (position, contact[1], int(top) + 1, contact[3], contact[4])


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    """``data`` with the bits of ``mask`` flipped in the byte at ``index``."""
    changed = bytearray(data)
    changed[index] ^= mask
    return bytes(changed)


def flip_text(text: str, index: int) -> str:
    """Flip the lowest bit of one ASCII character (stays valid UTF-8)."""
    return flip(text.encode(), index).decode()


# ---------------------------------------------------------------------- the cases
@dataclass(frozen=True)
class Expected:
    """What ``audit verify`` must report for a tampered store."""

    position: int | None
    problem: str
    """A fragment of the problem text."""
    needs_digest: bool = False
    """Detectable only against the digest saved before the tampering."""


@dataclass(frozen=True)
class Case:
    name: str
    tamper: Callable[[Tamperer, dict[str, Any]], Expected]
    """Edits the store; gets the digest saved before, returns what verify must say."""

    def against(self, digest: dict[str, Any]) -> Callable[[Tamperer], Expected]:
        return lambda t: self.tamper(t, digest)


def state_flipped(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position, *_, state = t.row_at(0.5)
    t.set_event(position, "state", flip(state, len(state) // 2))
    return Expected(position, NOT_CHAINED)


def first_event_state_flipped(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position, *_, state = t.rows()[0]
    t.set_event(position, "state", flip(state, 0, 0x80))
    return Expected(position, NOT_CHAINED)


def last_event_state_flipped(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position, *_, state = t.rows()[-1]
    t.set_event(position, "state", flip(state, len(state) - 1, 0xFF))
    return Expected(position, NOT_CHAINED)


def topic_flipped(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position, _, _, topic, _ = t.row_at(0.3)
    t.set_event(position, "topic", flip_text(topic, len(topic) - 1))
    return Expected(position, NOT_CHAINED)


def originator_id_flipped(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position, oid, *_ = t.row_at(0.4)
    t.set_event(position, "originator_id", flip_text(oid, 0))
    return Expected(position, NOT_CHAINED)


def originator_version_flipped(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position, _, version, *_ = t.row_at(0.6)
    t.set_event(position, "originator_version", version ^ 0x0100)  # the int64's 2nd byte
    return Expected(position, NOT_CHAINED)


def link_flipped(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position = t.row_at(0.7)[0]
    t.set_link(position, flip(dict(t.links())[position], 31, 0xFF))
    return Expected(position, NOT_CHAINED)


def event_deleted(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position = t.row_at(0.45)[0]
    t.delete_event(position)
    return Expected(position, REMOVED)


def event_and_link_deleted(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position = t.row_at(0.55)[0]
    after = t.following(position)[0]
    t.delete_event(position)
    t.delete_link(position)
    return Expected(after, NOT_CHAINED)


def first_event_and_link_deleted(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    first, second = (r[0] for r in t.rows()[:2])
    t.delete_event(first)
    t.delete_link(first)
    return Expected(second, NOT_CHAINED)


def events_swapped(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    a, b = t.row_at(0.2)[0], t.row_at(0.8)[0]
    t.move_event(a, -1)
    t.move_event(b, a)
    t.move_event(-1, b)
    return Expected(a, NOT_CHAINED)


def neighbours_swapped_with_links(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    a = t.row_at(0.35)[0]
    b = t.following(a)[0]
    for move in (t.move_event, t.move_link):
        move(a, -1)
        move(b, a)
        move(-1, b)
    return Expected(a, NOT_CHAINED)


def forged_without_link(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position = t.rows()[-1][0] + 1
    t.insert_event(t.forged_contact(position))
    return Expected(position, NO_LINK)


def orphan_link_appended(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position, head = t.links()[-1]
    t.insert_link(position + 1, link(head, position + 1, "duo:ghost", 1, "t", b"{}"))
    return Expected(position + 1, REMOVED)


def tail_truncated(t: Tamperer, digest: dict[str, Any]) -> Expected:
    rows = t.rows()
    for position, *_ in rows[-3:]:
        t.delete_event(position)
        t.delete_link(position)
    return Expected(None, f"history was truncated: the digest describes {digest['events']} "
                          f"events, the store has {len(rows) - 3}", needs_digest=True)


def rewritten_and_rechained(t: Tamperer, digest: dict[str, Any]) -> Expected:
    position, _, _, _, state = next(r for r in t.rows() if r[3].endswith(".ContactLogged"))
    payload = json.loads(state)
    payload["minutes"] = payload["minutes"] % 1440 + 1
    t.set_event(position, "state", json.dumps(payload, separators=(",", ":")).encode())
    t.rechain()
    return Expected(digest["position"], REWRITTEN, needs_digest=True)


def forged_spliced_and_rechained(t: Tamperer, digest: dict[str, Any]) -> Expected:
    """A forged event put in the middle: later events move one position on, and the
    whole chain is recomputed."""
    rows = t.rows()
    at = rows[-6][0]
    for position, *_ in reversed(rows[-6:]):
        t.move_event(position, position + 1)
    t.insert_event(t.forged_contact(at))
    t.rechain()
    return Expected(digest["position"], REWRITTEN, needs_digest=True)


# SQLite stores whatever a hand edit writes, whatever the column's declared type.
def topic_flipped_to_invalid_utf8(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position, _, _, topic, _ = t.row_at(0.25)
    t.run("UPDATE {events} SET topic = CAST(? AS TEXT) WHERE {pos} = ?",
          flip(topic.encode(), 0, 0x80), position)
    return Expected(position, f"position {position}")


def originator_id_erased(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position = t.row_at(0.65)[0]
    t.set_event(position, "originator_id", None)
    return Expected(position, f"position {position}")


def originator_version_made_text(t: Tamperer, _digest: dict[str, Any]) -> Expected:
    position, _, version, *_ = t.row_at(0.75)
    t.set_event(position, "originator_version", f"v{version}")
    return Expected(position, f"position {position}")


MAIN_CASES = [Case(f.__name__.replace("_", "-"), f) for f in (
    state_flipped, topic_flipped, originator_id_flipped, originator_version_flipped,
    link_flipped, event_deleted, event_and_link_deleted, events_swapped,
    forged_without_link, tail_truncated, rewritten_and_rechained)]
"""The cases run on both stores."""
MORE_CASES = [Case(f.__name__.replace("_", "-"), f) for f in (
    first_event_state_flipped, last_event_state_flipped, first_event_and_link_deleted,
    neighbours_swapped_with_links, orphan_link_appended, forged_spliced_and_rechained)]
SQLITE_TYPE_CASES = [Case(f.__name__.replace("_", "-"), f) for f in (
    topic_flipped_to_invalid_utf8, originator_id_erased, originator_version_made_text)]
SQLITE_CASES = MAIN_CASES + MORE_CASES + SQLITE_TYPE_CASES

PROJECTION_EDITS = {
    "proj_duos": "UPDATE proj_duos SET contacts_logged = contacts_logged + 1, "
                 "state = 'recruited' WHERE duo_id = (SELECT min(duo_id) FROM proj_duos)",
    "proj_duo_facts": "UPDATE proj_duo_facts SET recruited_on = '2024-01-01' "
                      "WHERE duo_id = (SELECT max(duo_id) FROM proj_duo_facts)",
    "proj_contacts": "DELETE FROM proj_contacts WHERE (duo_id, contact_id) = (SELECT "
                     "duo_id, contact_id FROM proj_contacts ORDER BY duo_id, contact_id "
                     "LIMIT 1)",
}


# ---------------------------------------------------------------------- running
@dataclass
class Outcome:
    """One tampered copy and what the ``lifecycle`` command said about it."""

    case: str
    store: str
    expected: Expected | None = None
    tamper_error: str | None = None
    runs: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)
    export: Path | None = None
    """The tampered store's export, when the battery verifies exports."""

    def verdict(self, key: str) -> dict[str, Any]:
        return dict(json.loads(self.runs[key].stdout))

    def verify_args(self, *args: str | Path) -> list[str]:
        """``audit verify ARGS``, of the export when there is one."""
        source = [] if self.export is None else ["--export", str(self.export)]
        return ["audit", "verify", *source, *map(str, args)]

    def exported(self, folder: Path) -> Outcome:
        """Export the (tampered) store to ``folder`` and verify that from now on."""
        self.export = folder / f"{self.case}.jsonl"
        done = invoke("--db", self.store, "export", self.export)
        assert done.returncode == 0, done.stderr
        return self


def invoke(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the ``lifecycle`` click command in-process, as the console script would.

    The command configures structlog for its own standard error; the previous
    configuration is restored afterwards. An exception escaping the command counts as
    3 (a status of its own, where the console script would say 2), never the runner's
    exit 1.
    """
    words = [str(a) for a in args]
    saved = structlog.get_config()
    try:
        result = CliRunner().invoke(lifecycle_command, words, catch_exceptions=True)
    finally:
        structlog.configure(**saved)
    failure = result.exception
    if failure is not None and not isinstance(failure, SystemExit):
        return subprocess.CompletedProcess(
            words, 3, result.stdout, f"{type(failure).__name__}: {failure}")
    return subprocess.CompletedProcess(words, result.exit_code, result.stdout,
                                       result.stderr)


def run_all(jobs: Sequence[tuple[Outcome, str, list[str]]]) -> None:
    """Run ``lifecycle --db STORE ARGS`` for every job (in-process)."""
    for outcome, key, args in jobs:
        outcome.runs[key] = invoke("--db", outcome.store, *args)


def verify_jobs(outcome: Outcome, digest_file: Path) -> list[tuple[Outcome, str, list[str]]]:
    """The counted verification (against the digest only where the case needs it) and,
    for a digest case, the check that the chain alone does not see it."""
    assert outcome.expected is not None
    with_digest = outcome.verify_args("--digest", digest_file, "--json")
    plain = outcome.verify_args("--json")
    if outcome.expected.needs_digest:
        return [(outcome, "counted", with_digest), (outcome, "chain-only", plain)]
    return [(outcome, "counted", plain)]


def detected(outcome: Outcome) -> bool:
    """Exit 1 with the expected position and problem, in the documented JSON shape."""
    expected = outcome.expected
    if expected is None or "counted" not in outcome.runs:
        return False
    done = outcome.runs["counted"]
    if done.returncode != 1:
        return False
    verdict = outcome.verdict("counted")
    return (verdict.keys() == VERIFY_KEYS and verdict["ok"] is False
            and verdict["position"] == expected.position
            and expected.problem in verdict["problem"])


def explain(outcome: Outcome) -> str:
    done = outcome.runs.get("counted")
    said = "not run" if done is None else (
        f"exit {done.returncode}: {done.stdout.strip()} {done.stderr.strip()}")
    return (f"{outcome.case}: expected {outcome.expected}, tamper error "
            f"{outcome.tamper_error}, verify said {said}")


def assert_detected(outcome: Outcome) -> None:
    assert outcome.tamper_error is None, outcome.tamper_error
    assert detected(outcome), explain(outcome)
    if outcome.expected is not None and outcome.expected.needs_digest:
        alone = outcome.runs["chain-only"]
        assert alone.returncode == 0, ("the chain alone should not reveal "
                                       f"{outcome.case}: {alone.stdout}")


def in_process_verdict(store: str, events_table: str, digest: dict[str, Any],
                       export: Path | None = None) -> Any:
    """The library's verification against the saved digest (a cross-check), of the
    export when one is given."""
    source = ChainReader(resolve_target(store), events_table) if export is None \
        else ExportReader(export)
    return verify(source, Digest.from_json(digest))


# ---------------------------------------------------------------------- SQLite
@dataclass
class Pilot:
    """The imported pilot: the store, its saved digest and where copies go."""

    store: str
    digest_file: Path
    digest: dict[str, Any]
    events: int
    folder: Path
    jsonl: Path
    copier: Callable[[Path, Path], Path]

    def copy(self, name: str) -> str:
        """A consistent copy of the SQLite store beside it, as ``<name>.db``."""
        return str(self.copier(Path(self.store), self.folder / f"{name}.db"))


@contextmanager
def sqlite_tamperer(store: str) -> Iterator[Tamperer]:
    conn = sqlite3.connect(store)
    try:
        yield Tamperer(conn)
        conn.commit()
    finally:
        conn.close()


def build_pilot(cli: Run, folder: Path, store: str, copier: Callable[[Path, Path], Path],
                jsonl: Path | None = None) -> Pilot:
    """Simulate the pilot (unless its JSONL is given), import it through the CLI and
    save its digest."""
    if jsonl is None:
        jsonl = folder / "pilot.jsonl"
        made = cli("simulate", "--seed", SEED, "--duos", DUOS, "--out", jsonl)
        assert made.returncode == 0, made.stderr
    imported = cli("--db", store, "import", jsonl, "--json")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert json.loads(imported.stdout)["rejected"] == []
    saved = cli("--db", store, "audit", "digest", "--json")
    assert saved.returncode == 0, saved.stderr
    digest_file = folder / "digest.json"
    digest_file.write_text(saved.stdout)
    digest = json.loads(saved.stdout)
    return Pilot(store, digest_file, digest, digest["events"], folder, jsonl, copier)


@pytest.fixture(scope="module")
def pilot(cli: Run, tmp_path_factory: pytest.TempPathFactory,
          copy_sqlite: Callable[[Path, Path], Path]) -> Pilot:
    folder = tmp_path_factory.mktemp("pilot")
    return build_pilot(cli, folder, str(folder / "pilot.db"), copy_sqlite)


def tamper_sqlite(pilot: Pilot, name: str,
                  edit: Callable[[Tamperer], Expected | None]) -> Outcome:
    outcome = Outcome(name, pilot.copy(name))
    try:
        with sqlite_tamperer(outcome.store) as t:
            outcome.expected = edit(t)
    except Exception as exc:  # a case that cannot be set up is reported, not hidden
        outcome.tamper_error = f"{type(exc).__name__}: {exc}"
    return outcome


@pytest.fixture(scope="module", params=["store", "export"])
def sqlite_battery(pilot: Pilot, request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every SQLite case on its own copy, verified by the ``lifecycle`` command: the
    tampered store itself, or its export."""
    outcomes = {case.name: tamper_sqlite(pilot, case.name, case.against(pilot.digest))
                for case in SQLITE_CASES}
    if request.param == "export":
        folder = tmp_path_factory.mktemp("exports")
        for outcome in outcomes.values():
            if outcome.tamper_error is None:
                outcome.exported(folder)
    run_all([job for o in outcomes.values() if o.tamper_error is None
             for job in verify_jobs(o, pilot.digest_file)])
    return outcomes


@pytest.mark.parametrize("case", [c.name for c in SQLITE_CASES])
def test_sqlite_tampered_copy_fails_verify_at_exactly_the_tampered_position(
        sqlite_battery: dict[str, Outcome], case: str) -> None:
    assert_detected(sqlite_battery[case])


@pytest.mark.parametrize("case", [c.name for c in MAIN_CASES + MORE_CASES])
def test_sqlite_tampering_is_reported_at_the_same_position_against_the_digest(
        sqlite_battery: dict[str, Outcome], pilot: Pilot, case: str) -> None:
    """With the saved digest, the first problem is still named where it is."""
    outcome = sqlite_battery[case]
    assert outcome.expected is not None, outcome.tamper_error
    result = in_process_verdict(outcome.store, "stored_events", pilot.digest, outcome.export)
    assert (result.ok, result.position) == (False, outcome.expected.position)
    assert outcome.expected.problem in (result.problem or "")


def test_sqlite_battery_detects_every_case(sqlite_battery: dict[str, Outcome]) -> None:
    missed = [explain(o) for o in sqlite_battery.values() if not detected(o)]
    total = len(sqlite_battery)
    assert total == len(SQLITE_CASES) == 20
    assert not missed, f"detected {total - len(missed)}/{total}:\n" + "\n".join(missed)


def test_sqlite_untouched_store_verifies_with_and_without_the_digest(
        pilot: Pilot, cli: Run) -> None:
    plain = cli("--db", pilot.store, "audit", "verify", "--json")
    against = cli("--db", pilot.store, "audit", "verify", "--digest", pilot.digest_file)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert json.loads(plain.stdout) == {
        "ok": True, "events": pilot.events, "head": pilot.digest["head"],
        "last_position": pilot.digest["position"], "problem": None, "position": None}
    assert against.returncode == 0, against.stdout + against.stderr
    assert against.stdout == (f"intact: {pilot.events} events, head {pilot.digest['head']} "
                              "and begins with the digest\n")


def test_digest_json_describes_the_imported_history(pilot: Pilot) -> None:
    assert pilot.digest["events"] == pilot.digest["position"] > 2000
    assert pilot.digest["algorithm"] == "sha256-chain-v1"
    assert len(bytes.fromhex(pilot.digest["head"])) == 32
    assert pilot.digest["store"] == pilot.store


def test_verify_json_of_a_tampered_store_has_the_documented_shape(
        sqlite_battery: dict[str, Outcome]) -> None:
    outcome = sqlite_battery["link-flipped"]
    verdict = outcome.verdict("counted")
    assert verdict.keys() == VERIFY_KEYS
    assert verdict["ok"] is False
    assert isinstance(verdict["position"], int) and isinstance(verdict["problem"], str)
    assert isinstance(verdict["events"], int) and verdict["events"] > 0
    assert len(bytes.fromhex(verdict["head"])) == 32
    assert outcome.runs["counted"].stdout.count("\n") == 1


def test_verify_without_json_says_altered_with_the_position_and_the_problem(
        sqlite_battery: dict[str, Outcome], cli: Run) -> None:
    outcome = sqlite_battery["event-deleted"]
    assert outcome.expected is not None
    said = cli("--db", outcome.store, *outcome.verify_args())
    position = outcome.expected.position
    assert said.returncode == 1
    assert said.stdout == (f"ALTERED at position {position}: event at position {position} "
                           "was removed (its chain link remains)\n")


def test_a_forged_event_appended_with_a_valid_link_looks_like_a_later_write(
        pilot: Pilot) -> None:
    """The limit of the design: an event added after the digest's end, with a correctly
    computed link, is indistinguishable from a command applied later — the history still
    begins with the digest's, so verify (alone or against the digest) says intact."""
    def forge(t: Tamperer) -> None:
        position, head = t.links()[-1]
        row = t.forged_contact(position + 1)
        t.insert_event(row)
        t.insert_link(position + 1, link(head, *row))

    outcome = tamper_sqlite(pilot, "forged-tail-with-valid-link", forge)
    assert outcome.tamper_error is None, outcome.tamper_error
    run_all([(outcome, "plain", ["audit", "verify", "--json"]),
             (outcome, "digest", ["audit", "verify", "--json", "--digest",
                                  str(pilot.digest_file)])])
    for key in ("plain", "digest"):
        assert outcome.runs[key].returncode == 0, outcome.runs[key].stdout
        assert outcome.verdict(key)["events"] == pilot.events + 1


def test_a_history_that_grew_after_the_digest_verifies_against_it(
        pilot: Pilot, cmd: Callable[..., dict[str, Any]],
        submit: Callable[[Lifecycle, dict[str, Any]], Any]) -> None:
    store = pilot.copy("grown")
    with Lifecycle(resolve_target(store).env) as engine:
        submit(engine, cmd("open_programme", "2025-12-01", programme_id="P-LATER",
                           command_id="late-1"))
    result = in_process_verdict(store, "stored_events", pilot.digest)
    assert (result.ok, result.events) == (True, pilot.events + 2)


def test_an_unreadable_digest_file_is_a_usage_error(pilot: Pilot, tmp_path: Path) -> None:
    bad = tmp_path / "digest.json"
    bad.write_text(json.dumps({"events": 3}))
    said = invoke("--db", pilot.store, "audit", "verify", "--digest", bad)
    assert said.returncode == 2
    assert "cannot read digest" in said.stderr


# ---------------------------------------------------------------------- SQLite views
@pytest.fixture(scope="module")
def sqlite_view_edits(pilot: Pilot) -> dict[str, Outcome]:
    """Each stored view edited by hand on its own copy, checked by ``audit projections``."""
    def editor(statement: str | None) -> Callable[[Tamperer], None]:
        def edit(t: Tamperer) -> None:
            if statement is not None:
                changed = t.conn.execute(statement).rowcount
                assert changed == 1, f"{statement} changed {changed} rows"
        return edit

    outcomes = {table: tamper_sqlite(pilot, f"edited-{table}", editor(statement))
                for table, statement in [*PROJECTION_EDITS.items(), ("untouched", None)]}
    jobs = [(o, "text", ["audit", "projections"]) for o in outcomes.values()]
    jobs.append((outcomes["proj_contacts"], "json", ["audit", "projections", "--json"]))
    run_all(jobs)
    return outcomes


@pytest.mark.parametrize("table", list(PROJECTION_EDITS))
def test_sqlite_hand_edited_view_row_fails_audit_projections_naming_the_table(
        sqlite_view_edits: dict[str, Outcome], table: str) -> None:
    outcome = sqlite_view_edits[table]
    assert outcome.tamper_error is None, outcome.tamper_error
    said = outcome.runs["text"]
    assert said.returncode == 1, said.stdout + said.stderr
    lines = said.stdout.splitlines()
    assert lines and all(line.startswith(f"{table} ") for line in lines), said.stdout


def test_sqlite_untouched_views_pass_audit_projections(
        sqlite_view_edits: dict[str, Outcome]) -> None:
    said = sqlite_view_edits["untouched"].runs["text"]
    assert said.returncode == 0, said.stdout + said.stderr
    assert said.stdout == "every stored view equals a rebuild from the events\n"


def test_audit_projections_json_shows_a_deleted_row_as_stored_null(
        sqlite_view_edits: dict[str, Outcome]) -> None:
    said = sqlite_view_edits["proj_contacts"].runs["json"]
    assert said.returncode == 1
    (difference,) = json.loads(said.stdout)
    assert difference.keys() == {"table", "key", "stored", "expected"}
    assert difference["table"] == "proj_contacts"
    assert difference["stored"] is None
    assert difference["expected"][:2] == difference["key"]


def test_sqlite_view_edits_are_all_detected(sqlite_view_edits: dict[str, Outcome]) -> None:
    caught = [t for t in PROJECTION_EDITS if sqlite_view_edits[t].runs["text"].returncode == 1]
    assert caught == list(PROJECTION_EDITS), f"detected {len(caught)}/{len(PROJECTION_EDITS)}"


# ---------------------------------------------------------------------- PostgreSQL
def split_url(url: str) -> tuple[str, str]:
    """The server URL without its query, and the schema the query names."""
    parts = urlparse(url)
    return urlunparse(parts._replace(query="")), parse_qs(parts.query)["schema"][0]


def with_schema(url: str, schema: str) -> str:
    server, _ = split_url(url)
    return f"{server}?schema={schema}"


def clone_schema(conn: Any, source: str, target: str, tables: Iterable[str]) -> None:
    """Copy the store's tables (definitions, indexes and rows) into a new schema."""
    conn.execute(f'CREATE SCHEMA "{target}"')
    for table in tables:
        conn.execute(f'CREATE TABLE "{target}"."{table}" '
                     f'(LIKE "{source}"."{table}" INCLUDING ALL)')
        conn.execute(f'INSERT INTO "{target}"."{table}" SELECT * FROM "{source}"."{table}"')


@pytest.mark.postgres
# The verifier leaves psycopg server-side cursors open (see the next test); that
# resource leak must not hide what this test is about: detection.
@pytest.mark.filterwarnings("ignore:.*ServerCursor:ResourceWarning")
def test_postgres_tamper_battery_detects_every_case_and_view_edit(
        postgres_url: str, cli: Run, tmp_path: Path, pilot: Pilot) -> None:
    """The main cases on copies of an imported PostgreSQL schema, tampered with psycopg,
    each verified in the store and in its export; the untouched store verifies with and
    without its digest."""
    import psycopg

    server, schema = split_url(postgres_url)
    store = build_pilot(cli, tmp_path, postgres_url, pilot.copier, pilot.jsonl)
    with psycopg.connect(server, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))]
        assert {"lifecycle_events", "event_chain", *PROJECTION_EDITS} <= set(tables)
        clones: list[str] = []
        try:
            outcomes: dict[str, Outcome] = {}
            exports: dict[str, Outcome] = {}
            jobs: list[tuple[Outcome, str, list[str]]] = []
            for number, case in enumerate(MAIN_CASES):
                clones.append(f"{schema}_{number}")
                clone_schema(conn, schema, clones[-1], ["lifecycle_events", "event_chain"])
                outcome = Outcome(case.name, with_schema(postgres_url, clones[-1]))
                with conn.transaction():
                    outcome.expected = case.tamper(Tamperer(conn, schema=clones[-1]),
                                                   store.digest)
                outcomes[case.name] = outcome
                exported = Outcome(case.name, outcome.store, outcome.expected)
                exports[case.name] = exported.exported(tmp_path)
                jobs += verify_jobs(outcome, store.digest_file)
                jobs += verify_jobs(exported, store.digest_file)
            views: dict[str, Outcome] = {}
            for table, statement in PROJECTION_EDITS.items():
                clones.append(f"{schema}_{table}")
                clone_schema(conn, schema, clones[-1], tables)
                views[table] = Outcome(table, with_schema(postgres_url, clones[-1]))
                with conn.transaction():
                    conn.execute(f'SET LOCAL search_path TO "{clones[-1]}"')
                    assert conn.execute(statement).rowcount == 1
                jobs.append((views[table], "text", ["audit", "projections"]))
            untouched = Outcome("untouched", postgres_url)
            jobs += [(untouched, "plain", ["audit", "verify", "--json"]),
                     (untouched, "digest", ["audit", "verify", "--json", "--digest",
                                            str(store.digest_file)]),
                     (untouched, "views", ["audit", "projections"])]
            run_all(jobs)
        finally:
            for clone in clones:
                conn.execute(f'DROP SCHEMA IF EXISTS "{clone}" CASCADE')

    for key in ("plain", "digest", "views"):
        assert untouched.runs[key].returncode == 0, untouched.runs[key].stdout
    assert untouched.verdict("plain")["head"] == store.digest["head"]
    assert len(outcomes) == len(exports) == len(MAIN_CASES) == 11
    for source in (outcomes, exports):
        missed = [explain(o) for o in source.values() if not detected(o)]
        assert not missed, (f"detected {len(source) - len(missed)}/{len(source)}:\n"
                            + "\n".join(missed))
        for outcome in source.values():
            assert_detected(outcome)
    for table, outcome in views.items():
        said = outcome.runs["text"]
        assert said.returncode == 1, said.stdout + said.stderr
        assert said.stdout.startswith(f"{table} "), said.stdout


@pytest.mark.postgres
def test_postgres_verify_closes_its_server_side_cursors(
        postgres_url: str, stream: Any) -> None:
    """Verification (intact, and stopped early at a problem) leaves no psycopg cursor
    open for the garbage collector to warn about."""
    import psycopg

    server, schema = split_url(postgres_url)
    target = resolve_target(postgres_url)
    with Lifecycle(target.env) as engine:
        stream.base().duo("active").apply(engine)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        intact = verify(ChainReader(target, "lifecycle_events"))
        with psycopg.connect(server, autocommit=True) as conn:
            Tamperer(conn, schema=schema).set_link(5, bytes(32))
        broken = verify(ChainReader(target, "lifecycle_events"))
        gc.collect()
    assert intact.ok
    assert (broken.ok, broken.position) == (False, 5)
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, f"{len(leaks)} unclosed: {leaks[0]}"
