"""Finding metrics on constructed histories: days open, mean time to remediate, regressions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import event

from app.catalog import load_catalog
from app.config import PROJECT_ROOT
from app.metrics import NO_TEAM, finding_metrics
from app.models.assessment import Finding, FindingEvent

T0 = datetime(2026, 9, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
STATUS_AFTER = {"opened": "open", "resolved": "resolved", "reopened": "reopened"}
SUBJECTS = itertools.count(1)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def add_finding(
    session,
    *,
    events: list[tuple[str, float]],
    check_id: str = "agent_declares_purpose",
    subject_id: str | None = None,
    severity: str = "medium",
    team: str | None = "payments",
    environment: str = "production",
) -> Finding:
    """A finding whose history is the given (change, day) list; its row agrees with the history."""
    changes = [change for change, _ in events]
    resolved = [at for change, at in events if change == "resolved"]
    finding = Finding(
        check_id=check_id,
        subject_kind="agent",
        subject_id=subject_id or f"agent-{next(SUBJECTS)}",
        status=STATUS_AFTER[changes[-1]],
        severity=severity,
        team=team,
        environment=environment,
        first_seen_at=day(events[0][1]),
        last_seen_at=day(events[-1][1]),
        resolved_at=day(resolved[-1]) if changes[-1] == "resolved" else None,
        reopened_count=changes.count("reopened"),
    )
    session.add(finding)
    session.flush()
    for run_id, (change, at) in enumerate(events, start=1):
        session.add(FindingEvent(finding_id=finding.id, run_id=run_id, at=day(at), change=change))
    session.flush()
    return finding


def by_key(rows):
    return {row.key: row for row in rows}


@pytest.fixture
def team_catalog(tmp_path):
    """The built-in catalog plus a team framework that only maps the owner check."""
    extra = tmp_path / "team-controls"
    extra.mkdir()
    framework = {
        "framework": {
            "id": "acme-owners",
            "name": "ACME ownership standard",
            "version": "1",
            "publisher": "ACME GRC",
            "source_url": "https://grc.acme.example/standards/ownership",
            "retrieved": "2026-11-01",
            "official_ids": True,
            "levels": ["control"],
        },
        "groups": [],
        "requirements": [
            {
                "id": "ACME-1",
                "title": "Every agent has an owner",
                "summary": "Owners are named.",
                "parent": None,
                "checks": ["agent_has_accountable_owner"],
            }
        ],
    }
    (extra / "acme-owners.yaml").write_text(yaml.safe_dump(framework, sort_keys=False))
    return load_catalog([PROJECT_ROOT / "controls", extra])


def test_a_finding_reopened_after_being_clean_is_a_regression_with_how_long_it_stayed_clean(session):
    finding = add_finding(session, events=[("opened", 0), ("resolved", 10), ("reopened", 14)])
    metrics = finding_metrics(session, now=NOW)
    assert metrics.regressions.count == 1
    assert metrics.regressions.mean_days == pytest.approx(4)
    assert metrics.regressed_findings == 1 and metrics.reopened_now == 1
    [regression] = metrics.recent_regressions
    assert regression.finding_id == finding.id
    assert regression.resolved_at == day(10) and regression.reopened_at == day(14)
    assert regression.clean_days == pytest.approx(4)
    assert regression.status == "reopened"
    # it is open again since its reopening, not since it was first seen
    assert metrics.open.count == 1
    assert metrics.open.mean_days == pytest.approx((NOW - day(14)).days)
    assert metrics.oldest_open[0].open_since == day(14)


def test_a_finding_never_resolved_or_resolved_for_good_is_no_regression(session):
    add_finding(session, events=[("opened", 0)])
    add_finding(session, events=[("opened", 0), ("resolved", 3)])
    metrics = finding_metrics(session, now=NOW)
    assert metrics.regressions.count == 0 and metrics.regressions.mean_days is None
    assert metrics.recent_regressions == ()
    assert metrics.regressed_findings == 0 and metrics.reopened_now == 0


def test_every_regression_of_a_finding_counts_with_its_own_clean_spell(session):
    add_finding(
        session,
        events=[("opened", 0), ("resolved", 2), ("reopened", 5), ("resolved", 6), ("reopened", 16)],
    )
    metrics = finding_metrics(session, now=NOW)
    assert metrics.regressions.count == 2
    assert metrics.regressions.mean_days == pytest.approx((3 + 10) / 2)
    assert [r.clean_days for r in metrics.recent_regressions] == pytest.approx([10, 3])  # newest first
    assert metrics.regressed_findings == 1
    # each remediation runs from the opening (or reopening) before it
    assert metrics.remediation.count == 2
    assert metrics.remediation.mean_days == pytest.approx((2 + 1) / 2)


def test_mean_time_to_remediate_per_severity_and_team(session):
    add_finding(session, severity="high", team="payments", events=[("opened", 0), ("resolved", 2)])
    add_finding(session, severity="high", team="search", events=[("opened", 1), ("resolved", 5)])
    add_finding(session, severity="critical", team="search", events=[("opened", 0), ("resolved", 10)])
    add_finding(session, severity="low", team=None, events=[("opened", 0), ("resolved", 0.5)])
    metrics = finding_metrics(session, now=NOW)
    severity = by_key(metrics.remediation_by_severity)
    assert [d.key for d in metrics.remediation_by_severity] == ["critical", "high", "low"]
    assert severity["high"].count == 2 and severity["high"].mean_days == pytest.approx(3)
    assert severity["critical"].mean_days == pytest.approx(10)
    assert severity["low"].mean_days == pytest.approx(0.5)
    team = by_key(metrics.remediation_by_team)
    assert team["payments"].mean_days == pytest.approx(2)
    assert team["search"].count == 2 and team["search"].mean_days == pytest.approx(7)
    assert team[NO_TEAM].count == 1
    assert [d.key for d in metrics.remediation_by_team][-1] == NO_TEAM
    assert metrics.remediation.count == 4
    assert metrics.remediation.mean_days == pytest.approx((2 + 4 + 10 + 0.5) / 4)


def test_an_open_finding_does_not_count_towards_time_to_remediate(session):
    add_finding(session, severity="high", events=[("opened", 0)])
    add_finding(session, severity="high", events=[("opened", 0), ("resolved", 1), ("reopened", 2)])
    metrics = finding_metrics(session, now=NOW)
    assert metrics.remediation.count == 1 and metrics.remediation.mean_days == pytest.approx(1)
    assert by_key(metrics.remediation_by_severity)["high"].count == 1
    assert metrics.open.count == 2


def test_mean_time_to_remediate_per_framework_follows_the_catalog_mapping(session, team_catalog):
    add_finding(session, check_id="agent_has_accountable_owner", events=[("opened", 0), ("resolved", 6)])
    add_finding(session, check_id="agent_declares_purpose", events=[("opened", 0), ("resolved", 2)])
    metrics = finding_metrics(session, catalog=team_catalog, now=NOW)
    framework = by_key(metrics.remediation_by_framework)
    # the team framework maps only the owner check; the built-in ones map both
    assert framework["acme-owners"].count == 1 and framework["acme-owners"].mean_days == pytest.approx(6)
    assert framework["acme-owners"].label == "ACME ownership standard"
    assert framework["owasp-asi-2026"].count == 2
    assert framework["owasp-asi-2026"].mean_days == pytest.approx(4)
    # without a catalog there is nothing to map checks to frameworks with
    assert finding_metrics(session, now=NOW).remediation_by_framework == ()


def test_days_open_fall_into_age_bands_per_severity(session):
    for age, severity in ((3, "critical"), (20, "critical"), (60, "high"), (200, "high")):
        start = (NOW - timedelta(days=age) - T0).total_seconds() / 86400
        add_finding(session, severity=severity, events=[("opened", start)])
    add_finding(session, severity="high", events=[("opened", -400), ("resolved", 1)])  # resolved: not open
    metrics = finding_metrics(session, now=NOW)
    assert metrics.open.count == 4
    assert metrics.open.bands == (1, 1, 1, 1)
    assert metrics.open.oldest_days == pytest.approx(200)
    assert metrics.open.mean_days == pytest.approx((3 + 20 + 60 + 200) / 4)
    severity = by_key(metrics.open_by_severity)
    assert [a.key for a in metrics.open_by_severity] == ["critical", "high", "medium", "low"]
    assert severity["critical"].bands == (1, 1, 0, 0) and severity["high"].bands == (0, 0, 1, 1)
    assert severity["medium"].count == 0 and severity["medium"].mean_days is None
    assert [round(f.days_open) for f in metrics.oldest_open] == [200, 60, 20, 3]


def test_filters_narrow_the_findings_by_check_team_and_environment(session):
    add_finding(session, team="payments", events=[("opened", 0), ("resolved", 1), ("reopened", 2)])
    add_finding(
        session,
        team="search",
        environment="staging",
        events=[("opened", 0), ("resolved", 3), ("reopened", 9)],
    )
    add_finding(session, check_id="agent_identity_attested", team="payments", events=[("opened", 0)])
    payments = finding_metrics(session, now=NOW, teams=("payments",))
    assert payments.regressions.count == 1 and payments.open.count == 2
    staging = finding_metrics(session, now=NOW, environments=("staging",))
    assert staging.regressions.mean_days == pytest.approx(6) and staging.remediation.mean_days == 3
    identity = finding_metrics(session, now=NOW, check_ids={"agent_identity_attested"})
    assert identity.open.count == 1 and identity.regressions.count == 0 and identity.remediation.count == 0


def test_an_empty_database_has_empty_metrics(session):
    metrics = finding_metrics(session, now=NOW)
    assert metrics.open.count == 0 and metrics.open.mean_days is None and metrics.open.oldest_days is None
    assert metrics.remediation.count == 0 and metrics.regressions.count == 0
    assert metrics.oldest_open == () and metrics.recent_regressions == ()


def test_the_number_of_queries_does_not_grow_with_the_findings(session, engine, team_catalog):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def queries_for(n: int) -> int:
        for _ in range(n):
            add_finding(session, events=[("opened", 0), ("resolved", 2), ("reopened", 5)])
        session.flush()
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            finding_metrics(session, catalog=team_catalog, now=NOW)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    assert queries_for(2) == queries_for(40)


def signed_in(app):
    from app.db import get_engine, session_scope
    from app.security import create_user
    from tests.conftest import PASSWORD
    from tests.views.conftest import make_client

    with session_scope(get_engine(app)) as session:
        create_user(session, username="viewer", password=PASSWORD, role="viewer", actor="test")
    return make_client(app, "viewer")


def test_the_metrics_page_shows_regressions_and_is_linked_from_the_overview(app, session):
    now = datetime.now(UTC)
    days_ago = (now - T0).total_seconds() / 86400
    finding = add_finding(
        session, events=[("opened", days_ago - 20), ("resolved", days_ago - 15), ("reopened", days_ago - 5)]
    )
    session.commit()
    client = signed_in(app)
    assert 'href="/metrics"' in client.get("/").get_data(as_text=True)
    page = client.get("/metrics").get_data(as_text=True)
    assert "Mean time to remediate by framework" in page and "Days open by team" in page
    assert f"#{finding.id} {finding.check_id}" in page
    assert '<td class="num">10.0</td>' in page  # stayed clean for ten days
    assert "No finding has failed again after being resolved." not in page


def test_the_metrics_page_with_no_findings_says_so(app):
    page = signed_in(app).get("/metrics").get_data(as_text=True)
    assert "No finding has failed again after being resolved." in page
    assert "No open findings." in page
