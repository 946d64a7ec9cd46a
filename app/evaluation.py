"""run_evaluation(): check the inventory against the catalog and reconcile the findings.

The same service serves the CLI, the UI button, the API, the importer and the scheduler.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, bindparam, func, insert, literal, select, update
from sqlmodel import Session

from app.audit import record_change
from app.catalog import SEVERITY_RANK, Catalog, catalog_changes
from app.checks import REGISTRY, Outcome, load_checks
from app.db import hold_write_lock, id_chunks, refresh_planner_statistics
from app.incremental import (
    REACH,
    EventStats,
    Reach,
    Scope,
    Shares,
    checks_of,
    combined_stats,
    event_stats,
    focus_inventory,
    partition_of,
    partitions_of,
    plan_scope,
    save_state,
)
from app.inventory.audit_log import load_events
from app.inventory.store import load_inventory, paused_gc
from app.mappings import infer_statuses
from app.models.assessment import (
    ACTIVE_STATUSES,
    PASSING_STATUSES,
    UNSCORED_STATUSES,
    Attestation,
    CatalogVersion,
    EvaluationRun,
    Finding,
    FindingChange,
    FindingEvent,
    FindingStatus,
    RequirementStatus,
    RiskAcceptance,
)
from app.snapshot import Inventory, Snapshot
from app.split import AgentRange, Subjects, Worker, check_range, collect, plan_split, start_workers

log = logging.getLogger(__name__)

Key = tuple[str, str, str]


@dataclass
class CheckResults:
    """Every check's outcomes over one snapshot."""

    failing: dict[Key, Outcome] = field(default_factory=dict)
    # Per check, the (kind, id) subjects it examined: a set, or the ranges' sets of a split run.
    examined: dict[str, set[tuple[str, str]] | Subjects] = field(default_factory=dict)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Outcomes left out by run_checks(agents=...) for being about no agent at all.
    unfiled: int = 0


def snapshot_settings(settings) -> dict:
    """The check thresholds taken from settings."""
    return {
        "credential_max_ttl_seconds": settings.credential_max_ttl_seconds,
        "task_credential_max_ttl_seconds": settings.task_credential_max_ttl_seconds,
        "monitoring_window_days": settings.monitoring_window_days,
    }


def run_checks(
    snapshot: Snapshot,
    catalog: Catalog,
    *,
    check_ids: Iterable[str] | None = None,
    agents: frozenset[str] | None = None,
    shares: Shares | None = None,
) -> CheckResults:
    """Run every catalogued check; a check that raises is recorded as an error and the rest go on.

    check_ids runs only those; agents (a set, or an AgentRange) keeps only the outcomes about those
    agents (and their accesses), counting those about no agent as unfiled.
    shares, when given, receives each agent's share of the statistics of the per-agent checks.
    """
    load_checks()
    results = CheckResults()
    for check_id in sorted(catalog.checks if check_ids is None else check_ids):
        function = REGISTRY[check_id]
        try:
            outcomes = list(function(snapshot))
        except Exception as exc:
            # One broken check must not stop the run: record it and go on.
            results.errors[check_id] = f"{type(exc).__name__}: {exc}"
            results.stats[check_id] = {"examined": 0, "passed": 0, "failed": 0}
            continue
        if agents is not None:
            partitions = partitions_of([o[:2] for o in outcomes])  # each outcome's (kind, id)
            results.unfiled += partitions.count(None)
            outcomes = [o for o, agent_id in zip(outcomes, partitions, strict=True) if agent_id in agents]
        examined = set()
        failing = []
        for outcome in outcomes:
            subject = outcome[:2]  # (subject_kind, subject_id)
            examined.add(subject)
            if not outcome.passed:
                failing.append(subject)
                results.failing[(check_id, *subject)] = outcome
        results.examined[check_id] = examined
        results.stats[check_id] = {
            "examined": len(examined),
            "passed": len(examined) - len(failing),
            "failed": len(failing),
        }
        if shares is not None and REACH.get(check_id) == Reach.AGENT:
            _add_shares(shares, check_id, examined, failing)
    return results


