"""record_change(): the audit trail every service writes to when it changes something."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from app.models.users import AuditEntry


def record_change(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    detail: dict | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry to the audit trail, in the caller's transaction."""
    entry = AuditEntry(
        at=at or datetime.now(UTC), actor=actor, action=action, target=target, detail=detail or {}
    )
    session.add(entry)
    return entry
