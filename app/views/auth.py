"""Sign-in, sign-out and the health endpoint (the only pages open without signing in)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlparse

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from app.audit import record_change
from app.db import get_db
from app.security import (
    authenticate,
    clear_sign_in_failures,
    record_sign_in_failure,
    sign_in,
    sign_in_wait,
    sign_out,
)

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
        settings = current_app.config["STEWARD"]
        username = request.form.get("username", "")
        address = request.remote_addr or "unknown"
        actor = username.strip()[:100] or "(blank)"
        wait = sign_in_wait(db, username=username, address=address, settings=settings)
        if wait:
            # Refused before the password is looked at, so guessing on goes nowhere during the wait.
            record_change(db, actor=actor, action="auth.sign_in_throttled", detail={"address": address})
            db.commit()
            minutes = -(-wait // 60)
            flash(
                f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                "error",
            )
            response = make_response(render_template("auth/login.html", username=username), 429)
            response.headers["Retry-After"] = str(wait)
            return response
        user = authenticate(db, username=username, password=request.form.get("password", ""))
        if user is None:
            record_sign_in_failure(db, username=username, address=address, settings=settings)
            record_change(db, actor=actor, action="auth.sign_in_failed", detail={"address": address})
            db.commit()
            flash("Wrong username or password.", "error")
            return render_template("auth/login.html", username=username), 401
        user.last_login_at = datetime.now(UTC)
        clear_sign_in_failures(db, username=user.username)
        record_change(db, actor=user.username, action="auth.sign_in")
        db.commit()
        sign_in(user)
        return redirect(_safe_next(request.form.get("next")))
    return render_template("auth/login.html", next=request.args.get("next", ""))


@bp.route("/logout", methods=["POST"])
def logout():
    sign_out(get_db(), g.get("user"))
    return redirect(url_for("auth.login"))


@bp.route("/health")
def health():
    return {"status": "ok"}
