"""A GRC analyst's walk through the dashboard in a real browser."""

from __future__ import annotations

import re

from tests.browser.conftest import sign_in


def scores(page) -> list[int]:
    return [int(s.rstrip("%")) for s in page.locator(".framework-card .score").all_inner_texts()]


def test_sign_in_and_read_the_overview(page):
    page.goto(page.base + "/findings")
    assert "/login" in page.url
    sign_in(page, "viewer")
    assert page.locator(".framework-card").count() == 3
    assert all(0 <= s <= 100 for s in scores(page))
    assert page.locator("svg.chart.trend").count() == 3
    assert page.errors == []


def test_filter_findings_and_share_the_filter_in_the_url(page):
    sign_in(page, "viewer")
    page.click("text=Findings")
    total = int(re.search(r"(\d+) finding", page.inner_text("#result-count")).group(1))
    page.select_option("select[name=severity]", "critical")
    page.click("form.filters button[type=submit]")
    assert "severity=critical" in page.url
    filtered = int(re.search(r"(\d+) finding", page.inner_text("#result-count")).group(1))
    assert 0 < filtered < total
    assert set(page.locator("tbody .badge[class*=sev-]").all_inner_texts()) == {"critical"}
    page.goto(page.url)  # the shared link shows the same list
    assert int(re.search(r"(\d+) finding", page.inner_text("#result-count")).group(1)) == filtered
    assert page.errors == []


def test_accept_a_risk_and_see_the_score_change(page):
    sign_in(page, "analyst")
    before = scores(page)
    # Accepting every gap behind one requirement (ASI01) turns that requirement green.
    page.goto(page.base + "/findings?framework=owasp-asi-2026&requirement=ASI01")
    links = page.locator("tbody td:first-child a").all_inner_texts()
    for finding_id in links:
        page.goto(f"{page.base}/findings/{finding_id}")
        page.fill("textarea[name=justification]", "Compensating control: gateway allow-list until Q2")
        page.fill("input[name=expires_at]", "2027-06-30")
        page.click("form.accept button[type=submit]")
        assert "Risk accepted" in page.inner_text(".flash")
    page.goto(page.base + "/")
    after = scores(page)
    assert sum(after) > sum(before)
    assert page.errors == []


def test_walk_an_agents_page(page):
    sign_in(page, "viewer")
    page.click("text=Inventory")
    page.locator("tbody tr td:first-child a").first.click()
    for heading in (
        "Accountability",
        "Identity",
        "Tools it can reach",
        "Credentials it holds",
        "Open findings",
    ):
        assert page.locator(f"h2:has-text('{heading}')").count() == 1
    assert page.errors == []


def test_every_page_renders_without_console_errors(page):
    sign_in(page, "admin")
    for path in (
        "/",
        "/frameworks/",
        "/frameworks/nist-ai-rmf-1.0",
        "/frameworks/csa-maestro",
        "/frameworks/owasp-asi-2026",
        "/crosswalk/",
        "/findings",
        "/exceptions",
        "/agents",
        "/servers",
        "/credentials",
        "/policies",
        "/approvals",
        "/imports",
        "/audit",
        "/users",
    ):
        response = page.goto(page.base + path)
        assert response.status == 200, path
    assert page.errors == []
