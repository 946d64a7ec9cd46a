"""Runtime-evidence checks: what the gateways' audit logs show the agents actually did.

The static checks say whether governance is designed to hold; these say whether it held,
call by call. Each examines the recorded calls of one agent-tool pair (or one agent) and
names the offending events, a few at most, so that a finding stays readable at any volume.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import chain
from operator import attrgetter

from app.checks import Outcome, check, fail, pass_
from app.snapshot import Approval, Event, Snapshot

EXAMPLES = 3
_in_log_order = attrgetter("at", "event_id", "tool")
_depth_of = attrgetter("chain_depth")
_credential_of = attrgetter("credential")


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _examples(problems: list[tuple[Event, str]]) -> str:
    shown = "; ".join(f"{e.event_id} at {_when(e.at)} ({why})" for e, why in problems[:EXAMPLES])
    more = len(problems) - EXAMPLES
    return shown + (f"; and {more} more" if more > 0 else "")


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _is_valid_at(approval: Approval, at: datetime) -> bool:
    return (approval.approved_at is None or approval.approved_at <= at) and (
        approval.expires_at is None or at <= approval.expires_at
    )


def _approval_problem(snap: Snapshot, event: Event) -> str | None:
    """Why a call is not covered by a matching approval valid at its time, or None when it is."""
    if not event.approval:
        pair = snap.approvals_by_access.get((event.agent, event.tool), ())
        if any(_is_valid_at(a, event.at) for a in pair):
            return None
        return "no approval"
    approval = snap.approvals_by_id.get(event.approval)
    if approval is None:
        return f"approval {event.approval} is not on record"
    if (approval.agent, approval.tool) != (event.agent, event.tool):
        return f"approval {approval.id} was issued to {approval.agent} for {approval.tool}"
    if approval.approved_at and event.at < approval.approved_at:
        return f"approval {approval.id} was granted only at {_when(approval.approved_at)}"
    if approval.expires_at and event.at > approval.expires_at:
        return f"approval {approval.id} expired at {_when(approval.expires_at)}"
    if event.task and approval.task and event.task != approval.task:
        return f"approval {approval.id} was for the task {approval.task!r}"
    return None


@check
def sensitive_calls_have_approval(snap: Snapshot) -> Iterator[Outcome]:
    """Every allowed call to a sensitive tool that changes things carries a human approval valid then."""
    for (agent_id, ref), allowed in snap.allowed_by_access.items():
        tool = snap.tools_by_ref.get(ref)
        if tool is None or not tool.is_sensitive or tool.is_read_only:
            continue
        subject = f"{agent_id}::{ref}"
        problems = [(e, why) for e in allowed if (why := _approval_problem(snap, e))]
        if problems:
            yield fail(
                "access",
                subject,
                f"{agent_id} called sensitive tool {ref} without a valid human approval "
                f"in {len(problems)} of {len(allowed)} calls: {_examples(problems)}.",
            )
        else:
            yield pass_(
                "access",
                subject,
                f"All {len(allowed)} allowed calls of {agent_id} to {ref} carried an approval valid then.",
            )


def _depth_bound(snap: Snapshot, agent_id: str, ref: str) -> int | None:
    """The deepest chain any allowing policy permits; None when unbounded or ungoverned."""
    allows, _ = snap.policies_for(agent_id, ref)
    bounds = [p.max_chain_depth for p in allows]
    if not bounds or None in bounds:
        return None
    return max(bounds)


@check
def calls_within_chain_depth_limit(snap: Snapshot) -> Iterator[Outcome]:
    """Allowed calls stay within the chain depth their policies permit."""
    for (agent_id, ref), allowed in snap.allowed_by_access.items():
        bound = _depth_bound(snap, agent_id, ref)
        if bound is None:
            continue
        depths = [d for d in map(_depth_of, allowed) if d is not None]
        if not depths:
            continue
        subject = f"{agent_id}::{ref}"
        if max(depths) > bound:
            problems = [
                (e, f"depth {e.chain_depth}")
                for e in allowed
                if e.chain_depth is not None and e.chain_depth > bound
            ]
            yield fail(
                "access",
                subject,
                f"{agent_id} called {ref} deeper in a tool-call chain than its policies allow "
                f"(at most {bound}) {_times(len(problems))}: {_examples(problems)}.",
            )
        else:
            yield pass_(
                "access",
                subject,
                f"All {len(depths)} calls of {agent_id} to {ref} stayed within chain depth {bound}.",
            )


def _credential_problem(snap: Snapshot, event: Event) -> str | bool | None:
    """Why the call's credential was not usable then; None when it was; False when it cannot be judged."""
    credential = snap.credentials_by_id.get(event.credential)
    if credential is None:
        approval = snap.approvals_by_id.get(event.approval) if event.approval else None
        # An ephemeral credential minted for an approval is traceable even when it is not inventoried.
        return None if approval and approval.credential_issued == event.credential else False
    if credential.revoked_at and credential.revoked_at <= event.at:
        return f"{credential.id} was revoked on {credential.revoked_at.date()}"
    if credential.expires_at and credential.expires_at <= event.at:
        return f"{credential.id} expired on {credential.expires_at.date()}"
    return None


