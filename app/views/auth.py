"""Sign-in, sign-out and the health endpoint (the only pages open without signing in)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from app.audit import record_change
from app.db import get_db
from app.security import authenticate, sign_in

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site, never another host (open-redirect guard)."""
    if not target:
        return url_for("overview.index")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("overview.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        db = get_db()
        username = request.form.get("username", "")
        user = authenticate(db, username=username, password=request.form.get("password", ""))
        if user is None:
            record_change(db, actor=username[:100] or "(blank)", action="auth.sign_in_failed")
            db.commit()
            flash("Wrong username or password.", "error")
            return render_template("auth/login.html", username=username), 401
        user.last_login_at = datetime.now(UTC)
        record_change(db, actor=user.username, action="auth.sign_in")
        db.commit()
        sign_in(user)
        return redirect(_safe_next(request.form.get("next")))
    return render_template("auth/login.html", next=request.args.get("next", ""))


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/health")
def health():
    return {"status": "ok"}
