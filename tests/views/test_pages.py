"""Every page renders the demo organisation for a signed-in viewer."""

from __future__ import annotations

import json
import re

import pytest


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_overview_shows_a_card_per_framework_with_score_and_trend(viewer):
    page = text(viewer.get("/"))
    for name in ("OWASP Top 10 for Agentic Applications", "NIST AI Risk Management Framework", "MAESTRO"):
        assert name in page
    assert page.count('class="chart trend"') == 3
    assert re.search(r'<div class="score">\d+%</div>', page)
    assert "Open findings by severity" in page and "Newest changes" in page
    assert "Evaluation #1 ran" in page
    assert re.search(r"\d+ of \d+ check outcomes pass", page)


def test_framework_page_shows_the_requirement_tree_with_statuses(viewer):
    page = text(viewer.get("/frameworks/nist-ai-rmf-1.0"))
    assert "GOVERN 1.6" in page and "MANAGE 4.3" in page
    assert 'class="badge status-fail"' in page and 'class="badge status-not_attested"' in page
    maestro = text(viewer.get("/frameworks/csa-maestro"))
    assert "Steward" in maestro and "MAESTRO-L7" in maestro


def test_viewer_sees_no_attest_form_but_analyst_does(viewer, analyst):
    assert "Attest</button>" not in text(viewer.get("/frameworks/nist-ai-rmf-1.0"))
    assert "Attest</button>" in text(analyst.get("/frameworks/nist-ai-rmf-1.0"))


def test_crosswalk_shows_one_check_in_every_framework(viewer):
    page = text(viewer.get("/crosswalk/"))
    assert "sensitive_tool_requires_human_approval" in page
    check = text(viewer.get("/crosswalk/checks/sensitive_tool_requires_human_approval"))
    assert "ASI02" in check and "MAESTRO" in check and "NIST" in check
    requirement = text(viewer.get("/crosswalk/requirements/owasp-asi-2026/ASI02"))
    assert "The same checks evidence" in requirement


def test_findings_list_filters_live_in_the_url(viewer):
    everything = text(viewer.get("/findings"))
    total = int(re.search(r'id="result-count">(\d+) finding', everything).group(1))
    critical = text(viewer.get("/findings?severity=critical"))
    critical_total = int(re.search(r'id="result-count">(\d+) finding', critical).group(1))
    assert 0 < critical_total < total
    assert "sev-high" not in critical.split("<tbody>")[1]
    sorted_page = text(viewer.get("/findings?sort=check&severity=critical"))
    assert "severity=critical" in sorted_page  # sort links keep the filter


def test_finding_page_shows_rationale_remediation_evidence_and_history(viewer):
    listing = text(viewer.get("/findings"))
    finding_id = re.search(r'href="/findings/(\d+)"', listing).group(1)
    page = text(viewer.get(f"/findings/{finding_id}"))
    assert "Why it matters" in page and "What to do" in page
    assert "Evidence: the subject as it stands in the inventory" in page
    assert 'class="badge status-opened"' in page


def test_agent_page_answers_the_auditors_questions(viewer, seeded_app):
    from app.db import get_engine, session_scope
    from app.inventory.store import load_inventory

    with session_scope(get_engine(seeded_app)) as session:
        inventory = load_inventory(session)
    planner = next(a for a in inventory.agents if a.delegates_to)
    page = text(viewer.get(f"/agents/{planner.id}"))
    for heading in (
        "Accountability",
        "Identity",
        "Tools it can reach",
        "Credentials it holds",
        "Delegation",
        "Approvals issued for its tasks",
        "Open findings",
    ):
        assert heading in page
    assert 'class="graph"' in page and "<svg" in page


@pytest.mark.parametrize(
    "path",
    [
        "/agents",
        "/servers",
        "/credentials",
        "/policies",
        "/approvals",
        "/imports",
        "/exceptions",
        "/audit",
        "/frameworks/",
    ],
)
def test_inventory_and_record_pages_render(viewer, path):
    page = text(viewer.get(path))
    assert "<table" in page


def test_health_is_open_and_everything_else_needs_sign_in(anonymous):
    assert json.loads(anonymous.get("/health").get_data()) == {"status": "ok"}
    response = anonymous.get("/findings")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unknown_pages_get_a_friendly_404(viewer):
    response = viewer.get("/agents/no-such-agent")
    assert response.status_code == 404 and "There is nothing at this address." in response.get_data(
        as_text=True
    )


@pytest.mark.parametrize("severity", [None, "critical", "high"])
def test_findings_pages_are_most_severe_first_then_by_check_and_subject(seeded_app, severity):
    # The database reads these pages from indexes in that order: the order must stay the one promised.
    from app.assessment import FindingFilter, page_findings
    from app.catalog import SEVERITY_RANK, get_catalog
    from app.db import get_engine, session_scope

    flt = FindingFilter(severity=severity)
    listed, page, total = [], 1, None
    with session_scope(get_engine(seeded_app)) as session:
        while total is None or len(listed) < total:
            rows, total = page_findings(
                session, get_catalog(seeded_app), flt, sort="severity", page=page, per_page=7
            )
            assert rows, (page, total)
            listed += [(f.severity, f.check_id, f.subject_id) for f in rows]
            page += 1
    assert len(listed) == total > 7
    assert all(s == severity for s, _, _ in listed) or severity is None
    assert listed == sorted(listed, key=lambda f: (SEVERITY_RANK[f[0]], f[1], f[2]))
