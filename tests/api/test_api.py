"""The JSON API: tokens and roles, the inventory contract over HTTP, findings, decisions, evaluations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.db import get_engine, session_scope
from app.models.users import ApiToken
from app.security import create_api_token


def test_requests_without_a_valid_token_get_401_json(api):
    response = api("GET", "/findings", role=None)
    assert response.status_code == 401
    assert "a valid API token is required" in response.get_json()["error"]
    bad = api("GET", "/findings", role=None, headers={"Authorization": "Bearer stw_nope"})
    assert bad.status_code == 401


def test_expired_and_revoked_tokens_are_refused(api, seeded_app):
    with session_scope(get_engine(seeded_app)) as session:
        token, record = create_api_token(
            session,
            name="short",
            role="admin",
            created_by="t",
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
        token_id = record.id
    client = seeded_app.test_client()
    assert client.get("/api/v1/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with session_scope(get_engine(seeded_app)) as session:
        session.get(ApiToken, token_id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert client.get("/api/v1/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_tokens_are_stored_hashed(seeded_app, tokens):
    from sqlalchemy import select

    with session_scope(get_engine(seeded_app)) as session:
        stored = session.execute(select(ApiToken.token_hash, ApiToken.prefix)).all()
    assert all(token not in {h for h, _ in stored} for token in tokens.values())
    assert {p for _, p in stored} == {t[:10] for t in tokens.values()}


def test_inventory_reads_in_the_contract_format(api):
    document = api("GET", "/inventory").get_json()
    assert set(document) == {"agents", "mcp_servers", "credentials", "policies", "approvals"}
    agent = document["agents"][0]
    single = api("GET", f"/inventory/agents/{agent['id']}").get_json()
    assert single == agent
    assert api("GET", "/inventory/agents/nobody").status_code == 404
    assert api("GET", "/inventory/robots").status_code == 404


def test_inventory_write_is_validated_like_the_importer_and_changes_nothing_on_error(api):
    before = api("GET", "/inventory").get_json()
    bad = {"agents": [{"id": "api-bot", "environment": "moon", "identity": {"kind": "workload"}}]}
    response = api("POST", "/inventory", role="admin", json=bad)
    assert response.status_code == 422
    body = response.get_json()
    assert body["field"] == "agents[api-bot].environment"
    assert "'moon' is not one of production, staging, development" in body["errors"][0]["message"]
    assert api("GET", "/inventory").get_json() == before


def test_inventory_write_applies_and_evaluates(api):
    good = {
        "agents": [
            {
                "id": "api-bot",
                "owner": "a@example.org",
                "environment": "development",
                "identity": {"kind": "workload", "id": "spiffe://x/api-bot"},
            }
        ]
    }
    dry = api("POST", "/inventory?dry_run=1", role="admin", json=good).get_json()
    assert dry["dry_run"] is True and dry["changes"]["agents"]["created"] == ["api-bot"]
    assert api("GET", "/inventory/agents/api-bot").status_code == 404
    applied = api("POST", "/inventory", role="admin", json=good)
    assert applied.status_code == 200, applied.get_json()
    assert applied.get_json()["evaluation"] == "requested"
    assert api("GET", "/inventory/agents/api-bot").status_code == 200
    assert api("GET", "/runs").get_json()["items"][0]["trigger"] == "api"


def test_a_burst_of_api_writes_gives_one_evaluation_after_the_burst(api, seeded_app):
    import time
    from dataclasses import replace

    seeded_app.config["STEWARD"] = replace(seeded_app.config["STEWARD"], evaluation_debounce_seconds=1)
    runs_before = len(api("GET", "/runs").get_json()["items"])
    for i in range(5):
        entry = {
            "agents": [
                {
                    "id": f"burst-{i}",
                    "owner": "a@example.org",
                    "environment": "development",
                    "identity": {"kind": "workload", "id": f"spiffe://x/burst-{i}"},
                }
            ]
        }
        assert api("POST", "/inventory", role="admin", json=entry).get_json()["evaluation"] == "requested"
    assert (
        len(api("GET", "/runs").get_json()["items"]) == runs_before
    )  # nothing yet: the burst is still going
    seeded_app.extensions["steward.debouncer"].flush()
    runs = api("GET", "/runs").get_json()["items"]
    assert len(runs) == runs_before + 1 and runs[0]["trigger"] == "api"
    time.sleep(1.2)
    assert len(api("GET", "/runs").get_json()["items"]) == runs_before + 1  # and no second run after it


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("viewer", "POST", "/inventory", {"agents": []}),
        ("analyst", "POST", "/inventory", {"agents": []}),
        ("viewer", "POST", "/evaluations", None),
        ("viewer", "POST", "/findings/1/exceptions", {"justification": "x", "expires_at": "2027-01-01"}),
    ],
)
def test_roles_are_enforced_on_writes(api, role, method, path, body):
    response = api(method, path, role=role, json=body)
    assert response.status_code == 403
    assert "may not do this" in response.get_json()["error"]


def test_findings_filters_and_validation(api):
    everything = api("GET", "/findings").get_json()
    assert everything["total"] > 0
    critical = api("GET", "/findings?severity=critical").get_json()
    assert 0 < critical["total"] < everything["total"]
    assert {f["severity"] for f in critical["items"]} == {"critical"}
    bad = api("GET", "/findings?severity=urgent")
    assert bad.status_code == 400 and bad.get_json()["field"] == "severity"
    finding = api("GET", f"/findings/{everything['items'][0]['id']}").get_json()
    assert finding["history"][0]["change"] == "opened"


def test_exception_and_attestation_through_the_api(api):
    finding_id = api("GET", "/findings").get_json()["items"][0]["id"]
    expires = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    missing = api("POST", f"/findings/{finding_id}/exceptions", role="analyst", json={"justification": "ok"})
    assert missing.status_code == 422 and missing.get_json()["field"] == "expires_at"
    created = api(
        "POST",
        f"/findings/{finding_id}/exceptions",
        role="analyst",
        json={"justification": "Compensating control", "expires_at": expires},
    )
    assert created.status_code == 201
    requirements = api("GET", "/frameworks/nist-ai-rmf-1.0/requirements").get_json()["items"]
    manual = next(r for r in requirements if r["manual"])
    attested = api(
        "POST",
        f"/frameworks/nist-ai-rmf-1.0/requirements/{manual['id']}/attestations",
        role="analyst",
        json={
            "statement": "Board-approved AI policy",
            "expires_at": expires,
            "evidence_url": "https://wiki.example.org/ai-policy",
        },
    )
    assert attested.status_code == 201, attested.get_json()
    statuses = api("GET", "/frameworks/nist-ai-rmf-1.0/requirements").get_json()["items"]
    assert next(r for r in statuses if r["id"] == manual["id"])["status"] == "attested"


def test_trigger_an_evaluation_and_read_runs(api):
    created = api("POST", "/evaluations", role="analyst")
    assert created.status_code == 201
    run = created.get_json()
    assert set(run["scores"]) == {"owasp-asi-2026", "csa-maestro", "nist-ai-rmf-1.0"}
    assert api("GET", f"/runs/{run['id']}").get_json()["requirement_statuses"]
    assert api("GET", "/runs").get_json()["items"][0]["id"] == run["id"]


def test_unknown_api_paths_are_json_404(api):
    response = api("GET", "/nothing-here")
    assert response.status_code == 404 and "error" in response.get_json()


def test_a_malformed_body_is_a_json_400(api):
    response = api("POST", "/inventory", role="admin", data="not json", content_type="application/json")
    assert response.status_code == 400
    assert "expected a JSON object" in response.get_json()["error"]
