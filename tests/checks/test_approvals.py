"""Approval checks, each with a passing and a failing case."""

from tests.checks.conftest import NOW, Approval, outcome, snapshot


def test_complete_approval_passes_and_one_without_credential_fails():
    full = Approval(
        "ok",
        "bot",
        "srv.write",
        task="Release v1",
        approved_by="m@example.org",
        approved_at=NOW,
        credential_issued="jit-1",
    )
    partial = Approval("partial", "bot", "srv.write", task="Release v2", approved_by="m@example.org")
    snap = snapshot(approvals=[full, partial])
    assert outcome("approval_is_traceable", snap, "ok").passed
    result = outcome("approval_is_traceable", snap, "partial")
    assert not result.passed and "issued credential" in result.detail
