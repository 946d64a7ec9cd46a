"""Incremental evaluation: after an agent changes, re-checking what it can affect equals a full run."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app.catalog import get_catalog
from app.checks import load_checks
from app.db import get_engine, session_scope
from app.evaluation import run_evaluation
from app.incremental import REACH, partition_of, partitions_of
from app.inventory.audit_log import load_events
from app.inventory.store import delete_entries, insert_entries, load_inventory
from app.models.assessment import EvaluationRun, Finding, FindingEvent
from app.snapshot import Agent

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def evaluate(app, now, **kwargs) -> EvaluationRun:
    with session_scope(get_engine(app)) as db:
        return run(db, app, now, **kwargs)


def run(db, app, now, **kwargs) -> EvaluationRun:
    return run_evaluation(
        db,
        catalog=get_catalog(app),
        settings=app.config["STEWARD"],
        trigger="test",
        actor="test",
        now=now,
        **kwargs,
    ).run


def full_run_outcome(app, now) -> dict:
    """What a full run would leave, measured in a transaction that is then rolled back."""
    db = Session(get_engine(app), expire_on_commit=False)
    try:
        run(db, app, now)
        return outcome_of_runs(db)
    finally:
        db.rollback()
        db.close()


def outcome_of_runs(db) -> dict:
    """What a full and an incremental run must agree on: findings, their histories, the last run's results."""
    findings = {
        (f.check_id, f.subject_kind, f.subject_id): (
            f.status,
            f.detail,
            f.reopened_count,
            f.severity,
            f.agent_id,
            f.team,
            f.environment,
            f.first_seen_at,
            f.resolved_at,
        )
        for f in db.execute(select(Finding)).scalars()
    }
    keys = {f.id: (f.check_id, f.subject_kind, f.subject_id) for f in db.execute(select(Finding)).scalars()}
    history: dict[tuple, list] = {}
    for e in db.execute(select(FindingEvent).order_by(FindingEvent.run_id, FindingEvent.id)).scalars():
        history.setdefault(keys[e.finding_id], []).append((e.change, e.detail, e.at))
    latest = db.execute(select(EvaluationRun).order_by(EvaluationRun.id.desc()).limit(1)).scalar()
    return {
        "findings": findings,
        "history": history,
        "requirement_statuses": latest.requirement_statuses,
        "scores": latest.scores,
        "check_stats": latest.check_stats,
        "check_errors": latest.check_errors,
        "counts": {k: v for k, v in latest.counts.items() if k not in ("scope", "processes")},
    }


def store_agent(app, agent_id: str, record: Agent | None) -> None:
    """Replace (or remove) one agent's stored record, as an import of that agent would."""
    with session_scope(get_engine(app)) as db:
        delete_entries(db, "agents", [agent_id])
        if record is not None:
            insert_entries(db, "agents", [record])


def synthetic_agents(rnd: random.Random, inventory, count: int) -> list[Agent]:
    """Agents beside the demo's: delegation chains and cycles, shared identities and credentials."""
    tools = [t.ref for s in inventory.mcp_servers for t in s.tools]
    credentials = [c.id for c in inventory.credentials]
    identities = [a.identity_id for a in inventory.agents if a.identity_id]
    ids = [f"syn-{i:02d}" for i in range(count)]
    made = []
    for i, agent_id in enumerate(ids):
        made.append(
            Agent(
                id=agent_id,
                environment=rnd.choice(["production", "staging"]),
                identity_kind=rnd.choice(["workload", "service_account", "user_delegated"]),
                owner=rnd.choice([f"{agent_id}@example.org", None]),
                purpose=rnd.choice(["Synthetic work", None]),
                status=rnd.choice(["active", "active", "suspended", "retired"]),
                autonomy=rnd.choice(["autonomous", "supervised"]),
                identity_id=rnd.choice([f"spiffe://syn/{agent_id}", rnd.choice(identities)]),
                identity_attested=rnd.random() < 0.5,
                tools=tuple(rnd.sample(tools, rnd.randint(0, 4))),
                credentials=tuple(rnd.sample(credentials, rnd.randint(0, 2))),
                delegates_to=tuple(rnd.sample(ids[i + 1 :] + ids[:1], rnd.randint(0, 2)))
                if i < count - 1
                else (),
                max_delegation_depth=rnd.choice([None, 0, 1, 2]),
                last_reviewed_at=NOW - timedelta(days=rnd.randint(1, 200)),
            )
        )
    return made