@check
def calls_use_unexpired_credentials(snap: Snapshot) -> Iterator[Outcome]:
    """Allowed calls present credentials that were neither revoked nor expired at the time."""
    # Credentials never revoked and never expiring were valid whenever they were used.
    always_valid = frozenset(
        i for i, c in snap.credentials_by_id.items() if not c.revoked_at and not c.expires_at
    )
    # Every other inventoried credential stops being valid at its revocation or expiry, whichever
    # is first: a call is a problem exactly when it is at or after that time.
    unusable_from = {
        i: min(t for t in (c.revoked_at, c.expires_at) if t)
        for i, c in snap.credentials_by_id.items()
        if i not in always_valid
    }
    known = snap.credentials_by_id
    for (agent_id, ref), allowed in snap.allowed_by_access.items():
        # Counted per credential (in C), since a pair's calls use only a few.
        uses = Counter(map(_credential_of, allowed))
        uses.pop(None, None)
        uses.pop("", None)
        if not uses:
            continue
        # A credential not inventoried can be judged only when it was minted for the call's approval.
        unknown = [c for c in uses if c not in known]
        unjudged = (
            sum(1 for e in allowed if e.credential in unknown and _credential_problem(snap, e) is False)
            if unknown
            else 0
        )
        judged_count = sum(uses.values()) - unjudged
        if not judged_count:
            continue
        subject = f"{agent_id}::{ref}"
        # The calls are in time order: when the last is before every credential's end, none is after.
        ends = [unusable_from[c] for c in uses if c in unusable_from]
        problems = (
            [
                (e, _credential_problem(snap, e))
                for e in allowed
                if (since := unusable_from.get(e.credential)) is not None and e.at >= since
            ]
            if ends and allowed[-1].at >= min(ends)
            else []
        )
        if problems:
            yield fail(
                "access",
                subject,
                f"{agent_id} called {ref} with a revoked or expired credential "
                f"{_times(len(problems))}: {_examples(problems)}.",
            )
        else:
            yield pass_(
                "access",
                subject,
                f"All {judged_count} calls of {agent_id} to {ref} used a credential that was valid then.",
            )


@check
def calls_come_from_inventoried_agents(snap: Snapshot) -> Iterator[Outcome]:
    """Every agent seen calling tools is in the inventory: no shadow agents."""
    for agent_id, events in snap.events_by_agent.items():
        if agent_id in snap.agents_by_id:
            yield pass_(
                "agent", agent_id, f"{agent_id}, seen in {len(events)} calls, is an inventoried agent."
            )
            continue
        tools = ", ".join(sorted({e.tool for e in events}))
        decisions = Counter(e.decision for e in events)
        yield fail(
            "agent",
            agent_id,
            f"Agent {agent_id} is not in the inventory but made {len(events)} tool calls "
            f"({', '.join(f'{n} {d}' for d, n in sorted(decisions.items()))}) to {tools}, "
            f"first at {_when(events[0].at)} ({events[0].event_id}).",
        )


@check
def calls_stay_within_declared_tools(snap: Snapshot) -> Iterator[Outcome]:
    """Inventoried agents call only the tools they declare (or tools of the servers their client lists)."""
    for agent_id, events in snap.events_by_agent.items():
        agent = snap.agents_by_id.get(agent_id)
        if agent is None:
            continue
        declared = set(agent.tools)
        servers = set(agent.mcp_servers)
        by_tool = snap.events_by_agent_tool[agent_id]
        # Judged per tool rather than per call; the calls outside keep the agent's time order.
        groups = [by_tool[t] for t in by_tool if t not in declared and t.split(".", 1)[0] not in servers]
        outside = list(groups[0]) if len(groups) == 1 else sorted(chain(*groups), key=_in_log_order)
        if outside:
            tools = Counter(e.tool for e in outside)
            listed = ", ".join(f"{t} ({n}×)" for t, n in sorted(tools.items()))
            problems = [(e, f"{e.tool}, {e.decision}") for e in outside]
            yield fail(
                "agent",
                agent_id,
                f"{agent_id} tried tools it does not declare: {listed}. Calls: {_examples(problems)}.",
            )
        else:
            yield pass_(
                "agent", agent_id, f"All {len(events)} calls of {agent_id} were to tools it declares."
            )


@check
def production_agent_is_monitored(snap: Snapshot) -> Iterator[Outcome]:
    """Active production agents show up in the audit logs (when any audit log is imported)."""
    if not snap.has_events:
        return
    window = timedelta(days=snap.setting("monitoring_window_days", 30))
    since = snap.now - window
    for agent in snap.agents:
        if agent.environment != "production" or agent.status != "active":
            continue
        events = snap.events_by_agent.get(agent.id, ())
        recent = snap.events_since(agent.id, since)
        if recent:
            yield pass_(
                "agent",
                agent.id,
                f"{agent.id} made {len(recent)} recorded calls in the last {window.days} days, "
                f"the newest at {_when(recent[-1].at)}.",
            )
        else:
            last = f"; its last recorded call was at {_when(events[-1].at)}" if events else ""
            yield fail(
                "agent",
                agent.id,
                f"Active production agent {agent.id} has no recorded tool calls in the last {window.days} "
                f"days{last}: either it is idle (retire it) or its calls bypass the audited gateways.",
            )