def _add_shares(
    shares: Shares, check_id: str, examined: set[tuple[str, str]], failing: list[tuple[str, str]]
):
    """Count one check's examined and failed outcomes per agent, as run_checks counts them overall."""
    failed = Counter(partitions_of(failing))
    for agent_id, count in Counter(partitions_of(examined)).items():
        shares.setdefault(agent_id, {})[check_id] = [count, failed.get(agent_id, 0)]


def attribute(snapshot: Snapshot, kind: str, subject_id: str) -> tuple[str | None, str | None, str | None]:
    """The agent, team and environment a finding's subject belongs to, for filtering."""
    agent_id = None
    if kind in ("agent", "access"):
        agent_id = partition_of(kind, subject_id)
    elif kind == "credential":
        holders = snapshot.credential_holders.get(subject_id, ())
        agent_id = holders[0] if holders else None
    elif kind == "approval":
        approval = snapshot.approvals_by_id.get(subject_id)
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


@dataclass
class _Checked:
    """What one run checked: the results, over which subjects, against which inventory."""

    snapshot: Snapshot
    results: CheckResults
    scope: Scope | None
    shares: Shares | None
    description: str
    processes: int = 1


def _check_everything(
    session: Session,
    catalog: Catalog,
    inventory,
    settings: dict,
    now,
    why: str,
    split: _Split | None = None,
) -> _Checked:
    """Run every check over the whole inventory and audit log, counting each agent's share.

    Given a split, the per-agent checks run over its ranges of agents, each but the first in a
    worker process (app/split.py); a split that cannot give what one process would is not used.
    """
    if split is not None:
        try:
            checked = _check_split(session, catalog, inventory, settings, now, why, split)
        finally:
            split.close()
        if checked is not None:
            return checked
    snapshot = Snapshot(
        inventory, now=now, settings=settings, events=load_events(session), events_ordered=True
    )
    shares: Shares = {}
    results = run_checks(snapshot, catalog, shares=shares)
    agent_ids = set(snapshot.events_by_agent) | {a.id for a in inventory.agents}
    # An agent id with "::" in it makes the agent of an access subject ambiguous, and a per-agent
    # check's outcome about no agent cannot be filed under one: keep no shares then.
    is_partitioned = None not in shares and not any("::" in a for a in agent_ids)
    return _Checked(snapshot, results, None, shares if is_partitioned else None, why)


@dataclass
class _Split:
    """The ranges of agents a full run's per-agent checks are split into, and their workers."""

    ranges: list[AgentRange]
    workers: list[Worker]
    has_events: bool

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def _start_split(
    session: Session, catalog: Catalog, settings, values: dict, now, events: EventStats, is_clean: bool
) -> _Split | None:
    """Workers for a full run's ranges of agents, when a split is worth it and safe; else None."""
    if any(c not in REACH for c in catalog.checks):
        return None
    ranges, why_not = plan_split(session, settings, event_count=events.count, is_clean=is_clean)
    if len(ranges) < 2:
        log.debug("evaluation in one process: %s", why_not)
        return None
    job = {
        "catalog": catalog,
        "settings": values,
        "now": now,
        "has_events": events.count > 0,
        "events": (events.count, events.max_id),
    }
    try:
        workers = start_workers(session, ranges, job)
    except OSError as exc:
        log.warning("evaluation in one process: no worker could be started (%s)", exc)
        return None
    return _Split(ranges, workers, events.count > 0)


