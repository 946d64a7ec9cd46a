"""Report schedules: presets and time zones, jobs in the persistent store, missed runs, retention, e-mail."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import select

from app.catalog import get_catalog
from app.jobs import configure_scheduler, run_report_schedule, stored_next_run_times, sync_report_schedules
from app.models.reporting import Report, ReportSchedule
from app.models.users import AuditEntry
from app.reporting.archive import report_path
from app.reporting.context import Scope
from app.reporting.schedules import (
    ScheduleError,
    claim_schedule_run,
    create_schedule,
    delete_schedule,
    job_id,
    next_run_times,
    run_schedule,
    set_schedule_paused,
    trigger_of,
    update_schedule,
)
from tests.conftest import database_environment
from tests.reporting.conftest import NOW, StoreOnlyScheduler

AFTER = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def schedule_of(preset: str, timezone: str, cron: str | None = None) -> ReportSchedule:
    return ReportSchedule(
        name="test",
        preset=preset,
        cron=cron,
        timezone=timezone,
        created_by="t",
        created_at=AFTER,
        updated_at=AFTER,
    )


def add(app, session, **overrides) -> ReportSchedule:
    values = {
        "name": "Quarterly evidence",
        "preset": "quarterly",
        "timezone": "Europe/Berlin",
        "formats": ("pdf",),
    }
    schedule = create_schedule(session, catalog=get_catalog(app), actor="admin", **{**values, **overrides})
    session.commit()
    return schedule


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        (
            "Europe/Berlin",
            [
                "2027-01-01T06:00:00+01:00",
                "2027-04-01T06:00:00+02:00",
                "2027-07-01T06:00:00+02:00",
                "2027-10-01T06:00:00+02:00",
                "2028-01-01T06:00:00+01:00",
            ],
        ),
        (
            "America/New_York",
            [
                "2027-01-01T06:00:00-05:00",
                "2027-04-01T06:00:00-04:00",
                "2027-07-01T06:00:00-04:00",
                "2027-10-01T06:00:00-04:00",
                "2028-01-01T06:00:00-05:00",
            ],
        ),
    ],
)
def test_quarterly_runs_at_six_local_time_across_the_year_end_and_daylight_saving(timezone, expected):
    times = next_run_times(schedule_of("quarterly", timezone), after=AFTER, count=5)
    assert [t.isoformat() for t in times] == expected
    # the same local hour is a different UTC hour in winter and in summer
    assert times[0].astimezone(UTC).hour != times[1].astimezone(UTC).hour


def test_weekly_and_monthly_keep_local_time_over_the_spring_change():
    weekly = next_run_times(
        schedule_of("weekly", "Europe/Berlin"), after=datetime(2027, 3, 20, tzinfo=UTC), count=2
    )
    assert [t.isoformat() for t in weekly] == ["2027-03-22T06:00:00+01:00", "2027-03-29T06:00:00+02:00"]
    monthly = next_run_times(
        schedule_of("monthly", "America/New_York"), after=datetime(2027, 2, 15, tzinfo=UTC), count=2
    )
    assert [t.isoformat() for t in monthly] == ["2027-03-01T06:00:00-05:00", "2027-04-01T06:00:00-04:00"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "30 7 * * 1-5",
            ["2026-11-30T07:30:00+00:00", "2026-12-01T07:30:00+00:00"],
        ),  # weekdays: Monday first
        (
            "0 6 * * 0",
            ["2026-11-29T06:00:00+00:00", "2026-12-06T06:00:00+00:00"],
        ),  # 0 is Sunday, as in crontab
        ("0 6 * * 7", ["2026-11-29T06:00:00+00:00", "2026-12-06T06:00:00+00:00"]),  # and so is 7
        ("0 6 1 */3 *", ["2027-01-01T06:00:00+00:00", "2027-04-01T06:00:00+00:00"]),
    ],
)
def test_a_cron_expression_reads_as_crontab_does(expression, expected):
    # 2026-11-27 is a Friday
    schedule = schedule_of("cron", "UTC", expression)
    times = next_run_times(schedule, after=datetime(2026, 11, 27, 8, tzinfo=UTC), count=2)
    assert [t.isoformat() for t in times] == expected


def test_a_paused_schedule_has_no_next_run():
    schedule = schedule_of("quarterly", "UTC")
    schedule.is_paused = True
    assert next_run_times(schedule, after=AFTER) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone: 'Mars/Olympus_Mons' is not an IANA time zone"),
        ({"timezone": "../../etc/passwd"}, "timezone: "),
        (
            {"preset": "cron", "cron": "61 * * * *"},
            "cron: '61 \\* \\* \\* \\*' is not a valid cron expression",
        ),
        ({"preset": "cron", "cron": "0 6"}, "cron: '0 6' is not five fields"),
        ({"preset": "yearly"}, "preset: 'yearly' is not one of quarterly, monthly, weekly, cron"),
        ({"retention": 0}, "retention: expected 1 to 100"),
        ({"recipients": "grc-lead, auditor@example.org"}, "recipients: grc-lead not an e-mail address"),
        ({"formats": ()}, "formats: none chosen"),
        ({"scope": Scope(frameworks=("iso-42001",))}, "frameworks: iso-42001 not in the catalog"),
        ({"name": "  "}, "name: expected 1 to 200 characters"),
    ],
)
def test_a_schedule_that_cannot_run_is_refused_with_the_reason(app, session, overrides, message):
    with pytest.raises(ScheduleError, match=message):
        add(app, session, **overrides)
    session.rollback()
    assert session.execute(select(ReportSchedule)).first() is None


def test_create_edit_pause_and_delete_are_audited(app, session):
    schedule = add(app, session, recipients="grc-lead@example.org; auditor@example.org")
    assert schedule.recipients == ["grc-lead@example.org", "auditor@example.org"]
    update_schedule(session, catalog=get_catalog(app), schedule_id=schedule.id, actor="admin", retention=4)
    update_schedule(session, catalog=get_catalog(app), schedule_id=schedule.id, actor="admin", retention=4)
    set_schedule_paused(session, schedule_id=schedule.id, is_paused=True, actor="admin")
    set_schedule_paused(session, schedule_id=schedule.id, is_paused=False, actor="admin")
    delete_schedule(session, schedule_id=schedule.id, actor="admin")
    session.commit()
    actions = session.execute(
        select(AuditEntry.action, AuditEntry.detail)
        .where(AuditEntry.action.like("report_schedule.%"))
        .order_by(AuditEntry.id)
    ).all()
    assert [a for a, _ in actions] == [
        "report_schedule.create",
        "report_schedule.update",  # the second, identical edit changed nothing and is not recorded
        "report_schedule.pause",
        "report_schedule.resume",
        "report_schedule.delete",
    ]
    assert actions[1][1] == {"retention": 4}
    with pytest.raises(ScheduleError, match="no such schedule"):
        set_schedule_paused(session, schedule_id=schedule.id, is_paused=True, actor="admin")


def scheduler_for(app, engine, scheduler=None) -> BaseScheduler:
    scheduler = scheduler or StoreOnlyScheduler(timezone="UTC")
    return configure_scheduler(scheduler, engine, app.config["STEWARD"])


def test_each_schedule_is_one_job_in_the_persistent_store(app, engine, session):
    schedule = add(app, session)
    paused = add(app, session, name="Paused one")
    set_schedule_paused(session, schedule_id=paused.id, is_paused=True, actor="admin")
    session.commit()
    scheduler = scheduler_for(app, engine)
    scheduler.start(paused=True)
    try:
        job = scheduler.get_job(job_id(schedule.id))
        assert job.id == f"report-schedule-{schedule.id}"
        assert job.func_ref == "app.jobs:run_report_schedule" and job.args == (schedule.id,)
        assert job.coalesce is True and job.misfire_grace_time is None and job.max_instances == 1
        assert job.next_run_time == next_run_times(schedule, after=datetime.now(UTC))[0]
        assert scheduler.get_job(job_id(paused.id)).next_run_time is None
    finally:
        scheduler.shutdown(wait=False)
    stored = stored_next_run_times(engine)
    assert stored[job_id(schedule.id)] == job.next_run_time and stored[job_id(paused.id)] is None


def test_edits_reach_the_job_and_an_unchanged_schedule_keeps_its_next_run(app, engine, session):
    catalog = get_catalog(app)
    edited, untouched, deleted = (add(app, session, name=n) for n in ("edited", "untouched", "deleted"))
    scheduler = scheduler_for(app, engine)
    scheduler.start(paused=True)
    try:
        missed = datetime(2026, 10, 1, 4, 0, tzinfo=UTC)
        scheduler.modify_job(job_id(untouched.id), next_run_time=missed)
        update_schedule(
            session, catalog=catalog, schedule_id=edited.id, actor="a", preset="weekly", timezone="UTC"
        )
        delete_schedule(session, schedule_id=deleted.id, actor="a")
        session.commit()
        counts = sync_report_schedules(scheduler, engine)
        assert counts == {"added": 0, "changed": 1, "paused": 0, "resumed": 0, "removed": 1}
        assert repr(scheduler.get_job(job_id(edited.id)).trigger) == repr(trigger_of(edited))
        assert scheduler.get_job(job_id(untouched.id)).next_run_time == missed
        assert scheduler.get_job(job_id(deleted.id)) is None

        set_schedule_paused(session, schedule_id=untouched.id, is_paused=True, actor="a")
        session.commit()
        assert sync_report_schedules(scheduler, engine)["paused"] == 1
        assert scheduler.get_job(job_id(untouched.id)).next_run_time is None
        set_schedule_paused(session, schedule_id=untouched.id, is_paused=False, actor="a")
        session.commit()
        assert sync_report_schedules(scheduler, engine)["resumed"] == 1
        assert scheduler.get_job(job_id(untouched.id)).next_run_time > datetime.now(UTC)
        assert sync_report_schedules(scheduler, engine) == dict.fromkeys(counts, 0)
    finally:
        scheduler.shutdown(wait=False)


@pytest.fixture
def job_environment(monkeypatch, settings):
    """The scheduler process's environment: the job builds its app from STEWARD_* variables."""
    for name, value in database_environment(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STEWARD_ORGANISATION", "Acme Robotics GmbH")


def test_a_run_missed_while_the_scheduler_was_down_is_made_once_on_return(
    inventory_app, engine, session, job_environment
):
    created = datetime.now(UTC) - timedelta(days=200)
    schedule = add(inventory_app, session, formats=("pdf", "xlsx"), now=created)
    trigger = trigger_of(schedule)
    first_missed = trigger.get_next_fire_time(None, created)
    second_missed = trigger.get_next_fire_time(first_missed, first_missed)
    assert second_missed < datetime.now(UTC)  # two quarterly runs fell while the scheduler was down

    before = scheduler_for(inventory_app, engine)
    before.start(paused=True)
    before.modify_job(job_id(schedule.id), next_run_time=first_missed)
    before.shutdown(wait=False)

    events = []
    done = threading.Event()

    def record(event):
        if event.job_id == job_id(schedule.id):
            events.append(event)
            done.set()

    after = scheduler_for(inventory_app, engine, BackgroundScheduler(timezone="UTC"))
    after.add_listener(record, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    after.start()
    try:
        assert done.wait(180), "the missed run was not made"
    finally:
        after.shutdown(wait=True)
    assert len(events) == 1 and events[0].exception is None
    assert events[0].scheduled_run_time == second_missed  # both missed runs, coalesced into the latest
    session.expire_all()
    reports = session.execute(select(Report).where(Report.schedule_id == schedule.id)).scalars().all()
    assert sorted(r.format for r in reports) == ["pdf", "xlsx"]
    assert all(r.made_by == f"schedule #{schedule.id} (Quarterly evidence)" for r in reports)
    assert stored_next_run_times(engine)[job_id(schedule.id)] > datetime.now(UTC)
    assert session.get(ReportSchedule, schedule.id).last_status.startswith("made report #")


def test_a_due_run_is_claimed_by_one_process_only(inventory_app, engine, session):
    from app.db import session_scope

    due = add(inventory_app, session, now=datetime.now(UTC) - timedelta(days=100))
    not_yet = add(inventory_app, session, name="new")
    with session_scope(engine) as first, session_scope(engine) as second:
        assert claim_schedule_run(first, schedule_id=due.id) is True
        first.commit()
        assert claim_schedule_run(second, schedule_id=due.id) is False
    with session_scope(engine) as other:
        assert claim_schedule_run(other, schedule_id=not_yet.id) is False


def test_a_job_with_no_run_due_makes_nothing(inventory_app, session, job_environment):
    schedule = add(inventory_app, session)
    run_report_schedule(schedule.id)
    session.expire_all()
    assert session.execute(select(Report)).first() is None
    assert session.get(ReportSchedule, schedule.id).last_run_at is None


def test_each_run_keeps_only_the_schedules_last_n_reports(inventory_app, session):
    schedule = add(inventory_app, session, formats=("xlsx",), retention=2)
    settings = inventory_app.config["STEWARD"]
    made = []
    for quarter in range(4):
        generated = run_schedule(
            session,
            catalog=get_catalog(inventory_app),
            settings=settings,
            schedule_id=schedule.id,
            now=NOW + timedelta(days=91 * quarter),
        )
        session.commit()
        made.append(generated.reports[0].id)
    kept = session.execute(select(Report.id).where(Report.schedule_id == schedule.id)).scalars().all()
    assert sorted(kept) == made[-2:]
    assert len(list((report_path(settings, session.get(Report, kept[0]))).parent.iterdir())) == 2


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(monkeypatch):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("STEWARD_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("STEWARD_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("STEWARD_SMTP_FROM", "steward@acme.example")
    yield inbox
    controller.stop()


def test_scheduled_reports_are_emailed_to_the_recipients(
    inventory_app, session, job_environment, smtp_server
):
    schedule = add(
        inventory_app,
        session,
        formats=("pdf", "xlsx"),
        recipients="grc-lead@acme.example, auditor@acme.example",
        now=datetime.now(UTC) - timedelta(days=100),
    )
    run_report_schedule(schedule.id)
    assert len(smtp_server.messages) == 1
    envelope = smtp_server.messages[0]
    assert envelope.mail_from == "steward@acme.example"
    assert envelope.rcpt_tos == ["grc-lead@acme.example", "auditor@acme.example"]
    message = message_from_bytes(envelope.content, policy=default_policy)
    assert message["Subject"] == "Acme Robotics GmbH: evidence report (Quarterly evidence)"
    session.expire_all()
    reports = session.execute(select(Report).order_by(Report.id)).scalars().all()
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    settings = inventory_app.config["STEWARD"]
    assert sorted(attachments) == sorted(
        f"steward-evidence-{r.created_at:%Y-%m-%d}-report{r.id}.{r.format}" for r in reports
    )
    for report in reports:
        name = f"steward-evidence-{report.created_at:%Y-%m-%d}-report{report.id}.{report.format}"
        assert attachments[name] == report_path(settings, report).read_bytes()
        assert report.sha256 in message.get_body(("plain",)).get_content()
    assert (
        "e-mailed to grc-lead@acme.example, auditor@acme.example"
        in session.get(ReportSchedule, schedule.id).last_status
    )


def test_a_failed_delivery_keeps_the_reports_and_says_so(
    inventory_app, session, job_environment, monkeypatch
):
    monkeypatch.setenv("STEWARD_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("STEWARD_SMTP_PORT", str(free_port()))  # nothing listens there
    schedule = add(
        inventory_app,
        session,
        recipients="grc-lead@acme.example",
        now=datetime.now(UTC) - timedelta(days=100),
    )
    run_report_schedule(schedule.id)
    session.expire_all()
    assert len(session.execute(select(Report)).all()) == 1
    status = session.get(ReportSchedule, schedule.id).last_status
    assert "e-mail to grc-lead@acme.example failed: ConnectionRefusedError" in status
    audit = session.execute(select(AuditEntry).where(AuditEntry.action == "report.email")).scalar_one()
    assert "failed" in audit.detail["result"]
