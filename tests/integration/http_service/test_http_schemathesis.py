"""Property-based tests of the service against its own OpenAPI document (schemathesis):
every operation, with generated parameters and bodies (commands of every type), answers
with a status the document lists, in the content type and shape it describes, and never
with a server error. Bounded: a few examples per operation, no deadline."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from served import World

OPERATIONS = [
    ("POST", "/commands"), ("GET", "/duos/{duo_id}"), ("GET", "/duos/{duo_id}/history"),
    ("GET", "/duos/{duo_id}/suggestions"), ("GET", "/report"), ("GET", "/report.html"),
    ("GET", "/attention"), ("GET", "/mentors"),
]
"""Every operation of the document but ``GET /events``, whose stream never ends (it
has tests of its own)."""

SECONDS = {("GET", "/report.html"): 60.0}
"""How long an answer may take where schemathesis's 10 seconds are too few: the page's
figures are drawn (matplotlib) for up to 240 months, seconds of work, many more on a
busy machine. Its length is bounded (``projections.series.MAX_MONTHS``), so the wait
is too."""


@pytest.fixture(scope="module")
def api_schema(world: World) -> Any:
    """The document as the running server serves it."""
    return schemathesis.openapi.from_url(f"{world.server.url}/openapi.json")


def test_the_operations_tested_are_every_operation_but_the_event_stream(
        api_schema: Any) -> None:
    documented = {(op.ok().method.upper(), op.ok().path)
                  for op in api_schema.get_all_operations()}
    assert documented == {*OPERATIONS, ("GET", "/events")}


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE,
                                  schemathesis.GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_answers_as_its_document_says(
        api_schema: Any, world: World, method: str, path: str,
        mode: schemathesis.GenerationMode) -> None:
    """Valid requests (positive) and invalid ones (negative: a wrong type, a missing or
    malformed parameter), which must be refused with a documented 4xx."""
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {world.tokens['admin']}"}

    @settings(max_examples=10, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def answers(case: Any) -> None:
        # A command valid by the schema may still break a rule of §2 (an unknown duo):
        # 422 is then the right answer, so "schema-valid data is accepted" does not hold.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance],
                               timeout=SECONDS.get((method, path), 10.0))

    answers()
