"""Read MCP client configuration files into plain records: servers, packages, secrets and approvals.

Pure: it reads text and returns dataclasses; it never touches the database and keeps no secret
value, only its fingerprint. Bad input never raises: a file that cannot be read or is not an MCP
client configuration gets a one-sentence `problem` (show it as f"{scan.file}: {scan.problem}").

Conventions the importer relies on:

- `ConfigScan.client` is None exactly when the file is not an MCP client configuration (or cannot
  be read); a recognised file whose structure is broken has a client, a problem and no servers.
- A problem means no servers at all (a file is taken whole or not at all); a field of the wrong
  type inside a server is ignored with a line in `notes`, and the server is kept.
- `auto_approved_tools` holds tool names, or the markers ALL_TOOLS ("*": every tool runs without a
  human) and READ_ONLY_TOOLS ("*readonly": tools the server annotates read-only run without one).
- `is_pinned` is True only for an exact release or an image digest. A Docker tag is mutable, so
  only a digest is immutable; a tag naming an exact release (1.2.3, v1.2.3, 1.2.3-alpine) counts as
  pinned, while latest, other words, 1, 1.2, no tag and every range (^, ~, >=, *) do not.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from app.inventory.validate import fingerprint, type_name

try:
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - libyaml is optional
    from yaml import SafeLoader as _YamlLoader

CLIENTS = (
    "claude_desktop",
    "claude_code",
    "cursor",
    "windsurf",
    "antigravity",
    "gemini_cli",
    "vscode",
    "cline",
    "roo",
    "kilo",
    "kiro",
    "zed",
    "continue",
    "codex",
    "copilot",
    "generic",
)
ALL_TOOLS = "*"
READ_ONLY_TOOLS = "*readonly"
# What a literal secret inside an argument or url is replaced with; its ConfigSecret keeps the fingerprint.
REDACTED = "<redacted>"
ROOT_KEYS = ("mcpServers", "servers", "mcp.servers", "context_servers", "mcp_servers")
_KEYS = ", ".join(ROOT_KEYS)
NOT_A_CONFIG = f"not an MCP client configuration: it has none of the keys {_KEYS}"
CONFIG_SUFFIXES = (".json", ".jsonc", ".toml", ".yaml", ".yml")
# Directories that never hold a client configuration but can hold thousands of data files.
SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".nox", "site-packages"}
    | {".mypy_cache", ".pytest_cache", ".ruff_cache"}
)
# Lock files are large data files that are never a client configuration.
SKIPPED_FILES = frozenset({"package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "bun.lock"})


@dataclass(frozen=True)
class ConfigSecret:
    """A literal secret in a server's settings, known only by where it sits and its fingerprint."""

    location: str  # env.NAME, headers.NAME, args[4], url, oauth.clientSecret, bearer_token, ...
    key: str  # the variable, header or option name; the location for a connection string or url
    kind: str  # static_token, api_key, client_secret or password
    fingerprint: str  # of the credential itself (without "Bearer "; a connection string's password)
    line: int | None


@dataclass(frozen=True)
class DiscoveredServer:
    """One MCP server entry of a client configuration, normalised across clients."""

    name: str
    client: str  # one of CLIENTS
    scope: str  # user, project, local (Claude Code projects[path]), workspace (VS Code) or managed
    file: str
    line: int | None
    transport: str  # stdio, sse or http; a stdio bridge to a remote server counts as the remote's
    command: str | None
    args: tuple[str, ...]  # literal secrets in them replaced by REDACTED
    url: str | None  # the effective remote endpoint: the url field, or what a bridge connects to
    bridge: str | None  # the local command bridging to url: mcp-remote, supergateway, mcp-proxy
    package: str | None  # npm or PyPI package, or container image, that the command fetches
    version: str | None  # 1.2.3, latest, ^1.2, an image tag or sha256: digest; None when none is given
    is_pinned: bool
    auth: str  # none (stdio), static_token, oauth2, or unknown: a remote with no auth in the file
    is_enabled: bool
    secrets: tuple[ConfigSecret, ...]  # literal secrets only
    secret_references: tuple[str, ...]  # locations of secrets held elsewhere (${VAR}, ${input:id}, ...)
    auto_approved_tools: tuple[str, ...]
    include_tools: tuple[str, ...]
    exclude_tools: tuple[str, ...]
    env_file: str | None  # a file the client loads environment variables from, opaque to the scan
    # The project path of a Claude Code local-scope server (~/.claude.json projects[path]).
    project: str | None = None


@dataclass
class ConfigScan:
    """What one file holds: its client and servers, or the problem that kept it from being read."""

    file: str
    client: str | None
    servers: list[DiscoveredServer]
    problem: str | None
    notes: list[str] = field(default_factory=list)


class _Unusable(Exception):
    """The file cannot be used; the message says why in one sentence."""


def find_config_files(paths: list[str]) -> tuple[list[Path], list[str]]:
    """The files named, and every JSON, JSONC, TOML and YAML file under the directories named, sorted."""
    # Every data file, not only well-known names: exported or copied configurations keep their
    # content but rarely their name, and scanning says which files are configurations.
    found: set[Path] = set()
    messages: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            for directory, subdirectories, files in os.walk(path):
                subdirectories[:] = [d for d in subdirectories if d not in SKIPPED_DIRECTORIES]
                found.update(
                    Path(directory, f)
                    for f in files
                    if f.lower().endswith(CONFIG_SUFFIXES) and f not in SKIPPED_FILES
                )
        elif path.exists():
            messages.append(f"{raw}: not a regular file or directory")
        else:
            messages.append(f"{raw}: no such file or directory")
    return sorted(found), messages


