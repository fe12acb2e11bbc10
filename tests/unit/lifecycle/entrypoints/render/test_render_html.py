"""The HTML page's rules on small reports: number formats, sections left out when their
key is absent, suppressed cells told from missing ones, the number-at-risk sums, and
figures whose SVG ids never clash."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from lifecycle.entrypoints.render import figures
from lifecycle.entrypoints.render.html import ChainHead, _risk, number, render
from projections.fold import initial
from projections.report import build_report, contact_minutes
from projections.series import build_series

AS_OF = date(2025, 3, 22)


def _report() -> tuple[dict[str, Any], Any]:
    """The report of an empty store with a few counts set (the real ones are checked
    against the engine's in tests/e2e/test_html_report.py)."""
    model = initial()
    report = build_report(model, AS_OF)
    report["duos"]["total"] = 2
    report["duos"]["by_state"].update(active=1, closed=1)
    report["dropouts"].update(count=1, rate=0.5)
    report["dropouts"]["by_reason"]["mismatch"] = 1
    return report, model


@pytest.mark.parametrize(("value", "kind", "shown"), [
    (1234, "count", "1,234"), (0.12345, "rate", "12.3 %"), (0.70684, "estimate", "0.707"),
    (42, "days", "42"), (42.25, "days", "42.2"), (5.836, "per30", "5.84"),
    (278.4, "minutes", "278"), (-0.3667, "change", "-0.37"), (0.5, "change", "+0.50"),
])
def test_numbers_are_printed_to_a_fixed_number_of_digits(value: Any, kind: str,
                                                         shown: str) -> None:
    assert number(value, kind) == shown


V2_KEYS = ("first_meeting", "monitoring", "closure", "retention", "surveys")
V2_DROPOUTS = ("by_month", "median_survival_days", "survival_curve")


def test_a_v1_report_leaves_out_the_curve_and_the_evaluation_sections() -> None:
    report, model = _report()
    # a report as an engine of contract v1 printed it: none of the v2 keys
    for key in V2_KEYS:
        del report[key]
    for key in V2_DROPOUTS:
        del report["dropouts"][key]
    page = render(report, minutes=contact_minutes(model, AS_OF),
                  series=build_series(model, AS_OF))
    for absent in ('id="km"', 'id="standards"', 'id="retention"', 'id="surveys"',
                   'id="dropouts-month"', 'id="groups"'):
        assert absent not in page
    assert 'id="states"' in page and 'id="minutes-per-30"' in page
    assert 'data-path="report/dropouts/rate"' in page


def test_a_published_report_tells_suppressed_cells_from_missing_ones() -> None:
    report, _ = _report()
    report["dropouts"]["by_reason"]["mismatch"] = None
    published = {**report, "suppressed": ["dropouts.by_reason.mismatch"], "threshold": 10}
    page = render(published)
    cell = re.search(r'data-path="report/dropouts/by_reason/mismatch"[^>]*>(.*?)</span>',
                     page)
    assert cell is not None and "suppressed" in cell.group(1)
    missing = re.search(r'data-path="report/dropouts/survival/365"[^>]*>(.*?)</span>', page)
    assert missing is not None and "—" in missing.group(1)
    assert "threshold 10" in page and "<code>dropouts.by_reason.mismatch</code>" in page


def test_the_chain_head_and_as_at_are_shown() -> None:
    report, _ = _report()
    page = render(report, chain=ChainHead(1300, "ab" * 32),
                  as_at="2025-03-01T12:00:00+00:00", programme="P-1")
    assert "ab" * 32 in page and ">1300<" in page and "as recorded at 2025-03-01T12:00:00" in page
    assert "programme P-1" in page


def test_at_risk_events_and_censored_before_a_day_come_from_the_curve_rows() -> None:
    rows = [{"t": 0, "at_risk": 10, "events": 0, "censored": 1},
            {"t": 5, "at_risk": 9, "events": 2, "censored": 0},
            {"t": 12, "at_risk": 7, "events": 1, "censored": 6}]
    assert _risk(rows, 0, False) == (10, (0, "at_risk"), 0, 0)
    assert _risk(rows, 6, False) == (7, (2, "at_risk"), 2, 1)
    assert _risk(rows, 30, False) == (0, None, 3, 7)
    # a published curve was cut: beyond its last row nothing is known
    assert _risk(rows, 30, True) == (None, None, None, None)


def test_the_same_report_renders_to_the_same_bytes() -> None:
    report, model = _report()
    series = build_series(model, AS_OF)
    assert render(report, series=series) == render(report, series=series)


def test_figure_ids_are_prefixed_so_figures_share_a_page() -> None:
    one = figures.to_svg(figures.bars(["a", "b"], [1, None]), "one", "A <test>")
    two = figures.to_svg(figures.bars(["a", "b"], [1, None]), "two", "A <test>")
    ids_one = set(re.findall(r'id="([^"]+)"', one))
    ids_two = set(re.findall(r'id="([^"]+)"', two))
    assert ids_one and ids_one.isdisjoint(ids_two)
    assert all(i.startswith("one-") for i in ids_one)
    assert set(re.findall(r"url\(#([^)]+)\)", one)) <= ids_one
    assert one.startswith("<svg") and 'aria-label="A &lt;test&gt;"' in one
    assert "<metadata>" not in one and "<dc:date>" not in one
    assert one.replace("one-", "two-") == two


def test_every_series_differs_by_more_than_colour() -> None:
    assert len(set(figures.LINE_STYLES)) == len(set(figures.MARKERS)) == \
        len(set(figures.HATCHES)) == len(figures.OKABE_ITO) == figures.MAX_SERIES


def test_an_empty_store_renders() -> None:
    model = initial()
    page = render(build_report(model, AS_OF), series=build_series(model, AS_OF))
    assert page.startswith("<!DOCTYPE html>") and 'id="states"' in page


def _curve(n: int) -> list[dict[str, Any]]:
    """A small curve of ``n`` duos: one dropout at day 10, the rest censored at 40."""
    s = 1 - 1 / n
    return [{"t": 0, "at_risk": n, "events": 0, "censored": 0, "s": 1.0, "lower": 1.0,
             "upper": 1.0},
            {"t": 10, "at_risk": n, "events": 1, "censored": 0, "s": s, "lower": s / 2,
             "upper": 1.0},
            {"t": 40, "at_risk": n - 1, "events": 0, "censored": n - 1, "s": s,
             "lower": s / 2, "upper": 1.0}]


@pytest.mark.parametrize(("groups", "curves"), [(3, 3), (9, 1)])
def test_a_breakdown_draws_a_curve_per_group_up_to_eight(groups: int, curves: int) -> None:
    report, _ = _report()
    report["dropouts"]["survival_curve"] = _curve(30)
    breakdown = {"as_of": report["as_of"], "by": "site", "groups": {
        f"s.{i}": {**report, "dropouts": {**report["dropouts"],
                                           "survival_curve": _curve(10 + i)}}
        for i in range(groups)}}
    page = render(report, breakdown=breakdown)
    km = page[page.index('id="km"'):page.index("</figure>", page.index('id="km"'))]
    risk_rows = re.findall(r'<th scope="row">([^<]*)</th>', km)
    if curves == 1:
        assert risk_rows == ["at risk", "events", "censored"]
        assert "9 groups are too many" in km
        assert 'data-path="report/dropouts/survival_curve/0/at_risk"' in km
    else:
        assert risk_rows == [f"s.{i}: {name}" for i in range(groups)
                             for name in ("at risk", "events", "censored")]
        assert 'data-path="breakdown/groups/s.2/dropouts/survival_curve/0/at_risk"' in km


def test_pages_rendered_on_several_threads_at_once_are_the_same_bytes() -> None:
    """matplotlib's settings are global; the HTTP service renders on reader threads."""
    from concurrent.futures import ThreadPoolExecutor

    report, model = _report()
    series = build_series(model, AS_OF)
    alone = render(report, series=series)
    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = list(pool.map(lambda _: render(report, series=series), range(4)))
    assert pages == [alone] * 4
