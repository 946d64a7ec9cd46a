"""Scheduled jobs (the declared list), the scheduler that runs them, and the evaluation debouncer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.events import EVENT_SCHEDULER_START
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

REMINDER_INTERVAL_MINUTES = 60


@dataclass(frozen=True)
class JobSpec:
    """A job Steward always schedules: a stable id, the function to run, and its trigger."""

    id: str
    func: str
    trigger: object
    name: str


def declared_jobs(settings) -> list[JobSpec]:
    """Every job of the scheduler process, with triggers from settings."""
    return [
        JobSpec(
            id="evaluate-inventory",
            func="app.jobs:scheduled_evaluation",
            trigger=IntervalTrigger(minutes=settings.evaluation_interval_minutes),
            name=f"Evaluate the inventory every {settings.evaluation_interval_minutes} minutes",
        ),
        JobSpec(
            id="send-reminders",
            func="app.jobs:scheduled_reminders",
            # Hourly, so that the 1-day reminder goes out within the hour the last day begins.
            trigger=IntervalTrigger(minutes=REMINDER_INTERVAL_MINUTES),
            name="E-mail the owners of exceptions and attestations expiring in 30, 7 or 1 days, or expired",
        ),
    ]


def configure_scheduler(scheduler: BaseScheduler, engine, settings) -> BaseScheduler:
    """Give a scheduler the persistent job store in Steward's database and the declared jobs."""
    scheduler.add_jobstore(SQLAlchemyJobStore(engine=engine), "default")
    for job in declared_jobs(settings):
        # A run missed while the process was down runs once when it comes back (coalesced, no grace limit).
        scheduler.add_job(
            job.func,
            trigger=job.trigger,
            id=job.id,
            name=job.name,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=None,
            max_instances=1,
        )
    add_report_schedule_sync(scheduler, engine)
    for schedule_id in recover_interrupted_runs(engine):
        # Made again as soon as the scheduler runs: the interrupted run's reports were never kept.
        scheduler.add_job(
            REPORT_JOB_FUNC,
            args=[schedule_id],
            id=f"recover-{REPORT_JOB_PREFIX}{schedule_id}",
            name=f"Report schedule #{schedule_id}: the run interrupted when the scheduler last stopped",
            jobstore=VOLATILE_STORE,
            replace_existing=True,
            misfire_grace_time=None,
        )
    return scheduler


def recover_interrupted_runs(engine) -> list[int]:
    """Schedules whose last run was claimed and never finished (the process died): make them due again.

    Only one scheduler process runs (README), so at its start a run still marked "running" was cut
    off. Its claim is undone: last_run_at goes back to the last run that made reports (or to none),
    which makes the missed fire time due again, and the audit trail says so.
    """
    from sqlalchemy import func, select

    from app.audit import record_change
    from app.db import session_scope
    from app.models.reporting import Report, ReportSchedule

    recovered = []
    with session_scope(engine) as session:
        running = session.execute(select(ReportSchedule).where(ReportSchedule.last_status == "running"))
        for schedule in running.scalars().all():
            last_made = session.execute(
                select(func.max(Report.created_at)).where(Report.schedule_id == schedule.id)
            ).scalar_one()
            interrupted_at = schedule.last_run_at
            schedule.last_run_at = last_made
            schedule.last_status = "interrupted: the scheduler stopped during this run; making it again"
            record_change(
                session,
                actor="scheduler",
                action="report_schedule.recover",
                target=f"schedule #{schedule.id}",
                detail={"interrupted_run_started_at": interrupted_at.isoformat() if interrupted_at else None},
            )
            recovered.append(schedule.id)
    for schedule_id in recovered:
        log.warning("report schedule #%s: its last run was interrupted; it is made again now", schedule_id)
    return recovered


def scheduled_evaluation() -> None:
    """The interval evaluation, as the scheduler process runs it."""
    from app import create_app
    from app.catalog import get_catalog
    from app.db import get_engine, session_scope
    from app.evaluation import run_evaluation

    app = create_app()
    with session_scope(get_engine(app)) as session:
        summary = run_evaluation(
            session,
            catalog=get_catalog(app),
            settings=app.config["STEWARD"],
            trigger="schedule",
            actor="scheduler",
        )
    log.info("scheduled evaluation #%s: %s open findings", summary.run.id, summary.open_total)


