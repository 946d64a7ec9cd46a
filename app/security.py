"""Sign-in, roles, CSRF, session cookies and security headers for the web UI."""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path

from flask import abort, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import delete, func, select
from sqlmodel import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.audit import record_change
from app.db import get_db
from app.models.users import ROLE_RANK, ApiToken, Role, SignInFailure, User

csrf = CSRFProtect()

PUBLIC_ENDPOINTS = frozenset({"auth.login", "auth.health", "static"})
MIN_PASSWORD_LENGTH = 12
# Verifying against a dummy hash when the user is unknown keeps sign-in timing alike for both cases.
_DUMMY_HASH = generate_password_hash("steward-dummy-password")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class AccountError(ValueError):
    """A user account cannot be created or changed as asked; nothing was written."""


def _secret_key(settings) -> str:
    """The configured key, or one generated once and kept in the instance folder."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def init_app(app) -> None:
    """Configure cookies, CSRF, the sign-in gate and security headers."""
    settings = app.config["STEWARD"]
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        SESSION_COOKIE_NAME="steward_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.secure_cookies),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
    )
    csrf.init_app(app)
    app.before_request(_require_sign_in)
    app.after_request(_security_headers)


def _require_sign_in():
    g.user = None
    if request.path.startswith("/api/"):
        return None  # the API authenticates each request by bearer token (app/api)
    user_id = session.get("user_id")
    if user_id is not None:
        user = get_db().get(User, user_id)
        if _is_live(session, user):
            g.user = user
        else:
            session.clear()
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    return None


def _is_live(session, user: User | None) -> bool:
    """Whether a session still speaks for its user: active, same password, not signed out since."""
    if user is None or not user.is_active or session.get("pw") != user.password_hash[-16:]:
        return False
    if user.signed_out_at is None:
        return True
    signed_out = user.signed_out_at if user.signed_out_at.tzinfo else user.signed_out_at.replace(tzinfo=UTC)
    return float(session.get("at", 0)) > signed_out.timestamp()


def sign_out(db: Session, user: User | None) -> None:
    """End the session, and every other session the user signed in before now (copied cookies too)."""
    if user is not None:
        user.signed_out_at = datetime.now(UTC)
        record_change(db, actor=user.username, action="auth.sign_out")
        db.commit()
    session.clear()


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def requires(role: Role):
    """Refuse (403) a view to anyone whose role is below the given one."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if g.user is None or ROLE_RANK[g.user.role] < ROLE_RANK[role.value]:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def has_role(role: Role) -> bool:
    """Whether the signed-in user holds at least this role (for templates)."""
    return g.get("user") is not None and ROLE_RANK[g.user.role] >= ROLE_RANK[role.value]


def create_user(db: Session, *, username: str, password: str, role: str, actor: str) -> User:
    """Create a local account with a scrypt-hashed password."""
    username = (username or "").strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise AccountError("username: expected 1 to 100 characters without spaces")
    if role not in ROLE_RANK:
        raise AccountError(f"role: {role!r} is not one of {', '.join(ROLE_RANK)}")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password: expected at least {MIN_PASSWORD_LENGTH} characters")
    taken = db.execute(select(func.count()).select_from(User).where(User.username == username)).scalar_one()
    if taken:
        raise AccountError(f"username: {username!r} is taken")
    user = User(
        username=username,
        password_hash=generate_password_hash(password, method="scrypt"),
        role=role,
        created_at=datetime.now(UTC),
    )
    db.add(user)
    db.flush()
    record_change(db, actor=actor, action="user.create", target=username, detail={"role": role})
    return user


