"""Finding metrics in the reports: a section of the PDF's executive summary and two workbook sheets."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from app.models.assessment import Finding, FindingEvent
from app.reporting.archive import report_path
from tests.reporting.conftest import make_reports


def rows(ws, header_row: int = 2) -> list[dict]:
    values = list(ws.iter_rows(min_row=header_row, values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:] if any(v is not None for v in row)]


def regress_one_finding(session, now: datetime) -> Finding:
    """Give one open finding a history: opened 20 days ago, resolved 15 days ago, reopened 5 days ago."""
    finding = session.execute(select(Finding).order_by(Finding.id).limit(1)).scalar_one()
    opened = session.execute(select(FindingEvent).where(FindingEvent.finding_id == finding.id)).scalar_one()
    opened.at = finding.first_seen_at = now - timedelta(days=20)
    for change, days in (("resolved", 15), ("reopened", 5)):
        session.add(
            FindingEvent(
                finding_id=finding.id, run_id=opened.run_id, at=now - timedelta(days=days), change=change
            )
        )
    finding.status, finding.reopened_count = "reopened", 1
    session.commit()
    return finding


def reports(app, session, now):
    generated = make_reports(app, session, formats=("pdf", "xlsx"), now=now)
    settings = app.config["STEWARD"]
    by_format = {r.format: report_path(settings, r) for r in generated.reports}
    pages = PdfReader(io.BytesIO(by_format["pdf"].read_bytes())).pages
    summary = " ".join(" ".join(page.extract_text().split()) for page in pages[:6])
    return load_workbook(by_format["xlsx"]), summary, generated.context


def test_the_reports_show_days_open_time_to_remediate_and_each_regression(inventory_app, session):
    now = datetime.now(UTC)
    finding = regress_one_finding(session, now)
    wb, summary, context = reports(inventory_app, session, now)
    assert context.metrics.regressions.count == 1
    assert context.metrics.regressions.mean_days == pytest.approx(10)
    assert context.metrics.remediation.count == 1 and context.metrics.remediation.mean_days == pytest.approx(
        5
    )

    assert "Finding metrics" in summary
    assert "1 remediation, taking 5.0 days on average." in summary
    assert (
        "1 regression in 1 finding, which had stayed clean for 10.0 days on average; 1 is open again now."
        in summary
    )

    regressions = rows(wb["Regressions"])
    assert [
        (r["Finding id"], r["Check id"], r["Status now"], r["Stayed clean (days)"]) for r in regressions
    ] == [(finding.id, finding.check_id, "reopened", 10.0)]
    metrics = rows(wb["Metrics"])
    remediation = {(r["By"], r["Group"]): r for r in metrics if r["Measure"] == "Time to remediate"}
    assert remediation[("all", "All remediated findings")]["Mean (days)"] == 5.0
    assert remediation[("severity", finding.severity)]["Findings"] == 1
    framework_rows = [r for r in metrics if r["Measure"] == "Time to remediate" and r["By"] == "framework"]
    assert {r["Group"] for r in framework_rows} == {f.name for f in context.frameworks}
    days_open = {r["Group"]: r for r in metrics if r["Measure"] == "Days open" and r["By"] == "all"}
    assert days_open["All open findings"]["Findings"] == context.metrics.open.count


def test_with_no_history_the_reports_say_nothing_was_remediated_or_regressed(inventory_app, session):
    wb, summary, context = reports(inventory_app, session, datetime.now(UTC))
    assert context.metrics.remediation.count == 0 and context.metrics.regressions.count == 0
    assert "No finding has been remediated yet." in summary
    assert "No finding has failed again after being resolved." in summary
    assert rows(wb["Regressions"]) == []
    open_rows = [r for r in rows(wb["Metrics"]) if r["Measure"] == "Days open" and r["By"] == "all"]
    assert open_rows[0]["Findings"] == context.metrics.open.count > 0
