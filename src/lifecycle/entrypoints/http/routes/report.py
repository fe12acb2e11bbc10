"""``GET /report``: the report of CONTRACT §4, as ``lifecycle report --json`` prints it;
``GET /report.html``: the same report as the page ``lifecycle report --html`` writes."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from lifecycle.adapters.tokens import Role
from lifecycle.application.commands import IsoDate
from lifecycle.entrypoints.http.auth import ReportReader, out_of_scope
from lifecycle.entrypoints.http.openapi import problems
from lifecycle.entrypoints.http.params import AsAt, AsOf, Programme
from lifecycle.entrypoints.http.problems import Problem
from lifecycle.entrypoints.http.runtime import Runtime
from projections.publish import DEFAULT_THRESHOLD
from projections.report import BREAKDOWNS, UnknownProgramme
from projections.series import MAX_MONTHS, SeriesTooLong

router = APIRouter(tags=["reports"])

PageAsOf = Annotated[IsoDate, Query(
    description="Only what had happened by this date. The page draws the duos by state "
                f"month by month from the first recruitment to this date: at most "
                f"{MAX_MONTHS} months (a later date is a bad request).",
    examples=["2025-07-31"])]

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The report (with its v2 evaluation sections); "
                   "published, with `suppressed` and `threshold` too.",
    "required": ["as_of", "duos", "duration", "contact_frequency", "dropouts"],
    "additionalProperties": True,
}


@router.get(
    "/report", operation_id="getReport", summary="The report",
    description="Duration, contact frequency, dropouts and the evaluation sections "
                "(docs/interface.md), of the whole store or of one programme. A coordinator "
                "names one of its programmes; an analyst reads only the published report "
                "(`publish=true`).",
    response_model=None,
    responses={200: {"description": "The report.",
                     "content": {"application/json": {"schema": REPORT_SCHEMA}}},
               **problems(400, 401, 403, 404)})
async def get_report(
        request: Request, principal: ReportReader, as_of: AsOf,
        programme: Programme = None, as_at: AsAt = None,
        publish: Annotated[bool, Query(description="Suppress small cells.")
                          ] = False,
        threshold: Annotated[int | None, Query(
            ge=3, description="The smallest count published (default 10, the threshold "
                              "of ONS and Eurostat output checking); only with "
                              "`publish=true`.")] = None) -> Response:
    _may_read(principal, programme, publish, threshold)
    runtime: Runtime = request.app.state.runtime
    smallest = DEFAULT_THRESHOLD if threshold is None else threshold
    # The answer depends on these and on the log alone: kept until the log moves on.
    key = ("report", as_of, programme, None if as_at is None else as_at.isoformat(),
           publish, smallest)
    try:
        body = await runtime.readers.answer(
            key, lambda views: views.report(as_of, programme, as_at, catch_up=False,
                                            publish=publish, threshold=smallest),
            orjson.dumps)
    except UnknownProgramme:
        raise Problem(404, f"programme '{programme}' was never opened in this store",
                      field="programme") from None
    return Response(body, media_type="application/json")


def _may_read(principal: Any, programme: str | None, publish: bool,
              threshold: int | None) -> None:
    """The role rules of a report, as JSON or as a page (docs/interface.md, HTTP service)."""
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


@router.get(
    "/report.html", operation_id="getReportPage", summary="The report as a page",
    description="The report as one self-contained HTML page, the bytes `lifecycle report "
                "--html` writes for the same store and parameters: figures with reading "
                "aids and tables, the survival curve with the number at risk, the chain "
                "head. The role rules of `GET /report`.",
    response_model=None,
    responses={200: {"description": "The page.",
                     "content": {"text/html": {"schema": {"type": "string"}}}},
               **problems(400, 401, 403, 404)})
async def get_report_page(
        request: Request, principal: ReportReader, as_of: PageAsOf,
        programme: Programme = None, as_at: AsAt = None,
        by: Annotated[str | None, Query(
            description=f"Break the figures down: one of {', '.join(BREAKDOWNS)}.",
            examples=["country"])] = None,
        publish: Annotated[bool, Query(description="Suppress small cells.")
                          ] = False,
        threshold: Annotated[int | None, Query(
            ge=3, description="The smallest count published (default 10); only with "
                              "`publish=true`.")] = None) -> Response:
    from lifecycle.adapters.audit import ChainReader, stored_head
    from lifecycle.entrypoints.render.html import ChainHead
    from lifecycle.entrypoints.render.page import report_page

    _may_read(principal, programme, publish, threshold)
    if by is not None and by not in BREAKDOWNS:
        raise Problem(400, f"by must be one of {', '.join(BREAKDOWNS)}, not '{by}'",
                      field="by")
    runtime: Runtime = request.app.state.runtime
    smallest = DEFAULT_THRESHOLD if threshold is None else threshold
    recorder: Any = runtime.engine.app.recorder

    def page(views: Any) -> str:
        head = stored_head(ChainReader(runtime.target, recorder.events_table_name))
        return report_page(views, as_of, programme=programme, as_at=as_at, by=by,
                           chain=ChainHead(head.position, head.head),
                           threshold=smallest if publish else None, catch_up=False)

    try:
        text = await runtime.readers.run(page)
    except UnknownProgramme:
        raise Problem(404, f"programme '{programme}' was never opened in this store",
                      field="programme") from None
    except SeriesTooLong as exc:
        raise Problem(400, str(exc), field="as_of") from None
    return HTMLResponse(text, headers={"Cache-Control": "no-store"})
