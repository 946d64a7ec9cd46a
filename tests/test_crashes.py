"""kill -9 in the middle of an import, an evaluation, a report and a scheduled run.

After each, the database is consistent (SQLite's integrity check; PostgreSQL rolls back what the
dead process had not committed), no import is half applied, no report is listed that is not
complete, and once restarted the work is done and a scheduled run that was cut off is made.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.db import get_engine, session_scope
from app.models.assessment import EvaluationRun, Finding
from app.models.inventory import Agent, ImportRecord
from app.models.reporting import Report, ReportSchedule
from app.models.users import AuditEntry
from app.reporting.archive import reports_dir, verify_report
from tests.conftest import database_environment

BENCH = Path(__file__).resolve().parents[1] / "bench"
AGENTS = 200


@pytest.fixture(scope="module")
def organisation(tmp_path_factory) -> Path:
    """A synthetic organisation big enough that each operation takes a while (bench/generate.py)."""
    sys.path.insert(0, str(BENCH))
    import generate

    root = tmp_path_factory.mktemp("crash-org") / "org"
    generate.generate(root, agents=AGENTS, events=False)
    return root


def _start(app, *args, prelude: str = "", extra_env: dict | None = None) -> subprocess.Popen:
    """`steward ARGS` in its own process; prelude is Python run first (a test's crash point)."""
    settings = app.config["STEWARD"]
    env = {**os.environ, **database_environment(settings), "STEWARD_ACTOR": "crash", **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, "-c", f"{prelude}\nfrom app.cli import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _run(app, *args) -> str:
    process = _start(app, *args)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    return output


def _writing(app):
    """A probe: whether another process is inside a write transaction it has not committed yet."""
    engine = get_engine(app)
    settings = app.config["STEWARD"]
    if settings.database_url:

        def probe() -> bool:
            with engine.connect() as connection:
                return bool(
                    connection.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                        )
                    ).scalar_one()
                )

        return probe
    path = Path(settings.instance_path) / "steward.db"

    def probe() -> bool:
        # The writer holds SQLite's write lock from its BEGIN IMMEDIATE to its commit: try to take it.
        connection = sqlite3.connect(path, timeout=0)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
            return False
        except sqlite3.OperationalError as error:
            if "locked" in str(error):
                return True
            raise
        finally:
            connection.close()

    return probe


def _kill_when(process: subprocess.Popen, condition, timeout: float = 300) -> None:
    """SIGKILL the process as soon as the condition holds; fail if it finished first."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"finished before the crash point:\n{process.stdout.read()}"
            if condition():
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                return
            time.sleep(0.01)
        process.kill()
        process.wait(timeout=30)
        raise AssertionError("the crash point never came")
    finally:
        process.stdout.close()  # on every path: an unclosed pipe would fail a later test of this worker


def _assert_database_consistent(app) -> None:
    engine = get_engine(app)
    engine.dispose()  # a new connection, as a restarted process would open
    if not app.config["STEWARD"].database_url:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def _count(app, model) -> int:
    with session_scope(get_engine(app)) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_an_import_killed_mid_write_leaves_nothing_of_itself(app, organisation):
    process = _start(app, "import", str(organisation))
    _kill_when(process, _writing(app))
    _assert_database_consistent(app)
    assert (_count(app, Agent), _count(app, ImportRecord)) == (0, 0)
    # Restarted, the same import applies whole.
    _run(app, "import", str(organisation))
    assert (_count(app, Agent), _count(app, ImportRecord)) == (AGENTS, 1)


def test_an_evaluation_killed_mid_write_leaves_the_last_complete_one(app, organisation):
    _run(app, "import", str(organisation))
    before = _count(app, EvaluationRun), _count(app, Finding)
    assert before[0] == 1 and before[1] > 0  # the import evaluated once
    with session_scope(get_engine(app)) as session:  # a change, so that the next run has work to write
        session.execute(Agent.__table__.update().values(owner=None))
    process = _start(app, "evaluate")
    _kill_when(process, _writing(app))
    _assert_database_consistent(app)
    assert (_count(app, EvaluationRun), _count(app, Finding)) == before
    output = _run(app, "evaluate")
    assert _count(app, EvaluationRun) == 2 and _count(app, Finding) > before[1], output


# The report's crash point: its workbook is in the archive, its record not yet committed. Held there
# (the prelude wraps the archive's file writer), the kill lands on it every time, however fast the
# report is: a kill timed at half the first report's duration came after a fast second one had ended.
HOLD_AFTER_THE_FILE = """
import os, pathlib, time
import app.reporting.archive as archive
written = archive.write_atomically
def held(*args, **kwargs):
    path = written(*args, **kwargs)
    pathlib.Path(os.environ["STEWARD_TEST_MARKER"]).touch()
    time.sleep(300)
    return path
