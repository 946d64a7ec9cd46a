"""Human decisions on findings and requirements: risk acceptances, attestations, and finding queries."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, literal_column, or_, select
from sqlmodel import Session

from app.audit import record_change
from app.catalog import Catalog
from app.models.assessment import (
    ACTIVE_STATUSES,
    SEVERITY_ORDER_SQL,
    Attestation,
    Finding,
    RiskAcceptance,
)

MAX_EXCEPTION_DAYS = 366
MAX_ATTESTATION_DAYS = 366


class DecisionError(ValueError):
    """A risk acceptance or attestation that cannot be recorded as asked; nothing was written."""


def _check_expiry(expires_at: datetime | None, now: datetime, max_days: int, what: str) -> datetime:
    if expires_at is None:
        raise DecisionError(f"expires_at: missing; {what} must expire (at most {max_days - 1} days from now)")
    expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
    if expires_at <= now:
        raise DecisionError(f"expires_at: {expires_at:%Y-%m-%d} is not in the future")
    if expires_at - now > timedelta(days=max_days):
        raise DecisionError(
            f"expires_at: {expires_at:%Y-%m-%d} is more than a year away; {what} lasts at most a year"
        )
    return expires_at


def accept_risk(
    session: Session,
    *,
    finding_id: int,
    justification: str,
    accepted_by: str,
    expires_at: datetime | None,
    now: datetime | None = None,
) -> RiskAcceptance:
    """Accept an open finding's risk; the finding leaves the scores until the acceptance expires."""
    now = now or datetime.now(UTC)
    finding = session.get(Finding, finding_id)
    if finding is None:
        raise DecisionError(f"finding {finding_id}: no such finding")
    if finding.status not in ACTIVE_STATUSES:
        raise DecisionError(
            f"finding {finding_id}: is {finding.status}; only an open finding's risk can be accepted"
        )
    if not justification or not justification.strip():
        raise DecisionError("justification: missing; say why the risk is acceptable")
    if not accepted_by or not accepted_by.strip():
        raise DecisionError("accepted_by: missing; name who accepts the risk")
    acceptance = RiskAcceptance(
        finding_id=finding_id,
        justification=justification.strip(),
        accepted_by=accepted_by.strip(),
        accepted_at=now,
        expires_at=_check_expiry(expires_at, now, MAX_EXCEPTION_DAYS, "a risk acceptance"),
    )
    session.add(acceptance)
    session.flush()
    record_change(
        session,
        actor=acceptance.accepted_by,
        action="finding.accept_risk",
        target=f"finding #{finding_id}",
        detail={
            "check": finding.check_id,
            "subject": finding.subject_id,
            "justification": acceptance.justification,
            "expires_at": acceptance.expires_at.isoformat(),
        },
        at=now,
    )
    return acceptance


def attest_requirement(
    session: Session,
    *,
    catalog: Catalog,
    framework_id: str,
    requirement_id: str,
    statement: str,
    attested_by: str,
    expires_at: datetime | None,
    evidence_url: str | None = None,
    evidence_file: Path | None = None,
    attachments_dir: Path | None = None,
    is_not_applicable: bool = False,
    now: datetime | None = None,
) -> Attestation:
    """Attest that a manual requirement is met (or not applicable), with a link or a file as evidence."""
    now = now or datetime.now(UTC)
    framework = catalog.frameworks.get(framework_id)
    if framework is None:
        raise DecisionError(
            f"framework: {framework_id!r} is not one of {', '.join(sorted(catalog.frameworks))}"
        )
    requirement = framework.requirement(requirement_id)
    if requirement is None:
        raise DecisionError(f"requirement: {requirement_id!r} is not a requirement of {framework_id}")
    if not requirement.is_manual:
        raise DecisionError(
            f"requirement: {requirement_id} is evidenced by checks ({', '.join(requirement.checks)}); "
            "only a manual requirement is attested"
        )
    if not statement or not statement.strip():
        raise DecisionError("statement: missing; say what is in place")
    if not attested_by or not attested_by.strip():
        raise DecisionError("attested_by: missing; name who attests")
    if not evidence_url and evidence_file is None:
        raise DecisionError("evidence: missing; give a link or a file")
    if evidence_url and not evidence_url.startswith(("https://", "http://")):
        raise DecisionError(f"evidence_url: {evidence_url!r} is not an http(s) link")
    expires = _check_expiry(expires_at, now, MAX_ATTESTATION_DAYS, "an attestation")
    file_name = digest = None
    if evidence_file is not None:
        if not evidence_file.is_file():
            raise DecisionError(f"evidence_file: {evidence_file} is not a readable file")
        digest = hashlib.sha256(evidence_file.read_bytes()).hexdigest()
        attachments_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(evidence_file, attachments_dir / digest)
        file_name = evidence_file.name
    attestation = Attestation(
        framework_id=framework_id,
        requirement_id=requirement_id,
        is_not_applicable=is_not_applicable,
        statement=statement.strip(),
        evidence_url=evidence_url,
        evidence_file_name=file_name,
        evidence_sha256=digest,
        attested_by=attested_by.strip(),
        attested_at=now,
        expires_at=expires,
    )
    session.add(attestation)
    session.flush()
    record_change(
        session,
        actor=attestation.attested_by,
        action="requirement.attest",
        target=f"{framework_id} {requirement_id}",
        detail={
            "not_applicable": is_not_applicable,
            "statement": attestation.statement,
            "evidence_url": evidence_url,
            "evidence_sha256": digest,
            "expires_at": expires.isoformat(),
        },
        at=now,
    )
    return attestation


