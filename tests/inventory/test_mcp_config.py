"""MCP client configuration files become servers, packages, secrets and approvals, never an exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.inventory.mcp_config import (
    ALL_TOOLS,
    CLIENTS,
    NOT_A_CONFIG,
    READ_ONLY_TOOLS,
    REDACTED,
    ConfigScan,
    DiscoveredServer,
    find_config_files,
    is_reference,
    is_secret_name,
    scan_config_file,
    scan_config_text,
    secret_kind,
    strip_jsonc,
)
from app.inventory.validate import fingerprint
from tests.conftest import SAMPLES

CONFIGS = SAMPLES / "mcp-configs"
FIXTURES = Path(__file__).parent / "mcp_configs"


def sample(prefix: str) -> ConfigScan:
    """The scan of the real sample file whose name starts with prefix."""
    (path,) = CONFIGS.glob(f"{prefix}_*")
    scan = scan_config_file(path)
    assert scan.problem is None, scan.problem
    return scan


def fixture(relative: str) -> ConfigScan:
    """The scan of a synthetic fixture file (for clients without a real sample)."""
    scan = scan_config_file(FIXTURES / relative)
    assert scan.problem is None, scan.problem
    assert scan.notes == []
    return scan


def by_name(scan: ConfigScan) -> dict[str, DiscoveredServer]:
    return {s.name: s for s in scan.servers}


def secrets(server: DiscoveredServer) -> list[tuple[str, str, str]]:
    """Each literal secret as (location, key, kind)."""
    return [(s.location, s.key, s.kind) for s in server.secrets]


def server_of(entry: dict, name: str = "mcp.json") -> DiscoveredServer:
    """The one server of a configuration holding entry as server "s"."""
    scan = scan_config_text(name, json.dumps({"mcpServers": {"s": entry}}))
    assert scan.problem is None, scan.problem
    (server,) = scan.servers
    return server


def with_env(**env: str) -> DiscoveredServer:
    return server_of({"command": "npx", "args": ["-y", "some-mcp-server"], "env": env})


# --- every real sample ----------------------------------------------------------------------------


def test_every_sample_is_found_and_scans_as_an_mcp_configuration():
    files, messages = find_config_files([str(CONFIGS)])
    assert messages == []
    assert len(files) == 10
    for path in files:
        scan = scan_config_file(path)
        assert scan.problem is None, (path.name, scan.problem)
        assert scan.client in CLIENTS
        assert all(s.client == scan.client and s.file == str(path) for s in scan.servers)


def test_sample_01_claude_desktop_has_five_stdio_servers_and_four_literal_secrets():
    scan = sample("01")
    servers = by_name(scan)
    assert scan.client == "claude_desktop"
    assert list(servers) == ["brave-search", "filesystem", "github", "gdrive", "google-workspace-mcp"]
    assert {s.transport for s in scan.servers} == {"stdio"}
    assert {s.scope for s in scan.servers} == {"user"}
    assert [s.line for s in scan.servers] == [3, 12, 20, 30, 41]
    assert secrets(servers["brave-search"]) == [("env.BRAVE_API_KEY", "BRAVE_API_KEY", "api_key")]
    assert secrets(servers["filesystem"]) == []
    assert secrets(servers["github"]) == [
        ("env.GITHUB_PERSONAL_ACCESS_TOKEN", "GITHUB_PERSONAL_ACCESS_TOKEN", "static_token")
    ]
    assert secrets(servers["gdrive"]) == [
        ("env.GOOGLE_CLIENT_SECRET", "GOOGLE_CLIENT_SECRET", "client_secret")
    ]
    assert secrets(servers["google-workspace-mcp"]) == [
        ("env.GOOGLE_CLIENT_SECRET", "GOOGLE_CLIENT_SECRET", "client_secret")
    ]
    assert [s.line for s in servers["gdrive"].secrets] == [38]
    assert servers["github"].secrets[0].fingerprint == fingerprint("YOUR_GITHUB_TOKEN")
    assert all(s.secret_references == () and s.auth == "none" for s in scan.servers)


def test_sample_01_docker_latest_image_and_npx_without_version_are_unpinned():
    servers = by_name(sample("01"))
    docker = servers["google-workspace-mcp"]
    assert (docker.command, docker.package, docker.version, docker.is_pinned) == (
        "docker",
        "ghcr.io/aaronsb/google-workspace-mcp",
        "latest",
        False,
    )
    brave = servers["brave-search"]
    assert (brave.package, brave.version, brave.is_pinned) == (
        "@modelcontextprotocol/server-brave-search",
        None,
        False,
    )
    assert servers["filesystem"].args == (
        "-y",
        "@modelcontextprotocol/server-filesystem",
        "/Users/YOUR_USERNAME/apps/MCP",
    )


def test_sample_04_vscode_jsonc_sse_remote_and_input_reference_is_not_a_literal():
    scan = sample("04")
    servers = by_name(scan)
    assert (scan.client, list(servers)) == ("vscode", ["remote-mcp", "stdio-mcp"])
    remote = servers["remote-mcp"]
    assert (remote.transport, remote.url, remote.auth, remote.scope) == (
        "sse",
        "http://localhost:3001/sse",
        "unknown",
        "workspace",
    )
    local = servers["stdio-mcp"]
    assert (local.transport, local.command, local.args) == ("stdio", "node", ("mcp-stdio/build/index.js",))
    assert local.secrets == ()
    assert local.secret_references == ("env.YOUTUBE_API_KEY",)


def test_sample_06_url_only_server_is_http_with_unknown_auth():
    (server,) = sample("06").servers
    assert (server.name, server.transport, server.url, server.auth) == (
        "codemotion-mcp-server",
        "http",
        "http://localhost:3000/mcp",
        "unknown",
    )
    assert (server.command, server.args, server.package) == (None, (), None)


def test_sample_07_cursor_latest_and_unversioned_packages_are_unpinned():
    scan = sample("07")
    servers = by_name(scan)
    assert (scan.client, {s.scope for s in scan.servers}) == ("cursor", {"project"})
    assert [(s.package, s.version, s.is_pinned) for s in servers.values()] == [
        ("@eslint/mcp", "latest", False),
        ("@upstash/context7-mcp", None, False),
    ]
    assert [s.line for s in scan.servers] == [3, 8]


def test_sample_09_claude_code_project_file_with_a_literal_kali_api_key():
    scan = sample("09")
    servers = by_name(scan)
    assert (scan.client, {s.scope for s in scan.servers}) == ("claude_code", {"project"})
    assert list(servers) == [
        "athena-knowledge-base",
        "velociraptor",
        "kali_external",
        "kali_internal",
        "playwright",
    ]
    assert [secrets(s) for s in scan.servers] == [
        [],
        [],
        [],
        [("env.KALI_API_KEY", "KALI_API_KEY", "api_key")],
        [],
    ]
    assert servers["kali_internal"].secrets[0].line == 37
    playwright = servers["playwright"]
    assert (playwright.package, playwright.version, playwright.is_pinned) == (
        "@playwright/mcp",
        "latest",
        False,
    )
    # A local Python script fetches no package; its --server upstream is an argument, not a bridge.
    kali = servers["kali_external"]
    assert (kali.package, kali.transport, kali.url, kali.bridge) == (None, "stdio", None, None)


def test_sample_12_codex_writes_mode_auto_approves_only_read_only_tools():
    scan = sample("12")
    (server,) = scan.servers
    assert (scan.client, server.name, server.line) == ("codex", "mcp-tracker", 1)
    assert (server.transport, server.command) == ("stdio", "node")
    assert server.auto_approved_tools == (READ_ONLY_TOOLS,)


def test_sample_14_mcp_remote_bridge_records_the_remote_endpoint():
    scan = sample("14")
    (server,) = scan.servers
    assert scan.client == "antigravity"
    assert (server.transport, server.url, server.bridge) == (
        "http",
        "https://main.insightfulmcp.com",
        "mcp-remote",
    )
    assert (server.command, server.args) == (
        "/opt/homebrew/bin/npx",
        ("mcp-remote", "https://main.insightfulmcp.com"),
    )
    assert (server.package, server.version, server.is_pinned) == ("mcp-remote", None, False)
    assert (server.auth, server.secrets) == ("unknown", ())


def test_sample_15_settings_style_mcp_servers_http_and_sse():
    scan = sample("15")
    assert scan.client == "vscode"
    assert [(s.name, s.transport, s.url, s.scope) for s in scan.servers] == [
        ("http_server", "http", "http://localhost:8124/mcp", "user"),
        ("sse_server", "sse", "http://localhost:8123/sse", "user"),
    ]


def test_sample_16_empty_mcp_block_gives_no_servers_and_no_problem():
    scan = sample("16")
    assert (scan.client, scan.servers, scan.problem) == ("vscode", [], None)
    assert scan.notes == ["the mcp block configures no servers"]


def test_sample_17_whole_command_line_is_split_and_its_env_file_recorded():
    scan = sample("17")
    (server,) = scan.servers
    assert (scan.client, server.scope) == ("roo", "project")
    assert server.command == "docker"
    assert server.args == (
        "run",
        "--rm",
        "--env-file",
        "/home/bobby/projects/n8n-mcp-server/.env",
        "-p",
        "3000:8000",
        "n8n-mcp-server",
    )
    assert server.env_file == "/home/bobby/projects/n8n-mcp-server/.env"
    assert (server.package, server.version, server.is_pinned) == ("n8n-mcp-server", None, False)


# --- clients without a real sample (synthetic fixtures) ------------------------------------------


def test_claude_json_top_level_servers_are_user_scope_and_project_servers_local():
    scan = fixture(".claude.json")
    assert scan.client == "claude_code"
    assert [(s.name, s.scope, s.project) for s in scan.servers] == [
        ("sentry", "user", None),
        ("postgres", "local", "/home/dev/shop"),
        ("api", "local", "/home/dev/shop"),
    ]
    sentry, postgres, api = scan.servers
    assert (sentry.transport, sentry.auth) == ("http", "oauth2")
    assert (postgres.package, postgres.version, postgres.is_pinned) == (
        "@modelcontextprotocol/server-postgres",
        "0.6.2",
        True,
    )
    assert secrets(postgres) == [("args[2]", "args[2]", "password")]
    assert postgres.args[2] == f"postgresql://shop:{REDACTED}@localhost:5432/shop"
    assert postgres.secrets[0].fingerprint == fingerprint("placeholder-db-password")
    assert postgres.secrets[0].line == 20
    assert (api.transport, api.auth, api.secrets, api.secret_references) == (
        "http",
        "static_token",
        (),
        ("headers.X-API-Key",),
    )


def test_windsurf_server_url_is_http_and_a_literal_bearer_header_is_a_static_token():
    scan = fixture(".codeium/windsurf/mcp_config.json")
    linear, brave = scan.servers
    assert (scan.client, linear.scope) == ("windsurf", "user")
    assert (linear.transport, linear.url, linear.auth) == (
        "http",
        "https://mcp.linear.app/sse",
        "static_token",
    )
    assert secrets(linear) == [("headers.Authorization", "Authorization", "static_token")]
    assert linear.secrets[0].fingerprint == fingerprint("placeholder-linear-token")
    assert (brave.secrets, brave.secret_references) == ((), ("env.BRAVE_API_KEY",))


def test_gemini_http_url_sse_url_trust_oauth_and_tool_filters():
    scan = fixture(".gemini/settings.json")
    github, docs, git = scan.servers
    assert (scan.client, github.scope) == ("gemini_cli", "project")
    assert (github.transport, github.auth, github.secret_references) == (
        "http",
        "static_token",
        ("headers.Authorization",),
    )
    assert github.include_tools == ("get_issue", "list_issues")
    assert (docs.transport, docs.url, docs.auth) == ("sse", "https://docs.example.com/sse", "oauth2")
    assert secrets(docs) == [("oauth.clientSecret", "clientSecret", "client_secret")]
    assert git.auto_approved_tools == (ALL_TOOLS,)
    assert git.exclude_tools == ("git_reset",)
    assert (git.package, git.version, git.is_pinned) == ("mcp-server-git", "2025.1.14", True)
    assert github.auto_approved_tools == docs.auto_approved_tools == ()


def test_cline_auto_approve_lists_tools_and_disabled_turns_a_server_off():
    scan = fixture("cline/cline_mcp_settings.json")
    filesystem, context7 = scan.servers
    assert (scan.client, filesystem.scope) == ("cline", "user")
    assert (filesystem.auto_approved_tools, filesystem.is_enabled) == (("read_file", "list_directory"), True)
    assert (context7.transport, context7.auto_approved_tools, context7.is_enabled) == ("http", (), False)


def test_kilo_always_allow_streamable_http_and_disabled_tools():
    scan = fixture(".kilocode/mcp.json")
    fetch, notion = scan.servers
    assert (scan.client, fetch.scope) == ("kilo", "project")
    assert (fetch.transport, fetch.auto_approved_tools) == ("stdio", ("fetch",))
    assert (notion.transport, notion.exclude_tools, notion.auth) == ("http", ("delete_page",), "static_token")
    assert secrets(notion) == [("headers.Notion-Token", "Notion-Token", "static_token")]


def test_zed_context_servers_nested_command_custom_source_remote_and_extension():
    scan = fixture("zed/settings.json")
    postgres, github, remote, extension = scan.servers
    assert (scan.client, postgres.scope) == ("zed", "user")
    assert (postgres.command, postgres.args) == ("npx", ("-y", "@zeddotdev/postgres-context-server@0.1.3"))
    assert secrets(postgres) == [("command.env.DATABASE_URL", "DATABASE_URL", "password")]
    assert (github.is_enabled, github.package, github.version, github.is_pinned) == (
        False,
        "ghcr.io/github/github-mcp-server",
        "v0.4.0",
        True,
    )
    assert secrets(github) == [
        ("env.GITHUB_PERSONAL_ACCESS_TOKEN", "GITHUB_PERSONAL_ACCESS_TOKEN", "static_token")
    ]
    assert (remote.transport, remote.secret_references) == ("http", ("headers.Authorization",))
    assert (extension.name, extension.transport, extension.command) == ("mcp-server-context7", "stdio", None)


def test_continue_yaml_list_of_named_servers_and_a_block_file():
    scan = fixture(".continue/config.yaml")
    sqlite, supabase, search = scan.servers
    assert (scan.client, sqlite.scope) == ("continue", "project")
    assert [s.name for s in scan.servers] == ["SQLite MCP", "Supabase MCP", "Remote search"]
    assert [s.line for s in scan.servers] == [10, 16, 21]
    assert (sqlite.package, sqlite.version, sqlite.is_pinned) == ("mcp-sqlite", "1.0.7", True)
    assert (supabase.secrets, supabase.secret_references) == ((), ("env.SUPABASE_ACCESS_TOKEN",))
    assert (search.transport, search.auth) == ("http", "static_token")
    assert secrets(search) == [("requestOptions.headers.Authorization", "Authorization", "static_token")]

    block = fixture(".continue/mcpServers/playwright-mcp.yaml")
    (browser,) = block.servers
    assert (block.client, browser.name, browser.package, browser.version) == (
        "continue",
        "Browser search",
        "@playwright/mcp",
        "latest",
    )


def test_codex_toml_bearer_env_var_enabled_env_table_and_approval_modes():
    scan = fixture(".codex/config.toml")
    docs, shell, tracker = scan.servers
    assert (scan.client, docs.scope) == ("codex", "project")
    assert (docs.transport, docs.auth, docs.is_enabled) == ("http", "static_token", False)
    assert docs.secret_references == ("bearer_token_env_var",)
    assert docs.include_tools == ("search", "fetch")
    # No default_tools_approval_mode means Codex's default, "auto".
    assert docs.auto_approved_tools == (READ_ONLY_TOOLS,)
    assert shell.auto_approved_tools == (ALL_TOOLS,)
    assert secrets(shell) == [("env.SHELL_API_KEY", "SHELL_API_KEY", "api_key")]
    assert shell.secrets[0].line == 15
    assert (tracker.auto_approved_tools, tracker.exclude_tools) == (("list_items",), ("purge",))
    assert [s.line for s in scan.servers] == [3, 9, 18]


def test_copilot_cli_local_type_is_stdio_and_a_star_tool_list_is_no_filter():
    scan = fixture(".copilot/mcp-config.json")
    playwright, github = scan.servers
    assert (scan.client, playwright.scope) == ("copilot", "user")
    assert (playwright.transport, playwright.include_tools, playwright.is_pinned) == ("stdio", (), True)
    assert (github.transport, github.include_tools, github.secret_references) == (
        "http",
        ("get_issue",),
        ("headers.Authorization",),
    )


def test_kiro_settings_auto_approve():
    scan = fixture(".kiro/settings/mcp.json")
    (docs,) = scan.servers
    assert (scan.client, docs.scope, docs.auto_approved_tools) == (
        "kiro",
        "project",
        ("search_documentation",),
    )
    assert (docs.package, docs.version, docs.is_pinned) == (
        "awslabs.aws-documentation-mcp-server",
        "latest",
        False,
    )
    assert docs.secrets == ()


def test_every_fixture_is_found_by_a_directory_scan():
    files, _ = find_config_files([str(FIXTURES)])
    assert [f.relative_to(FIXTURES).as_posix() for f in files] == [
        ".claude.json",
        ".codeium/windsurf/mcp_config.json",
        ".codex/config.toml",
        ".continue/config.yaml",
        ".continue/mcpServers/playwright-mcp.yaml",
        ".copilot/mcp-config.json",
        ".gemini/settings.json",
        ".kilocode/mcp.json",
        ".kiro/settings/mcp.json",
        "cline/cline_mcp_settings.json",
        "zed/settings.json",
    ]


# --- literal secrets and references -------------------------------------------------------------


def test_literal_in_token_key_is_a_literal_secret():
    server = with_env(GITHUB_PERSONAL_ACCESS_TOKEN="placeholder-value")
    assert secrets(server) == [
        ("env.GITHUB_PERSONAL_ACCESS_TOKEN", "GITHUB_PERSONAL_ACCESS_TOKEN", "static_token")
    ]
    assert server.secrets[0].fingerprint == fingerprint("placeholder-value")
    assert server.secret_references == ()


@pytest.mark.parametrize(
    "reference",
    [
        "${GITHUB_TOKEN}",
        "${GITHUB_TOKEN:-}",
        "${env:GITHUB_TOKEN}",
        "${input:github_pat}",
        "$GITHUB_TOKEN",
        "${{ secrets.GITHUB_TOKEN }}",
    ],
)
def test_reference_in_token_key_is_not_a_literal_secret(reference):
    server = with_env(GITHUB_PERSONAL_ACCESS_TOKEN=reference)
    assert server.secrets == ()
    assert server.secret_references == ("env.GITHUB_PERSONAL_ACCESS_TOKEN",)


@pytest.mark.parametrize("value", ["{{GITHUB_TOKEN}}", "ghp_${SUFFIX}", "YOUR_GITHUB_TOKEN"])
def test_undocumented_or_partial_references_are_literal_secrets(value):
    assert len(with_env(GITHUB_TOKEN=value).secrets) == 1


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_value_is_not_a_secret(value):
    server = with_env(GITHUB_TOKEN=value)
    assert (server.secrets, server.secret_references) == ((), ())


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("GITHUB_PERSONAL_ACCESS_TOKEN", "static_token"),
        ("GITHUB_PAT", "static_token"),
        ("BRAVE_API_KEY", "api_key"),
        ("SUPABASE_SERVICE_ROLE_KEY", "api_key"),
        ("KALI_API_KEY", "api_key"),
        ("apiKey", "api_key"),
        ("X-API-Key", "api_key"),
        ("GOOGLE_CLIENT_SECRET", "client_secret"),
        ("clientSecret", "client_secret"),
        ("DB_PASSWORD", "password"),
        ("SMTP_PASS", "password"),
        ("Authorization", "static_token"),
        ("SLACK_BOT_CREDENTIALS", "static_token"),
    ],
)
def test_secret_names_and_their_credential_kind(name, kind):
    assert is_secret_name(name)
    assert secret_kind(name) == kind


@pytest.mark.parametrize(
    "name",
    [
        "KEYBOARD_LAYOUT",
        "MAX_TOKENS",
        "TOKEN_URL",
        "AUTH_TYPE",
        "AWS_ACCESS_KEY_ID",
        "PUBLIC_KEY",
        "NEXT_PUBLIC_SUPABASE_ANON_KEY",
        "SECRET_NAME",
        "API_KEY_FILE",
        "GOOGLE_CLIENT_ID",
        "PATH",
        "AUTHOR",
        "LOG_MODE",
    ],
)
def test_names_that_only_mention_secrets_are_not_secret_names(name):
    assert not is_secret_name(name)
    assert with_env(**{name: "placeholder-value"}).secrets == ()


def test_boolean_in_a_secret_named_key_is_not_a_secret():
    assert with_env(REQUIRE_AUTH="true").secrets == ()
    assert len(with_env(REQUIRE_AUTH="placeholder-value").secrets) == 1


def test_path_to_a_credentials_file_is_a_reference_not_a_secret():
    server = with_env(GOOGLE_APPLICATION_CREDENTIALS="/home/dev/keys/service-account.json")
    assert (server.secrets, server.secret_references) == ((), ("env.GOOGLE_APPLICATION_CREDENTIALS",))
    assert len(with_env(GOOGLE_APPLICATION_CREDENTIALS="placeholder/value+with/slashes==").secrets) == 1


def test_literal_bearer_header_is_a_static_token_fingerprinted_without_its_scheme():
    server = server_of(
        {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer placeholder-tok"}}
    )
    assert secrets(server) == [("headers.Authorization", "Authorization", "static_token")]
    assert server.secrets[0].fingerprint == fingerprint("placeholder-tok")
    assert server.auth == "static_token"


def test_referenced_bearer_header_is_not_a_literal_but_still_static_token_auth():
    server = server_of(
        {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${MCP_TOKEN}"}}
    )
    assert (server.secrets, server.secret_references, server.auth) == (
        (),
        ("headers.Authorization",),
        "static_token",
    )


def test_basic_authorization_header_is_a_password():
    server = server_of(
        {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Basic cGxhY2Vob2xkZXI="}}
    )
    assert secrets(server) == [("headers.Authorization", "Authorization", "password")]


def test_api_key_header_is_an_api_key_and_other_headers_are_ignored():
    server = server_of(
        {
            "url": "https://mcp.example.com/mcp",
            "headers": {"X-API-Key": "placeholder", "Accept": "text/plain"},
        }
    )
    assert secrets(server) == [("headers.X-API-Key", "X-API-Key", "api_key")]
    plain = server_of({"url": "https://mcp.example.com/mcp", "headers": {"Accept": "text/event-stream"}})
    assert (plain.secrets, plain.auth) == ((), "unknown")


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://app:placeholder-pw@db.internal:5432/app",
        "mongodb+srv://app:placeholder-pw@cluster0.example.net/db",
        "Server=db.internal;Database=app;User Id=app;Password=placeholder-pw;",
    ],
)
def test_connection_string_with_a_password_in_any_env_key_is_a_password(value):
    server = with_env(DATABASE_URL=value)
    assert secrets(server) == [("env.DATABASE_URL", "DATABASE_URL", "password")]
    assert server.secrets[0].fingerprint == fingerprint("placeholder-pw")


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://app:${DB_PASSWORD}@db.internal/app",
        "Server=db.internal;User Id=app;Password=$DB_PASSWORD",
    ],
)
def test_connection_string_whose_password_is_a_reference_is_not_a_literal(value):
    server = with_env(DATABASE_URL=value)
    assert (server.secrets, server.secret_references) == ((), ("env.DATABASE_URL",))


def test_connection_string_without_a_password_is_not_a_secret():
    assert with_env(DATABASE_URL="postgresql://localhost:5432/app").secrets == ()


def test_connection_string_in_args_is_a_password_named_by_its_position():
    server = server_of({"command": "uvx", "args": ["mcp-server-postgres", "postgresql://u:placeholder@h/db"]})
    assert secrets(server) == [("args[1]", "args[1]", "password")]
    assert server_of({"command": "uvx", "args": ["mcp-server-postgres", "postgresql://h/db"]}).secrets == ()


@pytest.mark.parametrize("args", [["--api-key", "placeholder"], ["--api-key=placeholder"]])
def test_secret_named_option_with_a_literal_is_a_secret(args):
    server = server_of({"command": "npx", "args": ["-y", "some-mcp-server", *args]})
    assert [(s.key, s.kind) for s in server.secrets] == [("--api-key", "api_key")]
    assert server.secrets[0].location == f"args[{len(args) + 1}]"


def test_secret_named_option_with_a_reference_is_not_a_secret():
    server = server_of({"command": "npx", "args": ["-y", "some-mcp-server", "--api-key", "${API_KEY}"]})
    assert (server.secrets, server.secret_references) == ((), ("args[3]",))
    assert server_of({"command": "npx", "args": ["some-mcp-server", "--no-auth", "stdio"]}).secrets == ()


def test_docker_env_pair_with_a_literal_secret_is_a_secret_but_a_passthrough_is_not():
    literal = server_of({"command": "docker", "args": ["run", "-i", "-e", "GITHUB_TOKEN=placeholder", "img"]})
    assert secrets(literal) == [("args[3]", "GITHUB_TOKEN", "static_token")]
    passthrough = server_of({"command": "docker", "args": ["run", "-i", "-e", "GITHUB_TOKEN", "img"]})
    assert passthrough.secrets == ()


def test_mcp_remote_header_argument_gives_static_token_auth():
    args = ["-y", "mcp-remote", "https://mcp.example.com/sse", "--header", "Authorization:${AUTH_HEADER}"]
    server = server_of({"command": "npx", "args": args})
    assert (server.transport, server.auth, server.secrets, server.secret_references) == (
        "http",
        "static_token",
        (),
        ("args[4]",),
    )
    literal = server_of({"command": "npx", "args": [*args[:4], "Authorization: Bearer placeholder"]})
    assert secrets(literal) == [("args[4]", "Authorization", "static_token")]


def test_secret_in_a_url_query_or_user_info_is_a_secret():
    query = server_of({"url": "https://mcp.example.com/sse?api_key=placeholder&mode=x"})
    assert secrets(query) == [("url", "url", "api_key")]
    user_info = server_of({"url": "https://user:placeholder@mcp.example.com/mcp"})
    assert secrets(user_info) == [("url", "url", "password")]
    assert server_of({"url": "https://mcp.example.com/sse?mode=x"}).secrets == ()


def test_secret_values_appear_nowhere_in_the_scan_not_even_in_args_or_urls():
    local = {
        "command": "npx",
        "args": ["x", "--token", "placeholder-one", "postgresql://u:placeholder-two@h/db"],
        "env": {"API_KEY": "placeholder-three"},
    }
    bridged = {
        "command": "npx",
        "args": [
            "mcp-remote",
            "https://h.example/sse?token=placeholder-four",
            "--header",
            "X-Key: placeholder-five",
        ],
    }
    remote = {
        "url": "https://u:placeholder-six@h.example/mcp",
        "headers": {"Authorization": "Bearer placeholder-7"},
    }
    text = json.dumps({"mcpServers": {"local": local, "bridged": bridged, "remote": remote}})
    scan = scan_config_text("mcp.json", text)
    assert [len(s.secrets) for s in scan.servers] == [3, 2, 2]
    assert "placeholder-" not in repr(scan)
    local, bridged, remote = scan.servers
    assert local.args == ("x", "--token", REDACTED, f"postgresql://u:{REDACTED}@h/db")
    assert bridged.args[1:] == (f"https://h.example/sse?token={REDACTED}", "--header", f"X-Key: {REDACTED}")
    assert bridged.url == f"https://h.example/sse?token={REDACTED}"
    assert remote.url == f"https://u:{REDACTED}@h.example/mcp"


def test_oauth_block_means_oauth2_unless_it_is_disabled():
    assert server_of({"url": "https://mcp.example.com/mcp", "oauth": {"clientId": "c"}}).auth == "oauth2"
    assert server_of({"url": "https://mcp.example.com/mcp", "oauth": {"enabled": False}}).auth == "unknown"
    google = {"httpUrl": "https://mcp.example.com/mcp", "authProviderType": "google_credentials"}
    assert server_of(google).auth == "oauth2"


def test_codex_literal_bearer_token_is_a_secret_and_env_http_headers_a_reference():
    literal = scan_config_text(
        "config.toml", '[mcp_servers.s]\nurl = "https://h/mcp"\nbearer_token = "placeholder"\n'
    )
    (server,) = literal.servers
    assert (secrets(server), server.auth) == (
        [("bearer_token", "bearer_token", "static_token")],
        "static_token",
    )
    text = '[mcp_servers.s]\nurl = "https://h/mcp"\n[mcp_servers.s.env_http_headers]\nX-Api-Key = "MY_KEY"\n'
    (server,) = scan_config_text("config.toml", text).servers
    assert (server.secrets, server.secret_references, server.auth) == (
        (),
        ("env_http_headers.X-Api-Key",),
        "static_token",
    )


def test_claude_code_headers_helper_supplies_headers_at_connect_time():
    server = server_of({"type": "http", "url": "https://h/mcp", "headersHelper": "/opt/bin/get-headers.sh"})
    assert (server.auth, server.secret_references) == ("static_token", ("headersHelper",))


def test_reference_detection_needs_the_whole_value_to_be_references():
    assert is_reference("Bearer ${TOKEN}")
    assert is_reference("${A}${B}")
    assert not is_reference("prefix-${TOKEN}")
    assert not is_reference("")


# --- transport ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "transport"),
    [
        ({"command": "npx", "args": ["x"]}, "stdio"),
        ({"url": "https://mcp.example.com/mcp"}, "http"),
        ({"serverUrl": "https://mcp.example.com/mcp"}, "http"),
        ({"httpUrl": "https://mcp.example.com/mcp"}, "http"),
        ({"type": "sse", "url": "https://mcp.example.com/sse"}, "sse"),
        ({"type": "streamable-http", "url": "https://mcp.example.com/mcp"}, "http"),
        ({"type": "streamableHttp", "url": "https://mcp.example.com/mcp"}, "http"),
        ({"type": "streamable_http", "url": "https://mcp.example.com/mcp"}, "http"),
        ({"transportType": "sse", "url": "https://mcp.example.com/sse"}, "sse"),
        ({"type": "local", "command": "npx"}, "stdio"),
    ],
)
def test_transport_is_declared_or_inferred(entry, transport):
    assert server_of(entry).transport == transport


def test_gemini_url_is_sse_but_another_clients_url_is_http():
    gemini = server_of({"url": "https://mcp.example.com/sse"}, name="/work/app/.gemini/settings.json")
    assert (gemini.client, gemini.transport) == ("gemini_cli", "sse")
    assert (
        server_of({"url": "https://mcp.example.com/sse"}, name="/work/app/.cursor/mcp.json").transport
        == "http"
    )


def test_unknown_declared_transport_is_noted_and_inferred():
    scan = scan_config_text(
        "mcp.json", json.dumps({"mcpServers": {"s": {"type": "websocket", "command": "x"}}})
    )
    assert scan.servers[0].transport == "stdio"
    assert scan.notes == [
        "server 's': type 'websocket' is not one of stdio, sse, http, streamable-http; inferred instead"
    ]


def test_server_with_neither_command_nor_url_is_skipped_with_a_note():
    text = json.dumps(
        {"mcpServers": {"a": {"description": "x"}, "b": {"type": "http"}, "c": {"command": "x"}}}
    )
    scan = scan_config_text("mcp.json", text)
    assert [s.name for s in scan.servers] == ["c"]
    assert scan.problem is None
    assert scan.notes == [
        "server 'a': it names neither a command nor a url; not inventoried",
        "server 'b': its transport is http but it has no url; not inventoried",
    ]


# --- packages, versions and bridges ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args", "package", "version", "is_pinned"),
    [
        (
            "npx",
            ["-y", "@modelcontextprotocol/server-github@1.2.3"],
            "@modelcontextprotocol/server-github",
            "1.2.3",
            True,
        ),
        ("npx", ["--yes", "@scope/pkg@latest"], "@scope/pkg", "latest", False),
        ("npx", ["@scope/pkg"], "@scope/pkg", None, False),
        ("npx", ["-y", "pkg@^1.2.0"], "pkg", "^1.2.0", False),
        ("npx", ["-y", "pkg@1.2"], "pkg", "1.2", False),
        ("npx", ["-y", "pkg@next"], "pkg", "next", False),
        ("npx", ["-p", "pkg@2.0.0", "pkg-bin", "--flag"], "pkg", "2.0.0", True),
        ("npx", ["./local/server.js"], None, None, False),
        ("C:\\Program Files\\nodejs\\npx.cmd", ["-y", "pkg@1.0.0"], "pkg", "1.0.0", True),
        ("bunx", ["pkg@2.0.0"], "pkg", "2.0.0", True),
        ("pnpm", ["dlx", "pkg@2.0.0"], "pkg", "2.0.0", True),
        ("uvx", ["mcp-server-fetch"], "mcp-server-fetch", None, False),
        ("uvx", ["mcp-server-fetch==1.2"], "mcp-server-fetch", "1.2", True),
        ("uvx", ["mcp-server-fetch@latest"], "mcp-server-fetch", "latest", False),
        ("uvx", ["mcp-server-fetch>=1.0"], "mcp-server-fetch", ">=1.0", False),
        (
            "uvx",
            ["--from", "mcp-server-git@0.6.2", "mcp-server-git", "--repo", "."],
            "mcp-server-git",
            "0.6.2",
            True,
        ),
        ("uvx", ["--python", "3.12", "mcp-server-time"], "mcp-server-time", None, False),
        ("pipx", ["run", "mcp-server-time==0.6.2"], "mcp-server-time", "0.6.2", True),
        (
            "docker",
            ["run", "-i", "--rm", "-e", "TOKEN", "ghcr.io/github/github-mcp-server"],
            "ghcr.io/github/github-mcp-server",
            None,
            False,
        ),
        (
            "docker",
            ["run", "-it", "--name", "x", "-v", "a:b", "mcp/fetch:latest"],
            "mcp/fetch",
            "latest",
            False,
        ),
        ("docker", ["run", "--rm", "mcp/fetch:1.2.3"], "mcp/fetch", "1.2.3", True),
        ("docker", ["run", "--rm", "mcp/fetch:main"], "mcp/fetch", "main", False),
        ("docker", ["run", "--rm", "localhost:5000/fetch"], "localhost:5000/fetch", None, False),
        ("docker", ["run", "mcp/fetch@sha256:" + "ab" * 32], "mcp/fetch", "sha256:" + "ab" * 32, True),
        ("docker", ["exec", "-i", "container", "server"], None, None, False),
        ("python", ["-m", "mcp_server_time"], "mcp_server_time", None, False),
        ("/usr/bin/python3", ["/opt/server.py"], None, None, False),
        ("/usr/local/bin/github-mcp-server", ["stdio"], None, None, False),
        ("cmd", ["/c", "npx", "-y", "pkg@1.0.0"], "pkg", "1.0.0", True),
        ("bash", ["-c", "npx -y pkg@1.0.0 --stdio"], "pkg", "1.0.0", True),
    ],
)
def test_package_and_version_come_from_the_command_line(command, args, package, version, is_pinned):
    server = server_of({"command": command, "args": args})
    assert (server.package, server.version, server.is_pinned) == (package, version, is_pinned)


@pytest.mark.parametrize(
    ("command", "args", "bridge", "transport", "url"),
    [
        (
            "npx",
            ["-y", "mcp-remote@0.1.16", "https://a.example/mcp"],
            "mcp-remote",
            "http",
            "https://a.example/mcp",
        ),
        (
            "npx",
            ["mcp-remote", "https://a.example/sse", "--transport", "sse-only"],
            "mcp-remote",
            "sse",
            "https://a.example/sse",
        ),
        ("mcp-remote", ["https://a.example/mcp"], "mcp-remote", "http", "https://a.example/mcp"),
        (
            "npx",
            ["-y", "supergateway", "--sse", "https://a.example/sse"],
            "supergateway",
            "sse",
            "https://a.example/sse",
        ),
        (
            "npx",
            ["-y", "supergateway", "--streamableHttp", "https://a.example/mcp"],
            "supergateway",
            "http",
            "https://a.example/mcp",
        ),
        ("uvx", ["mcp-proxy", "https://a.example/sse"], "mcp-proxy", "sse", "https://a.example/sse"),
        (
            "uvx",
            ["mcp-proxy", "--transport", "streamablehttp", "https://a.example/mcp"],
            "mcp-proxy",
            "http",
            "https://a.example/mcp",
        ),
    ],
)
def test_stdio_bridge_to_a_remote_server_records_the_remote_url(command, args, bridge, transport, url):
    server = server_of({"command": command, "args": args})
    assert (server.bridge, server.transport, server.url) == (bridge, transport, url)
    assert (server.command, server.args) == (command, tuple(args))


def test_supergateway_serving_a_local_server_is_not_a_bridge():
    server = server_of({"command": "npx", "args": ["-y", "supergateway", "--stdio", "npx some-server"]})
    assert (server.bridge, server.transport, server.url, server.package) == (
        None,
        "stdio",
        None,
        "supergateway",
    )


# --- command lines ------------------------------------------------------------------------------


def test_whole_command_line_in_command_is_split():
    server = server_of({"command": 'uvx --from "mcp-server-git==0.6.2" mcp-server-git', "args": []})
    assert (server.command, server.args) == ("uvx", ("--from", "mcp-server-git==0.6.2", "mcp-server-git"))
    assert (server.package, server.is_pinned) == ("mcp-server-git", True)


def test_secret_in_a_split_command_line_is_located_in_the_recorded_args():
    scan = scan_config_text(
        "mcp.json",
        '{"mcpServers": {"s": {\n  "command": "npx -y some-server --api-key placeholder"}}}',
    )
    (server,) = scan.servers
    assert server.args == ("-y", "some-server", "--api-key", REDACTED)
    assert [(s.location, s.key, s.line) for s in server.secrets] == [("args[3]", "--api-key", 2)]


def test_command_with_args_is_not_split():
    server = server_of({"command": "my server", "args": ["--stdio"]})
    assert (server.command, server.args) == ("my server", ("--stdio",))


def test_windows_path_with_spaces_is_one_command():
    server = server_of({"command": "C:\\Program Files\\nodejs\\node.exe"})
    assert (server.command, server.args) == ("C:\\Program Files\\nodejs\\node.exe", ())


def test_command_with_unbalanced_quotes_is_kept_whole_with_a_note():
    scan = scan_config_text("mcp.json", json.dumps({"mcpServers": {"s": {"command": 'npx -y "pkg'}}}))
    assert scan.servers[0].command == 'npx -y "pkg'
    assert scan.notes == ["server 's': command has unbalanced quotes; kept as one word"]


def test_env_file_comes_from_env_file_field_or_docker_option():
    assert server_of(
        {"command": "node", "args": ["s.js"], "envFile": "${workspaceFolder}/.env"}
    ).env_file == ("${workspaceFolder}/.env")
    docker = server_of({"command": "docker", "args": ["run", "--env-file=.env", "img"]})
    assert docker.env_file == ".env"
    assert server_of({"command": "node", "args": ["s.js"]}).env_file is None


# --- enabled, approvals and tool filters ---------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "is_enabled"),
    [({}, True), ({"disabled": True}, False), ({"disabled": False}, True), ({"enabled": False}, False)],
)
def test_disabled_or_not_enabled_servers_are_off(flags, is_enabled):
    assert server_of({"command": "npx", **flags}).is_enabled is is_enabled


def test_auto_approve_and_always_allow_name_the_tools_that_run_without_a_human():
    assert server_of({"command": "x", "autoApprove": ["read"]}).auto_approved_tools == ("read",)
    assert server_of({"command": "x", "alwaysAllow": ["read", "list"]}).auto_approved_tools == (
        "read",
        "list",
    )
    assert server_of({"command": "x", "autoApprove": []}).auto_approved_tools == ()


def test_gemini_trust_auto_approves_every_tool_and_no_trust_none():
    assert server_of({"command": "x", "trust": True, "autoApprove": ["read"]}).auto_approved_tools == (
        ALL_TOOLS,
    )
    assert server_of({"command": "x", "trust": False}).auto_approved_tools == ()


@pytest.mark.parametrize(
    ("mode", "approved"),
    [
        ('default_tools_approval_mode = "approve"', (ALL_TOOLS,)),
        ('default_tools_approval_mode = "writes"', (READ_ONLY_TOOLS,)),
        ('default_tools_approval_mode = "auto"', (READ_ONLY_TOOLS,)),
        ("", (READ_ONLY_TOOLS,)),
        ('default_tools_approval_mode = "prompt"', ()),
    ],
)
def test_codex_approval_mode_says_which_tools_run_without_a_human(mode, approved):
    scan = scan_config_text("config.toml", f'[mcp_servers.s]\ncommand = "x"\n{mode}\n')
    assert scan.servers[0].auto_approved_tools == approved


def test_codex_unknown_approval_mode_is_noted():
    scan = scan_config_text(
        "config.toml", '[mcp_servers.s]\ncommand = "x"\ndefault_tools_approval_mode = "never"\n'
    )
    assert scan.servers[0].auto_approved_tools == ()
    assert scan.notes == [
        "server 's': default_tools_approval_mode 'never' is not auto, prompt, writes or approve; ignored"
    ]


# --- files that are not configurations, and broken ones ------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "problem", "client"),
    [
        ("package.json", '{"name": "x", "version": "1.0.0"}', NOT_A_CONFIG, None),
        ("random.yaml", "a: 1\nservers: [web, db]\n", NOT_A_CONFIG, None),
        ("array.json", "[1, 2]", f"{NOT_A_CONFIG}; its top level is a list, expected a mapping", None),
        ("bad.json", '{"mcpServers": {"a": }', "invalid JSON at line 1, column 22: Expecting value", None),
        (
            "bad.toml",
            "[mcp_servers.x\n",
            "invalid TOML: Expected ']' at the end of a table declaration",
            None,
        ),
        ("bad.yaml", "mcpServers: [\n", "invalid YAML at line 2:", None),
        ("empty.json", "  \n", "the file is empty, expected an MCP client configuration", None),
        ("config.toml", 'model = "gpt-5"\n', NOT_A_CONFIG, None),
        (
            "mcp.json",
            '{"mcpServers": {"a": "npx foo"}}',
            "server 'a' in mcpServers (line 1) is a string, expected a mapping with its command or url",
            "generic",
        ),
        (
            "mcp.json",
            '{"mcpServers": "npx foo"}',
            "mcpServers (line 1) is a string, expected a mapping of server names to their settings",
            "generic",
        ),
        (
            "config.yaml",
            "mcpServers:\n  - command: npx\n",
            "entry 1 of mcpServers has no name, expected a name for every server",
            "continue",
        ),
    ],
)
def test_file_that_is_not_a_usable_configuration_has_a_problem_and_no_servers(name, text, problem, client):
    scan = scan_config_text(name, text)
    assert scan.problem.startswith(problem), scan.problem
    assert (scan.client, scan.servers) == (client, [])


def test_one_broken_entry_keeps_the_whole_file_out():
    text = json.dumps({"mcpServers": {"good": {"command": "npx"}, "bad": ["npx"]}})
    scan = scan_config_text("mcp.json", text)
    assert (scan.servers, scan.problem) == (
        [],
        "server 'bad' in mcpServers (line 1) is a list, expected a mapping with its command or url",
    )


def test_binary_and_non_utf8_files_have_a_problem(tmp_path):
    binary = tmp_path / "blob.json"
    binary.write_bytes(b"\x89PNG\x00\x01")
    assert scan_config_file(binary).problem == (
        "the file is binary (it contains NUL bytes), expected a JSON, TOML or YAML text file"
    )
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"a": "caf\xe9"}'.encode("latin-1"))
    assert scan_config_file(latin).problem == (
        "the file is not UTF-8 text (byte 0xe9 at offset 10), expected a JSON, TOML or YAML text file"
    )


def test_utf16_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "mcp.json"
    path.write_bytes(json.dumps({"mcpServers": {"s": {"command": "npx"}}}).encode("utf-16"))
    assert [s.name for s in scan_config_file(path).servers] == ["s"]


def test_unreadable_or_oversized_file_has_a_problem(tmp_path):
    assert scan_config_file(tmp_path).problem == "the file cannot be read: Is a directory"
    assert (
        scan_config_file(tmp_path / "missing.json").problem
        == "the file cannot be read: No such file or directory"
    )
    big = tmp_path / "big.json"
    big.write_text('{"mcpServers": {}}' + " " * 100)
    assert scan_config_file(big, max_bytes=50).problem == "the file is 118 bytes, over the limit of 50 bytes"
    assert scan_config_file(big).problem is None


def test_wrong_typed_fields_are_ignored_with_a_note_and_the_server_kept():
    entry = {"command": "npx", "args": "some-pkg", "env": ["A=1"], "disabled": "yes", "autoApprove": "all"}
    scan = scan_config_text("mcp.json", json.dumps({"mcpServers": {"s": entry}}))
    (server,) = scan.servers
    assert (server.command, server.args, server.is_enabled, server.auto_approved_tools) == (
        "npx",
        (),
        True,
        (),
    )
    assert scan.notes == [
        "server 's': args is a string, expected a list of strings; ignored",
        "server 's': env is a list, expected a mapping; ignored",
        "server 's': disabled is a string, expected true or false; ignored",
        "server 's': autoApprove is a string, expected a list of strings; ignored",
    ]


def test_numbers_in_args_and_env_are_read_as_text():
    scan = scan_config_text(
        "config.yaml", "mcpServers:\n  - name: s\n    command: x\n    args: [--port, 8080]\n"
    )
    assert scan.servers[0].args == ("--port", "8080")
    assert with_env(DB_PASSWORD=12345).secrets[0].fingerprint == fingerprint("12345")


# --- JSONC and lines ----------------------------------------------------------------------------


def test_jsonc_comments_and_trailing_commas_go_but_strings_and_lines_stay():
    text = (
        '{\n  // a comment\n  "url": "https://x.example/a//b", /* block\n comment */ "s": "/* kept */",\n'
        '  "l": [1, 2,],\n}'
    )
    plain = strip_jsonc(text)
    assert json.loads(plain) == {"url": "https://x.example/a//b", "s": "/* kept */", "l": [1, 2]}
    assert plain.count("\n") == text.count("\n")
    assert strip_jsonc('{"a": "\\"//"}') == '{"a": "\\"//"}'


def test_jsonc_file_lines_point_at_servers_after_comments():
    text = (
        '{\n  // servers\n  "servers": {\n    /* one */\n'
        '    "a": {"command": "x"},\n    "b": {"url": "https://b"},\n  },\n}'
    )
    scan = scan_config_text("mcp.jsonc", text)
    assert [(s.name, s.line) for s in scan.servers] == [("a", 5), ("b", 6)]


def test_file_without_a_known_extension_is_read_by_its_content():
    assert scan_config_text("upload", '{"mcpServers": {"s": {"command": "x"}}}').servers[0].name == "s"
    assert scan_config_text("upload", '[mcp_servers.s]\ncommand = "x"\n').client == "codex"
    assert scan_config_text("upload", "mcpServers:\n  - name: s\n    command: x\n").client == "continue"


# --- which client, which scope --------------------------------------------------------------------

MCP_SERVERS = '{"mcpServers": {"s": {"command": "x"}}}'
SERVERS = '{"servers": {"s": {"command": "x"}}}'


@pytest.mark.parametrize(
    ("name", "text", "client", "scope"),
    [
        ("/home/ana/.cursor/mcp.json", MCP_SERVERS, "cursor", "user"),
        ("/work/shop/.cursor/mcp.json", MCP_SERVERS, "cursor", "project"),
        ("C:\\Users\\ana\\.codeium\\windsurf\\mcp_config.json", MCP_SERVERS, "windsurf", "user"),
        ("/home/ana/.gemini/antigravity/mcp_config.json", MCP_SERVERS, "antigravity", "user"),
        ("/home/ana/.gemini/settings.json", MCP_SERVERS, "gemini_cli", "user"),
        ("/work/shop/.vscode/mcp.json", SERVERS, "vscode", "workspace"),
        ("/home/ana/.config/Code/User/mcp.json", SERVERS, "vscode", "user"),
        (
            "/home/ana/.config/Code/User/settings.json",
            '{"mcp": {"servers": {"s": {"command": "x"}}}}',
            "vscode",
            "user",
        ),
        (
            "/home/ana/.config/zed/settings.json",
            '{"context_servers": {"s": {"command": "x"}}}',
            "zed",
            "user",
        ),
        ("/work/shop/.zed/settings.json", '{"context_servers": {"s": {"command": "x"}}}', "zed", "project"),
        ("/etc/claude-code/managed-mcp.json", MCP_SERVERS, "claude_code", "managed"),
        ("/work/shop/.mcp.json", MCP_SERVERS, "claude_code", "project"),
        ("/home/ana/.codex/config.toml", '[mcp_servers.s]\ncommand = "x"\n', "codex", "user"),
        ("/x/saoudrizwan.claude-dev/settings/cline_mcp_settings.json", MCP_SERVERS, "cline", "user"),
        ("/x/rooveterinaryinc.roo-cline/settings/mcp_settings.json", MCP_SERVERS, "roo", "user"),
        ("/x/kilocode.kilo-code/settings/mcp_settings.json", MCP_SERVERS, "kilo", "user"),
        ("/work/shop/.roo/mcp.json", MCP_SERVERS, "roo", "project"),
        ("/home/ana/.copilot/mcp-config.json", MCP_SERVERS, "copilot", "user"),
        ("my-windsurf-servers.json", MCP_SERVERS, "windsurf", "user"),
        ("exported.json", MCP_SERVERS, "generic", "project"),
        # A path that names a client whose shape the file does not have falls back to the shape.
        ("/work/shop/.vscode/mcp.json", MCP_SERVERS, "generic", "project"),
        ("servers.yaml", "mcpServers:\n  - name: s\n    command: x\n", "continue", "project"),
    ],
)
def test_client_and_scope_come_from_path_then_name_then_shape(name, text, client, scope):
    scan = scan_config_text(name, text)
    assert (scan.client, scan.servers[0].scope) == (client, scope)


# --- finding files ------------------------------------------------------------------------------


def test_directory_scan_takes_every_data_file_and_skips_dependencies_and_lock_files(tmp_path):
    for relative in (
        "shop/.cursor/mcp.json",
        "shop/.codex/config.toml",
        "shop/notes/settings.yml",
        "shop/exported.jsonc",
        "shop/README.md",
        "shop/node_modules/pkg/mcp.json",
        "shop/.git/config.json",
        "shop/package-lock.json",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("{}")
    files, messages = find_config_files([str(tmp_path)])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "shop/.codex/config.toml",
        "shop/.cursor/mcp.json",
        "shop/exported.jsonc",
        "shop/notes/settings.yml",
    ]
    assert messages == []


def test_a_named_file_is_taken_whatever_its_name_and_a_missing_path_is_reported(tmp_path):
    named = tmp_path / "servers.conf"
    named.write_text(MCP_SERVERS)
    files, messages = find_config_files([str(named), str(named), str(tmp_path / "nope")])
    assert files == [named]
    assert messages == [f"{tmp_path / 'nope'}: no such file or directory"]
