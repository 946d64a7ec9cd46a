"""Incremental evaluation: which outcomes a change of a few agents can alter, to re-check only those.

Every check declares how far a change of agents reaches into its outcomes (REACH):

- Reach.AGENT: its outcomes are about agents or their accesses, and one agent's outcomes depend only
  on the agent's own record and recorded calls, on the records of the agents it delegates to
  (directly or through others) and on the rest of the inventory (servers, policies, credentials,
  approvals). After a change it is re-run for the changed agents, the agents that delegate to them
  (their outcomes look along the chain) and the agents with calls entering or leaving the monitoring
  window since the last run; every other agent's outcomes are what they were.
- Reach.INVENTORY: it compares agents with each other (a shared identity, a shared credential) or
  with the clock (reviews, rotations, expiries): it is re-run over the whole inventory.
- Reach.NONE: it reads no agent and not the clock; a change of agents leaves its outcomes as they were.

A run keeps, per agent, its share of the statistics of the per-agent checks (AgentCheckShare) and
what it ran on (EvaluationBasis), so that the next run's statistics are the last run's minus the
re-checked agents' old shares plus their new ones: exactly what a full run would count. A run is
incremental only when it can be sure of that; otherwise it is a full run and says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, insert, select
from sqlmodel import Session

from app.catalog import Catalog
from app.models.assessment import EvaluationRun
from app.models.evaluation_state import AgentCheckShare, EvaluationBasis
from app.models.runtime import AuditEvent
from app.snapshot import Inventory

CHUNK = 500


class Reach(StrEnum):
    """How far a change of agents reaches into a check's outcomes."""

    AGENT = "agent"  # per agent (or access): re-run for the changed agents and those that delegate to them
    INVENTORY = "inventory"  # compares agents with each other or with the clock: re-run over everything
    NONE = "none"  # reads no agent and not the clock: unchanged by a change of agents


REACH: dict[str, Reach] = {
    # identity
    "agent_has_accountable_owner": Reach.AGENT,
    "agent_has_own_workload_identity": Reach.AGENT,
    "agent_identity_not_shared": Reach.INVENTORY,
    "agent_identity_attested": Reach.AGENT,
    "agent_declares_purpose": Reach.AGENT,
    "agent_access_reviewed": Reach.INVENTORY,
    "retired_agent_has_no_live_credentials": Reach.INVENTORY,
    # credentials
    "credential_is_short_lived": Reach.NONE,
    "credential_rotated_on_schedule": Reach.INVENTORY,
    "credential_scope_is_narrow": Reach.NONE,
    "credential_not_stored_in_plaintext": Reach.NONE,
    "credential_not_shared_between_agents": Reach.INVENTORY,
    "credential_is_audience_bound": Reach.NONE,
    # access
    "tool_access_governed_by_policy": Reach.AGENT,
    "sensitive_tool_requires_human_approval": Reach.AGENT,
    "sensitive_tool_uses_task_scoped_credential": Reach.AGENT,
    "sensitive_tool_policy_constrains_intent": Reach.AGENT,
    "policy_evaluated_at_runtime": Reach.AGENT,
    "policy_grants_no_wildcard_to_sensitive_tools": Reach.NONE,
    "autonomous_agent_has_chain_depth_limit": Reach.AGENT,
    "agent_has_no_direct_network_reach": Reach.AGENT,
    "policy_has_owner_and_review": Reach.INVENTORY,
    # servers
    "mcp_server_behind_policy_gateway": Reach.NONE,
    "remote_mcp_server_requires_auth": Reach.NONE,
    "mcp_server_rejects_token_passthrough": Reach.NONE,
    "mcp_server_validates_audience": Reach.NONE,
    "mcp_server_package_pinned": Reach.NONE,
    "auto_approved_tools_are_not_sensitive": Reach.NONE,
    "tool_definition_unchanged_since_review": Reach.NONE,
    # delegation
    "delegation_depth_is_bounded": Reach.AGENT,
    "delegation_does_not_escalate_privilege": Reach.AGENT,
    "delegation_graph_has_no_cycles": Reach.AGENT,
    # approvals
    "approval_is_traceable": Reach.NONE,
    # runtime evidence (production_agent_is_monitored reads the clock through its window: see plan_scope)
    "sensitive_calls_have_approval": Reach.AGENT,
    "calls_within_chain_depth_limit": Reach.AGENT,
    "calls_use_unexpired_credentials": Reach.AGENT,
    "calls_come_from_inventoried_agents": Reach.AGENT,
    "calls_stay_within_declared_tools": Reach.AGENT,
    "production_agent_is_monitored": Reach.AGENT,
}