archive.write_atomically = held
"""


def test_a_report_killed_while_rendering_is_not_listed_and_the_next_one_is(app, organisation, tmp_path):
    _run(app, "import", str(organisation))
    settings = app.config["STEWARD"]
    _run(app, "report", "--format", "xlsx")
    before = _files(settings)
    assert _count(app, Report) == 1 and len(before) == 1
    # The same report again, killed once its workbook is written and before its record is.
    marker = tmp_path / "written"
    process = _start(
        app,
        "report",
        "--format",
        "xlsx",
        prelude=HOLD_AFTER_THE_FILE,
        extra_env={"STEWARD_TEST_MARKER": str(marker)},
    )
    _kill_when(process, marker.exists)
    _assert_database_consistent(app)
    # No record claims a report that is not whole; the file the dead process wrote (the workbook, its
    # record never committed) is listed nowhere, and goes with the next report once an hour old.
    with session_scope(get_engine(app)) as session:
        reports = session.execute(select(Report)).scalars().all()
        assert len(reports) == 1 and all(verify_report(settings, r) for r in reports)
    orphans = _files(settings) - before
    assert len(orphans) == 1
    hour_ago = time.time() - 3601
    for name in orphans:
        os.utime(reports_dir(settings) / name, (hour_ago, hour_ago))
    _run(app, "report", "--format", "xlsx")
    with session_scope(get_engine(app)) as session:
        reports = session.execute(select(Report)).scalars().all()
        assert len(reports) == 2 and all(verify_report(settings, r) for r in reports)
        assert _files(settings) == {r.file_name for r in reports}


def _files(settings) -> set[str]:
    """The archive's files, without the temporary ones a write in progress (or killed) leaves."""
    return {p.name for p in reports_dir(settings).iterdir() if not p.name.startswith(".")}


def test_a_scheduled_run_cut_off_by_kill_is_made_when_the_scheduler_returns(app, organisation):
    from app.catalog import get_catalog
    from app.jobs import REPORT_JOB_PREFIX
    from app.reporting.schedules import create_schedule, trigger_of

    _run(app, "import", str(organisation))
    engine = get_engine(app)
    created = datetime.now(UTC) - timedelta(days=100)
    with session_scope(engine) as session:
        schedule = create_schedule(
            session,
            catalog=get_catalog(app),
            actor="admin",
            name="Quarterly evidence",
            preset="quarterly",
            formats=("xlsx",),
            now=created,
        )
        session.flush()
        schedule_id = schedule.id
        missed = trigger_of(schedule).get_next_fire_time(None, created)
    assert missed < datetime.now(UTC)
    # The scheduler was down when the quarter began: its job's next run lies in the past.
    _set_next_run(app, f"{REPORT_JOB_PREFIX}{schedule_id}", missed)

    def status() -> str | None:
        with session_scope(engine) as session:
            return session.get(ReportSchedule, schedule_id).last_status

    scheduler = _start(app, "scheduler")
    _kill_when(scheduler, lambda: status() == "running")
    _assert_database_consistent(app)
    assert _count(app, Report) == 0

    scheduler = _start(app, "scheduler")
    try:
        deadline = time.monotonic() + 300
        while not (status() or "").startswith("made report") and time.monotonic() < deadline:
            assert scheduler.poll() is None, scheduler.stdout.read()
            time.sleep(0.2)
    finally:
        scheduler.send_signal(signal.SIGINT)
        scheduler.communicate(timeout=60)
    assert (status() or "").startswith("made report")
    with session_scope(engine) as session:
        reports = session.execute(select(Report).where(Report.schedule_id == schedule_id)).scalars().all()
        assert [r.format for r in reports] == ["xlsx"]
        recovered = (
            session.execute(select(AuditEntry).where(AuditEntry.action == "report_schedule.recover"))
            .scalars()
            .all()
        )
        assert [e.target for e in recovered] == [f"schedule #{schedule_id}"]


def _set_next_run(app, job_id: str, when: datetime) -> None:
    """Give the schedule's stored job a past next run, as a scheduler that was down leaves it."""
    from app.jobs import configure_scheduler
    from tests.reporting.conftest import StoreOnlyScheduler

    # A scheduler with no loop: it writes the job store and runs nothing, like one that is down.
    scheduler = configure_scheduler(
        StoreOnlyScheduler(timezone="UTC"), get_engine(app), app.config["STEWARD"]
    )
    scheduler.start(paused=True)
    try:
        scheduler.modify_job(job_id, jobstore="default", next_run_time=when)
    finally:
        scheduler.shutdown(wait=False)
