"""The HTML report of a store: gathers what the page shows and renders it.

The command line (``report --html``) and the HTTP service (``GET /report.html``) both
call :func:`report_page`, so the two give the same bytes for the same store and
parameters.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from lifecycle.entrypoints.render.html import ChainHead, render
from projections.publish import DEFAULT_THRESHOLD
from projections.series import publish as publish_series


def report_page(views: Any, as_of: date, *, programme: str | None = None,
                as_at: datetime | None = None, by: str | None = None,
                chain: ChainHead | None = None, threshold: int | None = None,
                tests: bool = False, catch_up: bool = True) -> str:
    """The report page of the store behind ``views``.

    Args:
        views: the store's read side (:class:`projections.facade.Views`).
        as_of: the business date.
        programme: restrict to this programme.
        as_at: only what had been recorded by then.
        by: also break the report down (``report --by``).
        chain: the store's chain head, shown for the auditor.
        threshold: publish (CONTRACT §6) with this threshold: the report and its
            contact minutes as one publication (as the text report of ``--publish``),
            the breakdown against it, and the series by the same rules.
        tests: add the signed-rank test of each survey measure's change (``--tests``).
        catch_up: bring the views up to the log first (False: read them as they
            stand, when the caller has just done so, as the HTTP service's readers do).

    Raises:
        projections.report.UnknownProgramme: ``programme`` was never opened.
        projections.publish.PublishError: a threshold below 3.
    """
    # Contact minutes are a section of the report: one publication (as the text report).
    report = views.report(as_of, programme, as_at, catch_up=catch_up, tests=tests,
                          minutes=True, publish=threshold is not None,
                          threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    minutes = {"as_of": report["as_of"], **report.pop("contact_minutes")}
    series = views.series(as_of, programme, as_at, catch_up=False)
    series_suppressed: list[str] = []
    breakdown = None
    if threshold is None:
        if by is not None:
            breakdown = views.breakdown(as_of, by, programme, as_at, tests=tests,
                                        catch_up=False)
    else:
        if by is not None:
            breakdown = views.breakdown(as_of, by, programme, as_at, publish=True,
                                        threshold=threshold, tests=tests, catch_up=False)
        per_30 = report["contact_frequency"]["contacts_per_30_days"]["n"]
        series, series_suppressed = publish_series(series, threshold, {
            "contacts_per_30_days.n": per_30, "minutes_per_30_days.n": per_30,
            "minutes_per_30_days.meeting_benchmark": minutes["duos_meeting_benchmark"]})
    return render(report, chain=chain, as_at=None if as_at is None else as_at.isoformat(),
                  programme=programme, minutes=minutes, series=series, breakdown=breakdown,
                  series_suppressed=series_suppressed)