def _check_split(
    session: Session, catalog: Catalog, inventory, settings: dict, now, why: str, split: _Split
) -> _Checked | None:
    """The inventory-wide checks here, the per-agent ones range by range; None if they cannot be merged."""
    snapshot = Snapshot(inventory, now=now, settings=settings, has_events=split.has_events)
    everywhere = checks_of(catalog, Reach.INVENTORY) | checks_of(catalog, Reach.NONE)
    results = run_checks(snapshot, catalog, check_ids=everywhere)
    context = {"catalog": catalog, "inventory": inventory, "settings": settings, "now": now}
    started = time.perf_counter()
    parts = [check_range(session, **context, agent_range=split.ranges[0], has_events=split.has_events)]
    processes = 1
    own_seconds = time.perf_counter() - started
    collected = collect(split.workers, own_seconds=own_seconds)
    log.debug(
        "evaluation: own range %.2f s, then %.2f s waiting for %d workers",
        own_seconds,
        time.perf_counter() - started - own_seconds,
        len(split.workers),
    )
    for agent_range, part in collected:
        if part is None:
            part = check_range(session, **context, agent_range=agent_range, has_events=split.has_events)
        else:
            processes += 1
        parts.append(part)
    if any(p.errors or p.unfiled or p.has_separator for p in parts):
        # A crashed check's error, or outcomes no range can own, are what one process must say.
        log.info("evaluation: the split cannot be merged; checking everything in one process")
        return None
    shares: Shares = {}
    for part in parts:
        results.failing.update(part.failing)
        shares.update(part.shares)
    for check_id in checks_of(catalog, Reach.AGENT):
        examined = Subjects([part.examined.get(check_id, set()) for part in parts])
        failed = sum(part.stats[check_id]["failed"] for part in parts)
        results.examined[check_id] = examined
        results.stats[check_id] = {
            "examined": len(examined),
            "passed": len(examined) - failed,
            "failed": failed,
        }
    results.stats = {check_id: results.stats[check_id] for check_id in sorted(results.stats)}
    return _Checked(snapshot, results, None, shares, why, processes)


def _check_scope(
    session: Session, catalog: Catalog, inventory, settings: dict, now, scope: Scope
) -> _Checked:
    """Re-check the scope: per-agent checks for its agents only, inventory-wide ones over everything."""
    snapshot = Snapshot(inventory, now=now, settings=settings, has_events=scope.has_events)
    results = run_checks(snapshot, catalog, check_ids=checks_of(catalog, Reach.INVENTORY))
    focus = Snapshot(
        focus_inventory(inventory, scope.agents),
        now=now,
        settings=settings,
        events=load_events(session, agents=scope.agents),
        events_ordered=True,
        has_events=scope.has_events,
    )
    shares: Shares = {}
    per_agent = run_checks(
        focus, catalog, check_ids=checks_of(catalog, Reach.AGENT), agents=scope.agents, shares=shares
    )
    results.failing.update(per_agent.failing)
    results.examined.update(per_agent.examined)
    results.errors.update(per_agent.errors)
    rechecked = {**results.stats, **per_agent.stats}
    results.stats = combined_stats(scope, rechecked, shares, catalog)
    return _Checked(snapshot, results, scope, shares, scope.describe())


def run_evaluation(
    session: Session,
    *,
    catalog: Catalog,
    settings,
    trigger: str,
    actor: str,
    now: datetime | None = None,
    changed_agents: Iterable[str] | None = None,
) -> EvaluationSummary:
    """Evaluate the stored inventory, reconcile findings by stable key and record the run.

    Given changed_agents (the agents added, edited or removed since the last run, and nothing else
    changed), only what those changes can affect is re-checked (app/incremental.py), with the same
    findings, statistics and requirement statuses as a full run; without, or when that cannot be
    sure, everything is.
    """
    # A run allocates millions of small objects (events, outcomes, rows) and frees them by reference
    # counting; left on, the collector walks every live one over and over and takes a third of the run.
    with paused_gc():
        return _run_evaluation(
            session,
            catalog=catalog,
            settings=settings,
            trigger=trigger,
            actor=actor,
            now=now,
            changed_agents=changed_agents,
        )