def mutate(rnd: random.Random, inventory, event_agents: list[str], step: int) -> tuple[str, Agent | None]:
    """One agent's change: a few of its fields edited, or the agent removed, or a new agent added."""
    agents = list(inventory.agents)
    tools = [t.ref for s in inventory.mcp_servers for t in s.tools] + ["unknown.tool"]
    credentials = [c.id for c in inventory.credentials]
    ids = [a.id for a in agents]
    shadows = [a for a in event_agents if a not in ids]
    kind = rnd.random()
    if kind < 0.08 and agents:
        return rnd.choice(ids), None
    if kind < 0.16:
        agent_id = rnd.choice(shadows) if shadows and rnd.random() < 0.5 else f"new-{step}"
        base = Agent(id=agent_id, environment="production", identity_kind="workload")
    else:
        base = rnd.choice(agents)
    edits = {
        "owner": lambda: rnd.choice([None, "team-alias", "someone@example.org"]),
        "purpose": lambda: rnd.choice([None, "Changed purpose"]),
        "identity_id": lambda: rnd.choice([None, f"spiffe://new/{step}", *(a.identity_id for a in agents)]),
        "identity_kind": lambda: rnd.choice(["workload", "service_account", "user_delegated", "api_key"]),
        "identity_attested": lambda: rnd.random() < 0.5,
        "status": lambda: rnd.choice(["active", "suspended", "retired"]),
        "autonomy": lambda: rnd.choice(["autonomous", "supervised"]),
        "environment": lambda: rnd.choice(["production", "staging", "development"]),
        "tools": lambda: tuple(dict.fromkeys(rnd.sample(tools, rnd.randint(0, 6)))),
        "credentials": lambda: tuple(dict.fromkeys(rnd.sample(credentials, rnd.randint(0, 3)))),
        "delegates_to": lambda: tuple(
            dict.fromkeys(rnd.sample([*ids, "nobody-here"], min(len(ids) + 1, rnd.randint(0, 3))))
        ),
        "max_delegation_depth": lambda: rnd.choice([None, 0, 1, 2, 3]),
        "network_reach": lambda: rnd.choice([(), ("s3://bucket",)]),
        "mcp_servers": lambda: tuple(rnd.sample([s.id for s in inventory.mcp_servers], rnd.randint(0, 2))),
        "last_reviewed_at": lambda: rnd.choice([None, NOW - timedelta(days=rnd.randint(0, 400))]),
    }
    fields = rnd.sample(sorted(edits), rnd.randint(1, 4))
    changed = replace(base, **{name: edits[name]() for name in fields})
    if changed.id in changed.delegates_to and rnd.random() < 0.5:
        changed = replace(changed, delegates_to=tuple(d for d in changed.delegates_to if d != changed.id))
    return changed.id, changed


@pytest.fixture
def organisation(app):
    """The demo organisation with synthetic agents beside it, evaluated once."""
    return build_organisation(app)


