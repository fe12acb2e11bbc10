"""``lifecycle report --html`` opened in a real browser (headless Chromium), as a reader
would: nothing is requested over the network, nothing is logged to the console as an
error, every figure is drawn and has its table, and every number the page shows is the
JSON report's. Screenshots land in each test's output folder.

One simulated pilot (300 duos) is imported once for the module; the page is also
rendered from a report carrying the contract's v2 evaluation sections, computed from
the same store (:mod:`v2_report`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, Visit, require_browser  # tests/e2e/browser.py
from v2_report import breakdown_with_v2, with_v2  # tests/e2e/v2_report.py

AS_OF = "2025-09-30"
Run = Callable[..., Any]

def expected_figures(report: dict[str, Any], series: dict[str, Any] | None = None) -> set[str]:
    """The figures a page of ``report`` draws: each one whose key the report holds
    (the evaluation sections are v2 keys the engine may or may not print yet)."""
    figures = {"states", "dropouts-stage", "dropouts-reason"}
    if series is not None:
        figures |= {"contacts-per-30", "minutes-per-30"}
        if series["states_by_month"] is not None and len(series["states_by_month"]) > 1:
            figures.add("states-over-time")
    dropouts = report["dropouts"]
    if dropouts.get("survival_curve") is not None:
        figures.add("km")
    if dropouts.get("by_month"):
        figures.add("dropouts-month")
    if "first_meeting" in report:
        figures.add("first-meeting")
    if "monitoring" in report or "closure" in report:
        figures.add("standards")
    if "retention" in report:
        figures.add("departures")
    if "surveys" in report:
        figures.add("survey-change")
    return figures


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory,
          simulated_store: Callable[[Path, int, int], Path]) -> Path:
    return simulated_store(tmp_path_factory.mktemp("html"), 2025, 300)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    require_browser()
    chromium = Browser(tmp_path_factory.mktemp("profile"))
    yield chromium
    chromium.quit()


def _json(cli: Run, *args: Any) -> Any:
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _html(cli: Run, out: Path, *args: Any) -> Path:
    done = cli(*args, "--html", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out}"
    return out


def _lookup(data: Any, keys: list[str]) -> Any:
    for key in keys:
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


TOLERANCE = {"rate": 0.0005, "estimate": 0.0005, "per30": 0.005, "minutes": 0.5,
             "change": 0.005, "mean": 0.05, "days": 0.05}


def _matches(text: str, kind: str, value: Any) -> bool:
    """Whether ``text`` is how the page shows ``value`` (to the digits it prints)."""
    if value is None:
        return text in ("—", "suppressed")
    if kind == "text":  # not a count of people (degrees of freedom)
        return text == str(value)
    shown = text.replace(",", "").replace("%", "").replace("+", "").strip()
    if kind == "count" or (kind == "days" and "." not in shown):
        return int(shown) == value
    number = float(shown) / (100 if kind == "rate" else 1)
    return abs(number - value) <= TOLERANCE[kind] + 1e-12


def check_page(browser: Browser, page: Path, sources: dict[str, Any],
               figures: set[str], shot: Path) -> tuple[Visit, set[str]]:
    """Open ``page`` and check everything a reader relies on; returns the visit and
    the paths of every number shown."""
    from selenium.webdriver.common.by import By

    visit = browser.open(page)
    assert [e for e in visit.console if e["level"] in ("SEVERE", "WARNING")] == []
    assert visit.requests == [page.resolve().as_uri()]
    assert visit.resources == []
    driver = browser.driver
    drawn = {f.get_attribute("id"): f for f in driver.find_elements(By.CSS_SELECTOR,
                                                                   "figure.chart")}
    assert set(drawn) == figures
    for slug, figure in drawn.items():
        svg = figure.find_element(By.CSS_SELECTOR, "div.plot > svg")
        assert svg.is_displayed(), slug
        assert svg.size["width"] > 100 and svg.size["height"] > 50, (slug, svg.size)
        assert figure.find_element(By.CSS_SELECTOR, "h3").text
        assert figure.find_element(By.CSS_SELECTOR, "p.aid").text.startswith("How to read:")
        tables = figure.find_elements(By.CSS_SELECTOR, "figcaption table")
        assert len(tables) == 1 and tables[0].is_displayed(), slug
        assert tables[0].find_elements(By.CSS_SELECTOR, "tbody tr"), slug
    cells = driver.execute_script(
        "return [...document.querySelectorAll('[data-path]')]"
        ".map(e => [e.dataset.path, e.dataset.kind, e.textContent])")
    shown = set()
    for path, kind, text in cells:
        source, *keys = path.split("/")
        value = _lookup(sources[source], keys)
        assert _matches(text, kind, value), (path, text, value)
        shown.add(path)
    browser.screenshot(shot)
    assert shot.stat().st_size > 10_000
    return visit, shown


CONTRACT_KEYS = {
    "duos": None, "duration": None, "contact_frequency": None,
    "dropouts": {"count", "rate", "by_stage", "by_reason", "survival", "by_month",
                 "median_survival_days", "survival_curve"},
    "first_meeting": None, "monitoring": None, "closure": None, "retention": None,
    "surveys": None,
}
"""The report's sections in CONTRACT §4 (v1 and v2; None: the whole section): every
figure of these must be on the page (an engine may print more, beyond the contract)."""


def _contract_leaves(report: dict[str, Any]) -> set[str]:
    leaves: set[str] = set()
    for key, keep in CONTRACT_KEYS.items():
        if key not in report:
            continue
        section = report[key] if keep is None else {
            k: v for k, v in report[key].items() if k in keep}
        leaves |= set(_leaves(section, f"report/{key}"))
    return leaves


def _leaves(data: Any, prefix: str) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, f"{prefix}/{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _leaves(value, f"{prefix}/{i}")
    else:
        yield prefix


@contextmanager
def _views(store: Path) -> Iterator[Any]:
    from lifecycle.bootstrap import open_engine, open_views

    engine = open_engine(str(store))
    views = open_views(engine, str(store))
    try:
        yield views
    finally:
        views.close()
        engine.shutdown()


def _chain(store: Path) -> Any:
    from lifecycle.adapters.audit import ChainReader, stored_head
    from lifecycle.adapters.store import resolve_target
    from lifecycle.entrypoints.render.html import ChainHead

    head = stored_head(ChainReader(resolve_target(str(store)), "stored_events"))
    return ChainHead(head.position, head.head)


def test_the_page_shows_every_figure_of_the_json_report(
        cli: Run, store: Path, browser: Browser, tmp_path: Path) -> None:
    report = _json(cli, "--db", store, "report", "--as-of", AS_OF, "--tests", "--json")
    page = _html(cli, tmp_path / "report.html", "--db", store, "report", "--as-of", AS_OF,
                 "--tests")
    assert "signed_rank" in report["surveys"]["mentee"]["wellbeing"]
    with _views(store) as views:
        minutes = views.contact_minutes(date.fromisoformat(AS_OF))
        series = views.series(date.fromisoformat(AS_OF))
    _, shown = check_page(browser, page, {"report": report, "minutes": minutes,
                                          "series": series}, expected_figures(report, series),
                          tmp_path / "report.png")
    # Every figure of the report is on the page (the date is in the heading).
    assert _contract_leaves(report) - shown == set()
    # (the minutes' n is the report's contacts_per_30_days n, shown once)
    assert minutes["minutes_per_30_days"]["n"] == report["contact_frequency"][
        "contacts_per_30_days"]["n"]
    assert set(_leaves(minutes, "minutes")) - shown == {
        "minutes/as_of", "minutes/benchmark_minutes_per_30_days",
        "minutes/minutes_per_30_days/n"}
    text = browser.driver.find_element("tag name", "body").text
    assert f"as of {AS_OF}" in text
    digest = _json(cli, "--db", store, "audit", "digest", "--json")
    assert digest["head"] in text and str(digest["position"]) in text


def test_a_breakdown_page_shows_every_group(cli: Run, store: Path, browser: Browser,
                                            tmp_path: Path) -> None:
    report = _json(cli, "--db", store, "report", "--as-of", AS_OF, "--json")
    breakdown = _json(cli, "--db", store, "report", "--as-of", AS_OF, "--by", "country",
                      "--json")
    page = _html(cli, tmp_path / "by-country.html", "--db", store, "report", "--as-of",
                 AS_OF, "--by", "country")
    with _views(store) as views:
        minutes = views.contact_minutes(date.fromisoformat(AS_OF))
        series = views.series(date.fromisoformat(AS_OF))
    _, shown = check_page(browser, page, {"report": report, "breakdown": breakdown,
                                          "minutes": minutes, "series": series},
                          expected_figures(report, series), tmp_path / "by-country.png")
    logrank = breakdown.get("comparison", {}).get("survival_logrank")
    if logrank is not None:  # beyond the contract: the engine compares the groups
        assert {f"breakdown/comparison/survival_logrank/{k}" for k in logrank
                if k != "groups"} <= shown
    for country, group in breakdown["groups"].items():
        base = f"breakdown/groups/{country}"
        assert {f"{base}/duos/total", f"{base}/dropouts/rate",
                *(f"{base}/dropouts/by_reason/{r}" for r in group["dropouts"]["by_reason"])
                } <= shown


def test_a_v2_report_shows_the_curve_and_the_evaluation_sections(
        store: Path, browser: Browser, tmp_path: Path) -> None:
    from lifecycle.entrypoints.render.html import render
    from projections.loading import load_read_model

    day = date.fromisoformat(AS_OF)
    with _views(store) as views:
        report = with_v2(views.report(day), load_read_model(views.conn), day)
        minutes, series = views.contact_minutes(day), views.series(day)
    # The curve computed by lifelines agrees with the engine's own survival points.
    curve = report["dropouts"]["survival_curve"]
    for t, estimate in report["dropouts"]["survival"].items():
        if estimate is not None:
            assert [r["s"] for r in curve if r["t"] <= int(t)][-1] == pytest.approx(estimate)
    page = tmp_path / "v2.html"
    page.write_text(render(report, chain=_chain(store), minutes=minutes, series=series),
                    encoding="utf-8")
    figures = expected_figures(report, series)
    assert {"km", "dropouts-month", "standards", "first-meeting", "departures",
            "survey-change"} <= figures
    _, shown = check_page(browser, page, {"report": report, "minutes": minutes,
                                          "series": series}, figures, tmp_path / "v2.png")
    assert _contract_leaves(report) - shown == set()
    # The number-at-risk table under the curve: at risk at day 0 is the whole population,
    # and at risk + events + censored before each day add up to it.
    risk = browser.driver.execute_script(
        "return [...document.querySelectorAll('#km table tbody tr')]"
        ".map(r => [...r.querySelectorAll('td')].map(c => c.textContent))")
    at_risk, events, censored = ([int(v.replace(",", "")) for v in row] for row in risk)
    assert at_risk[0] == curve[0]["at_risk"]
    assert {a + e + c for a, e, c in zip(at_risk, events, censored, strict=True)} == {
        curve[0]["at_risk"]}


def test_a_v2_breakdown_draws_one_curve_per_group(store: Path, browser: Browser,
                                                  tmp_path: Path) -> None:
    from lifecycle.entrypoints.render.html import render
    from projections.loading import load_read_model

    day = date.fromisoformat(AS_OF)
    with _views(store) as views:
        model = load_read_model(views.conn)
        report = with_v2(views.report(day), model, day)
        breakdown = breakdown_with_v2(views.breakdown(day, "programme"), model, day)
        series = views.series(day)
    page = tmp_path / "v2-by-programme.html"
    page.write_text(render(report, breakdown=breakdown, series=series), encoding="utf-8")
    _, shown = check_page(browser, page, {"report": report, "breakdown": breakdown,
                                          "series": series}, expected_figures(report, series),
                          tmp_path / "v2-by-programme.png")
    rows = browser.driver.execute_script(
        "return [...document.querySelectorAll('#km table tbody th')].map(c => c.textContent)")
    assert rows == [f"{p}: {name}" for p in breakdown["groups"]
                    for name in ("at risk", "events", "censored")]
    legend = browser.driver.find_element("css selector", "#km svg").get_attribute("innerHTML")
    for programme in breakdown["groups"]:
        assert f">{programme}<" in legend
        assert f"breakdown/groups/{programme}/dropouts/survival_curve/0/at_risk" in shown


def test_as_at_and_programme_are_those_of_the_json_report(
        cli: Run, store: Path, browser: Browser, tmp_path: Path) -> None:
    stamp = _json(cli, "--db", store, "history",
                  _ids(cli, store)[0], "--json")[-1]["recorded_at"]
    moment = datetime.fromisoformat(stamp)
    args = ("--db", store, "report", "--as-of", AS_OF, "--as-at", stamp, "--programme",
            "PT-2025")
    report = _json(cli, *args, "--json")
    page = _html(cli, tmp_path / "pt.html", *args)
    with _views(store) as views:
        minutes = views.contact_minutes(date.fromisoformat(AS_OF), "PT-2025", moment)
        series = views.series(date.fromisoformat(AS_OF), "PT-2025", moment)
    check_page(browser, page, {"report": report, "minutes": minutes, "series": series},
               expected_figures(report, series), tmp_path / "pt.png")
    text = browser.driver.find_element("tag name", "body").text
    assert "programme PT-2025" in text and f"as recorded at {moment.isoformat()}" in text


def _ids(cli: Run, store: Path) -> list[str]:
    done = cli("--db", store, "duos", "--as-of", AS_OF, "--ids", "--limit", "3")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_two_renders_of_the_same_store_are_the_same_bytes(cli: Run, store: Path,
                                                          tmp_path: Path) -> None:
    first = _html(cli, tmp_path / "a.html", "--db", store, "report", "--as-of", AS_OF,
                  "--by", "programme").read_bytes()
    second = _html(cli, tmp_path / "b.html", "--db", store, "report", "--as-of", AS_OF,
                   "--by", "programme").read_bytes()
    assert first == second
    standard = cli("--db", store, "report", "--as-of", AS_OF, "--by", "programme",
                   "--html", "-")
    assert standard.returncode == 0 and standard.stdout.encode() == first


def test_the_page_loads_nothing_from_anywhere(cli: Run, store: Path, tmp_path: Path) -> None:
    """No URL to load from, no script: only in-page references (``#id``) and data."""
    page = _html(cli, tmp_path / "r.html", "--db", store, "report", "--as-of", AS_OF)
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert re.findall(r'(?:src|href)="(?!#)[^"]*"', text) == []
    assert re.findall(r"url\((?!#)", text) == []
    assert "http://www.w3.org/" in text  # only as XML namespace names, never fetched
    assert {u for u in re.findall(r"https?://[^\"' )]+", text)} <= {
        "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_the_browser_checks_catch_a_request_and_a_console_error(
        browser: Browser, tmp_path: Path) -> None:
    """The checks above can fail: a page that loads an image and logs an error."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><img src="http://127.0.0.1:9/x.png">'
                    '<script>console.error("boom")</script>', encoding="utf-8")
    visit = browser.open(page)
    assert "http://127.0.0.1:9/x.png" in visit.requests
    assert any("boom" in e["message"] for e in visit.console)


def test_unknown_programme_and_unwritable_file_are_usage_errors(
        cli: Run, store: Path, tmp_path: Path) -> None:
    unknown = cli("--db", store, "report", "--as-of", AS_OF, "--programme", "XX-1",
                  "--html", tmp_path / "x.html")
    assert unknown.returncode == 2 and "never opened" in unknown.stderr
    assert not (tmp_path / "x.html").exists()
    nowhere = cli("--db", store, "report", "--as-of", AS_OF, "--html",
                  tmp_path / "missing" / "x.html")
    assert nowhere.returncode == 2 and "cannot write" in nowhere.stderr
    both = cli("--db", store, "report", "--as-of", AS_OF, "--json", "--html",
               tmp_path / "y.html")
    assert both.returncode == 2 and not (tmp_path / "y.html").exists()


def _published_sources(store: Path, k: int, programme: str | None = None) -> dict[str, Any]:
    """The report and contact minutes published as one publication (as the text report
    of ``--publish`` does), and the series by the page's rules."""
    from projections.series import publish as publish_series

    day = date.fromisoformat(AS_OF)
    with _views(store) as views:
        series = views.series(day, programme)
        combined = views.report(day, programme, minutes=True, publish=True, threshold=k)
    shown_minutes = {"as_of": AS_OF, **combined.pop("contact_minutes")}
    n = combined["contact_frequency"]["contacts_per_30_days"]["n"]
    published_series, _ = publish_series(series, k, {
        "contacts_per_30_days.n": n, "minutes_per_30_days.n": n,
        "minutes_per_30_days.meeting_benchmark": shown_minutes["duos_meeting_benchmark"]})
    return {"report": combined, "minutes": shown_minutes, "series": published_series}


def _counts_shown(browser: Browser) -> list[tuple[str, str]]:
    return [(path, text) for path, kind, text in browser.driver.execute_script(
        "return [...document.querySelectorAll('[data-path]')]"
        ".map(e => [e.dataset.path, e.dataset.kind, e.textContent])") if kind == "count"]


def test_a_published_page_shows_no_small_count(cli: Run, store: Path, browser: Browser,
                                               tmp_path: Path) -> None:
    k = 10
    page = _html(cli, tmp_path / "published.html", "--db", store, "report", "--as-of",
                 AS_OF, "--by", "country", "--publish", "--threshold", k)
    sources = _published_sources(store, k)
    sources["breakdown"] = _json(cli, "--db", store, "report", "--as-of", AS_OF, "--by",
                                 "country", "--publish", "--threshold", k, "--json")
    figures = expected_figures(sources["report"], sources["series"])
    assert "states-over-time" not in figures
    check_page(browser, page, sources, figures, tmp_path / "published.png")
    counts = _counts_shown(browser)
    assert counts
    for path, text in counts:
        assert text == "suppressed" or text == "—" or int(text.replace(",", "")) == 0 \
            or int(text.replace(",", "")) >= k, (path, text)
    suppressed = [path for path, text in counts if text == "suppressed"]
    assert suppressed  # a 300-duo pilot by country has small cells
    body = browser.driver.find_element("tag name", "body").text
    assert f"published with threshold {k}" in body
    assert "left out of a published report" in body
    for path in sources["report"]["suppressed"][:5]:
        assert path in body


def test_a_published_v2_curve_stops_where_fewer_than_k_are_at_risk(
        store: Path, browser: Browser, tmp_path: Path) -> None:
    from lifecycle.entrypoints.render.html import render
    from projections.loading import load_read_model
    from projections.publish import publish

    k = 10
    day = date.fromisoformat(AS_OF)
    with _views(store) as views:
        full = with_v2(views.report(day), load_read_model(views.conn), day)
    report = publish(full, k)
    curve = report["dropouts"]["survival_curve"]
    assert 0 < len(curve) < len(full["dropouts"]["survival_curve"])
    assert min(row["at_risk"] for row in curve) >= k
    page = tmp_path / "published-v2.html"
    page.write_text(render(report), encoding="utf-8")
    check_page(browser, page, {"report": report}, expected_figures(report),
               tmp_path / "published-v2.png")
    drawn = browser.driver.find_element("css selector", "#km svg").get_attribute("innerHTML")
    assert "<path" in drawn
    at_risk = browser.driver.execute_script(
        "return [...document.querySelectorAll('#km table tbody tr:first-child td')]"
        ".map(c => c.textContent)")
    assert all(int(v.replace(",", "")) >= k for v in at_risk)


@pytest.mark.postgres
def test_a_page_of_a_postgresql_store_names_its_chain_head(
        cli: Run, postgres_url: str, stream: Any, tmp_path: Path) -> None:
    stream.base().duo("closed", "D-1").duo("active", "D-2", start="2025-02-03")
    imported = cli("--db", postgres_url, "import", stream.write(tmp_path / "in.jsonl"))
    assert imported.returncode == 0, imported.stderr
    page = cli("--db", postgres_url, "report", "--as-of", "2025-03-31", "--html", "-")
    assert page.returncode == 0, page.stderr
    digest = _json(cli, "--db", postgres_url, "audit", "digest", "--json")
    assert digest["head"] in page.stdout and f">{digest['position']}<" in page.stdout
    report = _json(cli, "--db", postgres_url, "report", "--as-of", "2025-03-31", "--json")
    assert (f'data-path="report/duos/total" data-kind="count">{report["duos"]["total"]}<'
            in page.stdout)
