"""Evaluation: findings with a lifecycle, requirement statuses, scores, exceptions, attestations."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app.assessment import DecisionError, accept_risk, attest_requirement
from app.catalog import get_catalog
from app.checks import REGISTRY
from app.evaluation import run_evaluation
from app.models.assessment import EvaluationRun, Finding, FindingEvent, RiskAcceptance
from tests.conftest import minimal_inventory, write_yaml

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def evaluate(app, session, now=NOW):
    summary = run_evaluation(
        session,
        catalog=get_catalog(app),
        settings=app.config["STEWARD"],
        trigger="test",
        actor="test",
        now=now,
    )
    session.commit()  # release SQLite's write lock before the test imports again
    return summary


def load(app, path) -> None:
    """Import files without the evaluation an import normally triggers, so each test controls its runs."""
    from app.db import get_engine, session_scope
    from app.inventory import import_inventory

    with session_scope(get_engine(app)) as db:
        result = import_inventory(
            db, paths=[str(path)], actor="test", max_bytes=10**8, max_alias_expansion=10**4
        )
    assert result.ok, result.errors


def findings_by_key(session) -> dict[tuple[str, str], Finding]:
    return {(f.check_id, f.subject_id): f for f in session.execute(select(Finding)).scalars()}


@pytest.fixture
def seeded(app):
    """The whole demo organisation: inventory, its people's client configs and the audit log."""
    from app.db import get_engine, session_scope
    from app.demo import import_demo_organisation

    with session_scope(get_engine(app)) as db:
        assert import_demo_organisation(db, actor="test", settings=app.config["STEWARD"]).ok


def test_seed_gives_findings_in_every_domain_and_each_check_fails_and_passes_somewhere(app, session, seeded):
    summary = evaluate(app, session)
    run = summary.run
    assert run.check_errors == {}
    catalog = get_catalog(app)
    domains = Counter(catalog.checks[f.check_id].domain for f in session.execute(select(Finding)).scalars())
    assert set(domains) == {
        "identity",
        "credentials",
        "access",
        "servers",
        "delegation",
        "approvals",
        "runtime",
    }
    for check_id, stats in run.check_stats.items():
        assert stats["failed"] >= 1, f"{check_id} finds nothing in the seed"
        assert stats["passed"] >= 1, f"{check_id} passes nowhere in the seed"


def test_seed_audit_log_gives_exactly_the_runtime_findings_it_was_built_to_contain(app, session, seeded):
    evaluate(app, session)
    runtime = {check for check, meta in get_catalog(app).checks.items() if meta.domain == "runtime"}
    found = {
        (f.check_id, f.subject_id)
        for f in session.execute(select(Finding)).scalars()
        if f.check_id in runtime
    }
    assert found == {
        ("sensitive_calls_have_approval", "release-bot-staging::deploy.rollout"),  # viol-no-approval
        ("sensitive_calls_have_approval", "release-bot::deploy.rollout"),  # viol-expired-approval
        ("sensitive_calls_have_approval", "data-pipeline-ingest::postgres.execute"),  # viol-chain-depth
        ("calls_within_chain_depth_limit", "data-pipeline-ingest::postgres.execute"),  # viol-chain-depth
        ("calls_use_unexpired_credentials", "legacy-etl::postgres.query"),  # viol-expired-credential
        ("calls_come_from_inventoried_agents", "shadow-gpt-helper"),  # viol-shadow-1, viol-shadow-2
        ("calls_stay_within_declared_tools", "support-bot"),  # viol-undeclared-tool
        ("production_agent_is_monitored", "hr-onboarding-bot"),  # silent all week
    }
    details = {f.check_id + f.subject_id: f.detail for f in session.execute(select(Finding)).scalars()}
    assert "viol-expired-approval" in details["sensitive_calls_have_approvalrelease-bot::deploy.rollout"]
    assert "appr-1048 expired" in details["sensitive_calls_have_approvalrelease-bot::deploy.rollout"]


def test_every_requirement_status_is_explained_by_its_checks(app, session, seeded):
    run = evaluate(app, session).run
    catalog = get_catalog(app)
    open_checks = {f.check_id for f in session.execute(select(Finding)).scalars() if f.status == "open"}
    for framework in catalog.frameworks.values():
        statuses = run.requirement_statuses[framework.id]
        assert set(statuses) == {r.id for r in framework.requirements}
        for requirement in framework.requirements:
            status = statuses[requirement.id]
            if requirement.is_manual:
                assert status == "not_attested"
            elif set(requirement.checks) & open_checks:
                assert status == "fail", requirement.id
            elif all(run.check_stats[c]["examined"] == 0 for c in requirement.checks):
                assert status == "no_data"
            else:
                assert status == "pass", requirement.id
        assert run.scores[framework.id] is not None