def scan_config_file(path: Path, *, max_bytes: int = 50 * 1024 * 1024) -> ConfigScan:
    """Scan one file for MCP servers; a file that cannot be read gets a problem, never an exception."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return ConfigScan(
                name, None, [], f"the file is {size:,} bytes, over the limit of {max_bytes:,} bytes"
            )
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        return ConfigScan(name, None, [], f"the file cannot be read: {error.strerror or error}")
    if len(data) > max_bytes:
        return ConfigScan(name, None, [], f"the file is over the limit of {max_bytes:,} bytes")
    try:
        text = _decode(data)
    except _Unusable as problem:
        return ConfigScan(name, None, [], str(problem))
    return scan_config_text(name, text)


def scan_config_text(name: str, text: str) -> ConfigScan:
    """Scan configuration text; name is the file name (or path) used to tell the client and in messages."""
    client = None
    notes: list[str] = []
    try:
        source, data = _load(name, text)
        if not isinstance(data, dict):
            raise _Unusable(f"{NOT_A_CONFIG}; its top level is {type_name(data)}, expected a mapping")
        tables, families = _tables(data)
        if not families:
            raise _Unusable(NOT_A_CONFIG)
        client, hinted_scope = _detect_client(name, families)
        if not tables:
            notes.append("the mcp block configures no servers")
        servers = []
        locate = _Locator(source)
        has_projects = any(t.project is not None for t in tables)
        for table in tables:
            scope = table.scope or hinted_scope or _default_scope(client, table.label, has_projects)
            context = _Context(name, client, scope, table.project, locate, notes)
            servers += _read_table(table, context)
    except _Unusable as problem:
        return ConfigScan(name, client, [], str(problem), notes)
    return ConfigScan(name, client, servers, None, notes)


# --- reading text -------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """The text of a file, or why it is not a text file."""
    # Windows tools (PowerShell's Out-File) write UTF-16 with a byte-order mark.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise _Unusable(f"the file is not valid UTF-16 text: {error.reason}") from None
    if b"\x00" in data:
        raise _Unusable("the file is binary (it contains NUL bytes), expected a JSON, TOML or YAML text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _Unusable(
            f"the file is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}), "
            "expected a JSON, TOML or YAML text file"
        ) from None


def _format_of(name: str, text: str) -> str:
    """json, toml or yaml: by the file's extension, else by what its text looks like."""
    lower = name.lower()
    if lower.endswith((".json", ".jsonc")):
        return "json"
    if lower.endswith(".toml"):
        return "toml"
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    stripped = text.lstrip()
    if stripped.startswith(("{", "//", "/*")) or (
        stripped.startswith("[") and not _TOML_TABLE.match(stripped)
    ):
        return "json"
    return "toml" if _TOML_TABLE.search(text) else "yaml"


_TOML_TABLE = re.compile(r"^\s*\[\s*[\w\"'.-]+\s*\]\s*$", re.MULTILINE)