def scheduled_reminders() -> None:
    """The hourly expiry reminders, as the scheduler process sends them (each reminder once, ever)."""
    from app import create_app
    from app.catalog import get_catalog
    from app.db import get_engine
    from app.reminders import send_due_reminders

    app = create_app()
    engine = get_engine(app)
    settings = app.config["STEWARD"]
    try:
        run = send_due_reminders(engine, settings=settings, catalog=get_catalog(app))
    finally:
        engine.dispose()
    if not run.is_smtp_configured and run.due:
        log.info(
            "%s reminders due; STEWARD_SMTP_HOST is not set, so they are on the dashboard only", len(run.due)
        )
    elif run.sent or run.failed:
        log.info(
            "reminders: %s sent in %s messages, %s deliveries failed",
            run.sent_count,
            len(run.sent),
            len(run.failed),
        )


REPORT_JOB_FUNC = "app.jobs:run_report_schedule"
REPORT_JOB_PREFIX = "report-schedule-"
SCHEDULE_SYNC_SECONDS = 60
VOLATILE_STORE = "volatile"


def add_report_schedule_sync(scheduler: BaseScheduler, engine) -> None:
    """Make the scheduler keep one job per row of report_schedule: at start, then every minute.

    Web workers only write rows; this process alone writes jobs, so however many workers serve
    edits, each schedule has one job in one scheduler.
    """
    scheduler.add_listener(lambda _event: sync_report_schedules(scheduler, engine), EVENT_SCHEDULER_START)
    # The sync job holds live objects, so it lives in memory; it is re-added at every start.
    scheduler.add_jobstore(MemoryJobStore(), VOLATILE_STORE)
    scheduler.add_job(
        sync_report_schedules,
        trigger=IntervalTrigger(seconds=SCHEDULE_SYNC_SECONDS),
        args=[scheduler, engine],
        id="sync-report-schedules",
        name="Pick up report schedules created, edited, paused or deleted in the UI or the CLI",
        jobstore=VOLATILE_STORE,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
    )


def sync_report_schedules(scheduler: BaseScheduler, engine) -> dict[str, int]:
    """Add, change, pause, resume or remove report jobs to match the report_schedule table.

    A job whose schedule is unchanged is left alone, so a run it missed while the process was
    down keeps its past next-run time and runs once (coalesced) when the scheduler starts.
    """
    from sqlalchemy import select

    from app.db import session_scope
    from app.models.reporting import ReportSchedule
    from app.reporting.schedules import ScheduleError, job_id, trigger_of

    with session_scope(engine) as session:
        schedules = session.execute(select(ReportSchedule)).scalars().all()
    counts = {"added": 0, "changed": 0, "paused": 0, "resumed": 0, "removed": 0}
    wanted = set()
    for schedule in schedules:
        try:
            trigger = trigger_of(schedule)
        except ScheduleError as exc:
            log.error("report schedule #%s cannot be scheduled: %s", schedule.id, exc)
            continue
        ident = job_id(schedule.id)
        wanted.add(ident)
        name = f"Report schedule #{schedule.id}: {schedule.name}"
        job = scheduler.get_job(ident, jobstore="default")
        if job is None or repr(job.trigger) != repr(trigger) or tuple(job.args) != (schedule.id,):
            paused = {"next_run_time": None} if schedule.is_paused else {}
            scheduler.add_job(
                REPORT_JOB_FUNC,
                trigger=trigger,
                args=[schedule.id],
                id=ident,
                name=name,
                jobstore="default",
                replace_existing=True,
                coalesce=True,
                misfire_grace_time=None,
                max_instances=1,
                **paused,
            )
            counts["added" if job is None else "changed"] += 1
            continue
        if job.name != name:
            scheduler.modify_job(ident, jobstore="default", name=name)
        if schedule.is_paused and job.next_run_time is not None:
            scheduler.pause_job(ident, jobstore="default")
            counts["paused"] += 1
        elif not schedule.is_paused and job.next_run_time is None:
            scheduler.resume_job(ident, jobstore="default")
            counts["resumed"] += 1
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id.startswith(REPORT_JOB_PREFIX) and job.id not in wanted:
            scheduler.remove_job(job.id, jobstore="default")
            counts["removed"] += 1
    if any(counts.values()):
        log.info("report schedules synced: %s", counts)
    return counts


