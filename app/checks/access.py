"""Access and policy checks: each agent's access to each tool is governed, approved, scoped and bounded."""

from __future__ import annotations

import fnmatch
from bisect import bisect_left
from collections.abc import Iterator

from app.checks import Outcome, check, fail, pass_
from app.snapshot import Access, Snapshot, is_glob


def _ids(policies) -> str:
    return ", ".join(p.id for p in policies)


def _matching(refs: list[str], pattern: str) -> list[str]:
    """The refs (sorted) that a glob pattern matches: only those sharing its literal prefix are tried."""
    prefix = pattern[: min((i for i in map(pattern.find, "*?[") if i >= 0), default=len(pattern))]
    start = end = bisect_left(refs, prefix)
    while end < len(refs) and refs[end].startswith(prefix):
        end += 1
    return [ref for ref in refs[start:end] if fnmatch.fnmatchcase(ref, pattern)]


def _sensitive_not_denied(snap: Snapshot) -> Iterator[Access]:
    return (x for x in snap.accesses if x.tool.is_sensitive and not x.is_denied)


@check
def tool_access_governed_by_policy(snap: Snapshot) -> Iterator[Outcome]:
    """Every tool an agent can reach is decided by some policy."""
    for x in snap.accesses:
        if x.is_denied:
            yield pass_(
                "access",
                x.subject_id,
                f"Agent {x.agent.id}'s access to {x.tool.ref} is denied by policy {_ids(x.denies)}.",
            )
        elif x.is_allowed:
            yield pass_(
                "access",
                x.subject_id,
                f"Agent {x.agent.id}'s access to {x.tool.ref} is granted by policy {_ids(x.allows)}.",
            )
        else:
            yield fail(
                "access", x.subject_id, f"Agent {x.agent.id} can reach {x.tool.ref} but no policy governs it."
            )


@check
def sensitive_tool_requires_human_approval(snap: Snapshot) -> Iterator[Outcome]:
    """Calls to sensitive tools need a human's approval under every policy that grants them."""
    for x in _sensitive_not_denied(snap):
        lax = [p for p in x.allows if not p.require_approval]
        if not x.allows:
            yield fail(
                "access",
                x.subject_id,
                f"Agent {x.agent.id} can call sensitive tool {x.tool.ref} with no "
                "policy, so no human approves its calls.",
            )
        elif lax:
            yield fail(
                "access",
                x.subject_id,
                f"Agent {x.agent.id} can call sensitive tool {x.tool.ref} without "
                f"human approval under policy {_ids(lax)}.",
            )
        else:
            yield pass_(
                "access",
                x.subject_id,
                f"Agent {x.agent.id}'s calls to {x.tool.ref} need human approval (policy {_ids(x.allows)}).",
            )


@check
def sensitive_tool_uses_task_scoped_credential(snap: Snapshot) -> Iterator[Outcome]:
    """Sensitive tools are called with a credential minted per call that lives at most 15 minutes."""
    bound = snap.setting("task_credential_max_ttl_seconds", 900)
    for x in _sensitive_not_denied(snap):
        lax = [
            p
            for p in x.allows
            if p.jit_credential_ttl_seconds is None or p.jit_credential_ttl_seconds > bound
        ]
        if not x.allows:
            yield fail(
                "access",
                x.subject_id,
                f"Agent {x.agent.id}'s access to sensitive tool {x.tool.ref} is "
                "ungoverned, so no task-scoped credential is minted.",
            )
        elif lax:
            yield fail(
                "access",
                x.subject_id,
                f"Policy {_ids(lax)} lets agent {x.agent.id} call {x.tool.ref} "
                f"without a per-call credential of at most {bound} s.",
            )
        else:
            yield pass_(
                "access",
                x.subject_id,
                f"Agent {x.agent.id} calls {x.tool.ref} with a per-call credential of at most {bound} s.",
            )


@check
def sensitive_tool_policy_constrains_intent(snap: Snapshot) -> Iterator[Outcome]:
    """Grants of sensitive tools are limited to declared tasks (intents)."""
    for x in _sensitive_not_denied(snap):
        lax = [p for p in x.allows if not p.intents]
        if not x.allows:
            yield fail(
                "access",
                x.subject_id,
                f"Agent {x.agent.id}'s access to sensitive tool {x.tool.ref} is "
                "ungoverned, so no intent limits it.",
            )
        elif lax:
            yield fail(
                "access",
                x.subject_id,
                f"Policy {_ids(lax)} grants agent {x.agent.id} {x.tool.ref} for any "
                "task: it declares no intents.",
            )
        else:
            intents = sorted({i for p in x.allows for i in p.intents})
            yield pass_(
                "access",
                x.subject_id,
                f"Agent {x.agent.id} may call {x.tool.ref} only for: {'; '.join(intents)}.",
            )


