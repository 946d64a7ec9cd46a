"""run_evaluation(): check the inventory against the catalog and reconcile the findings.

The same service serves the CLI, the UI button, the API, the importer and the scheduler.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlmodel import Session

from app.audit import record_change
from app.catalog import SEVERITY_RANK, Catalog
from app.checks import REGISTRY, Outcome, load_checks
from app.inventory.audit_log import load_events
from app.inventory.store import load_inventory
from app.models.assessment import (
    ACTIVE_STATUSES,
    PASSING_STATUSES,
    UNSCORED_STATUSES,
    Attestation,
    EvaluationRun,
    Finding,
    FindingChange,
    FindingEvent,
    FindingStatus,
    RequirementStatus,
    RiskAcceptance,
)
from app.snapshot import Inventory, Snapshot

Key = tuple[str, str, str]


@dataclass
class CheckResults:
    """Every check's outcomes over one snapshot."""

    failing: dict[Key, Outcome] = field(default_factory=dict)
    examined: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def snapshot_settings(settings) -> dict:
    """The check thresholds taken from settings."""
    return {
        "credential_max_ttl_seconds": settings.credential_max_ttl_seconds,
        "task_credential_max_ttl_seconds": settings.task_credential_max_ttl_seconds,
        "monitoring_window_days": settings.monitoring_window_days,
    }


def run_checks(snapshot: Snapshot, catalog: Catalog) -> CheckResults:
    """Run every catalogued check; a check that raises is recorded as an error and the rest go on."""
    load_checks()
    results = CheckResults()
    for check_id in sorted(catalog.checks):
        function = REGISTRY[check_id]
        try:
            outcomes = list(function(snapshot))
        except Exception as exc:
            # One broken check must not stop the run: record it and go on.
            results.errors[check_id] = f"{type(exc).__name__}: {exc}"
            results.stats[check_id] = {"examined": 0, "passed": 0, "failed": 0}
            continue
        examined = set()
        failed = 0
        for outcome in outcomes:
            subject = (outcome.subject_kind, outcome.subject_id)
            examined.add(subject)
            if not outcome.passed:
                failed += 1
                results.failing[(check_id, *subject)] = outcome
        results.examined[check_id] = examined
        results.stats[check_id] = {
            "examined": len(examined),
            "passed": len(examined) - failed,
            "failed": failed,
        }
    return results


def attribute(snapshot: Snapshot, kind: str, subject_id: str) -> tuple[str | None, str | None, str | None]:
    """The agent, team and environment a finding's subject belongs to, for filtering."""
    agent_id = None
    if kind == "agent":
        agent_id = subject_id
    elif kind == "access":
        agent_id = subject_id.split("::", 1)[0]
    elif kind == "credential":
        holders = snapshot.credential_holders.get(subject_id, ())
        agent_id = holders[0] if holders else None
    elif kind == "approval":
        approval = next((a for a in snapshot.approvals if a.id == subject_id), None)
        agent_id = approval.agent if approval else None
    agent = snapshot.agents_by_id.get(agent_id) if agent_id else None
    return agent_id, agent.team if agent else None, agent.environment if agent else None


@dataclass
class EvaluationSummary:
    """What a run found and changed."""

    run: EvaluationRun
    opened: int
    resolved: int
    reopened: int
    open_total: int


