"""Steward's own MCP server: read-only tools through which a GRC team's assistant asks Steward.

Every tool is annotated read-only and closed-world, publishes an output schema, answers with
structured content and a readable summary, and bounds what it returns. Every tool call is recorded
in the audit trail. Over streamable HTTP each request needs a Steward API token (any role: nothing
here changes anything); over stdio the local user is the actor.
"""

from __future__ import annotations

import difflib
import getpass
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Annotated, Any, Literal

import anyio.to_thread
from flask import Flask
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_REQUEST, CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select
from sqlmodel import Session

from app.assessment import FindingFilter, page_findings
from app.audit import record_change
from app.catalog import SEVERITIES, Catalog, get_catalog
from app.db import get_engine, session_scope
from app.evaluation import active_exception_finding_ids, current_attestations
from app.inventory.profile import agent_profile
from app.inventory.schema import ENVIRONMENTS
from app.inventory.store import load_inventory
from app.models.assessment import ACTIVE_STATUSES, EvaluationRun, Finding
from app.models.users import ROLE_RANK, ApiToken, Role
from app.posture import latest_run, requirement_neighbours
from app.security import authenticate_token

SERVER_NAME = "steward"
MAX_LIMIT = 100
MAX_PAGE = 1_000_000
# Arguments are the caller's text: keep what the audit trail stores of them bounded.
MAX_RECORDED_ARGUMENTS = 2_000

INSTRUCTIONS = (
    "Steward keeps the inventory of the organisation's AI agents, the MCP servers and tools they reach, "
    "their credentials, policies and human approvals, and checks it against control frameworks "
    "(OWASP Top 10 for Agentic Applications, CSA MAESTRO, NIST AI RMF, ...). Start with framework_status "
    "for scores, list_findings for open gaps, list_agents to find an agent and agent_governance for one "
    "agent's owner, approvals, credentials, recent tool calls and failing controls, and "
    "requirement_evidence for what backs one requirement. Every tool is read-only; every call is "
    "recorded in Steward's audit trail. Secret values are never stored, so none can be returned."
)


def _read_only(title: str) -> ToolAnnotations:
    """Annotations of a tool that reads Steward's own database and changes nothing."""
    return ToolAnnotations(
        title=title,
        read_only_hint=True,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=False,
    )


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands datetimes back without a zone; every stored one is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{_utc(value):%Y-%m-%d %H:%M}Z"


def _unknown(what: str, value: str, known: list[str]) -> ToolError:
    close = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if len(known) <= 12:
        return ToolError(f"{what}: {value!r} is not one of {', '.join(known)}{hint}")
    return ToolError(f"{what}: no {what} {value!r}{hint}")


# ---- Output models: their JSON schemas are the tools' output schemas. ----


class RunInfo(BaseModel):
    """The evaluation run an answer reflects."""

    id: int
    started_at: datetime
    catalog_hash: str


class RequirementStatusItem(BaseModel):
    """One requirement's status in the newest run."""

    id: str
    title: str
    status: str = Field(description="pass, fail, no_data, error, attested, not_attested, not_applicable")
    is_manual: bool = Field(description="Met by a human attestation rather than by checks")
    open_findings: int = Field(description="Open findings of the checks mapped to it")


class FrameworkSummary(BaseModel):
    """A framework's score and how its requirements stand."""

    id: str
    name: str
    version: str
    publisher: str
    score: float | None = Field(description="Passing over applicable requirements, in percent")
    requirement_count: int
    status_counts: dict[str, int]
    requirements: list[RequirementStatusItem] = Field(
        default_factory=list, description="Each requirement; filled only when one framework is asked for"
    )


class FrameworkStatus(BaseModel):
    """Where each framework stands as of the newest evaluation run."""

    run: RunInfo | None = Field(description="None when no evaluation has run yet")
    frameworks: list[FrameworkSummary]


class FindingItem(BaseModel):
    """One gap finding: a check that fails for one subject."""

    id: int
    check_id: str
    check_title: str
    severity: str
    status: str
    subject_kind: str
    subject_id: str
    agent_id: str | None
    team: str | None
    environment: str | None
    detail: str
    first_seen_at: datetime
    last_seen_at: datetime
    is_risk_accepted: bool = Field(description="A current risk acceptance keeps it out of the scores")


class FindingsPage(BaseModel):
    """One page of the findings that match the filters, most severe first."""

    total: int
    page: int
    limit: int
    has_more: bool
    items: list[FindingItem]


class AgentSummary(BaseModel):
    """One agent of the inventory."""

    id: str
    name: str | None
    owner: str | None
    team: str | None
    environment: str
    status: str
    autonomy: str
    open_findings: int


class AgentsPage(BaseModel):
    """One page of the inventory's agents, by id."""

    total: int
    page: int
    limit: int
    has_more: bool
    items: list[AgentSummary]


