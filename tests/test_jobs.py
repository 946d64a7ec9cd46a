"""Scheduled jobs: the interval evaluation in a persistent job store, and the debounced trigger."""

from __future__ import annotations

import threading
import time

from apscheduler.schedulers.background import BackgroundScheduler

from app.jobs import Debouncer, configure_scheduler


def test_interval_evaluation_is_scheduled_in_the_database_and_survives_a_restart(app, engine):
    settings = app.config["STEWARD"]
    first = configure_scheduler(BackgroundScheduler(timezone="UTC"), engine, settings)
    first.start(paused=True)
    job = first.get_job("evaluate-inventory")
    assert job.trigger.interval.total_seconds() == 15 * 60
    next_run = job.next_run_time
    first.shutdown(wait=False)

    second = BackgroundScheduler(timezone="UTC")
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    second.add_jobstore(SQLAlchemyJobStore(engine=engine), "default")
    second.start(paused=True)
    restored = second.get_job("evaluate-inventory")
    assert restored is not None and restored.next_run_time == next_run
    second.shutdown(wait=False)


def test_a_burst_of_requests_gives_one_call_after_the_burst():
    calls = []
    done = threading.Event()

    def record():
        calls.append(time.monotonic())
        done.set()

    debouncer = Debouncer(0.2, record)
    started = time.monotonic()
    for _ in range(10):
        debouncer.request()
        time.sleep(0.02)
    assert done.wait(5)
    time.sleep(0.3)
    assert len(calls) == 1
    assert calls[0] - started >= 0.2 + 0.18  # fired only after the burst went quiet


def test_flush_runs_a_pending_call_at_once():
    calls = []
    debouncer = Debouncer(60, lambda: calls.append(1))
    debouncer.request()
    debouncer.flush()
    assert calls == [1]
    debouncer.flush()
    assert calls == [1]
