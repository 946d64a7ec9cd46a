"""Move inventory records in and out of the database with set-based statements."""

from __future__ import annotations

import gc
import json
from collections import defaultdict, namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Integer,
    String,
    TypeDecorator,
    bindparam,
    delete,
    insert,
    literal,
    select,
)
from sqlmodel import Session
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from app.models import inventory as m
from app.snapshot import Agent, Approval, Credential, Inventory, McpServer, Policy, Tool

try:
    from orjson import loads as json_loads
except ImportError:  # pragma: no cover - orjson is optional; the standard library reads the same JSON
    json_loads = json.loads

CHUNK = 500


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk load or store, and collect nothing until the end.

    Reading, validating and writing tens of thousands of records allocates millions of objects that
    live until the work is done; every collection on the way walks all of them again, which costs
    more than the work itself (60% of an inventory import). Cycles made meanwhile are collected after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class Selection:
    """Which entries of each kind to load, by id; None loads every entry of that kind."""

    agents: frozenset[str] | None = None
    mcp_servers: frozenset[str] | None = None
    credentials: frozenset[str] | None = None
    policies: frozenset[str] | None = None
    approvals: frozenset[str] | None = None


ALL = Selection()


def _rows_of(session: Session, queries: tuple, ids: frozenset[str] | None) -> Iterator:
    """The rows of a pair from _queries: all of them, or only those whose key is one of ids (chunked)."""
    everything, some = queries
    if ids is None:
        yield from _execute(session, everything)
        return
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield from _execute(session, some, {"ids": ordered[start : start + CHUNK]})


@cache
def _queries(table, columns: tuple[str, ...], key: str, order: tuple[str, ...]) -> tuple:
    """A table's select (its columns, or all when none are named) in order, and that select by key.

    Built once: constructing a select costs more than running a small one, and an agent's page runs
    ten of them. The keys are an expanding parameter, so one statement serves any number of ids.
    """
    selected = [getattr(table, c) for c in columns] if columns else [table.__table__]
    everything = select(*selected).order_by(*(getattr(table, c) for c in order))
    return everything, everything.where(getattr(table, key).in_(bindparam("ids", expanding=True)))


def _utc_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _sqlite_reader(column_type):
    """How a column type reads SQLite's value: None as it is; KeyError for a type not handled here."""
    if isinstance(column_type, UTCDateTime):
        return _utc_datetime  # SQLite keeps the UTC time without its offset
    if isinstance(column_type, AutoString):
        return None
    if isinstance(column_type, TypeDecorator):
        raise KeyError(column_type)
    for kind, reader in ((JSON, json_loads), (Boolean, bool), (DateTime, datetime.fromisoformat)):
        if isinstance(column_type, kind):
            return reader
    if isinstance(column_type, String | Integer):
        return None
    raise KeyError(column_type)


@lru_cache(maxsize=256)
def _row_type(keys: tuple[str, ...]) -> type:
    """One named tuple class per column list: making one costs more than a small query (an exec)."""
    return namedtuple("Row", keys, rename=True)


def _execute(session: Session, query, parameters: dict | None = None) -> list:
    """A select's rows (named tuples), on SQLite read straight from the driver.

    The driver's values are converted here per column (JSON text, datetimes, booleans) as the
    column types would, without SQLAlchemy's per-value processing: the inventory is 200,000 rows
    at scale, and loading it is part of every evaluation. Other databases go through SQLAlchemy.
    """
    connection = session.connection()
    columns = list(query.selected_columns)
    try:
        readers = [_sqlite_reader(c.type) for c in columns]
    except KeyError:
        readers = None
    if connection.dialect.name != "sqlite" or readers is None:
        return list(connection.execute(query, parameters))
    # Executed by SQLAlchemy, whose cache keeps each statement's compiled form (compiling one costs
    # more than a page's query), and fetched from the driver's cursor: raw tuples, no per-value work.
    result = connection.execute(query, parameters)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    row = _row_type(tuple(c.key for c in columns))
    converted = [(i, read) for i, read in enumerate(readers) if read is not None]
    if not converted:
        return list(map(row._make, rows))
    result = []
    for values in rows:
        values = list(values)
        for i, read in converted:
            if values[i] is not None:
                values[i] = read(values[i])
        result.append(row._make(values))
    return result


