"""The read-only, indexed view of the inventory that every check reads.

Records are plain dataclasses in the contract's shape (see docs/inventory-format.md); the
importer produces them from documents, the database layer produces them from rows, and the
snapshot indexes them once so that each check is a single pass.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from itertools import groupby, islice
from operator import attrgetter, eq, le
from typing import NamedTuple

SENSITIVE_LEVELS = frozenset({"high", "critical"})


def is_glob(pattern: str) -> bool:
    """Whether a tool pattern has fnmatch wildcards; one without them matches only itself."""
    return "*" in pattern or "?" in pattern or "[" in pattern


def canonical_json(value) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text (and equal hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Agent:
    """A non-human identity that acts through tools."""

    id: str
    environment: str
    identity_kind: str
    name: str | None = None
    owner: str | None = None
    team: str | None = None
    status: str = "active"
    autonomy: str = "supervised"
    purpose: str | None = None
    identity_id: str | None = None
    identity_attested: bool = False
    tools: tuple[str, ...] = ()
    credentials: tuple[str, ...] = ()
    network_reach: tuple[str, ...] = ()
    delegates_to: tuple[str, ...] = ()
    mcp_servers: tuple[str, ...] = ()
    max_delegation_depth: int | None = None
    created_at: datetime | None = None
    last_reviewed_at: datetime | None = None
    review_interval_days: int = 90


@dataclass(frozen=True)
class Tool:
    """A tool offered by an MCP server."""

    server_id: str
    name: str
    description: str | None = None
    sensitivity: str = "medium"
    annotations: tuple[tuple[str, bool], ...] = ()
    data_classes: tuple[str, ...] = ()
    title: str | None = None
    # Schemas are kept as canonical JSON text so that records stay hashable and comparable.
    input_schema: str | None = None
    output_schema: str | None = None
    auto_approved: bool = False
    reviewed_definition_hash: str | None = None
    definition_reviewed_at: datetime | None = None

    @cached_property
    def definition_hash(self) -> str | None:
        """SHA-256 of the definition a client sees (name, description, schemas, annotations).

        Only tools whose definition was imported (they have an input schema) have one.
        """
        if self.input_schema is None:
            return None
        definition = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": json.loads(self.input_schema),
            "outputSchema": json.loads(self.output_schema) if self.output_schema else None,
            "annotations": dict(self.annotations),
        }
        return "sha256:" + hashlib.sha256(canonical_json(definition).encode("utf-8")).hexdigest()

    @cached_property
    def ref(self) -> str:
        """The contract's reference to this tool: SERVER_ID.TOOL_NAME."""
        return f"{self.server_id}.{self.name}"

    @cached_property
    def is_read_only(self) -> bool:
        """The server declares that the tool changes nothing (readOnlyHint)."""
        return dict(self.annotations).get("readOnlyHint") is True

    @cached_property
    def is_sensitive(self) -> bool:
        """High or critical, or destructive by annotation or by MCP's defaults."""
        if self.sensitivity in SENSITIVE_LEVELS:
            return True
        hints = dict(self.annotations)
        if not hints:
            # MCP's defaults: a tool with no annotations is neither read-only nor non-destructive.
            return True
        if hints.get("destructiveHint") is True:
            return True
        # destructiveHint defaults to true for tools that are not read-only.
        return hints.get("readOnlyHint") is not True and "destructiveHint" not in hints


@dataclass(frozen=True)
class McpServer:
    """Where tools live."""

    id: str
    transport: str
    name: str | None = None
    owner: str | None = None
    url: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    package: str | None = None
    version: str | None = None
    auth: str | None = None
    audience_validated: bool = False
    token_passthrough: bool = False
    gateway: str | None = None
    source: str | None = None
    client: str | None = None
    scope: str | None = None
    bridge: str | None = None
    enabled: bool = True
    auto_approve_all: bool = False
    tools: tuple[Tool, ...] = ()

    @property
    def is_remote(self) -> bool:
        """Reached over the network (sse or http) rather than launched locally."""
        return self.transport in ("sse", "http")


@dataclass(frozen=True)
class Credential:
    """Metadata about a secret an agent holds; never the secret itself."""

    id: str
    kind: str
    issuer: str | None = None
    audience: str | None = None
    scopes: tuple[str, ...] = ()
    ttl_seconds: int | None = None
    expires_at: datetime | None = None
    last_rotated_at: datetime | None = None
    revoked_at: datetime | None = None
    rotation_interval_days: int = 90
    storage: str = "unknown"
    fingerprint: str | None = None