def test_run_records_catalog_hash_duration_and_counts(app, session, seeded):
    run = evaluate(app, session).run
    assert run.catalog_hash == get_catalog(app).hash and len(run.catalog_hash) == 64
    assert run.finished_at is not None and run.duration_ms >= 0
    assert run.counts["opened"] == run.counts["open"] > 0
    assert run.counts["checks"] == len(REGISTRY)


def test_second_run_on_an_unchanged_inventory_changes_no_finding(app, session, seeded):
    first = evaluate(app, session)
    second = evaluate(app, session, now=NOW + timedelta(minutes=15))
    assert (second.opened, second.resolved, second.reopened) == (0, 0, 0)
    assert second.open_total == first.open_total
    finding = session.execute(select(Finding)).scalars().first()
    assert finding.first_seen_at == NOW and finding.last_seen_at == NOW + timedelta(minutes=15)


def test_fixing_a_policy_resolves_exactly_its_findings_and_keeps_history(app, runner, session, tmp_path):
    data = minimal_inventory()
    path = write_yaml(tmp_path / "inv.yaml", data)
    load(app, path)
    evaluate(app, session)
    before = {k for k, f in findings_by_key(session).items() if f.status == "open"}
    assert ("sensitive_tool_policy_constrains_intent", "release-bot::deploy.rollout") in before
    assert ("sensitive_tool_uses_task_scoped_credential", "release-bot::deploy.rollout") in before

    data["policies"][0].update(intents=["release"], jit_credential_ttl_seconds=300)
    load(app, write_yaml(path, data))
    summary = evaluate(app, session, now=NOW + timedelta(hours=1))
    after = findings_by_key(session)
    resolved = {k for k, f in after.items() if f.status == "resolved"}
    assert resolved == {
        ("sensitive_tool_policy_constrains_intent", "release-bot::deploy.rollout"),
        ("sensitive_tool_uses_task_scoped_credential", "release-bot::deploy.rollout"),
    }
    assert summary.resolved == 2 and summary.opened == 0
    finding = after[("sensitive_tool_policy_constrains_intent", "release-bot::deploy.rollout")]
    history = (
        session.execute(
            select(FindingEvent).where(FindingEvent.finding_id == finding.id).order_by(FindingEvent.id)
        )
        .scalars()
        .all()
    )
    assert [e.change for e in history] == ["opened", "resolved"]
    assert finding.first_seen_at == NOW and finding.resolved_at == NOW + timedelta(hours=1)

    data["policies"][0]["intents"] = []
    load(app, write_yaml(path, data))
    summary = evaluate(app, session, now=NOW + timedelta(hours=2))
    assert summary.reopened == 1
    session.refresh(finding)
    assert finding.status == "reopened" and finding.reopened_count == 1
    history = (
        session.execute(
            select(FindingEvent).where(FindingEvent.finding_id == finding.id).order_by(FindingEvent.id)
        )
        .scalars()
        .all()
    )
    assert [e.change for e in history] == ["opened", "resolved", "reopened"]


def test_a_crashing_check_is_recorded_and_the_run_goes_on(app, session, seeded, monkeypatch):
    evaluate(app, session)
    owner_findings = [
        f for f in session.execute(select(Finding)).scalars() if f.check_id == "agent_has_accountable_owner"
    ]
    assert owner_findings

    def broken(snapshot):
        raise RuntimeError("boom")
        yield  # pragma: no cover

    monkeypatch.setitem(REGISTRY, "agent_has_accountable_owner", broken)
    run = evaluate(app, session, now=NOW + timedelta(hours=1)).run
    assert run.check_errors == {"agent_has_accountable_owner": "RuntimeError: boom"}
    assert run.counts["outcomes"] > 0
    for finding in owner_findings:
        session.refresh(finding)
        assert finding.status == "open"  # a crashed check proves nothing either way
    owasp = get_catalog(app).frameworks["nist-ai-rmf-1.0"]
    affected = [r.id for r in owasp.requirements if "agent_has_accountable_owner" in r.checks]
    assert affected and all(run.requirement_statuses["nist-ai-rmf-1.0"][r] == "error" for r in affected)


