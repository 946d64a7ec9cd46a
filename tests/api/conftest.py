"""API fixtures: the seeded app and a bearer token of each role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.db import get_engine, session_scope
from app.security import create_api_token


@pytest.fixture
def tokens(seeded_app) -> dict[str, str]:
    with session_scope(get_engine(seeded_app)) as session:
        return {
            role: create_api_token(
                session,
                name=f"{role} token",
                role=role,
                created_by="test",
                expires_at=datetime.now(UTC) + timedelta(days=30),
            )[0]
            for role in ("viewer", "analyst", "admin")
        }


@pytest.fixture
def api(seeded_app, tokens):
    client = seeded_app.test_client()

    def call(method: str, path: str, role: str | None = "viewer", **kwargs):
        headers = kwargs.pop("headers", {})
        if role:
            headers["Authorization"] = f"Bearer {tokens[role]}"
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call
