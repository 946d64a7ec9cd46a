"""Builders for check tests: small snapshots made straight from records, at a fixed time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.checks import REGISTRY, load_checks
from app.snapshot import Agent, Approval, Credential, Inventory, McpServer, Policy, Snapshot, Tool

NOW = datetime(2026, 11, 24, tzinfo=UTC)
DAY = timedelta(days=1)

READ = Tool("srv", "read", sensitivity="low", annotations=(("readOnlyHint", True),))
WRITE = Tool("srv", "write", sensitivity="high", annotations=(("destructiveHint", True),))
SERVER = McpServer(
    "srv",
    "http",
    url="https://srv.example/mcp",
    auth="oauth2",
    audience_validated=True,
    gateway="gw",
    tools=(READ, WRITE),
)


def agent(id: str = "bot", **kw) -> Agent:
    base = Agent(
        id=id,
        environment="production",
        identity_kind="workload",
        owner="o@example.org",
        purpose="Do one job",
        identity_id=f"spiffe://x/{id}",
        identity_attested=True,
        last_reviewed_at=NOW - 10 * DAY,
    )
    return replace(base, **kw)


def policy(id: str = "p", **kw) -> Policy:
    base = Policy(
        id=id,
        evaluation="runtime",
        effect="allow",
        subjects=("bot",),
        tools=("srv.write", "srv.read"),
        owner="o@example.org",
        require_approval=True,
        intents=("Task",),
        max_chain_depth=3,
        jit_credential_ttl_seconds=300,
        last_reviewed_at=NOW - 10 * DAY,
    )
    return replace(base, **kw)


def credential(id: str = "c", **kw) -> Credential:
    base = Credential(
        id=id, kind="jit_token", audience="srv", scopes=("read",), ttl_seconds=600, storage="vault"
    )
    return replace(base, **kw)


def snapshot(agents=(), servers=(SERVER,), credentials=(), policies=(), approvals=(), events=()) -> Snapshot:
    return Snapshot(
        Inventory(tuple(agents), tuple(servers), tuple(credentials), tuple(policies), tuple(approvals)),
        now=NOW,
        events=tuple(events),
    )


def outcome(check_id: str, snap: Snapshot, subject_id: str):
    """The one outcome a check gives for a subject (None when it does not examine it)."""
    load_checks()
    found = [o for o in REGISTRY[check_id](snap) if o.subject_id == subject_id]
    assert len(found) <= 1
    if found:
        assert subject_id.split("::")[0] in found[0].detail, found[0].detail
    return found[0] if found else None


__all__ = [
    "DAY",
    "NOW",
    "READ",
    "SERVER",
    "WRITE",
    "Approval",
    "agent",
    "credential",
    "outcome",
    "policy",
    "snapshot",
]