Shares = dict[str, dict[str, list[int]]]


def partition_of(kind: str, subject_id: str) -> str | None:
    """The agent an outcome is about (the agent attribute() files its finding under), or None."""
    if kind == "agent":
        return subject_id
    if kind == "access":
        return subject_id.split("::", 1)[0]
    return None


def partitions_of(subjects: Iterable[tuple[str, str]]) -> list[str | None]:
    """partition_of() of each (kind, id) subject, in one comprehension: a run has a million of them."""
    return [i if k == "agent" else i.split("::", 1)[0] if k == "access" else None for k, i in subjects]


def checks_of(catalog: Catalog, reach: Reach) -> frozenset[str]:
    """The catalog's checks of one reach."""
    return frozenset(c for c in catalog.checks if REACH.get(c) == reach)


@dataclass(frozen=True)
class EventStats:
    """How many audit events are stored and the newest row id: new events since a run show as a change."""

    count: int
    max_id: int | None


def event_stats(session: Session) -> EventStats:
    """The stored audit log's size and newest row id."""
    # Two statements: SQLite answers each alone at once (its count and the rowid's end), but scans
    # every row for both together.
    count = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    max_id = session.execute(select(func.max(AuditEvent.id))).scalar_one()
    return EventStats(count, max_id)


@dataclass
class Scope:
    """What an incremental run re-checks, and what it builds on."""

    changed: frozenset[str]
    agents: frozenset[str]  # the agents whose per-agent outcomes are re-checked
    has_events: bool
    previous_stats: dict[str, dict[str, int]]
    previous_shares: Shares = field(default_factory=dict)

    def describe(self) -> str:
        return f"incremental: {len(self.agents)} agents ({len(self.changed)} changed)"


def plan_scope(
    session: Session,
    *,
    catalog: Catalog,
    settings: dict,
    inventory: Inventory,
    changed_agents: Iterable[str],
    events: EventStats,
    now: datetime,
) -> tuple[Scope | None, str]:
    """The scope of a run after a change of these agents, or None and why it must be a full run."""
    unscoped = sorted(c for c in catalog.checks if c not in REACH)
    if unscoped:
        return None, f"full: check {unscoped[0]} declares no reach"
    basis = session.execute(select(EvaluationBasis).order_by(EvaluationBasis.id.desc()).limit(1)).scalar()
    latest = session.execute(
        select(EvaluationRun.id, EvaluationRun.check_stats, EvaluationRun.check_errors)
        .order_by(EvaluationRun.id.desc())
        .limit(1)
    ).first()
    if basis is None or latest is None or basis.run_id != latest.id:
        return None, "full: no earlier run to build on"
    if not basis.is_partitioned:
        return None, "full: the last run could not file every per-agent outcome under its agent"
    if basis.catalog_hash != catalog.hash:
        return None, "full: the catalog changed"
    if basis.settings != settings:
        return None, "full: the check settings changed"
    if (basis.event_count, basis.event_max_id) != (events.count, events.max_id):
        return None, "full: the audit log changed"
    if latest.check_errors:
        return None, "full: the last run had a crashed check"
    if set(latest.check_stats) != set(catalog.checks):
        return None, "full: the last run had other checks"
    changed = frozenset(changed_agents)
    if any("::" in a.id for a in inventory.agents) or any("::" in a for a in changed):
        return None, "full: an agent id contains '::'"
    agents = set(changed) | delegators_of(inventory, changed)
    agents |= _agents_crossing_window(session, basis.evaluated_at, now, settings["monitoring_window_days"])
    if any("::" in a for a in agents):
        return None, "full: an agent id contains '::'"
    scope = Scope(
        changed=changed,
        agents=frozenset(agents),
        has_events=events.count > 0,
        previous_stats=latest.check_stats,
    )
    scope.previous_shares = load_shares(session, scope.agents)
    return scope, scope.describe()


