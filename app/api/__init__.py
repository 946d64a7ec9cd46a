"""The JSON API under /api/v1: bearer tokens, the inventory contract as JSON, findings, statuses, runs.

Errors are JSON with a message and, where one field is at fault, its path; never a stack trace.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request, send_file
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from app.api.openapi import openapi_document
from app.assessment import DecisionError, FindingFilter, accept_risk, attest_requirement, page_findings
from app.catalog import SEVERITIES, get_catalog
from app.db import get_db
from app.evaluation import run_evaluation
from app.inventory import import_documents
from app.inventory.audit_log import import_audit_log
from app.inventory.export import inventory_documents
from app.inventory.reader import Document
from app.inventory.store import load_inventory
from app.jobs import request_evaluation
from app.models.assessment import EvaluationRun, Finding, FindingEvent
from app.models.reporting import Report
from app.models.users import ROLE_RANK, Role
from app.posture import latest_run
from app.reporting.archive import (
    MEDIA_TYPES,
    download_name,
    generate_report,
    list_reports,
    report_path,
    verify_report,
)
from app.reporting.context import ReportError, Scope
from app.security import authenticate_token, csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PAGE = 1_000_000
MAX_ID = 2_147_483_647


def _check_id(value: int, what: str) -> None:
    # Ids beyond the database's integer range name nothing; say so rather than overflow.
    if not 1 <= value <= MAX_ID:
        raise ApiError(404, f"no {what} {value}")


csrf.exempt(bp)

KIND_PATHS = {
    "agents": "agents",
    "mcp-servers": "mcp_servers",
    "credentials": "credentials",
    "policies": "policies",
    "approvals": "approvals",
}


class ApiError(Exception):
    """An error the client can act on: an HTTP status, a message and optionally the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None, errors: list | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.errors = status, message, field, errors


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    body = {"error": exc.message}
    if exc.field:
        body["field"] = exc.field
    if exc.errors is not None:
        body["errors"] = exc.errors
    return jsonify(body), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify({"error": exc.description or exc.name}), exc.code


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    current_app.logger.exception("API request failed")
    return jsonify({"error": "internal error; nothing was changed"}), 500


@bp.before_request
def _authenticate():
    if request.endpoint == "api.openapi":
        return  # the API's description is public, like the sign-in page; every operation needs a token
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    record = authenticate_token(get_db(), token) if token else None
    if record is None:
        raise ApiError(401, "a valid API token is required: send 'Authorization: Bearer <token>'")
    get_db().commit()  # keeps last_used_at
    g.api_token = record
    g.actor = f"api:{record.prefix}({record.name})"