def test_accepted_risk_leaves_the_score_until_it_expires_and_is_never_deleted(
    app, runner, session, inventory_file
):
    load(app, inventory_file)
    first = evaluate(app, session).run
    framework = "owasp-asi-2026"
    failing = [r for r, s in first.requirement_statuses[framework].items() if s == "fail"]
    assert failing

    open_findings = [f for f in session.execute(select(Finding)).scalars() if f.status == "open"]
    for finding in open_findings:
        accept_risk(
            session,
            finding_id=finding.id,
            justification="Compensating control: gateway allow-list",
            accepted_by="ciso@example.org",
            expires_at=NOW + timedelta(days=30),
            now=NOW,
        )
    excepted = evaluate(app, session, now=NOW + timedelta(days=1)).run
    assert all(excepted.requirement_statuses[framework][r] == "pass" for r in failing)
    assert excepted.scores[framework] > first.scores[framework]
    assert excepted.counts["open"] == first.counts["open"]  # excepted, not resolved

    expired = evaluate(app, session, now=NOW + timedelta(days=31)).run
    assert expired.requirement_statuses[framework] == first.requirement_statuses[framework]
    assert expired.scores[framework] == first.scores[framework]
    assert len(session.execute(select(RiskAcceptance)).scalars().all()) == len(open_findings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expires_at": None}, "expires_at: missing"),
        ({"expires_at": NOW + timedelta(days=400)}, "more than a year away"),
        ({"expires_at": NOW - timedelta(days=1)}, "is not in the future"),
        ({"justification": "  "}, "justification: missing"),
        ({"finding_id": 99999}, "finding 99999: no such finding"),
    ],
)
def test_risk_acceptance_is_refused_when_incomplete(app, runner, session, inventory_file, kwargs, message):
    load(app, inventory_file)
    evaluate(app, session)
    finding = session.execute(select(Finding)).scalars().first()
    arguments = {
        "finding_id": finding.id,
        "justification": "ok",
        "accepted_by": "ciso@example.org",
        "expires_at": NOW + timedelta(days=30),
        "now": NOW,
    } | kwargs
    with pytest.raises(DecisionError, match=message):
        accept_risk(session, **arguments)


def test_attestation_meets_a_manual_requirement_until_it_expires(
    app, runner, session, inventory_file, tmp_path
):
    load(app, inventory_file)
    catalog = get_catalog(app)
    framework = catalog.frameworks["nist-ai-rmf-1.0"]
    manual = next(r for r in framework.requirements if r.is_manual)
    evidence = tmp_path / "ai-policy.pdf"
    evidence.write_bytes(b"%PDF-1.4 policy")
    attestation = attest_requirement(
        session,
        catalog=catalog,
        framework_id=framework.id,
        requirement_id=manual.id,
        statement="The AI use policy was approved by the board.",
        attested_by="grc@example.org",
        expires_at=NOW + timedelta(days=90),
        evidence_file=evidence,
        attachments_dir=tmp_path / "attachments",
        now=NOW,
    )
    assert (tmp_path / "attachments" / attestation.evidence_sha256).read_bytes() == b"%PDF-1.4 policy"
    attested = evaluate(app, session, now=NOW + timedelta(days=1)).run
    assert attested.requirement_statuses[framework.id][manual.id] == "attested"
    later = evaluate(app, session, now=NOW + timedelta(days=91)).run
    assert later.requirement_statuses[framework.id][manual.id] == "not_attested"


def test_not_applicable_attestation_leaves_the_denominator(app, runner, session, inventory_file):
    load(app, inventory_file)
    catalog = get_catalog(app)
    framework = catalog.frameworks["owasp-asi-2026"]
    before = evaluate(app, session).run
    manual = next(r for r in catalog.frameworks["nist-ai-rmf-1.0"].requirements if r.is_manual)
    attest_requirement(
        session,
        catalog=catalog,
        framework_id="nist-ai-rmf-1.0",
        requirement_id=manual.id,
        statement="We train no models.",
        attested_by="grc@example.org",
        expires_at=NOW + timedelta(days=90),
        evidence_url="https://wiki.example.org/ai",
        is_not_applicable=True,
        now=NOW,
    )
    after = evaluate(app, session, now=NOW + timedelta(minutes=1)).run
    assert after.requirement_statuses["nist-ai-rmf-1.0"][manual.id] == "not_applicable"

    def applicable(run):
        return sum(
            s not in ("no_data", "not_applicable")
            for s in run.requirement_statuses["nist-ai-rmf-1.0"].values()
        )

    applicable_before, applicable_after = applicable(before), applicable(after)
    assert applicable_after == applicable_before - 1
    assert framework.id in after.scores


def test_attesting_an_automated_requirement_is_refused(app, session):
    catalog = get_catalog(app)
    automated = next(r for r in catalog.frameworks["owasp-asi-2026"].requirements if not r.is_manual)
    with pytest.raises(DecisionError, match="only a manual requirement is attested"):
        attest_requirement(
            session,
            catalog=catalog,
            framework_id="owasp-asi-2026",
            requirement_id=automated.id,
            statement="x",
            attested_by="a",
            expires_at=NOW + timedelta(days=1),
            evidence_url="https://x.example",
            now=NOW,
        )


def test_runs_are_kept_so_trends_are_a_query(app, session, seeded):
    evaluate(app, session)
    evaluate(app, session, now=NOW + timedelta(minutes=15))
    runs = session.execute(select(EvaluationRun).order_by(EvaluationRun.id)).scalars().all()
    assert len(runs) == 2
    assert all(set(r.scores) == set(get_catalog(app).frameworks) for r in runs)
