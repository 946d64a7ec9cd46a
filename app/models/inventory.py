"""Inventory tables: one per kind of the inventory contract, plus the links between them.

Lists that are values (scopes, policy subjects) are JSON columns; relations between entries
(agent → tool, agent → credential, agent → agent) are link tables with a position so that
an export writes them back in the order they were imported.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel


class Agent(SQLModel, table=True):
    """A non-human identity that acts through MCP tools."""

    id: str = Field(primary_key=True)
    name: str | None = None
    owner: str | None = Field(default=None, index=True)
    team: str | None = Field(default=None, index=True)
    environment: str = Field(index=True)
    status: str = Field(default="active", index=True)
    autonomy: str = "supervised"
    purpose: str | None = None
    identity_kind: str
    identity_id: str | None = Field(default=None, index=True)
    is_identity_attested: bool = False
    network_reach: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    max_delegation_depth: int | None = None
    created_at: datetime | None = None
    last_reviewed_at: datetime | None = None
    review_interval_days: int = 90


class McpServer(SQLModel, table=True):
    """An MCP server: where tools live."""

    __tablename__ = "mcp_server"

    id: str = Field(primary_key=True)
    name: str | None = None
    owner: str | None = None
    transport: str
    url: str | None = None
    command: str | None = None
    args: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    package: str | None = None
    version: str | None = None
    auth: str | None = None
    is_audience_validated: bool = False
    has_token_passthrough: bool = False
    gateway: str | None = None
    source: str | None = Field(default=None, index=True)
    client: str | None = None
    scope: str | None = None
    bridge: str | None = None
    is_enabled: bool = True
    is_auto_approve_all: bool = False


class Tool(SQLModel, table=True):
    """A tool an MCP server offers, keyed by its contract reference SERVER_ID.TOOL_NAME."""

    ref: str = Field(primary_key=True)
    server_id: str = Field(foreign_key="mcp_server.id", index=True)
    name: str
    position: int = 0
    description: str | None = None
    sensitivity: str = "medium"
    annotations: dict[str, bool] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    data_classes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: str | None = None
    # Canonical JSON text, so that the definition hash is computed from exactly what was imported.
    input_schema: str | None = Field(default=None, sa_column=Column(Text))
    output_schema: str | None = Field(default=None, sa_column=Column(Text))
    is_auto_approved: bool = False
    reviewed_definition_hash: str | None = None
    definition_reviewed_at: datetime | None = None


class Credential(SQLModel, table=True):
    """Metadata of a secret an agent holds. The secret value itself is never stored."""

    id: str = Field(primary_key=True)
    kind: str
    issuer: str | None = None
    audience: str | None = None
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ttl_seconds: int | None = None
    expires_at: datetime | None = None
    last_rotated_at: datetime | None = None
    revoked_at: datetime | None = None
    rotation_interval_days: int = 90
    storage: str = "unknown"
    fingerprint: str | None = None


class Policy(SQLModel, table=True):
    """An MCP governance rule: who may call which tools, under which conditions."""

    id: str = Field(primary_key=True)
    description: str | None = None
    owner: str | None = None
    engine: str | None = None
    evaluation: str
    effect: str
    subjects: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    tools: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    is_approval_required: bool = False
    approvers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    intents: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    max_chain_depth: int | None = None
    jit_credential_ttl_seconds: int | None = None
    rate_limit_per_minute: int | None = None
    last_reviewed_at: datetime | None = None
    review_interval_days: int = 180


class Approval(SQLModel, table=True):
    """A human approval issued for one task of an agent on a tool."""

    id: str = Field(primary_key=True)
    agent_id: str = Field(index=True)
    tool_ref: str = Field(index=True)
    task: str | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    expires_at: datetime | None = None
    credential_issued: str | None = None


class AgentTool(SQLModel, table=True):
    """An agent can reach a tool through MCP."""

    __tablename__ = "agent_tool"

    agent_id: str = Field(primary_key=True, foreign_key="agent.id")
    tool_ref: str = Field(primary_key=True, index=True)
    position: int = 0


class AgentCredential(SQLModel, table=True):
    """An agent holds a credential."""

    __tablename__ = "agent_credential"

    agent_id: str = Field(primary_key=True, foreign_key="agent.id")
    credential_id: str = Field(primary_key=True, index=True)
    position: int = 0


class AgentDelegation(SQLModel, table=True):
    """An agent may hand work to another agent."""

    __tablename__ = "agent_delegation"

    agent_id: str = Field(primary_key=True, foreign_key="agent.id")
    delegate_id: str = Field(primary_key=True, index=True)
    position: int = 0


class AgentServer(SQLModel, table=True):
    """An agent's client has an MCP server configured."""

    __tablename__ = "agent_server"

    agent_id: str = Field(primary_key=True, foreign_key="agent.id")
    server_id: str = Field(primary_key=True, index=True)
    position: int = 0


class PolicySubject(SQLModel, table=True):
    """A policy names an agent (or '*', every agent) among its subjects.

    Policy.subjects keeps the list as written; these rows index it, so that the policies that can
    apply to one agent are found by an index lookup rather than by reading every policy.
    """

    __tablename__ = "policy_subject"

    policy_id: str = Field(primary_key=True, foreign_key="policy.id")
    subject: str = Field(primary_key=True, index=True)


class ImportRecord(SQLModel, table=True):
    """One applied import: when, by whom, from which files, and what it changed."""

    __tablename__ = "import_record"

    id: int | None = Field(default=None, primary_key=True)
    imported_at: datetime = Field(index=True)
    actor: str
    source: str = "inventory"
    files: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    is_prune: bool = False
    counts: dict[str, dict[str, int]] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
