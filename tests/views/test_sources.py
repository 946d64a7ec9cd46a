"""Real sources in the browser: client-config discovery, audit logs, tool definitions and their review."""

from __future__ import annotations

import json
from io import BytesIO

from tests.conftest import SAMPLES
from tests.views.conftest import csrf_token


def upload(client, path, files, **fields):
    data = {"csrf_token": csrf_token(client, "/imports"), "files": files, **fields}
    return client.post(path, data=data, content_type="multipart/form-data")


def test_uploaded_client_config_is_discovered_for_a_new_agent(admin):
    sample = SAMPLES / "mcp-configs" / "09_claude_code__0K-cool_athena__.mcp.json"
    response = upload(
        admin,
        "/imports/discover",
        (BytesIO(sample.read_bytes()), ".mcp.json"),
        agent="claude-code-kelvin",
        owner="kelvin@example.org",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "applied" in page and "kali_internal: env.KALI_API_KEY" in page
    agent = admin.get("/agents/claude-code-kelvin").get_data(as_text=True)
    assert "MCP servers its client configures" in agent and "claude-code-kelvin-playwright" in agent
    server = admin.get("/servers/claude-code-kelvin-playwright").get_data(as_text=True)
    assert "upload:.mcp.json" in server and "claude_code" in server


def test_uploaded_file_that_is_not_a_config_is_reported_and_nothing_is_imported(admin):
    response = upload(admin, "/imports/discover", (BytesIO(b'{"name": "left-pad"}'), "package.json"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "not an MCP client configuration" in page


def test_uploaded_audit_log_reports_bad_lines_by_number_and_imports_the_rest(admin):
    good = {
        "ts": "2026-11-23T10:00:00Z",
        "agent": "support-bot",
        "tool": "jira.search_issues",
        "decision": "allow",
        "event_id": "upload-1",
        "task": "Answer a customer question",
    }
    log = (json.dumps(good) + "\n{not json\n").encode()
    response = upload(admin, "/imports/audit", (BytesIO(log), "gateway.jsonl"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert "1 new events" in page and "1 bad lines skipped" in page
    assert "upload:gateway.jsonl:2:" in page
    agent = admin.get("/agents/support-bot").get_data(as_text=True)
    assert "Recorded tool calls" in agent and "upload-1" in agent


def test_agent_page_shows_what_it_was_trying_to_do_with_which_approval_and_secret(viewer):
    page = viewer.get("/agents/release-bot").get_data(as_text=True)
    calls = page.split("Recorded tool calls")[1].split("Open findings")[0]
    assert "Release payments-gateway v1.9.3" in calls and "appr-1048" in calls and "jit-8e2f19" in calls


def test_tool_definitions_upload_then_review_clears_the_drift_finding(admin, analyst):
    tools = {
        "tools": [
            {
                "name": "fetch",
                "description": "Fetch a public URL and return its text",
                "inputSchema": {"type": "object", "properties": {"url": {"type": "string"}}},
                "annotations": {"readOnlyHint": True, "openWorldHint": True},
            }
        ]
    }
    response = upload(
        admin, "/imports/tools", (BytesIO(json.dumps(tools).encode()), "tools.json"), server="webfetch"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    page = analyst.get("/servers/webfetch").get_data(as_text=True)
    assert "changed since review" in page and "I reviewed the current definitions" in page
    response = analyst.post(
        "/servers/webfetch/review", data={"csrf_token": csrf_token(analyst, "/servers/webfetch")}
    )
    assert response.status_code == 302
    page = analyst.get("/servers/webfetch").get_data(as_text=True)
    assert "Recorded your review" in page and "as reviewed" in page and "changed since review" not in page


def test_viewer_sees_no_review_button(viewer):
    assert "I reviewed the current definitions" not in viewer.get("/servers/webfetch").get_data(as_text=True)
