"""discover(): inventory the MCP servers that client configuration files set up.

The configs are read by app.inventory.mcp_config; this module turns what they hold into
contract entries (servers, the literal secrets found as plaintext credentials, the agent the
client belongs to) and applies them with import_documents, so a discovery is an import like
any other: validated, all or nothing, dry-run, recorded. Pruning is scoped to the scanned
files: a server that a scanned file no longer lists is removed, nothing else is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlmodel import Session

from app.inventory import ImportResult, import_documents
from app.inventory.export import inventory_documents
from app.inventory.mcp_config import (
    ALL_TOOLS,
    READ_ONLY_TOOLS,
    ConfigScan,
    DiscoveredServer,
    find_config_files,
    scan_config_file,
    scan_config_text,
)
from app.inventory.reader import Document, ImportError_
from app.inventory.store import load_inventory
from app.inventory.validate import slug


@dataclass
class AgentSpec:
    """The agent a discovery attributes its servers to, and what to create it with if it is new."""

    id: str
    owner: str | None = None
    environment: str = "development"


@dataclass
class DiscoveryResult:
    """Every file scanned (with what it held or why it held nothing) and the import it made."""

    scans: list[ConfigScan] = field(default_factory=list)
    result: ImportResult | None = None
    # The ids of the entries the discovery wrote, by kind.
    entry_ids: dict[str, set[str]] = field(default_factory=dict)

    @property
    def servers(self) -> list[DiscoveredServer]:
        return [s for scan in self.scans for s in scan.servers]


def discover(
    session: Session,
    *,
    paths: list[str],
    actor: str,
    agent: AgentSpec | None = None,
    prune: bool = False,
    dry_run: bool = False,
    max_bytes: int,
) -> DiscoveryResult:
    """Scan config files (directories recursively) and import the servers they configure."""
    files, missing = find_config_files(paths)
    scans = [_relabel(scan_config_file(path, max_bytes=max_bytes), str(path.resolve())) for path in files]
    errors = [ImportError_(m.split(":", 1)[0], None, "", m.split(":", 1)[-1].strip()) for m in missing]
    return apply_scans(
        session, scans=scans, actor=actor, agent=agent, prune=prune, dry_run=dry_run, errors=errors
    )


def apply_scans(
    session: Session,
    *,
    scans: list[ConfigScan],
    actor: str,
    agent: AgentSpec | None,
    prune: bool,
    dry_run: bool,
    errors: list[ImportError_] | None = None,
) -> DiscoveryResult:
    """Turn scanned configs into contract entries and import them (the CLI and the upload share this)."""
    documents = inventory_documents(load_inventory(session))
    servers_now = {s["id"]: s for s in documents["mcp_servers"]}
    credentials_now = {c["id"]: c for c in documents["credentials"]}
    agents_now = {a["id"]: a for a in documents["agents"]}
    sources = {scan.file for scan in scans}

    servers: dict[str, dict] = {}
    credentials: dict[str, dict] = {}
    by_file: dict[str, dict[str, list[dict]]] = {}
    claimed: set[str] = set()
    for scan in scans:
        entries = by_file.setdefault(scan.file, {"mcp_servers": [], "credentials": []})
        for found in scan.servers:
            server_id = _server_id(found, agent, servers_now, claimed)
            claimed.add(server_id)
            servers[server_id] = _server_entry(found, server_id, servers_now.get(server_id))
            entries["mcp_servers"].append(servers[server_id])
            for secret in found.secrets:
                credential_id = f"{server_id}-{slug(secret.key)}"
                credentials[credential_id] = {
                    **credentials_now.get(credential_id, {}),
                    "id": credential_id,
                    "kind": secret.kind,
                    "storage": "plaintext_config",
                    "fingerprint": secret.fingerprint,
                }
                entries["credentials"].append(credentials[credential_id])

    remove: dict[str, set[str]] = {}
    if prune:
        gone = {sid for sid, s in servers_now.items() if s.get("source") in sources and sid not in servers}
        remove["mcp_servers"] = gone
        remove["credentials"] = {
            cid
            for cid, c in credentials_now.items()
            if c.get("storage") == "plaintext_config" and any(cid.startswith(f"{sid}-") for sid in gone)
        } - set(credentials)
    agents = _agents(agents_now, agent, servers, credentials, remove)
    entries = {
        "mcp_servers": list(servers.values()),
        "credentials": list(credentials.values()),
        "agents": agents,
    }
    label = ", ".join(sorted(sources)) or "(no files)"
    result = import_documents(
        session,
        documents=[Document(label, entries)],
        files=sorted(sources),
        read_errors=errors,
        actor=actor,
        dry_run=dry_run,
        remove=remove,
        source="discovery",
    )
    written = {
        "mcp_servers": set(servers),
        "credentials": set(credentials),
        "agents": {a["id"] for a in agents},
    }
    return DiscoveryResult(scans=scans, result=result, entry_ids=written)


def _server_id(found: DiscoveredServer, agent: AgentSpec | None, existing: dict, claimed: set[str]) -> str:
    """A stable id: the server's name (prefixed by the agent), made unique without taking another's."""
    base = slug(f"{agent.id}-{found.name}" if agent else found.name)
    candidates = [base, f"{base}-{slug(found.client)}"] + [
        f"{base}-{slug(found.client)}-{n}" for n in range(2, 100)
    ]
    for candidate in candidates:
        if candidate in claimed:
            continue
        owner = existing.get(candidate)
        if owner is None or owner.get("source") == found.file:
            return candidate
    raise ValueError(f"no free id for server {found.name!r}")


def _server_entry(found: DiscoveredServer, server_id: str, existing: dict | None) -> dict:
    """The contract entry of a discovered server; what people added (owner, gateway, tools) is kept."""
    entry = dict(existing or {})
    entry.update(
        {
            "id": server_id,
            "name": found.name,
            "transport": found.transport,
            "url": found.url,
            "command": found.command,
            "args": list(found.args),
            "package": found.package,
            "version": found.version,
            "auth": found.auth if found.transport in ("sse", "http") else None,
            "source": found.file,
            "client": found.client,
            "scope": found.scope,
            "bridge": found.bridge,
            "enabled": found.is_enabled,
            "auto_approve_all": ALL_TOOLS in found.auto_approved_tools,
        }
    )
    named = [t for t in found.auto_approved_tools if t not in (ALL_TOOLS, READ_ONLY_TOOLS)]
    # The client approves by itself whatever the server says is read-only (e.g. Codex "writes").
    trusts_read_only = READ_ONLY_TOOLS in found.auto_approved_tools
    tools = {t["name"]: dict(t) for t in entry.get("tools", [])}
    for tool in tools.values():
        claims_read_only = (tool.get("annotations") or {}).get("readOnlyHint") is True
        tool["auto_approved"] = tool["name"] in named or (trusts_read_only and claims_read_only)
    for name in named:
        tools.setdefault(name, {"name": name, "auto_approved": True})
    entry["tools"] = list(tools.values())
    return {k: v for k, v in entry.items() if v is not None and v != []}


def _agents(
    agents_now: dict[str, dict],
    agent: AgentSpec | None,
    servers: dict[str, dict],
    credentials: dict[str, dict],
    remove: dict[str, set[str]],
) -> list[dict]:
    """The agent entries that change: the attributed agent gains the servers, pruned ids leave every agent."""
    changed: dict[str, dict] = {}
    gone_servers, gone_credentials = remove.get("mcp_servers", set()), remove.get("credentials", set())
    if gone_servers or gone_credentials:
        for agent_id, entry in agents_now.items():
            kept_servers = [s for s in entry.get("mcp_servers", []) if s not in gone_servers]
            kept_credentials = [c for c in entry.get("credentials", []) if c not in gone_credentials]
            kept_tools = [t for t in entry.get("tools", []) if t.split(".", 1)[0] not in gone_servers]
            if (kept_servers, kept_credentials, kept_tools) != (
                entry.get("mcp_servers", []),
                entry.get("credentials", []),
                entry.get("tools", []),
            ):
                changed[agent_id] = {
                    **entry,
                    "mcp_servers": kept_servers,
                    "credentials": kept_credentials,
                    "tools": kept_tools,
                }
    if agent is None:
        return list(changed.values())
    entry = changed.get(agent.id) or agents_now.get(agent.id)
    if entry is None:
        entry = {
            "id": agent.id,
            "owner": agent.owner,
            "environment": agent.environment,
            "purpose": None,
            # A client on a person's machine acts with that person's authority.
            "identity": {"kind": "user_delegated"},
        }
    entry = dict(entry)
    entry["mcp_servers"] = _union(entry.get("mcp_servers", []), servers)
    entry["credentials"] = _union(entry.get("credentials", []), credentials)
    changed[agent.id] = {k: v for k, v in entry.items() if v is not None}
    return list(changed.values())


def _union(current: list[str], added) -> list[str]:
    return current + [i for i in added if i not in current]


def scan_uploads(uploads: list[tuple[str, str]]) -> list[ConfigScan]:
    """Scan uploaded files (name, text); their source is recorded as upload:NAME."""
    return [
        _relabel(scan_config_text(Path(name).name, text), f"upload:{Path(name).name}")
        for name, text in uploads
    ]


def _relabel(scan: ConfigScan, file: str) -> ConfigScan:
    """The scan with its file (and so its servers' source) named as the inventory records it."""
    scan.file = file
    scan.servers = [replace(s, file=file) for s in scan.servers]
    return scan