class AgentInfo(BaseModel):
    """Who an agent is, who owns it and what it is for."""

    id: str
    name: str | None
    owner: str | None
    team: str | None
    environment: str
    status: str
    autonomy: str
    purpose: str | None
    identity_kind: str
    identity_id: str | None
    is_identity_attested: bool
    last_reviewed_at: datetime | None
    review_interval_days: int


class CredentialInfo(BaseModel):
    """Metadata of a credential the agent holds; the secret itself is never stored."""

    id: str
    kind: str
    issuer: str | None
    audience: str | None
    scopes: list[str]
    ttl_seconds: int | None
    expires_at: datetime | None
    last_rotated_at: datetime | None
    revoked_at: datetime | None
    storage: str
    fingerprint: str | None
    held_by: list[str]


class AccessInfo(BaseModel):
    """One tool the agent may reach, and the policies that decide it."""

    tool: str
    sensitivity: str
    is_sensitive: bool
    allowed_by: list[str]
    denied_by: list[str]
    is_approval_required: bool


class ApprovalInfo(BaseModel):
    """A human approval of one task on one tool, and the ephemeral credential issued for it."""

    id: str
    tool: str
    task: str | None
    approved_by: str | None
    approved_at: datetime | None
    expires_at: datetime | None
    credential_issued: str | None


class CallInfo(BaseModel):
    """One tool call a gateway recorded for the agent."""

    at: datetime
    tool: str
    decision: str
    task: str | None
    approval: str | None
    credential: str | None
    chain_depth: int | None
    delegated_by: str | None


class ControlRef(BaseModel):
    """A framework requirement that the agent's open findings make fail."""

    framework_id: str
    requirement_id: str
    title: str
    status: str
    check_ids: list[str]


class AgentGovernance(BaseModel):
    """Everything an auditor asks about one agent."""

    agent: AgentInfo
    credentials: list[CredentialInfo]
    accesses: list[AccessInfo]
    accesses_total: int
    delegates_to: list[str]
    delegated_by: list[str]
    approvals: list[ApprovalInfo] = Field(description="Newest first")
    approvals_total: int
    recent_calls: list[CallInfo] = Field(description="Newest first")
    calls_total: int
    open_findings: list[FindingItem]
    open_findings_total: int
    failing_controls: list[ControlRef]


class AttestationInfo(BaseModel):
    """The current human attestation of a manual requirement."""

    statement: str
    is_not_applicable: bool
    evidence_url: str | None
    evidence_file_name: str | None
    evidence_sha256: str | None
    attested_by: str
    attested_at: datetime
    expires_at: datetime


class CheckEvidenceInfo(BaseModel):
    """One check mapped to the requirement: what it examined and what is open."""

    id: str
    title: str
    severity: str
    domain: str
    examined: int
    passed: int
    failed: int
    error: str | None
    open_findings_total: int
    findings: list[FindingItem]


class RequirementInfo(BaseModel):
    """A framework requirement as the catalog states it."""

    id: str
    title: str
    summary: str
    parent: str | None
    is_manual: bool
    mapping_note: str | None


class RequirementEvidence(BaseModel):
    """A requirement's status and the evidence behind it."""

    framework_id: str
    framework_name: str
    requirement: RequirementInfo
    status: str
    run: RunInfo | None
    checks: list[CheckEvidenceInfo]
    attestation: AttestationInfo | None
    related: dict[str, list[str]] = Field(description="Requirements of every framework sharing a check")


# ---- Queries: plain functions over a session and the catalog. ----


def _run_info(run: EvaluationRun | None) -> RunInfo | None:
    if run is None:
        return None
    return RunInfo(id=run.id, started_at=_utc(run.started_at), catalog_hash=run.catalog_hash)


def _check_framework(catalog: Catalog, framework_id: str) -> None:
    if framework_id not in catalog.frameworks:
        raise _unknown("framework", framework_id, sorted(catalog.frameworks))


def _open_counts_by_check(session: Session) -> Counter:
    rows = session.execute(
        select(Finding.check_id, func.count())
        .where(Finding.status.in_(ACTIVE_STATUSES))
        .group_by(Finding.check_id)
    ).all()
    return Counter(dict(rows))


def _finding_item(finding: Finding, catalog: Catalog, excepted: set[int]) -> FindingItem:
    meta = catalog.checks.get(finding.check_id)
    return FindingItem(
        id=finding.id,
        check_id=finding.check_id,
        check_title=meta.title if meta else "(check no longer in the catalog)",
        severity=finding.severity,
        status=finding.status,
        subject_kind=finding.subject_kind,
        subject_id=finding.subject_id,
        agent_id=finding.agent_id,
        team=finding.team,
        environment=finding.environment,
        detail=finding.detail,
        first_seen_at=_utc(finding.first_seen_at),
        last_seen_at=_utc(finding.last_seen_at),
        is_risk_accepted=finding.id in excepted,
    )


