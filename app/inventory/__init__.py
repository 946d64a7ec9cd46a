"""import_inventory(): read, validate, reconcile and apply inventory files as one transaction."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import Session

from app.audit import record_change
from app.db import hold_write_lock
from app.inventory.reader import Document, ImportError_, collect_files, read_document
from app.inventory.schema import KINDS
from app.inventory.store import delete_entries, insert_entries, load_inventory, paused_gc
from app.inventory.validate import Origin, ParsedEntries, parse_documents
from app.models.inventory import ImportRecord
from app.snapshot import Inventory

GLOB_CHARS = frozenset("*?[")


@dataclass
class KindChanges:
    """What an import does to one kind: ids created, updated, removed, and how many are unchanged."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "removed": len(self.removed),
            "unchanged": self.unchanged,
        }


@dataclass
class ImportResult:
    """The outcome of an import: errors (then nothing changed) or the changes applied or planned."""

    files: list[str]
    errors: list[ImportError_] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    changes: dict[str, KindChanges] = field(default_factory=dict)
    is_dry_run: bool = False
    record_id: int | None = None
    before: Inventory | None = None
    after: Inventory | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def has_changes(self) -> bool:
        return any(c.created or c.updated or c.removed for c in self.changes.values())


@paused_gc()
def import_inventory(
    session: Session,
    *,
    paths: list[str],
    actor: str,
    prune: bool = False,
    dry_run: bool = False,
    max_bytes: int,
    max_alias_expansion: int,
    labels: dict[str, str] | None = None,
) -> ImportResult:
    """Import inventory files all or nothing, upserting by id; prune drops what they no longer hold."""
    files, errors = collect_files(paths)
    documents = []
    for path in files:
        outcome = read_document(path, max_bytes=max_bytes, max_alias_expansion=max_alias_expansion)
        (errors.append if isinstance(outcome, ImportError_) else documents.append)(outcome)
    return import_documents(
        session,
        documents=documents,
        files=[str(f) for f in files],
        read_errors=errors,
        actor=actor,
        prune=prune,
        dry_run=dry_run,
        labels=labels,
    )


@paused_gc()
def import_documents(
    session: Session,
    *,
    documents: list[Document],
    files: list[str],
    actor: str,
    read_errors: list[ImportError_] | None = None,
    prune: bool = False,
    dry_run: bool = False,
    labels: dict[str, str] | None = None,
    remove: dict[str, set[str]] | None = None,
    source: str = "inventory",
) -> ImportResult:
    """Validate parsed documents against the contract and the stored inventory, then apply them in one go.

    remove names entries (by kind) to delete in the same transaction: a source that prunes only
    what it once brought (discovery) says exactly which.
    """
    errors = list(read_errors or [])
    result = ImportResult(files=files, is_dry_run=dry_run)
    parsed, parse_errors = parse_documents(documents)
    errors += parse_errors
    result.notices = parsed.notices
    if not dry_run:
        hold_write_lock(session)  # the stored inventory read next is what the import replaces
    current = load_inventory(session)
    final = _merge(current, parsed, prune, remove or {})
    errors += _reference_errors(final, parsed)
    if errors:
        result.errors = sorted(set(errors), key=lambda e: (e.file, e.line or 0, e.location, e.message))
        return result
    result.changes = diff_inventories(current, final)
    result.before, result.after = current, final
    if dry_run:
        return result
    for kind, changes in result.changes.items():
        delete_entries(session, kind, changes.removed + changes.updated)
    final_by_id = {kind: {r.id: r for r in getattr(final, kind)} for kind in KINDS}
    for kind, changes in result.changes.items():
        insert_entries(session, kind, [final_by_id[kind][i] for i in changes.created + changes.updated])
    record = ImportRecord(
        imported_at=datetime.now(UTC),
        actor=actor,
        files=[(labels or {}).get(f, f) for f in result.files],
        source=source,
        is_prune=prune or bool(remove),
        counts={kind: c.counts() for kind, c in result.changes.items()},
    )
    session.add(record)
    session.flush()
    result.record_id = record.id
    record_change(
        session,
        actor=actor,
        action="inventory.import",
        target=f"import #{record.id}",
        detail={"files": record.files, "prune": prune, "counts": record.counts},
    )
    return result


