"""Import tool definitions (MCP tools/list results) and MCP Registry server.json files.

Both are turned into contract entries and merged into what the inventory already holds, then
applied by import_documents like any other import: validated, all or nothing, recorded. A
tools/list result updates the definitions of a server's tools and keeps what people added to
them (sensitivity, data classes, reviews); a server.json declares a server's package or remote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from app.audit import record_change
from app.inventory import ImportResult, import_documents
from app.inventory.export import inventory_documents
from app.inventory.reader import Document, ImportError_, collect_files, read_document
from app.inventory.schema import ANNOTATION_HINTS
from app.inventory.store import load_inventory
from app.inventory.validate import show, slug, type_name

TRANSPORTS = {"stdio": "stdio", "sse": "sse", "streamable-http": "http", "http": "http"}
# How a registry package is launched when server.json gives no runtimeHint.
RUNNERS = {"npm": "npx", "pypi": "uvx", "oci": "docker", "docker": "docker", "nuget": "dnx", "mcpb": "mcpb"}


@dataclass
class Definitions:
    """What one file declares: tool definitions, or a server (server.json)."""

    file: str
    kind: str  # tools_list | server_json
    tools: list[dict] = field(default_factory=list)
    server: dict | None = None
    server_name: str | None = None


def read_definitions(path: Path, *, max_bytes: int) -> Definitions | ImportError_:
    """Parse a tools/list result, a single tool, an mcp-scan signature or a server.json."""
    document = read_document(path, max_bytes=max_bytes, max_alias_expansion=0)
    if isinstance(document, ImportError_):
        return document
    name, data = document.file, document.data
    if isinstance(data, dict) and isinstance(data.get("result"), dict):
        data = data["result"]  # a JSON-RPC response around the tools/list result
    if isinstance(data, dict) and _is_server_json(data):
        return _server_json(name, data)
    if isinstance(data, list) or (isinstance(data, dict) and ("tools" in data or "inputSchema" in data)):
        return _tools_list(name, data)
    return ImportError_(
        name,
        None,
        "",
        f"the document is {type_name(data)} with neither `tools` (a tools/list result) nor "
        "`packages`/`remotes` (a registry server.json); expected one of those",
    )


def _is_server_json(data: dict) -> bool:
    schema = str(data.get("$schema", ""))
    return "server.schema.json" in schema or (
        isinstance(data.get("name"), str) and ("packages" in data or "remotes" in data)
    )


def _tools_list(name: str, data) -> Definitions | ImportError_:
    if isinstance(data, dict) and "inputSchema" in data:
        raw_tools, server_name = [data], None
    elif isinstance(data, dict):
        raw_tools = data["tools"]
        info = (
            (data.get("metadata") or {}).get("serverInfo") if isinstance(data.get("metadata"), dict) else None
        )
        server_name = info.get("name") if isinstance(info, dict) else None
    else:
        raw_tools, server_name = data, None
    if not isinstance(raw_tools, list):
        return ImportError_(
            name, None, "tools", f"{show(raw_tools)} is {type_name(raw_tools)}; expected a list"
        )
    tools = []
    for i, raw in enumerate(raw_tools):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            return ImportError_(
                name, None, f"tools[{i}]", f"{show(raw)} is {type_name(raw)}; expected a tool with a name"
            )
        tools.append(_tool_entry(raw))
    return Definitions(name, "tools_list", tools=tools, server_name=server_name)


def _tool_entry(raw: dict) -> dict:
    """A contract tool entry from an MCP Tool object; unknown MCP fields (icons, _meta) are dropped."""
    hints = raw.get("annotations") if isinstance(raw.get("annotations"), dict) else {}
    annotations = {k: v for k, v in hints.items() if k in ANNOTATION_HINTS and v is not None}
    title = raw.get("title") or hints.get("title")
    entry = {
        "name": raw["name"],
        "title": title,
        "description": raw.get("description"),
        "annotations": annotations or None,
        "input_schema": raw.get("inputSchema", {}),
        "output_schema": raw.get("outputSchema"),
    }
    return {k: v for k, v in entry.items() if v is not None}


def _server_json(name: str, data: dict) -> Definitions:
    """A contract server entry from the current (camelCase) or the 2025-07 (snake_case) schema."""
    registry_name = data["name"]
    server: dict = {"id": slug(registry_name.rsplit("/", 1)[-1]), "name": data.get("title") or registry_name}
    remotes = [r for r in data.get("remotes") or [] if isinstance(r, dict)]
    packages = [p for p in data.get("packages") or [] if isinstance(p, dict)]
    if remotes:
        remote = remotes[0]
        url = str(remote.get("url", ""))
        for var, spec in (remote.get("variables") or {}).items():
            if isinstance(spec, dict) and spec.get("default"):
                url = url.replace("{" + var + "}", str(spec["default"]))
        headers = [h.get("name", "").lower() for h in remote.get("headers") or [] if isinstance(h, dict)]
        server |= {
            "transport": TRANSPORTS.get(str(remote.get("type")), "http"),
            "url": url,
            "auth": "static_token" if {"authorization", "x-api-key"} & set(headers) else "unknown",
        }
    elif packages:
        package = packages[0]
        identifier = package.get("identifier") or package.get("name")
        version = package.get("version") or (data.get("version_detail") or {}).get("version")
        registry = package.get("registryType") or package.get("registry_name") or ""
        runner = (
            package.get("runtimeHint") or package.get("runtime_hint") or RUNNERS.get(registry.strip("<>"))
        )
        transport = (package.get("transport") or {}).get("type", "stdio")
        server |= {
            "transport": TRANSPORTS.get(str(transport), "stdio"),
            "command": runner or str(identifier),
            "args": _launch_args(runner, str(identifier), version),
            "package": identifier,
            "version": version,
        }
    return Definitions(name, "server_json", server=server, server_name=registry_name)


def _launch_args(runner: str | None, identifier: str, version: str | None) -> list[str]:
    if runner == "npx":
        return ["-y", f"{identifier}@{version}" if version else identifier]
    if runner == "uvx":
        return [f"{identifier}=={version}" if version else identifier]
    if runner == "docker":
        return ["run", "-i", "--rm", f"{identifier}:{version}" if version else identifier]
    return [identifier] if runner else []


def import_definitions(
    session: Session,
    *,
    paths: list[str],
    actor: str,
    server_id: str | None = None,
    prune: bool = False,
    dry_run: bool = False,
    max_bytes: int,
) -> ImportResult:
    """Merge tool definitions and server.json declarations into the inventory, all or nothing."""
    files, errors = collect_files(paths)
    definitions = []
    for path in files:
        outcome = read_definitions(path, max_bytes=max_bytes)
        (errors.append if isinstance(outcome, ImportError_) else definitions.append)(outcome)
    current = {s["id"]: s for s in inventory_documents(load_inventory(session))["mcp_servers"]}
    servers: dict[str, dict] = {}
    for d in definitions:
        target = server_id or (d.server["id"] if d.server else slug(d.server_name or ""))
        base = servers.get(target) or current.get(target)
        if d.kind == "server_json":
            servers[target] = _merge_server(base, {**d.server, "id": target, "source": d.file})
        elif base is None:
            hint = f"its serverInfo names {d.server_name!r}; " if d.server_name else ""
            errors.append(
                ImportError_(
                    d.file,
                    None,
                    "",
                    f"no MCP server {target!r} in the inventory to attach these tools to ({hint}"
                    "name one with --server, or import or discover the server first)",
                )
            )
        else:
            servers[target] = _merge_tools(base, d.tools, prune=prune)
    documents = [
        Document(" + ".join(d.file for d in definitions) or "(none)", {"mcp_servers": list(servers.values())})
    ]
    return import_documents(
        session,
        documents=documents,
        files=[str(f) for f in files],
        read_errors=errors,
        actor=actor,
        dry_run=dry_run,
    )


def _merge_server(existing: dict | None, declared: dict) -> dict:
    """A server.json fills in what the inventory does not say yet; it never overrides what runs."""
    if existing is None:
        return declared
    merged = dict(existing)
    for key in ("name", "package", "version", "url"):
        if not merged.get(key) and declared.get(key):
            merged[key] = declared[key]
    return merged


# What a person decided about a tool, which a new definition must not erase.
KEPT_FIELDS = (
    "sensitivity",
    "data_classes",
    "auto_approved",
    "reviewed_definition_hash",
    "definition_reviewed_at",
)


def _merge_tools(server: dict, tools: list[dict], *, prune: bool) -> dict:
    existing = {t["name"]: t for t in server.get("tools", [])}
    merged = {} if prune else dict(existing)
    for tool in tools:
        before = existing.get(tool["name"], {})
        merged[tool["name"]] = {**tool, **{k: before[k] for k in KEPT_FIELDS if k in before}}
    return {**server, "tools": list(merged.values())}


def review_tools(
    session: Session, *, server_id: str, tool_names: list[str], actor: str, now: datetime
) -> ImportResult:
    """Record that a person reviewed the current definitions of a server's tools (all, or those named)."""
    inventory = load_inventory(session)
    server = next((s for s in inventory.mcp_servers if s.id == server_id), None)
    if server is None:
        return ImportResult(files=[], errors=[ImportError_(server_id, None, "", "no such MCP server")])
    known = {t.name: t for t in server.tools}
    unknown = [n for n in tool_names if n not in known]
    if unknown:
        message = (
            f"no tool {', '.join(map(repr, unknown))} on this server; it has {', '.join(known) or 'none'}"
        )
        return ImportResult(files=[], errors=[ImportError_(server_id, None, "", message)])
    chosen = [t for t in server.tools if (not tool_names or t.name in tool_names) and t.definition_hash]
    entry = next(s for s in inventory_documents(inventory)["mcp_servers"] if s["id"] == server_id)
    hashes = {t.name: t.definition_hash for t in chosen}
    for tool in entry.get("tools", []):
        if tool["name"] in hashes:
            tool["reviewed_definition_hash"] = hashes[tool["name"]]
            tool["definition_reviewed_at"] = now
    result = import_documents(
        session,
        documents=[Document(f"review of {server_id}", {"mcp_servers": [entry]})],
        files=[],
        actor=actor,
    )
    if result.ok and hashes:
        record_change(
            session,
            actor=actor,
            action="tools.review",
            target=f"mcp_server {server_id}",
            detail={"tools": hashes},
        )
    return result
