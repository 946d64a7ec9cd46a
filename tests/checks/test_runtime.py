"""Runtime-evidence checks over audit events, each with a passing and a failing case."""

from __future__ import annotations

import random
from datetime import timedelta
from itertools import count

import pytest

from app.checks import REGISTRY, load_checks
from app.snapshot import Event
from tests.checks.conftest import DAY, NOW, Approval, agent, credential, outcome, policy, snapshot

BOT = agent(tools=("srv.read", "srv.write"), credentials=("c",))
_ids = count(1)
HOUR = timedelta(hours=1)


def event(tool="srv.write", at=NOW - DAY, agent_id="bot", decision="allow", **kw) -> Event:
    return Event(
        event_id=kw.pop("event_id", f"e-{next(_ids)}"),
        at=at,
        agent=agent_id,
        tool=tool,
        decision=decision,
        **kw,
    )


def approval(id="ap-1", **kw) -> Approval:
    base = dict(
        agent="bot",
        tool="srv.write",
        task="Task",
        approved_by="h@example.org",
        approved_at=NOW - 2 * DAY,
        expires_at=NOW,
        credential_issued="jit-1",
    )
    return Approval(id=id, **{**base, **kw})


APPROVAL, POLICY, CREDENTIAL = approval(), policy(), credential()


def runtime(events, approvals=(APPROVAL,), policies=(POLICY,), credentials=(CREDENTIAL,), agents=(BOT,)):
    return snapshot(
        agents=agents, policies=policies, approvals=approvals, credentials=credentials, events=events
    )


def test_sensitive_call_with_a_valid_approval_passes():
    snap = runtime([event(approval="ap-1", task="Task")])
    assert outcome("sensitive_calls_have_approval", snap, "bot::srv.write").passed


def test_sensitive_call_without_approval_fails_and_names_the_event():
    snap = runtime([event(event_id="e-bad")], approvals=())
    verdict = outcome("sensitive_calls_have_approval", snap, "bot::srv.write")
    assert not verdict.passed and "e-bad" in verdict.detail and "no approval" in verdict.detail


def test_sensitive_call_after_its_approval_expired_fails():
    snap = runtime([event(approval="ap-1", at=NOW + DAY)])
    verdict = outcome("sensitive_calls_have_approval", snap, "bot::srv.write")
    assert not verdict.passed and "expired" in verdict.detail


def test_approval_for_another_agent_or_task_does_not_count():
    other_agent = runtime([event(approval="ap-1")], approvals=(approval(agent="someone-else"),))
    other_task = runtime([event(approval="ap-1", task="Something else")])
    assert not outcome("sensitive_calls_have_approval", other_agent, "bot::srv.write").passed
    assert "was for the task" in outcome("sensitive_calls_have_approval", other_task, "bot::srv.write").detail


def test_call_without_an_approval_id_is_matched_by_agent_tool_and_time():
    assert outcome("sensitive_calls_have_approval", runtime([event()]), "bot::srv.write").passed


def test_read_only_and_denied_calls_need_no_approval():
    snap = runtime([event(tool="srv.read"), event(decision="deny")], approvals=())
    assert outcome("sensitive_calls_have_approval", snap, "bot::srv.read") is None
    assert outcome("sensitive_calls_have_approval", snap, "bot::srv.write") is None


def test_call_deeper_than_the_policy_allows_fails():
    snap = runtime([event(chain_depth=3), event(chain_depth=5, event_id="e-deep")])
    verdict = outcome("calls_within_chain_depth_limit", snap, "bot::srv.write")
    assert not verdict.passed and "e-deep" in verdict.detail and "at most 3" in verdict.detail


def test_call_within_the_chain_depth_passes_and_unbounded_policies_are_not_examined():
    assert outcome("calls_within_chain_depth_limit", runtime([event(chain_depth=3)]), "bot::srv.write").passed
    unbounded = runtime([event(chain_depth=9)], policies=(policy(max_chain_depth=None),))
    assert outcome("calls_within_chain_depth_limit", unbounded, "bot::srv.write") is None


def test_call_with_a_revoked_credential_fails():
    snap = runtime([event(credential="c")], credentials=(credential(revoked_at=NOW - 3 * DAY),))
    verdict = outcome("calls_use_unexpired_credentials", snap, "bot::srv.write")
    assert not verdict.passed and "revoked" in verdict.detail


def test_call_with_an_expired_credential_fails_and_a_valid_one_passes():
    expired = runtime([event(credential="c")], credentials=(credential(expires_at=NOW - 3 * DAY),))
    assert "expired" in outcome("calls_use_unexpired_credentials", expired, "bot::srv.write").detail
    assert outcome(
        "calls_use_unexpired_credentials", runtime([event(credential="c")]), "bot::srv.write"
    ).passed


def test_ephemeral_credential_issued_for_the_approval_counts_and_an_unknown_one_is_not_judged():
    issued = runtime([event(credential="jit-1", approval="ap-1")])
    assert outcome("calls_use_unexpired_credentials", issued, "bot::srv.write").passed
    unknown = runtime([event(credential="jit-unknown")])
    assert outcome("calls_use_unexpired_credentials", unknown, "bot::srv.write") is None


def test_calls_from_an_agent_missing_from_the_inventory_fail():
    snap = runtime([event(), event(agent_id="shadow", decision="deny", event_id="e-shadow")])
    verdict = outcome("calls_come_from_inventoried_agents", snap, "shadow")
    assert not verdict.passed and "not in the inventory" in verdict.detail and "e-shadow" in verdict.detail
    assert outcome("calls_come_from_inventoried_agents", snap, "bot").passed