def build_framework_status(
    session: Session, catalog: Catalog, *, framework: str | None = None
) -> FrameworkStatus:
    """Each framework's score and requirement counts, and each requirement when one framework is asked."""
    if framework is not None:
        _check_framework(catalog, framework)
    run = latest_run(session)
    open_by_check = _open_counts_by_check(session) if framework else Counter()
    summaries = []
    for fw in catalog.frameworks.values():
        if framework is not None and fw.id != framework:
            continue
        statuses = run.requirement_statuses.get(fw.id, {}) if run else {}
        summaries.append(
            FrameworkSummary(
                id=fw.id,
                name=fw.name,
                version=fw.version,
                publisher=fw.publisher,
                score=run.scores.get(fw.id) if run else None,
                requirement_count=len(fw.requirements),
                status_counts=dict(Counter(statuses.get(r.id, "not_evaluated") for r in fw.requirements)),
                requirements=[
                    RequirementStatusItem(
                        id=r.id,
                        title=r.title,
                        status=statuses.get(r.id, "not_evaluated"),
                        is_manual=r.is_manual,
                        open_findings=sum(open_by_check[c] for c in r.checks),
                    )
                    for r in fw.requirements
                ]
                if framework
                else [],
            )
        )
    return FrameworkStatus(run=_run_info(run), frameworks=summaries)


def find_findings(
    session: Session, catalog: Catalog, flt: FindingFilter, *, page: int, limit: int
) -> FindingsPage:
    """One page of the findings matching the filter, most severe first."""
    if flt.framework:
        _check_framework(catalog, flt.framework)
        if flt.requirement and catalog.frameworks[flt.framework].requirement(flt.requirement) is None:
            known = [r.id for r in catalog.frameworks[flt.framework].requirements]
            raise _unknown("requirement", flt.requirement, known)
    if flt.check and flt.check not in catalog.checks:
        raise _unknown("check", flt.check, sorted(catalog.checks))
    rows, total = page_findings(session, catalog, flt, sort="severity", page=page, per_page=limit)
    excepted = active_exception_finding_ids(session, datetime.now(UTC))
    return FindingsPage(
        total=total,
        page=page,
        limit=limit,
        has_more=page * limit < total,
        items=[_finding_item(f, catalog, excepted) for f in rows],
    )


def find_agents(
    session: Session,
    *,
    team: str | None = None,
    environment: str | None = None,
    page: int = 1,
    limit: int = 50,
) -> AgentsPage:
    """One page of the inventory's agents, by id, with their open finding counts."""
    agents = [
        a
        for a in sorted(load_inventory(session).agents, key=lambda a: a.id)
        if (team is None or a.team == team) and (environment is None or a.environment == environment)
    ]
    shown = agents[(page - 1) * limit : page * limit]
    counts = dict(
        session.execute(
            select(Finding.agent_id, func.count())
            .where(Finding.status.in_(ACTIVE_STATUSES), Finding.agent_id.in_([a.id for a in shown]))
            .group_by(Finding.agent_id)
        ).all()
    )
    return AgentsPage(
        total=len(agents),
        page=page,
        limit=limit,
        has_more=page * limit < len(agents),
        items=[
            AgentSummary(
                id=a.id,
                name=a.name,
                owner=a.owner,
                team=a.team,
                environment=a.environment,
                status=a.status,
                autonomy=a.autonomy,
                open_findings=counts.get(a.id, 0),
            )
            for a in shown
        ],
    )


