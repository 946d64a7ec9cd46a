"""Identity checks: every agent is owned, purposeful, reviewed, and proves who it is."""

from __future__ import annotations

import re
from collections.abc import Iterator

from app.checks import Outcome, check, fail, pass_
from app.snapshot import Snapshot

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@check
def agent_has_accountable_owner(snap: Snapshot) -> Iterator[Outcome]:
    """Every agent names an accountable human owner by e-mail."""
    for a in snap.agents:
        if a.owner and EMAIL.match(a.owner):
            yield pass_("agent", a.id, f"Agent {a.id} is owned by {a.owner}.")
        elif a.owner:
            yield fail(
                "agent", a.id, f"Agent {a.id}'s owner {a.owner!r} is not an e-mail address of a person."
            )
        else:
            yield fail("agent", a.id, f"Agent {a.id} has no owner: no human is accountable for it.")


@check
def agent_has_own_workload_identity(snap: Snapshot) -> Iterator[Outcome]:
    """Every agent in service proves itself with its own workload or service identity."""
    for a in snap.agents:
        if a.status == "retired":
            continue
        if a.identity_kind in ("workload", "service_account") and a.identity_id:
            yield pass_(
                "agent", a.id, f"Agent {a.id} has its own {a.identity_kind} identity {a.identity_id}."
            )
        elif a.identity_kind in ("workload", "service_account"):
            yield fail(
                "agent", a.id, f"Agent {a.id} declares a {a.identity_kind} identity but no identity id."
            )
        elif a.identity_kind == "user_delegated":
            yield fail(
                "agent", a.id, f"Agent {a.id} acts with a human's delegated identity, not one of its own."
            )
        else:
            yield fail(
                "agent", a.id, f"Agent {a.id} authenticates with {a.identity_kind}, not a workload identity."
            )


@check
def agent_identity_not_shared(snap: Snapshot) -> Iterator[Outcome]:
    """No two agents present the same identity."""
    for a in snap.agents:
        if not a.identity_id:
            continue
        others = [h for h in snap.identity_holders.get(a.identity_id, ()) if h != a.id]
        if others:
            yield fail(
                "agent", a.id, f"Agent {a.id} shares identity {a.identity_id} with {', '.join(others)}."
            )
        else:
            yield pass_("agent", a.id, f"Agent {a.id} is the only holder of identity {a.identity_id}.")


@check
def agent_identity_attested(snap: Snapshot) -> Iterator[Outcome]:
    """Active production agents have identities bound to an approved execution environment."""
    for a in snap.agents:
        if a.environment != "production" or a.status != "active":
            continue
        if a.identity_attested:
            yield pass_("agent", a.id, f"Production agent {a.id}'s identity is attested to its environment.")
        else:
            yield fail(
                "agent",
                a.id,
                f"Production agent {a.id}'s identity is not attested to an approved environment.",
            )


@check
def agent_declares_purpose(snap: Snapshot) -> Iterator[Outcome]:
    """Every agent in service declares the task scope it exists for."""
    for a in snap.agents:
        if a.status == "retired":
            continue
        if a.purpose:
            yield pass_("agent", a.id, f"Agent {a.id} declares its purpose: {a.purpose[:80]}")
        else:
            yield fail(
                "agent",
                a.id,
                f"Agent {a.id} declares no purpose, so its access cannot be judged against one.",
            )


@check
def agent_access_reviewed(snap: Snapshot) -> Iterator[Outcome]:
    """Active agents' access was reviewed within their review interval."""
    for a in snap.agents:
        if a.status != "active":
            continue
        if a.last_reviewed_at is None:
            yield fail("agent", a.id, f"Agent {a.id}'s access has never been reviewed.")
        elif snap.is_overdue(a.last_reviewed_at, a.review_interval_days):
            yield fail(
                "agent",
                a.id,
                f"Agent {a.id}'s access was last reviewed {a.last_reviewed_at:%Y-%m-%d}, "
                f"over {a.review_interval_days} days ago.",
            )
        else:
            yield pass_("agent", a.id, f"Agent {a.id}'s access was reviewed {a.last_reviewed_at:%Y-%m-%d}.")


@check
def retired_agent_has_no_live_credentials(snap: Snapshot) -> Iterator[Outcome]:
    """Retired agents hold no credential that still works."""
    for a in snap.agents:
        if a.status != "retired":
            continue
        live = [
            c
            for c in (snap.credentials_by_id.get(cid) for cid in a.credentials)
            if c and c.revoked_at is None and (c.expires_at is None or c.expires_at > snap.now)
        ]
        if live:
            yield fail(
                "agent",
                a.id,
                f"Retired agent {a.id} still holds live credential(s) {', '.join(c.id for c in live)}.",
            )
        else:
            yield pass_("agent", a.id, f"Retired agent {a.id} holds no live credential.")