def test_calls_to_undeclared_tools_fail_even_when_denied():
    snap = runtime([event(tool="srv.read"), event(tool="other.secret", decision="deny")])
    verdict = outcome("calls_stay_within_declared_tools", snap, "bot")
    assert not verdict.passed and "other.secret" in verdict.detail


def test_calls_to_declared_tools_or_servers_configured_in_the_client_pass():
    laptop = agent(tools=("srv.read",), mcp_servers=("other",))
    snap = runtime([event(tool="srv.read"), event(tool="other.anything")], agents=(laptop,))
    assert outcome("calls_stay_within_declared_tools", snap, "bot").passed


def test_active_production_agent_without_recent_calls_fails():
    quiet = agent("quiet")
    snap = runtime(
        [event(), event(agent_id="quiet", at=NOW - 45 * DAY, tool="srv.read")], agents=(BOT, quiet)
    )
    assert outcome("production_agent_is_monitored", snap, "bot").passed
    verdict = outcome("production_agent_is_monitored", snap, "quiet")
    assert not verdict.passed and "no recorded tool calls in the last 30 days" in verdict.detail


def test_monitoring_is_not_judged_without_any_audit_log_or_for_other_environments():
    assert outcome("production_agent_is_monitored", runtime([]), "bot") is None
    staging = agent("stage", environment="staging")
    suspended = agent("paused", status="suspended")
    snap = runtime([event()], agents=(BOT, staging, suspended))
    assert outcome("production_agent_is_monitored", snap, "stage") is None
    assert outcome("production_agent_is_monitored", snap, "paused") is None


# The runtime checks take shortcuts at a million calls (a credential's calls counted at once, a
# pair's last call compared with every credential's end, the deepest call with the bound). Over
# random logs they must judge exactly as the plain definition does, call by call.


def _random_log(rnd: random.Random):
    credentials = tuple(
        credential(
            f"c{i}",
            revoked_at=rnd.choice([None, NOW - rnd.randrange(1, 40) * HOUR]),
            expires_at=rnd.choice([None, NOW - rnd.randrange(1, 40) * HOUR]),
        )
        for i in range(4)
    )
    names = ["c0", "c1", "c2", "c3", "jit-1", "jit-other", "", None]
    events = [
        event(
            tool=rnd.choice(["srv.write", "srv.read"]),
            agent_id=rnd.choice(["bot", "bot2"]),
            at=NOW - rnd.randrange(1, 48) * HOUR,
            decision=rnd.choice(["allow", "allow", "deny"]),
            credential=rnd.choice(names),
            approval=rnd.choice([None, "ap-1"]),
            chain_depth=rnd.choice([None, 1, 2, 3, 4, 5]),
        )
        for _ in range(rnd.randrange(0, 40))
    ]
    bound = policy(subjects=("bot", "bot2"), max_chain_depth=rnd.choice([1, 3]))
    agents = (BOT, agent("bot2", tools=BOT.tools))
    return runtime(events, credentials=credentials, policies=(bound,), agents=agents), bound


def _allowed_pairs(snap):
    pairs: dict[tuple[str, str], list[Event]] = {}
    for e in sorted(snap.events, key=lambda e: (e.at, e.event_id)):
        if e.decision == "allow":
            pairs.setdefault((e.agent, e.tool), []).append(e)
    return pairs


def _plain_credential_verdicts(snap) -> dict[str, tuple[int, list[str]]]:
    """Per pair: how many calls could be judged, and the ids of those whose credential was unusable."""
    verdicts = {}
    for (agent_id, tool), calls in _allowed_pairs(snap).items():
        judged, bad = 0, []
        for e in calls:
            if not e.credential:
                continue
            held = snap.credentials_by_id.get(e.credential)
            if held is None:
                issued = e.approval == APPROVAL.id and APPROVAL.credential_issued == e.credential
                judged += issued
                continue
            judged += 1
            if any(t is not None and t <= e.at for t in (held.revoked_at, held.expires_at)):
                bad.append(e.event_id)
        if judged:
            verdicts[f"{agent_id}::{tool}"] = (judged, bad)
    return verdicts


def _plain_depth_verdicts(snap, bound: int) -> dict[str, tuple[int, list[str]]]:
    verdicts = {}
    for (agent_id, tool), calls in _allowed_pairs(snap).items():
        measured = [e for e in calls if e.chain_depth is not None]
        if measured:
            deep = [e.event_id for e in measured if e.chain_depth > bound]
            verdicts[f"{agent_id}::{tool}"] = (len(measured), deep)
    return verdicts


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


@pytest.mark.parametrize("seed", range(60))
def test_credential_and_chain_depth_checks_judge_every_call_as_the_plain_definition(seed):
    snap, bound = _random_log(random.Random(seed))
    load_checks()
    for check_id, plain in [
        ("calls_use_unexpired_credentials", _plain_credential_verdicts(snap)),
        ("calls_within_chain_depth_limit", _plain_depth_verdicts(snap, bound.max_chain_depth)),
    ]:
        outcomes = {o.subject_id: o for o in REGISTRY[check_id](snap)}
        assert set(outcomes) == set(plain), check_id
        for subject, (judged, bad) in plain.items():
            verdict = outcomes[subject]
            assert verdict.passed == (not bad), (check_id, subject, verdict.detail)
            if bad:
                assert _times(len(bad)) in verdict.detail
                assert all(i in verdict.detail for i in bad[:3]), verdict.detail
            else:
                assert f"All {judged} calls" in verdict.detail
