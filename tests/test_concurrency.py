"""Imports, API writes, evaluations, reports and page loads at once, in threads and in processes.

Nothing is lost, no "database is locked" (or any other error) reaches a user, and once everything
has settled the open findings are exactly what an evaluation of the final inventory gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import func, select

from app.catalog import get_catalog
from app.db import get_engine, session_scope
from app.evaluation import run_checks, snapshot_settings
from app.inventory.audit_log import load_events
from app.inventory.store import load_inventory
from app.models.assessment import Finding, FindingStatus
from app.models.inventory import Agent
from app.models.runtime import AuditEvent
from app.security import create_api_token
from app.snapshot import Snapshot
from tests.conftest import database_environment, minimal_inventory, serving

WRITERS, POSTS_EACH = 3, 6
EVENT_BATCHES, EVENTS_EACH = 4, 25


def _agent(agent_id: str) -> dict:
    return {
        "id": agent_id,
        "owner": "ops@example.org",
        "environment": "staging",
        "identity": {"kind": "service_account", "id": f"sa-{agent_id}"},
        "tools": ["deploy.status"],
    }


@pytest.fixture
def served(app, runner, tmp_path):
    """The app with the minimal inventory, served by waitress with 8 threads, and an admin token."""

    inventory = tmp_path / "base.yaml"
    inventory.write_text(yaml.safe_dump(minimal_inventory()), encoding="utf-8")
    assert runner.invoke(args=["import", str(inventory)]).exit_code == 0
    with session_scope(get_engine(app)) as session:
        token, _ = create_api_token(
            session,
            name="load",
            role="admin",
            expires_at=datetime.now(UTC) + timedelta(days=1),
            created_by="t",
        )
    with serving(app, threads=8) as base:
        yield base, token


def _call(base: str, token: str, method: str, path: str, body=None) -> tuple[int, str]:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _cli(app, *args) -> subprocess.CompletedProcess:
    settings = app.config["STEWARD"]
    env = {**os.environ, **database_environment(settings), "STEWARD_ACTOR": "proc"}
    code = "from app.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300
    )


def _settled_findings_match_the_final_inventory(app) -> None:
    with session_scope(get_engine(app)) as session:
        catalog = get_catalog(app)
        settings = app.config["STEWARD"]
        snapshot = Snapshot(
            load_inventory(session),
            now=datetime.now(UTC),
            settings=snapshot_settings(settings),
            events=load_events(session),
        )
        expected = set(run_checks(snapshot, catalog).failing)
        open_statuses = (FindingStatus.OPEN.value, FindingStatus.REOPENED.value)
        actual = set(
            session.execute(
                select(Finding.check_id, Finding.subject_kind, Finding.subject_id).where(
                    Finding.status.in_(open_statuses)
                )
            ).all()
        )
    assert actual == expected


def test_threads_and_processes_writing_at_once_lose_nothing_and_show_no_error(app, served, tmp_path):
    base, token = served
    problems: list[str] = []
    lock = threading.Lock()

    def note(what: str, status: int, text: str) -> None:
        if status >= 300 or "locked" in text.lower():
            with lock:
                problems.append(f"{what}: {status} {text[:200]}")

    def importer(w: int) -> None:
        for i in range(POSTS_EACH):
            note(
                "inventory",
                *_call(base, token, "POST", "/api/v1/inventory", {"agents": [_agent(f"t{w}-{i}")]}),
            )

    def events(w: int) -> None:
        for b in range(EVENT_BATCHES):
            batch = [
                {
                    "event_id": f"ev-{w}-{b}-{n}",
                    "ts": f"2026-11-20T10:{b:02d}:{n:02d}Z",
                    "agent": "release-bot",
                    "tool": "deploy.status",
                    "decision": "allow",
                }
                for n in range(EVENTS_EACH)
            ]
            note("audit-events", *_call(base, token, "POST", "/api/v1/audit-events", {"events": batch}))

    def evaluator() -> None:
        for _ in range(4):
            note("evaluation", *_call(base, token, "POST", "/api/v1/evaluations", {}))

    def reporter() -> None:
        for _ in range(2):
            note("report", *_call(base, token, "POST", "/api/v1/reports", {"formats": ["xlsx"]}))

    def reader() -> None:
        for _ in range(15):
            for path in ("/api/v1/findings", "/api/v1/inventory/agents", "/api/v1/runs"):
                note(f"GET {path}", *_call(base, token, "GET", path))

    # Two CLI processes import their own agents at the same time, and a third evaluates.
    files = []
    for p in range(2):
        path = tmp_path / f"proc-{p}.yaml"
        path.write_text(yaml.safe_dump({"agents": [_agent(f"p{p}-{i}") for i in range(5)]}), encoding="utf-8")
        files.append(path)
    processes = []

    def run_process(*args) -> None:
        result = _cli(app, *args)
        processes.append(result)
        if result.returncode != 0 or "locked" in (result.stdout + result.stderr).lower():
            with lock:
                problems.append(f"steward {' '.join(args)}: exit {result.returncode}: {result.stderr[-300:]}")

    threads = [threading.Thread(target=importer, args=(w,)) for w in range(WRITERS)]
    threads += [threading.Thread(target=events, args=(w,)) for w in range(2)]
    threads += [threading.Thread(target=evaluator), threading.Thread(target=reporter)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    threads += [threading.Thread(target=run_process, args=("import", str(f))) for f in files]
    threads += [threading.Thread(target=run_process, args=("evaluate",))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert problems == []

    # Nothing lost: every agent written, by thread or by process, and every event.
    with session_scope(get_engine(app)) as session:
        agents = set(session.execute(select(Agent.id)).scalars())
        event_count = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    written = {f"t{w}-{i}" for w in range(WRITERS) for i in range(POSTS_EACH)}
    written |= {f"p{p}-{i}" for p in range(2) for i in range(5)}
    assert written - agents == set()
    assert event_count == 2 * EVENT_BATCHES * EVENTS_EACH

    # Settled: one last evaluation (what the scheduler's next tick does) and the findings are the truth.
    assert _cli(app, "evaluate").returncode == 0
    _settled_findings_match_the_final_inventory(app)


def test_the_settled_check_notices_findings_that_do_not_match(app, runner, tmp_path):
    # The consistency check above can fail: findings left from before an unevaluated change do not match.
    inventory = tmp_path / "base.yaml"
    inventory.write_text(yaml.safe_dump(minimal_inventory()), encoding="utf-8")
    assert runner.invoke(args=["import", str(inventory)]).exit_code == 0
    assert runner.invoke(args=["evaluate"]).exit_code == 0
    with session_scope(get_engine(app)) as session:
        session.add(_orphan_agent())
    with pytest.raises(AssertionError):
        _settled_findings_match_the_final_inventory(app)


def _orphan_agent() -> Agent:
    """An agent written straight to the database, with no evaluation after it (and no owner)."""
    return Agent(id="unevaluated", owner=None, environment="production", identity_kind="unknown")
