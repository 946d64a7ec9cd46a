"""MCP server checks: behind a gateway, authenticated, audience-checking, no token passthrough, pinned."""

from __future__ import annotations

from collections.abc import Iterator

from app.checks import Outcome, check, fail, pass_
from app.snapshot import Snapshot


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
        if not s.version or s.version.lower() == "latest" or s.package.endswith("@latest"):
            yield fail(
                "mcp_server",
                s.id,
                f"MCP server {s.id} runs {s.package} at {s.version or 'no version'}: "
                "whatever is published next runs.",
            )
        else:
            yield pass_("mcp_server", s.id, f"MCP server {s.id} runs {s.package} pinned at {s.version}.")
