"""Findings: a filterable, sortable, paginated list; a page per finding; accepting a risk; the exceptions."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import yaml
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.assessment import SORTS, DecisionError, FindingFilter, accept_risk, page_findings
from app.catalog import SEVERITIES, get_catalog
from app.db import get_db
from app.evaluation import run_evaluation
from app.inventory.profile import subject_record
from app.models.assessment import Finding, FindingEvent, RiskAcceptance
from app.models.users import Role
from app.posture import exception_rows
from app.security import requires

bp = Blueprint("findings", __name__)

PER_PAGE = 50
FILTER_FIELDS = (
    "framework",
    "requirement",
    "severity",
    "status",
    "check",
    "agent",
    "team",
    "environment",
    "q",
)


@bp.route("/findings")
def index():
    catalog = get_catalog(current_app)
    args = {k: request.args.get(k, "").strip() for k in FILTER_FIELDS}
    status = args["status"] or "open"
    if status not in ("open", "resolved", "reopened", "all"):
        status = "open"
    flt = FindingFilter(
        framework=args["framework"] or None,
        requirement=args["requirement"] or None,
        severity=args["severity"] if args["severity"] in SEVERITIES else None,
        check=args["check"] or None,
        agent=args["agent"] or None,
        team=args["team"] or None,
        environment=args["environment"] or None,
        status=status,
        text=args["q"] or None,
    )
    sort = request.args.get("sort", "severity")
    sort = sort if sort in SORTS else "severity"
    page = max(1, request.args.get("page", 1, type=int) or 1)
    rows, total = page_findings(get_db(), catalog, flt, sort=sort, page=page, per_page=PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    active = {k: v for k, v in args.items() if v}

    def link(**changes) -> str:
        params = {**active, "sort": sort, **changes}
        return url_for("findings.index") + "?" + urlencode({k: v for k, v in params.items() if v})

    return render_template(
        "findings/index.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        args=args,
        status=status,
        sort=sort,
        link=link,
        catalog=catalog,
        severities=SEVERITIES,
    )


@bp.route("/findings/<int:finding_id>")
def show(finding_id: int):
    db = get_db()
    finding = db.get(Finding, finding_id)
    if finding is None:
        abort(404)
    catalog = get_catalog(current_app)
    meta = catalog.checks.get(finding.check_id)
    history = (
        db.execute(
            select(FindingEvent).where(FindingEvent.finding_id == finding.id).order_by(FindingEvent.id)
        )
        .scalars()
        .all()
    )
    acceptances = (
        db.execute(
            select(RiskAcceptance)
            .where(RiskAcceptance.finding_id == finding.id)
            .order_by(RiskAcceptance.id.desc())
        )
        .scalars()
        .all()
    )
    now = datetime.now(UTC)
    active = next((a for a in acceptances if a.revoked_at is None and _aware(a.expires_at) > now), None)
    record = subject_record(db, finding.subject_kind, finding.subject_id)
    evidence = yaml.safe_dump(record, sort_keys=False, allow_unicode=True) if record else None
    return render_template(
        "findings/show.html",
        finding=finding,
        meta=meta,
        history=history,
        acceptances=acceptances,
        active=active,
        evidence=evidence,
        requirements=catalog.requirements_by_check.get(finding.check_id, []),
        catalog=catalog,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@bp.route("/findings/<int:finding_id>/accept", methods=["POST"])
@requires(Role.ANALYST)
def accept(finding_id: int):
    db = get_db()
    raw = request.form.get("expires_at", "")
    try:
        expires_at = datetime.fromisoformat(raw).replace(tzinfo=UTC) if raw else None
    except ValueError:
        flash(f"Not recorded: expires_at: {raw!r} is not a date such as 2027-03-31.", "error")
        return redirect(url_for("findings.show", finding_id=finding_id))
    try:
        accept_risk(
            db,
            finding_id=finding_id,
            justification=request.form.get("justification", ""),
            accepted_by=g.user.username,
            expires_at=expires_at,
        )
    except DecisionError as exc:
        db.rollback()
        flash(f"Not recorded: {exc}.", "error")
        return redirect(url_for("findings.show", finding_id=finding_id))
    run_evaluation(
        db,
        catalog=get_catalog(current_app),
        settings=current_app.config["STEWARD"],
        trigger="exception",
        actor=g.user.username,
    )
    db.commit()
    flash(
        "Risk accepted. The finding stays open but no longer counts against the score until the expiry.",
        "success",
    )
    return redirect(url_for("findings.show", finding_id=finding_id))


@bp.route("/exceptions")
def exceptions():
    return render_template(
        "findings/exceptions.html", rows=exception_rows(get_db()), now=datetime.now(UTC), aware=_aware
    )
