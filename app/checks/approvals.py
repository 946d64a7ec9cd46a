"""Approval checks: each approval answers who approved, what for, and which ephemeral secret was issued."""

from __future__ import annotations

from collections.abc import Iterator

from app.checks import Outcome, check, fail, pass_
from app.snapshot import Snapshot


@check
def approval_is_traceable(snap: Snapshot) -> Iterator[Outcome]:
    """Every approval names its approver, the task and the ephemeral credential issued for it."""
    for ap in snap.approvals:
        missing = [
            name
            for name, value in (
                ("approver", ap.approved_by),
                ("task", ap.task),
                ("issued credential", ap.credential_issued),
            )
            if not value
        ]
        if missing:
            yield fail(
                "approval",
                ap.id,
                f"Approval {ap.id} for {ap.agent} on {ap.tool} does not name its {', '.join(missing)}.",
            )
        else:
            yield pass_(
                "approval",
                ap.id,
                f"Approval {ap.id}: {ap.approved_by} approved {ap.agent} to "
                f"{ap.task!r} on {ap.tool}; credential {ap.credential_issued} was issued.",
            )
