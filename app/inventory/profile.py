"""agent_profile(): everything an auditor asks about one agent, and its delegation graph as a picture."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup
from sqlalchemy import String, bindparam, case, cast, func, literal_column, or_, select, union_all
from sqlmodel import Session

from app.inventory.store import Selection, load_inventory, names_agent, policy_ids_naming
from app.models import inventory as m
from app.models.assessment import ACTIVE_STATUSES, Finding
from app.models.runtime import AuditEvent
from app.snapshot import Access, Agent, Approval, Credential, McpServer, Snapshot

RECENT_CALLS = 50


@dataclass
class AgentProfile:
    """Who owns an agent, how it proves itself, what it holds and reaches, who approved what, what is open."""

    agent: Agent
    credentials: list[tuple[Credential, tuple[str, ...]]]
    accesses: list[Access]
    delegates: dict[str, int]
    delegated_by: list[str]
    approvals: list[Approval]
    findings: list[Finding]
    graph: Markup
    calls: list[AuditEvent]
    call_count: int
    servers: list[McpServer]


def agent_profile(session: Session, agent_id: str, *, now: datetime) -> AgentProfile | None:
    """The profile of one agent, or None when no such agent exists."""
    component = _delegation_component(session, agent_id)
    snapshot = Snapshot(load_inventory(session, _profile_selection(session, agent_id, component)), now=now)
    agent = snapshot.agents_by_id.get(agent_id)
    if agent is None:
        return None
    holders: dict[str, list[str]] = defaultdict(list)
    for holder, credential_id in _run(session, _HOLDERS, ids=list(agent.credentials)):
        holders[credential_id].append(holder)
    credentials = [
        (snapshot.credentials_by_id[c], tuple(holders[c]))
        for c in agent.credentials
        if c in snapshot.credentials_by_id
    ]
    # Every listed tool it can reach, as Snapshot.accesses has them (which leaves out retired agents).
    accesses = [
        Access(agent, snapshot.tools_by_ref[ref], *snapshot.policies_for(agent.id, ref))
        for ref in agent.tools
        if ref in snapshot.tools_by_ref
    ]
    delegated_by = [source for (source,) in _run(session, _DELEGATED_BY, agent=agent.id)]
    findings = list(session.execute(_FINDINGS, {"agent": agent.id}).scalars())
    delegates = snapshot.delegates_within(agent)
    calls = list(session.execute(_CALLS, {"agent": agent.id}).scalars())
    call_count = len(calls) if len(calls) < RECENT_CALLS else _run(session, _CALL_COUNT, agent=agent.id)[0][0]
    return AgentProfile(
        agent=agent,
        credentials=credentials,
        accesses=accesses,
        delegates=delegates,
        delegated_by=delegated_by,
        approvals=list(snapshot.approvals),
        findings=findings,
        graph=delegation_svg(agent, snapshot, delegated_by),
        calls=calls,
        call_count=call_count,
        servers=[snapshot.servers_by_id[s] for s in agent.mcp_servers if s in snapshot.servers_by_id],
    )


# The page's statements, built once (building a select costs more than running one of these) and
# run on the session's connection with parameters: a page of one agent runs about fifteen.
_AGENT = bindparam("agent", type_=String)
_IDS = bindparam("ids", expanding=True)
_HOLDERS = (
    select(m.AgentCredential.agent_id, m.AgentCredential.credential_id)
    .where(m.AgentCredential.credential_id.in_(_IDS))
    .order_by(m.AgentCredential.agent_id)
)
_DELEGATED_BY = (
    select(m.AgentDelegation.agent_id)
    .where(m.AgentDelegation.delegate_id == _AGENT)
    .order_by(m.AgentDelegation.agent_id)
)
_FINDINGS = (
    select(Finding)
    .where(Finding.agent_id == _AGENT, Finding.status.in_(ACTIVE_STATUSES))
    .order_by(Finding.severity, Finding.check_id)
)
_CALLS = (
    select(AuditEvent)
    .where(AuditEvent.agent == _AGENT)
    .order_by(AuditEvent.at.desc(), AuditEvent.event_id.desc())
    .limit(RECENT_CALLS)
)
_CALL_COUNT = select(func.count()).where(AuditEvent.agent == _AGENT)


def _component_query():
    """The agents linked to :agent by delegation in either direction, by a recursive walk of the edges."""
    edge = m.AgentDelegation
    # Typed: PostgreSQL wants the walk's first row and its steps of one type.
    component = select(cast(_AGENT, String).label("id")).cte("component", recursive=True)
    step = select(case((edge.agent_id == component.c.id, edge.delegate_id), else_=edge.agent_id)).join(
        component, or_(edge.agent_id == component.c.id, edge.delegate_id == component.c.id)
    )
    component = component.union(step)
    return select(component.c.id)


_COMPONENT = _component_query()


def _kind(name: str):
    return literal_column(f"'{name}'", String)


def _selection_query():
    """The ids of one profile's entries, as (kind, id): the servers of its component's tools and its own
    servers, credentials, approvals and the policies that may name it, in one statement."""
    component_tools = select(m.AgentTool.tool_ref).where(m.AgentTool.agent_id.in_(_IDS))
    return union_all(
        select(_kind("server"), m.Tool.server_id).where(m.Tool.ref.in_(component_tools)),
        select(_kind("server"), m.AgentServer.server_id).where(m.AgentServer.agent_id == _AGENT),
        select(_kind("credential"), m.AgentCredential.credential_id).where(
            m.AgentCredential.agent_id == _AGENT
        ),
        select(_kind("approval"), m.Approval.id).where(m.Approval.agent_id == _AGENT),
        select(_kind("policy"), m.PolicySubject.policy_id).where(names_agent(_AGENT)),
    )


_SELECTION = _selection_query()


def _run(session: Session, statement, **parameters) -> list:
    """A Core statement's rows, on the session's connection (no ORM layer in between)."""
    return session.connection().execute(statement, parameters).all()


def _delegation_component(session: Session, agent_id: str) -> set[str]:
    """The agents linked to this one by delegation in either direction: every cycle through it is inside.

    A recursive query walks the edges from the agent, so a page reads only the component, never
    every delegation of the organisation.
    """
    return {agent for (agent,) in _run(session, _COMPONENT, agent=agent_id)}


def _profile_selection(session: Session, agent_id: str, component: set[str]) -> Selection:
    """The ids one profile reads: its delegation component, their servers, its own entries."""
    ids: dict[str, set[str]] = defaultdict(set)
    for kind, entry in _run(session, _SELECTION, agent=agent_id, ids=sorted(component)):
        ids[kind].add(entry)
    return Selection(
        agents=frozenset(component),
        mcp_servers=frozenset(ids["server"]),
        credentials=frozenset(ids["credential"]),
        policies=frozenset(ids["policy"]),
        approvals=frozenset(ids["approval"]),
    )


def delegation_svg(agent: Agent, snapshot: Snapshot, delegated_by: list[str]) -> Markup:
    """The agent's delegation neighbourhood: who hands it work (left), it, and whom it reaches (right)."""
    layers: list[list[str]] = []
    if delegated_by:
        layers.append(delegated_by)
    layers.append([agent.id])
    seen = {agent.id}
    frontier = [agent.id]
    edges: list[tuple[str, str]] = [(d, agent.id) for d in delegated_by]
    while frontier and len(layers) < 6:
        nxt = []
        for current in frontier:
            for delegate in (
                snapshot.agents_by_id[current].delegates_to if current in snapshot.agents_by_id else ()
            ):
                edges.append((current, delegate))
                if delegate not in seen:
                    seen.add(delegate)
                    nxt.append(delegate)
        if nxt:
            layers.append(sorted(nxt))
        frontier = nxt
    box_w, box_h, gap_x, gap_y = 150, 30, 60, 16
    height = max(len(layer) for layer in layers) * (box_h + gap_y) + gap_y
    width = len(layers) * (box_w + gap_x) + gap_x
    pos = {}
    for i, layer in enumerate(layers):
        offset = (height - len(layer) * (box_h + gap_y) + gap_y) / 2
        for j, node in enumerate(layer):
            pos.setdefault(node, (gap_x + i * (box_w + gap_x), offset + j * (box_h + gap_y)))
    cycles = snapshot.delegation_cycles
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="Delegation graph of {escape(agent.id)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#495057"/></marker></defs>',
    ]
    for source, target in edges:
        if source not in pos or target not in pos:
            continue
        (x1, y1), (x2, y2) = pos[source], pos[target]
        colour = "#c92a2a" if source in cycles and target in cycles else "#495057"
        if x2 > x1:
            start, end = (x1 + box_w, y1 + box_h / 2), (x2, y2 + box_h / 2)
        else:  # an edge back to an earlier layer closes a cycle: draw it below the boxes
            start, end = (x1 + box_w / 2, y1 + box_h), (x2 + box_w / 2, y2 + box_h)
        parts.append(
            f'<line x1="{start[0]:.0f}" y1="{start[1]:.0f}" x2="{end[0]:.0f}" y2="{end[1]:.0f}" '
            f'stroke="{colour}" stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    for node, (x, y) in pos.items():
        record = snapshot.agents_by_id.get(node)
        fill = "#1c7ed6" if node == agent.id else ("#fff5f5" if node in cycles else "#f8f9fa")
        text = "#ffffff" if node == agent.id else "#212529"
        label = node if len(node) <= 22 else node[:21] + "…"
        sensitive = (
            sum(
                1
                for ref in record.tools
                if ref in snapshot.tools_by_ref and snapshot.tools_by_ref[ref].is_sensitive
            )
            if record
            else 0
        )
        parts.append(
            f"<g><title>{escape(node)}: {sensitive} sensitive tool(s)</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="5" fill="{fill}" '
            'stroke="#495057"/>'
            f'<text x="{x + box_w / 2:.0f}" y="{y + box_h / 2 + 4:.0f}" font-size="11" text-anchor="middle" '
            f'fill="{text}">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def subject_record(session: Session, kind: str, subject_id: str) -> dict | None:
    """A finding's subject as it stands in the inventory, in the contract's format (the evidence)."""
    from app.inventory.export import inventory_documents

    none = frozenset()
    by_kind = {
        "agent": "agents",
        "credential": "credentials",
        "policy": "policies",
        "mcp_server": "mcp_servers",
        "approval": "approvals",
    }
    if kind == "tool":
        server_id, _, tool_name = subject_id.partition(".")
        selection = Selection(none, frozenset({server_id}), none, none, none)
        documents = inventory_documents(load_inventory(session, selection))
        server = next((s for s in documents["mcp_servers"] if s["id"] == server_id), None)
        tool = next((t for t in (server or {}).get("tools", []) if t["name"] == tool_name), None)
        return {"server": server_id, **tool} if tool else None
    if kind == "access":
        agent_id, _, tool_ref = subject_id.partition("::")
        server_id, _, tool_name = tool_ref.partition(".")
        selection = Selection(
            frozenset({agent_id}),
            frozenset({server_id}),
            none,
            frozenset(policy_ids_naming(session, agent_id)),
            none,
        )
        inventory = load_inventory(session, selection)
        documents = inventory_documents(inventory)
        agent = next((a for a in documents["agents"] if a["id"] == agent_id), None)
        server = next((s for s in documents["mcp_servers"] if s["id"] == server_id), None)
        tool = next((t for t in (server or {}).get("tools", []) if t["name"] == tool_name), None)
        snapshot = Snapshot(inventory, now=datetime.now().astimezone())
        allows, denies = snapshot.policies_for(agent_id, tool_ref)
        return {
            "agent": agent,
            "tool": {"server": server_id, **(tool or {})},
            "allow_policies": [p.id for p in allows],
            "deny_policies": [p.id for p in denies],
        }
    if kind not in by_kind:
        return None
    selection = Selection(
        **{k: frozenset({subject_id}) if k == by_kind[kind] else none for k in by_kind.values()}
    )
    entries = inventory_documents(load_inventory(session, selection)).get(by_kind[kind], [])
    return next((e for e in entries if e["id"] == subject_id), None)