def build_organisation(app):
    """The demo organisation with synthetic agents beside it, evaluated once."""
    from app.demo import import_demo_organisation

    with session_scope(get_engine(app)) as db:
        assert import_demo_organisation(db, actor="test", settings=app.config["STEWARD"]).ok
        inventory = load_inventory(db)
    with session_scope(get_engine(app)) as db:
        insert_entries(db, "agents", synthetic_agents(random.Random(20261124), inventory, 12))
    evaluate(app, NOW)
    return app


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_evaluation_after_each_random_agent_change_equals_a_full_one(organisation, seed):
    app = organisation
    rnd = random.Random(seed)
    with session_scope(get_engine(app)) as db:
        event_agents = sorted({e.agent for e in load_events(db)})
    now = NOW
    for step in range(12):
        with session_scope(get_engine(app)) as db:
            inventory = load_inventory(db)
        agent_id, record = mutate(rnd, inventory, event_agents, step)
        store_agent(app, agent_id, record)
        # Time moves too: reviews fall due and calls leave the monitoring window between runs.
        now += rnd.choice([timedelta(0), timedelta(minutes=5), timedelta(days=3), timedelta(days=20)])
        expected = full_run_outcome(app, now)
        # Each incremental run builds on the one before: the shares it keeps are tested along the way.
        with session_scope(get_engine(app)) as db:
            scope = run(db, app, now, changed_agents={agent_id}).counts["scope"]
            assert outcome_of_runs(db) == expected, f"step {step}: {agent_id} -> {record}"
        assert scope.startswith("incremental: "), scope


def test_incremental_run_records_its_scope_and_a_change_of_settings_makes_it_full(organisation):
    app = organisation
    with session_scope(get_engine(app)) as db:
        agent = next(a for a in load_inventory(db).agents if a.id == "release-bot")
    store_agent(app, agent.id, replace(agent, owner=None))
    scope = evaluate(app, NOW + timedelta(minutes=1), changed_agents={agent.id}).counts["scope"]
    assert scope == "incremental: 1 agents (1 changed)"

    app.config["STEWARD"] = replace(app.config["STEWARD"], credential_max_ttl_seconds=60)
    scope = evaluate(app, NOW + timedelta(minutes=2), changed_agents={agent.id}).counts["scope"]
    assert scope == "full: the check settings changed"
    assert evaluate(app, NOW + timedelta(minutes=3)).counts["scope"] == "full"


def test_new_audit_events_make_a_re_evaluation_full(organisation, tmp_path):
    from app.inventory.audit_log import import_audit_log

    log = tmp_path / "more.jsonl"
    log.write_text(
        '{"ts":"2026-11-24T11:00:00Z","agent":"release-bot","tool":"deploy.status","decision":"allow"}\n',
        encoding="utf-8",
    )
    with session_scope(get_engine(organisation)) as db:
        assert import_audit_log(db, path=str(log), actor="test").imported == 1
    scope = evaluate(organisation, NOW + timedelta(minutes=1), changed_agents={"release-bot"}).counts["scope"]
    assert scope == "full: the audit log changed"


def test_every_check_declares_how_far_a_change_of_agents_reaches():
    assert set(REACH) == set(load_checks())


@pytest.mark.parametrize(
    ("kind", "subject_id"),
    [
        ("agent", "bot"),
        ("access", "bot::srv.write"),
        ("access", "a::b::srv.t"),
        ("credential", "c"),
        ("tool", "x"),
    ],
)
def test_shares_are_counted_under_the_agent_each_outcome_is_about(kind, subject_id):
    assert partitions_of([(kind, subject_id)]) == [partition_of(kind, subject_id)]


def test_a_check_crashing_on_the_changed_agents_makes_the_run_full(organisation, monkeypatch):
    from app.checks import REGISTRY

    def broken(snapshot):
        raise RuntimeError("boom")
        yield  # pragma: no cover

    monkeypatch.setitem(REGISTRY, "agent_has_accountable_owner", broken)
    run = evaluate(organisation, NOW + timedelta(minutes=1), changed_agents={"release-bot"})
    assert run.counts["scope"] == "full: a check crashed on the changed agents"
    assert run.check_errors == {"agent_has_accountable_owner": "RuntimeError: boom"}
    with session_scope(get_engine(organisation)) as db:
        owners = db.execute(
            select(Finding).where(Finding.check_id == "agent_has_accountable_owner")
        ).scalars()
        assert {f.status for f in owners} == {"open"}  # a crashed check proves nothing either way
    monkeypatch.undo()
    scope = evaluate(organisation, NOW + timedelta(minutes=2), changed_agents={"release-bot"}).counts["scope"]
    assert scope == "full: the last run had a crashed check"
