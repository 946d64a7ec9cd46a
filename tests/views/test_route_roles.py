"""Every route, walked with every role: who is let in, who is refused, and nothing in between.

The table below says, for each route and method, the least role that may use it. A route added
without an entry fails the first test, so every new page or write gets a decision.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app import create_app
from app.db import dispose_engine, get_engine, session_scope
from app.models.assessment import Finding
from app.security import create_api_token, create_user
from tests.conftest import PASSWORD, module_settings
from tests.views.conftest import csrf_token, make_client

PUBLIC = "public"
ROLES = ("viewer", "analyst", "admin")
RANK = {PUBLIC: -1, "viewer": 0, "analyst": 1, "admin": 2}

# (rule, method) -> the least role allowed. PUBLIC: open without signing in.
LEAST_ROLE = {
    ("/", "GET"): "viewer",
    ("/agents", "GET"): "viewer",
    ("/agents/<path:agent_id>", "GET"): "viewer",
    ("/approvals", "GET"): "viewer",
    ("/audit", "GET"): "viewer",
    ("/credentials", "GET"): "viewer",
    ("/crosswalk/", "GET"): "viewer",
    ("/crosswalk/checks/<check_id>", "GET"): "viewer",
    ("/crosswalk/requirements/<framework_id>/<path:requirement_id>", "GET"): "viewer",
    ("/evaluate", "POST"): "analyst",
    ("/exceptions", "GET"): "viewer",
    ("/findings", "GET"): "viewer",
    ("/findings/<int:finding_id>", "GET"): "viewer",
    ("/findings/<int:finding_id>/accept", "POST"): "analyst",
    ("/frameworks/", "GET"): "viewer",
    ("/frameworks/<framework_id>", "GET"): "viewer",
    ("/frameworks/<framework_id>/requirements/<path:requirement_id>/attest", "POST"): "analyst",
    ("/health", "GET"): PUBLIC,
    ("/imports", "GET"): "viewer",
    ("/imports", "POST"): "admin",
    ("/imports/audit", "POST"): "admin",
    ("/imports/discover", "POST"): "admin",
    ("/imports/tools", "POST"): "admin",
    ("/login", "GET"): PUBLIC,
    ("/login", "POST"): PUBLIC,
    ("/logout", "POST"): "viewer",
    ("/metrics", "GET"): "viewer",
    ("/policies", "GET"): "viewer",
    ("/reports/", "GET"): "viewer",
    ("/reports/", "POST"): "analyst",
    ("/reports/<int:report_id>/download", "GET"): "viewer",
    ("/reports/schedules", "GET"): "admin",
    ("/reports/schedules", "POST"): "admin",
    ("/reports/schedules/<int:schedule_id>", "GET"): "admin",
    ("/reports/schedules/<int:schedule_id>", "POST"): "admin",
    ("/reports/schedules/<int:schedule_id>/delete", "POST"): "admin",
    ("/reports/schedules/<int:schedule_id>/pause", "POST"): "admin",
    ("/reports/schedules/<int:schedule_id>/resume", "POST"): "admin",
    ("/reports/templates", "GET"): "admin",
    ("/reports/templates", "POST"): "admin",
    ("/reports/templates/<slug>/delete", "POST"): "admin",
    ("/reports/templates/built-in.html", "GET"): "admin",
    ("/servers", "GET"): "viewer",
    ("/servers/<path:server_id>", "GET"): "viewer",
    ("/servers/<path:server_id>/review", "POST"): "analyst",
    ("/static/<path:filename>", "GET"): PUBLIC,
    ("/users", "GET"): "admin",
    ("/users", "POST"): "admin",
    # The JSON API: a bearer token of at least this role.
    ("/api/v1/openapi.json", "GET"): PUBLIC,
    ("/api/v1/audit-events", "POST"): "admin",
    ("/api/v1/evaluations", "POST"): "analyst",
    ("/api/v1/findings", "GET"): "viewer",
    ("/api/v1/findings/<int:finding_id>", "GET"): "viewer",
    ("/api/v1/findings/<int:finding_id>/exceptions", "POST"): "analyst",
    ("/api/v1/frameworks", "GET"): "viewer",
    ("/api/v1/frameworks/<framework_id>/requirements", "GET"): "viewer",
    ("/api/v1/frameworks/<framework_id>/requirements/<path:requirement_id>/attestations", "POST"): "analyst",
    ("/api/v1/inventory", "GET"): "viewer",
    ("/api/v1/inventory", "POST"): "admin",
    ("/api/v1/inventory/<kind>", "GET"): "viewer",
    ("/api/v1/inventory/<kind>/<path:entry_id>", "GET"): "viewer",
    ("/api/v1/reports", "GET"): "viewer",
    ("/api/v1/reports", "POST"): "analyst",
    ("/api/v1/reports/<int:report_id>", "GET"): "viewer",
    ("/api/v1/reports/<int:report_id>/file", "GET"): "viewer",
    ("/api/v1/runs", "GET"): "viewer",
    ("/api/v1/runs/<int:run_id>", "GET"): "viewer",
}


@pytest.fixture(scope="module")
def walked(tmp_path_factory, migrated_template):
    """One seeded app for the whole walk (each request is cheap; seeding is not)."""
    settings = module_settings(tmp_path_factory, migrated_template, "route-walk")
    app = create_app(settings)
    from app.catalog import get_catalog
    from app.demo import import_demo_organisation
    from app.reporting.schedules import create_schedule

    tokens = {}
    with session_scope(get_engine(app)) as session:
        assert import_demo_organisation(session, actor="test", settings=settings).ok
    assert app.test_cli_runner().invoke(args=["evaluate"]).exit_code == 0
    with session_scope(get_engine(app)) as session:
        for role in ROLES:
            create_user(session, username=role, password=PASSWORD, role=role, actor="test")
            tokens[role], _ = create_api_token(
                session,
                name=f"walk-{role}",
                role=role,
                expires_at=datetime.now(UTC) + timedelta(days=1),
                created_by="test",
            )
        schedule = create_schedule(
            session, catalog=get_catalog(app), actor="test", name="Walk", preset="quarterly"
        )
        session.flush()
        finding_id = session.execute(select(Finding.id).limit(1)).scalar_one()
        values = {
            "agent_id": "research-worker-code",
            "server_id": "github",
            "finding_id": str(finding_id),
            "framework_id": "nist-ai-rmf-1.0",
            "requirement_id": "GOVERN 1.1",
            "check_id": "agent_has_owner",
            "schedule_id": str(schedule.id),
            "report_id": "999999",
            "run_id": "1",
            "kind": "agents",
            "entry_id": "research-worker-code",
            "slug": "no-such-template",
            "filename": "steward.css",
        }
    yield app, tokens, values
    dispose_engine(app)


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _url(rule, values) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values[m.group(1)], rule.rule)


def test_every_route_has_a_declared_least_role(walked):
    app, _, _ = walked
    declared = set(LEAST_ROLE)
    served = {(rule.rule, method) for rule, method in _routes(app)}
    assert served - declared == set(), "routes without a decision: add them to LEAST_ROLE"
    assert declared - served == set(), "LEAST_ROLE names routes that no longer exist"


def _request(client, method, url, *, token=None, with_csrf=True):
    if url.startswith("/api/"):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # A body each write refuses on its content (422): let in, yet no report rendered, nothing written.
        body = {"formats": ["none"]} if url.endswith("/reports") else {}
        response = client.open(url, method=method, headers=headers, json=body if method == "POST" else None)
    elif method == "POST":
        data = {"csrf_token": csrf_token(client, "/login")} if with_csrf else {}
        response = client.post(url, data=data)
    else:
        response = client.get(url)
    response.close()  # a streamed file (static, a download) holds its file open until closed
    return response


def test_signed_out_visitors_reach_only_the_public_routes(walked):
    app, _, values = walked
    wrong = []
    for rule, method in _routes(app):
        if rule.rule == "/login":
            continue
        url = _url(rule, values)
        response = _request(app.test_client(), method, url)
        is_public = LEAST_ROLE[(rule.rule, method)] == PUBLIC
        if is_public:
            ok = response.status_code == 200
        elif url.startswith("/api/"):
            ok = response.status_code == 401
        elif method == "GET":
            ok = response.status_code == 302 and "/login" in response.headers["Location"]
        else:  # a form post without a session: the CSRF check or the sign-in gate stops it
            ok = response.status_code in (302, 400) and "/login" in response.headers.get("Location", "/login")
        if not ok:
            wrong.append((method, url, response.status_code))
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_let_in_exactly_where_its_rank_reaches(walked, role):
    app, tokens, values = walked
    client = make_client(app, role)
    client.environ_base["REMOTE_ADDR"] = f"10.9.0.{RANK[role] + 1}"
    wrong = []
    for rule, method in sorted(_routes(app), key=lambda r: r[0].rule == "/logout"):  # sign-out last
        least = LEAST_ROLE[(rule.rule, method)]
        if least == PUBLIC:
            continue
        url = _url(rule, values)
        response = _request(client, method, url, token=tokens[role])
        if rule.rule == "/logout":
            ok = response.status_code == 302 and client.get("/").status_code == 302  # signed out
        elif RANK[role] >= RANK[least]:
            # Let in: whatever the outcome (done, redirected, a validation message, not found), not refused.
            ok = response.status_code not in (401, 403) and "/login" not in response.headers.get(
                "Location", ""
            )
            ok = ok and response.status_code < 500
        else:
            ok = response.status_code == 403
        if not ok:
            wrong.append((method, url, least, response.status_code))
    assert wrong == []


def test_every_form_post_without_its_csrf_token_is_refused_even_for_an_admin(walked):
    app, _, values = walked
    client = make_client(app, "admin")
    accepted = []
    for rule, method in _routes(app):
        if method != "POST" or rule.rule.startswith("/api/") or rule.rule == "/login":
            continue
        response = _request(client, method, _url(rule, values), with_csrf=False)
        if response.status_code != 400:
            accepted.append((rule.rule, response.status_code))
    assert accepted == []