def _grouped(session: Session, table, key: str, value: str, ids: frozenset[str] | None) -> dict[str, tuple]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for owner, item in _rows_of(session, _queries(table, (key, value), key, (key, "position")), ids):
        grouped[owner].append(item)
    return {k: tuple(v) for k, v in grouped.items()}


def load_inventory(session: Session, selection: Selection = ALL) -> Inventory:
    """The inventory as records, in id order: all of it, or only the entries selected by id."""
    ids = selection.agents
    agent_tools = _grouped(session, m.AgentTool, "agent_id", "tool_ref", ids)
    agent_creds = _grouped(session, m.AgentCredential, "agent_id", "credential_id", ids)
    agent_delegates = _grouped(session, m.AgentDelegation, "agent_id", "delegate_id", ids)
    agent_servers = _grouped(session, m.AgentServer, "agent_id", "server_id", ids)
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
        for a in _records(session, m.Agent, ids)
    )
    tools_by_server: dict[str, list[Tool]] = defaultdict(list)
    tools = _queries(m.Tool, (), "server_id", ("server_id", "position"))
    for t in _rows_of(session, tools, selection.mcp_servers):
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
        for s in _records(session, m.McpServer, selection.mcp_servers)
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
        for c in _records(session, m.Credential, selection.credentials)
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
        for p in _records(session, m.Policy, selection.policies)
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
        for a in _records(session, m.Approval, selection.approvals)
    )
    return Inventory(agents, servers, credentials, policies, approvals)


def names_agent(agent):
    """The rule by which a policy may name an agent: the agent's id, or '*', is among its subjects.

    `agent` is an id or a bound parameter; the condition is on policy_subject (an index lookup).
    """
    return m.PolicySubject.subject.in_([agent, literal("*", String)])


def policy_ids_naming(session: Session, agent_id: str) -> list[str]:
    """Ids of the policies that name the agent, or '*', among their subjects."""
    return list(
        session.execute(
            select(m.PolicySubject.policy_id)
            .where(names_agent(agent_id))
            .distinct()
            .order_by(m.PolicySubject.policy_id)
        ).scalars()
    )


def _records(session: Session, model, ids: frozenset[str] | None) -> list:
    """A table's rows (plain rows, not ORM entities: several times cheaper) in id order."""
    # Chunks come back in order, and _rows_of hands them over in id order too.
    return list(_rows_of(session, _queries(model, (), "id", ("id",)), ids))


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
            rows[m.PolicySubject] += [dict(policy_id=r.id, subject=x) for x in dict.fromkeys(r.subjects)]
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
    "policies": [(m.PolicySubject, "policy_id"), (m.Policy, "id")],
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
    m.PolicySubject,
    m.Approval,
]


def delete_entries(session: Session, kind: str, ids: list[str]) -> None:
    """Delete entries of a kind (and their child rows) by id."""
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for table, column in _DELETE_ORDER[kind]:
            session.execute(delete(table).where(getattr(table, column).in_(chunk)))


INSERT_CHUNK = 5_000


def _column_defaults(table) -> list[tuple[str, object]]:
    return [(c.name, c.default.arg) for c in table.__table__.columns if c.default is not None]


_DEFAULTS = {table: _column_defaults(table) for table in _INSERT_ORDER}


def insert_entries(session: Session, kind: str, records: list) -> None:
    """Insert records of a kind (and their child rows) in bulk."""
    rows = _rows(kind, records)
    connection = session.connection()
    for table in _INSERT_ORDER:
        batch = rows.get(table)
        if not batch:
            continue
        # A None where the column has a default stores the default, as the ORM would have.
        for name, default in _DEFAULTS[table]:
            for row in batch:
                if row[name] is None:
                    row[name] = default
        # Core executemany, not the ORM's bulk insert: that groups rows by which values are None
        # and sends one statement per group, thousands of round trips for an inventory.
        statement = insert(table.__table__)
        for start in range(0, len(batch), INSERT_CHUNK):
            connection.execute(statement, batch[start : start + INSERT_CHUNK])
