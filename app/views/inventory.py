"""Inventory pages: agents and their profiles, servers, credentials, policies, approvals, imports."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.utils import secure_filename

from app.catalog import get_catalog
from app.db import get_db
from app.evaluation import run_evaluation
from app.inventory import import_inventory
from app.inventory.audit_log import import_audit_log
from app.inventory.discovery import AgentSpec, apply_scans, scan_uploads
from app.inventory.profile import agent_profile
from app.inventory.reader import INVENTORY_SUFFIXES
from app.inventory.store import load_inventory
from app.inventory.tool_definitions import import_definitions
from app.inventory.tool_definitions import review_tools as review_tools_of
from app.models.assessment import ACTIVE_STATUSES, Finding
from app.models.inventory import ImportRecord
from app.models.users import Role
from app.security import requires
from app.snapshot import Snapshot

bp = Blueprint("inventory", __name__)


def _snapshot() -> Snapshot:
    return Snapshot(load_inventory(get_db()), now=datetime.now(UTC))


def _open_counts() -> Counter:
    rows = get_db().execute(select(Finding.agent_id).where(Finding.status.in_(ACTIVE_STATUSES)))
    return Counter(agent_id for (agent_id,) in rows if agent_id)


@bp.route("/agents")
def agents():
    snapshot = _snapshot()
    env, status, team, q = (request.args.get(k, "").strip() for k in ("environment", "status", "team", "q"))
    rows = [
        a
        for a in snapshot.agents
        if (not env or a.environment == env)
        and (not status or a.status == status)
        and (not team or a.team == team)
        and (not q or q.lower() in f"{a.id} {a.name or ''} {a.owner or ''} {a.purpose or ''}".lower())
    ]
    teams = sorted({a.team for a in snapshot.agents if a.team})
    return render_template(
        "inventory/agents.html",
        rows=rows,
        open_counts=_open_counts(),
        teams=teams,
        args={"environment": env, "status": status, "team": team, "q": q},
    )


@bp.route("/agents/<path:agent_id>")  # an id may hold a slash (team/bot)
def agent(agent_id: str):
    profile = agent_profile(get_db(), agent_id, now=datetime.now(UTC))
    if profile is None:
        abort(404)
    return render_template("inventory/agent.html", p=profile, checks=get_catalog(current_app).checks)


@bp.route("/servers")
def servers():
    snapshot = _snapshot()
    reach = Counter(ref.split(".", 1)[0] for a in snapshot.agents for ref in a.tools)
    return render_template("inventory/servers.html", rows=snapshot.mcp_servers, reach=reach)


@bp.route("/servers/<path:server_id>")  # registry names hold slashes (io.github.org/server)
def server(server_id: str):
    snapshot = _snapshot()
    record = snapshot.servers_by_id.get(server_id)
    if record is None:
        abort(404)
    users = {t.ref: [a.id for a in snapshot.agents if t.ref in a.tools] for t in record.tools}
    configured_by = [a.id for a in snapshot.agents if server_id in a.mcp_servers]
    return render_template("inventory/server.html", server=record, users=users, configured_by=configured_by)


@bp.route("/servers/<path:server_id>/review", methods=["POST"])
@requires(Role.ANALYST)
def review_tools(server_id: str):
    db = get_db()
    result = review_tools_of(
        db, server_id=server_id, tool_names=[], actor=g.user.username, now=datetime.now(UTC)
    )
    if not result.ok:
        db.rollback()
        abort(404)
    _evaluate_and_commit(db, result)
    flash(f"Recorded your review of {server_id}'s tool definitions.", "success")
    return redirect(url_for("inventory.server", server_id=server_id))


def _evaluate_and_commit(db, result) -> None:
    """Evaluate after an applied change (one change, one run), then commit."""
    if result.has_changes:
        run_evaluation(
            db,
            catalog=get_catalog(current_app),
            settings=current_app.config["STEWARD"],
            trigger="import",
            actor=g.user.username,
        )
    db.commit()


@bp.route("/credentials")
def credentials():
    snapshot = _snapshot()
    return render_template(
        "inventory/credentials.html",
        rows=snapshot.credentials,
        holders=snapshot.credential_holders,
        now=snapshot.now,
    )


@bp.route("/policies")
def policies():
    return render_template("inventory/policies.html", rows=_snapshot().policies)


@bp.route("/approvals")
def approvals():
    return render_template("inventory/approvals.html", rows=_snapshot().approvals)


@bp.route("/imports", methods=["GET"])
def imports():
    return _render_imports()


def _history():
    return get_db().execute(select(ImportRecord).order_by(ImportRecord.id.desc()).limit(200)).scalars().all()


def _render_imports(status: int = 200, **context):
    context.setdefault("result", None)
    return render_template("inventory/imports.html", records=_history(), **context), status


def _save_uploads(
    tmp: str, files, default_name: str, suffixes: tuple[str, ...]
) -> tuple[list[str], dict[str, str]]:
    """Save uploaded files under a temporary folder; messages will name them upload:NAME."""
    paths, labels = [], {}
    for upload_file in files:
        name = secure_filename(upload_file.filename) or default_name
        if not name.lower().endswith(suffixes):
            name += suffixes[0]
        path = Path(tmp) / name
        upload_file.save(path)
        paths.append(str(path))
        labels[str(path)] = f"upload:{name}"
    return paths, labels


def _chosen_files(message: str):
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        flash(message, "error")
    return files


@bp.route("/imports", methods=["POST"])
@requires(Role.ADMIN)
def upload():
    files = _chosen_files("Choose one or more inventory files (.yaml, .yml or .json).")
    if not files:
        return redirect(url_for("inventory.imports"))
    settings = current_app.config["STEWARD"]
    db = get_db()
    with tempfile.TemporaryDirectory() as tmp:
        paths, labels = _save_uploads(tmp, files, "inventory.yaml", INVENTORY_SUFFIXES)
        result = import_inventory(
            db,
            paths=paths,
            actor=g.user.username,
            prune=request.form.get("prune") == "1",
            dry_run=request.form.get("dry_run") == "1",
            max_bytes=settings.max_import_bytes,
            max_alias_expansion=settings.yaml_max_alias_expansion,
            labels=labels,
        )
        # Messages name the uploaded file, not where it sat on the server for the request.
        errors = [str(e).replace(tmp + "/", "") for e in result.errors]
        notices = [n.replace(tmp + "/", "") for n in result.notices]
    return _finish_import(db, result, errors=errors, notices=notices)


def _finish_import(db, result, **context):
    """Roll back a failed or dry-run import, else evaluate and commit; show the outcome."""
    if result.errors or result.is_dry_run:
        db.rollback()
    else:
        _evaluate_and_commit(db, result)
    context.setdefault("errors", [str(e) for e in result.errors])
    context.setdefault("notices", result.notices)
    return _render_imports(400 if context["errors"] else 200, result=result, **context)


@bp.route("/imports/discover", methods=["POST"])
@requires(Role.ADMIN)
def discover_upload():
    files = _chosen_files("Choose one or more MCP client configuration files.")
    if not files:
        return redirect(url_for("inventory.imports"))
    settings = current_app.config["STEWARD"]
    uploads = []
    for upload_file in files:
        raw = upload_file.read(settings.max_import_bytes + 1)
        if len(raw) > settings.max_import_bytes:
            flash(
                f"{upload_file.filename}: over the import limit of {settings.max_import_bytes:,} bytes.",
                "error",
            )
            return redirect(url_for("inventory.imports"))
        uploads.append((upload_file.filename, raw.decode("utf-8", errors="replace")))
    agent_id = request.form.get("agent", "").strip()
    agent = (
        AgentSpec(
            agent_id,
            owner=request.form.get("owner", "").strip() or None,
            environment=request.form.get("environment") or "development",
        )
        if agent_id
        else None
    )
    db = get_db()
    found = apply_scans(
        db,
        scans=scan_uploads(uploads),
        actor=g.user.username,
        agent=agent,
        prune=request.form.get("prune") == "1",
        dry_run=request.form.get("dry_run") == "1",
    )
    return _finish_import(db, found.result, scans=found.scans)


@bp.route("/imports/tools", methods=["POST"])
@requires(Role.ADMIN)
def tools_upload():
    files = _chosen_files("Choose a tools/list result or a registry server.json file.")
    if not files:
        return redirect(url_for("inventory.imports"))
    settings = current_app.config["STEWARD"]
    db = get_db()
    with tempfile.TemporaryDirectory() as tmp:
        paths, _ = _save_uploads(tmp, files, "tools.json", (".json",))
        result = import_definitions(
            db,
            paths=paths,
            actor=g.user.username,
            server_id=request.form.get("server", "").strip() or None,
            prune=request.form.get("prune") == "1",
            dry_run=request.form.get("dry_run") == "1",
            max_bytes=settings.max_import_bytes,
        )
        errors = [str(e).replace(tmp + "/", "upload:") for e in result.errors]
    return _finish_import(db, result, errors=errors)


@bp.route("/imports/audit", methods=["POST"])
@requires(Role.ADMIN)
def audit_upload():
    files = _chosen_files("Choose an audit log (JSON Lines).")
    if not files:
        return redirect(url_for("inventory.imports"))
    db = get_db()
    with tempfile.TemporaryDirectory() as tmp:
        paths, labels = _save_uploads(tmp, files[:1], "audit.jsonl", (".jsonl", ".json", ".log"))
        audit = import_audit_log(
            db,
            path=paths[0],
            actor=g.user.username,
            source_format=request.form.get("format") or "auto",
            agent=request.form.get("agent", "").strip() or None,
            dry_run=request.form.get("dry_run") == "1",
        )
        audit.file = labels[paths[0]]
    if audit.file_error or audit.is_dry_run:
        db.rollback()
    else:
        if audit.imported:
            run_evaluation(
                db,
                catalog=get_catalog(current_app),
                settings=current_app.config["STEWARD"],
                trigger="audit-import",
                actor=g.user.username,
            )
        db.commit()
    return _render_imports(400 if audit.file_error else 200, audit=audit)
