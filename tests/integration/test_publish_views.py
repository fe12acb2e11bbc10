"""The Python API of publishing on a real SQLite store: ``Views.report`` and
``Views.breakdown`` with ``publish=True`` are :func:`projections.publish.publish` of what
they return unpublished (a breakdown against its unbroken report with contact minutes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from lifecycle.application.importer import Importer
from lifecycle.bootstrap import open_engine, open_views
from projections.facade import Views
from projections.loading import load_report_rows
from projections.publish import PublishError, publish
from projections.report import at_risk

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "worked.jsonl"
"""The project's own worked example (tests/examples/)."""
DAY = date(2025, 9, 30)


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Views]:
    db = str(tmp_path_factory.mktemp("publish") / "pilot.db")
    engine = open_engine(db, today=lambda: date(2026, 1, 1))
    with EXAMPLE.open("rb") as lines:
        assert Importer(engine).run(lines).rejected == []
    opened = open_views(engine, db)
    yield opened
    opened.close()
    engine.shutdown()


@pytest.mark.parametrize("programme", [None, "FI-2025"])
def test_a_published_report_is_the_report_published(views: Views,
                                                    programme: str | None) -> None:
    plain = views.report(DAY, programme)
    risks = at_risk(load_report_rows(views.conn, DAY, programme), DAY, programme)
    assert set(risks) == {"retention.in_service"}
    for k in (3, 10):
        published = views.report(DAY, programme, publish=True, threshold=k)
        assert json.dumps(published) == json.dumps(publish(plain, k, at_risk=risks))


def test_the_report_with_its_minutes_publishes_them_as_one_report(views: Views) -> None:
    minutes = views.contact_minutes(DAY)
    del minutes["as_of"]
    both = {**views.report(DAY), "contact_minutes": minutes}
    assert views.report(DAY, minutes=True) == both
    risks = at_risk(load_report_rows(views.conn, DAY), DAY)
    assert json.dumps(views.report(DAY, minutes=True, publish=True, threshold=3)) == (
        json.dumps(publish(both, 3, at_risk=risks)))


@pytest.mark.parametrize("by", ["programme", "site", "country", "month", "outcome"])
def test_a_published_breakdown_is_checked_against_the_unbroken_report(
        views: Views, by: str) -> None:
    plain = views.breakdown(DAY, by)
    overall = views.report(DAY, minutes=True)
    rows = load_report_rows(views.conn, DAY, labels=True)
    published = views.breakdown(DAY, by, publish=True, threshold=3)
    assert json.dumps(published) == json.dumps(publish(
        plain, 3, overall=overall, at_risk=at_risk(rows, DAY, by=by),  # type: ignore[arg-type]
        overall_at_risk=at_risk(rows, DAY)))


def test_a_threshold_below_three_is_refused_before_any_work(views: Views) -> None:
    with pytest.raises(PublishError, match="at least 3"):
        views.report(DAY, publish=True, threshold=2)
    with pytest.raises(PublishError, match="at least 3"):
        views.breakdown(DAY, "site", publish=True, threshold=1)
