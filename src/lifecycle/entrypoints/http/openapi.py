"""The OpenAPI 3.1 document of the service (``GET /openapi.json``).

FastAPI describes the routes; this module adds what it cannot know: the command body,
generated from the same pydantic models as ``lifecycle schema`` (so the two never
drift), the problem documents of the errors, and examples.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from lifecycle.application.commands import AnyCommand
from lifecycle.entrypoints.http.problems import MEDIA_TYPE, ProblemModel, RejectionModel

_REF = "#/components/schemas/{model}"

_WHY = {
    400: "A malformed request: a bad query or path parameter, or a bad If-Match.",
    401: "No bearer token, or one that is unknown or revoked.",
    403: "The token's role may not do this, or it touches a programme (or a duo, "
         "site or mentor) outside a coordinator's programmes. To a coordinator, one "
         "that does not exist looks the same.",
    404: "There is no such thing (for a caller that may see every programme).",
    409: "A conflict with the state of things: other writers kept changing the same duo "
         "(a command: send it again), or the duo is not in `selected` (suggestions).",
    412: "If-Match named another version of the duo; the ETag header gives the current one.",
    413: "The request body is larger than the service takes.",
    422: "The command broke a rule (`rule`, `field`); nothing was written.",
    503: "The service is shutting down or its store failed; send the command again.",
}

COMMAND_EXAMPLES: dict[str, dict[str, Any]] = {
    "recruit": {"summary": "Recruit a duo", "value": {
        "type": "recruit", "occurred_on": "2025-02-03", "command_id": "dk-0042",
        "duo_id": "dk.duo-7", "programme_id": "DK-2025", "site_id": "dk.site-1",
        "mentee_id": "dk.mentee-7", "newcomer_kind": "new_to_profession",
        "department": "wing-A", "shifts": ["early", "late"]}},
    "log_contact": {"summary": "Log a contact", "value": {
        "type": "log_contact", "occurred_on": "2025-03-10", "command_id": "dk-0043",
        "duo_id": "dk.duo-7", "contact_id": "k-1", "minutes": 45, "mode": "in_person",
        "functions": ["psychosocial", "career"]}},
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entries of error statuses, each a problem document."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = "Rejection" if status == 422 else "Problem"
        out[status] = {"description": _WHY[status], "content": {
            MEDIA_TYPE: {"schema": {"$ref": _REF.format(model=model)}}}}
    return out


def document(app: FastAPI) -> dict[str, Any]:
    """The service's OpenAPI document (made once, then kept)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes, tags=app.openapi_tags)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    command = TypeAdapter(AnyCommand).json_schema(ref_template=_REF, mode="validation")
    schemas.update(command.pop("$defs", {}))
    command["title"] = "Command"
    command["description"] = ("One command: the object of one JSONL line "
                              "of `lifecycle import` (and of `lifecycle schema`).")
    schemas["Command"] = command
    schemas["Problem"] = ProblemModel.model_json_schema(ref_template=_REF)
    schemas["Rejection"] = RejectionModel.model_json_schema(ref_template=_REF)
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            _tidy(operation)
    # FastAPI's own answer to a bad parameter (422 HTTPValidationError) is replaced by
    # the service's 400 problem, so its schemas are not part of this interface.
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = doc
    return doc


def _tidy(operation: dict[str, Any]) -> None:
    responses = operation.get("responses", {})
    default = responses.get("422", {})
    if "HTTPValidationError" in str(default):
        del responses["422"]
    for response in responses.values():
        content = response.get("content", {})
        if "text/event-stream" in content:
            content.pop("application/json", None)  # FastAPI's default, never sent
    if operation.pop("x-lifecycle-command-body", False):
        operation["requestBody"] = {
            "required": True,
            "description": "One command (see docs/interface.md).",
            "content": {"application/json": {
                "schema": {"$ref": _REF.format(model="Command")},
                "examples": COMMAND_EXAMPLES}},
        }
