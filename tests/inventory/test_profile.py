"""agent_profile(): an agent's page reads its own slice of the inventory, and nothing of it goes missing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from app.db import alembic_config, session_scope, upgrade_database
from app.inventory.profile import RECENT_CALLS, agent_profile
from app.inventory.store import policy_ids_naming
from tests.conftest import minimal_inventory, write_yaml

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _agent(agent_id: str, **extra) -> dict:
    identity = {"kind": "service_account", "id": f"sa-{agent_id}"}
    return {
        "id": agent_id,
        "owner": "o@example.org",
        "environment": "production",
        "identity": identity,
    } | extra


def _policy(policy_id: str, subjects: list[str]) -> dict:
    return {
        "id": policy_id,
        "evaluation": "runtime",
        "effect": "allow",
        "subjects": subjects,
        "tools": ["deploy.*"],
    }


def _import(runner, tmp_path, data) -> None:
    result = runner.invoke(args=["import", "--prune", str(write_yaml(tmp_path / "inventory.yaml", data))])
    assert result.exit_code == 0, result.output


def _allows(session, agent_id: str) -> dict[str, list[str]]:
    profile = agent_profile(session, agent_id, now=NOW)
    return {x.tool.ref: sorted(p.id for p in x.allows) for x in profile.accesses}


def test_the_policies_shown_are_those_naming_the_agent_or_everyone_and_follow_an_import(
    runner, tmp_path, engine
):
    data = minimal_inventory()
    data["policies"] += [_policy("everyone", ["*"]), _policy("triage-only", ["triage-bot"])]
    _import(runner, tmp_path, data)
    with session_scope(engine) as session:
        assert _allows(session, "release-bot")["deploy.rollout"] == ["deploy-prod", "everyone"]
        assert _allows(session, "triage-bot") == {"deploy.status": ["everyone", "triage-only"]}
        assert policy_ids_naming(session, "nobody") == ["everyone"]

    # The policy stops naming release-bot and starts naming triage-bot; another is removed.
    changed = copy.deepcopy(data)
    changed["policies"] = [_policy("deploy-prod", ["triage-bot"]), _policy("everyone", ["*"])]
    _import(runner, tmp_path, changed)
    with session_scope(engine) as session:
        assert _allows(session, "release-bot")["deploy.rollout"] == ["everyone"]
        assert _allows(session, "triage-bot") == {"deploy.status": ["deploy-prod", "everyone"]}
        assert policy_ids_naming(session, "triage-bot") == ["deploy-prod", "everyone"]


def test_the_delegation_picture_holds_the_whole_chain_and_its_cycle_but_no_stranger(runner, tmp_path, engine):
    data = minimal_inventory()
    # triage-bot -> release-bot -> deputy -> release-bot (a cycle); stranger is linked to nobody.
    data["agents"][0]["delegates_to"] = ["deputy"]
    data["agents"] += [_agent("deputy", delegates_to=["release-bot"]), _agent("stranger")]
    _import(runner, tmp_path, data)
    with session_scope(engine) as session:
        profile = agent_profile(session, "deputy", now=NOW)
        assert profile.delegated_by == ["release-bot"]
        assert profile.delegates == {"release-bot": 1}
        graph = str(profile.graph)
        for linked in ("release-bot", "deputy"):
            assert f"<title>{linked}:" in graph
        assert "stranger" not in graph
        assert 'stroke="#c92a2a"' in graph  # the cycle is drawn in red
        first = agent_profile(session, "triage-bot", now=NOW)
        assert first.delegated_by == [] and first.delegates == {"release-bot": 1}  # its bound is one hop
        assert "<title>deputy:" in str(first.graph)  # the picture goes on beyond the bound
        assert agent_profile(session, "stranger", now=NOW).delegated_by == []
        assert agent_profile(session, "no-such-agent", now=NOW) is None


def test_the_call_count_is_every_recorded_call_while_the_page_lists_the_newest(runner, tmp_path, engine):
    _import(runner, tmp_path, minimal_inventory())
    lines = [
        f'{{"event_id": "e{i}", "ts": "2026-11-30T10:{i // 60:02d}:{i % 60:02d}Z", "agent": "release-bot", '
        f'"tool": "deploy.status", "decision": "allow"}}'
        for i in range(RECENT_CALLS + 7)
    ]
    lines.append(
        '{"event_id": "t1", "ts": "2026-11-30T09:00:00Z", "agent": "triage-bot", '
        '"tool": "deploy.status", "decision": "allow"}'
    )
    log = tmp_path / "audit.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(args=["import-audit", str(log)])
    assert result.exit_code == 0, result.output
    with session_scope(engine) as session:
        busy = agent_profile(session, "release-bot", now=NOW)
        assert busy.call_count == RECENT_CALLS + 7 and len(busy.calls) == RECENT_CALLS
        assert busy.calls[0].event_id == f"e{RECENT_CALLS + 6}"  # the newest first
        quiet = agent_profile(session, "triage-bot", now=NOW)
        assert quiet.call_count == 1 and [c.event_id for c in quiet.calls] == ["t1"]


def test_the_migration_indexes_the_subjects_of_the_policies_already_stored(runner, tmp_path, engine):
    data = minimal_inventory()
    data["policies"].append(_policy("everyone", ["*", "release-bot"]))
    _import(runner, tmp_path, data)
    config = alembic_config(engine)
    command.downgrade(config, "0014")
    upgrade_database(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT policy_id, subject FROM policy_subject ORDER BY 1, 2")).all()
    assert [tuple(r) for r in rows] == [
        ("deploy-prod", "release-bot"),
        ("everyone", "*"),
        ("everyone", "release-bot"),
    ]
    with session_scope(engine) as session:
        assert _allows(session, "release-bot")["deploy.rollout"] == ["deploy-prod", "everyone"]
