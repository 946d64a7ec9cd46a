"""Credential checks, each with a passing and a failing case."""

from tests.checks.conftest import DAY, NOW, agent, credential, outcome, snapshot


def test_jit_token_of_ten_minutes_passes_and_static_token_without_expiry_fails():
    snap = snapshot(
        credentials=[
            credential("jit"),
            credential("pat", kind="static_token", ttl_seconds=None),
            credential("long", ttl_seconds=7200),
        ]
    )
    assert outcome("credential_is_short_lived", snap, "jit").passed
    assert not outcome("credential_is_short_lived", snap, "pat").passed
    assert not outcome("credential_is_short_lived", snap, "long").passed


def test_long_lived_credential_rotated_recently_passes_and_overdue_fails():
    snap = snapshot(
        credentials=[
            credential("fresh", ttl_seconds=None, last_rotated_at=NOW - 10 * DAY),
            credential("stale", ttl_seconds=None, last_rotated_at=NOW - 200 * DAY),
            credential("never", ttl_seconds=None),
            credential("jit"),
        ]
    )
    assert outcome("credential_rotated_on_schedule", snap, "fresh").passed
    assert not outcome("credential_rotated_on_schedule", snap, "stale").passed
    assert not outcome("credential_rotated_on_schedule", snap, "never").passed
    assert outcome("credential_rotated_on_schedule", snap, "jit") is None  # short-lived: rotation is inherent


def test_broad_or_missing_scopes_fail():
    snap = snapshot(
        credentials=[
            credential("narrow"),
            credential("star", scopes=("*",)),
            credential("admin", scopes=("repo", "admin")),
            credential("none", scopes=()),
        ]
    )
    assert outcome("credential_scope_is_narrow", snap, "narrow").passed
    assert not outcome("credential_scope_is_narrow", snap, "star").passed
    assert not outcome("credential_scope_is_narrow", snap, "admin").passed
    assert not outcome("credential_scope_is_narrow", snap, "none").passed


def test_plaintext_and_unknown_storage_fail():
    snap = snapshot(
        credentials=[
            credential("vault"),
            credential("cfg", storage="plaintext_config"),
            credential("env", storage="env_file"),
            credential("unk", storage="unknown"),
        ]
    )
    assert outcome("credential_not_stored_in_plaintext", snap, "vault").passed
    for cid in ("cfg", "env", "unk"):
        assert not outcome("credential_not_stored_in_plaintext", snap, cid).passed


def test_credential_held_by_two_agents_fails():
    snap = snapshot(
        [agent("a", credentials=("shared", "own")), agent("b", credentials=("shared",))],
        credentials=[credential("shared"), credential("own")],
    )
    assert not outcome("credential_not_shared_between_agents", snap, "shared").passed
    assert outcome("credential_not_shared_between_agents", snap, "own").passed


def test_credential_without_audience_fails():
    snap = snapshot(credentials=[credential("bound"), credential("free", audience=None)])
    assert outcome("credential_is_audience_bound", snap, "bound").passed
    assert not outcome("credential_is_audience_bound", snap, "free").passed


def test_revoked_credentials_are_not_examined():
    snap = snapshot(credentials=[credential("gone", ttl_seconds=None, revoked_at=NOW - DAY)])
    assert outcome("credential_is_short_lived", snap, "gone") is None