@dataclass(frozen=True)
class Policy:
    """An MCP governance rule."""

    id: str
    evaluation: str
    effect: str
    subjects: tuple[str, ...]
    tools: tuple[str, ...]
    description: str | None = None
    owner: str | None = None
    engine: str | None = None
    require_approval: bool = False
    approvers: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    max_chain_depth: int | None = None
    jit_credential_ttl_seconds: int | None = None
    rate_limit_per_minute: int | None = None
    last_reviewed_at: datetime | None = None
    review_interval_days: int = 180

    def covers(self, agent_id: str, tool_ref: str) -> bool:
        """Whether this policy's subjects and tool patterns match the pair."""
        if "*" not in self.subjects and agent_id not in self.subjects:
            return False
        return self.covers_tool(tool_ref)

    def covers_tool(self, tool_ref: str) -> bool:
        """Whether one of this policy's tool patterns matches the tool (fnmatch, case-sensitive)."""
        exact, match = self._tool_matcher
        return tool_ref in exact or (match is not None and match(tool_ref) is not None)

    @cached_property
    def _tool_matcher(self) -> tuple[frozenset[str], Callable | None]:
        # Exact references are a set lookup and every glob is one compiled regex: the same answer
        # as fnmatchcase per pattern, without a call per pattern per access.
        globs = [p for p in self.tools if is_glob(p)]
        exact = frozenset(p for p in self.tools if not is_glob(p))
        if not globs:
            return exact, None
        return exact, re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in globs)).match


@dataclass(frozen=True)
class Approval:
    """A human approval issued for one task of one agent on one tool."""

    id: str
    agent: str
    tool: str
    task: str | None = None
    approved_by: str | None = None
    approved_at: datetime | None = None
    expires_at: datetime | None = None
    credential_issued: str | None = None


class Event(NamedTuple):
    """One tool call a gateway recorded: the runtime evidence the runtime checks read."""

    # A named tuple rather than a dataclass: a million of them are built per evaluation, twice as fast.
    event_id: str
    at: datetime
    agent: str
    tool: str
    decision: str
    task: str | None = None
    approval: str | None = None
    credential: str | None = None
    chain_depth: int | None = None
    delegated_by: str | None = None


@dataclass(frozen=True)
class Inventory:
    """Every record of one inventory, by kind."""

    agents: tuple[Agent, ...] = ()
    mcp_servers: tuple[McpServer, ...] = ()
    credentials: tuple[Credential, ...] = ()
    policies: tuple[Policy, ...] = ()
    approvals: tuple[Approval, ...] = ()


@dataclass(frozen=True)
class Access:
    """One agent's access to one tool, with the policies that decide it."""

    agent: Agent
    tool: Tool
    allows: tuple[Policy, ...]
    denies: tuple[Policy, ...]

    @cached_property
    def subject_id(self) -> str:
        """Stable id of this access as a finding subject."""
        return f"{self.agent.id}::{self.tool.ref}"

    @property
    def is_denied(self) -> bool:
        """A deny policy matches; deny wins over allow."""
        return bool(self.denies)

    @property
    def is_allowed(self) -> bool:
        """Governed: an allow policy covers it and no deny matches."""
        return bool(self.allows) and not self.denies

    @property
    def is_ungoverned(self) -> bool:
        """No policy says anything about it."""
        return not self.allows and not self.denies


