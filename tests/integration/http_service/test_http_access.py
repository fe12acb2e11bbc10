"""Roles and programme scopes (CONTRACT §7) on every route, against a real server: each
route × each role × a target inside and outside a coordinator's programme (P-1), and
401 without a valid token everywhere."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from served import World
from tests.conftest import sealed_command_id, store_keys

ROLES = ("admin", "auditor", "analyst", "coordinator")
_ids = itertools.count(1)


def _command(duo_id: str) -> dict[str, Any]:
    """A review of ``duo_id`` with a new command id (applied when allowed)."""
    return {"type": "review", "occurred_on": "2025-03-01", "duo_id": duo_id, "health": 3,
            "command_id": f"access-{next(_ids)}"}


def _status(client: httpx.Client, method: str, path: str, **kwargs: Any) -> int:
    if path == "/events":
        with client.stream(method, path, **kwargs) as answer:
            return answer.status_code
    return client.request(method, path, **kwargs).status_code


Request = Callable[[str], tuple[str, str, dict[str, Any]]]
"""A route's request aimed at programme P-1 ("in") or P-2 ("out")."""

ROUTES: dict[str, Request] = {
    "POST /commands": lambda side: (
        "POST", "/commands", {"json": _command("D-1" if side == "in" else "D-2")}),
    "GET /duos/{duo_id}": lambda side: (
        "GET", f"/duos/{'D-1' if side == 'in' else 'D-2'}", {}),
    "GET /duos/{duo_id}/history": lambda side: (
        "GET", f"/duos/{'D-1' if side == 'in' else 'D-2'}/history", {}),
    "GET /report": lambda side: (
        "GET", "/report", {"params": {"as_of": "2025-06-30",
                                      "programme": "P-1" if side == "in" else "P-2"}}),
    "GET /report?publish=true": lambda side: (
        "GET", "/report", {"params": {"as_of": "2025-06-30", "publish": "true",
                                      "programme": "P-1" if side == "in" else "P-2"}}),
    "GET /report.html": lambda side: (
        "GET", "/report.html", {"params": {"as_of": "2025-06-30",
                                           "programme": "P-1" if side == "in" else "P-2"}}),
    "GET /report.html?publish=true": lambda side: (
        "GET", "/report.html", {"params": {"as_of": "2025-06-30", "publish": "true",
                                           "programme": "P-1" if side == "in" else "P-2"}}),
    "GET /attention": lambda side: (
        "GET", "/attention", {"params": {"as_of": "2025-06-30",
                                         "programme": "P-1" if side == "in" else "P-2"}}),
    "GET /mentors": lambda side: (
        "GET", "/mentors", {"params": {"as_of": "2025-06-30",
                                       "programme": "P-1" if side == "in" else "P-2"}}),
    "GET /duos/{duo_id}/suggestions": lambda side: (
        "GET", f"/duos/{'D-3' if side == 'in' else 'D-4'}/suggestions",
        {"params": {"as_of": "2025-06-30"}}),
    "GET /events": lambda side: ("GET", "/events", {}),
    "GET /openapi.json": lambda side: ("GET", "/openapi.json", {}),
}

ALLOWED = {"in": 200, "out": 200}
DENIED = {"in": 403, "out": 403}
SCOPED = {"in": 200, "out": 403}
EXPECTED: dict[str, dict[str, dict[str, int]]] = {
    "POST /commands": {"admin": ALLOWED, "auditor": DENIED, "analyst": DENIED,
                       "coordinator": SCOPED},
    "GET /duos/{duo_id}": {"admin": ALLOWED, "auditor": ALLOWED, "analyst": DENIED,
                           "coordinator": SCOPED},
    "GET /duos/{duo_id}/history": {"admin": ALLOWED, "auditor": ALLOWED, "analyst": DENIED,
                                   "coordinator": SCOPED},
    "GET /report": {"admin": ALLOWED, "auditor": ALLOWED, "analyst": DENIED,
                    "coordinator": SCOPED},
    "GET /report?publish=true": {"admin": ALLOWED, "auditor": ALLOWED, "analyst": ALLOWED,
                                 "coordinator": SCOPED},
    "GET /report.html": {"admin": ALLOWED, "auditor": ALLOWED, "analyst": DENIED,
                         "coordinator": SCOPED},
    "GET /report.html?publish=true": {"admin": ALLOWED, "auditor": ALLOWED,
                                      "analyst": ALLOWED, "coordinator": SCOPED},
    "GET /attention": {"admin": ALLOWED, "auditor": ALLOWED, "analyst": DENIED,
                       "coordinator": SCOPED},
    "GET /mentors": {"admin": ALLOWED, "auditor": ALLOWED, "analyst": DENIED,
                     "coordinator": SCOPED},
    "GET /duos/{duo_id}/suggestions": {"admin": ALLOWED, "auditor": ALLOWED,
                                       "analyst": DENIED, "coordinator": SCOPED},
    # A coordinator's stream holds only its programmes' events (test below).
    "GET /events": {"admin": ALLOWED, "auditor": ALLOWED, "analyst": DENIED,
                    "coordinator": ALLOWED},
    "GET /openapi.json": {"admin": ALLOWED, "auditor": ALLOWED, "analyst": ALLOWED,
                          "coordinator": ALLOWED},
}


