"""Web fixtures: a seeded, evaluated app and clients signed in with each role."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token a page hands its forms."""
    match = TOKEN.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, username: str, password: str = PASSWORD):
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)}
    )


def make_client(app, role: str | None):
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # session cookies are Secure
    if role:
        response = sign_in(client, role)
        assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def viewer(seeded_app):
    return make_client(seeded_app, "viewer")


@pytest.fixture
def analyst(seeded_app):
    return make_client(seeded_app, "analyst")


@pytest.fixture
def admin(seeded_app):
    return make_client(seeded_app, "admin")


@pytest.fixture
def anonymous(seeded_app):
    return make_client(seeded_app, None)