@dataclass(frozen=True)
class FindingFilter:
    """The filters a findings list accepts; None means any."""

    framework: str | None = None
    requirement: str | None = None
    severity: str | None = None
    check: str | None = None
    agent: str | None = None
    team: str | None = None
    environment: str | None = None
    status: str = "open"
    text: str | None = None


def _filtered(catalog: Catalog, flt: FindingFilter):
    query = select(Finding)
    if flt.status == "open":
        query = query.where(Finding.status.in_(ACTIVE_STATUSES))
    elif flt.status != "all":
        query = query.where(Finding.status == flt.status)
    check_ids = None
    if flt.framework or flt.requirement:
        check_ids = {
            check_id
            for framework in catalog.frameworks.values()
            if not flt.framework or framework.id == flt.framework
            for requirement in framework.requirements
            if not flt.requirement or requirement.id == flt.requirement
            for check_id in requirement.checks
        }
    if flt.check:
        check_ids = {flt.check} if check_ids is None else check_ids & {flt.check}
    if check_ids is not None:
        query = query.where(Finding.check_id.in_(sorted(check_ids)))
    for column, value in (
        (Finding.severity, flt.severity),
        (Finding.team, flt.team),
        (Finding.environment, flt.environment),
    ):
        if value:
            query = query.where(column == value)
    if flt.agent:
        query = query.where(or_(Finding.agent_id == flt.agent, Finding.subject_id == flt.agent))
    if flt.text:
        like = f"%{flt.text.lower()}%"
        query = query.where(
            or_(
                func.lower(Finding.detail).like(like),
                func.lower(Finding.subject_id).like(like),
                func.lower(Finding.check_id).like(like),
            )
        )
    return query


# The index ix_finding_severity_order's own expression, so that a page is read from the index in order.
SEVERITY_ORDER = literal_column(SEVERITY_ORDER_SQL)
SORTS = {
    "severity": (SEVERITY_ORDER, Finding.check_id, Finding.subject_id),
    "check": (Finding.check_id, Finding.subject_id),
    "subject": (Finding.subject_id, Finding.check_id),
    "first_seen": (Finding.first_seen_at.desc(), Finding.id),
    "last_seen": (Finding.last_seen_at.desc(), Finding.id),
    "agent": (Finding.agent_id, SEVERITY_ORDER),
}


def list_findings(session: Session, catalog: Catalog, flt: FindingFilter) -> list[Finding]:
    """Every finding matching the filter, most severe first."""
    return list(session.execute(_filtered(catalog, flt).order_by(*SORTS["severity"])).scalars())


def page_findings(
    session: Session, catalog: Catalog, flt: FindingFilter, *, sort: str, page: int, per_page: int
) -> tuple[list[Finding], int]:
    """One page of the findings matching the filter, sorted in the database, and the total count."""
    query = _filtered(catalog, flt)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    order = SORTS.get(sort, SORTS["severity"])
    if flt.severity and order[0] is SEVERITY_ORDER:
        # One severity: its rank is the same on every row, and without it the order is an index's.
        order = order[1:]
    rows = session.execute(query.order_by(*order).limit(per_page).offset((page - 1) * per_page)).scalars()
    return list(rows), total