@pytest.mark.parametrize("side", ["in", "out"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", list(ROUTES))
def test_each_role_gets_what_section_7_grants_on_every_route(
        world: World, route: str, role: str, side: str) -> None:
    method, path, kwargs = ROUTES[route](side)
    with world.client(role) as client:
        assert _status(client, method, path, **kwargs) == EXPECTED[route][role][side]


@pytest.mark.parametrize("token", [None, "lct_" + "A" * 43, "not-a-token"])
@pytest.mark.parametrize("route", [r for r in ROUTES if r != "GET /openapi.json"])
def test_every_route_but_the_openapi_document_needs_a_valid_token(
        world: World, route: str, token: str | None) -> None:
    method, path, kwargs = ROUTES[route]("in")
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with world.server.client() as client:
        answer = client.request(method, path, headers=headers, **kwargs)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_command_outside_the_coordinators_programmes_writes_nothing(world: World) -> None:
    with world.client("admin") as admin, world.client("coordinator") as coordinator:
        before = admin.get("/duos/D-2").json()["version"]
        answer = coordinator.post("/commands", json=_command("D-2"))
        assert answer.status_code == 403
        assert admin.get("/duos/D-2").json()["version"] == before


@pytest.mark.parametrize("path", ["/duos/{}", "/duos/{}/history", "/duos/{}/suggestions"])
def test_a_duo_of_another_programme_looks_like_a_missing_one_to_a_coordinator(
        world: World, path: str) -> None:
    with world.client("coordinator") as client:
        other = client.get(path.format("D-2"))
        missing = client.get(path.format("D-404"))
    assert other.status_code == missing.status_code == 403
    assert other.json()["detail"].replace("D-2", "X") == \
        missing.json()["detail"].replace("D-404", "X")


def test_a_command_naming_a_duo_of_another_programme_looks_like_one_naming_a_missing_duo(
        world: World) -> None:
    with world.client("coordinator") as client:
        other = client.post("/commands", json=_command("D-2"))
        missing = client.post("/commands", json=_command("D-404"))
    assert other.status_code == missing.status_code == 403
    assert other.json()["detail"].replace("D-2", "X") == \
        missing.json()["detail"].replace("D-404", "X")


def test_a_coordinator_may_not_open_a_programme_outside_its_token(world: World) -> None:
    raw = {"type": "open_programme", "occurred_on": "2025-01-02", "programme_id": "P-9",
           "name": "Another", "country": "PT", "command_id": "access-open-p9"}
    with world.client("coordinator") as client:
        answer = client.post("/commands", json=raw)
    assert answer.status_code == 403
    assert answer.json()["field"] == "programme_id"


@pytest.mark.parametrize("path", ["/attention", "/mentors"])
def test_a_coordinators_list_without_a_programme_holds_only_its_programmes_rows(
        world: World, path: str) -> None:
    with world.client("coordinator") as mine, world.client("auditor") as everything:
        rows = mine.get(path, params={"as_of": "2025-06-30"}).json()
        every = everything.get(path, params={"as_of": "2025-06-30"}).json()
    assert rows == [row for row in every if row["programme_id"] == "P-1"]
    assert {row["programme_id"] for row in every} == {"P-1", "P-2"} or path == "/attention"


def test_an_analyst_reads_only_the_published_report(world: World) -> None:
    with world.client("analyst") as analyst, world.client("admin") as admin:
        published = analyst.get("/report", params={"as_of": "2025-06-30", "publish": "true",
                                                   "threshold": "3"})
        plain = analyst.get("/report", params={"as_of": "2025-06-30", "publish": "false"})
        same = admin.get("/report", params={"as_of": "2025-06-30", "publish": "true",
                                            "threshold": "3"})
    assert published.status_code == 200 and plain.status_code == 403
    assert published.json()["threshold"] == 3 and "suppressed" in published.json()
    assert published.json() == same.json()


def test_a_coordinators_report_names_one_of_its_programmes(world: World) -> None:
    with world.client("coordinator") as client:
        answer = client.get("/report", params={"as_of": "2025-06-30"})
    assert answer.status_code == 403
    assert answer.json()["field"] == "programme"


def test_a_coordinators_event_stream_holds_only_its_programmes_events(world: World) -> None:
    sentinel = {"type": "log_contact", "occurred_on": "2025-03-02", "duo_id": "D-1",
                "contact_id": "K-sentinel", "minutes": 20, "mode": "phone",
                "functions": ["career"], "command_id": "access-sentinel"}

    def aggregates(role: str) -> set[tuple[str, str]]:
        """The aggregates of the stream's events, up to the sentinel contact's."""
        seen = set()
        with world.client(role) as client, client.stream("GET", "/events") as answer:
            for line in answer.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[len("data: "):])
                    seen.add((event["aggregate"], event["aggregate_id"]))
                    if event["data"].get("contact_id") == "K-sentinel":
                        break
        return seen

    with world.client("admin") as admin:
        assert admin.post("/commands", json=sentinel).status_code == 200
    everything = aggregates("admin")
    mine = aggregates("coordinator")
    # A sealed store keeps command ids as keyed digests and names a mentor's stream by
    # the mentor's keyed reference (ADR 34, ADR 35).
    command = sealed_command_id(world.server.db, "w-0001")
    mentor = store_keys(world.server.db).reference("M-1")
    assert ("duo", "D-2") in everything and ("command", command) in everything
    assert mine == {("programme", "P-1"), ("site", "S-1"), ("mentor", mentor),
                    ("duo", "D-1"), ("duo", "D-3")}


def test_a_revoked_token_stops_working(world: World, make_token: Callable[..., str],
                                       cli: Callable[..., Any]) -> None:
    token = make_token(world.server.db, "auditor")
    with world.server.client(token) as client:
        assert client.get("/duos/D-1").status_code == 200
        listed = cli("--db", world.server.db, "tokens", "list", "--json")
        token_id = json.loads(listed.stdout)[-1]["token_id"]
        revoked = cli("--db", world.server.db, "tokens", "revoke", token_id)
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 10
        while client.get("/duos/D-1").status_code == 200:
            assert time.monotonic() < deadline, "the revoked token still works"
            time.sleep(0.2)
        assert client.get("/duos/D-1").status_code == 401
