"""The OSCAL assessment-results export: valid by compliance-trestle's models, and honest about the run."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from trestle.oscal.assessment_results import AssessmentResults

from app.assessment import accept_risk, attest_requirement
from app.catalog import get_catalog
from app.config import PROJECT_ROOT
from app.evaluation import run_evaluation
from app.inventory.validate import fingerprint
from app.models.assessment import ACTIVE_STATUSES, Finding, RequirementStatus
from app.models.users import AuditEntry
from app.posture import latest_run
from app.reporting.oscal import (
    OSCAL_VERSION,
    STATUS_MAPPING,
    OscalExportError,
    build_assessment_results,
    control_ids,
    control_token,
    to_json,
)
from app.reporting.oscal_cli import oscal_command
from tests.conftest import minimal_inventory, write_yaml

ORGANISATION = "Northwind Robotics"


@pytest.fixture
def seed_app(app, runner):
    """The app with the demo organisation imported (and so evaluated once)."""
    result = runner.invoke(args=["import", str(PROJECT_ROOT / "seed")])
    assert result.exit_code == 0, result.output
    return app


def export(app, session, **options) -> dict:
    return build_assessment_results(session, catalog=get_catalog(app), organisation=ORGANISATION, **options)


def evaluate(app, session):
    summary = run_evaluation(
        session, catalog=get_catalog(app), settings=app.config["STEWARD"], trigger="test", actor="test"
    )
    session.commit()
    return summary.run


def result_of(document: dict) -> dict:
    return document["assessment-results"]["results"][0]


def props(item: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for prop in item.get("props", []):
        found.setdefault(prop["name"], []).append(prop["value"])
    return found


def finding_of(document: dict, framework_id: str, requirement_id: str) -> dict:
    return next(
        f
        for f in result_of(document)["findings"]
        if props(f)["framework"] == [framework_id] and props(f)["requirement-id"] == [requirement_id]
    )


def by_uuid(document: dict, key: str) -> dict[str, dict]:
    return {item["uuid"]: item for item in result_of(document).get(key, [])}


def requirement_with_status(app, session, status: str) -> tuple[str, str]:
    statuses = latest_run(session).requirement_statuses
    for framework in get_catalog(app).frameworks.values():
        for requirement in framework.requirements:
            if statuses[framework.id].get(requirement.id) == status:
                return framework.id, requirement.id
    raise AssertionError(f"no requirement is {status}")


def open_finding(session) -> Finding:
    return session.execute(
        select(Finding).where(Finding.status.in_(ACTIVE_STATUSES)).order_by(Finding.id).limit(1)
    ).scalar_one()


def risk_of(document: dict, finding: Finding) -> dict:
    return next(r for r in result_of(document)["risks"] if props(r)["finding-id"] == [str(finding.id)])


def test_seed_export_validates_against_the_trestle_oscal_models(seed_app, session):
    document = export(seed_app, session)
    model = AssessmentResults.model_validate(document["assessment-results"])
    assert model.metadata.oscal_version.root.root == OSCAL_VERSION
    assert model.metadata.parties[0].name == ORGANISATION
    result = model.results[0]
    assert result.observations and result.findings and result.risks
    assert {m for o in result.observations for m in o.methods} == {"TEST"}


def test_a_document_off_the_model_is_rejected_by_the_validator(seed_app, session):
    document = export(seed_app, session)
    result_of(document)["findings"][0]["target"]["status"]["state"] = "mostly-satisfied"
    with pytest.raises(ValidationError):
        AssessmentResults.model_validate(document["assessment-results"])


def test_every_uuid_is_unique_and_every_reference_resolves(seed_app, session):
    document = export(seed_app, session)
    defined: list[str] = []
    referenced: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "uuid":
                    defined.append(value)
                elif key.endswith("-uuid"):
                    referenced.append(value)
                elif key.endswith("-uuids"):
                    referenced.extend(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert len(defined) == len(set(defined))
    assert set(referenced) <= set(defined)
    href = document["assessment-results"]["import-ap"]["href"]
    assert href.startswith("#") and href[1:] in defined


def test_a_failing_requirement_is_not_satisfied_and_cites_its_failing_subjects(seed_app, session):
    framework_id, requirement_id = requirement_with_status(seed_app, session, "fail")
    document = export(seed_app, session)
    finding = finding_of(document, framework_id, requirement_id)
    assert finding["target"]["status"] == {"state": "not-satisfied", "reason": "fail"}
    assert props(finding)["status"] == ["fail"]

    requirement = get_catalog(seed_app).frameworks[framework_id].requirement(requirement_id)
    failing = (
        session.execute(
            select(Finding).where(
                Finding.check_id.in_(requirement.checks), Finding.status.in_(ACTIVE_STATUSES)
            )
        )
        .scalars()
        .all()
    )
    assert failing
    observations = by_uuid(document, "observations")
    cited = [observations[r["observation-uuid"]] for r in finding["related-observations"]]
    failing_cited = {props(o)["finding-id"][0]: o for o in cited if "finding-id" in props(o)}
    for gap in failing:
        observation = failing_cited[str(gap.id)]
        assert props(observation)["check-id"] == [gap.check_id]
        assert observation["types"] == ["finding"] and observation["methods"] == ["TEST"]
        assert gap.subject_id.split("::")[0] in observation["subjects"][0]["title"]
        assert observation["subjects"][0]["type"] in ("component", "inventory-item")
        assert observation["description"] == gap.detail
    check_observations = [props(o)["check-id"][0] for o in cited if "examined" in props(o)]
    assert sorted(check_observations) == sorted(requirement.checks)
    risks = {r["risk-uuid"] for r in finding["related-risks"]}
    assert {risk_of(document, gap)["uuid"] for gap in failing} == risks
    assert all(risk_of(document, gap)["status"] == "open" for gap in failing)


def test_a_passing_requirement_is_satisfied(inventory_app, session):
    framework_id, requirement_id = requirement_with_status(inventory_app, session, "pass")
    finding = finding_of(export(inventory_app, session), framework_id, requirement_id)
    assert finding["target"]["status"] == {"state": "satisfied", "reason": "pass"}
    assert props(finding)["status"] == ["pass"] and "related-risks" not in finding


def test_a_requirement_with_nothing_to_examine_is_not_satisfied(inventory_app, session):
    framework_id, requirement_id = requirement_with_status(inventory_app, session, "no_data")
    finding = finding_of(export(inventory_app, session), framework_id, requirement_id)
    assert finding["target"]["status"] == {"state": "not-satisfied", "reason": "other"}
    assert props(finding)["status"] == ["no_data"]


def test_every_requirement_status_has_an_oscal_state():
    assert {s.value for s in RequirementStatus} <= set(STATUS_MAPPING)
    satisfied = {s for s, (state, _) in STATUS_MAPPING.items() if state == "satisfied"}
    assert satisfied == {"pass", "attested", "not_applicable"}


def test_manual_requirements_map_attested_not_applicable_and_not_attested(inventory_app, session, tmp_path):
    catalog = get_catalog(inventory_app)
    manual = [(f.id, r.id) for f in catalog.frameworks.values() for r in f.requirements if r.is_manual]
    (met_fw, met_req), (na_fw, na_req), (none_fw, none_req) = manual[:3]
    expires = datetime.now(UTC) + timedelta(days=90)
    attest_requirement(
        session,
        catalog=catalog,
        framework_id=met_fw,
        requirement_id=met_req,
        statement="The agent platform team reviews this quarterly.",
        attested_by="dana@example.org",
        expires_at=expires,
        evidence_url="https://dana:hunter2@wiki.example.org/evidence?page=7",
        attachments_dir=tmp_path,
    )
    attest_requirement(
        session,
        catalog=catalog,
        framework_id=na_fw,
        requirement_id=na_req,
        statement="We train no models of our own.",
        attested_by="erin@example.org",
        expires_at=expires,
        evidence_url="https://wiki.example.org/scope",
        is_not_applicable=True,
    )
    session.commit()
    evaluate(inventory_app, session)
    document = export(inventory_app, session)
    text = to_json(document)

    met = finding_of(document, met_fw, met_req)
    assert met["target"]["status"] == {"state": "satisfied", "reason": "pass"}
    assert props(met)["status"] == ["attested"]
    observation = by_uuid(document, "observations")[met["related-observations"][0]["observation-uuid"]]
    assert observation["methods"] == ["EXAMINE"]
    assert observation["relevant-evidence"][0]["href"] == "https://wiki.example.org/evidence?page=7"
    assert "hunter2" not in text
    people = {p["name"] for p in document["assessment-results"]["metadata"]["parties"]}
    assert {"dana@example.org", "erin@example.org"} <= people

    not_applicable = finding_of(document, na_fw, na_req)
    assert not_applicable["target"]["status"] == {"state": "satisfied", "reason": "other"}
    assert not_applicable["target"]["implementation-status"]["state"] == "not-applicable"

    nobody = finding_of(document, none_fw, none_req)
    assert nobody["target"]["status"] == {"state": "not-satisfied", "reason": "other"}
    assert props(nobody)["status"] == ["not_attested"] and "related-observations" not in nobody
    AssessmentResults.model_validate(document["assessment-results"])


def test_an_accepted_exception_is_a_deviation_approved_risk_with_its_deadline(seed_app, session):
    gap = open_finding(session)
    expires = (datetime.now(UTC) + timedelta(days=60)).replace(microsecond=0)
    accept_risk(
        session,
        finding_id=gap.id,
        justification="Compensating control: the gateway blocks this path until the fix ships.",
        accepted_by="frank@example.org",
        expires_at=expires,
    )
    session.commit()
    evaluate(seed_app, session)
    document = export(seed_app, session)

    risk = risk_of(document, gap)
    assert risk["status"] == "deviation-approved"
    assert risk["deadline"] == expires.isoformat().replace("+00:00", "Z")
    accepted = next(r for r in risk["remediations"] if props(r).get("type") == ["accept"])
    assert "frank@example.org" in accepted["title"]
    assert accepted["description"].startswith("Compensating control")
    party = accepted["origins"][0]["actors"][0]["actor-uuid"]
    parties = {p["uuid"]: p for p in document["assessment-results"]["metadata"]["parties"]}
    assert parties[party] == {"uuid": party, "type": "person", "name": "frank@example.org"}
    assert risk["risk-log"]["entries"][0]["status-change"] == "deviation-approved"
    others = [r for r in result_of(document)["risks"] if r["uuid"] != risk["uuid"]]
    assert others and all(r["status"] == "open" and "deadline" not in r for r in others)
    AssessmentResults.model_validate(document["assessment-results"])


def test_a_requirement_met_only_through_exceptions_is_satisfied_and_cites_the_deviations(
    inventory_app, session
):
    framework_id, requirement_id = requirement_with_status(inventory_app, session, "fail")
    requirement = get_catalog(inventory_app).frameworks[framework_id].requirement(requirement_id)
    gaps = (
        session.execute(
            select(Finding).where(
                Finding.check_id.in_(requirement.checks), Finding.status.in_(ACTIVE_STATUSES)
            )
        )
        .scalars()
        .all()
    )
    for gap in gaps:
        accept_risk(
            session,
            finding_id=gap.id,
            justification="Accepted until the platform migration.",
            accepted_by="frank@example.org",
            expires_at=datetime.now(UTC) + timedelta(days=30),
        )
    session.commit()
    evaluate(inventory_app, session)
    document = export(inventory_app, session)

    finding = finding_of(document, framework_id, requirement_id)
    assert props(finding)["status"] == ["pass"]
    assert finding["target"]["status"] == {"state": "satisfied", "reason": "pass"}
    risks = by_uuid(document, "risks")
    cited = [risks[r["risk-uuid"]] for r in finding["related-risks"]]
    assert len(cited) == len(gaps) and all(r["status"] == "deviation-approved" for r in cited)
    assert finding["remarks"].startswith(f"{len(gaps)} failing subject(s)")


def test_an_expired_exception_leaves_an_open_risk(seed_app, session):
    gap = open_finding(session)
    now = datetime.now(UTC)
    accept_risk(
        session,
        finding_id=gap.id,
        justification="Accepted for the migration window.",
        accepted_by="frank@example.org",
        expires_at=now - timedelta(days=1),
        now=now - timedelta(days=10),
    )
    session.commit()
    evaluate(seed_app, session)
    document = export(seed_app, session)

    risk = risk_of(document, gap)
    assert risk["status"] == "open" and "deadline" not in risk and "risk-log" not in risk
    assert [props(r).get("type") for r in risk["remediations"]] == [None]
    assert "frank@example.org" not in to_json(document)


def test_the_same_run_exports_the_same_bytes_even_after_later_runs(seed_app, session):
    first_run = latest_run(session).id
    first = to_json(export(seed_app, session))
    assert to_json(export(seed_app, session)) == first
    evaluate(seed_app, session)
    assert to_json(export(seed_app, session, run_id=first_run)) == first
    later = export(seed_app, session)
    assert to_json(later) != first
    assert result_of(later)["uuid"] != json.loads(first)["assessment-results"]["results"][0]["uuid"]


def test_a_run_that_does_not_exist_is_a_clear_error(seed_app, session):
    newest = latest_run(session).id
    with pytest.raises(
        OscalExportError, match=rf"evaluation run #999 does not exist; the newest is #{newest}"
    ):
        export(seed_app, session, run_id=999)
    assert result_of(export(seed_app, session, run_id=newest))["title"] == f"Evaluation run #{newest}"


def test_before_any_evaluation_the_export_says_to_evaluate(app, session):
    with pytest.raises(OscalExportError, match="no evaluation has run yet"):
        export(app, session)


def test_a_framework_filter_limits_controls_findings_and_risks(seed_app, session):
    catalog = get_catalog(seed_app)
    document = export(seed_app, session, framework_ids=["owasp-asi-2026"])
    result = result_of(document)
    selections = result["reviewed-controls"]["control-selections"]
    assert [props(s)["framework"] for s in selections] == [["owasp-asi-2026"]]
    requirements = catalog.frameworks["owasp-asi-2026"].requirements
    assert len(result["findings"]) == len(requirements)
    assert [c["control-id"] for c in selections[0]["include-controls"]] == [
        control_token(r.id) for r in requirements
    ]
    in_framework = {c for r in requirements for c in r.checks}
    assert {props(r)["check-id"][0] for r in result["risks"]} <= in_framework
    assert all(ref.startswith("owasp-asi-2026:") for r in result["risks"] for ref in props(r)["requirement"])

    with pytest.raises(OscalExportError, match="framework iso-42001 not in the catalog; expected one of"):
        export(seed_app, session, framework_ids=["iso-42001"])


def test_control_ids_are_lower_case_tokens_with_the_original_id_kept(seed_app, session):
    assert control_token("GV-1.1") == "gv-1.1"
    assert control_token("ASI01") == "asi01"
    assert control_token("MAESTRO-L3-T04") == "maestro-l3-t04"
    assert control_token("GOVERN 1.5") == "govern-1.5"
    assert control_token("4.2 (a)") == "_4.2-a"
    framework_id, requirement_id = requirement_with_status(seed_app, session, "fail")
    finding = finding_of(export(seed_app, session), framework_id, requirement_id)
    assert props(finding)["requirement-id"] == [requirement_id]
    assert finding["target"]["target-id"] == f"{control_token(requirement_id)}_obj"


def test_ids_that_collide_as_tokens_stay_distinct(seed_app):
    framework = get_catalog(seed_app).frameworks["owasp-asi-2026"]
    twins = [framework.requirements[0], framework.requirements[1]]
    colliding = replace(
        framework, requirements=(replace(twins[0], id="ACME 1"), replace(twins[1], id="acme-1"))
    )
    ids = control_ids(colliding)
    assert len(set(ids.values())) == 2 and all(i.startswith("acme-1-") for i in ids.values())
    assert control_ids(framework) == {r.id: control_token(r.id) for r in framework.requirements}


def test_a_secret_in_the_inventory_files_never_reaches_the_document(app, runner, session, tmp_path):
    secret = "hunter2-pasted-into-the-config"
    data = minimal_inventory()
    data["credentials"].append({"id": "pg-pasted", "kind": "password", "value": secret})
    data["agents"][1]["credentials"] = ["pg-pasted"]
    result = runner.invoke(args=["import", str(write_yaml(tmp_path / "inventory.yaml", data))])
    assert result.exit_code == 0, result.output

    text = to_json(export(app, session))
    assert secret not in text
    assert fingerprint(secret) in text  # the plaintext-storage gap names the credential by its fingerprint


@pytest.fixture
def oscal_runner(seed_app):
    """A CLI runner whose app has export-oscal registered (app/cli.py registers it for real)."""
    seed_app.cli.add_command(oscal_command)
    return seed_app.test_cli_runner()


def test_export_oscal_writes_the_file_and_records_it_in_the_audit_trail(oscal_runner, session, tmp_path):
    out = tmp_path / "handover" / "assessment-results.json"
    result = oscal_runner.invoke(args=["export-oscal", "--framework", "owasp-asi-2026", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    AssessmentResults.model_validate(document["assessment-results"])
    run = latest_run(session)
    assert f"evaluation #{run.id}" in result.output and str(out) in result.output
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "oscal.export")).scalar_one()
    assert entry.target == f"evaluation #{run.id}" and entry.actor == "test"
    assert entry.detail["frameworks"] == ["owasp-asi-2026"] and entry.detail["sha256"] in result.output


def test_export_oscal_mistakes_write_nothing_and_show_no_traceback(oscal_runner, session, tmp_path):
    out = tmp_path / "assessment-results.json"
    for args, message in (
        (["--run", "999"], "evaluation run #999 does not exist"),
        (["--framework", "iso-42001"], "framework iso-42001 not in the catalog"),
    ):
        result = oscal_runner.invoke(args=["export-oscal", *args, "--out", str(out)])
        assert result.exit_code == 2
        assert f"steward export-oscal: {message}" in result.output and "nothing was written" in result.output
        assert "Traceback" not in result.output
    assert not out.exists()
    assert session.execute(select(AuditEntry).where(AuditEntry.action == "oscal.export")).first() is None
    assert oscal_runner.invoke(args=["export-oscal"]).exit_code == 2  # --out is required
