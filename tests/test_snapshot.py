"""Snapshot indexes: built for speed, they must equal the plain definitions they replace, on any input."""

from __future__ import annotations

import fnmatch
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from app.snapshot import Agent, Event, Inventory, McpServer, Policy, Snapshot, Tool

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def plain_events_by_access(events) -> dict:
    index = defaultdict(list)
    for event in events:
        index[(event.agent, event.tool)].append(event)
    return {k: tuple(sorted(v, key=lambda e: (e.at, e.event_id))) for k, v in index.items()}


def plain_events_by_agent(events) -> dict:
    index = defaultdict(list)
    for (agent_id, _), group in sorted(plain_events_by_access(events).items()):
        index[agent_id].extend(group)
    return {k: tuple(sorted(v, key=lambda e: (e.at, e.event_id))) for k, v in index.items()}


def random_events(rnd: random.Random, n: int, *, in_order: bool) -> list[Event]:
    agents = [f"a{i}" for i in range(5)]
    tools = [f"s{i}.t{j}" for i in range(3) for j in range(3)]
    events = [
        Event(
            # Repeated ids and times on purpose: ties must come out as sorting each group would put them.
            event_id=f"e{rnd.randrange(n)}",
            at=NOW - timedelta(minutes=rnd.randrange(30)),
            agent=rnd.choice(agents),
            tool=rnd.choice(tools),
            decision=rnd.choice(["allow", "deny"]),
            task=rnd.choice([None, "t"]),
        )
        for _ in range(n)
    ]
    if in_order:
        events.sort(key=lambda e: (e.at, e.event_id, e.tool))
    return events


@pytest.mark.parametrize("in_order", [True, False])
@pytest.mark.parametrize("seed", range(20))
def test_event_indexes_equal_grouping_then_sorting_each_group(seed, in_order):
    events = random_events(random.Random(seed), 200, in_order=in_order)
    snap = Snapshot(Inventory(), now=NOW, events=tuple(events))
    by_access = plain_events_by_access(events)
    assert snap.events_by_access == by_access
    assert list(snap.events_by_access) == list(by_access)  # the order the checks see the pairs in
    by_agent = plain_events_by_agent(events)
    assert snap.events_by_agent == by_agent
    assert list(snap.events_by_agent) == list(by_agent)
    for agent_id, tools in snap.events_by_agent_tool.items():
        assert tools == {
            tool: by_access[(agent_id, tool)] for tool in dict.fromkeys(e.tool for e in by_agent[agent_id])
        }
    since = NOW - timedelta(minutes=10)
    for agent_id, group in by_agent.items():
        assert snap.events_since(agent_id, since) == tuple(e for e in group if e.at >= since)


@pytest.mark.parametrize("seed", range(10))
def test_a_log_vouched_in_order_gives_the_indexes_a_checked_one_does(seed):
    # load_events() returns the log in (time, event id) order with unique ids, and says so.
    events = random_events(random.Random(seed), 200, in_order=False)
    unique = sorted({e.event_id: e for e in events}.values(), key=lambda e: (e.at, e.event_id))
    vouched = Snapshot(Inventory(), now=NOW, events=tuple(unique), events_ordered=True)
    checked = Snapshot(Inventory(), now=NOW, events=tuple(unique))
    assert list(vouched.events_by_access.items()) == list(checked.events_by_access.items())
    assert list(vouched.events_by_agent.items()) == list(checked.events_by_agent.items())
    assert vouched.events_by_agent_tool == checked.events_by_agent_tool
    assert vouched.allowed_by_access == {
        pair: tuple(e for e in group if e.decision == "allow")
        for pair, group in checked.events_by_access.items()
        if any(e.decision == "allow" for e in group)
    }


def test_an_empty_log_has_no_events_unless_the_store_says_so():
    assert Snapshot(Inventory(), now=NOW).has_events is False
    assert Snapshot(Inventory(), now=NOW, has_events=True).has_events is True


@pytest.mark.parametrize("seed", range(10))
def test_policies_for_equals_matching_every_pattern_of_every_policy_naming_the_agent(seed):
    rnd = random.Random(seed)
    tools = [Tool(f"srv{i}", f"tool{j}") for i in range(4) for j in range(12)]
    servers = tuple(
        McpServer(f"srv{i}", "http", tools=tuple(t for t in tools if t.server_id == f"srv{i}"))
        for i in range(4)
    )
    agents = tuple(
        Agent(f"a{i}", "production", "workload", tools=tuple(t.ref for t in tools)) for i in range(4)
    )
    patterns = [
        "srv1.*",
        "srv?.tool1",
        "srv[02].tool1?",
        "*",
        "*.tool3",
        "srv3.tool7",
        "srv2.[!t]*",
        "[",
        "srv1.tool1",
    ]
    policies = tuple(
        Policy(
            id=f"p{rnd.randrange(8)}",  # repeated ids: the first that covers a pair counts, as before
            evaluation="runtime",
            effect=rnd.choice(["allow", "deny"]),
            subjects=tuple(rnd.sample(["a0", "a1", "a2", "a3", "*"], rnd.randint(1, 2))),
            tools=tuple(rnd.sample(patterns, rnd.randint(1, 3))),
        )
        for _ in range(12)
    )
    snap = Snapshot(Inventory(agents, servers, (), policies), now=NOW)
    for agent in agents:
        for tool in tools:
            # As the snapshot always decided it: policies naming the agent, then those naming '*'.
            candidates = [p for p in policies if agent.id in p.subjects] + [
                p for p in policies if "*" in p.subjects
            ]
            allows, denies, seen = [], [], set()
            for policy in candidates:
                if policy.id in seen or not any(fnmatch.fnmatchcase(tool.ref, p) for p in policy.tools):
                    continue
                seen.add(policy.id)
                (denies if policy.effect == "deny" else allows).append(policy)
            expected = (tuple(allows), tuple(denies))
            assert snap.policies_for(agent.id, tool.ref) == expected
            for policy in policies:
                assert policy.covers(agent.id, tool.ref) == (
                    ("*" in policy.subjects or agent.id in policy.subjects)
                    and any(fnmatch.fnmatchcase(tool.ref, p) for p in policy.tools)
                )