def _merge(current: Inventory, parsed: ParsedEntries, prune: bool, remove: dict[str, set[str]]) -> Inventory:
    """The inventory after the import: imported entries replace stored ones by id."""
    merged = {}
    for kind in KINDS:
        incoming = parsed.records[kind]
        if prune and kind in parsed.present:
            kept = {}
        else:
            dropped = remove.get(kind, set())
            kept = {r.id: r for r in getattr(current, kind) if r.id not in dropped}
        kept.update(incoming)
        merged[kind] = tuple(kept[k] for k in sorted(kept))
    return Inventory(**merged)


def diff_inventories(current: Inventory, final: Inventory) -> dict[str, KindChanges]:
    """Per kind, the ids created, updated and removed between two inventories."""
    changes = {}
    for kind in KINDS:
        before = {r.id: r for r in getattr(current, kind)}
        after = {r.id: r for r in getattr(final, kind)}
        c = KindChanges()
        for entry_id, record in after.items():
            if entry_id not in before:
                c.created.append(entry_id)
            elif before[entry_id] != record:
                c.updated.append(entry_id)
            else:
                c.unchanged += 1
        c.removed = [i for i in before if i not in after]
        changes[kind] = c
    return changes


def _reference_errors(final: Inventory, parsed: ParsedEntries) -> list[ImportError_]:
    """Every reference of the resulting inventory that points at nothing."""
    agent_ids = {a.id for a in final.agents}
    credential_ids = {c.id for c in final.credentials}
    tool_refs = {t.ref for s in final.mcp_servers for t in s.tools}
    server_ids = {s.id for s in final.mcp_servers}
    errors: list[ImportError_] = []

    def origin(kind: str, entry_id: str) -> Origin:
        return parsed.origins.get((kind, entry_id), Origin(None))

    invalid_servers = tuple(f"{sid}." for sid in parsed.invalid["mcp_servers"])

    def dangling(kind, entry_id, field_path, value, known, what) -> None:
        # An entry that failed validation was already reported; references to it would only repeat that.
        if value in parsed.invalid["agents"] | parsed.invalid["credentials"] | parsed.invalid[
            "mcp_servers"
        ] or (invalid_servers and value.startswith(invalid_servers)):
            return
        o = origin(kind, entry_id)
        close = difflib.get_close_matches(value, known, n=1) if len(known) < 50_000 else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        location = f"{kind}[{entry_id}]." + "".join(
            f"[{p}]" if isinstance(p, int) else (p if i == 0 else f".{p}") for i, p in enumerate(field_path)
        )
        errors.append(
            ImportError_(o.file, o.line(*field_path), location, f"{value!r} is not a known {what}{hint}")
        )

    for a in final.agents:
        for i, ref in enumerate(a.tools):
            if ref not in tool_refs:
                dangling("agents", a.id, ("tools", i), ref, tool_refs, "tool (expected SERVER_ID.TOOL_NAME)")
        for i, cred in enumerate(a.credentials):
            if cred not in credential_ids:
                dangling("agents", a.id, ("credentials", i), cred, credential_ids, "credential id")
        for i, delegate in enumerate(a.delegates_to):
            if delegate not in agent_ids:
                dangling("agents", a.id, ("delegates_to", i), delegate, agent_ids, "agent id")
        for i, server_id in enumerate(a.mcp_servers):
            if server_id not in server_ids:
                dangling("agents", a.id, ("mcp_servers", i), server_id, server_ids, "MCP server id")
    for p in final.policies:
        for i, subject in enumerate(p.subjects):
            if subject != "*" and subject not in agent_ids:
                dangling("policies", p.id, ("subjects", i), subject, agent_ids, "agent id (or '*')")
        for i, pattern in enumerate(p.tools):
            if GLOB_CHARS.isdisjoint(pattern) and pattern not in tool_refs:
                dangling(
                    "policies",
                    p.id,
                    ("tools", i),
                    pattern,
                    tool_refs,
                    "tool (expected SERVER_ID.TOOL_NAME or a pattern such as github.*)",
                )
    for ap in final.approvals:
        if ap.agent not in agent_ids:
            dangling("approvals", ap.id, ("agent",), ap.agent, agent_ids, "agent id")
        if ap.tool not in tool_refs:
            dangling("approvals", ap.id, ("tool",), ap.tool, tool_refs, "tool (expected SERVER_ID.TOOL_NAME)")
    return errors
