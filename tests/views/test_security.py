"""Sign-in, roles, CSRF, cookies and headers."""

from __future__ import annotations

import re

import pytest

from tests.views.conftest import PASSWORD, csrf_token, make_client, sign_in


def test_wrong_password_is_refused(anonymous):
    response = sign_in(anonymous, "admin", "not the password at all")
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)


def test_session_cookie_is_secure_httponly_and_samesite(seeded_app):
    client = make_client(seeded_app, None)
    response = sign_in(client, "viewer")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers_are_set(viewer):
    headers = viewer.get("/").headers
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_post_without_csrf_token_is_rejected(analyst):
    response = analyst.post("/evaluate")
    assert response.status_code == 400


def test_sign_in_does_not_redirect_off_site(seeded_app):
    client = make_client(seeded_app, None)
    response = client.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORD,
            "next": "https://evil.example/",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.headers["Location"] == "/"


def post(client, path, data=None, **kwargs):
    return client.post(path, data={"csrf_token": csrf_token(client, "/"), **(data or {})}, **kwargs)


@pytest.mark.parametrize(
    ("role", "path", "allowed"),
    [
        ("viewer", "/evaluate", False),
        ("analyst", "/evaluate", True),
        ("viewer", "/findings/1/accept", False),
        ("viewer", "/frameworks/nist-ai-rmf-1.0/requirements/GOVERN 1.1/attest", False),
        ("viewer", "/imports", False),
        ("analyst", "/imports", False),
        ("analyst", "/imports/discover", False),
        ("analyst", "/imports/audit", False),
        ("analyst", "/imports/tools", False),
        ("viewer", "/servers/github/review", False),
        ("viewer", "/users", False),
        ("analyst", "/users", False),
        ("admin", "/users", True),
    ],
)
def test_role_checks_on_writes(seeded_app, role, path, allowed):
    client = make_client(seeded_app, role)
    response = post(client, path)
    if allowed:
        assert response.status_code in (200, 302)
    else:
        assert response.status_code == 403


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("analyst", 403), ("admin", 200)])
def test_user_admin_page_is_for_admins(seeded_app, role, status):
    assert make_client(seeded_app, role).get("/users").status_code == status


def test_admin_creates_a_user_who_can_sign_in(admin, seeded_app):
    response = post(
        admin, "/users", {"username": "auditor", "password": "a long enough password", "role": "viewer"}
    )
    assert response.status_code == 302
    fresh = make_client(seeded_app, None)
    assert sign_in(fresh, "auditor", "a long enough password").status_code == 302
    audit = admin.get("/audit").get_data(as_text=True)
    assert "user.create" in audit and "auditor" in audit


def test_short_password_is_refused(admin):
    response = post(
        admin, "/users", {"username": "weak", "password": "short", "role": "viewer"}, follow_redirects=True
    )
    assert "password: expected at least 12 characters" in response.get_data(as_text=True)


def test_accepting_a_risk_in_the_browser_changes_the_score(analyst):
    overview = analyst.get("/").get_data(as_text=True)
    before = [int(s) for s in re.findall(r'<div class="score">(\d+)%</div>', overview)]
    findings = analyst.get("/findings?status=open").get_data(as_text=True)
    ids = re.findall(r'href="/findings/(\d+)"', findings)
    for finding_id in dict.fromkeys(ids):
        response = post(
            analyst,
            f"/findings/{finding_id}/accept",
            {"justification": "Accepted for the demo", "expires_at": "2027-06-30"},
        )
        assert response.status_code == 302
    after = [
        int(s)
        for s in re.findall(r'<div class="score">(\d+)%</div>', analyst.get("/").get_data(as_text=True))
    ]
    assert sum(after) > sum(before)
    assert "Accepted for the demo" in analyst.get("/exceptions").get_data(as_text=True)


def test_accepting_a_risk_without_expiry_is_refused_with_a_message(analyst):
    findings = analyst.get("/findings").get_data(as_text=True)
    finding_id = re.search(r'href="/findings/(\d+)"', findings).group(1)
    response = post(
        analyst,
        f"/findings/{finding_id}/accept",
        {"justification": "x", "expires_at": "2099-01-01"},
        follow_redirects=True,
    )
    assert "Not recorded: expires_at: 2099-01-01 is more than a year away" in response.get_data(as_text=True)


def test_browser_import_reports_errors_and_changes_nothing(admin):
    from io import BytesIO

    before = admin.get("/agents").get_data(as_text=True).split("<table")[1]
    bad = b"agents:\n  - id: intruder\n    environment: moon\n    identity: {kind: none}\n"
    response = admin.post(
        "/imports",
        data={"csrf_token": csrf_token(admin, "/imports"), "files": (BytesIO(bad), "agents.yaml")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "agents.yaml:3: agents[intruder].environment: &#39;moon&#39; is not one of production" in page
    errors = page.split('<ul class="errors">')[1].split("</ul>")[0]
    assert "<code>agents.yaml:3:" in errors  # named as uploaded, not by its temporary path on the server
    assert admin.get("/agents").get_data(as_text=True).split("<table")[1] == before


def test_browser_import_applies_a_valid_file(admin):
    from io import BytesIO

    good = (
        b"agents:\n  - id: new-bot\n    owner: a@example.org\n    environment: development\n"
        b"    identity: {kind: workload, id: spiffe://x/new-bot}\n"
    )
    response = admin.post(
        "/imports",
        data={"csrf_token": csrf_token(admin, "/imports"), "files": (BytesIO(good), "new.yaml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "applied" in response.get_data(as_text=True)
    assert "new-bot" in admin.get("/agents").get_data(as_text=True)
    assert "upload:new.yaml" in admin.get("/imports").get_data(as_text=True)


def _cookie(client) -> str:
    return client.get_cookie("steward_session").value


def _with_cookie(app, value: str):
    client = make_client(app, None)
    client.set_cookie("steward_session", value)
    return client


def test_a_session_cookie_from_before_sign_in_is_not_signed_in_afterwards(seeded_app):
    # Session fixation: the cookie an attacker saw (or planted) before the victim signed in.
    victim = make_client(seeded_app, None)
    victim.get("/login")
    planted = _cookie(victim)
    assert sign_in(victim, "viewer").status_code == 302
    assert _cookie(victim) != planted
    assert victim.get("/").status_code == 200
    assert _with_cookie(seeded_app, planted).get("/").status_code == 302


def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(seeded_app):
    client = make_client(seeded_app, "analyst")
    stolen = _cookie(client)
    assert _with_cookie(seeded_app, stolen).get("/").status_code == 200  # the copy works while signed in
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302
    assert client.get("/").status_code == 302
    assert _with_cookie(seeded_app, stolen).get("/").status_code == 302
    # Signing in again gives a session that works.
    assert make_client(seeded_app, "analyst").get("/").status_code == 200
