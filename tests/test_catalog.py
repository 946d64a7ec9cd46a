"""The control catalog: three built-in frameworks, check metadata, and teams' own frameworks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from app import create_app
from app.catalog import CatalogError, load_catalog
from app.checks import load_checks
from app.config import PROJECT_ROOT, Settings

CONTROLS = PROJECT_ROOT / "controls"


@pytest.fixture
def builtin():
    return load_catalog([CONTROLS])


def test_builtin_frameworks_have_their_published_shape(builtin):
    nist = builtin.frameworks["nist-ai-rmf-1.0"]
    assert len(nist.requirements) == 72
    assert sum(1 for g in nist.groups if g.parent is None) == 4
    assert sum(1 for g in nist.groups if g.parent is not None) == 19
    by_function = {
        f: sum(r.id.startswith(f + " ") for r in nist.requirements)
        for f in ("GOVERN", "MAP", "MEASURE", "MANAGE")
    }
    assert by_function == {"GOVERN": 19, "MAP": 18, "MEASURE": 22, "MANAGE": 13}
    owasp = builtin.frameworks["owasp-asi-2026"]
    assert [r.id for r in owasp.requirements] == [f"ASI{i:02d}" for i in range(1, 11)]
    assert (
        owasp.requirement("ASI02").title == "Tool Misuse & Exploitation"
        or "Tool Misuse" in owasp.requirement("ASI02").title
    )


def test_maestro_ids_are_declared_as_stewards_own(builtin):
    maestro = builtin.frameworks["csa-maestro"]
    assert maestro.official_ids is False
    assert "Steward" in maestro.id_note
    assert all(r.id.startswith("MAESTRO-") for r in maestro.requirements)
    assert {g.id for g in maestro.groups} >= {f"MAESTRO-L{i}" for i in range(1, 8)}


def test_every_registered_check_has_metadata_and_is_mapped_in_every_framework(builtin):
    assert set(builtin.checks) == set(load_checks())
    for check_id, places in builtin.requirements_by_check.items():
        frameworks = {framework for framework, _ in places}
        assert frameworks == set(builtin.frameworks), f"{check_id} is mapped only in {frameworks}"


def test_the_crosswalk_lands_one_check_in_all_three_frameworks(builtin):
    places = dict(builtin.requirements_by_check["sensitive_tool_requires_human_approval"])
    assert "ASI02" in {
        r
        for f, r in builtin.requirements_by_check["sensitive_tool_requires_human_approval"]
        if f == "owasp-asi-2026"
    }
    assert set(places) == {"owasp-asi-2026", "csa-maestro", "nist-ai-rmf-1.0"}


def test_catalog_hash_changes_when_a_file_changes(tmp_path, builtin):
    copy = tmp_path / "controls"
    shutil.copytree(CONTROLS, copy)
    assert load_catalog([copy]).hash == builtin.hash
    path = copy / "frameworks" / "owasp-asi-2026.yaml"
    path.write_text(path.read_text() + "\n# reviewed\n")
    assert load_catalog([copy]).hash != builtin.hash


def corrupt(tmp_path, file: str, mutate) -> list[str]:
    copy = tmp_path / "controls"
    shutil.copytree(CONTROLS, copy)
    path = copy / file
    data = yaml.safe_load(path.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(CatalogError) as caught:
        load_catalog([copy])
    return caught.value.problems


def test_unknown_check_id_is_named_with_file_and_requirement(tmp_path):
    problems = corrupt(
        tmp_path,
        "frameworks/owasp-asi-2026.yaml",
        lambda d: d["requirements"][1]["checks"].append("agent_is_nice"),
    )
    assert any(
        "owasp-asi-2026.yaml: requirements[ASI02].checks: 'agent_is_nice' is not a known check id" in p
        for p in problems
    ), problems


def test_duplicate_requirement_id_is_refused(tmp_path):
    problems = corrupt(
        tmp_path, "frameworks/owasp-asi-2026.yaml", lambda d: d["requirements"][1].update(id="ASI01")
    )
    assert any("requirements[ASI01].id: duplicate id" in p for p in problems), problems


def test_missing_field_is_refused(tmp_path):
    problems = corrupt(
        tmp_path, "frameworks/nist-ai-rmf-1.0.yaml", lambda d: d["requirements"][0].pop("title")
    )
    assert any("nist-ai-rmf-1.0.yaml: requirements[GOVERN 1.1].title: missing" in p for p in problems), (
        problems
    )


def test_unknown_parent_is_refused(tmp_path):
    problems = corrupt(
        tmp_path, "frameworks/nist-ai-rmf-1.0.yaml", lambda d: d["requirements"][0].update(parent="GOVERN 9")
    )
    assert any("GOVERN 1.1.parent: 'GOVERN 9' is not a group of this framework" in p for p in problems), (
        problems
    )


def test_bad_severity_in_check_metadata_is_refused(tmp_path):
    problems = corrupt(
        tmp_path, "checks/identity.yaml", lambda d: d["agent_has_accountable_owner"].update(severity="urgent")
    )
    assert any(
        "identity.yaml: agent_has_accountable_owner.severity: 'urgent' is not one of" in p for p in problems
    ), problems


def test_metadata_for_a_check_with_no_function_is_refused(tmp_path):
    def add(d):
        d["agent_is_friendly"] = dict(d["agent_has_accountable_owner"])

    problems = corrupt(tmp_path, "checks/identity.yaml", add)
    assert any("agent_is_friendly: no check function of that name" in p for p in problems), problems


def test_every_builtin_framework_records_its_source_version_and_retrieval_date(builtin):
    for framework in builtin.frameworks.values():
        assert framework.source_url.startswith("https://"), framework.id
        assert framework.version and framework.retrieved == "2026-11-24", framework.id
        assert len(framework.sha256) == 64


def test_a_framework_without_its_source_url_is_refused(tmp_path):
    problems = corrupt(tmp_path, "frameworks/owasp-asi-2026.yaml", lambda d: d["framework"].pop("source_url"))
    assert any("owasp-asi-2026.yaml: framework.source_url: missing" in p for p in problems), problems


def test_a_retrieval_date_that_is_not_a_date_is_refused(tmp_path):
    problems = corrupt(
        tmp_path, "frameworks/csa-maestro.yaml", lambda d: d["framework"].update(retrieved="last spring")
    )
    assert any(
        "csa-maestro.yaml: framework.retrieved: 'last spring' is not a date; expected the date it was "
        "retrieved, as YYYY-MM-DD" in p
        for p in problems
    ), problems


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    copy = tmp_path / "controls"
    shutil.copytree(CONTROLS, copy)
    (copy / "frameworks" / "owasp-asi-2026.yaml").write_text("framework: [\n  id: x\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog([copy])
    assert any("owasp-asi-2026.yaml:" in p and "invalid YAML" in p for p in caught.value.problems)


CUSTOM = {
    "framework": {
        "id": "acme-agent-policy",
        "name": "ACME agent governance standard",
        "version": "2026.1",
        "publisher": "ACME GRC",
        "source_url": "https://grc.acme.example/standards/agents",
        "retrieved": "2026-11-20",
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
        },
        {
            "id": "ACME-2",
            "title": "Board approves agent use",
            "summary": "Minutes record it.",
            "parent": None,
            "checks": [],
        },
    ],
}


def write_custom(directory: Path, data=CUSTOM) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "acme-agent-policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return directory


def test_a_team_adds_its_own_framework_mapped_to_builtin_checks(tmp_path, inventory_file):
    extra = write_custom(tmp_path / "team-controls")
    app = create_app(Settings(instance_path=str(tmp_path / "instance"), controls_path=str(extra), actor="t"))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["import", str(inventory_file)]).exit_code == 0
    result = runner.invoke(args=["evaluate"])
    assert result.exit_code == 0, result.output
    assert "ACME agent governance standard (acme-agent-policy): not_attested 1 · pass 1" in result.stdout
    validated = runner.invoke(args=["catalog", "validate"])
    assert "acme-agent-policy" in validated.stdout and "1 automated, 1 manual" in validated.stdout


def test_a_broken_custom_framework_is_refused_by_catalog_validate(tmp_path):
    broken = {**CUSTOM, "requirements": [{**CUSTOM["requirements"][0], "checks": ["owner_exists"]}]}
    extra = write_custom(tmp_path / "team-controls", broken)
    app = create_app(Settings(instance_path=str(tmp_path / "instance"), controls_path=str(extra)))
    result = app.test_cli_runner().invoke(args=["catalog", "validate"])
    assert result.exit_code == 2
    assert (
        "acme-agent-policy.yaml: requirements[ACME-1].checks: 'owner_exists' is not a known check id"
        in result.stderr
    )
    evaluate = app.test_cli_runner().invoke(args=["evaluate"])
    assert evaluate.exit_code == 2 and "the control catalog has 1 problem" in evaluate.stderr


def test_catalog_validate_passes_on_the_builtin_catalog(runner):
    result = runner.invoke(args=["catalog", "validate"])
    assert result.exit_code == 0
    assert "nist-ai-rmf-1.0" in result.stdout and "72 requirements" in result.stdout
    assert "(ids are Steward's, not the publisher's)" in result.stdout
