"""The API's runtime evidence and reports: audit events in, evidence reports out."""

from __future__ import annotations

import hashlib


def event(n: int, **kw) -> dict:
    return {
        "ts": "2026-11-23T10:00:00Z",
        "agent": "support-bot",
        "tool": "jira.search_issues",
        "decision": "allow",
        "event_id": f"api-{n}",
        **kw,
    }


def test_audit_events_import_skipping_bad_ones_by_index(api):
    response = api(
        "POST",
        "/audit-events",
        role="admin",
        json={"events": [event(1), event(2, decision="maybe"), event(3)]},
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["imported"], body["rejected"]) == (2, 1)
    assert body["errors"][0]["field"] == "events[1]" and "maybe" in body["errors"][0]["message"]
    again = api("POST", "/audit-events", role="admin", json={"events": [event(1)]}).get_json()
    assert (again["imported"], again["duplicates"]) == (0, 1)


def test_audit_events_dry_run_writes_nothing(api):
    response = api("POST", "/audit-events?dry_run=1", role="admin", json={"events": [event(9)]})
    assert response.status_code == 200 and response.get_json()["dry_run"] is True
    again = api("POST", "/audit-events", role="admin", json={"events": [event(9)]}).get_json()
    assert again["imported"] == 1


def test_audit_events_need_an_admin_and_a_list(api):
    assert api("POST", "/audit-events", role="analyst", json={"events": [event(1)]}).status_code == 403
    response = api("POST", "/audit-events", role="admin", json={"events": "nope"})
    assert response.status_code == 422 and response.get_json()["field"] == "events"


def test_report_generated_listed_and_downloaded_with_its_hash(api):
    response = api(
        "POST", "/reports", role="analyst", json={"formats": ["xlsx"], "frameworks": ["owasp-asi-2026"]}
    )
    assert response.status_code == 201, response.get_json()
    [report] = response.get_json()["items"]
    assert report["format"] == "xlsx" and report["scope"]["frameworks"] == ["owasp-asi-2026"]
    assert report["id"] in [r["id"] for r in api("GET", "/reports").get_json()["items"]]
    assert api("GET", f"/reports/{report['id']}").get_json()["sha256"] == report["sha256"]
    download = api("GET", f"/reports/{report['id']}/file")
    assert download.status_code == 200
    data = download.data
    download.close()
    assert hashlib.sha256(data).hexdigest() == report["sha256"]


def test_report_with_an_unknown_framework_is_refused_and_viewers_cannot_generate(api):
    response = api("POST", "/reports", role="analyst", json={"frameworks": ["iso-99999"]})
    assert response.status_code == 422 and "iso-99999" in response.get_json()["error"]
    assert api("POST", "/reports", role="viewer", json={}).status_code == 403
    assert api("GET", "/reports/999999").status_code == 404
