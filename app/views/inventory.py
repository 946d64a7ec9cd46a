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
from app.inventory.profile import agent_profile
from app.inventory.reader import INVENTORY_SUFFIXES
from app.inventory.store import load_inventory
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


@bp.route("/agents/<agent_id>")
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


@bp.route("/servers/<server_id>")
def server(server_id: str):
    snapshot = _snapshot()
    record = snapshot.servers_by_id.get(server_id)
    if record is None:
        abort(404)
    users = {t.ref: [a.id for a in snapshot.agents if t.ref in a.tools] for t in record.tools}
    return render_template("inventory/server.html", server=record, users=users)


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
    records = (
        get_db().execute(select(ImportRecord).order_by(ImportRecord.id.desc()).limit(200)).scalars().all()
    )
    return render_template("inventory/imports.html", records=records, result=None)


@bp.route("/imports", methods=["POST"])
@requires(Role.ADMIN)
def upload():
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        flash("Choose one or more inventory files (.yaml, .yml or .json).", "error")
        return redirect(url_for("inventory.imports"))
    settings = current_app.config["STEWARD"]
    db = get_db()
    with tempfile.TemporaryDirectory() as tmp:
        paths, labels = [], {}
        for upload_file in files:
            name = secure_filename(upload_file.filename) or "inventory.yaml"
            if not name.lower().endswith(INVENTORY_SUFFIXES):
                name += ".yaml"
            path = Path(tmp) / name
            upload_file.save(path)
            paths.append(str(path))
            labels[str(path)] = f"upload:{name}"
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
    if result.errors or result.is_dry_run:
        db.rollback()
    else:
        if result.has_changes:
            run_evaluation(
                db,
                catalog=get_catalog(current_app),
                settings=settings,
                trigger="import",
                actor=g.user.username,
            )
        db.commit()
    records = db.execute(select(ImportRecord).order_by(ImportRecord.id.desc()).limit(200)).scalars().all()
    status = 400 if errors else 200
    return render_template(
        "inventory/imports.html", records=records, result=result, errors=errors, notices=notices
    ), status