def build_agent_governance(
    session: Session, catalog: Catalog, agent_id: str, *, calls_limit: int = 20
) -> AgentGovernance:
    """Who owns and approved an agent, what it held and tried to do, what is open and which controls fail."""
    now = datetime.now(UTC)
    profile = agent_profile(session, agent_id, now=now)
    if profile is None:
        known = [a.id for a in load_inventory(session).agents]
        raise _unknown("agent", agent_id, sorted(known))
    agent = profile.agent
    excepted = active_exception_finding_ids(session, now)
    run = latest_run(session)
    statuses = run.requirement_statuses if run else {}
    failing: dict[tuple[str, str], set[str]] = defaultdict(set)
    for finding in profile.findings:
        if finding.id in excepted:
            continue
        for framework_id, requirement_id in catalog.requirements_by_check.get(finding.check_id, ()):
            if statuses.get(framework_id, {}).get(requirement_id) == "fail":
                failing[(framework_id, requirement_id)].add(finding.check_id)
    approvals = sorted(
        profile.approvals,
        key=lambda a: (a.approved_at is not None, _utc(a.approved_at) or now),
        reverse=True,
    )
    findings = sorted(
        profile.findings, key=lambda f: (SEVERITIES.index(f.severity), f.check_id, f.subject_id)
    )
    return AgentGovernance(
        agent=AgentInfo(
            id=agent.id,
            name=agent.name,
            owner=agent.owner,
            team=agent.team,
            environment=agent.environment,
            status=agent.status,
            autonomy=agent.autonomy,
            purpose=agent.purpose,
            identity_kind=agent.identity_kind,
            identity_id=agent.identity_id,
            is_identity_attested=agent.identity_attested,
            last_reviewed_at=_utc(agent.last_reviewed_at),
            review_interval_days=agent.review_interval_days,
        ),
        credentials=[
            CredentialInfo(
                id=c.id,
                kind=c.kind,
                issuer=c.issuer,
                audience=c.audience,
                scopes=list(c.scopes),
                ttl_seconds=c.ttl_seconds,
                expires_at=_utc(c.expires_at),
                last_rotated_at=_utc(c.last_rotated_at),
                revoked_at=_utc(c.revoked_at),
                storage=c.storage,
                fingerprint=c.fingerprint,
                held_by=list(holders),
            )
            for c, holders in profile.credentials[:MAX_LIMIT]
        ],
        accesses=[
            AccessInfo(
                tool=a.tool.ref,
                sensitivity=a.tool.sensitivity,
                is_sensitive=a.tool.is_sensitive,
                allowed_by=[p.id for p in a.allows],
                denied_by=[p.id for p in a.denies],
                is_approval_required=any(p.require_approval for p in a.allows),
            )
            for a in profile.accesses[:MAX_LIMIT]
        ],
        accesses_total=len(profile.accesses),
        delegates_to=list(agent.delegates_to),
        delegated_by=profile.delegated_by,
        approvals=[
            ApprovalInfo(
                id=a.id,
                tool=a.tool,
                task=a.task,
                approved_by=a.approved_by,
                approved_at=_utc(a.approved_at),
                expires_at=_utc(a.expires_at),
                credential_issued=a.credential_issued,
            )
            for a in approvals[:MAX_LIMIT]
        ],
        approvals_total=len(approvals),
        recent_calls=[
            CallInfo(
                at=_utc(c.at),
                tool=c.tool,
                decision=c.decision,
                task=c.task,
                approval=c.approval,
                credential=c.credential,
                chain_depth=c.chain_depth,
                delegated_by=c.delegated_by,
            )
            for c in profile.calls[:calls_limit]
        ],
        calls_total=profile.call_count,
        open_findings=[_finding_item(f, catalog, excepted) for f in findings[:MAX_LIMIT]],
        open_findings_total=len(findings),
        failing_controls=[
            ControlRef(
                framework_id=fw,
                requirement_id=req,
                title=catalog.frameworks[fw].requirement(req).title,
                status="fail",
                check_ids=sorted(checks),
            )
            for (fw, req), checks in sorted(failing.items())
            if fw in catalog.frameworks and catalog.frameworks[fw].requirement(req) is not None
        ],
    )


def build_requirement_evidence(
    session: Session, catalog: Catalog, framework: str, requirement: str, *, findings_limit: int = 10
) -> RequirementEvidence:
    """A requirement's status, its checks with what they examined and found, and its attestation."""
    _check_framework(catalog, framework)
    fw = catalog.frameworks[framework]
    req = fw.requirement(requirement)
    if req is None:
        raise _unknown("requirement", requirement, [r.id for r in fw.requirements])
    now = datetime.now(UTC)
    run = latest_run(session)
    excepted = active_exception_finding_ids(session, now)
    checks = []
    for check_id in req.checks:
        meta = catalog.checks[check_id]
        stats = (run.check_stats.get(check_id) if run else None) or {}
        rows, total = page_findings(
            session, catalog, FindingFilter(check=check_id), sort="severity", page=1, per_page=findings_limit
        )
        checks.append(
            CheckEvidenceInfo(
                id=check_id,
                title=meta.title,
                severity=meta.severity,
                domain=meta.domain,
                examined=stats.get("examined", 0),
                passed=stats.get("passed", 0),
                failed=stats.get("failed", 0),
                error=run.check_errors.get(check_id) if run else None,
                open_findings_total=total,
                findings=[_finding_item(f, catalog, excepted) for f in rows],
            )
        )
    attestation = current_attestations(session, now).get((framework, requirement))
    return RequirementEvidence(
        framework_id=fw.id,
        framework_name=fw.name,
        requirement=RequirementInfo(
            id=req.id,
            title=req.title,
            summary=req.summary,
            parent=req.parent,
            is_manual=req.is_manual,
            mapping_note=req.mapping_note,
        ),
        status=(run.requirement_statuses.get(framework, {}).get(requirement) if run else None)
        or "not_evaluated",
        run=_run_info(run),
        checks=checks,
        attestation=None
        if attestation is None
        else AttestationInfo(
            statement=attestation.statement,
            is_not_applicable=attestation.is_not_applicable,
            evidence_url=attestation.evidence_url,
            evidence_file_name=attestation.evidence_file_name,
            evidence_sha256=attestation.evidence_sha256,
            attested_by=attestation.attested_by,
            attested_at=_utc(attestation.attested_at),
            expires_at=_utc(attestation.expires_at),
        ),
        related=requirement_neighbours(catalog, framework, requirement),
    )


