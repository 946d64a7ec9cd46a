"""A full evaluation split across processes by ranges of agents leaves exactly what one process leaves."""

from __future__ import annotations

import json
import logging
import random
import sys
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import Session

from app import split
from app.db import get_engine, session_scope
from app.inventory.audit_log import import_audit_log, load_events
from app.inventory.store import insert_entries, load_inventory
from app.snapshot import Agent
from tests.test_incremental_evaluation import (
    NOW,
    build_organisation,
    full_run_outcome,
    mutate,
    outcome_of_runs,
    run,
    store_agent,
)


@pytest.fixture
def organisation(app):
    return build_organisation(app)


def use(app, processes: int, min_events: int = 0):
    app.config["STEWARD"] = replace(
        app.config["STEWARD"], evaluation_processes=processes, evaluation_split_min_events=min_events
    )


def full_run(app, now) -> tuple[dict, int]:
    """What a full run would leave, and how many processes it took, in a transaction then rolled back."""
    db = Session(get_engine(app), expire_on_commit=False)
    try:
        processes = run(db, app, now).counts["processes"]
        return outcome_of_runs(db), processes
    finally:
        db.rollback()
        db.close()


def processes_of_a_full_run(app, now) -> int:
    return full_run(app, now)[1]


@pytest.mark.parametrize(("processes", "seed"), [(2, 1), (3, 2), (4, 3)])
def test_a_split_full_run_leaves_the_findings_histories_and_statistics_of_one_process(
    organisation, processes, seed
):
    app = organisation
    rnd = random.Random(seed)
    with session_scope(get_engine(app)) as db:
        event_agents = sorted({e.agent for e in load_events(db)})
    now = NOW
    for step in range(3):
        with session_scope(get_engine(app)) as db:
            inventory = load_inventory(db)
        agent_id, record = mutate(rnd, inventory, event_agents, step)
        store_agent(app, agent_id, record)
        now += rnd.choice([timedelta(minutes=5), timedelta(days=3), timedelta(days=20)])
        use(app, 1)
        expected = full_run_outcome(app, now)
        use(app, processes)
        outcome, used = full_run(app, now)
        assert outcome == expected, f"step {step}: {agent_id} -> {record}"
        assert used == processes


def test_a_small_audit_log_or_one_configured_process_is_not_split(organisation):
    use(organisation, 2, min_events=1_000_000)
    assert processes_of_a_full_run(organisation, NOW) == 1
    use(organisation, 1)
    assert processes_of_a_full_run(organisation, NOW) == 1


def test_a_worker_that_fails_leaves_its_range_to_the_evaluating_process(organisation, monkeypatch, caplog):
    use(organisation, 1)
    expected = full_run_outcome(organisation, NOW + timedelta(days=1))
    use(organisation, 2)
    monkeypatch.setattr(
        split, "WORKER_COMMAND", [sys.executable, "-c", "import sys; sys.exit('worker down')"]
    )
    with caplog.at_level(logging.WARNING, logger="app.split"):
        assert full_run(organisation, NOW + timedelta(days=1)) == (expected, 1)
    assert "failed (worker down); checking them in this process" in caplog.text


def test_a_worker_that_sees_another_audit_log_is_not_trusted(organisation, monkeypatch, caplog):
    use(organisation, 1)
    expected = full_run_outcome(organisation, NOW)
    use(organisation, 2)
    start = split.start_workers

    def told_another_log(session, ranges, job):
        return start(session, ranges, {**job, "events": (job["events"][0] + 1, job["events"][1])})

    monkeypatch.setattr("app.evaluation.start_workers", told_another_log)
    with caplog.at_level(logging.WARNING, logger="app.split"):
        assert full_run_outcome(organisation, NOW) == expected
    assert "it sees another audit log" in caplog.text


def test_a_run_after_uncommitted_writes_stays_in_one_process_and_sees_them(organisation):
    """A worker reads only what is committed: a transaction that has written is evaluated alone."""
    use(organisation, 2)
    with session_scope(get_engine(organisation)) as db:
        insert_entries(
            db, "agents", [Agent(id="late-bot", environment="production", identity_kind="api_key")]
        )
        result = run(db, organisation, NOW)
        assert result.counts["processes"] == 1
        owners = outcome_of_runs(db)["findings"]
        assert ("agent_has_accountable_owner", "agent", "late-bot") in owners
        db.rollback()


AGENT_IDS = ["Zed", "a", "a-1", "a.1", "zed", "ä-bot", "é", "ñandú", "東京-agent", "\U0001f916-bot", "~"]


def test_ranges_of_agents_cover_every_id_once_in_the_database_as_in_python(app, tmp_path):
    log = tmp_path / "calls.jsonl"
    log.write_text(
        "".join(
            json.dumps(
                {"ts": f"2026-11-20T10:{i:02d}:00Z", "agent": agent, "tool": "srv.t", "decision": "allow"}
            )
            + "\n"
            for i, agent in enumerate(AGENT_IDS)
        ),
        encoding="utf-8",
    )
    with session_scope(get_engine(app)) as db:
        if db.connection().dialect.name == "postgresql":
            # A database made with a language's collation sorts "Zed" after "a": ranges must not.
            db.connection().exec_driver_sql(
                'ALTER TABLE audit_event ALTER COLUMN agent TYPE VARCHAR COLLATE "und-x-icu"'
            )
        assert import_audit_log(db, path=str(log), actor="test").imported == len(AGENT_IDS)
    for count in (2, 3, 5):
        ranges = split.ranges_of(AGENT_IDS[::2], count)  # pivots from some ids; the others fall between
        assert ranges[0].low is None and ranges[-1].high is None
        seen = []
        with session_scope(get_engine(app)) as db:
            for agent_range in ranges:
                agents = [e.agent for e in load_events(db, agent_range=agent_range.bounds)]
                assert all(a in agent_range for a in agents), (agent_range, agents)
                seen += agents
        assert sorted(seen) == sorted(AGENT_IDS)


def test_an_outcome_about_no_agent_belongs_to_no_range():
    everything = split.AgentRange(None, None)
    assert "bot" in everything
    assert None not in everything
    assert "b" in split.AgentRange("b", "c") and "c" not in split.AgentRange("b", "c")