def _run_evaluation(
    session: Session,
    *,
    catalog: Catalog,
    settings,
    trigger: str,
    actor: str,
    now: datetime | None,
    changed_agents: Iterable[str] | None,
) -> EvaluationSummary:
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    # Findings are written with plain statements below: pending ORM changes go first.
    session.flush()
    # One evaluation at a time, and no import half-way through what it reads.
    is_clean = hold_write_lock(session)
    values = snapshot_settings(settings)
    stored_events = event_stats(session)
    split = None
    if changed_agents is None:
        # Started first: the workers read the inventory while this process does.
        split = _start_split(session, catalog, settings, values, now, stored_events, is_clean)
    inventory = load_inventory(session)
    scope, why = None, "full"
    if changed_agents is not None:
        scope, why = plan_scope(
            session,
            catalog=catalog,
            settings=values,
            inventory=inventory,
            changed_agents=changed_agents,
            events=stored_events,
            now=now,
        )
    checked = None
    if scope is not None:
        checked = _check_scope(session, catalog, inventory, values, now, scope)
        if checked.results.errors:
            # A check that crashes on some agents may not on others: only a full run says which.
            checked, why = None, "full: a check crashed on the changed agents"
    if checked is None:
        if changed_agents is not None:
            split = _start_split(session, catalog, settings, values, now, stored_events, is_clean)
        checked = _check_everything(session, catalog, inventory, values, now, why, split)
    snapshot, results, scope = checked.snapshot, checked.results, checked.scope
    run = EvaluationRun(started_at=now, trigger=trigger, actor=actor, catalog_hash=catalog.hash)
    session.add(run)
    session.flush()

    changes = reconcile_findings(
        session, snapshot=snapshot, catalog=catalog, results=results, run=run, scope=scope
    )
    opened, resolved, reopened = changes.opened, changes.resolved, changes.reopened
    if scope is None:
        refresh_planner_statistics(session, Finding.__tablename__)
    save_state(
        session,
        run=run,
        catalog=catalog,
        settings=values,
        events=stored_events,
        shares=checked.shares,
        scope=checked.scope,
    )
    _expire_findings(session)

    statuses, inferences = requirement_statuses(session, catalog, results, now)
    run.requirement_statuses = statuses
    run.requirement_inferences = inferences
    pin_catalog(session, run, catalog, now)
    run.scores = {fw: framework_score(s) for fw, s in statuses.items()}
    run.check_stats = results.stats
    run.check_errors = results.errors
    open_total = changes.open_total
    run.counts = {
        "checks": len(catalog.checks),
        "outcomes": sum(s["examined"] for s in results.stats.values()),
        "failed": sum(s["failed"] for s in results.stats.values()) if scope else len(results.failing),
        "errors": len(results.errors),
        "opened": opened,
        "resolved": resolved,
        "reopened": reopened,
        "open": open_total,
        "scope": checked.description,
        "processes": checked.processes,
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


@dataclass
class FindingChanges:
    """What reconciling one run's outcomes did to the stored findings."""

    opened: int = 0
    resolved: int = 0
    reopened: int = 0
    open_total: int = 0


FINDING_COLUMNS = (
    "check_id",
    "subject_kind",
    "subject_id",
    "status",
    "severity",
    "detail",
    "agent_id",
    "team",
    "environment",
    "first_seen_at",
    "last_seen_at",
    "resolved_at",
    "reopened_count",
    "last_run_id",
)
EVENT_COLUMNS = ("finding_id", "run_id", "at", "change", "detail")
PASSES_NOW = "The check passes for this subject now."
NOT_EXAMINED = "The subject is no longer examined by this check (changed or left the inventory)."


def reconcile_findings(
    session: Session,
    *,
    snapshot: Snapshot,
    catalog: Catalog,
    results: CheckResults,
    run: EvaluationRun,
    scope: Scope | None = None,
) -> FindingChanges:
    """Open, update, reopen and resolve findings by stable key, with set-based statements.

    A full run reconsiders every stored finding; a scoped one only those of the checks and
    subjects it re-checked, and leaves the others as the run before left them.
    """
    now = run.started_at
    existing = _existing_findings(session, catalog, scope)
    changes = FindingChanges()
    new_rows: list[tuple] = []
    reopened: list[dict] = []
    redetailed: list[dict] = []
    seen: list[int] = []
    events: list[tuple] = []
    t = Finding.__table__
    e = FindingEvent.__table__
    stored_now = _db_value(session, t.c.last_seen_at, now)
    opened = FindingStatus.OPEN.value
    for key, outcome in results.failing.items():
        found = existing.get(key)
        if found is None:
            check_id, kind, subject_id = key
            agent_id, team, environment = attribute(snapshot, kind, subject_id)
            severity = catalog.checks[check_id].severity
            subject = (check_id, kind, subject_id, opened, severity, outcome.detail)
            new_rows.append((*subject, agent_id, team, environment, stored_now, stored_now, None, 0, run.id))
            changes.opened += 1
            continue
        finding_id, status, detail = found
        if status == FindingStatus.RESOLVED.value:
            reopened.append({"b_id": finding_id, "b_detail": outcome.detail})
            events.append((finding_id, run.id, stored_now, FindingChange.REOPENED.value, outcome.detail))
            changes.reopened += 1
        elif detail != outcome.detail:
            redetailed.append({"b_id": finding_id, "b_detail": outcome.detail})
        else:
            seen.append(finding_id)
    resolved: list[dict] = []
    active_before = 0
    for key, (finding_id, status, _) in existing.items():
        if status not in ACTIVE_STATUSES:
            continue
        active_before += 1
        check_id, kind, subject_id = key
        if key in results.failing or check_id in results.errors:
            continue  # still failing; or a crashed check, which proves nothing either way
        examined = check_id in catalog.checks and (kind, subject_id) in results.examined.get(check_id, ())
        resolved.append({"b_id": finding_id})
        detail = PASSES_NOW if examined else NOT_EXAMINED
        events.append((finding_id, run.id, stored_now, FindingChange.RESOLVED.value, detail))
        changes.resolved += 1

    by_id = t.c.id == bindparam("b_id")
    # New findings get their ids in key order, however the run was split.
    new_rows.sort()
    if new_rows:
        newest_before = session.execute(select(func.max(t.c.id))).scalar() or 0
        _execute_many(session, insert(t), FINDING_COLUMNS, new_rows)
        # The opened findings' first events, from the rows just written: no ids travel back and forth.
        first_events = select(
            t.c.id,
            literal(run.id),
            literal(now, e.c.at.type),
            literal(FindingChange.OPENED.value),
            t.c.detail,
        ).where(t.c.id > newest_before, t.c.last_run_id == run.id)
        session.execute(insert(e).from_select(EVENT_COLUMNS, first_events))
    if reopened:
        session.execute(
            update(t)
            .where(by_id)
            .values(
                status=FindingStatus.REOPENED.value,
                reopened_count=t.c.reopened_count + 1,
                resolved_at=None,
                detail=bindparam("b_detail"),
                last_seen_at=now,
                last_run_id=run.id,
            ),
            reopened,
        )
    if redetailed:
        session.execute(
            update(t).where(by_id).values(detail=bindparam("b_detail"), last_seen_at=now, last_run_id=run.id),
            redetailed,
        )
    if resolved:
        session.execute(
            update(t)
            .where(by_id)
            .values(status=FindingStatus.RESOLVED.value, resolved_at=now, last_run_id=run.id),
            resolved,
        )
    if seen:
        _execute_many(
            session,
            update(t).where(by_id).values(last_seen_at=bindparam("b_now"), last_run_id=bindparam("b_run")),
            ("b_now", "b_run", "b_id"),
            [(stored_now, run.id, finding_id) for finding_id in seen],
        )
    _execute_many(session, insert(e), EVENT_COLUMNS, events)
    if scope is None:
        changes.open_total = active_before - changes.resolved + changes.reopened + changes.opened
    else:
        changes.open_total = session.execute(
            select(func.count()).select_from(t).where(t.c.status.in_(ACTIVE_STATUSES))
        ).scalar()
    return changes


def _existing_findings(
    session: Session, catalog: Catalog, scope: Scope | None
) -> dict[Key, tuple[int, str, str]]:
    """The stored findings a run reconsiders, by key: (id, status, detail). Columns, not entities."""
    t = Finding.__table__
    columns = select(t.c.id, t.c.check_id, t.c.subject_kind, t.c.subject_id, t.c.status, t.c.detail)
    if scope is None:
        queries = [columns]
    else:
        queries = [columns.where(t.c.check_id.in_(sorted(checks_of(catalog, Reach.INVENTORY))))]
        per_agent = sorted(checks_of(catalog, Reach.AGENT))
        agents = sorted(scope.agents)
        for start in range(0, len(agents), 500):
            chunk = agents[start : start + 500]
            queries.append(columns.where(and_(t.c.check_id.in_(per_agent), t.c.agent_id.in_(chunk))))
    found: dict[Key, tuple[int, str, str]] = {}
    for query in queries:
        for finding_id, check_id, kind, subject_id, status, detail in session.execute(query).all():
            is_per_agent = scope is not None and REACH[check_id] == Reach.AGENT
            if is_per_agent and partition_of(kind, subject_id) not in scope.agents:
                continue
            found[(check_id, kind, subject_id)] = (finding_id, status, detail)
    return found


def _execute_many(session: Session, statement, names: tuple[str, ...], rows: list[tuple]) -> None:
    """Execute a statement once per row of values (in names' order) straight through the driver.

    SQLAlchemy's per-row parameter processing would cost more than the database's own work on a
    hundred thousand findings, so the rows hold values as the database takes them (_db_value).
    """
    if not rows:
        return
    connection = session.connection()
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(names), for_executemany=True)
    if not compiled.positional:
        params = [dict(zip(names, row, strict=True)) for row in rows]
    elif tuple(compiled.positiontup) == names:
        params = rows
    else:
        order = [names.index(name) for name in compiled.positiontup]
        params = [tuple(row[i] for i in order) for row in rows]
    connection.exec_driver_sql(str(compiled), params)