# ---- Readable summaries: the text a person (or a model without structured output) reads. ----


def _run_line(run: RunInfo | None) -> str:
    if run is None:
        return "No evaluation has run yet (run `steward evaluate`)."
    return f"As of evaluation #{run.id} ({_when(run.started_at)}, catalog {run.catalog_hash[:12]})."


def _finding_line(f: FindingItem) -> str:
    accepted = " (risk accepted)" if f.is_risk_accepted else ""
    return f"  #{f.id} [{f.severity}] {f.check_id} on {f.subject_kind} {f.subject_id}{accepted}: {f.detail}"


def render_framework_status(result: FrameworkStatus) -> str:
    """Scores and requirement counts, one line per framework (and per requirement when asked)."""
    lines = [_run_line(result.run)]
    for fw in result.frameworks:
        score = "n/a" if fw.score is None else f"{fw.score:.1f}%"
        counts = " · ".join(f"{status} {n}" for status, n in sorted(fw.status_counts.items()))
        lines.append(f"{fw.name} ({fw.id}, {fw.version}): score {score}; {counts}")
        lines.extend(
            f"  {r.id} {r.title}: {r.status}"
            + (f" (open findings: {r.open_findings})" if r.open_findings else "")
            for r in fw.requirements
        )
    return "\n".join(lines)


def render_findings(result: FindingsPage) -> str:
    """One line per finding, with where the page sits in the total."""
    if not result.items:
        return f"No findings match (total {result.total})."
    first = (result.page - 1) * result.limit + 1
    lines = [
        f"{result.total} findings match; showing {first}–{first + len(result.items) - 1}, most severe first."
    ]
    lines.extend(_finding_line(f) for f in result.items)
    if result.has_more:
        lines.append(f"More: call again with page={result.page + 1}.")
    return "\n".join(lines)


def render_agents(result: AgentsPage) -> str:
    """One line per agent."""
    if not result.items:
        return f"No agents match (total {result.total})."
    lines = [f"{result.total} agents; showing {len(result.items)} from page {result.page}."]
    lines.extend(
        f"  {a.id} ({a.name or 'unnamed'}): {a.environment}, team {a.team or '-'}, owner {a.owner or '-'}, "
        f"{a.status}, {a.autonomy}; open findings: {a.open_findings}"
        for a in result.items
    )
    if result.has_more:
        lines.append(f"More: call again with page={result.page + 1}.")
    return "\n".join(lines)


def render_agent_governance(result: AgentGovernance) -> str:
    """The agent's governance summary as an auditor would read it."""
    a = result.agent
    identity = f"{a.identity_kind} {a.identity_id or '(no id)'}"
    lines = [
        f"{a.id} ({a.name or 'unnamed'}): {a.environment}, team {a.team or '-'}, {a.status}, {a.autonomy}.",
        f"Owner: {a.owner or 'nobody recorded'}. Purpose: {(a.purpose or 'not declared').rstrip('.')}.",
        f"Identity: {identity}{' (attested)' if a.is_identity_attested else ' (not attested)'}; "
        f"last reviewed {_when(a.last_reviewed_at)} (every {a.review_interval_days} days).",
        f"Credentials ({len(result.credentials)}):",
    ]
    lines.extend(
        f"  {c.id}: {c.kind}, storage {c.storage}, "
        f"{f'ttl {c.ttl_seconds} s' if c.ttl_seconds else 'no ttl'}, audience {c.audience or '-'}"
        + (f", fingerprint {c.fingerprint}" if c.fingerprint else "")
        for c in result.credentials
    )
    lines.append(f"Tools it reaches ({result.accesses_total}):")
    lines.extend(
        f"  {t.tool} [{t.sensitivity}{', sensitive' if t.is_sensitive else ''}]: "
        + (f"denied by {', '.join(t.denied_by)}" if t.denied_by else "")
        + (f"allowed by {', '.join(t.allowed_by)}" if t.allowed_by and not t.denied_by else "")
        + ("no policy governs it" if not t.allowed_by and not t.denied_by else "")
        + (" (human approval required)" if t.is_approval_required and not t.denied_by else "")
        for t in result.accesses
    )
    if result.delegates_to or result.delegated_by:
        lines.append(
            f"Delegates to: {', '.join(result.delegates_to) or '-'}; "
            f"delegated by: {', '.join(result.delegated_by) or '-'}."
        )
    lines.append(f"Approvals ({result.approvals_total}, newest first):")
    lines.extend(
        f'  {p.id}: {p.tool} for "{p.task or "no task recorded"}", '
        f"approved by {p.approved_by or 'nobody recorded'} "
        f"at {_when(p.approved_at)}, expires {_when(p.expires_at)}, "
        f"ephemeral credential issued: {p.credential_issued or 'none recorded'}"
        for p in result.approvals
    )
    lines.append(f"Recent tool calls ({len(result.recent_calls)} of {result.calls_total}, newest first):")
    lines.extend(
        f'  {c.at:%Y-%m-%d %H:%M}Z {c.tool} {c.decision}: task "{c.task or "-"}", '
        f"approval {c.approval or '-'}, credential {c.credential or '-'}"
        for c in result.recent_calls
    )
    lines.append(f"Open findings ({result.open_findings_total}):")
    lines.extend(_finding_line(f) for f in result.open_findings)
    if result.failing_controls:
        lines.append("Failing controls these findings evidence:")
        lines.extend(
            f"  {c.framework_id} {c.requirement_id} {c.title} (checks: {', '.join(c.check_ids)})"
            for c in result.failing_controls
        )
    else:
        lines.append("No failing control is evidenced by this agent's open findings.")
    return "\n".join(lines)