@check
def policy_evaluated_at_runtime(snap: Snapshot) -> Iterator[Outcome]:
    """Granted accesses are decided per request with context, not by static role lists."""
    for x in snap.accesses:
        if not x.is_allowed:
            continue
        static = [p for p in x.allows if p.evaluation != "runtime"]
        if static:
            yield fail(
                "access",
                x.subject_id,
                f"Agent {x.agent.id}'s access to {x.tool.ref} is granted by static "
                f"policy {_ids(static)}, not decided per request.",
            )
        else:
            yield pass_(
                "access", x.subject_id, f"Agent {x.agent.id}'s access to {x.tool.ref} is decided at runtime."
            )


@check
def policy_grants_no_wildcard_to_sensitive_tools(snap: Snapshot) -> Iterator[Outcome]:
    """No allow policy reaches a sensitive tool through a wildcard pattern or a wildcard subject."""
    sensitive = sorted(t.ref for t in snap.sensitive_tools)
    sensitive_set = frozenset(sensitive)
    cache: dict[str, list[str]] = {}
    for p in snap.policies:
        if p.effect != "allow":
            continue
        hits: set[str] = set()
        for pattern in p.tools:
            if is_glob(pattern):
                if pattern not in cache:
                    cache[pattern] = _matching(sensitive, pattern)
                hits.update(cache[pattern])
            elif "*" in p.subjects and pattern in sensitive_set:
                hits.add(pattern)
        if hits:
            shown = sorted(hits)
            more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
            yield fail(
                "policy",
                p.id,
                f"Policy {p.id} grants sensitive tool(s) {', '.join(shown[:5])}{more} through a wildcard.",
            )
        else:
            yield pass_("policy", p.id, f"Policy {p.id} names every sensitive tool it grants explicitly.")


@check
def autonomous_agent_has_chain_depth_limit(snap: Snapshot) -> Iterator[Outcome]:
    """Autonomous agents' tool calls are bounded in chain depth by every grant."""
    for a in snap.agents:
        if a.status != "active" or a.autonomy != "autonomous":
            continue
        unbounded = [
            x.tool.ref
            for x in snap.accesses_by_agent.get(a.id, ())
            if not x.is_denied and (not x.allows or any(p.max_chain_depth is None for p in x.allows))
        ]
        if unbounded:
            yield fail(
                "agent",
                a.id,
                f"Autonomous agent {a.id} can chain calls without a depth bound on "
                f"{', '.join(unbounded[:5])}{' and more' if len(unbounded) > 5 else ''}.",
            )
        else:
            yield pass_("agent", a.id, f"Every grant of autonomous agent {a.id} bounds its chain depth.")


@check
def agent_has_no_direct_network_reach(snap: Snapshot) -> Iterator[Outcome]:
    """Agents reach systems only through governed MCP tools, not directly."""
    for a in snap.agents:
        if a.status == "retired":
            continue
        if a.network_reach:
            yield fail(
                "agent",
                a.id,
                f"Agent {a.id} reaches {', '.join(a.network_reach)} directly, around every policy.",
            )
        else:
            yield pass_("agent", a.id, f"Agent {a.id} reaches nothing outside its MCP tools.")


@check
def policy_has_owner_and_review(snap: Snapshot) -> Iterator[Outcome]:
    """Every policy has an owner and was reviewed within its review interval."""
    for p in snap.policies:
        if not p.owner:
            yield fail("policy", p.id, f"Policy {p.id} has no owner.")
        elif p.last_reviewed_at is None:
            yield fail("policy", p.id, f"Policy {p.id} (owner {p.owner}) has never been reviewed.")
        elif snap.is_overdue(p.last_reviewed_at, p.review_interval_days):
            yield fail(
                "policy",
                p.id,
                f"Policy {p.id} was last reviewed {p.last_reviewed_at:%Y-%m-%d}, over "
                f"{p.review_interval_days} days ago.",
            )
        else:
            yield pass_(
                "policy",
                p.id,
                f"Policy {p.id} is owned by {p.owner} and was reviewed {p.last_reviewed_at:%Y-%m-%d}.",
            )