def _db_value(session: Session, column, value):
    """A value as the column's type hands it to the driver (a datetime as SQLite stores it, say)."""
    dialect = session.connection().dialect
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor(value) if processor is not None and value is not None else value


def _expire_findings(session: Session) -> None:
    """Forget the findings the session holds: they were just written with plain statements."""
    for instance in list(session.identity_map.values()):
        if isinstance(instance, Finding):
            session.expire(instance)


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


def requirement_statuses(
    session: Session, catalog: Catalog, results: CheckResults, now: datetime
) -> tuple[dict, dict]:
    """Requirement statuses by checks, attestation or else mappings; and where each inferred one came from."""
    is_active = Finding.status.in_(ACTIVE_STATUSES)
    # Counted by the database per check (a hundred thousand rows in Python would cost most of a second),
    # less the active findings whose risk is currently accepted.
    by_check = select(Finding.check_id, func.count()).where(is_active).group_by(Finding.check_id)
    unexcepted_open: Counter[str] = Counter(dict(session.execute(by_check).all()))
    for chunk in id_chunks(active_exception_finding_ids(session, now)):
        accepted = select(Finding.check_id).where(is_active, Finding.id.in_(chunk))
        unexcepted_open.subtract(check_id for (check_id,) in session.execute(accepted))
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
    return infer_statuses(catalog, statuses)