def run_evaluation(
    session: Session,
    *,
    catalog: Catalog,
    settings,
    trigger: str,
    actor: str,
    now: datetime | None = None,
) -> EvaluationSummary:
    """Evaluate the stored inventory, reconcile findings by stable key and record the run."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    snapshot = Snapshot(
        load_inventory(session), now=now, settings=snapshot_settings(settings), events=load_events(session)
    )
    results = run_checks(snapshot, catalog)
    run = EvaluationRun(started_at=now, trigger=trigger, actor=actor, catalog_hash=catalog.hash)
    session.add(run)
    session.flush()

    existing = {
        (f.check_id, f.subject_kind, f.subject_id): f for f in session.exec(select(Finding)).scalars()
    }
    events: list[tuple[Finding, FindingChange, str]] = []
    opened = resolved = reopened = 0
    still_failing: list[int] = []
    for key, outcome in results.failing.items():
        finding = existing.get(key)
        if finding is None:
            agent_id, team, environment = attribute(snapshot, key[1], key[2])
            finding = Finding(
                check_id=key[0],
                subject_kind=key[1],
                subject_id=key[2],
                severity=catalog.checks[key[0]].severity,
                detail=outcome.detail,
                agent_id=agent_id,
                team=team,
                environment=environment,
                first_seen_at=now,
                last_seen_at=now,
                last_run_id=run.id,
            )
            session.add(finding)
            existing[key] = finding
            events.append((finding, FindingChange.OPENED, outcome.detail))
            opened += 1
        elif finding.status == FindingStatus.RESOLVED.value:
            finding.status = FindingStatus.REOPENED.value
            finding.reopened_count += 1
            finding.resolved_at = None
            finding.detail, finding.last_seen_at, finding.last_run_id = outcome.detail, now, run.id
            events.append((finding, FindingChange.REOPENED, outcome.detail))
            reopened += 1
        elif finding.detail != outcome.detail:
            finding.detail, finding.last_seen_at, finding.last_run_id = outcome.detail, now, run.id
        else:
            still_failing.append(finding.id)
    for key, finding in existing.items():
        if finding.status not in ACTIVE_STATUSES or key in results.failing:
            continue
        check_id, kind, subject_id = key
        if check_id in results.errors:
            continue  # a crashed check proves nothing either way
        if check_id in catalog.checks and (kind, subject_id) in results.examined.get(check_id, set()):
            detail = "The check passes for this subject now."
        else:
            detail = "The subject is no longer examined by this check (changed or left the inventory)."
        finding.status, finding.resolved_at, finding.last_run_id = FindingStatus.RESOLVED.value, now, run.id
        events.append((finding, FindingChange.RESOLVED, detail))
        resolved += 1
    for start in range(0, len(still_failing), 500):
        chunk = still_failing[start : start + 500]
        session.execute(
            update(Finding).where(Finding.id.in_(chunk)).values(last_seen_at=now, last_run_id=run.id)
        )
    session.flush()
    session.add_all(
        FindingEvent(finding_id=f.id, run_id=run.id, at=now, change=change.value, detail=detail)
        for f, change, detail in events
    )

    statuses = requirement_statuses(session, catalog, results, now)
    run.requirement_statuses = statuses
    run.scores = {fw: framework_score(s) for fw, s in statuses.items()}
    run.check_stats = results.stats
    run.check_errors = results.errors
    open_total = sum(1 for f in existing.values() if f.status in ACTIVE_STATUSES)
    run.counts = {
        "checks": len(catalog.checks),
        "outcomes": sum(s["examined"] for s in results.stats.values()),
        "failed": len(results.failing),
        "errors": len(results.errors),
        "opened": opened,
        "resolved": resolved,
        "reopened": reopened,
        "open": open_total,
    }
    run.finished_at = datetime.now(UTC)
    run.duration_ms = round((time.perf_counter() - started) * 1000)
    if opened or resolved or reopened:
        record_change(
            session,
            actor=actor,
            action="evaluation.findings_changed",
            target=f"evaluation #{run.id}",
            detail={"trigger": trigger, "opened": opened, "resolved": resolved, "reopened": reopened},
            at=now,
        )
    session.flush()
    return EvaluationSummary(run, opened, resolved, reopened, open_total)


def active_exception_finding_ids(session: Session, now: datetime) -> set[int]:
    """Findings whose risk is currently accepted (not expired, not revoked)."""
    rows = session.execute(
        select(RiskAcceptance.finding_id).where(
            RiskAcceptance.expires_at > now, RiskAcceptance.revoked_at.is_(None)
        )
    )
    return {row[0] for row in rows}


def current_attestations(session: Session, now: datetime) -> dict[tuple[str, str], Attestation]:
    """The newest unexpired, unrevoked attestation of each requirement."""
    rows = session.exec(
        select(Attestation)
        .where(Attestation.expires_at > now, Attestation.revoked_at.is_(None))
        .order_by(Attestation.attested_at)
    ).scalars()
    return {(a.framework_id, a.requirement_id): a for a in rows}


def requirement_statuses(session: Session, catalog: Catalog, results: CheckResults, now: datetime) -> dict:
    """Each framework's requirement statuses, explained by their checks or attestation."""
    excepted = active_exception_finding_ids(session, now)
    unexcepted_open: dict[str, int] = defaultdict(int)
    for finding in session.exec(select(Finding).where(Finding.status.in_(ACTIVE_STATUSES))).scalars():
        if finding.id not in excepted:
            unexcepted_open[finding.check_id] += 1
    attestations = current_attestations(session, now)
    statuses: dict[str, dict[str, str]] = {}
    for framework in catalog.frameworks.values():
        per_requirement = {}
        for requirement in framework.requirements:
            if requirement.is_manual:
                attestation = attestations.get((framework.id, requirement.id))
                if attestation is None:
                    status = RequirementStatus.NOT_ATTESTED
                elif attestation.is_not_applicable:
                    status = RequirementStatus.NOT_APPLICABLE
                else:
                    status = RequirementStatus.ATTESTED
            elif any(c in results.errors for c in requirement.checks):
                status = RequirementStatus.ERROR
            elif any(unexcepted_open[c] for c in requirement.checks):
                status = RequirementStatus.FAIL
            elif all(results.stats[c]["examined"] == 0 for c in requirement.checks):
                status = RequirementStatus.NO_DATA
            else:
                status = RequirementStatus.PASS
            per_requirement[requirement.id] = status.value
        statuses[framework.id] = per_requirement
    return statuses


def framework_score(statuses: dict[str, str]) -> float | None:
    """Passing requirements over applicable ones, as a percentage; None when nothing is applicable."""
    applicable = [s for s in statuses.values() if s not in UNSCORED_STATUSES]
    if not applicable:
        return None
    return round(100 * sum(s in PASSING_STATUSES for s in applicable) / len(applicable), 1)


def plan_findings(
    session: Session,
    *,
    catalog: Catalog,
    settings,
    before: Inventory,
    after: Inventory,
    now: datetime | None = None,
) -> tuple[list[tuple[Key, Outcome]], list[Key]]:
    """The findings a change of inventory would open and resolve, without writing anything."""
    now = now or datetime.now(UTC)
    context = {"now": now, "settings": snapshot_settings(settings), "events": load_events(session)}
    before_failing = run_checks(Snapshot(before, **context), catalog).failing
    after_failing = run_checks(Snapshot(after, **context), catalog).failing
    would_open = sorted(
        ((k, o) for k, o in after_failing.items() if k not in before_failing),
        key=lambda item: (SEVERITY_RANK[catalog.checks[item[0][0]].severity], item[0]),
    )
    would_resolve = sorted(k for k in before_failing if k not in after_failing)
    return would_open, would_resolve
