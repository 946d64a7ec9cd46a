"""Delegation checks, each with a passing and a failing case."""

from tests.checks.conftest import agent, outcome, policy, snapshot


def test_unbounded_delegation_fails():
    snap = snapshot(
        [agent("a", delegates_to=("b",), max_delegation_depth=1), agent("b", delegates_to=("c",)), agent("c")]
    )
    assert outcome("delegation_depth_is_bounded", snap, "a").passed
    assert not outcome("delegation_depth_is_bounded", snap, "b").passed
    assert outcome("delegation_depth_is_bounded", snap, "c") is None


def test_reaching_a_sensitive_tool_through_a_delegate_fails():
    planner = agent("planner", tools=("srv.read",), delegates_to=("worker",), max_delegation_depth=1)
    snap = snapshot(
        [planner, agent("worker", tools=("srv.write",))],
        policies=[policy(subjects=("planner",), tools=("srv.read",))],
    )
    result = outcome("delegation_does_not_escalate_privilege", snap, "planner")
    assert not result.passed and "srv.write via worker" in result.detail


def test_delegator_allowed_the_same_tool_passes():
    planner = agent("planner", tools=("srv.write",), delegates_to=("worker",), max_delegation_depth=1)
    snap = snapshot(
        [planner, agent("worker", tools=("srv.write",))], policies=[policy(subjects=("planner",))]
    )
    assert outcome("delegation_does_not_escalate_privilege", snap, "planner").passed


def test_escalation_two_hops_away_counts_within_the_bound_but_not_beyond():
    def chain(bound):
        return snapshot(
            [
                agent("a", delegates_to=("b",), max_delegation_depth=bound),
                agent("b", delegates_to=("c",)),
                agent("c", tools=("srv.write",)),
            ]
        )

    assert not outcome("delegation_does_not_escalate_privilege", chain(2), "a").passed
    assert outcome("delegation_does_not_escalate_privilege", chain(1), "a").passed
    assert not outcome("delegation_does_not_escalate_privilege", chain(None), "a").passed  # unbounded closure


def test_a_three_agent_cycle_fails_for_each_member():
    snap = snapshot(
        [
            agent("a", delegates_to=("b",)),
            agent("b", delegates_to=("c",)),
            agent("c", delegates_to=("a",)),
            agent("d", delegates_to=("a",)),
        ]
    )
    for member in ("a", "b", "c"):
        result = outcome("delegation_graph_has_no_cycles", snap, member)
        assert not result.passed and "a → b → c" in result.detail
    assert outcome("delegation_graph_has_no_cycles", snap, "d").passed
