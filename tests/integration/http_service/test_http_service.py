"""The HTTP service of CONTRACT §7 against a real ``lifecycle serve`` process: commands,
reads, problem details, ETag and If-Match, the event stream, headers and logging."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from served import Server, World

from lifecycle.application.commands import json_schema, parse_command


def _events(client: httpx.Client, *, stop: Callable[[dict[str, Any]], bool],
            **kwargs: Any) -> list[dict[str, Any]]:
    """Events of ``GET /events`` (with ``kwargs``) up to the first that ``stop`` picks."""
    events = []
    with client.stream("GET", "/events", **kwargs) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        event_id = None
        for line in answer.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                assert event["position"] == event_id
                events.append(event)
                if stop(event):
                    break
    return events


def test_the_openapi_document_describes_every_route_with_the_command_schema(
        world: World) -> None:
    with world.client(None) as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["openapi"].startswith("3.1")
    # It speaks in the project's own words, never citing the outside specification.
    assert "CONTRACT" not in answer.text and "§" not in answer.text
    operations = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert operations == {"postCommand", "getDuo", "getDuoHistory", "getDuoSuggestions",
                          "getReport", "getReportPage", "getAttention", "getMentors",
                          "getEvents"}
    # The command body is `lifecycle schema`, with its definitions as components.
    schema = json_schema()
    schemas = doc["components"]["schemas"]
    for name, definition in schema["$defs"].items():
        assert json.dumps(schemas[name]).replace("#/components/schemas/", "#/$defs/") == \
            json.dumps(definition)
    assert schemas["Command"]["oneOf"] == [
        {"$ref": ref["$ref"].replace("#/$defs/", "#/components/schemas/")}
        for ref in schema["oneOf"]]
    body = doc["paths"]["/commands"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Command"}
    for example in body["examples"].values():
        parse_command(example["value"])  # every example is a valid command
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_a_command_is_applied_once_and_then_answered_as_a_duplicate(world: World) -> None:
    raw = {"type": "review", "occurred_on": "2025-03-03", "duo_id": "D-1", "health": 4,
           "command_id": "svc-review-1"}
    with world.client() as client:
        first = client.post("/commands", json=raw)
        again = client.post("/commands", json=dict(reversed(raw.items())))
        version = client.get("/duos/D-1").json()["version"]
        history = client.get("/duos/D-1/history").json()
    assert first.status_code == again.status_code == 200
    assert first.json()["outcome"] == "applied"
    assert again.json()["outcome"] == "duplicate"
    assert again.json()["position"] >= first.json()["position"] > 0
    assert [row["type"] for row in history].count("Reviewed") >= 1
    assert version == len(history)


@pytest.mark.parametrize(("raw", "rule", "field"), [
    ({"type": "activate", "occurred_on": "2025-03-01", "duo_id": "D-3"}, 4, "type"),
    ({"type": "select", "occurred_on": "2025-03-01", "duo_id": "D-404", "consent": True},
     2, "duo_id"),
    ({"type": "review", "occurred_on": "2025-03-01", "duo_id": "D-3", "health": 9}, 1,
     "health"),
    ({"type": "review", "occurred_on": "2025-03-01", "duo_id": "D-3", "health": 3,
      "mood": "ok"}, 1, "mood"),
    ({"type": "review", "occurred_on": "2099-01-01", "duo_id": "D-3", "health": 3}, 5,
     "occurred_on"),
])
def test_a_rejected_command_is_a_problem_naming_rule_and_field_and_writes_nothing(
        world: World, raw: dict[str, Any], rule: int, field: str) -> None:
    with world.client() as client:
        before = client.get("/duos/D-3").json()["version"]
        answer = client.post("/commands", json=raw)
        after = client.get("/duos/D-3").json()["version"]
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert (problem["rule"], problem["field"], problem["status"]) == (rule, field, 422)
    assert problem["type"] == "urn:lifecycle:problem:command-rejected"
    assert problem["title"] and problem["detail"]
    assert after == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"", b'"review"'])
def test_a_body_that_is_not_a_json_object_breaks_rule_1(world: World, body: bytes) -> None:
    with world.client() as client:
        answer = client.post("/commands", content=body,
                             headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["rule"] == 1


def test_a_body_over_the_limit_is_refused_with_413_whether_its_length_is_declared_or_not(
        world: World) -> None:
    big = b'{"type": "review", "pad": "' + b"x" * 70_000 + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    with world.client() as client:
        declared = client.post("/commands", content=big)
        streamed = client.post("/commands", content=chunks())
    assert declared.status_code == streamed.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"


def test_the_etag_is_the_duos_version_and_if_match_guards_a_command(world: World) -> None:
    def contact(number: int) -> dict[str, Any]:
        return {"type": "log_contact", "occurred_on": "2025-03-05", "duo_id": "D-1",
                "contact_id": f"K-etag-{number}", "minutes": 30, "mode": "video",
                "functions": ["career"], "command_id": f"svc-etag-{number}"}

    with world.client() as client:
        duo = client.get("/duos/D-1")
        etag = duo.headers["etag"]
        assert etag == f'"{duo.json()["version"]}"'
        applied = client.post("/commands", json=contact(1), headers={"If-Match": etag})
        assert applied.status_code == 200
        stale = client.post("/commands", json=contact(2), headers={"If-Match": etag})
        assert stale.status_code == 412
        assert stale.json()["type"] == "urn:lifecycle:problem:stale-version"
        assert stale.headers["etag"] == f'"{duo.json()["version"] + 1}"'
        # Sent again after a lost answer, the applied command is a duplicate, not stale.
        resent = client.post("/commands", json=contact(1), headers={"If-Match": etag})
        assert resent.json()["outcome"] == "duplicate"
        listed = client.post("/commands", json=contact(2),
                             headers={"If-Match": f'"1", {stale.headers["etag"]}'})
        assert listed.status_code == 200
        anything = client.post("/commands", json=contact(3), headers={"If-Match": "*"})
        assert anything.status_code == 200
        assert client.get("/duos/D-1").headers["etag"] == f'"{duo.json()["version"] + 3}"'


@pytest.mark.parametrize(("header", "raw"), [
    ("3", {"type": "review", "occurred_on": "2025-03-01", "duo_id": "D-1", "health": 3}),
    ('"3"', {"type": "open_programme", "occurred_on": "2025-01-02", "programme_id": "P-7",
             "name": "x", "country": "DK"}),
])
def test_an_if_match_that_cannot_apply_is_a_bad_request(world: World, header: str,
                                                        raw: dict[str, Any]) -> None:
    with world.client() as client:
        answer = client.post("/commands", json=raw, headers={"If-Match": header})
    assert answer.status_code == 400


def test_the_history_is_the_clis_history_json(world: World,
                                              cli: Callable[..., Any]) -> None:
    with world.client() as client:
        served = client.get("/duos/D-2/history").json()
        first = client.get("/duos/D-2/history",
                           params={"as_at": served[1]["recorded_at"]}).json()
        before = client.get("/duos/D-2/history", params={"as_at": "2000-01-01T00:00:00Z"})
    printed = cli("--db", world.server.db, "history", "D-2", "--json")
    assert printed.returncode == 0, printed.stderr
    assert served == json.loads(printed.stdout)
    assert first == [row for row in served if row["recorded_at"] <= served[1]["recorded_at"]]
    assert before.status_code == 404


def test_the_report_is_the_clis_report_json_and_shows_what_was_just_written(
        world: World, cli: Callable[..., Any]) -> None:
    raw = {"type": "recruit", "occurred_on": "2025-05-01", "duo_id": "D-report",
           "programme_id": "P-2", "site_id": "S-2", "mentee_id": "E-report",
           "newcomer_kind": "transferred", "department": "wing-B", "shifts": [],
           "command_id": "svc-report-1"}
    with world.client() as client:
        total = client.get("/report", params={"as_of": "2025-06-30"}).json()["duos"]["total"]
        assert client.post("/commands", json=raw).status_code == 200
        report = client.get("/report", params={"as_of": "2025-06-30", "programme": "P-2"})
        whole = client.get("/report", params={"as_of": "2025-06-30"}).json()
        unknown = client.get("/report", params={"as_of": "2025-06-30", "programme": "P-404"})
    assert whole["duos"]["total"] == total + 1
    printed = cli("--db", world.server.db, "report", "--as-of", "2025-06-30",
                  "--programme", "P-2", "--json")
    assert printed.returncode == 0, printed.stderr
    assert report.json() == json.loads(printed.stdout)
    assert unknown.status_code == 404


def test_a_report_kept_by_the_service_gives_way_to_what_another_process_writes(
        world: World, cli: Callable[..., Any], write_jsonl: Callable[..., Path]) -> None:
    """The service keeps a report while the log stands still (ADR 37): a command
    imported by another process, not through the service, shows in the next report."""
    params = {"as_of": "2025-06-30", "programme": "P-1"}
    raw = {"type": "recruit", "occurred_on": "2025-05-02", "duo_id": "D-kept",
           "programme_id": "P-1", "site_id": "S-1", "mentee_id": "E-kept",
           "newcomer_kind": "transferred", "department": "wing-C", "shifts": [],
           "command_id": "svc-kept-1"}
    with world.client() as client:
        first = client.get("/report", params=params)
        again = client.get("/report", params=params)
        published = client.get("/report", params={**params, "publish": "true"})
        imported = cli("--db", world.server.db, "import", write_jsonl([raw]))
        assert imported.returncode == 0, imported.stdout + imported.stderr
        after = client.get("/report", params=params)
    assert first.status_code == again.status_code == after.status_code == 200
    assert again.content == first.content
    assert published.json() != first.json()  # another query, another answer
    assert after.json()["duos"]["total"] == first.json()["duos"]["total"] + 1
    printed = cli("--db", world.server.db, "report", "--as-of", "2025-06-30",
                  "--programme", "P-1", "--json")
    assert after.json() == json.loads(printed.stdout)


@pytest.mark.parametrize("by", [None, "programme"])
def test_the_report_page_is_the_clis_report_html(world: World, cli: Callable[..., Any],
                                                 by: str | None) -> None:
    params = {"as_of": "2025-06-30", "publish": "true", "threshold": "3"}
    args = ["--as-of", "2025-06-30", "--publish", "--threshold", "3"]
    if by is not None:
        params["by"] = by
        args += ["--by", by]
    with world.client("analyst") as client:
        answer = client.get("/report.html", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    printed = cli("--db", world.server.db, "report", *args, "--html", "-")
    assert printed.returncode == 0, printed.stderr
    assert answer.text == printed.stdout
    assert "published with threshold 3" in answer.text


@pytest.mark.parametrize("params", [
    {"as_of": "2025-6-30"}, {"as_of": "2025-06-30", "by": "colour"},
    {"as_of": "2025-06-30", "threshold": "5"}, {"as_of": "2025-06-30", "colour": "red"},
    # More months from the first recruitment (2025) than the page draws; the last date
    # once made a server error.
    {"as_of": "2045-02-01"}, {"as_of": "9999-12-31"},
])
def test_bad_report_page_parameters_are_a_bad_request(world: World,
                                                      params: dict[str, str]) -> None:
    with world.client() as client:
        answer = client.get("/report.html", params=params)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    if params["as_of"] > "2045":
        assert answer.json()["field"] == "as_of"


@pytest.mark.parametrize("params", [
    {"as_of": "2025-6-30"}, {}, {"as_of": "2025-06-30", "programme": "bad id"},
    {"as_of": "2025-06-30", "threshold": "5"}, {"as_of": "2025-06-30", "colour": "red"},
    {"as_of": "2025-06-30", "as_at": "yesterday"},
])
def test_bad_report_parameters_are_a_bad_request_naming_the_parameter(
        world: World, params: dict[str, str]) -> None:
    with world.client() as client:
        answer = client.get("/report", params=params)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"


def test_the_event_stream_resumes_after_the_last_event_id_or_after(world: World) -> None:
    with world.client() as client:
        first = _events(client, stop=lambda e: e["position"] >= 5)
        resumed = _events(client, stop=lambda e: True, headers={"Last-Event-ID": "5"})
        after = _events(client, stop=lambda e: True, params={"after": 7})
        both = _events(client, stop=lambda e: True, params={"after": 1},
                       headers={"Last-Event-ID": "9"})
    assert [e["position"] for e in first] == [1, 2, 3, 4, 5]
    assert (resumed[0]["position"], after[0]["position"], both[0]["position"]) == (6, 8, 10)
    assert first[0] == {"position": 1, "aggregate": "programme", "aggregate_id": "P-1",
                        "version": 1, "type": "Opened", "occurred_on": "2025-01-02",
                        "recorded_at": first[0]["recorded_at"],
                        "data": first[0]["data"]}


def test_the_event_stream_sends_new_events_as_they_are_stored(world: World) -> None:
    raw = {"type": "review", "occurred_on": "2025-03-04", "duo_id": "D-3", "health": 2,
           "command_id": "svc-stream-1"}
    with world.client() as client:
        head = client.post("/commands", json={**raw, "command_id": "svc-stream-0",
                                              "health": 1}).json()["position"]
        with client.stream("GET", "/events", params={"after": head}) as answer:
            lines = answer.iter_lines()
            assert next(lines).startswith("retry:")
            with world.client() as writer:
                position = writer.post("/commands", json=raw).json()["position"]
            received = []
            for line in lines:
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if received[-1]["position"] == position:
                        break
    assert [e["position"] for e in received] == list(range(head + 1, position + 1))
    assert received[0]["data"] == {"health": 2}


def test_every_answer_says_no_store(world: World) -> None:
    with world.client() as client, world.client(None) as anonymous:
        answers = [anonymous.get("/openapi.json"), anonymous.get("/duos/D-1"),
                   client.get("/duos/D-1"), client.get("/duos/D-404"),
                   client.get("/nowhere"), client.post("/commands", content=b"{")]
    assert {answer.headers["cache-control"] for answer in answers} == {"no-store"}
    assert [a.status_code for a in answers] == [200, 401, 200, 404, 404, 422]


def test_each_request_is_logged_with_route_role_status_and_duration_and_nothing_personal(
        world: World) -> None:
    def served() -> list[dict[str, Any]]:
        return [line for line in world.server.logs() if line.get("event") == "request_served"]

    before = len(served())
    with world.client("auditor") as client:
        client.get("/duos/D-2")
        client.get("/duos/D-2/history")
    # A request is logged once answered: its line may come just after the answer.
    def mine() -> list[dict[str, Any]]:
        return [line for line in served()[before:] if line.get("role") == "auditor"]

    deadline = time.monotonic() + 10
    while len(mine()) < 2:
        assert time.monotonic() < deadline, "the requests were not logged"
        time.sleep(0.05)
    lines = mine()
    assert {"method": "GET", "route": "/duos/{duo_id}", "role": "auditor",
            "status": 200}.items() <= lines[0].items()
    assert lines[1]["route"] == "/duos/{duo_id}/history"
    assert all(isinstance(line["duration_ms"], float) for line in served())
    text = "\n".join(world.server.lines)
    for secret in world.tokens.values():
        assert secret not in text
    for personal in ("mentee-D-1", "mentee-D-2", "wing-A", "D-2"):
        assert personal not in text


def test_the_service_listens_on_127_0_0_1_unless_told_otherwise(world: World) -> None:
    assert world.server.url.startswith("http://127.0.0.1:")


def test_sigterm_stops_the_service_after_the_commands_it_took(
        serve: Callable[..., Server], make_token: Callable[..., str], tmp_path: Path) -> None:
    db = tmp_path / "stop.db"
    token = make_token(db, "admin")
    server = serve(db)
    with server.client(token) as client:
        answer = client.post("/commands", json={
            "type": "open_programme", "occurred_on": "2025-01-02", "programme_id": "P-1",
            "name": "Pilot", "country": "DK"})
        assert answer.status_code == 200
    assert server.stop() == 0
    events = [line.get("event") for line in server.logs()]
    assert "service_stopped" in events
    assert "writer_stopped" in events


def test_the_coordinators_lists_are_the_views_lists(world: World) -> None:
    from datetime import date

    from lifecycle.bootstrap import open_engine, open_views

    day = date(2025, 6, 30)
    with world.client() as client:
        attention = client.get("/attention", params={"as_of": "2025-06-30"})
        mentors = client.get("/mentors", params={"as_of": "2025-06-30", "programme": "P-2"})
        suggestions = client.get("/duos/D-3/suggestions", params={"as_of": "2025-06-30"})
        active = client.get("/duos/D-1/suggestions", params={"as_of": "2025-06-30"})
        unknown = client.get("/duos/D-404/suggestions")
        never = client.get("/mentors", params={"programme": "P-404"})
    engine = open_engine(world.server.db)
    views = open_views(engine, world.server.db)
    try:
        assert attention.json() == [row.as_json() for row in views.attention(day)]
        assert mentors.json() == [row.as_json() for row in views.mentors(day, "P-2")]
        assert suggestions.json() == [row.as_json() for row in views.suggest("D-3", day)]
    finally:
        views.close()
        engine.shutdown()
    assert [row["mentor_id"] for row in suggestions.json()] == ["M-1"]
    assert active.status_code == 409
    assert (unknown.status_code, never.status_code) == (404, 404)
