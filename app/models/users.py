"""People who sign in, and the audit trail of every change they (or Steward's processes) make."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class Role(StrEnum):
    """What a signed-in person may do; each role includes the ones before it."""

    VIEWER = "viewer"  # reads everything
    ANALYST = "analyst"  # plus risk acceptances, attestations, evaluations and reports
    ADMIN = "admin"  # plus users, imports, schedules and settings


ROLE_RANK = {Role.VIEWER.value: 0, Role.ANALYST.value: 1, Role.ADMIN.value: 2}


class User(SQLModel, table=True):
    """A local account with a hashed password."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True)
    password_hash: str
    role: str = Role.VIEWER.value
    is_active: bool = True
    created_at: datetime
    last_login_at: datetime | None = None
    # Signing out ends every session of the user signed in before this moment (a copied cookie too).
    signed_out_at: datetime | None = None


class AuditEntry(SQLModel, table=True):
    """One change: who made it, when, what it touched and how."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(index=True)
    action: str = Field(index=True)
    target: str = ""
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API: shown once, stored as a hash, with a role and an expiry."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    token_hash: str = Field(unique=True, index=True)
    prefix: str
    role: str = Role.VIEWER.value
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class SignInFailure(SQLModel, table=True):
    """A failed sign-in, kept for the sign-in throttle's window (shared by every worker process)."""

    __tablename__ = "sign_in_failure"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True)
    address: str = Field(index=True)
    at: datetime = Field(index=True)