@dataclass
class Snapshot:
    """The inventory with the indexes checks need, built once per evaluation."""

    inventory: Inventory
    now: datetime
    settings: dict = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    # Whether any audit log is imported at all; None means "events is not empty". A re-evaluation of
    # a few agents loads only their events, yet the store may hold other agents' events.
    has_events: bool | None = None
    # The caller vouches that events are in (time, event id) order with no event id twice, as
    # load_events() returns them: the event indexes then skip checking the order of a million events.
    events_ordered: bool = False
    _policy_memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.has_events is None:
            self.has_events = bool(self.events)

    def setting(self, name: str, default):
        """A check threshold from settings, or its default."""
        return self.settings.get(name, default)

    @property
    def agents(self) -> tuple[Agent, ...]:
        return self.inventory.agents

    @property
    def mcp_servers(self) -> tuple[McpServer, ...]:
        return self.inventory.mcp_servers

    @property
    def credentials(self) -> tuple[Credential, ...]:
        return self.inventory.credentials

    @property
    def policies(self) -> tuple[Policy, ...]:
        return self.inventory.policies

    @property
    def approvals(self) -> tuple[Approval, ...]:
        return self.inventory.approvals

    @cached_property
    def agents_by_id(self) -> dict[str, Agent]:
        return {a.id: a for a in self.agents}

    @cached_property
    def servers_by_id(self) -> dict[str, McpServer]:
        return {s.id: s for s in self.mcp_servers}

    @cached_property
    def tools_by_ref(self) -> dict[str, Tool]:
        return {t.ref: t for s in self.mcp_servers for t in s.tools}

    @cached_property
    def sensitive_tools(self) -> tuple[Tool, ...]:
        return tuple(t for t in self.tools_by_ref.values() if t.is_sensitive)

    @cached_property
    def credentials_by_id(self) -> dict[str, Credential]:
        return {c.id: c for c in self.credentials}

    @cached_property
    def credential_holders(self) -> dict[str, tuple[str, ...]]:
        """Credential id → ids of the agents that list it."""
        holders: dict[str, list[str]] = defaultdict(list)
        for agent in self.agents:
            for cred_id in agent.credentials:
                holders[cred_id].append(agent.id)
        return {k: tuple(v) for k, v in holders.items()}

    @cached_property
    def identity_holders(self) -> dict[str, tuple[str, ...]]:
        """Identity id → ids of the agents that present it."""
        holders: dict[str, list[str]] = defaultdict(list)
        for agent in self.agents:
            if agent.identity_id:
                holders[agent.identity_id].append(agent.id)
        return {k: tuple(v) for k, v in holders.items()}

    @cached_property
    def policies_by_subject(self) -> dict[str, tuple[Policy, ...]]:
        """Agent id (or '*') → the policies naming it as a subject."""
        index: dict[str, list[Policy]] = defaultdict(list)
        for policy in self.policies:
            for subject in set(policy.subjects):
                index[subject].append(policy)
        return {k: tuple(v) for k, v in index.items()}

    def policies_for(self, agent_id: str, tool_ref: str) -> tuple[tuple[Policy, ...], tuple[Policy, ...]]:
        """The (allow, deny) policies that cover an agent's use of a tool."""
        key = (agent_id, tool_ref)
        found = self._policy_memo.get(key)
        if found is None:
            by_subject = self.policies_by_subject
            # Every candidate names the agent or '*', so only its tool patterns remain to match.
            candidates = by_subject.get(agent_id, ()) + by_subject.get("*", ())
            allows, denies, seen = [], [], set()
            for policy in candidates:
                if policy.id in seen or not policy.covers_tool(tool_ref):
                    continue
                seen.add(policy.id)
                (denies if policy.effect == "deny" else allows).append(policy)
            found = self._policy_memo[key] = (tuple(allows), tuple(denies))
        return found

    @cached_property
    def accesses(self) -> tuple[Access, ...]:
        """Every (agent, listed tool) pair of every agent that is not retired."""
        result = []
        for agent in self.agents:
            if agent.status == "retired":
                continue
            for ref in agent.tools:
                tool = self.tools_by_ref.get(ref)
                if tool is None:
                    continue
                allows, denies = self.policies_for(agent.id, ref)
                result.append(Access(agent, tool, allows, denies))
        return tuple(result)

    @cached_property
    def accesses_by_agent(self) -> dict[str, tuple[Access, ...]]:
        index: dict[str, list[Access]] = defaultdict(list)
        for access in self.accesses:
            index[access.agent.id].append(access)
        return {k: tuple(v) for k, v in index.items()}

    def delegates_within(self, agent: Agent) -> dict[str, int]:
        """Agents reachable through delegation within the agent's bound, with their distance."""
        bound = agent.max_delegation_depth
        reached: dict[str, int] = {}
        frontier = [agent.id]
        depth = 0
        while frontier and (bound is None or depth < bound):
            depth += 1
            nxt = []
            for current in frontier:
                source = self.agents_by_id.get(current)
                for delegate in source.delegates_to if source else ():
                    if delegate != agent.id and delegate not in reached:
                        reached[delegate] = depth
                        nxt.append(delegate)
            frontier = nxt
        return reached

    @cached_property
    def delegation_cycles(self) -> dict[str, tuple[str, ...]]:
        """Agent id → the agents of the delegation cycle it is on (strongly connected components)."""
        index_of: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        result: dict[str, tuple[str, ...]] = {}
        counter = 0
        graph = {a.id: [d for d in a.delegates_to if d in self.agents_by_id] for a in self.agents}
        for root in graph:
            if root in index_of:
                continue
            # Iterative Tarjan: recursion would overflow on long delegation chains.
            work = [(root, iter(graph[root]))]
            index_of[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                node, children = work[-1]
                advanced = False
                for child in children:
                    if child not in index_of:
                        index_of[child] = low[child] = counter
                        counter += 1
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, iter(graph[child])))
                        advanced = True
                        break
                    if child in on_stack:
                        low[node] = min(low[node], index_of[child])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index_of[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    is_cycle = len(component) > 1 or node in graph[node]
                    if is_cycle:
                        members = tuple(sorted(component))
                        for member in component:
                            result[member] = members
        return result

    @cached_property
    def approvals_by_id(self) -> dict[str, Approval]:
        return {a.id: a for a in self.approvals}

    @cached_property
    def approvals_by_access(self) -> dict[tuple[str, str], tuple[Approval, ...]]:
        """(agent id, tool ref) → the approvals issued for that pair."""
        index: dict[tuple[str, str], list[Approval]] = defaultdict(list)
        for approval in self.approvals:
            index[(approval.agent, approval.tool)].append(approval)
        return {k: tuple(v) for k, v in index.items()}

    @cached_property
    def _events_grouped(self) -> tuple[dict, dict, dict]:
        """The event indexes, from the events in (time, event id, tool) order.

        The whole log is sorted once (a mere check for a log loaded in time order) and grouped by
        agent, then each agent's calls by tool with a stable sort: each group is then in time order,
        ties included, exactly as sorting each group would put it.
        """
        events = self.events
        key = attrgetter("at", "event_id", "tool")
        if self.events_ordered:
            is_sorted = True
        else:
            keys = list(map(key, events))
            is_sorted = all(map(le, keys, islice(keys, 1, None)))
            del keys
        ordered = events if is_sorted else sorted(events, key=key)
        by_agent: dict[str, list[Event]] = {}
        find = by_agent.get
        for event in ordered:
            agent_id = event[2]  # event.agent, a little faster a million times
            group = find(agent_id)
            if group is None:
                by_agent[agent_id] = [event]
            else:
                group.append(event)
        # Grouping by tool with a stable sort and groupby keeps each tool's calls in time order, in C.
        tool_of = attrgetter("tool")
        by_agent_tool: dict[str, dict[str, tuple[Event, ...]]] = {
            agent_id: {tool: tuple(group) for tool, group in groupby(sorted(calls, key=tool_of), tool_of)}
            for agent_id, calls in by_agent.items()
        }
        # The pairs in the order in which they first appear in the log, as the checks have them.
        if is_sorted:
            firsts = sorted(
                (key(group[0]), agent_id, tool)
                for agent_id, tools in by_agent_tool.items()
                for tool, group in tools.items()
            )
            if any(map(eq, (f[0] for f in firsts), (f[0] for f in islice(firsts, 1, None)))):
                # Two pairs' first calls tie on time, id and tool (a repeated event id): by position then.
                position = {id(event): i for i, event in enumerate(events)}
                firsts.sort(key=lambda first: position[id(by_agent_tool[first[1]][first[2]][0])])
            pairs = [(agent_id, tool) for _, agent_id, tool in firsts]
        else:
            pairs = list(dict.fromkeys(map(attrgetter("agent", "tool"), events)))
        by_access = {pair: by_agent_tool[pair[0]][pair[1]] for pair in pairs}
        return (
            by_access,
            {agent_id: tuple(by_agent[agent_id]) for agent_id in sorted(by_agent)},
            by_agent_tool,
        )

    @cached_property
    def events_by_access(self) -> dict[tuple[str, str], tuple[Event, ...]]:
        """(agent id, tool ref) → that pair's recorded calls, in time order."""
        return self._events_grouped[0]

    @cached_property
    def allowed_by_access(self) -> dict[tuple[str, str], tuple[Event, ...]]:
        """(agent id, tool ref) → that pair's calls the gateway allowed, in time order; pairs with
        none are left out. The runtime checks judge allowed calls only: they filter once, here."""
        allowed = {}
        for pair, events in self.events_by_access.items():
            calls = tuple([e for e in events if e[4] == "allow"])  # e.decision
            if calls:
                allowed[pair] = calls
        return allowed

    @cached_property
    def events_by_agent(self) -> dict[str, tuple[Event, ...]]:
        """Agent id (inventoried or not) → its recorded calls, in time order."""
        return self._events_grouped[1]

    @cached_property
    def events_by_agent_tool(self) -> dict[str, dict[str, tuple[Event, ...]]]:
        """Agent id → tool ref → that pair's recorded calls, in time order; tools in name order."""
        return self._events_grouped[2]

    def events_since(self, agent_id: str, since: datetime) -> tuple[Event, ...]:
        """An agent's recorded calls at or after a time, in time order."""
        events = self.events_by_agent.get(agent_id, ())
        return events[bisect_left(events, since, key=attrgetter("at")) :]

    def is_overdue(self, reviewed_at: datetime | None, interval_days: int) -> bool:
        """Never reviewed, or last reviewed longer ago than the interval."""
        return reviewed_at is None or self.now - reviewed_at > timedelta(days=interval_days)