def _load(name: str, text: str) -> tuple[_Source, object]:
    """The text to search for lines, and the parsed data, of configuration text."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise _Unusable(f"the file is empty, expected an MCP client configuration with one of {_KEYS}")
    fmt = _format_of(name, text)
    try:
        if fmt == "json":
            return _load_json(text)
        if fmt == "toml":
            return _Source(text, fmt), tomllib.loads(text)
        return _Source(text, fmt), yaml.load(text, Loader=_YamlLoader)
    except json.JSONDecodeError as error:
        raise _Unusable(f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except tomllib.TOMLDecodeError as error:
        raise _Unusable(f"invalid TOML: {error}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}" if mark else ""
        what = " ".join(filter(None, (error.context, error.problem))) or "syntax error"
        raise _Unusable(f"invalid YAML{where}: {what}") from None
    except yaml.YAMLError as error:
        raise _Unusable(f"invalid YAML: {error}") from None
    except RecursionError:
        raise _Unusable(f"invalid {fmt.upper()}: nested too deeply") from None
    except ValueError as error:
        raise _Unusable(f"invalid {fmt.upper()}: {error}") from None


def _load_json(text: str) -> tuple[_Source, object]:
    """Parse JSON, or JSONC (comments, trailing commas) when plain JSON fails."""
    # Plain JSON first: large files (~/.claude.json) are plain, and stripping comments costs time.
    try:
        return _Source(text, "json"), json.loads(text)
    except json.JSONDecodeError:
        plain = strip_jsonc(text)
        return _Source(plain, "json"), json.loads(plain)


# A JSON string (kept whole, so that // in a URL stays), a comment, or a trailing comma: one that
# only whitespace and comments separate from the closing bracket.
_JSONC_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"?'
    r"|//[^\n]*"
    r"|/\*[\s\S]*?(?:\*/|$)"
    r"|,(?=(?:\s|//[^\n]*|/\*[\s\S]*?\*/)*[}\]])"
)


def strip_jsonc(text: str) -> str:
    """JSON with comments (// and /* */) and trailing commas made plain JSON, keeping every line in place."""

    def blank(match: re.Match) -> str:
        token = match.group()
        # Blank rather than drop, keeping line breaks, so JSON errors and located lines still point right.
        return token if token.startswith('"') else re.sub(r"[^\n]", " ", token)

    return _JSONC_TOKEN.sub(blank, text)


@dataclass(frozen=True)
class _Source:
    """Parsed text as searched for lines: JSON without its comments, with every offset in place."""

    text: str
    fmt: str


class _Locator:
    """Finds, best effort, the line of a key or value by searching the source text forward from an offset."""

    def __init__(self, source: _Source):
        self.text = source.text
        self.fmt = source.fmt

    def key(self, key: str, start: int | None) -> int | None:
        """The offset just past the first occurrence of key (as a key) at or after start."""
        if start is None:
            return None
        word = re.escape(key)
        if self.fmt == "json":
            pattern = '"' + re.escape(json.dumps(key, ensure_ascii=False)[1:-1]) + r'"\s*:'
        elif self.fmt == "toml":
            pattern = rf"(?<![^\s{{,.\[])[\"']?{word}[\"']?\s*(?:=|\]|\.)"
        else:
            pattern = rf"(?<![^\s{{,?-])[\"']?{word}[\"']?\s*:(?=\s|$)"
        match = re.compile(pattern, re.MULTILINE).search(self.text, start)
        return match.end() if match else None

    def path(self, keys: tuple[str, ...], start: int | None) -> int | None:
        """The offset past the last of keys, each searched after the one before."""
        for key in keys:
            start = self.key(key, start)
        return start

    def named(self, name: str, start: int | None) -> int | None:
        """The offset past `name: NAME` (an entry of a Continue list) at or after start."""
        if start is None:
            return None
        value = re.escape(name)
        match = re.compile(rf"[\"']?name[\"']?\s*:\s*[\"']?{value}[\"']?\s*[,}}]?\s*$", re.MULTILINE).search(
            self.text, start
        )
        return match.end() if match else None

    def value(self, value: str, start: int | None) -> int | None:
        """The offset of a string value at or after start."""
        if start is None:
            return None
        for needle in (json.dumps(value, ensure_ascii=False), value):
            found = self.text.find(needle, start)
            if found >= 0:
                return found
        return None

    def line(self, offset: int | None) -> int | None:
        """The 1-based line of an offset."""
        return None if offset is None else self.text.count("\n", 0, offset) + 1


# --- tables of servers and the client -----------------------------------------------------------


@dataclass
class _Table:
    """One collection of server entries in a file, with where to find it and what scope it implies."""

    label: str
    entries: object
    key_path: tuple[str, ...]
    scope: str | None = None
    project: str | None = None


_MCP_SERVERS_CLIENTS = frozenset(
    {"claude_desktop", "claude_code", "cursor", "windsurf", "antigravity", "gemini_cli", "cline", "roo"}
    | {"kilo", "kiro", "copilot", "continue", "generic"}
)


def _tables(data: dict) -> tuple[list[_Table], list[frozenset[str]]]:
    """The server tables of a parsed file, and for each root key found the clients that use that shape."""
    tables: list[_Table] = []
    families: list[frozenset[str]] = []
    if "mcpServers" in data:
        entries = data["mcpServers"]
        tables.append(_Table("mcpServers", entries, ("mcpServers",)))
        families.append(frozenset({"continue"}) if isinstance(entries, list) else _MCP_SERVERS_CLIENTS)
    for key, clients in (("servers", {"vscode"}), ("context_servers", {"zed"}), ("mcp_servers", {"codex"})):
        # `servers` is a common word: only a mapping of servers makes a file a VS Code configuration.
        if key in data and (key != "servers" or isinstance(data[key], dict)):
            tables.append(_Table(key, data[key], (key,)))
            families.append(frozenset(clients))
    mcp = data.get("mcp")
    if isinstance(mcp, dict):
        if "servers" in mcp:
            tables.append(_Table("mcp.servers", mcp["servers"], ("mcp", "servers")))
            families.append(frozenset({"vscode"}))
        elif not families:
            # VS Code and Gemini CLI settings both have an `mcp` block, which may list no servers.
            families.append(frozenset({"vscode", "gemini_cli"}))
    projects = data.get("projects")
    if isinstance(projects, dict):
        for path, project in projects.items():
            if isinstance(project, dict) and "mcpServers" in project:
                label = f"projects[{path}].mcpServers"
                key_path = ("projects", str(path), "mcpServers")
                tables.append(_Table(label, project["mcpServers"], key_path, "local", str(path)))
                families.append(frozenset({"claude_code"}))
    return tables, families


# (pattern on the lower-cased path with forward slashes, client, scope, scope when the client's
# directory sits directly in a home directory). The first match whose client fits the file's shape wins.
_PATH_HINTS = tuple(
    (re.compile(pattern), client, scope, home_scope)
    for pattern, client, scope, home_scope in (
        (r"/claude_desktop_config\.json$", "claude_desktop", "user", None),
        (r"/managed-mcp\.json$", "claude_code", "managed", None),
        (r"/\.claude\.json$", "claude_code", "user", None),
        (r"(?P<base>.*)/\.cursor/mcp\.json$", "cursor", "project", "user"),
        (r"/\.codeium/windsurf[^/]*/mcp_config\.json$", "windsurf", "user", None),
        (r"/antigravity/mcp_config\.json$", "antigravity", "user", None),
        (r"/mcp_config\.json$", "windsurf", "user", None),
        (r"/gemini-cli/settings\.json$", "gemini_cli", "managed", None),
        (r"(?P<base>.*)/\.gemini/settings\.json$", "gemini_cli", "project", "user"),
        (r"(?P<base>.*)/\.vscode/mcp\.json$", "vscode", "workspace", "user"),
        (r"/\.vscode/settings\.json$", "vscode", "workspace", None),
        (r"/(code|code - insiders|vscodium)/user/(.*/)?(settings|mcp)\.json$", "vscode", "user", None),
        (r"/cline_mcp_settings\.json$", "cline", "user", None),
        (r"/\.roo/mcp\.json$", "roo", "project", None),
        (r"/\.kilocode/mcp\.json$", "kilo", "project", None),
        (r"kilo[^/]*/(.*/)?mcp_settings\.json$", "kilo", "user", None),
        (r"/mcp_settings\.json$", "roo", "user", None),
        (r"(?P<base>.*)/\.kiro/settings/mcp\.json$", "kiro", "project", "user"),
        (r"(?P<base>.*)/\.zed/settings\.json$", "zed", "project", "user"),
        (r"/zed/settings\.json$", "zed", "user", None),
        (r"(?P<base>.*)/\.continue/(config\.ya?ml|mcpservers/[^/]+)$", "continue", "project", "user"),
        (r"(?P<base>.*)/\.codex/config\.toml$", "codex", "project", "user"),
        (r"/\.copilot/mcp-config\.json$", "copilot", "user", None),
        (r"/mcp-config\.json$", "copilot", "user", None),
        (r"/\.mcp\.json$", "claude_code", "project", None),
    )
)
# Words of a file name that name a client ("cursor-mcp.json", "07_cursor__repo__mcp.json").
_NAME_HINTS = (
    (("claude", "desktop"), "claude_desktop"),
    (("claude", "code"), "claude_code"),
    (("claudecode",), "claude_code"),
    (("vs", "code"), "vscode"),
    (("vscode",), "vscode"),
    (("cursor",), "cursor"),
    (("windsurf",), "windsurf"),
    (("antigravity",), "antigravity"),
    (("gemini",), "gemini_cli"),
    (("cline",), "cline"),
    (("roo",), "roo"),
    (("kilo",), "kilo"),
    (("kilocode",), "kilo"),
    (("kiro",), "kiro"),
    (("zed",), "zed"),
    (("continue",), "continue"),
    (("codex",), "codex"),
    (("copilot",), "copilot"),
)
# Scope of a client's file when its path does not say: its project file where it has one.
_DEFAULT_SCOPES = {
    "claude_desktop": "user",
    "claude_code": "project",
    "cursor": "project",
    "windsurf": "user",
    "antigravity": "user",
    "gemini_cli": "project",
    "vscode": "workspace",
    "cline": "user",
    "roo": "project",
    "kilo": "project",
    "kiro": "project",
    "zed": "user",
    "continue": "project",
    "codex": "project",
    "copilot": "user",
    "generic": "project",
}
_HOME = re.compile(r"/(home/[^/]+|users/[^/]+|root|[a-z]:/users/[^/]+|~)")


def _normalised(path: str) -> str:
    text = path.replace("\\", "/").lower()
    return text if text.startswith("/") else "/" + text


def _detect_client(name: str, families: list[frozenset[str]]) -> tuple[str, str | None]:
    """The client whose file this is (by path, then file name, then shape) and the scope its path implies."""
    fits = frozenset.intersection(*families)
    path = _normalised(name)
    for pattern, client, scope, home_scope in _PATH_HINTS:
        match = pattern.search(path)
        if match and client in fits:
            base = match.groupdict().get("base")
            at_home = base is not None and (_HOME.fullmatch(base) or base == _normalised(str(Path.home())))
            return client, home_scope if at_home else scope
    words = re.findall(r"[a-z0-9]+", path.rsplit("/", 1)[-1])
    for hint, client in _NAME_HINTS:
        size = len(hint)
        if client in fits and any(tuple(words[i : i + size]) == hint for i in range(len(words))):
            return client, None
    return (next(iter(fits)) if len(fits) == 1 else "generic"), None


def _default_scope(client: str, label: str, has_projects: bool) -> str:
    if client == "claude_code" and has_projects:
        return "user"  # the top level of ~/.claude.json, beside its projects
    if label == "mcp.servers":
        return "user"  # VS Code user settings.json
    return _DEFAULT_SCOPES[client]


# --- servers ------------------------------------------------------------------------------------


@dataclass
class _Context:
    """What every server of a table shares: file, client, scope, the text locator and the notes."""

    file: str
    client: str
    scope: str
    project: str | None
    locate: _Locator
    notes: list[str]


def _read_table(table: _Table, context: _Context) -> list[DiscoveredServer]:
    """The servers of one table; an entry that is not a mapping makes the whole file unusable."""
    entries, locate = table.entries, context.locate
    start = locate.path(table.key_path, 0)
    if entries is None:
        return []
    if isinstance(entries, list) and table.label == "mcpServers":
        named = [(entry.get("name") if isinstance(entry, dict) else None, entry) for entry in entries]
        for i, (name, entry) in enumerate(named):
            if not isinstance(entry, dict):
                raise _Unusable(
                    f"entry {i + 1} of mcpServers is {type_name(entry)}, expected a mapping with a name"
                )
            if not isinstance(name, str) or not name.strip():
                raise _Unusable(f"entry {i + 1} of mcpServers has no name, expected a name for every server")
    elif isinstance(entries, dict):
        named = [(str(name), entry) for name, entry in entries.items()]
        for name, entry in named:
            if not isinstance(entry, dict):
                line = locate.line(locate.key(name, start))
                raise _Unusable(
                    f"server {name!r} in {table.label}{f' (line {line})' if line else ''} is "
                    f"{type_name(entry)}, expected a mapping with its command or url"
                )
    else:
        line = locate.line(start)
        raise _Unusable(
            f"{table.label}{f' (line {line})' if line else ''} is {type_name(entries)}, "
            "expected a mapping of server names to their settings"
        )
    servers = []
    for name, entry in named:
        offset = locate.named(name, start) if isinstance(entries, list) else locate.key(name, start)
        server = _ServerReader(name, entry, context, offset).read()
        if server is not None:
            servers.append(server)
        if offset is not None:
            start = offset
    return servers


_TRANSPORT_NAMES = {
    "stdio": "stdio",
    "local": "stdio",
    "sse": "sse",
    "http": "http",
    "https": "http",
    "streamable-http": "http",
    "streamablehttp": "http",
}
# Codex default_tools_approval_mode (codex-rs mcp_tool_call.rs): "prompt" always asks, "approve"
# never asks, "writes" asks unless the tool is annotated readOnlyHint, and "auto" (the default) also
# lets tools annotated both non-destructive and closed-world through; both are recorded as read-only.
_CODEX_APPROVALS = {
    "auto": (READ_ONLY_TOOLS,),
    "writes": (READ_ONLY_TOOLS,),
    "approve": (ALL_TOOLS,),
    "prompt": (),
}
_GOOGLE_AUTH_PROVIDERS = {"google_credentials", "service_account_impersonation"}


class _ServerReader:
    """Turns one server entry into a DiscoveredServer, collecting secrets, references and notes."""

    def __init__(self, name: str, raw: dict, context: _Context, offset: int | None):
        self.name = name
        self.raw = raw
        self.context = context
        self.offset = offset
        self.secrets: list[ConfigSecret] = []
        self.references: list[str] = []
        self.has_auth_header = False
        # The literal values found, kept only while reading, to redact them from args and url.
        self.materials: list[str] = []

    def note(self, message: str) -> None:
        self.context.notes.append(f"server {self.name!r}: {message}")

    # Typed access: a value of the wrong type is noted and treated as absent.

    def text(self, block: dict, key: str, label: str = "") -> str | None:
        value = block.get(key)
        if isinstance(value, str):
            return value.strip() or None
        if value is not None:
            self.note(f"{label}{key} is {type_name(value)}, expected a string; ignored")
        return None

    def flag(self, key: str) -> bool | None:
        value = self.raw.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.note(f"{key} is {type_name(value)}, expected true or false; ignored")
        return None

    def strings(self, block: dict, key: str, label: str = "") -> list[str] | None:
        value = block.get(key)
        if value is None:
            return None
        if isinstance(value, list) and all(_scalar(item) is not None for item in value):
            return [_scalar(item) for item in value]
        self.note(f"{label}{key} is {type_name(value)}, expected a list of strings; ignored")
        return None

    def mapping(self, block: dict, key: str, label: str = "") -> dict:
        value = block.get(key)
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.note(f"{label}{key} is {type_name(value)}, expected a mapping; ignored")
        return {}

    def line(self, keys: tuple[str, ...]) -> int | None:
        return self.context.locate.line(self.context.locate.path(keys, self.offset))

    def read(self) -> DiscoveredServer | None:
        """The server, or None (with a note) when it names neither a command nor a url."""
        raw, client = self.raw, self.context.client
        # Zed's older shape nests the command: {"command": {"path", "args", "env"}}.
        block, prefix = (raw["command"], "command.") if isinstance(raw.get("command"), dict) else (raw, "")
        command, args = self.command_line(block, prefix)
        launch = _launch(command, args) if command else _Launch()

        declared = self.declared_transport()
        http_url = self.text(raw, "httpUrl")
        url = http_url or self.text(raw, "url") or self.text(raw, "serverUrl")
        if declared:
            transport = declared
        elif command:
            transport = "stdio"
        elif url and client == "gemini_cli" and not http_url:
            transport = "sse"  # Gemini CLI: url is SSE, httpUrl is Streamable HTTP
        elif url:
            transport = "http"
        elif client == "zed" and raw.get("source") == "extension":
            transport = "stdio"  # the extension supplies the command
        else:
            self.note("it names neither a command nor a url; not inventoried")
            return None
        if transport == "stdio" and not command and raw.get("source") != "extension":
            self.note("its transport is stdio but it has no command; not inventoried")
            return None
        if transport != "stdio" and not url:
            self.note(f"its transport is {transport} but it has no url; not inventoried")
            return None
        if transport == "stdio" and launch.bridge:
            transport, url = launch.transport, launch.url
        elif transport == "stdio":
            url = None
        else:
            command, args, launch = None, [], _Launch()

        for key, value in self.mapping(block, "env", prefix).items():
            keys = ("command", "env", str(key)) if prefix else ("env", str(key))
            self.check_value(f"{prefix}env.{key}", str(key), value, keys)
        if prefix:
            for key, value in self.mapping(raw, "env").items():
                self.check_value(f"env.{key}", str(key), value, ("env", str(key)))
        self.check_headers()
        args = self.check_args(args)
        if url and not launch.bridge:
            self.check_embedded("url", "url", url, self.line(("url",)))
        # A bridged url is one of the arguments, so what was redacted there is redacted here too.
        url = _redacted(url, self.materials) if url else url
        is_oauth = self.check_oauth()
        has_bearer = self.check_codex_bearer()

        if is_oauth:
            auth = "oauth2"
        elif self.has_auth_header or has_bearer:
            auth = "static_token"
        elif transport == "stdio":
            auth = "none"
        else:
            auth = "unknown"
        env_file = self.text(raw, "envFile") or launch.env_file
        return DiscoveredServer(
            name=self.name,
            client=client,
            scope=self.context.scope,
            file=self.context.file,
            line=self.context.locate.line(self.offset),
            transport=transport,
            command=command,
            args=tuple(args),
            url=url,
            bridge=launch.bridge,
            package=launch.package,
            version=launch.version,
            is_pinned=launch.is_pinned,
            auth=auth,
            is_enabled=self.flag("disabled") is not True and self.flag("enabled") is not False,
            secrets=tuple(self.secrets),
            secret_references=tuple(dict.fromkeys(self.references)),
            auto_approved_tools=self.auto_approved(),
            include_tools=self.tool_filter(("includeTools", "enabled_tools", "tools")),
            exclude_tools=self.tool_filter(("excludeTools", "disabledTools", "disabled_tools")),
            env_file=env_file,
            project=self.context.project,
        )

    def command_line(self, block: dict, prefix: str) -> tuple[str | None, list[str]]:
        """The command and its arguments, split from the command when it is a whole command line."""
        command = self.text(block, "path" if prefix else "command")
        args = self.strings(block, "args", prefix) or []
        if command and not args and re.search(r"\s", command) and not _ONE_PATH.match(command):
            words = _split_command(command)
            if words is None:
                self.note("command has unbalanced quotes; kept as one word")
            else:
                return words[0], words[1:]
        return command, args

    def declared_transport(self) -> str | None:
        for key in ("type", "transport", "transportType"):
            value = self.raw.get(key)
            if isinstance(value, str) and value.strip():
                known = _TRANSPORT_NAMES.get(value.strip().lower().replace("_", "-"))
                if known:
                    return known
                self.note(
                    f"{key} {value!r} is not one of stdio, sse, http, streamable-http; inferred instead"
                )
                return None
        return None

    # --- secrets

    def add_secret(self, location: str, key: str, kind: str, material: str, line: int | None) -> None:
        self.secrets.append(ConfigSecret(location, key, kind, fingerprint(material), line))
        self.materials.append(material)

    def check_value(self, location: str, key: str, value: object, keys: tuple[str, ...]) -> None:
        """An env-like value: a connection string with a password, or a literal in a secret-named key."""
        text = _scalar(value)
        if text is None or not text.strip():
            return
        if self.check_embedded(location, key, text, self.line(keys)):
            return
        if is_secret_name(key):
            self.check_named(location, key, text, secret_kind(key), self.line(keys))

    def check_named(self, location: str, key: str, value: str, kind: str, line: int | None) -> None:
        """A value in a secret-named place: a reference (good), a file path, or a literal secret."""
        material = _without_scheme(value)
        if not material or material.lower() in _NOT_SECRETS:
            return
        if is_reference(material) or _FILE_PATH.match(material):
            self.references.append(location)
        else:
            self.add_secret(location, key, kind, material, line)

    def check_embedded(self, location: str, key: str, value: str, line: int | None) -> bool:
        """Whether value embeds a credential (URL password, Password= pair, secret query parameter)."""
        found = _embedded_credential(value)
        if found is None:
            return False
        kind, material = found
        if is_reference(material):
            self.references.append(location)
        else:
            self.add_secret(location, key, kind, material, line)
        return True

    def check_header(self, location: str, name: str, value: object, line: int | None) -> None:
        text = _scalar(value)
        if text is None or not text.strip():
            return
        is_authorization = name.strip().lower() in ("authorization", "proxy-authorization")
        if not is_authorization and not is_secret_name(name):
            return
        self.has_auth_header = True
        if is_authorization:
            kind = "password" if text.strip().lower().startswith("basic ") else "static_token"
        else:
            kind = secret_kind(name)
        self.check_named(location, name, text, kind, line)

    def check_headers(self) -> None:
        raw = self.raw
        request_options = self.mapping(raw, "requestOptions")
        for label, block in (
            ("headers", self.mapping(raw, "headers")),
            ("http_headers", self.mapping(raw, "http_headers")),
            ("requestOptions.headers", self.mapping(request_options, "headers", "requestOptions.")),
        ):
            for name, value in block.items():
                keys = (*label.split("."), str(name))
                self.check_header(f"{label}.{name}", str(name), value, self.line(keys))
        # Codex env_http_headers maps a header to the environment variable that holds its value.
        for name, variable in self.mapping(raw, "env_http_headers").items():
            if is_secret_name(str(name)) or str(name).lower() == "authorization":
                self.has_auth_header = True
                if _scalar(variable):
                    self.references.append(f"env_http_headers.{name}")
        if raw.get("headersHelper"):
            self.has_auth_header = True  # a command prints the headers at connect time
            self.references.append("headersHelper")

    def check_args(self, args: list[str]) -> list[str]:
        """The arguments with their literal secrets redacted, each noted as a ConfigSecret."""
        redacted = []
        for i, arg in enumerate(args):
            found = len(self.materials)
            self.check_arg(i, arg, args[i - 1] if i else "")
            redacted.append(_redacted(arg, self.materials[found:]))
        return redacted

    def check_arg(self, i: int, arg: str, previous: str) -> None:
        """One argument, read with the one before it (--api-key VALUE, -e NAME=VALUE, --header NAME:VALUE)."""
        locate = self.context.locate
        location = f"args[{i}]"  # of the recorded args, which a split command line becomes
        line = locate.line(locate.value(arg, self.offset))
        if previous in ("--header", "-H", "--headers") and ":" in arg:
            name, _, value = arg.partition(":")
            self.check_header(location, name.strip(), value.strip(), line)
        elif arg.startswith("--header=") and ":" in arg:
            name, _, value = arg.removeprefix("--header=").partition(":")
            self.check_header(location, name.strip(), value.strip(), line)
        elif _is_secret_option(arg.partition("=")[0]) and "=" in arg:
            option, _, value = arg.partition("=")
            self.check_named(location, option, value, secret_kind(option), line)
        elif _is_secret_option(previous) and "=" not in previous and not arg.startswith("-"):
            self.check_named(location, previous, arg, secret_kind(previous), line)
        elif previous in ("-e", "--env") and "=" in arg:
            name, _, value = arg.partition("=")
            if not self.check_embedded(location, name, value, line) and value and is_secret_name(name):
                self.check_named(location, name, value, secret_kind(name), line)
        else:
            self.check_embedded(location, location, arg, line)

    def check_oauth(self) -> bool:
        """Whether an OAuth client is configured (oauth/auth blocks, Google auth providers, Codex scopes)."""
        is_oauth = False
        for key in ("oauth", "auth"):
            block = self.raw.get(key)
            if isinstance(block, dict) and block.get("enabled") is not False:
                is_oauth = True
                for name, value in block.items():
                    if is_secret_name(str(name)) and isinstance(value, str) and value.strip():
                        line = self.line((key, str(name)))
                        self.check_named(f"{key}.{name}", str(name), value, secret_kind(str(name)), line)
        if self.text(self.raw, "authProviderType") in _GOOGLE_AUTH_PROVIDERS:
            is_oauth = True
        if self.context.client == "codex" and (self.raw.get("scopes") or self.raw.get("oauth_resource")):
            is_oauth = True
        return is_oauth

    def check_codex_bearer(self) -> bool:
        """Codex bearer_token (a literal) or bearer_token_env_var (a reference)."""
        has_bearer = False
        token = self.text(self.raw, "bearer_token")
        if token:
            has_bearer = True
            self.check_named(
                "bearer_token", "bearer_token", token, "static_token", self.line(("bearer_token",))
            )
        if self.text(self.raw, "bearer_token_env_var"):
            has_bearer = True
            self.references.append("bearer_token_env_var")
        return has_bearer

    # --- approvals and tool filters

    def auto_approved(self) -> tuple[str, ...]:
        names: list[str] = []
        if self.flag("trust"):
            names.append(ALL_TOOLS)
        if self.context.client == "codex":
            mode = self.text(self.raw, "default_tools_approval_mode") or "auto"
            if mode.lower() in _CODEX_APPROVALS:
                names += _CODEX_APPROVALS[mode.lower()]
            else:
                self.note(
                    f"default_tools_approval_mode {mode!r} is not auto, prompt, writes or approve; ignored"
                )
            for tool, settings in self.mapping(self.raw, "tools").items():
                if isinstance(settings, dict) and settings.get("approval_mode") == "approve":
                    names.append(str(tool))
        for key in ("autoApprove", "alwaysAllow"):
            names += self.strings(self.raw, key) or []
        if ALL_TOOLS in names:
            return (ALL_TOOLS,)
        return tuple(dict.fromkeys(names))

    def tool_filter(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        names: list[str] = []
        for key in keys:
            # Codex keeps per-tool settings under `tools`, a table, not a list of names.
            if key == "tools" and not isinstance(self.raw.get(key), list):
                continue
            names += self.strings(self.raw, key) or []
        # Copilot CLI's tools: ["*"] exposes every tool: no filter.
        return () if names == [ALL_TOOLS] else tuple(dict.fromkeys(names))


def _scalar(value: object) -> str | None:
    """A string, or a number as text; None for anything else (booleans, null, lists, mappings)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


# --- secret names, references and embedded credentials ------------------------------------------

_SECRET_WORDS = frozenset(
    {"token", "key", "secret", "password", "passwd", "pwd", "pass", "passphrase", "credential"}
    | {"credentials", "auth", "authorization", "pat", "private", "apikey", "bearer", "cookie"}
)
_KEY_ENDINGS = ("apikey", "accesskey", "secretkey", "privatekey")
_SECRET_ENDINGS = ("token", "secret", "password", "passwd", *_KEY_ENDINGS)
# A last word that makes the name describe a secret rather than hold one: MAX_TOKENS is fine
# already, but TOKEN_URL, AUTH_TYPE, KEY_ID, API_KEY_FILE, SECRET_NAME hold no secret.
_QUALIFIERS = frozenset(
    {"url", "uri", "endpoint", "host", "hostname", "type", "mode", "enabled", "disabled", "enable"}
    | {"disable", "limit", "limits", "count", "max", "min", "size", "length", "len", "ttl", "timeout"}
    | {"expiry", "expires", "expiration", "file", "path", "dir", "directory", "name", "id", "provider"}
    | {"method", "scheme", "scope", "scopes", "issuer", "audience", "format", "version", "region", "port"}
    | {"required", "strategy", "level", "prefix", "env", "var", "location", "helper", "stdin"}
)
_NOT_SECRETS = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", "0", "1"})
_REFERENCE = re.compile(
    r"\$\{\{\s*[\w.-]+\s*\}\}"  # Continue: ${{ secrets.NAME }}, ${{ inputs.NAME }}
    r"|\$\{(?:env|input|config|command):[^}\s]+\}"  # VS Code, Cursor, Windsurf: ${env:NAME}, ${input:id}
    r"|\$\{[A-Za-z_]\w*(?::?[-=?+][^}]*)?\}"  # ${NAME}, ${NAME:-default}
    r"|\$[A-Za-z_]\w*"  # $NAME
)
# A secret-named key whose value is a path names the file that holds the secret (e.g.
# GOOGLE_APPLICATION_CREDENTIALS=/keys/sa.json); the suffix keeps base64 secrets with / out.
_FILE_PATH = re.compile(
    r"(?:(?:~|\.{1,2})?/|[A-Za-z]:[\\/])(?:[\w.@ -]+[\\/])*[\w.@ -]+"
    r"\.(?:json|pem|key|p12|pfx|crt|cer|der|txt|env|ya?ml|toml|ini|cfg|conf|gpg|asc)$"
)
_SCHEME = re.compile(r"(?i)^(?:bearer|basic|token|bot)\s+")
_URL_PASSWORD = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@?#]*:([^@\s/?#]+)@")
_PAIR_PASSWORD = re.compile(r"(?i)(?:^|;)\s*(?:password|pwd)\s*=\s*([^;]*)")
_QUERY_PARAMETER = re.compile(r"[?&]([\w.-]+)=([^&#\s]+)")


def _words(name: str) -> list[str]:
    """The lower-cased words of a name: GITHUB_PERSONAL_ACCESS_TOKEN, apiKey, X-API-Key."""
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]


def _is_secret_option(option: str) -> bool:
    """Whether a long command-line option takes a secret (--api-key, --token), not a switch (--no-auth)."""
    return option.startswith("--") and not option.startswith("--no-") and is_secret_name(option)


def is_secret_name(name: str) -> bool:
    """Whether a variable, header or option name says it holds a secret (token, key, password, ...)."""
    words = _words(name)
    if not words or words[-1] in _QUALIFIERS or "public" in words:
        return False
    return any(w in _SECRET_WORDS or w.endswith(_SECRET_ENDINGS) for w in words)


def secret_kind(name: str) -> str:
    """The credential kind a secret-named key holds: password, client_secret, api_key or static_token."""
    words = _words(name)
    if any(w in ("pass", "pwd", "passphrase") or w.endswith(("password", "passwd")) for w in words):
        return "password"
    if any(w.endswith("secret") for w in words):
        return "client_secret"
    if any(w in ("key", "private") or w.endswith(_KEY_ENDINGS) for w in words):
        return "api_key"
    return "static_token"


def is_reference(value: str) -> bool:
    """Whether a value is entirely references to a secret kept elsewhere (${VAR}, ${input:id}, $VAR, ...)."""
    material = _without_scheme(value)
    return bool(material) and not _REFERENCE.sub("", material).strip()


def _without_scheme(value: str) -> str:
    """A credential without its "Bearer " or "Basic " prefix."""
    return _SCHEME.sub("", value.strip(), count=1).strip()


def _embedded_credential(value: str) -> tuple[str, str] | None:
    """The kind and material of a credential inside a connection string or URL, if there is one."""
    match = _URL_PASSWORD.search(value) or _PAIR_PASSWORD.search(value)
    if match and match.group(1).strip():
        return "password", match.group(1).strip()
    if "://" in value:
        for name, material in _QUERY_PARAMETER.findall(value):
            if is_secret_name(name):
                return secret_kind(name), material
    return None


def _redacted(text: str, materials: list[str]) -> str:
    """Text with each literal secret in it replaced, so that args and urls can be kept."""
    for material in materials:
        text = text.replace(material, REDACTED)
    return text


def _split_command(command: str) -> list[str] | None:
    """A whole command line split into words (Windows paths keep their backslashes)."""
    try:
        if "\\" in command:
            return [w[1:-1] if w[:1] == w[-1:] == '"' else w for w in shlex.split(command, posix=False)]
        return shlex.split(command)
    except ValueError:
        return None


# A command that is one path with spaces, not a command line ("C:\Program Files\nodejs\node.exe").
_ONE_PATH = re.compile(r"(?i)^(?:[a-z]:[\\/]|/).*\.(?:exe|cmd|bat|sh|py|js|mjs)$")


# --- what a command line runs -------------------------------------------------------------------


@dataclass(frozen=True)
class _Launch:
    """What a stdio command runs: the package it fetches, and the remote server it may bridge to."""

    package: str | None = None
    version: str | None = None
    is_pinned: bool = False
    bridge: str | None = None
    url: str | None = None
    transport: str | None = None
    env_file: str | None = None


_SEMVER = re.compile(r"v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
_NPX_OPTIONS_WITH_VALUE = frozenset(
    {"-c", "--call", "--registry", "--cache", "--userconfig"}
    | {"--node-options", "--prefix", "-w", "--workspace"}
)
_UVX_OPTIONS_WITH_VALUE = frozenset(
    {"--with", "--with-editable", "--with-requirements", "-p", "--python", "--index", "--index-url"}
    | {"--extra-index-url", "--default-index", "--find-links", "-f", "--directory", "--project"}
    | {"--constraints", "-c", "--overrides", "--env-file", "--cache-dir", "--config-file", "--color"}
)
_PIPX_OPTIONS_WITH_VALUE = frozenset({"--python", "--pip-args", "--index-url", "-i", "--backend"})
_DOCKER_GLOBAL_OPTIONS_WITH_VALUE = frozenset(
    {"--context", "-c", "-H", "--host", "--config", "-l", "--log-level"}
    | {"--tlscacert", "--tlscert", "--tlskey"}
)
_DOCKER_FLAGS = frozenset(
    {"-i", "-t", "-d", "-P", "-q", "--rm", "--interactive", "--tty", "--detach", "--init", "--privileged"}
    | {"--read-only", "--publish-all", "--no-healthcheck", "--oom-kill-disable", "--sig-proxy"}
    | {"--disable-content-trust", "--quiet", "--help", "--use-api-socket"}
)
_BRIDGES = ("mcp-remote", "supergateway", "mcp-proxy")
# Package managers whose subcommand fetches and runs a package, like npx: pnpm dlx, npm exec, bun x.
_NPM_RUNNERS = {"pnpm": (["dlx"],), "yarn": (["dlx"],), "npm": (["exec"], ["x"]), "bun": (["x"],)}


def _program(command: str) -> str:
    """The bare program name of a command: /opt/homebrew/bin/npx and npx.cmd are both npx."""
    name = re.split(r"[\\/]", command)[-1].lower()
    return re.sub(r"\.(exe|cmd|bat|ps1)$", "", name)


def _launch(command: str, args: list[str]) -> _Launch:
    """The package, version and bridged remote of a stdio command line."""
    program = _program(command)
    if program == "cmd" and len(args) > 1 and args[0].lower() in ("/c", "/k"):
        return _launch(args[1], args[2:])
    if program in ("sh", "bash", "zsh") and len(args) > 1 and args[0] in ("-c", "-lc", "-ic"):
        words = _split_command(args[1])
        return _launch(words[0], words[1:]) if words else _Launch()
    if program in _BRIDGES:
        return _bridged(_Launch(), program, args)
    if program in ("npx", "bunx", "pnpx") or args[:1] in _NPM_RUNNERS.get(program, ()):
        spec, rest = _npm_package(args if program in ("npx", "bunx", "pnpx") else args[1:])
        launch = _npm_launch(spec) if spec else _Launch()
    elif program == "uvx" or (program == "uv" and args[:2] == ["tool", "run"]):
        spec, rest = _python_package(
            args if program == "uvx" else args[2:], "--from", _UVX_OPTIONS_WITH_VALUE
        )
        launch = _python_launch(spec) if spec else _Launch()
    elif program == "pipx" and args[:1] == ["run"]:
        spec, rest = _python_package(args[1:], "--spec", _PIPX_OPTIONS_WITH_VALUE)
        launch = _python_launch(spec) if spec else _Launch()
    elif program in ("docker", "podman", "nerdctl"):
        return _docker_launch(args)
    elif re.fullmatch(r"python[\d.]*|py", program) and "-m" in args[:-1]:
        module = args[args.index("-m") + 1]
        return _Launch(package=module)
    elif program == "deno" and args[:1] == ["run"]:
        spec = next((a for a in args[1:] if not a.startswith("-")), None)
        is_npm = bool(spec) and spec.startswith(("npm:", "jsr:"))
        return _npm_launch(spec.split(":", 1)[1]) if is_npm else _Launch()
    else:
        return _Launch()
    bare = launch.package.rsplit("/", 1)[-1] if launch.package else None
    return _bridged(launch, bare, rest) if bare in _BRIDGES else launch


def _npm_package(args: list[str]) -> tuple[str | None, list[str]]:
    """The package spec of an npx-like command line, and the arguments after it."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-"):
            break
        option, has_value, value = arg.partition("=")
        if option in ("-p", "--package"):
            # npx -p PKG BIN ARGS: the package is PKG, its arguments follow BIN.
            spec = value if has_value else (args[i + 1] if i + 1 < len(args) else None)
            i += 1 if has_value else 2
            while i < len(args) and args[i].startswith("-"):
                i += 1
            return spec, args[i + 1 :]
        i += 2 if option in _NPX_OPTIONS_WITH_VALUE and not has_value else 1
    return (args[i], args[i + 1 :]) if i < len(args) else (None, [])


def _npm_launch(spec: str) -> _Launch:
    """An npm package spec: @scope/name@1.2.3, name@latest, name, github:owner/repo#ref."""
    if spec.startswith(("/", ".", "~", "file:")) or re.match(r"[A-Za-z]:[\\/]", spec):
        return _Launch()  # a local path: nothing is fetched
    if spec.startswith(("github:", "git+", "git:", "http:", "https:")) or "://" in spec:
        package, _, ref = spec.partition("#")
        return _Launch(package, ref or None, bool(re.fullmatch(r"[0-9a-f]{40}", ref)))
    at = spec.find("@", 1) if spec.startswith("@") else spec.find("@")
    name, version = (spec, None) if at < 0 else (spec[:at], spec[at + 1 :] or None)
    return _Launch(name, version, bool(version and _SEMVER.fullmatch(version)))


def _python_package(
    args: list[str], spec_option: str, with_value: frozenset[str]
) -> tuple[str | None, list[str]]:
    """The package spec of a uvx or pipx run command line, and the arguments after the command."""
    spec = None
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            break
        option, has_value, value = arg.partition("=")
        if option == spec_option:
            spec = value if has_value else (args[i + 1] if i + 1 < len(args) else None)
            i += 1 if has_value else 2
            continue
        i += 2 if option in with_value and not has_value else 1
    if i >= len(args):
        return spec, []
    return spec or args[i], args[i + 1 :]


def _python_launch(spec: str) -> _Launch:
    """A Python requirement: name, name==1.2, name@1.2, name@latest, name>=1, git+https://..."""
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)", spec.strip())
    if not match:
        return _Launch(spec)
    name, rest = match.group(1), match.group(3).strip()
    if not rest:
        return _Launch(name)
    exact = re.fullmatch(r"(?:===?|@)\s*([^\s,;<>=!~*]+)", rest)
    if exact and exact.group(1).lower() != "latest" and not exact.group(1).startswith("git+"):
        return _Launch(name, exact.group(1), True)
    version = rest.removeprefix("@").strip() or None
    return _Launch(name, version, False)


