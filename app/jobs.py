"""Scheduled jobs (the declared list), the scheduler that runs them, and the evaluation debouncer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)


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
        )
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
    return scheduler


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
