"""Move inventory records in and out of the database with set-based statements."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from app.models import inventory as m
from app.snapshot import Agent, Approval, Credential, Inventory, McpServer, Policy, Tool

CHUNK = 500


def _grouped(session: Session, table, key: str, value: str) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    rows = session.execute(select(getattr(table, key), getattr(table, value)).order_by(table.position))
    for owner, item in rows:
        grouped[owner].append(item)
    return {k: tuple(v) for k, v in grouped.items()}


def load_inventory(session: Session) -> Inventory:
    """The whole inventory as records, in id order."""
    agent_tools = _grouped(session, m.AgentTool, "agent_id", "tool_ref")
    agent_creds = _grouped(session, m.AgentCredential, "agent_id", "credential_id")
    agent_delegates = _grouped(session, m.AgentDelegation, "agent_id", "delegate_id")
    agent_servers = _grouped(session, m.AgentServer, "agent_id", "server_id")
    agents = tuple(
        Agent(
            id=a.id,
            name=a.name,
            owner=a.owner,
            team=a.team,
            environment=a.environment,
            status=a.status,
            autonomy=a.autonomy,
            purpose=a.purpose,
            identity_kind=a.identity_kind,
            identity_id=a.identity_id,
            identity_attested=a.is_identity_attested,
            tools=agent_tools.get(a.id, ()),
            credentials=agent_creds.get(a.id, ()),
            network_reach=tuple(a.network_reach),
            delegates_to=agent_delegates.get(a.id, ()),
            mcp_servers=agent_servers.get(a.id, ()),
            max_delegation_depth=a.max_delegation_depth,
            created_at=a.created_at,
            last_reviewed_at=a.last_reviewed_at,
            review_interval_days=a.review_interval_days,
        )
        for a in session.scalars(select(m.Agent).order_by(m.Agent.id))
    )
    tools_by_server: dict[str, list[Tool]] = defaultdict(list)
    for t in session.scalars(select(m.Tool).order_by(m.Tool.server_id, m.Tool.position)):
        tools_by_server[t.server_id].append(
            Tool(
                server_id=t.server_id,
                name=t.name,
                description=t.description,
                sensitivity=t.sensitivity,
                annotations=tuple(sorted(t.annotations.items())),
                data_classes=tuple(t.data_classes),
                title=t.title,
                input_schema=t.input_schema,
                output_schema=t.output_schema,
                auto_approved=t.is_auto_approved,
                reviewed_definition_hash=t.reviewed_definition_hash,
                definition_reviewed_at=t.definition_reviewed_at,
            )
        )
    servers = tuple(
        McpServer(
            id=s.id,
            name=s.name,
            owner=s.owner,
            transport=s.transport,
            url=s.url,
            command=s.command,
            args=tuple(s.args),
            package=s.package,
            version=s.version,
            auth=s.auth,
            audience_validated=s.is_audience_validated,
            token_passthrough=s.has_token_passthrough,
            gateway=s.gateway,
            source=s.source,
            client=s.client,
            scope=s.scope,
            bridge=s.bridge,
            enabled=s.is_enabled,
            auto_approve_all=s.is_auto_approve_all,
            tools=tuple(tools_by_server.get(s.id, ())),
        )
        for s in session.scalars(select(m.McpServer).order_by(m.McpServer.id))
    )
    credentials = tuple(
        Credential(
            id=c.id,
            kind=c.kind,
            issuer=c.issuer,
            audience=c.audience,
            scopes=tuple(c.scopes),
            ttl_seconds=c.ttl_seconds,
            expires_at=c.expires_at,
            last_rotated_at=c.last_rotated_at,
            revoked_at=c.revoked_at,
            rotation_interval_days=c.rotation_interval_days,
            storage=c.storage,
            fingerprint=c.fingerprint,
        )
        for c in session.scalars(select(m.Credential).order_by(m.Credential.id))
    )
    policies = tuple(
        Policy(
            id=p.id,
            description=p.description,
            owner=p.owner,
            engine=p.engine,
            evaluation=p.evaluation,
            effect=p.effect,
            subjects=tuple(p.subjects),
            tools=tuple(p.tools),
            require_approval=p.is_approval_required,
            approvers=tuple(p.approvers),
            intents=tuple(p.intents),
            max_chain_depth=p.max_chain_depth,
            jit_credential_ttl_seconds=p.jit_credential_ttl_seconds,
            rate_limit_per_minute=p.rate_limit_per_minute,
            last_reviewed_at=p.last_reviewed_at,
            review_interval_days=p.review_interval_days,
        )
        for p in session.scalars(select(m.Policy).order_by(m.Policy.id))
    )
    approvals = tuple(
        Approval(
            id=a.id,
            agent=a.agent_id,
            tool=a.tool_ref,
            task=a.task,
            approved_by=a.approved_by,
            approved_at=a.approved_at,
            expires_at=a.expires_at,
            credential_issued=a.credential_issued,
        )
        for a in session.scalars(select(m.Approval).order_by(m.Approval.id))
    )
    return Inventory(agents, servers, credentials, policies, approvals)


def _rows(kind: str, records: list) -> dict[type, list[dict]]:
    """The table rows (by model) that store the given records of one kind."""
    rows: dict[type, list[dict]] = defaultdict(list)
    for r in records:
        if kind == "agents":
            rows[m.Agent].append(
                dict(
                    id=r.id,
                    name=r.name,
                    owner=r.owner,
                    team=r.team,
                    environment=r.environment,
                    status=r.status,
                    autonomy=r.autonomy,
                    purpose=r.purpose,
                    identity_kind=r.identity_kind,
                    identity_id=r.identity_id,
                    is_identity_attested=r.identity_attested,
                    network_reach=list(r.network_reach),
                    max_delegation_depth=r.max_delegation_depth,
                    created_at=r.created_at,
                    last_reviewed_at=r.last_reviewed_at,
                    review_interval_days=r.review_interval_days,
                )
            )
            rows[m.AgentTool] += [dict(agent_id=r.id, tool_ref=t, position=i) for i, t in enumerate(r.tools)]
            rows[m.AgentCredential] += [
                dict(agent_id=r.id, credential_id=c, position=i) for i, c in enumerate(r.credentials)
            ]
            rows[m.AgentDelegation] += [
                dict(agent_id=r.id, delegate_id=d, position=i) for i, d in enumerate(r.delegates_to)
            ]
            rows[m.AgentServer] += [
                dict(agent_id=r.id, server_id=sid, position=i) for i, sid in enumerate(r.mcp_servers)
            ]
        elif kind == "mcp_servers":
            rows[m.McpServer].append(
                dict(
                    id=r.id,
                    name=r.name,
                    owner=r.owner,
                    transport=r.transport,
                    url=r.url,
                    command=r.command,
                    args=list(r.args),
                    package=r.package,
                    version=r.version,
                    auth=r.auth,
                    is_audience_validated=r.audience_validated,
                    has_token_passthrough=r.token_passthrough,
                    gateway=r.gateway,
                    source=r.source,
                    client=r.client,
                    scope=r.scope,
                    bridge=r.bridge,
                    is_enabled=r.enabled,
                    is_auto_approve_all=r.auto_approve_all,
                )
            )
            rows[m.Tool] += [
                dict(
                    ref=t.ref,
                    server_id=r.id,
                    name=t.name,
                    position=i,
                    description=t.description,
                    sensitivity=t.sensitivity,
                    annotations=dict(t.annotations),
                    data_classes=list(t.data_classes),
                    title=t.title,
                    input_schema=t.input_schema,
                    output_schema=t.output_schema,
                    is_auto_approved=t.auto_approved,
                    reviewed_definition_hash=t.reviewed_definition_hash,
                    definition_reviewed_at=t.definition_reviewed_at,
                )
                for i, t in enumerate(r.tools)
            ]
        elif kind == "credentials":
            rows[m.Credential].append(
                dict(
                    id=r.id,
                    kind=r.kind,
                    issuer=r.issuer,
                    audience=r.audience,
                    scopes=list(r.scopes),
                    ttl_seconds=r.ttl_seconds,
                    expires_at=r.expires_at,
                    last_rotated_at=r.last_rotated_at,
                    revoked_at=r.revoked_at,
                    rotation_interval_days=r.rotation_interval_days,
                    storage=r.storage,
                    fingerprint=r.fingerprint,
                )
            )
        elif kind == "policies":
            rows[m.Policy].append(
                dict(
                    id=r.id,
                    description=r.description,
                    owner=r.owner,
                    engine=r.engine,
                    evaluation=r.evaluation,
                    effect=r.effect,
                    subjects=list(r.subjects),
                    tools=list(r.tools),
                    is_approval_required=r.require_approval,
                    approvers=list(r.approvers),
                    intents=list(r.intents),
                    max_chain_depth=r.max_chain_depth,
                    jit_credential_ttl_seconds=r.jit_credential_ttl_seconds,
                    rate_limit_per_minute=r.rate_limit_per_minute,
                    last_reviewed_at=r.last_reviewed_at,
                    review_interval_days=r.review_interval_days,
                )
            )
        elif kind == "approvals":
            rows[m.Approval].append(
                dict(
                    id=r.id,
                    agent_id=r.agent,
                    tool_ref=r.tool,
                    task=r.task,
                    approved_by=r.approved_by,
                    approved_at=r.approved_at,
                    expires_at=r.expires_at,
                    credential_issued=r.credential_issued,
                )
            )
    return rows


# Children first on delete, parents first on insert, so foreign keys hold at every statement.
_DELETE_ORDER = {
    "agents": [
        (m.AgentTool, "agent_id"),
        (m.AgentCredential, "agent_id"),
        (m.AgentDelegation, "agent_id"),
        (m.AgentServer, "agent_id"),
        (m.Agent, "id"),
    ],
    "mcp_servers": [(m.Tool, "server_id"), (m.McpServer, "id")],
    "credentials": [(m.Credential, "id")],
    "policies": [(m.Policy, "id")],
    "approvals": [(m.Approval, "id")],
}
_INSERT_ORDER = [
    m.Agent,
    m.AgentTool,
    m.AgentCredential,
    m.AgentDelegation,
    m.AgentServer,
    m.McpServer,
    m.Tool,
    m.Credential,
    m.Policy,
    m.Approval,
]


def delete_entries(session: Session, kind: str, ids: list[str]) -> None:
    """Delete entries of a kind (and their child rows) by id."""
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for table, column in _DELETE_ORDER[kind]:
            session.execute(delete(table).where(getattr(table, column).in_(chunk)))


def insert_entries(session: Session, kind: str, records: list) -> None:
    """Insert records of a kind (and their child rows) in bulk."""
    rows = _rows(kind, records)
    for table in _INSERT_ORDER:
        batch = rows.get(table)
        for start in range(0, len(batch or ()), CHUNK):
            session.execute(insert(table), batch[start : start + CHUNK])