def stored_next_run_times(engine) -> dict[str, datetime | None]:
    """Each job in the persistent job store with its next run (None when paused), read without a scheduler."""
    from sqlalchemy import MetaData, Table, inspect, select

    if not inspect(engine).has_table("apscheduler_jobs"):
        return {}
    table = Table("apscheduler_jobs", MetaData(), autoload_with=engine)
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.id, table.c.next_run_time)).all()
    return {ident: None if ts is None else datetime.fromtimestamp(ts, UTC) for ident, ts in rows}


def run_report_schedule(schedule_id: int) -> None:
    """A report schedule's run, as the scheduler process makes it: claim it, make the reports, e-mail them."""
    from app import create_app
    from app.audit import record_change
    from app.catalog import get_catalog
    from app.db import get_engine, session_scope
    from app.models.reporting import ReportSchedule
    from app.reporting.schedules import claim_schedule_run, run_schedule, send_reports

    app = create_app()
    engine = get_engine(app)
    settings = app.config["STEWARD"]
    now = datetime.now(UTC)
    actor = f"schedule #{schedule_id}"
    try:
        with session_scope(engine) as session:
            if not claim_schedule_run(session, schedule_id=schedule_id, now=now):
                log.info("report schedule #%s: no run due, or another process took it", schedule_id)
                return
        try:
            with session_scope(engine) as session:
                generated = run_schedule(
                    session, catalog=get_catalog(app), settings=settings, schedule_id=schedule_id, now=now
                )
                schedule = session.get(ReportSchedule, schedule_id)
                recipients = list(schedule.recipients) if schedule else []
                name = schedule.name if schedule else ""
        except Exception as exc:
            log.exception("report schedule #%s failed", schedule_id)
            with session_scope(engine) as session:
                schedule = session.get(ReportSchedule, schedule_id)
                if schedule is not None:
                    schedule.last_status = f"failed: {type(exc).__name__}: {exc}"[:500]
                record_change(session, actor=actor, action="report_schedule.fail", detail={"error": str(exc)})
            return
        if generated is None or not recipients:
            return
        try:
            send_reports(
                settings,
                recipients=recipients,
                reports=generated.reports,
                context=generated.context,
                subject=f"{settings.organisation}: evidence report ({name})",
            )
            outcome = f"; e-mailed to {', '.join(recipients)}"
        except Exception as exc:
            log.exception("report schedule #%s: e-mail failed", schedule_id)
            outcome = f"; e-mail to {', '.join(recipients)} failed: {type(exc).__name__}: {exc}"
        with session_scope(engine) as session:
            schedule = session.get(ReportSchedule, schedule_id)
            if schedule is not None:
                schedule.last_status = (schedule.last_status or "") + outcome
            record_change(
                session,
                actor=actor,
                action="report.email",
                target=", ".join(f"report #{r.id}" for r in generated.reports),
                detail={"recipients": recipients, "result": outcome.lstrip("; ")},
            )
    finally:
        engine.dispose()


class Debouncer:
    """Calls a function once after a burst of requests has been quiet for `delay` seconds."""

    def __init__(self, delay: float, func: Callable[[], None]):
        self.delay = delay
        self.func = func
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def request(self) -> None:
        """Ask for a call; requests arriving within the delay of each other are merged into one."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.func()
        except Exception:
            log.exception("debounced call failed")

    def flush(self) -> None:
        """Run a pending call now (used at shutdown and in tests)."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            self.func()


def _evaluate_for(app, trigger: str, actor: str) -> None:
    from app.catalog import get_catalog
    from app.db import get_engine, session_scope
    from app.evaluation import run_evaluation

    with app.app_context(), session_scope(get_engine(app)) as session:
        run_evaluation(
            session, catalog=get_catalog(app), settings=app.config["STEWARD"], trigger=trigger, actor=actor
        )


def request_evaluation(app, *, trigger: str, actor: str) -> None:
    """Ask for an evaluation after an inventory change; a burst of changes gives one run after the burst."""
    delay = app.config["STEWARD"].evaluation_debounce_seconds
    if delay <= 0:
        _evaluate_for(app, trigger, actor)
        return
    debouncer = app.extensions.get("steward.debouncer")
    if debouncer is None:
        debouncer = app.extensions["steward.debouncer"] = Debouncer(delay, lambda: None)
    # The newest request names the run: it is the change the burst ended with.
    debouncer.func = lambda: _evaluate_for(app, trigger, actor)
    debouncer.request()
