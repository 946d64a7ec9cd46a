"""Delegation checks: bounded, acyclic, and never a path to tools the delegator may not use."""

from __future__ import annotations

from collections.abc import Iterator

from app.checks import Outcome, check, fail, pass_
from app.snapshot import Snapshot


@check
def delegation_depth_is_bounded(snap: Snapshot) -> Iterator[Outcome]:
    """Agents that delegate bound how far their work may be handed on."""
    for a in snap.agents:
        if not a.delegates_to:
            continue
        if a.max_delegation_depth is None:
            yield fail(
                "agent", a.id, f"Agent {a.id} delegates to {', '.join(a.delegates_to)} with no depth bound."
            )
        else:
            yield pass_(
                "agent", a.id, f"Agent {a.id}'s delegation is bounded to {a.max_delegation_depth} hop(s)."
            )


@check
def delegation_does_not_escalate_privilege(snap: Snapshot) -> Iterator[Outcome]:
    """Through its delegates, an agent reaches no sensitive tool it is not itself allowed to use."""
    for a in snap.agents:
        if not a.delegates_to:
            continue
        own = {x.tool.ref for x in snap.accesses_by_agent.get(a.id, ()) if x.is_allowed}
        escalations = []
        for delegate_id in snap.delegates_within(a):
            delegate = snap.agents_by_id.get(delegate_id)
            for ref in delegate.tools if delegate else ():
                tool = snap.tools_by_ref.get(ref)
                if tool is not None and tool.is_sensitive and ref not in own:
                    escalations.append(f"{ref} via {delegate_id}")
        if escalations:
            yield fail(
                "agent",
                a.id,
                f"Agent {a.id} reaches sensitive tool(s) it may not use itself: "
                f"{', '.join(escalations[:5])}{' and more' if len(escalations) > 5 else ''}.",
            )
        else:
            yield pass_(
                "agent", a.id, f"Agent {a.id}'s delegates reach no sensitive tool beyond its own grants."
            )


@check
def delegation_graph_has_no_cycles(snap: Snapshot) -> Iterator[Outcome]:
    """No agent can hand work back to itself through a chain of delegates."""
    cycles = snap.delegation_cycles
    for a in snap.agents:
        if not a.delegates_to:
            continue
        if a.id in cycles:
            yield fail("agent", a.id, f"Agent {a.id} is on a delegation cycle: {' → '.join(cycles[a.id])}.")
        else:
            yield pass_("agent", a.id, f"Agent {a.id}'s delegation chain ends; it is on no cycle.")