def delegators_of(inventory: Inventory, agent_ids: Iterable[str]) -> set[str]:
    """The agents that delegate to any of these, directly or through other agents."""
    delegators: dict[str, list[str]] = {}
    for agent in inventory.agents:
        for delegate in agent.delegates_to:
            delegators.setdefault(delegate, []).append(agent.id)
    found: set[str] = set()
    frontier = list(agent_ids)
    while frontier:
        nxt = []
        for agent_id in frontier:
            for delegator in delegators.get(agent_id, ()):
                if delegator not in found:
                    found.add(delegator)
                    nxt.append(delegator)
        frontier = nxt
    return found


def delegates_of(inventory: Inventory, agent_ids: Iterable[str]) -> set[str]:
    """The agents these delegate to, directly or through other agents."""
    by_id = {a.id: a for a in inventory.agents}
    found: set[str] = set()
    frontier = list(agent_ids)
    while frontier:
        nxt = []
        for agent_id in frontier:
            agent = by_id.get(agent_id)
            for delegate in agent.delegates_to if agent else ():
                if delegate not in found:
                    found.add(delegate)
                    nxt.append(delegate)
        frontier = nxt
    return found


def focus_inventory(inventory: Inventory, agent_ids: frozenset[str]) -> Inventory:
    """The inventory with only these agents and the agents they delegate to: all their outcomes need."""
    keep = agent_ids | delegates_of(inventory, agent_ids)
    agents = tuple(a for a in inventory.agents if a.id in keep)
    return Inventory(
        agents, inventory.mcp_servers, inventory.credentials, inventory.policies, inventory.approvals
    )


def _agents_crossing_window(session: Session, before: datetime, now: datetime, window_days: int) -> set[str]:
    """Agents with calls that entered or left the monitoring window between the last run and now."""
    window = timedelta(days=window_days)
    low, high = sorted((before - window, now - window))
    if low == high:
        return set()
    rows = session.execute(
        select(AuditEvent.agent).where(AuditEvent.at >= low, AuditEvent.at < high).distinct()
    )
    return {agent for (agent,) in rows}


def load_shares(session: Session, agent_ids: frozenset[str]) -> Shares:
    """The stored shares of these agents."""
    ordered = sorted(agent_ids)
    shares: Shares = {}
    for start in range(0, len(ordered), CHUNK):
        query = select(AgentCheckShare.agent_id, AgentCheckShare.stats).where(
            AgentCheckShare.agent_id.in_(ordered[start : start + CHUNK])
        )
        shares.update((agent_id, stats) for agent_id, stats in session.execute(query))
    return shares


def combined_stats(scope: Scope, rechecked: dict[str, dict[str, int]], shares: Shares, catalog: Catalog):
    """Each check's statistics over the whole inventory, from the last run's and what was re-checked."""
    stats: dict[str, dict[str, int]] = {}
    for check_id in sorted(catalog.checks):
        reach = REACH[check_id]
        if reach == Reach.INVENTORY:
            stats[check_id] = rechecked[check_id]
            continue
        previous = scope.previous_stats[check_id]
        if reach == Reach.NONE:
            stats[check_id] = dict(previous)
            continue
        examined, failed = previous["examined"], previous["failed"]
        for agent_id in scope.agents:
            old = scope.previous_shares.get(agent_id, {}).get(check_id, (0, 0))
            new = shares.get(agent_id, {}).get(check_id, (0, 0))
            examined += new[0] - old[0]
            failed += new[1] - old[1]
        stats[check_id] = {"examined": examined, "passed": examined - failed, "failed": failed}
    return stats


def save_state(
    session: Session,
    *,
    run: EvaluationRun,
    catalog: Catalog,
    settings: dict,
    events: EventStats,
    shares: Shares | None,
    scope: Scope | None,
) -> None:
    """Record what this run was made on and the agents' shares; None shares: they cannot be kept."""
    session.execute(delete(EvaluationBasis))
    session.execute(
        insert(EvaluationBasis).values(
            run_id=run.id,
            evaluated_at=run.started_at,
            catalog_hash=catalog.hash,
            settings=settings,
            event_count=events.count,
            event_max_id=events.max_id,
            is_partitioned=shares is not None,
        )
    )
    if scope is None:
        session.execute(delete(AgentCheckShare))
    else:
        ordered = sorted(scope.agents)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            session.execute(delete(AgentCheckShare).where(AgentCheckShare.agent_id.in_(chunk)))
    rows = [{"agent_id": agent_id, "stats": stats} for agent_id, stats in (shares or {}).items() if stats]
    for start in range(0, len(rows), 5_000):
        session.execute(insert(AgentCheckShare), rows[start : start + 5_000])
