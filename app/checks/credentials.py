"""Credential checks: short-lived, rotated, narrow, audience-bound, stored safely, held by one agent."""

from __future__ import annotations

from collections.abc import Iterator

from app.checks import Outcome, check, fail, pass_
from app.snapshot import Credential, Snapshot

BROAD_SCOPES = frozenset({"*", "admin", "all"})
TOKEN_KINDS = frozenset({"static_token", "api_key", "client_secret", "oauth_refresh", "jit_token"})
PLAINTEXT_STORAGE = frozenset({"plaintext_config", "env_file"})


def _live(snap: Snapshot) -> Iterator[Credential]:
    return (c for c in snap.credentials if c.revoked_at is None)


@check
def credential_is_short_lived(snap: Snapshot) -> Iterator[Outcome]:
    """Issued tokens live no longer than the short-lived bound (1 hour by default)."""
    bound = snap.setting("credential_max_ttl_seconds", 3600)
    for c in _live(snap):
        if c.ttl_seconds is None:
            yield fail(
                "credential", c.id, f"Credential {c.id} has no TTL: it never expires (bound: {bound} s)."
            )
        elif c.ttl_seconds > bound:
            yield fail(
                "credential", c.id, f"Credential {c.id} lives {c.ttl_seconds} s, over the {bound} s bound."
            )
        else:
            yield pass_("credential", c.id, f"Credential {c.id} lives {c.ttl_seconds} s (bound: {bound} s).")


@check
def credential_rotated_on_schedule(snap: Snapshot) -> Iterator[Outcome]:
    """Long-lived credentials are rotated within their rotation interval."""
    bound = snap.setting("credential_max_ttl_seconds", 3600)
    for c in _live(snap):
        if c.ttl_seconds is not None and c.ttl_seconds <= bound:
            continue
        if c.last_rotated_at is None:
            yield fail("credential", c.id, f"Long-lived credential {c.id} has never been rotated.")
        elif snap.is_overdue(c.last_rotated_at, c.rotation_interval_days):
            yield fail(
                "credential",
                c.id,
                f"Credential {c.id} was last rotated {c.last_rotated_at:%Y-%m-%d}, "
                f"over its {c.rotation_interval_days}-day interval.",
            )
        else:
            yield pass_("credential", c.id, f"Credential {c.id} was rotated {c.last_rotated_at:%Y-%m-%d}.")


@check
def credential_scope_is_narrow(snap: Snapshot) -> Iterator[Outcome]:
    """Tokens declare scopes, none of them broad (*, admin, all or a wildcard)."""
    for c in _live(snap):
        if c.kind not in TOKEN_KINDS:
            continue
        broad = [s for s in c.scopes if s.lower() in BROAD_SCOPES or "*" in s]
        if not c.scopes:
            yield fail(
                "credential",
                c.id,
                f"Credential {c.id} declares no scopes, so its reach cannot be shown narrow.",
            )
        elif broad:
            yield fail("credential", c.id, f"Credential {c.id} carries broad scope(s) {', '.join(broad)}.")
        else:
            yield pass_("credential", c.id, f"Credential {c.id} is limited to {', '.join(c.scopes)}.")


@check
def credential_not_stored_in_plaintext(snap: Snapshot) -> Iterator[Outcome]:
    """Secrets live in a vault, a KMS or an environment reference, never in a file in plaintext."""
    for c in _live(snap):
        if c.storage in PLAINTEXT_STORAGE:
            yield fail(
                "credential",
                c.id,
                f"Credential {c.id} is stored in plaintext ({c.storage})"
                f"{f', fingerprint {c.fingerprint}' if c.fingerprint else ''}.",
            )
        elif c.storage == "unknown":
            yield fail(
                "credential", c.id, f"Credential {c.id}'s storage is unknown, so it may be in plaintext."
            )
        else:
            yield pass_("credential", c.id, f"Credential {c.id} is kept in {c.storage}.")


@check
def credential_not_shared_between_agents(snap: Snapshot) -> Iterator[Outcome]:
    """Each credential is held by one agent only."""
    for c in _live(snap):
        holders = snap.credential_holders.get(c.id, ())
        if len(holders) > 1:
            yield fail("credential", c.id, f"Credential {c.id} is shared by agents {', '.join(holders)}.")
        elif holders:
            yield pass_("credential", c.id, f"Credential {c.id} is held by {holders[0]} alone.")


@check
def credential_is_audience_bound(snap: Snapshot) -> Iterator[Outcome]:
    """Credentials name the one service (audience) that accepts them."""
    for c in _live(snap):
        if c.kind in ("password", "certificate"):
            continue
        if c.audience:
            yield pass_("credential", c.id, f"Credential {c.id} is bound to audience {c.audience}.")
        else:
            yield fail("credential", c.id, f"Credential {c.id} names no audience: any service may accept it.")
