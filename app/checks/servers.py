"""MCP server checks: behind a gateway, authenticated, audience-checking, no token passthrough, pinned."""

from __future__ import annotations

from collections.abc import Iterator

from app.checks import Outcome, check, fail, pass_
from app.snapshot import Snapshot


def is_pinned_version(version: str | None) -> bool:
    """An exact version or digest; not latest, a range (^1.2, ~1, >=2, 1.x, *) or nothing."""
    if not version or version.lower() == "latest":
        return False
    return not any(c in version for c in "^~<>=*| ") and not version.lower().endswith((".x", ".*"))


@check
def mcp_server_behind_policy_gateway(snap: Snapshot) -> Iterator[Outcome]:
    """Every MCP server is reached through a policy enforcement point."""
    for s in snap.mcp_servers:
        if s.gateway:
            yield pass_("mcp_server", s.id, f"MCP server {s.id} is reached through gateway {s.gateway}.")
        else:
            yield fail(
                "mcp_server",
                s.id,
                f"MCP server {s.id} is reached directly, with no gateway enforcing policy.",
            )


@check
def remote_mcp_server_requires_auth(snap: Snapshot) -> Iterator[Outcome]:
    """Remote MCP servers authenticate their callers."""
    for s in snap.mcp_servers:
        if not s.is_remote:
            continue
        if s.auth and s.auth != "none":
            yield pass_("mcp_server", s.id, f"Remote MCP server {s.id} requires {s.auth} authentication.")
        else:
            yield fail(
                "mcp_server", s.id, f"Remote MCP server {s.id} ({s.url}) accepts unauthenticated callers."
            )


@check
def mcp_server_rejects_token_passthrough(snap: Snapshot) -> Iterator[Outcome]:
    """No MCP server forwards its callers' tokens downstream."""
    for s in snap.mcp_servers:
        if s.token_passthrough:
            yield fail(
                "mcp_server", s.id, f"MCP server {s.id} passes callers' tokens through to downstream APIs."
            )
        else:
            yield pass_("mcp_server", s.id, f"MCP server {s.id} does not pass callers' tokens through.")


@check
def mcp_server_validates_audience(snap: Snapshot) -> Iterator[Outcome]:
    """Token-authenticated remote MCP servers accept only tokens issued for them."""
    for s in snap.mcp_servers:
        if not s.is_remote or s.auth not in ("oauth2", "workload"):
            continue
        if s.audience_validated:
            yield pass_("mcp_server", s.id, f"MCP server {s.id} checks that tokens were issued for it.")
        else:
            yield fail(
                "mcp_server",
                s.id,
                f"MCP server {s.id} accepts {s.auth} tokens without checking their audience.",
            )


@check
def mcp_server_package_pinned(snap: Snapshot) -> Iterator[Outcome]:
    """Packaged MCP servers run a pinned version."""
    for s in snap.mcp_servers:
        if not s.package:
            continue
        if not is_pinned_version(s.version) or s.package.endswith("@latest"):
            yield fail(
                "mcp_server",
                s.id,
                f"MCP server {s.id} runs {s.package} at {s.version or 'no version'}: "
                "whatever is published next runs.",
            )
        else:
            yield pass_("mcp_server", s.id, f"MCP server {s.id} runs {s.package} pinned at {s.version}.")


@check
def auto_approved_tools_are_not_sensitive(snap: Snapshot) -> Iterator[Outcome]:
    """Tools that a client runs without asking a human are read-only and not sensitive."""
    for s in snap.mcp_servers:
        approved = [t for t in s.tools if t.auto_approved or s.auto_approve_all]
        if s.auto_approve_all and not s.tools:
            yield fail(
                "mcp_server",
                s.id,
                f"MCP server {s.id}'s client ({s.client or 'unknown client'}) runs every tool without asking "
                "a human, and none of its tools is inventoried to show they are harmless.",
            )
        for t in approved:
            how = "every tool of the server" if s.auto_approve_all and not t.auto_approved else "this tool"
            if t.is_sensitive:
                why = (
                    f"sensitivity {t.sensitivity}"
                    if t.sensitivity in ("high", "critical")
                    else ("it is not declared read-only")
                )
                yield fail(
                    "tool",
                    t.ref,
                    f"Tool {t.ref} is sensitive ({why}) yet its client auto-approves {how}: "
                    "no human approves its calls.",
                )
            else:
                yield pass_("tool", t.ref, f"Tool {t.ref} is auto-approved but read-only and not sensitive.")


@check
def tool_definition_unchanged_since_review(snap: Snapshot) -> Iterator[Outcome]:
    """Every imported tool definition has been reviewed, and has not changed since."""
    for s in snap.mcp_servers:
        for t in s.tools:
            current = t.definition_hash
            if current is None:
                continue
            if t.reviewed_definition_hash is None:
                yield fail(
                    "tool",
                    t.ref,
                    f"Tool {t.ref}'s definition ({current[:19]}) has never been reviewed: its description "
                    "and schema reach the model unchecked.",
                )
            elif t.reviewed_definition_hash != current:
                when = f" on {t.definition_reviewed_at.date()}" if t.definition_reviewed_at else ""
                yield fail(
                    "tool",
                    t.ref,
                    f"Tool {t.ref}'s definition changed after it was reviewed{when}: reviewed "
                    f"{t.reviewed_definition_hash[:19]}, now {current[:19]} (a possible rug pull).",
                )
            else:
                yield pass_("tool", t.ref, f"Tool {t.ref}'s definition is the one reviewed ({current[:19]}).")
