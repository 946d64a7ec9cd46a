"""Steward's own MCP server, driven by the MCP SDK's own client: in-process, over stdio and over HTTP."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from app import create_app
from app.assessment import attest_requirement
from app.catalog import get_catalog
from app.config import PROJECT_ROOT, Settings
from app.db import get_engine, session_scope
from app.evaluation import run_evaluation
from app.mcp_cli import mcp_server_command
from app.mcp_server import MAX_RECORDED_ARGUMENTS, create_mcp_server
from app.models.users import ApiToken, AuditEntry
from app.security import create_api_token
from tests.conftest import database_environment

TOOLS = {"framework_status", "list_findings", "list_agents", "agent_governance", "requirement_evidence"}
LOCAL = "stdio:tester"
# The plaintext token in the demo's cursor-bob client config: discovery keeps only its fingerprint.
DEMO_SECRET = "sntryu_0f3c9a6d2e1b4f7a8c5d9e2b1a6f3c7d"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


def run_client(server, body, timeout: float = 60):
    """Connect the SDK client to a server (or transport) and run body(client), bounded in time."""

    async def main():
        with anyio.fail_after(timeout):
            async with Client(server) as client:
                return await body(client)

    return anyio.run(main)


@pytest.fixture
def mcp(seeded_app):
    """Call one tool of an in-process server over the demo organisation."""
    server = create_mcp_server(seeded_app, local_user=LOCAL)

    def call(name: str, arguments: dict | None = None):
        return run_client(server, lambda client: client.call_tool(name, arguments or {}))

    return call


def mcp_calls(app, after_id: int = 0) -> list[AuditEntry]:
    with session_scope(get_engine(app)) as session:
        return list(
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "mcp.call", AuditEntry.id > after_id)
                .order_by(AuditEntry.id)
            ).scalars()
        )


def assert_clean_error(result, tool: str, *fragments: str) -> None:
    assert result.is_error
    text = result.content[0].text
    assert text.startswith(f"Error executing tool {tool}: ") or text.startswith("Unknown tool")
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text


def test_every_tool_is_described_typed_and_annotated_read_only_and_closed_world(seeded_app):
    server = create_mcp_server(seeded_app, local_user=LOCAL)
    tools = run_client(server, lambda client: client.list_tools()).tools
    assert {t.name for t in tools} == TOOLS
    for tool in tools:
        assert len(tool.description) > 60 and tool.annotations.title
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.open_world_hint is False
        assert tool.annotations.destructive_hint is False
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema["type"] == "object" and tool.output_schema["properties"]
    governance = next(t for t in tools if t.name == "agent_governance")
    assert governance.input_schema["required"] == ["agent_id"]
    assert governance.input_schema["properties"]["calls_limit"]["maximum"] == 100
    findings = next(t for t in tools if t.name == "list_findings")
    severity = findings.input_schema["properties"]["severity"]["anyOf"][0]
    assert severity["enum"] == ["critical", "high", "medium", "low"]


def test_framework_status_scores_every_framework_and_details_one(mcp):
    every = mcp("framework_status")
    assert not every.is_error
    data = every.structured_content
    assert data["run"]["id"] >= 1
    assert {f["id"] for f in data["frameworks"]} == {"owasp-asi-2026", "csa-maestro", "nist-ai-rmf-1.0"}
    assert all(f["requirements"] == [] for f in data["frameworks"])
    assert "OWASP Top 10 for Agentic Applications (owasp-asi-2026" in every.content[0].text

    one = mcp("framework_status", {"framework": "owasp-asi-2026"})
    (owasp,) = one.structured_content["frameworks"]
    assert owasp["requirement_count"] == len(owasp["requirements"]) == 10
    asi02 = next(r for r in owasp["requirements"] if r["id"] == "ASI02")
    assert asi02["status"] == "fail" and asi02["open_findings"] > 0
    assert sum(owasp["status_counts"].values()) == 10
    assert "ASI02 Tool Misuse & Exploitation: fail" in one.content[0].text

    assert_clean_error(
        mcp("framework_status", {"framework": "owasp"}),
        "framework_status",
        "framework: 'owasp' is not one of csa-maestro, nist-ai-rmf-1.0, owasp-asi-2026",
        "did you mean owasp-asi-2026",
    )


def test_framework_status_before_any_evaluation_says_so(app):
    server = create_mcp_server(app, local_user=LOCAL)
    result = run_client(server, lambda client: client.call_tool("framework_status", {}))
    assert not result.is_error
    assert result.structured_content["run"] is None
    assert all(f["score"] is None for f in result.structured_content["frameworks"])
    assert result.content[0].text.startswith("No evaluation has run yet")


def test_list_findings_filters_and_pages(mcp, seeded_app):
    critical = mcp("list_findings", {"severity": "critical", "environment": "production", "limit": 100})
    items = critical.structured_content["items"]
    assert items and all(f["severity"] == "critical" and f["environment"] == "production" for f in items)
    assert all(f["status"] in ("open", "reopened") for f in items)

    mine = mcp("list_findings", {"agent": "release-bot"}).structured_content
    assert mine["total"] == 1 and mine["items"][0]["check_id"] == "sensitive_calls_have_approval"
    assert mine["items"][0]["subject_id"] == "release-bot::deploy.rollout"

    checks = set(get_catalog(seeded_app).frameworks["owasp-asi-2026"].requirement("ASI02").checks)
    mapped = mcp("list_findings", {"framework": "owasp-asi-2026", "requirement": "ASI02", "limit": 100})
    assert mapped.structured_content["items"]
    assert {f["check_id"] for f in mapped.structured_content["items"]} <= checks

    first = mcp("list_findings", {"limit": 5}).structured_content
    second = mcp("list_findings", {"limit": 5, "page": 2}).structured_content
    assert first["has_more"] and len(first["items"]) == 5 == len(second["items"])
    assert not {f["id"] for f in first["items"]} & {f["id"] for f in second["items"]}
    last_page = -(-first["total"] // 5)
    assert not mcp("list_findings", {"limit": 5, "page": last_page}).structured_content["has_more"]
    beyond = mcp("list_findings", {"limit": 5, "page": last_page + 1})
    assert beyond.structured_content["items"] == [] and beyond.content[0].text.startswith("No findings match")
    assert "More: call again with page=2." in mcp("list_findings", {"limit": 5}).content[0].text

    assert_clean_error(
        mcp("list_findings", {"severity": "urgent", "limit": 1000}),
        "list_findings",
        "severity: Input should be 'critical', 'high', 'medium' or 'low'",
        "limit: Input should be less than or equal to 100",
    )
    assert_clean_error(mcp("list_findings", {"environment": "moon"}), "list_findings", "environment:")
    assert_clean_error(
        mcp("list_findings", {"requirement": "ASI02"}), "list_findings", "requirement: give the framework"
    )
    assert_clean_error(
        mcp("list_findings", {"framework": "owasp-asi-2026", "requirement": "ASI99"}),
        "list_findings",
        "requirement: 'ASI99' is not one of ASI01",
    )
    assert_clean_error(mcp("list_findings", {"check": "no_such_check"}), "list_findings", "check:")


def test_list_agents_names_owners_and_filters(mcp):
    every = mcp("list_agents").structured_content
    release = next(a for a in every["items"] if a["id"] == "release-bot")
    assert release["owner"] == "maya.chen@northwind.example" and release["open_findings"] == 1
    staging = mcp("list_agents", {"environment": "staging"}).structured_content["items"]
    assert staging and all(a["environment"] == "staging" for a in staging)
    assert mcp("list_agents", {"limit": 2, "page": 1}).structured_content["has_more"]
    assert mcp("list_agents", {"team": "nobody"}).structured_content["total"] == 0
    assert_clean_error(mcp("list_agents", {"environment": "moon"}), "list_agents", "environment:")
    assert_clean_error(mcp("list_agents", {"limit": 0}), "list_agents", "limit: Input should be greater")


def test_agent_governance_answers_who_owns_approved_and_what_it_did(mcp):
    result = mcp("agent_governance", {"agent_id": "release-bot", "calls_limit": 100})
    assert not result.is_error
    data = result.structured_content
    assert data["agent"]["owner"] == "maya.chen@northwind.example"
    assert data["agent"]["identity_id"] == "spiffe://northwind.example/ns/ci/sa/release-bot"
    approval = next(a for a in data["approvals"] if a["id"] == "appr-1048")
    assert approval["approved_by"] == "maya.chen@northwind.example"
    assert approval["credential_issued"] == "jit-8e2f19"
    assert approval["task"] == "Release payments-gateway v1.9.3"
    calls = [c for c in data["recent_calls"] if c["approval"] == "appr-1048"]
    assert calls and all(c["credential"] == "jit-8e2f19" for c in calls)
    assert data["calls_total"] == 48 and len(data["recent_calls"]) == 48
    assert [f["check_id"] for f in data["open_findings"]] == ["sensitive_calls_have_approval"]
    controls = {(c["framework_id"], c["requirement_id"]) for c in data["failing_controls"]}
    assert {
        ("owasp-asi-2026", "ASI02"),
        ("owasp-asi-2026", "ASI09"),
        ("nist-ai-rmf-1.0", "GOVERN 3.2"),
    } <= controls
    assert {a["tool"] for a in data["accesses"]} >= {"deploy.rollout", "deploy.status"}
    text = result.content[0].text
    for fragment in (
        "Owner: maya.chen@northwind.example",
        "appr-1048: deploy.rollout",
        "ephemeral credential issued: jit-8e2f19",
        "approval appr-1048, credential jit-8e2f19",
        "owasp-asi-2026 ASI02 Tool Misuse & Exploitation",
    ):
        assert fragment in text

    brief = mcp("agent_governance", {"agent_id": "release-bot", "calls_limit": 0}).structured_content
    assert brief["recent_calls"] == [] and brief["calls_total"] == 48

    assert_clean_error(
        mcp("agent_governance", {"agent_id": "release-bott"}),
        "agent_governance",
        "agent: no agent 'release-bott'; did you mean release-bot",
    )
    assert_clean_error(mcp("agent_governance", {}), "agent_governance", "agent_id: Field required")
    assert_clean_error(
        mcp("agent_governance", {"agent_id": "release-bot", "calls_limit": 101}),
        "agent_governance",
        "calls_limit",
    )


def test_agent_governance_gives_fingerprints_never_secret_values(mcp):
    result = mcp("agent_governance", {"agent_id": "cursor-bob"})
    credential = next(
        c
        for c in result.structured_content["credentials"]
        if c["id"] == "cursor-bob-sentry-sentry_access_token"
    )
    assert credential["storage"] == "plaintext_config" and credential["fingerprint"].startswith("sha256:")
    answers = [result, mcp("list_findings", {"agent": "cursor-bob", "status": "all", "limit": 100})]
    for answer in answers:
        assert credential["fingerprint"] in answer.content[0].text
        assert DEMO_SECRET not in answer.content[0].text
        assert DEMO_SECRET not in json.dumps(answer.structured_content)


def test_requirement_evidence_shows_checks_findings_and_attestation(mcp, seeded_app):
    catalog = get_catalog(seeded_app)
    result = mcp("requirement_evidence", {"framework": "owasp-asi-2026", "requirement": "ASI02"})
    data = result.structured_content
    assert data["status"] == "fail" and data["requirement"]["is_manual"] is False
    assert [c["id"] for c in data["checks"]] == list(
        catalog.frameworks["owasp-asi-2026"].requirement("ASI02").checks
    )
    approvals = next(c for c in data["checks"] if c["id"] == "sensitive_calls_have_approval")
    assert approvals["examined"] >= approvals["failed"] >= 1 and approvals["open_findings_total"] >= 1
    assert "release-bot::deploy.rollout" in {f["subject_id"] for f in approvals["findings"]}
    assert all(len(c["findings"]) <= 10 for c in data["checks"])
    assert data["related"]["nist-ai-rmf-1.0"] and "ASI02" not in data["related"]["owasp-asi-2026"]
    assert "Check sensitive_calls_have_approval [critical]" in result.content[0].text
    bare = mcp(
        "requirement_evidence", {"framework": "owasp-asi-2026", "requirement": "ASI02", "findings_limit": 0}
    ).structured_content
    assert all(c["findings"] == [] for c in bare["checks"])
    assert [c["open_findings_total"] for c in bare["checks"]] == [
        c["open_findings_total"] for c in data["checks"]
    ]

    manual = mcp("requirement_evidence", {"framework": "owasp-asi-2026", "requirement": "ASI05"})
    assert manual.structured_content["status"] == "not_attested"
    assert manual.structured_content["attestation"] is None
    assert "No current attestation." in manual.content[0].text
    with session_scope(get_engine(seeded_app)) as session:
        attest_requirement(
            session,
            catalog=catalog,
            framework_id="owasp-asi-2026",
            requirement_id="ASI05",
            statement="Agents run code only in gVisor sandboxes without host mounts.",
            attested_by="grc@northwind.example",
            expires_at=datetime.now(UTC) + timedelta(days=90),
            evidence_url="https://wiki.northwind.example/sandboxing",
        )
        run_evaluation(
            session, catalog=catalog, settings=seeded_app.config["STEWARD"], trigger="test", actor="test"
        )
    attested = mcp("requirement_evidence", {"framework": "owasp-asi-2026", "requirement": "ASI05"})
    assert attested.structured_content["status"] == "attested"
    assert attested.structured_content["attestation"]["attested_by"] == "grc@northwind.example"
    assert "Evidence: https://wiki.northwind.example/sandboxing" in attested.content[0].text

    assert_clean_error(
        mcp("requirement_evidence", {"framework": "owasp-asi-2026", "requirement": "ASI99"}),
        "requirement_evidence",
        "requirement: 'ASI99' is not one of ASI01",
    )
    assert_clean_error(
        mcp("requirement_evidence", {"framework": "iso-42001", "requirement": "A.1"}),
        "requirement_evidence",
        "framework: 'iso-42001' is not one of",
    )


def test_every_tool_call_is_recorded_in_the_audit_trail(seeded_app):
    server = create_mcp_server(seeded_app, local_user=LOCAL)
    before = max([e.id for e in mcp_calls(seeded_app)], default=0)

    async def body(client):
        await client.list_tools()
        await client.call_tool("framework_status", {"framework": "owasp-asi-2026"})
        await client.call_tool("agent_governance", {"agent_id": "nobody"})
        await client.call_tool("list_findings", {"limit": "many"})
        await client.call_tool("delete_everything", {})
        return await client.call_tool("list_findings", {"text": "x" * 5000})

    oversized = run_client(server, body)
    assert_clean_error(oversized, "list_findings", "text: String should have at most 200 characters")
    entries = mcp_calls(seeded_app, before)
    assert [(e.actor, e.target, e.detail["outcome"]) for e in entries] == [
        (LOCAL, "framework_status", "ok"),
        (LOCAL, "agent_governance", "error"),
        (LOCAL, "list_findings", "error"),
        (LOCAL, "delete_everything", "error"),
        (LOCAL, "list_findings", "error"),
    ]
    assert entries[0].detail["arguments"] == {"framework": "owasp-asi-2026"}
    assert entries[1].detail["arguments"] == {"agent_id": "nobody"}
    assert entries[2].detail["arguments"] == {"limit": "many"}
    assert len(entries[4].detail["arguments"]["truncated"]) == MAX_RECORDED_ARGUMENTS


def test_a_server_names_its_callers_one_way_and_refuses_calls_it_cannot_attribute(seeded_app):
    with pytest.raises(ValueError, match="exactly one of"):
        create_mcp_server(seeded_app)
    with pytest.raises(ValueError, match="exactly one of"):
        create_mcp_server(seeded_app, local_user=LOCAL, auth_url="http://127.0.0.1:1")
    # A server made for HTTP reached without its bearer middleware (here: in-process) has no caller to name.
    unattributed = create_mcp_server(seeded_app, auth_url="http://127.0.0.1:1")
    before = max([e.id for e in mcp_calls(seeded_app)], default=0)
    with pytest.raises(ExceptionGroup) as refused:
        run_client(unattributed, lambda client: client.call_tool("framework_status", {}))
    assert refused.value.subgroup(lambda e: isinstance(e, MCPError) and "authentication required" in str(e))
    assert mcp_calls(seeded_app, before) == []


def test_mcp_server_command_refuses_a_broken_catalog_and_bad_options(tmp_path):
    extra = tmp_path / "team-controls"
    extra.mkdir()
    (extra / "broken.yaml").write_text("id: [unclosed\n")
    app = create_app(Settings(instance_path=str(tmp_path / "instance"), controls_path=str(extra)))
    result = app.test_cli_runner().invoke(mcp_server_command, ["--transport", "stdio"])
    assert result.exit_code == 2 and "the control catalog has" in result.stderr
    assert result.stdout == ""
    good = create_app(Settings(instance_path=str(tmp_path / "good")))
    for args in (["--transport", "websocket"], ["--transport", "http", "--port", "0"]):
        refused = good.test_cli_runner().invoke(mcp_server_command, args)
        assert refused.exit_code == 2 and "Invalid value" in refused.output


def server_environment(app) -> dict[str, str]:
    return database_environment(app.config["STEWARD"])


def test_stdio_transport_serves_the_sdk_client_as_the_local_user(seeded_app, tmp_path):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "app.mcp_cli", "--transport", "stdio"],
        env=server_environment(seeded_app),
        cwd=str(PROJECT_ROOT),
    )
    before = max([e.id for e in mcp_calls(seeded_app)], default=0)

    async def body(client):
        tools = await client.list_tools()
        good = await client.call_tool("agent_governance", {"agent_id": "release-bot"})
        bad = await client.call_tool("agent_governance", {"agent_id": "release-bott"})
        return tools, good, bad

    with (tmp_path / "server-stderr.log").open("w") as errlog:

        async def main():
            from mcp.client.stdio import stdio_client

            with anyio.fail_after(90):
                async with Client(stdio_client(params, errlog=errlog)) as client:
                    return await body(client)

        tools, good, bad = anyio.run(main)
    assert {t.name for t in tools.tools} == TOOLS
    assert all(t.annotations.read_only_hint for t in tools.tools)
    assert not good.is_error and "ephemeral credential issued: jit-8e2f19" in good.content[0].text
    assert good.structured_content["agent"]["owner"] == "maya.chen@northwind.example"
    assert_clean_error(bad, "agent_governance", "did you mean release-bot")
    entries = mcp_calls(seeded_app, before)
    assert [(e.actor, e.detail["outcome"]) for e in entries] == [
        (f"stdio:{getpass.getuser()}", "ok"),
        (f"stdio:{getpass.getuser()}", "error"),
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_server(seeded_app, tmp_path):
    """`steward mcp-server --transport http` on a free loopback port; yields its /mcp URL."""
    port = free_port()
    errlog = (tmp_path / "http-stderr.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.mcp_cli",
            "--transport",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
            **server_environment(seeded_app),
        },
        stdout=subprocess.DEVNULL,
        stderr=errlog,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, Path(errlog.name).read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the MCP server did not start within 60 s"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        errlog.close()


def make_token(app, name: str, *, expired: bool = False, revoked: bool = False) -> tuple[str, str]:
    with session_scope(get_engine(app)) as session:
        token, record = create_api_token(
            session,
            name=name,
            role="viewer",
            created_by="test",
            expires_at=datetime.now(UTC) + timedelta(days=7),
        )
        if expired:
            record.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        if revoked:
            record.revoked_at = datetime.now(UTC)
        return token, f"api:{record.prefix}({name})"


def test_streamable_http_serves_a_valid_api_token_and_records_its_name(seeded_app, http_server):
    token, actor = make_token(seeded_app, "grc assistant")
    before = max([e.id for e in mcp_calls(seeded_app)], default=0)

    async def main():
        with anyio.fail_after(60):
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20) as http,
                Client(streamable_http_client(http_server, http_client=http)) as client,
            ):
                tools = await client.list_tools()
                status = await client.call_tool("framework_status", {})
                governance = await client.call_tool("agent_governance", {"agent_id": "release-bot"})
                return tools, status, governance

    tools, status, governance = anyio.run(main)
    assert {t.name for t in tools.tools} == TOOLS
    assert all(t.annotations.read_only_hint and t.annotations.open_world_hint is False for t in tools.tools)
    assert not status.is_error and status.structured_content["run"]["id"] >= 1
    assert "jit-8e2f19" in governance.content[0].text
    entries = mcp_calls(seeded_app, before)
    assert [(e.actor, e.target) for e in entries] == [
        (actor, "framework_status"),
        (actor, "agent_governance"),
    ]
    with session_scope(get_engine(seeded_app)) as session:
        used = session.execute(select(ApiToken).where(ApiToken.name == "grc assistant")).scalar_one()
        assert used.last_used_at is not None


def test_streamable_http_refuses_missing_unknown_expired_and_revoked_tokens(seeded_app, http_server):
    expired, _ = make_token(seeded_app, "expired", expired=True)
    revoked, _ = make_token(seeded_app, "revoked", revoked=True)
    valid, _ = make_token(seeded_app, "valid")
    before = max([e.id for e in mcp_calls(seeded_app)], default=0)
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    async def post(token: str | None, **extra: str) -> httpx2.Response:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(timeout=20) as http:
            return await http.post(http_server, headers={**headers, **auth, **extra}, json=INITIALIZE)

    async def sdk_client(token: str) -> None:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20) as http,
            Client(streamable_http_client(http_server, http_client=http)) as client,
        ):
            await client.call_tool("framework_status", {})

    async def main():
        with anyio.fail_after(60):
            responses = [
                await post(t) for t in (None, "stw_unknown", "not-even-a-steward-token", expired, revoked)
            ]
            with pytest.raises(ExceptionGroup) as refused:
                await sdk_client(expired)
            assert refused.value.subgroup(lambda e: isinstance(e, MCPError)) is not None
            return [*responses, await post(valid, Host="steward.attacker.example")]

    responses = anyio.run(main)
    rebound = responses.pop()
    assert rebound.status_code == 421  # DNS rebinding: a page on another origin cannot reach a local server
    for response in responses:
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert mcp_calls(seeded_app, before) == []


def test_streamable_http_checks_the_token_on_every_request(seeded_app, http_server):
    token, actor = make_token(seeded_app, "short lived")
    outcomes = []

    async def main():
        with anyio.fail_after(60):
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20) as http,
                Client(streamable_http_client(http_server, http_client=http)) as client,
            ):
                outcomes.append(await client.call_tool("list_agents", {"limit": 1}))
                with session_scope(get_engine(seeded_app)) as session:
                    record = session.execute(
                        select(ApiToken).where(ApiToken.name == "short lived")
                    ).scalar_one()
                    record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
                outcomes.append(await client.call_tool("list_agents", {"limit": 1}))

    with pytest.raises(ExceptionGroup) as refused:
        anyio.run(main)
    assert refused.value.subgroup(lambda e: isinstance(e, MCPError)) is not None
    assert len(outcomes) == 1 and not outcomes[0].is_error
    entries = mcp_calls(seeded_app)
    assert [(e.actor, e.target) for e in entries if e.actor == actor] == [(actor, "list_agents")]
