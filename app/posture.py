"""Posture queries for the dashboard and reports: scores over runs, requirement trees, the crosswalk."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from app.catalog import SEVERITIES, Catalog, Framework, Requirement
from app.db import id_chunks
from app.evaluation import active_exception_finding_ids, current_attestations
from app.models.assessment import (
    ACTIVE_STATUSES,
    Attestation,
    EvaluationRun,
    Finding,
    FindingEvent,
    RiskAcceptance,
)

STATUS_ORDER = ("fail", "error", "not_attested", "partial", "pass", "attested", "no_data", "not_applicable")


def latest_run(session: Session) -> EvaluationRun | None:
    """The newest evaluation run, if any."""
    return session.execute(
        select(EvaluationRun).order_by(EvaluationRun.id.desc()).limit(1)
    ).scalar_one_or_none()


def recent_runs(session: Session, limit: int = 20) -> list[EvaluationRun]:
    """The newest runs, oldest first."""
    rows = (
        session.execute(select(EvaluationRun).order_by(EvaluationRun.id.desc()).limit(limit)).scalars().all()
    )
    return list(reversed(rows))


@dataclass
class FrameworkCard:
    """One framework on the overview."""

    framework: Framework
    score: float | None
    counts: dict[str, int]
    trend: list[tuple[str, float | None]]
    outcomes_passed: int = 0
    outcomes_examined: int = 0


@dataclass
class Overview:
    """Where the organisation stands: scores, open findings, newest changes, last run."""

    run: EvaluationRun | None
    cards: list[FrameworkCard]
    by_severity: dict[str, int]
    by_domain: dict[str, int]
    excepted: int
    changes: list[tuple[FindingEvent, Finding]]


def build_overview(session: Session, catalog: Catalog, *, now: datetime) -> Overview:
    """The overview page's data in a few set-based queries."""
    runs = recent_runs(session)
    run = runs[-1] if runs else None
    cards = []
    for framework in catalog.frameworks.values():
        statuses = run.requirement_statuses.get(framework.id, {}) if run else {}
        trend = [(f"#{r.id} {r.started_at:%m-%d %H:%M}", r.scores.get(framework.id)) for r in runs]
        # Subject-level pass rate of the framework's checks: progress shows before whole requirements turn.
        checks = {c for r in framework.requirements for c in r.checks}
        stats = [run.check_stats.get(c, {}) for c in checks] if run else []
        cards.append(
            FrameworkCard(
                framework,
                run.scores.get(framework.id) if run else None,
                dict(Counter(statuses.values())),
                trend,
                sum(s.get("passed", 0) for s in stats),
                sum(s.get("examined", 0) for s in stats),
            )
        )
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_domain: Counter = Counter()
    excepted_counts = _excepted_counts(session, now)
    excepted = sum(excepted_counts.values())
    for severity, check_id, count in _open_counts(session, run):
        count -= excepted_counts.get((severity, check_id), 0)
        if not count:
            continue
        by_severity[severity] = by_severity.get(severity, 0) + count
        meta = catalog.checks.get(check_id)
        by_domain[meta.domain if meta else "retired checks"] += count
    changes = session.execute(
        select(FindingEvent, Finding)
        .join(Finding, Finding.id == FindingEvent.finding_id)
        .order_by(FindingEvent.id.desc())
        .limit(12)
    ).all()
    return Overview(
        run, cards, by_severity, dict(by_domain.most_common()), excepted, [tuple(c) for c in changes]
    )


# Findings change only in evaluation runs, so their counts are a fact of the newest run: counted once
# per run and process (a GROUP BY over every open finding), not on every overview.
_OPEN_COUNTS: dict[tuple, list[tuple[str, str, int]]] = {}


def _open_counts(session: Session, run: EvaluationRun | None) -> list[tuple[str, str, int]]:
    """Open findings by (severity, check), oldest group first, as they stand after the newest run."""
    key = (str(session.get_bind().url), run.id, run.finished_at) if run else None
    counts = _OPEN_COUNTS.get(key) if key else None
    if counts is None:
        counts = [
            (severity, check_id, count)
            for severity, check_id, count, _ in session.execute(
                select(Finding.severity, Finding.check_id, func.count(), func.min(Finding.id))
                .where(Finding.status.in_(ACTIVE_STATUSES))
                .group_by(Finding.severity, Finding.check_id)
                # Domains with equal counts keep the order of their oldest finding.
                .order_by(func.min(Finding.id))
            )
        ]
        if key:
            if len(_OPEN_COUNTS) > 16:
                _OPEN_COUNTS.clear()
            _OPEN_COUNTS[key] = counts
    return counts


def _excepted_counts(session: Session, now: datetime) -> Counter:
    """Open findings a current exception covers, by (severity, check): few, counted from the exceptions.

    The exceptions' finding ids first, then those findings by id: joined in one statement, SQLite
    may walk every open finding (a hundred thousand at scale) to find the few with an exception.
    """
    covered = session.execute(
        select(RiskAcceptance.finding_id)
        .where(RiskAcceptance.expires_at > now, RiskAcceptance.revoked_at.is_(None))
        .distinct()
    ).scalars()
    counts: Counter = Counter()
    for chunk in id_chunks(covered):
        rows = session.execute(
            select(Finding.severity, Finding.check_id, func.count())
            .where(Finding.id.in_(chunk))
            .where(Finding.status.in_(ACTIVE_STATUSES))
            .group_by(Finding.severity, Finding.check_id)
        )
        counts.update({(severity, check_id): count for severity, check_id, count in rows})
    return counts