def render_requirement_evidence(result: RequirementEvidence) -> str:
    """The requirement, its status and each check's evidence, then its attestation."""
    r = result.requirement
    lines = [
        f"{result.framework_name} ({result.framework_id}) {r.id} {r.title}: {result.status}.",
        _run_line(result.run),
        r.summary,
    ]
    if r.is_manual:
        lines.append("Manual requirement: met by a human attestation with evidence.")
    for c in result.checks:
        lines.append(
            f"Check {c.id} [{c.severity}] {c.title}: examined {c.examined}, passed {c.passed}, "
            f"failed {c.failed}; {c.open_findings_total} open findings"
            + (f"; crashed: {c.error}" if c.error else "")
        )
        lines.extend(_finding_line(f) for f in c.findings)
        if c.open_findings_total > len(c.findings):
            lines.append(
                f"  … and {c.open_findings_total - len(c.findings)} more (list_findings check={c.id})."
            )
    t = result.attestation
    if t is not None:
        evidence = t.evidence_url or t.evidence_file_name or "-"
        kind = "not applicable" if t.is_not_applicable else "met"
        lines.append(
            f"Attested {kind} by {t.attested_by} at {_when(t.attested_at)} (expires {_when(t.expires_at)}): "
            f"{t.statement} Evidence: {evidence}."
        )
    elif r.is_manual:
        lines.append("No current attestation.")
    if result.related:
        lines.append(
            "Shares checks with: "
            + "; ".join(f"{fw} {', '.join(reqs)}" for fw, reqs in sorted(result.related.items()))
        )
    return "\n".join(lines)


def _answer(result: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
    )


# ---- The server. ----


def token_actor(record: ApiToken) -> str:
    """How the audit trail names a caller that presented this API token (as the JSON API does)."""
    return f"api:{record.prefix}({record.name})"


def local_actor(settings) -> str:
    """How the audit trail names the local user of a stdio server."""
    if settings.actor:
        return f"stdio:{settings.actor}"
    try:
        return f"stdio:{getpass.getuser()}"
    except (KeyError, OSError):
        return "stdio"


class ApiTokenVerifier:
    """Checks a bearer value against Steward's API tokens: hashed, expiring, revocable, with a role."""

    def __init__(self, app: Flask):
        self.app = app

    async def verify_token(self, token: str) -> AccessToken | None:
        return await anyio.to_thread.run_sync(self._verify, token)

    def _verify(self, token: str) -> AccessToken | None:
        with session_scope(get_engine(self.app)) as session:
            record = authenticate_token(session, token)  # also keeps last_used_at
            if record is None or ROLE_RANK.get(record.role, -1) < ROLE_RANK[Role.VIEWER.value]:
                return None
            return AccessToken(
                token=record.prefix,  # the bearer value itself is kept nowhere
                client_id=token_actor(record),
                subject=f"api-token:{record.id}",
                scopes=[record.role],
                expires_at=int(_utc(record.expires_at).timestamp()),
            )


def _bounded(arguments: Any) -> Any:
    text = json.dumps(arguments, default=str, ensure_ascii=False)
    if len(text) <= MAX_RECORDED_ARGUMENTS:
        return arguments
    return {"truncated": text[:MAX_RECORDED_ARGUMENTS]}


