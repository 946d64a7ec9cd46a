"""`steward discover`: MCP client configs become servers, plaintext credentials and an agent's client."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from app.inventory.store import load_inventory
from tests.conftest import SAMPLES, database_state, minimal_inventory, write_yaml

CONFIGS = SAMPLES / "mcp-configs"


def run(runner, *args):
    return runner.invoke(args=list(args))


def servers(session):
    return {s.id: s for s in load_inventory(session).mcp_servers}


def test_every_server_of_every_sample_config_is_inventoried(runner, session):
    result = run(runner, "discover", str(CONFIGS))
    assert result.exit_code == 0, result.output
    found = servers(session)
    # Each sample's server names, as SOURCES.md describes them (sample 16 holds none).
    expected = {
        "brave-search",
        "filesystem",
        "github",
        "gdrive",
        "google-workspace-mcp",  # 01
        "remote-mcp",
        "stdio-mcp",  # 04
        "codemotion-mcp-server",  # 06
        "eslint",
        "context7",  # 07
        "athena-knowledge-base",
        "velociraptor",
        "kali_external",
        "kali_internal",
        "playwright",  # 09
        "mcp-tracker",  # 12
        "insightfulpipe",  # 14
        "http_server",
        "sse_server",  # 15
        "n8n-mcp-server",  # 17
    }
    assert {s.name for s in found.values()} == expected
    assert len(found) == len(expected)
    assert all(s.source and s.source.startswith(str(CONFIGS.resolve())) for s in found.values())
    assert found["insightfulpipe"].url == "https://main.insightfulmcp.com"
    assert found["insightfulpipe"].bridge == "mcp-remote" and found["insightfulpipe"].transport == "http"
    assert (
        found["codemotion-mcp-server"].transport == "http"
        and found["codemotion-mcp-server"].auth == "unknown"
    )
    assert (found["eslint"].package, found["eslint"].version) == ("@eslint/mcp", "latest")


def test_literal_secrets_become_plaintext_credentials_and_references_do_not(runner, session):
    run(runner, "discover", str(CONFIGS))
    credentials = {c.id: c for c in load_inventory(session).credentials}
    assert sorted(credentials) == [
        "brave-search-brave_api_key",
        "gdrive-google_client_secret",
        "github-github_personal_access_token",
        "google-workspace-mcp-google_client_secret",
        "kali_internal-kali_api_key",
    ]
    assert all(c.storage == "plaintext_config" for c in credentials.values())
    assert credentials["github-github_personal_access_token"].fingerprint == (
        "sha256:" + hashlib.sha256(b"YOUR_GITHUB_TOKEN").hexdigest()[:12]
    )
    # Sample 04 supplies its key as ${input:youtube_api_key}: a reference, so no credential.
    assert not any(c.startswith("remote-mcp") for c in credentials)


def test_discovery_findings_name_the_plaintext_secret_and_the_unpinned_package(runner):
    run(runner, "discover", str(CONFIGS))
    result = run(runner, "findings", "--check", "credential_not_stored_in_plaintext", "--format", "json")
    assert {f["subject_id"] for f in json.loads(result.stdout)} >= {"github-github_personal_access_token"}
    result = run(runner, "findings", "--check", "mcp_server_package_pinned", "--format", "json")
    assert {"eslint", "context7", "playwright"} <= {f["subject_id"] for f in json.loads(result.stdout)}


def test_a_file_that_is_not_an_mcp_config_is_reported_and_the_rest_imports(runner, tmp_path, session):
    folder = tmp_path / "configs"
    shutil.copytree(CONFIGS, folder)
    (folder / "package.json").write_text('{"name": "left-pad", "version": "1.0.0"}', encoding="utf-8")
    (folder / "broken.json").write_text('{"mcpServers": {', encoding="utf-8")
    result = run(runner, "discover", str(folder))
    assert result.exit_code == 0, result.output
    assert "package.json: not an MCP client configuration" in result.output
    assert "broken.json:" in result.output
    assert len(servers(session)) == 20


def test_attributed_agent_is_created_with_its_servers_and_secrets(runner, session):
    result = run(
        runner,
        "discover",
        str(CONFIGS / "01_claude_desktop__3rzy__claude_desktop_config.json"),
        "--agent",
        "claude-desktop-dana",
        "--owner",
        "dana@example.org",
    )
    assert result.exit_code == 0, result.output
    agent = {a.id: a for a in load_inventory(session).agents}["claude-desktop-dana"]
    assert agent.owner == "dana@example.org" and agent.identity_kind == "user_delegated"
    assert agent.environment == "development"
    assert set(agent.mcp_servers) == {
        "claude-desktop-dana-brave-search",
        "claude-desktop-dana-filesystem",
        "claude-desktop-dana-github",
        "claude-desktop-dana-gdrive",
        "claude-desktop-dana-google-workspace-mcp",
    }
    assert "claude-desktop-dana-github-github_personal_access_token" in agent.credentials


def test_existing_agent_keeps_what_it_had_and_gains_the_servers(runner, inventory_file, session):
    run(runner, "import", str(inventory_file))
    result = run(
        runner, "discover", str(CONFIGS / "07_cursor__0xJacky_nginx-ui__mcp.json"), "--agent", "triage-bot"
    )
    assert result.exit_code == 0, result.output
    agent = {a.id: a for a in load_inventory(session).agents}["triage-bot"]
    assert agent.tools == ("deploy.status",) and agent.delegates_to == ("release-bot",)
    assert agent.mcp_servers == ("triage-bot-eslint", "triage-bot-context7")


def test_discovering_twice_changes_nothing(runner, engine):
    run(runner, "discover", str(CONFIGS))
    history = ("import_record", "audit_entry", "evaluation_run", "finding_event")
    before = {k: v for k, v in database_state(engine).items() if k not in history}
    result = run(runner, "discover", str(CONFIGS))
    assert result.exit_code == 0
    assert {k: v for k, v in database_state(engine).items() if k not in history} == before


def test_prune_removes_only_servers_the_scanned_file_no_longer_configures(
    runner, tmp_path, inventory_file, session
):
    run(runner, "import", str(inventory_file))
    config = tmp_path / ".mcp.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "one": {
                        "command": "npx",
                        "args": ["-y", "pkg-one@1.0.0"],
                        "env": {"ONE_TOKEN": "t0k3n-one"},
                    },
                    "two": {"command": "npx", "args": ["-y", "pkg-two@1.0.0"]},
                }
            }
        ),
        encoding="utf-8",
    )
    run(runner, "discover", str(config), "--agent", "release-bot")
    config.write_text(
        json.dumps({"mcpServers": {"two": {"command": "npx", "args": ["-y", "pkg-two@1.0.0"]}}})
    )
    result = run(runner, "discover", str(config), "--agent", "release-bot", "--prune")
    assert result.exit_code == 0, result.output
    inventory = load_inventory(session)
    assert {s.id for s in inventory.mcp_servers} == {"deploy", "release-bot-two"}
    assert {c.id for c in inventory.credentials} == {"jit-deploy"}
    release_bot = {a.id: a for a in inventory.agents}["release-bot"]
    assert release_bot.mcp_servers == ("release-bot-two",) and release_bot.credentials == ("jit-deploy",)


def test_dry_run_lists_the_plan_and_writes_nothing(runner, engine):
    before = database_state(engine)
    result = run(runner, "discover", str(CONFIGS), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run, nothing written." in result.output and "would create mcp_servers" in result.output
    assert database_state(engine) == before


def test_a_server_name_taken_by_another_source_gets_its_own_id(runner, inventory_file, tmp_path, session):
    run(runner, "import", str(inventory_file))  # holds server "deploy"
    config = tmp_path / ".cursor" / "mcp.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"mcpServers": {"deploy": {"url": "https://other.example/mcp"}}}))
    run(runner, "discover", str(config))
    found = servers(session)
    assert found["deploy"].url == "https://deploy.example.org/mcp"  # untouched
    assert found["deploy-cursor"].url == "https://other.example/mcp"


def test_auto_approved_tools_are_recorded_and_checked(runner, tmp_path, session):
    config = tmp_path / "cline_mcp_settings.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "fs": {
                        "command": "npx",
                        "args": ["-y", "@modelcontextprotocol/server-filesystem@2025.8.21", "/tmp"],
                        "autoApprove": ["write_file"],
                    }
                }
            }
        )
    )
    run(runner, "discover", str(config))
    tool = servers(session)["fs"].tools[0]
    assert (tool.name, tool.auto_approved) == ("write_file", True)
    result = run(runner, "findings", "--check", "auto_approved_tools_are_not_sensitive", "--format", "json")
    assert [f["subject_id"] for f in json.loads(result.stdout)] == ["fs.write_file"]


def test_planted_secret_in_a_config_is_stored_only_as_its_fingerprint(runner, app, engine, tmp_path):
    secret = "ghp_D1sc0v3r3dS3cr3txYz0987654321abcd"
    config = tmp_path / ".mcp.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "gh": {
                        "type": "http",
                        "url": "https://api.example/mcp",
                        "headers": {"Authorization": f"Bearer {secret}"},
                    }
                }
            }
        )
    )
    result = run(runner, "discover", str(config))
    exported = run(runner, "export-inventory", str(tmp_path / "export"))
    engine.dispose()
    instance = Path(app.config["STEWARD"].instance_path)
    stored = b"".join(p.read_bytes() for p in instance.rglob("*") if p.is_file())
    assert secret.encode() not in stored
    assert secret not in result.output + exported.output
    assert secret not in "".join(p.read_text() for p in (tmp_path / "export").glob("*.yaml"))


def test_missing_path_is_an_error_and_changes_nothing(runner, engine, tmp_path):
    write_yaml(tmp_path / "x.yaml", minimal_inventory())
    before = database_state(engine)
    result = run(runner, "discover", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert database_state(engine) == before


def test_client_that_trusts_read_only_tools_approves_those_the_server_marks_read_only(
    runner, tmp_path, session
):
    config = tmp_path / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(
        '[mcp_servers.deploy]\ncommand = "deploy-mcp"\ndefault_tools_approval_mode = "writes"\n'
    )
    run(runner, "discover", str(config))
    tools = tmp_path / "tools.json"
    tools.write_text(
        json.dumps(
            {
                "tools": [
                    {
                        "name": "status",
                        "inputSchema": {"type": "object"},
                        "annotations": {"readOnlyHint": True},
                    },
                    {
                        "name": "rollout",
                        "inputSchema": {"type": "object"},
                        "annotations": {"destructiveHint": True},
                    },
                ]
            }
        )
    )
    run(runner, "import-tools", str(tools), "--server", "deploy")
    run(runner, "discover", str(config))
    approved = {t.name: t.auto_approved for t in servers(session)["deploy"].tools}
    assert approved == {"status": True, "rollout": False}
    assert not servers(session)["deploy"].auto_approve_all
