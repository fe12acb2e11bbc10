"""``GET /report``: the report of CONTRACT §4, as ``lifecycle report --json`` prints it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from lifecycle.adapters.tokens import Role
from lifecycle.entrypoints.http.auth import ReportReader, out_of_scope
from lifecycle.entrypoints.http.openapi import problems
from lifecycle.entrypoints.http.params import AsAt, AsOf, Programme
from lifecycle.entrypoints.http.problems import Problem
from lifecycle.entrypoints.http.routes.duos import json_response
from lifecycle.entrypoints.http.runtime import Runtime
from projections.publish import DEFAULT_THRESHOLD
from projections.report import UnknownProgramme

router = APIRouter(tags=["reports"])

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The report of CONTRACT §4 (with its v2 evaluation sections); "
                   "published (CONTRACT §6), with `suppressed` and `threshold` too.",
    "required": ["as_of", "duos", "duration", "contact_frequency", "dropouts"],
    "additionalProperties": True,
}


@router.get(
    "/report", operation_id="getReport", summary="The report",
    description="Duration, contact frequency, dropouts and the evaluation sections "
                "(CONTRACT §4), of the whole store or of one programme. A coordinator "
                "names one of its programmes; an analyst reads only the published report "
                "(`publish=true`, CONTRACT §6).",
    response_model=None,
    responses={200: {"description": "The report.",
                     "content": {"application/json": {"schema": REPORT_SCHEMA}}},
               **problems(400, 401, 403, 404)})
async def get_report(
        request: Request, principal: ReportReader, as_of: AsOf,
        programme: Programme = None, as_at: AsAt = None,
        publish: Annotated[bool, Query(description="Suppress small cells (CONTRACT §6).")
                          ] = False,
        threshold: Annotated[int | None, Query(
            ge=3, description="The smallest count published (default 10, the threshold "
                              "of ONS and Eurostat output checking); only with "
                              "`publish=true`.")] = None) -> Response:
    if principal.role is Role.ANALYST and not publish:
        raise Problem(403, "an analyst's token reads only the published report: "
                           "add publish=true", field="publish")
    if principal.scoped and not principal.holds(programme):
        if programme is None:
            raise Problem(403, "a coordinator's report names one of the token's programmes",
                          field="programme")
        raise out_of_scope(f"programme '{programme}'")
    if threshold is not None and not publish:
        raise Problem(400, "threshold applies to the published report only: add "
                           "publish=true", field="threshold")
    runtime: Runtime = request.app.state.runtime
    smallest = DEFAULT_THRESHOLD if threshold is None else threshold
    try:
        report = await runtime.readers.run(
            lambda views: views.report(as_of, programme, as_at, catch_up=False,
                                       publish=publish, threshold=smallest))
    except UnknownProgramme:
        raise Problem(404, f"programme '{programme}' was never opened in this store",
                      field="programme") from None
    return json_response(report)
