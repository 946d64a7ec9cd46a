"""Access and policy checks, each with a passing and a failing case."""

from tests.checks.conftest import DAY, NOW, agent, outcome, policy, snapshot

BOT = agent("bot", tools=("srv.write", "srv.read"), autonomy="autonomous")


def test_ungoverned_tool_fails_and_a_deny_counts_as_governed():
    snap = snapshot(
        [BOT, agent("other", tools=("srv.read",)), agent("denied", tools=("srv.write",))],
        policies=[policy(), policy("deny", effect="deny", subjects=("denied",), tools=("srv.*",))],
    )
    assert outcome("tool_access_governed_by_policy", snap, "bot::srv.write").passed
    assert not outcome("tool_access_governed_by_policy", snap, "other::srv.read").passed
    assert outcome("tool_access_governed_by_policy", snap, "denied::srv.write").passed


def test_sensitive_tool_without_approval_fails_even_if_another_policy_requires_it():
    good = snapshot([BOT], policies=[policy()])
    assert outcome("sensitive_tool_requires_human_approval", good, "bot::srv.write").passed
    assert outcome("sensitive_tool_requires_human_approval", good, "bot::srv.read") is None  # not sensitive
    lax = snapshot([BOT], policies=[policy(), policy("lax", require_approval=False)])
    assert not outcome("sensitive_tool_requires_human_approval", lax, "bot::srv.write").passed


def test_deny_wins_so_a_denied_sensitive_tool_is_not_examined():
    snap = snapshot(
        [BOT], policies=[policy(require_approval=False), policy("no", effect="deny", tools=("srv.write",))]
    )
    assert outcome("sensitive_tool_requires_human_approval", snap, "bot::srv.write") is None


def test_task_scoped_credential_of_five_minutes_passes_and_none_fails():
    assert outcome(
        "sensitive_tool_uses_task_scoped_credential", snapshot([BOT], policies=[policy()]), "bot::srv.write"
    ).passed
    snap = snapshot([BOT], policies=[policy(jit_credential_ttl_seconds=None)])
    assert not outcome("sensitive_tool_uses_task_scoped_credential", snap, "bot::srv.write").passed
    snap = snapshot([BOT], policies=[policy(jit_credential_ttl_seconds=3600)])
    assert not outcome("sensitive_tool_uses_task_scoped_credential", snap, "bot::srv.write").passed


def test_grant_without_intents_fails():
    assert outcome(
        "sensitive_tool_policy_constrains_intent", snapshot([BOT], policies=[policy()]), "bot::srv.write"
    ).passed
    snap = snapshot([BOT], policies=[policy(intents=())])
    assert not outcome("sensitive_tool_policy_constrains_intent", snap, "bot::srv.write").passed


def test_static_policy_fails_runtime_passes():
    assert outcome(
        "policy_evaluated_at_runtime", snapshot([BOT], policies=[policy()]), "bot::srv.read"
    ).passed
    snap = snapshot([BOT], policies=[policy(evaluation="static")])
    assert not outcome("policy_evaluated_at_runtime", snap, "bot::srv.read").passed


def test_wildcard_pattern_or_subject_reaching_a_sensitive_tool_fails():
    snap = snapshot(
        [BOT],
        policies=[
            policy(),
            policy("wild", tools=("srv.*",)),
            policy("reads", tools=("srv.r*",)),
            policy("everyone", subjects=("*",), tools=("srv.write",)),
        ],
    )
    assert outcome("policy_grants_no_wildcard_to_sensitive_tools", snap, "p").passed
    assert not outcome("policy_grants_no_wildcard_to_sensitive_tools", snap, "wild").passed
    assert outcome("policy_grants_no_wildcard_to_sensitive_tools", snap, "reads").passed
    assert not outcome("policy_grants_no_wildcard_to_sensitive_tools", snap, "everyone").passed


def test_autonomous_agent_needs_a_depth_bound_on_every_grant():
    assert outcome(
        "autonomous_agent_has_chain_depth_limit", snapshot([BOT], policies=[policy()]), "bot"
    ).passed
    snap = snapshot(
        [BOT], policies=[policy(tools=("srv.write",)), policy("r", tools=("srv.read",), max_chain_depth=None)]
    )
    assert not outcome("autonomous_agent_has_chain_depth_limit", snap, "bot").passed
    supervised = snapshot([agent("bot", tools=("srv.read",))], policies=[policy(max_chain_depth=None)])
    assert outcome("autonomous_agent_has_chain_depth_limit", supervised, "bot") is None


def test_direct_network_reach_fails():
    snap = snapshot([agent("a"), agent("b", network_reach=("s3://raw",))])
    assert outcome("agent_has_no_direct_network_reach", snap, "a").passed
    assert not outcome("agent_has_no_direct_network_reach", snap, "b").passed


def test_policy_without_owner_or_with_overdue_review_fails():
    snap = snapshot(
        policies=[
            policy("ok"),
            policy("orphan", owner=None),
            policy("stale", last_reviewed_at=NOW - 400 * DAY),
        ]
    )
    assert outcome("policy_has_owner_and_review", snap, "ok").passed
    assert not outcome("policy_has_owner_and_review", snap, "orphan").passed
    assert not outcome("policy_has_owner_and_review", snap, "stale").passed


def test_a_tool_with_no_annotations_is_sensitive_by_mcp_defaults():
    from app.snapshot import Tool

    assert Tool("s", "t").is_sensitive
    assert not Tool("s", "t", annotations=(("readOnlyHint", True),)).is_sensitive
    assert Tool("s", "t", annotations=(("openWorldHint", True),)).is_sensitive
    assert not Tool("s", "t", annotations=(("destructiveHint", False),)).is_sensitive