class AuditMiddleware:
    """Records every tools/call in the audit trail: who called which tool with what, and how it ended."""

    def __init__(self, app: Flask, fallback_actor: str | None):
        self.app = app
        self.fallback_actor = fallback_actor

    def actor(self, ctx) -> str | None:
        scope = getattr(ctx.request, "scope", None) or {}
        user = scope.get("user")
        access_token = getattr(user, "access_token", None)
        return access_token.client_id if access_token is not None else self.fallback_actor

    async def __call__(self, ctx, call_next):
        if ctx.method != "tools/call":
            return await call_next(ctx)
        actor = self.actor(ctx)
        if actor is None:
            # Only reachable if a transport let an unauthenticated request through: refuse it.
            raise MCPError(code=INVALID_REQUEST, message="authentication required")
        params = ctx.params or {}
        name = str(params.get("name", ""))[:200]
        arguments = params.get("arguments") or {}
        outcome = "error"
        try:
            result = await call_next(ctx)
            is_error = getattr(result, "is_error", None)
            if isinstance(result, dict):
                is_error = result.get("isError")
            outcome = "error" if is_error else "ok"
            return result
        finally:
            await anyio.to_thread.run_sync(self._record, actor, name, arguments, outcome)

    def _record(self, actor: str, name: str, arguments: Any, outcome: str) -> None:
        with session_scope(get_engine(self.app)) as session:
            record_change(
                session,
                actor=actor,
                action="mcp.call",
                target=name,
                detail={"arguments": _bounded(arguments), "outcome": outcome},
            )


