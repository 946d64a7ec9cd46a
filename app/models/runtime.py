"""Runtime evidence tables: the tool calls gateways recorded, as imported from their audit logs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class Decision(StrEnum):
    """What the gateway did with a tool call."""

    ALLOW = "allow"  # the call went through
    DENY = "deny"  # a policy (or a person) refused the call
    ERROR = "error"  # the call was let through but failed, or the gateway could not decide


class AuditLogFormat(StrEnum):
    """The audit log formats an import reads."""

    STEWARD = "steward"  # the contract's JSON Lines (ts, agent, tool, decision, …)
    CONTEXTFORGE = "contextforge"  # IBM ContextForge audit_trails rows, one JSON object a line
    AGT = "agt"  # agent-governance-toolkit (AgentMesh) AuditEntry, one JSON object a line
    XETRACK = "xetrack"  # lasso mcp-gateway xetrack rows, one JSON object a line


class AuditEvent(SQLModel, table=True):
    """One tool call a gateway recorded: who called which tool, when, and what the gateway decided."""

    __tablename__ = "audit_event"
    # An agent's calls in time order (its page, a re-evaluation of it). No index on tool or import:
    # nothing looks events up by them, and each index costs every one of a million inserts.
    __table_args__ = (Index("ix_audit_event_agent_at", "agent", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, index=True)
    at: datetime = Field(index=True)
    agent: str
    tool: str
    decision: str
    task: str | None = None
    approval: str | None = None
    credential: str | None = None
    chain_depth: int | None = None
    delegated_by: str | None = None
    source_format: str
    import_id: int | None = None
