"""MCP server checks, each with a passing and a failing case."""

from dataclasses import replace

from tests.checks.conftest import SERVER, outcome, snapshot


def servers(**variants):
    return snapshot(servers=[SERVER, *(replace(SERVER, id=name, **kw) for name, kw in variants.items())])


def test_server_without_gateway_fails():
    snap = servers(direct={"gateway": None})
    assert outcome("mcp_server_behind_policy_gateway", snap, "srv").passed
    assert not outcome("mcp_server_behind_policy_gateway", snap, "direct").passed


def test_remote_server_without_auth_fails_and_stdio_is_not_examined():
    snap = servers(open={"auth": "none"}, local={"transport": "stdio", "auth": None, "command": "npx"})
    assert outcome("remote_mcp_server_requires_auth", snap, "srv").passed
    assert not outcome("remote_mcp_server_requires_auth", snap, "open").passed
    assert outcome("remote_mcp_server_requires_auth", snap, "local") is None


def test_token_passthrough_fails():
    snap = servers(deputy={"token_passthrough": True})
    assert outcome("mcp_server_rejects_token_passthrough", snap, "srv").passed
    assert not outcome("mcp_server_rejects_token_passthrough", snap, "deputy").passed


def test_oauth_server_not_checking_audience_fails():
    snap = servers(
        lax={"audience_validated": False}, static={"auth": "static_token", "audience_validated": False}
    )
    assert outcome("mcp_server_validates_audience", snap, "srv").passed
    assert not outcome("mcp_server_validates_audience", snap, "lax").passed
    assert outcome("mcp_server_validates_audience", snap, "static") is None


def test_unpinned_package_fails():
    snap = servers(
        pinned={"package": "pkg", "version": "1.2.3"},
        latest={"package": "pkg", "version": "latest"},
        bare={"package": "pkg", "version": None},
    )
    assert outcome("mcp_server_package_pinned", snap, "pinned").passed
    assert not outcome("mcp_server_package_pinned", snap, "latest").passed
    assert not outcome("mcp_server_package_pinned", snap, "bare").passed
    assert outcome("mcp_server_package_pinned", snap, "srv") is None