def needs(role: Role):
    """Refuse (403) an endpoint to tokens whose role is below the given one."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if ROLE_RANK[g.api_token.role] < ROLE_RANK[role.value]:
                raise ApiError(
                    403, f"this token's role ({g.api_token.role}) may not do this; {role.value} needed"
                )
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object as the request body (Content-Type: application/json)")
    return body


def _iso(value):
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def finding_json(f: Finding) -> dict:
    return {
        "id": f.id,
        "check_id": f.check_id,
        "subject_kind": f.subject_kind,
        "subject_id": f.subject_id,
        "status": f.status,
        "severity": f.severity,
        "detail": f.detail,
        "agent_id": f.agent_id,
        "team": f.team,
        "environment": f.environment,
        "first_seen_at": _iso(f.first_seen_at),
        "last_seen_at": _iso(f.last_seen_at),
        "resolved_at": _iso(f.resolved_at),
        "reopened_count": f.reopened_count,
    }


def run_json(r: EvaluationRun, with_statuses: bool = False) -> dict:
    body = {
        "id": r.id,
        "started_at": _iso(r.started_at),
        "finished_at": _iso(r.finished_at),
        "duration_ms": r.duration_ms,
        "trigger": r.trigger,
        "actor": r.actor,
        "catalog_hash": r.catalog_hash,
        "counts": r.counts,
        "scores": r.scores,
        "check_errors": r.check_errors,
    }
    if with_statuses:
        body["requirement_statuses"] = r.requirement_statuses
        # How each status inferred through mappings came about: {framework: {requirement: provenance}}.
        body["requirement_inferences"] = r.requirement_inferences
    return body


def _date(body: dict, name: str) -> datetime:
    raw = body.get(name)
    if not isinstance(raw, str):
        raise ApiError(422, "expected an ISO 8601 date such as 2027-03-31", field=name)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, f"{raw!r} is not an ISO 8601 date such as 2027-03-31", field=name) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/inventory")
def inventory():
    return jsonify(inventory_documents(load_inventory(get_db())))


@bp.get("/inventory/<kind>")
def inventory_kind(kind: str):
    if kind not in KIND_PATHS:
        raise ApiError(404, f"{kind!r} is not one of {', '.join(KIND_PATHS)}")
    return jsonify({"items": inventory_documents(load_inventory(get_db()))[KIND_PATHS[kind]]})


@bp.get("/inventory/<kind>/<path:entry_id>")
def inventory_entry(kind: str, entry_id: str):
    if kind not in KIND_PATHS:
        raise ApiError(404, f"{kind!r} is not one of {', '.join(KIND_PATHS)}")
    entries = inventory_documents(load_inventory(get_db()))[KIND_PATHS[kind]]
    entry = next((e for e in entries if e["id"] == entry_id), None)
    if entry is None:
        raise ApiError(404, f"no {kind} entry with id {entry_id!r}")
    return jsonify(entry)


@bp.post("/inventory")
@needs(Role.ADMIN)
def write_inventory():
    body = _json_body()
    dry_run = request.args.get("dry_run") in ("1", "true")
    prune = request.args.get("prune") in ("1", "true")
    db = get_db()
    result = import_documents(
        db,
        documents=[Document("request", body)],
        files=["request"],
        actor=g.actor,
        prune=prune,
        dry_run=dry_run,
    )
    if result.errors:
        db.rollback()
        errors = [{"field": e.location, "message": e.message} for e in result.errors]
        first = result.errors[0]
        raise ApiError(
            422,
            f"{len(errors)} error(s); nothing was imported. First: {first.location}: {first.message}",
            field=first.location or None,
            errors=errors,
        )
    body = {
        "dry_run": dry_run,
        "changes": {
            k: {"created": c.created, "updated": c.updated, "removed": c.removed, "unchanged": c.unchanged}
            for k, c in result.changes.items()
        },
        "notices": [n.removeprefix("request:None: ") for n in result.notices],
    }
    if dry_run:
        db.rollback()
        return jsonify(body)
    body["import_id"] = result.record_id
    db.commit()
    body["evaluation"] = "requested" if result.has_changes else "not needed"
    if result.has_changes:
        request_evaluation(current_app._get_current_object(), trigger="api", actor=g.actor)
    return jsonify(body), 200


@bp.get("/findings")
def findings():
    catalog = get_catalog(current_app)
    args = request.args
    status = args.get("status", "open")
    if status not in ("open", "resolved", "reopened", "all"):
        raise ApiError(400, f"{status!r} is not one of open, resolved, reopened, all", field="status")
    severity = args.get("severity")
    if severity and severity not in SEVERITIES:
        raise ApiError(400, f"{severity!r} is not one of {', '.join(SEVERITIES)}", field="severity")
    framework = args.get("framework")
    page = args.get("page", "1")
    per_page = args.get("per_page", "100")
    if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise ApiError(400, f"expected a whole number from 1 to {MAX_PAGE}", field="page")
    if not per_page.isdigit() or not 1 <= int(per_page) <= 1000:
        raise ApiError(400, "expected a whole number from 1 to 1000", field="per_page")
    flt = FindingFilter(
        framework=framework,
        requirement=args.get("requirement"),
        severity=severity,
        check=args.get("check"),
        agent=args.get("agent"),
        team=args.get("team"),
        environment=args.get("environment"),
        status=status,
        text=args.get("q"),
    )
    rows, total = page_findings(
        get_db(), catalog, flt, sort="severity", page=int(page), per_page=int(per_page)
    )
    return jsonify(
        {
            "total": total,
            "page": int(page),
            "per_page": int(per_page),
            "items": [finding_json(f) for f in rows],
        }
    )


@bp.get("/findings/<int:finding_id>")
def finding(finding_id: int):
    _check_id(finding_id, "finding")
    db = get_db()
    record = db.get(Finding, finding_id)
    if record is None:
        raise ApiError(404, f"no finding {finding_id}")
    history = db.execute(
        select(FindingEvent).where(FindingEvent.finding_id == finding_id).order_by(FindingEvent.id)
    ).scalars()
    body = finding_json(record)
    body["history"] = [
        {"at": _iso(e.at), "change": e.change, "run_id": e.run_id, "detail": e.detail} for e in history
    ]
    return jsonify(body)


@bp.post("/findings/<int:finding_id>/exceptions")
@needs(Role.ANALYST)
def create_exception(finding_id: int):
    _check_id(finding_id, "finding")
    body = _json_body()
    db = get_db()
    justification = body.get("justification")
    if not isinstance(justification, str):
        raise ApiError(422, "expected a string saying why the risk is acceptable", field="justification")
    try:
        acceptance = accept_risk(
            db,
            finding_id=finding_id,
            justification=justification,
            accepted_by=body.get("accepted_by") or g.actor,
            expires_at=_date(body, "expires_at"),
        )
    except DecisionError as exc:
        db.rollback()
        field = str(exc).partition(": ")[0]
        status = 404 if "no such finding" in str(exc) else 422
        raise ApiError(status, str(exc), field=field if " " not in field else None) from None
    run_evaluation(
        db,
        catalog=get_catalog(current_app),
        settings=current_app.config["STEWARD"],
        trigger="exception",
        actor=g.actor,
    )
    db.commit()
    return jsonify(
        {
            "id": acceptance.id,
            "finding_id": finding_id,
            "accepted_by": acceptance.accepted_by,
            "expires_at": _iso(acceptance.expires_at),
        }
    ), 201


@bp.get("/frameworks")
def frameworks():
    catalog = get_catalog(current_app)
    run = latest_run(get_db())
    return jsonify(
        {
            "items": [
                {
                    "id": f.id,
                    "name": f.name,
                    "version": f.version,
                    "publisher": f.publisher,
                    "official_ids": f.official_ids,
                    "id_note": f.id_note,
                    "requirements": len(f.requirements),
                    "score": run.scores.get(f.id) if run else None,
                }
                for f in catalog.frameworks.values()
            ]
        }
    )


@bp.get("/frameworks/<framework_id>/requirements")
def requirements(framework_id: str):
    catalog = get_catalog(current_app)
    framework = catalog.frameworks.get(framework_id)
    if framework is None:
        raise ApiError(404, f"no framework {framework_id!r}")
    run = latest_run(get_db())
    statuses = run.requirement_statuses.get(framework_id, {}) if run else {}
    return jsonify(
        {
            "run_id": run.id if run else None,
            "items": [
                {
                    "id": r.id,
                    "title": r.title,
                    "parent": r.parent,
                    "checks": list(r.checks),
                    "manual": r.is_manual,
                    "status": statuses.get(r.id, "not_evaluated"),
                }
                for r in framework.requirements
            ],
        }
    )


@bp.post("/frameworks/<framework_id>/requirements/<path:requirement_id>/attestations")
@needs(Role.ANALYST)
def create_attestation(framework_id: str, requirement_id: str):
    body = _json_body()
    db = get_db()
    statement = body.get("statement")
    evidence_url = body.get("evidence_url")
    if not isinstance(statement, str):
        raise ApiError(422, "expected a string saying what is in place", field="statement")
    if evidence_url is not None and not isinstance(evidence_url, str):
        raise ApiError(422, "expected an http(s) link", field="evidence_url")
    try:
        attestation = attest_requirement(
            db,
            catalog=get_catalog(current_app),
            framework_id=framework_id,
            requirement_id=requirement_id,
            statement=statement,
            attested_by=body.get("attested_by") or g.actor,
            expires_at=_date(body, "expires_at"),
            evidence_url=evidence_url,
            is_not_applicable=body.get("not_applicable") is True,
        )
    except DecisionError as exc:
        db.rollback()
        field = str(exc).split(":", 1)[0]
        status = 404 if field in ("framework", "requirement") else 422
        raise ApiError(status, str(exc), field=field) from None
    run_evaluation(
        db,
        catalog=get_catalog(current_app),
        settings=current_app.config["STEWARD"],
        trigger="attestation",
        actor=g.actor,
    )
    db.commit()
    return jsonify(
        {
            "id": attestation.id,
            "framework_id": framework_id,
            "requirement_id": requirement_id,
            "expires_at": _iso(attestation.expires_at),
        }
    ), 201


@bp.get("/runs")
def runs():
    rows = get_db().execute(select(EvaluationRun).order_by(EvaluationRun.id.desc()).limit(100)).scalars()
    return jsonify({"items": [run_json(r) for r in rows]})


@bp.get("/runs/<int:run_id>")
def run(run_id: int):
    _check_id(run_id, "evaluation run")
    record = get_db().get(EvaluationRun, run_id)
    if record is None:
        raise ApiError(404, f"no evaluation run {run_id}")
    return jsonify(run_json(record, with_statuses=True))


@bp.post("/evaluations")
@needs(Role.ANALYST)
def evaluate():
    db = get_db()
    summary = run_evaluation(
        db,
        catalog=get_catalog(current_app),
        settings=current_app.config["STEWARD"],
        trigger="api",
        actor=g.actor,
    )
    db.commit()
    return jsonify(run_json(summary.run, with_statuses=True)), 201


def report_json(r: Report) -> dict:
    return {
        "id": r.id,
        "created_at": _iso(r.created_at),
        "format": r.format,
        "scope": r.scope,
        "run_id": r.run_id,
        "catalog_hash": r.catalog_hash,
        "file_name": r.file_name,
        "sha256": r.sha256,
        "size_bytes": r.size_bytes,
        "made_by": r.made_by,
        "schedule_id": r.schedule_id,
    }


@bp.get("/reports")
def reports():
    return jsonify({"items": [report_json(r) for r in list_reports(get_db(), limit=200)]})


def _report(report_id: int) -> Report:
    _check_id(report_id, "report")
    record = get_db().get(Report, report_id)
    if record is None:
        raise ApiError(404, f"no report {report_id}")
    return record


@bp.get("/reports/<int:report_id>")
def report(report_id: int):
    return jsonify(report_json(_report(report_id)))


@bp.get("/reports/<int:report_id>/file")
def report_file(report_id: int):
    record = _report(report_id)
    settings = current_app.config["STEWARD"]
    if not verify_report(settings, record):
        raise ApiError(409, f"report {report_id}'s file is missing or no longer matches its SHA-256")
    return send_file(
        report_path(settings, record),
        mimetype=MEDIA_TYPES[record.format],
        as_attachment=True,
        download_name=download_name(record),
    )


def _str_list(body: dict, name: str) -> tuple[str, ...]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ApiError(422, f"{name}: expected a list of non-empty strings", field=name)
    return tuple(value)


@bp.post("/reports")
@needs(Role.ANALYST)
def create_report():
    body = _json_body()
    formats = _str_list(body, "formats") or ("pdf",)
    scope = Scope(
        frameworks=_str_list(body, "frameworks"),
        environments=_str_list(body, "environments"),
        teams=_str_list(body, "teams"),
    )
    db = get_db()
    try:
        generated = generate_report(
            db,
            catalog=get_catalog(current_app),
            settings=current_app.config["STEWARD"],
            scope=scope,
            formats=formats,
            made_by=g.actor,
        )
    except ReportError as exc:
        db.rollback()
        raise ApiError(422, str(exc)) from None
    db.commit()
    return jsonify({"items": [report_json(r) for r in generated.reports]}), 201


MAX_EVENTS = 10_000


@bp.post("/audit-events")
@needs(Role.ADMIN)
def write_audit_events():
    """Import gateway events sent as JSON (the contract's records), with the importer's rules."""
    body = _json_body()
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise ApiError(422, "events: expected a non-empty list of audit event objects", field="events")
    if len(events) > MAX_EVENTS:
        raise ApiError(413, f"events: {len(events):,} events; send at most {MAX_EVENTS:,} per request")
    dry_run = request.args.get("dry_run") in ("1", "true")
    db = get_db()
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
        handle.flush()
        result = import_audit_log(
            db, path=handle.name, actor=g.actor, source_format="steward", dry_run=dry_run
        )
    errors = [{"field": f"events[{e.line - 1}]", "message": e.message} for e in result.errors]
    if result.file_error:
        db.rollback()
        raise ApiError(422, result.file_error)
    if dry_run:
        db.rollback()
    else:
        db.commit()
        if result.imported:
            request_evaluation(current_app._get_current_object(), trigger="api", actor=g.actor)
    status = 200 if dry_run else 201
    return jsonify(
        {
            "imported": result.imported,
            "duplicates": result.duplicates,
            "rejected": result.bad,
            "errors": errors,
            "dry_run": dry_run,
        }
    ), status