def framework_score(statuses: dict[str, str]) -> float | None:
    """Passing requirements over applicable ones, as a percentage; None when nothing is applicable."""
    # A partial requirement is applicable and not passing: part of it is not shown to be met.
    applicable = [s for s in statuses.values() if s not in UNSCORED_STATUSES]
    if not applicable:
        return None
    return round(100 * sum(s in PASSING_STATUSES for s in applicable) / len(applicable), 1)


def pin_catalog(session: Session, run: EvaluationRun, catalog: Catalog, now: datetime) -> None:
    """Pin the run to its catalog version; a changed catalog gets a new version listing what changed."""
    latest = session.execute(
        select(CatalogVersion.id, CatalogVersion.hash).order_by(CatalogVersion.id.desc()).limit(1)
    ).first()
    if latest is not None and latest.hash == catalog.hash:
        run.catalog_version_id = latest.id
        return
    before = session.get(CatalogVersion, latest.id).pin if latest is not None else None
    pin = catalog.pin()
    version = CatalogVersion(
        hash=catalog.hash, first_run_id=run.id, pinned_at=now, pin=pin, changes=catalog_changes(before, pin)
    )
    session.add(version)
    session.flush()
    run.catalog_version_id = version.id


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
    context = {
        "now": now,
        "settings": snapshot_settings(settings),
        "events": load_events(session),
        "events_ordered": True,
    }
    before_failing = run_checks(Snapshot(before, **context), catalog).failing
    after_failing = run_checks(Snapshot(after, **context), catalog).failing
    would_open = sorted(
        ((k, o) for k, o in after_failing.items() if k not in before_failing),
        key=lambda item: (SEVERITY_RANK[catalog.checks[item[0][0]].severity], item[0]),
    )
    would_resolve = sorted(k for k in before_failing if k not in after_failing)
    return would_open, would_resolve
