"""Report pages: the archive, downloads by id, generating now, and schedules managed by admins."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select

from app import create_app
from app.db import get_engine, session_scope
from app.jobs import configure_scheduler
from app.models.reporting import Report, ReportSchedule
from app.reporting.archive import MEDIA_TYPES, report_path
from tests.reporting.conftest import StoreOnlyScheduler
from tests.views.conftest import csrf_token, make_client


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def generate(client, **form):
    data = {"csrf_token": csrf_token(client, "/reports/"), "format": ["pdf", "xlsx"], **form}
    return client.post("/reports/", data=data)


def reports(app) -> list[Report]:
    with session_scope(get_engine(app)) as session:
        return session.execute(select(Report).order_by(Report.id)).scalars().all()


def schedules(app) -> list[ReportSchedule]:
    with session_scope(get_engine(app)) as session:
        return session.execute(select(ReportSchedule).order_by(ReportSchedule.id)).scalars().all()


def test_reports_link_in_the_navigation(viewer):
    assert '<a href="/reports/" class="on">Reports</a>' in page(viewer, "/reports/")
    assert '<a href="/reports/" class="">Reports</a>' in page(viewer, "/findings")


def test_viewer_sees_the_archive_but_cannot_generate(viewer):
    html = page(viewer, "/reports/")
    assert "Evidence reports" in html and "No report has been generated yet." in html
    assert "Generate a report now" not in html and "Schedules</a>" not in html
    assert viewer.post("/reports/", data={"csrf_token": csrf_token(viewer, "/reports/")}).status_code == 403


def test_analyst_generates_both_formats_and_downloads_them_by_id(analyst, seeded_app):
    response = generate(analyst)
    assert response.status_code == 302
    made = reports(seeded_app)
    assert [r.format for r in made] == ["pdf", "xlsx"] and all(r.made_by == "analyst" for r in made)
    html = page(analyst, "/reports/")
    assert re.search(r"Report #1 \(pdf\), #2 \(xlsx\) generated from evaluation #\d+", html)
    for report in made:
        assert f'href="/reports/{report.id}/download"' in html
        with analyst.get(f"/reports/{report.id}/download") as download:
            assert download.status_code == 200
            assert hashlib.sha256(download.data).hexdigest() == report.sha256
            disposition = download.headers["Content-Disposition"]
            assert (
                disposition.startswith("attachment;") and f"report{report.id}.{report.format}" in disposition
            )
            assert download.mimetype == MEDIA_TYPES[report.format]


def test_generate_with_a_scope_and_without_a_format(analyst, seeded_app):
    response = generate(analyst, format=[], environment=["production"])
    assert response.status_code == 302
    assert "Not generated: formats: none chosen" in page(analyst, "/reports/")
    assert reports(seeded_app) == []
    generate(analyst, format=["xlsx"], environment=["production"])
    assert reports(seeded_app)[0].scope["environments"] == ["production"]


def test_a_report_whose_file_changed_is_not_sent(analyst, seeded_app):
    generate(analyst, format=["pdf"])
    report = reports(seeded_app)[0]
    report_path(seeded_app.config["STEWARD"], report).write_bytes(b"%PDF-1.7 forged")
    response = analyst.get(f"/reports/{report.id}/download")
    assert response.status_code == 302
    assert "no longer matches the SHA-256 recorded" in page(analyst, "/reports/")


@pytest.mark.parametrize(
    "path",
    ["/reports/99/download", "/reports/..%2f..%2fsteward.db/download", "/reports/secret_key/download"],
)
def test_downloads_are_by_report_id_only(viewer, path):
    assert viewer.get(path).status_code == 404


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("analyst", 403), ("admin", 200)])
def test_schedules_are_for_admins(seeded_app, role, status):
    client = make_client(seeded_app, role)
    assert client.get("/reports/schedules").status_code == status


def create_schedule(client, **form):
    data = {
        "csrf_token": csrf_token(client, "/reports/schedules"),
        "name": "Quarterly evidence",
        "preset": "quarterly",
        "timezone": "Europe/Berlin",
        "format": ["pdf", "xlsx"],
        "retention": "8",
        "recipients": "",
        **form,
    }
    return client.post("/reports/schedules", data=data)


def test_admin_creates_a_quarterly_schedule_and_sees_its_next_runs(admin, seeded_app):
    assert create_schedule(admin, recipients="grc-lead@example.org").status_code == 302
    html = page(admin, "/reports/schedules")
    assert "Schedule “Quarterly evidence” saved." in html
    assert "1 January, April, July and October at 06:00 (Europe/Berlin)" in html
    assert re.search(r"20\d\d-(01|04|07|10)-01 06:00 CES?T", html)
    assert "Not yet picked up by a scheduler: is the scheduler (steward scheduler) running?" in html
    assert "grc-lead@example.org" in html
    (schedule,) = schedules(seeded_app)
    assert schedule.created_by == "admin" and schedule.formats == ["pdf", "xlsx"]


def test_a_bad_schedule_is_refused_and_nothing_saved(admin, seeded_app):
    create_schedule(admin, preset="cron", cron="sometimes")
    assert "Not saved: cron: &#39;sometimes&#39; is not five fields" in page(admin, "/reports/schedules")
    create_schedule(admin, timezone="Atlantis/Capital")
    assert "timezone: &#39;Atlantis/Capital&#39; is not an IANA time zone" in page(
        admin, "/reports/schedules"
    )
    assert schedules(seeded_app) == []


def test_admin_edits_pauses_resumes_and_deletes_a_schedule(admin, seeded_app):
    create_schedule(admin)
    (schedule,) = schedules(seeded_app)
    form = page(admin, f"/reports/schedules/{schedule.id}")
    assert 'value="Quarterly evidence"' in form and 'value="Europe/Berlin"' in form
    token = csrf_token(admin, f"/reports/schedules/{schedule.id}")
    response = admin.post(
        f"/reports/schedules/{schedule.id}",
        data={
            "csrf_token": token,
            "name": "Weekly for the board",
            "preset": "cron",
            "cron": "0 7 * * 1",
            "timezone": "America/New_York",
            "format": ["pdf"],
            "retention": "3",
            "recipients": "",
        },
    )
    assert response.status_code == 302
    (schedule,) = schedules(seeded_app)
    assert (
        schedule.name,
        schedule.preset,
        schedule.cron,
        schedule.timezone,
        schedule.formats,
        schedule.retention,
    ) == (
        "Weekly for the board",
        "cron",
        "0 7 * * 1",
        "America/New_York",
        ["pdf"],
        3,
    )
    admin.post(f"/reports/schedules/{schedule.id}/pause", data={"csrf_token": token})
    assert schedules(seeded_app)[0].is_paused
    assert "paused</span>" in page(admin, "/reports/schedules")
    admin.post(f"/reports/schedules/{schedule.id}/resume", data={"csrf_token": token})
    assert not schedules(seeded_app)[0].is_paused
    admin.post(f"/reports/schedules/{schedule.id}/delete", data={"csrf_token": token})
    assert schedules(seeded_app) == []
    assert (
        admin.post(f"/reports/schedules/{schedule.id}/delete", data={"csrf_token": token}).status_code == 404
    )


def test_report_pages_have_no_inline_styles_or_scripts(admin):
    create_schedule(admin)
    for path in ("/reports/", "/reports/schedules", "/reports/schedules/1"):
        html = page(admin, path)
        assert "style=" not in html and "<script" not in html, path


def test_many_web_workers_edit_schedules_but_only_the_scheduler_makes_jobs(seeded_app, settings):
    """Several workers (apps) handle schedule edits; none starts a scheduler or writes a job."""
    workers = [seeded_app, create_app(settings), create_app(settings)]
    clients = [make_client(app, "admin") for app in workers]
    threads_before = {t.name for t in threading.enumerate()}
    create_schedule(clients[0])
    (schedule,) = schedules(seeded_app)
    for n, client in enumerate(clients[1:], start=1):
        token = csrf_token(client, f"/reports/schedules/{schedule.id}")
        client.post(
            f"/reports/schedules/{schedule.id}",
            data={
                "csrf_token": token,
                "name": f"edited by worker {n}",
                "preset": "monthly",
                "timezone": "UTC",
                "format": ["pdf"],
                "retention": "2",
            },
        )
        client.post(f"/reports/schedules/{schedule.id}/pause", data={"csrf_token": token})
        client.post(f"/reports/schedules/{schedule.id}/resume", data={"csrf_token": token})
    assert schedules(seeded_app)[0].name == "edited by worker 2"
    new_threads = {t.name for t in threading.enumerate()} - threads_before
    assert not any("APScheduler" in name for name in new_threads)
    for app in workers:
        assert not any("apscheduler" in str(type(value)).lower() for value in app.extensions.values())
    assert not inspect(get_engine(seeded_app)).has_table("apscheduler_jobs")  # no worker wrote a job

    scheduler = configure_scheduler(
        StoreOnlyScheduler(timezone="UTC"), get_engine(seeded_app), seeded_app.config["STEWARD"]
    )
    scheduler.start(paused=True)
    try:
        report_jobs = [j for j in scheduler.get_jobs() if j.id.startswith("report-schedule-")]
        assert [(j.id, j.name) for j in report_jobs] == [
            (f"report-schedule-{schedule.id}", f"Report schedule #{schedule.id}: edited by worker 2")
        ]
        assert str(report_jobs[0].trigger) == "cron[day='1', hour='6', minute='0']"
    finally:
        scheduler.shutdown(wait=False)


def test_the_page_warns_when_a_due_run_was_not_made(admin, seeded_app):
    """A next run in the job store that has long passed means no scheduler process is running."""
    create_schedule(admin)
    (schedule,) = schedules(seeded_app)
    scheduler = configure_scheduler(
        StoreOnlyScheduler(timezone="UTC"), get_engine(seeded_app), seeded_app.config["STEWARD"]
    )
    scheduler.start(paused=True)
    assert "picked up" not in page(admin, "/reports/schedules")
    scheduler.modify_job(f"report-schedule-{schedule.id}", next_run_time=datetime(2026, 10, 1, 4, tzinfo=UTC))
    scheduler.shutdown(wait=False)
    html = page(admin, "/reports/schedules")
    assert (
        "Due since 2026-10-01 04:00 UTC and not made: is the scheduler (steward scheduler) running?" in html
    )