def _docker_launch(args: list[str]) -> _Launch:
    """The image of a docker run command line, and the env file it reads."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in _DOCKER_GLOBAL_OPTIONS_WITH_VALUE else 1
    if args[i : i + 2] == ["container", "run"]:
        i += 1
    if args[i : i + 1] != ["run"]:
        return _Launch()  # docker exec, compose, ...: no image is started from this line
    i += 1
    env_file = None
    while i < len(args) and args[i].startswith("-"):
        option, has_value, value = args[i].partition("=")
        is_flag = has_value or option in _DOCKER_FLAGS or re.fullmatch(r"-[itdP]+", option)
        if option == "--env-file":
            env_file = value if has_value else (args[i + 1] if i + 1 < len(args) else None)
        i += 1 if is_flag else 2
    if i >= len(args):
        return _Launch(env_file=env_file)
    reference, _, digest = args[i].partition("@")
    name, tag = reference, None
    if ":" in reference.rsplit("/", 1)[-1]:
        name, tag = reference.rsplit(":", 1)
    version = digest or tag or None
    is_pinned = bool(digest) or bool(tag and _SEMVER.fullmatch(tag))
    return _Launch(name, version, is_pinned, env_file=env_file)


def _bridged(launch: _Launch, bridge: str, args: list[str]) -> _Launch:
    """The launch bridging stdio to a remote server: mcp-remote URL, supergateway --sse URL, mcp-proxy URL."""
    urls = [a for a in args if re.match(r"(?i)https?://", a)]
    transport = None
    if bridge == "mcp-remote" and urls:
        transport = "sse" if _option(args, "--transport") == "sse-only" else "http"
    elif bridge == "supergateway":
        # Without --sse or --streamableHttp, supergateway serves a local stdio server instead.
        for option, kind in (("--sse", "sse"), ("--streamableHttp", "http"), ("--streamable-http", "http")):
            if _option(args, option):
                urls, transport = [_option(args, option)], kind
                break
    elif bridge == "mcp-proxy" and urls:
        transport = "http" if (_option(args, "--transport") or "").lower() == "streamablehttp" else "sse"
    if transport is None:
        return launch
    return replace(launch, bridge=bridge, url=urls[0], transport=transport)


def _option(args: list[str], option: str) -> str | None:
    """The value of --option VALUE or --option=VALUE."""
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None