@dataclass
class CheckEvidence:
    """One check under a requirement: what it examined and what is open."""

    check_id: str
    title: str
    severity: str
    stats: dict[str, int]
    error: str | None
    findings: list[Finding]
    excepted_ids: set[int]


@dataclass
class RequirementView:
    """A requirement with its status and the evidence behind it."""

    requirement: Requirement
    status: str
    checks: list[CheckEvidence]
    attestation: Attestation | None


@dataclass
class TreeNode:
    """A group of the framework's tree with its child groups and requirements."""

    id: str
    title: str
    summary: str
    children: list[TreeNode] = field(default_factory=list)
    requirements: list[RequirementView] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


def build_framework_tree(
    session: Session, catalog: Catalog, framework: Framework, *, now: datetime, findings_per_check: int = 25
) -> tuple[list[TreeNode], list[RequirementView]]:
    """The framework as a tree; each requirement with its status, checks, findings and attestation."""
    run = latest_run(session)
    statuses = run.requirement_statuses.get(framework.id, {}) if run else {}
    check_ids = sorted({c for r in framework.requirements for c in r.checks})
    # The first findings_per_check of each check only, one query a check: a check has up to one
    # finding per agent or access, and loading them all (100,000 at scale) took seconds a page. A
    # check judges one kind of subject, so (kind, subject) is subject order, and the finding key's
    # unique index (check, kind, subject) gives it without a sort.
    open_findings: dict[str, list[Finding]] = {
        check_id: list(
            session.execute(
                select(Finding)
                .where(Finding.check_id == check_id, Finding.status.in_(ACTIVE_STATUSES))
                .order_by(Finding.subject_kind, Finding.subject_id)
                .limit(findings_per_check)
            ).scalars()
        )
        for check_id in check_ids
    }
    excepted = active_exception_finding_ids(session, now)
    attestations = current_attestations(session, now)
    evidence = {
        c: CheckEvidence(
            check_id=c,
            title=catalog.checks[c].title,
            severity=catalog.checks[c].severity,
            stats=(run.check_stats.get(c) if run else None) or {"examined": 0, "passed": 0, "failed": 0},
            error=run.check_errors.get(c) if run else None,
            findings=open_findings[c],
            excepted_ids=excepted,
        )
        for c in check_ids
    }
    nodes = {g.id: TreeNode(g.id, g.title, g.summary) for g in framework.groups}
    roots: list[TreeNode] = []
    for group in framework.groups:
        (nodes[group.parent].children if group.parent else roots).append(nodes[group.id])
    loose: list[RequirementView] = []
    for requirement in framework.requirements:
        view = RequirementView(
            requirement=requirement,
            status=statuses.get(requirement.id, "not_evaluated"),
            checks=[evidence[c] for c in requirement.checks],
            attestation=attestations.get((framework.id, requirement.id)),
        )
        (nodes[requirement.parent].requirements if requirement.parent else loose).append(view)
    for root in roots:
        _count(root)
    return roots, loose


def _count(node: TreeNode) -> Counter:
    node.counts = Counter(r.status for r in node.requirements)
    for child in node.children:
        node.counts.update(_count(child))
    return node.counts


def crosswalk_matrix(catalog: Catalog) -> list[tuple[str, dict[str, list[str]]]]:
    """Each check with the requirements it evidences, per framework."""
    rows = []
    for check_id in sorted(catalog.checks, key=lambda c: (catalog.checks[c].domain, c)):
        cells: dict[str, list[str]] = {f: [] for f in catalog.frameworks}
        for framework_id, requirement_id in catalog.requirements_by_check[check_id]:
            cells[framework_id].append(requirement_id)
        rows.append((check_id, cells))
    return rows


def requirement_neighbours(catalog: Catalog, framework_id: str, requirement_id: str) -> dict[str, list[str]]:
    """Every requirement in every framework that shares a check with the given one."""
    requirement = catalog.frameworks[framework_id].requirement(requirement_id)
    related: dict[str, set[str]] = defaultdict(set)
    for check_id in requirement.checks if requirement else ():
        for fw, req in catalog.requirements_by_check[check_id]:
            if (fw, req) != (framework_id, requirement_id):
                related[fw].add(req)
    return {fw: sorted(reqs) for fw, reqs in related.items()}


def exception_rows(session: Session) -> list[tuple[RiskAcceptance, Finding]]:
    """Every risk acceptance ever recorded with its finding, newest first."""
    return [
        tuple(r)
        for r in session.execute(
            select(RiskAcceptance, Finding)
            .join(Finding, Finding.id == RiskAcceptance.finding_id)
            .order_by(RiskAcceptance.id.desc())
        ).all()
    ]


def count_open_findings(session: Session) -> int:
    """How many findings are open or reopened."""
    return session.execute(
        select(func.count()).select_from(Finding).where(Finding.status.in_(ACTIVE_STATUSES))
    ).scalar_one()