class StewardMCPServer(MCPServer):
    """An MCPServer whose argument errors name each field at fault and what it expects, in one line."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'arguments'}: {error['msg']}"
                for error in exc.__cause__.errors()
            )
            # The cause stays the ValidationError: the SDK then logs field names only, never values.
            raise ToolError(f"Error executing tool {name}: {problems}") from exc.__cause__


FrameworkArg = Annotated[
    str | None,
    Field(
        max_length=100,
        description="A framework id such as owasp-asi-2026, csa-maestro or nist-ai-rmf-1.0; omit for all",
    ),
]
Severity = Literal[SEVERITIES]
Environment = Literal[ENVIRONMENTS]
PageArg = Annotated[int, Field(ge=1, le=MAX_PAGE, description="Page number, from 1")]


def create_mcp_server(app: Flask, *, local_user: str | None = None, auth_url: str | None = None) -> MCPServer:
    """Steward's MCP server over the app's database and catalog.

    With auth_url (the server's own base URL) every HTTP request must carry a Steward API token;
    with local_user calls are attributed to that local user (stdio).
    """
    if (local_user is None) == (auth_url is None):
        raise ValueError("give exactly one of local_user (stdio) or auth_url (HTTP with API tokens)")
    auth = None
    if auth_url is not None:
        auth = AuthSettings(issuer_url=auth_url, resource_server_url=None, validate_token_resource=False)
    server = StewardMCPServer(
        SERVER_NAME,
        title="Steward",
        instructions=INSTRUCTIONS,
        version=version("steward"),
        token_verifier=ApiTokenVerifier(app) if auth else None,
        auth=auth,
        log_level="WARNING",
        middleware=[AuditMiddleware(app, local_user)],
    )

    @contextmanager
    def reading() -> Iterator[tuple[Session, Catalog]]:
        session = Session(get_engine(app), expire_on_commit=False)
        try:
            yield session, get_catalog(app)
        finally:
            session.rollback()  # nothing here writes; the audit entry has its own transaction
            session.close()

    @server.tool(
        title="Framework status",
        description=(
            "Each control framework's compliance score (passing over applicable requirements) and how many "
            "requirements pass, fail, lack data or await attestation, as of the newest evaluation run. Give "
            "a framework id to list every requirement of that framework with its status."
        ),
        annotations=_read_only("Framework status"),
    )
    def framework_status(framework: FrameworkArg = None) -> Annotated[CallToolResult, FrameworkStatus]:
        with reading() as (session, catalog):
            result = build_framework_status(session, catalog, framework=framework)
        return _answer(result, render_framework_status(result))

    @server.tool(
        title="List findings",
        description=(
            "Gap findings (a check failing for one agent, credential, tool access, policy, server or "
            "approval), most severe first, filtered and paged. Open findings by default."
        ),
        annotations=_read_only("List findings"),
    )
    def list_findings(
        framework: FrameworkArg = None,
        requirement: Annotated[
            str | None,
            Field(
                max_length=100, description="A requirement id of the framework, e.g. ASI02 or 'GOVERN 3.2'"
            ),
        ] = None,
        severity: Annotated[Severity | None, Field(description="Only this severity")] = None,
        check: Annotated[str | None, Field(max_length=100, description="Only this check id")] = None,
        agent: Annotated[
            str | None, Field(max_length=200, description="Only findings about this agent id")
        ] = None,
        team: Annotated[str | None, Field(max_length=200, description="Only agents of this team")] = None,
        environment: Annotated[
            Environment | None, Field(description="Only agents in this environment")
        ] = None,
        status: Annotated[
            Literal["open", "resolved", "reopened", "all"],
            Field(description="open (includes reopened), resolved, reopened or all"),
        ] = "open",
        text: Annotated[
            str | None, Field(max_length=200, description="Words in the detail, subject or check id")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Findings per page")] = 20,
        page: PageArg = 1,
    ) -> Annotated[CallToolResult, FindingsPage]:
        if requirement and not framework:
            raise ToolError("requirement: give the framework it belongs to as well")
        flt = FindingFilter(
            framework=framework,
            requirement=requirement,
            severity=severity,
            check=check,
            agent=agent,
            team=team,
            environment=environment,
            status=status,
            text=text,
        )
        with reading() as (session, catalog):
            result = find_findings(session, catalog, flt, page=page, limit=limit)
        return _answer(result, render_findings(result))

    @server.tool(
        title="List agents",
        description="The inventory's AI agents by id, with owner, team, environment and open finding count.",
        annotations=_read_only("List agents"),
    )
    def list_agents(
        team: Annotated[str | None, Field(max_length=200, description="Only agents of this team")] = None,
        environment: Annotated[
            Environment | None, Field(description="Only agents in this environment")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Agents per page")] = 50,
        page: PageArg = 1,
    ) -> Annotated[CallToolResult, AgentsPage]:
        with reading() as (session, _catalog):
            result = find_agents(session, team=team, environment=environment, page=page, limit=limit)
        return _answer(result, render_agents(result))

    @server.tool(
        title="Agent governance summary",
        description=(
            "One agent's governance summary: who owns it and what it is for, its identity, the credentials "
            "it holds (metadata and fingerprints only), the tools it reaches and the policies that decide "
            "them, the human approvals of its tasks with the ephemeral credential issued for each, its "
            "recent tool calls (task, approval, credential), its open findings and the framework "
            "requirements those findings make fail."
        ),
        annotations=_read_only("Agent governance summary"),
    )
    def agent_governance(
        agent_id: Annotated[str, Field(min_length=1, max_length=200, description="The agent's id")],
        calls_limit: Annotated[
            int, Field(ge=0, le=MAX_LIMIT, description="How many of the newest tool calls to include")
        ] = 20,
    ) -> Annotated[CallToolResult, AgentGovernance]:
        with reading() as (session, catalog):
            result = build_agent_governance(session, catalog, agent_id, calls_limit=calls_limit)
        return _answer(result, render_agent_governance(result))

    @server.tool(
        title="Requirement evidence",
        description=(
            "The evidence behind one framework requirement: its status in the newest run, each mapped check "
            "with how many subjects it examined, passed and failed and its open findings, the current "
            "attestation for a manual requirement, and the requirements of other frameworks sharing its "
            "checks."
        ),
        annotations=_read_only("Requirement evidence"),
    )
    def requirement_evidence(
        framework: Annotated[
            str, Field(min_length=1, max_length=100, description="A framework id such as owasp-asi-2026")
        ],
        requirement: Annotated[
            str, Field(min_length=1, max_length=100, description="A requirement id such as ASI02")
        ],
        findings_limit: Annotated[
            int, Field(ge=0, le=MAX_LIMIT, description="Open findings to include per check")
        ] = 10,
    ) -> Annotated[CallToolResult, RequirementEvidence]:
        with reading() as (session, catalog):
            result = build_requirement_evidence(
                session, catalog, framework, requirement, findings_limit=findings_limit
            )
        return _answer(result, render_requirement_evidence(result))

    return server


def base_url(host: str, port: int) -> str:
    """The http URL of a host and port (IPv6 literals in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve_stdio(app: Flask, *, local_user: str) -> None:
    """Serve the tools over stdin/stdout until the client closes them."""
    create_mcp_server(app, local_user=local_user).run("stdio")


def http_app(app: Flask, *, host: str, port: int):
    """The streamable HTTP (ASGI) application at /mcp, refusing requests without a valid API token."""
    server = create_mcp_server(app, auth_url=base_url(host, port))
    return server.streamable_http_app(host=host)


def serve_http(app: Flask, *, host: str, port: int) -> None:
    """Serve the tools over streamable HTTP at /mcp until interrupted."""
    import uvicorn

    uvicorn.run(http_app(app, host=host, port=port), host=host, port=port, log_level="warning")
