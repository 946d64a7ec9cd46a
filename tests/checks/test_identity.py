"""Identity checks, each with a passing and a failing case."""

from tests.checks.conftest import DAY, NOW, agent, credential, outcome, snapshot


def test_owner_with_an_email_passes_and_a_team_alias_fails():
    snap = snapshot([agent("a"), agent("b", owner="team-x"), agent("c", owner=None)])
    assert outcome("agent_has_accountable_owner", snap, "a").passed
    assert not outcome("agent_has_accountable_owner", snap, "b").passed
    assert not outcome("agent_has_accountable_owner", snap, "c").passed


def test_workload_identity_passes_and_borrowed_identities_fail():
    snap = snapshot(
        [
            agent("a"),
            agent("b", identity_kind="user_delegated"),
            agent("c", identity_kind="api_key"),
            agent("d", status="retired", identity_kind="none"),
        ]
    )
    assert outcome("agent_has_own_workload_identity", snap, "a").passed
    assert not outcome("agent_has_own_workload_identity", snap, "b").passed
    assert not outcome("agent_has_own_workload_identity", snap, "c").passed
    assert outcome("agent_has_own_workload_identity", snap, "d") is None  # retired agents are not examined


def test_shared_identity_fails_for_both_holders():
    snap = snapshot([agent("a", identity_id="sa"), agent("b", identity_id="sa"), agent("c")])
    assert not outcome("agent_identity_not_shared", snap, "a").passed
    assert not outcome("agent_identity_not_shared", snap, "b").passed
    assert outcome("agent_identity_not_shared", snap, "c").passed


def test_unattested_production_agent_fails_and_staging_is_not_examined():
    snap = snapshot(
        [
            agent("a"),
            agent("b", identity_attested=False),
            agent("c", identity_attested=False, environment="staging"),
        ]
    )
    assert outcome("agent_identity_attested", snap, "a").passed
    assert not outcome("agent_identity_attested", snap, "b").passed
    assert outcome("agent_identity_attested", snap, "c") is None


def test_missing_purpose_fails():
    snap = snapshot([agent("a"), agent("b", purpose=None)])
    assert outcome("agent_declares_purpose", snap, "a").passed
    assert not outcome("agent_declares_purpose", snap, "b").passed


def test_overdue_or_missing_access_review_fails():
    snap = snapshot(
        [agent("a"), agent("b", last_reviewed_at=NOW - 100 * DAY), agent("c", last_reviewed_at=None)]
    )
    assert outcome("agent_access_reviewed", snap, "a").passed
    assert not outcome("agent_access_reviewed", snap, "b").passed
    assert not outcome("agent_access_reviewed", snap, "c").passed


def test_retired_agent_with_a_live_credential_fails_and_with_a_revoked_one_passes():
    snap = snapshot(
        [
            agent("a", status="retired", credentials=("live",)),
            agent("b", status="retired", credentials=("dead", "expired")),
        ],
        credentials=[
            credential("live"),
            credential("dead", revoked_at=NOW - DAY),
            credential("expired", expires_at=NOW - DAY),
        ],
    )
    assert not outcome("retired_agent_has_no_live_credentials", snap, "a").passed
    assert outcome("retired_agent_has_no_live_credentials", snap, "b").passed
