"""The demo organisation in seed/: its inventory, its people's MCP client configs and its audit log."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from app.config import PROJECT_ROOT
from app.inventory import ImportResult, KindChanges, diff_inventories, import_documents, import_inventory
from app.inventory.audit_log import AuditImportResult, import_audit_log
from app.inventory.discovery import AgentSpec, DiscoveryResult, discover
from app.inventory.store import load_inventory
from app.snapshot import Inventory

SEED_DIR = PROJECT_ROOT / "seed"


@dataclass
class DemoImport:
    """What loading the demo organisation did, source by source."""

    inventory: ImportResult
    before: Inventory
    after: Inventory | None = None
    discoveries: dict[str, DiscoveryResult] = field(default_factory=dict)
    pruned: ImportResult | None = None
    audit: AuditImportResult | None = None

    def net_changes(self) -> dict[str, KindChanges]:
        """What loading the demo changed overall (its steps may undo each other's intermediate changes)."""
        return diff_inventories(self.before, self.after or self.before)

    @property
    def ok(self) -> bool:
        steps = [self.inventory, *(d.result for d in self.discoveries.values()), self.pruned]
        return all(step.ok for step in steps if step is not None)


def import_demo_organisation(session: Session, *, actor: str, settings) -> DemoImport:
    """Import seed/, discover each person's client, import the audit log; drop what is in none of them.

    Each step runs in the caller's transaction; the first that fails stops the rest. Loading the
    demo twice changes nothing.
    """
    limits = {
        "max_bytes": settings.max_import_bytes,
        "max_alias_expansion": settings.yaml_max_alias_expansion,
    }
    seed = [str(SEED_DIR)]
    stale = import_inventory(session, paths=seed, actor=actor, prune=True, dry_run=True, **limits)
    inventory = import_inventory(session, paths=seed, actor=actor, **limits)
    outcome = DemoImport(inventory, before=stale.before or load_inventory(session))
    if not inventory.ok:
        return outcome
    for client_dir in sorted(p for p in (SEED_DIR / "clients").iterdir() if p.is_dir()):
        found = discover(
            session,
            paths=[str(client_dir)],
            actor=actor,
            agent=AgentSpec(client_dir.name),
            max_bytes=settings.max_import_bytes,
        )
        outcome.discoveries[client_dir.name] = found
        if not found.result.ok:
            return outcome
    discovered = {
        kind: set().union(*(d.entry_ids.get(kind, set()) for d in outcome.discoveries.values()))
        for kind in stale.changes
    }
    remove = {kind: set(c.removed) - discovered[kind] for kind, c in stale.changes.items()}
    if any(remove.values()):
        outcome.pruned = import_documents(session, documents=[], files=[], actor=actor, remove=remove)
    outcome.after = load_inventory(session)
    outcome.audit = import_audit_log(session, path=str(SEED_DIR / "audit" / "events.jsonl"), actor=actor)
    return outcome
