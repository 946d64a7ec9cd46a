"""Write the inventory back in the contract's format, one YAML file per kind."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, time
from pathlib import Path

import yaml

from app.inventory.schema import KINDS
from app.snapshot import Inventory


def _date(value: datetime) -> str:
    value = value.astimezone(UTC)
    if value.time() == time():
        return value.date().isoformat()
    return (
        value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "") + "Z"
    )


def _clean(entry: dict) -> dict:
    """Drop what is absent (None, empty lists, false flags), render dates as ISO 8601."""
    out = {}
    for key, value in entry.items():
        if value is None or value is False or value == () or value == []:
            continue
        if isinstance(value, datetime):
            value = _date(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def _with_enabled(server, entry: dict) -> dict:
    """enabled defaults to true, so only a disabled server says so (just before its tools)."""
    if server.enabled:
        return entry
    tools = entry.pop("tools", None)
    entry["enabled"] = False
    if tools is not None:
        entry["tools"] = tools
    return entry


def inventory_documents(inventory: Inventory) -> dict[str, list[dict]]:
    """The inventory as contract entries, by kind."""
    agents = [
        _clean(
            {
                "id": a.id,
                "name": a.name,
                "owner": a.owner,
                "team": a.team,
                "environment": a.environment,
                "status": a.status,
                "autonomy": a.autonomy,
                "purpose": a.purpose,
                "identity": _clean(
                    {"kind": a.identity_kind, "id": a.identity_id, "attested": a.identity_attested}
                ),
                "tools": a.tools,
                "credentials": a.credentials,
                "network_reach": a.network_reach,
                "delegates_to": a.delegates_to,
                "mcp_servers": a.mcp_servers,
                "max_delegation_depth": a.max_delegation_depth,
                "created_at": a.created_at,
                "last_reviewed_at": a.last_reviewed_at,
                "review_interval_days": a.review_interval_days,
            }
        )
        for a in inventory.agents
    ]
    servers = [
        _with_enabled(
            s,
            _clean(
                {
                    "id": s.id,
                    "name": s.name,
                    "owner": s.owner,
                    "transport": s.transport,
                    "url": s.url,
                    "command": s.command,
                    "args": s.args,
                    "package": s.package,
                    "version": s.version,
                    "auth": s.auth,
                    "audience_validated": s.audience_validated,
                    "token_passthrough": s.token_passthrough,
                    "gateway": s.gateway,
                    "source": s.source,
                    "client": s.client,
                    "scope": s.scope,
                    "bridge": s.bridge,
                    "auto_approve_all": s.auto_approve_all,
                    "tools": [
                        _clean(
                            {
                                "name": t.name,
                                "title": t.title,
                                "description": t.description,
                                "sensitivity": t.sensitivity,
                                "annotations": dict(t.annotations) or None,
                                "data_classes": t.data_classes,
                                "input_schema": json.loads(t.input_schema) if t.input_schema else None,
                                "output_schema": json.loads(t.output_schema) if t.output_schema else None,
                                "auto_approved": t.auto_approved,
                                "reviewed_definition_hash": t.reviewed_definition_hash,
                                "definition_reviewed_at": t.definition_reviewed_at,
                            }
                        )
                        for t in s.tools
                    ],
                }
            ),
        )
        for s in inventory.mcp_servers
    ]
    credentials = [
        _clean(
            {
                "id": c.id,
                "kind": c.kind,
                "issuer": c.issuer,
                "audience": c.audience,
                "scopes": c.scopes,
                "ttl_seconds": c.ttl_seconds,
                "expires_at": c.expires_at,
                "last_rotated_at": c.last_rotated_at,
                "revoked_at": c.revoked_at,
                "rotation_interval_days": c.rotation_interval_days,
                "storage": c.storage,
                "fingerprint": c.fingerprint,
            }
        )
        for c in inventory.credentials
    ]
    policies = [
        _clean(
            {
                "id": p.id,
                "description": p.description,
                "owner": p.owner,
                "engine": p.engine,
                "evaluation": p.evaluation,
                "effect": p.effect,
                "subjects": p.subjects,
                "tools": p.tools,
                "require_approval": p.require_approval,
                "approvers": p.approvers,
                "intents": p.intents,
                "max_chain_depth": p.max_chain_depth,
                "jit_credential_ttl_seconds": p.jit_credential_ttl_seconds,
                "rate_limit_per_minute": p.rate_limit_per_minute,
                "last_reviewed_at": p.last_reviewed_at,
                "review_interval_days": p.review_interval_days,
            }
        )
        for p in inventory.policies
    ]
    approvals = [
        _clean(
            {
                "id": a.id,
                "agent": a.agent,
                "tool": a.tool,
                "task": a.task,
                "approved_by": a.approved_by,
                "approved_at": a.approved_at,
                "expires_at": a.expires_at,
                "credential_issued": a.credential_issued,
            }
        )
        for a in inventory.approvals
    ]
    return dict(zip(KINDS, (agents, servers, credentials, policies, approvals), strict=True))


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key, as people write YAML by hand."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def export_inventory(inventory: Inventory, directory: Path) -> list[Path]:
    """Write one YAML file per kind into the directory; each file is written whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, entries in inventory_documents(inventory).items():
        path = directory / f"{kind}.yaml"
        text = yaml.dump({kind: entries}, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        written.append(path)
    return written
