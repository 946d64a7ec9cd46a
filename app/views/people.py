"""Users (admins create them) and the audit trail of every change."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.db import get_db
from app.models.users import ROLE_RANK, AuditEntry, Role, User
from app.security import AccountError, create_user, requires

bp = Blueprint("people", __name__)


@bp.route("/users", methods=["GET"])
@requires(Role.ADMIN)
def users():
    rows = get_db().execute(select(User).order_by(User.username)).scalars().all()
    return render_template("people/users.html", rows=rows, roles=list(ROLE_RANK))


@bp.route("/users", methods=["POST"])
@requires(Role.ADMIN)
def create():
    db = get_db()
    try:
        create_user(
            db,
            username=request.form.get("username", ""),
            password=request.form.get("password", ""),
            role=request.form.get("role", ""),
            actor=g.user.username,
        )
    except AccountError as exc:
        db.rollback()
        flash(f"Not created: {exc}.", "error")
        return redirect(url_for("people.users"))
    db.commit()
    flash(f"User {request.form.get('username', '').strip()} created.", "success")
    return redirect(url_for("people.users"))


@bp.route("/audit")
def audit():
    actor, action = request.args.get("actor", "").strip(), request.args.get("action", "").strip()
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(500)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    return render_template(
        "people/audit.html",
        rows=get_db().execute(query).scalars().all(),
        args={"actor": actor, "action": action},
    )