def authenticate(db: Session, *, username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    user = db.execute(select(User).where(User.username == (username or "").strip())).scalar_one_or_none()
    if user is None or not user.is_active:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def sign_in_wait(db: Session, *, username: str, address: str, settings, now: datetime | None = None) -> int:
    """Seconds this username or address must wait before another sign-in attempt; 0 when it may try.

    Too many failures within the window for one username (known or not, so that the throttle does
    not tell which accounts exist), or from one client address, close sign-in for both until the
    oldest counted failure leaves the window. The counts live in the database: every worker process
    shares them and a restart does not reset them.
    """
    now = now or datetime.now(UTC)
    window = timedelta(minutes=settings.sign_in_window_minutes)
    waits = []
    for column, value, limit in (
        (SignInFailure.username, _throttle_key(username), settings.sign_in_max_failures),
        (SignInFailure.address, address, settings.sign_in_max_failures_per_address),
    ):
        if limit <= 0:
            continue
        times = (
            db.execute(
                select(SignInFailure.at)
                .where(column == value, SignInFailure.at > now - window)
                .order_by(SignInFailure.at.desc())
                .limit(limit)
            )
            .scalars()
            .all()
        )
        if len(times) >= limit:
            oldest = times[-1] if times[-1].tzinfo else times[-1].replace(tzinfo=UTC)
            waits.append(max(1, int((oldest + window - now).total_seconds()) + 1))
    return max(waits, default=0)


def record_sign_in_failure(db: Session, *, username: str, address: str, settings, now=None) -> None:
    """Count a failed sign-in, and forget the failures that have left every window."""
    now = now or datetime.now(UTC)
    db.execute(
        delete(SignInFailure).where(
            SignInFailure.at <= now - timedelta(minutes=settings.sign_in_window_minutes)
        )
    )
    db.add(SignInFailure(username=_throttle_key(username), address=address, at=now))


def clear_sign_in_failures(db: Session, *, username: str) -> None:
    """A successful sign-in wipes the account's failures (not the address's: others may share it)."""
    db.execute(delete(SignInFailure).where(SignInFailure.username == _throttle_key(username)))


def _throttle_key(username: str) -> str:
    return (username or "").strip()[:100]


def sign_in(user: User) -> None:
    """Start a fresh session for the user (a new session, so nothing from before sign-in carries over)."""
    session.clear()
    session.permanent = True
    session["user_id"] = user.id
    session["at"] = datetime.now(UTC).timestamp()  # compared with the user's signed_out_at
    # A password change ends every session signed in with the old password.
    session["pw"] = user.password_hash[-16:]


def set_demo_admin(db: Session, *, username: str, password: str) -> User:
    """Create the demo organisation's admin, or give it a new password."""
    user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        return create_user(db, username=username, password=password, role=Role.ADMIN.value, actor="demo")
    user.password_hash = generate_password_hash(password, method="scrypt")
    user.role, user.is_active = Role.ADMIN.value, True
    record_change(db, actor="demo", action="user.password_reset", target=username)
    return user


TOKEN_PREFIX = "stw_"
MAX_TOKEN_DAYS = 366


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(
    db: Session, *, name: str, role: str, expires_at: datetime, created_by: str, now: datetime | None = None
) -> tuple[str, ApiToken]:
    """Mint an API token; the token itself is returned once and only its hash is stored."""
    now = now or datetime.now(UTC)
    if not name or not name.strip():
        raise AccountError("name: missing; say what the token is for")
    if role not in ROLE_RANK:
        raise AccountError(f"role: {role!r} is not one of {', '.join(ROLE_RANK)}")
    expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
    if expires_at <= now or expires_at - now > timedelta(days=MAX_TOKEN_DAYS):
        raise AccountError("expires_at: expected a date in the future, at most a year away")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        name=name.strip(),
        token_hash=_token_hash(token),
        prefix=token[:10],
        role=role,
        created_by=created_by,
        created_at=now,
        expires_at=expires_at,
    )
    db.add(record)
    db.flush()
    record_change(
        db,
        actor=created_by,
        action="api_token.create",
        target=record.prefix,
        detail={"name": record.name, "role": role, "expires_at": expires_at.isoformat()},
    )
    return token, record


def authenticate_token(db: Session, token: str, *, now: datetime | None = None) -> ApiToken | None:
    """The live token matching a bearer value, or None (unknown, expired or revoked)."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    now = now or datetime.now(UTC)
    record = db.execute(
        select(ApiToken).where(ApiToken.token_hash == _token_hash(token))
    ).scalar_one_or_none()
    if record is None or record.revoked_at is not None:
        return None
    expires_at = record.expires_at if record.expires_at.tzinfo else record.expires_at.replace(tzinfo=UTC)
    if expires_at <= now:
        return None
    record.last_used_at = now
    return record
