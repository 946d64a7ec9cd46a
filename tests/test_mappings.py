"""Mappings between frameworks: the loader, the inference rules one by one, provenance, catalog versions."""

from __future__ import annotations

import dataclasses
import io
import shutil
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from openpyxl import load_workbook
from sqlalchemy import select

from app import create_app
from app.assessment import attest_requirement
from app.catalog import (
    Catalog,
    CatalogError,
    CheckMeta,
    Framework,
    Mapping,
    MappingSet,
    Requirement,
    catalog_changes,
    load_catalog,
)
from app.config import PROJECT_ROOT
from app.db import dispose_engine, get_engine, session_scope
from app.evaluation import framework_score, run_evaluation
from app.mappings import MAX_DEPTH, carried_status, infer_statuses
from app.models.assessment import CatalogVersion, RequirementStatus
from app.reporting.context import Scope, build_context
from app.reporting.excel import render_workbook
from app.reporting.pdf import render_html
from app.security import create_user
from tests.conftest import PASSWORD, minimal_inventory, write_yaml
from tests.views.conftest import make_client

CONTROLS = PROJECT_ROOT / "controls"
EXAMPLE = CONTROLS / "examples" / "acme"
EXAMPLE_MAPPING = "mappings/nist-ai-rmf-to-acme-agent-standard.yaml"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def text(response) -> str:
    """A page's HTML with runs of whitespace collapsed, so that assertions read like the page."""
    assert response.status_code == 200, response.status_code
    return " ".join(response.get_data(as_text=True).split())


# --- the rules, on a catalog built in memory -------------------------------------------------------

CHECK = CheckMeta("c1", "identity", "A check", "high", "agent", "Why.", "Fix.")


def req(requirement_id: str, checks: tuple[str, ...] = ()) -> Requirement:
    return Requirement(requirement_id, requirement_id, "Summary.", None, checks)


def fw(framework_id: str, *requirements: Requirement) -> Framework:
    return Framework(
        id=framework_id,
        name=framework_id.upper(),
        version="1",
        publisher="Test",
        official_ids=True,
        levels=("control",),
        groups=(),
        requirements=requirements,
        file=f"{framework_id}.yaml",
        source_url="https://example.org/" + framework_id,
        retrieved="2026-11-01",
    )


def link(source: str, target: str, relationship: str, strength: int = 6) -> Mapping:
    (source_fw, source_req), (target_fw, target_req) = source.split(":"), target.split(":")
    return Mapping(
        mapping_set=f"{source_fw}-to-{target_fw}",
        source_framework=source_fw,
        source=source_req,
        target_framework=target_fw,
        target=target_req,
        relationship=relationship,
        rationale="semantic",
        strength=strength,
    )


FRAMEWORKS = (
    fw("src", req("S1"), req("S2"), req("S-AUTO", ("c1",))),
    fw("mid", req("M1"), req("M2"), req("M3")),
    fw("tgt", req("T1"), req("T2"), req("T-AUTO", ("c1",))),
)


def catalog_of(*mappings: Mapping) -> Catalog:
    sets: dict[str, list[Mapping]] = {}
    for m in mappings:
        sets.setdefault(m.mapping_set, []).append(m)
    return Catalog(
        frameworks={f.id: f for f in FRAMEWORKS},
        checks={"c1": CHECK},
        hash="h",
        mapping_sets={
            set_id: MappingSet(
                id=set_id,
                name=set_id,
                source_framework=ms[0].source_framework,
                target_framework=ms[0].target_framework,
                version="1",
                publisher="Test",
                source_url="https://example.org/map",
                retrieved="2026-11-01",
                mappings=tuple(ms),
                file=f"{set_id}.yaml",
                sha256="0" * 64,
            )
            for set_id, ms in sets.items()
        },
    )


def own(**overrides: str) -> dict:
    """Own statuses (by checks or attestation); every manual requirement unattested unless given."""
    statuses = {
        f.id: {r.id: ("pass" if r.checks else "not_attested") for r in f.requirements} for f in FRAMEWORKS
    }
    for key, status in overrides.items():
        framework_id, requirement_id = key.split("__")
        statuses[framework_id][requirement_id.replace("_", "-")] = status
    return statuses


def infer(*mappings: Mapping, max_depth: int = MAX_DEPTH, **statuses: str) -> tuple[dict, dict]:
    return infer_statuses(catalog_of(*mappings), own(**statuses), max_depth=max_depth)


@pytest.mark.parametrize(
    ("relationship", "status", "gives"),
    [
        ("equal", "pass", "pass"),
        ("equal", "fail", "fail"),
        ("superset", "attested", "attested"),
        ("superset", "not_applicable", "not_applicable"),
        ("superset", "no_data", "no_data"),
        ("subset", "pass", "partial"),
        ("subset", "fail", "fail"),
        ("subset", "partial", "partial"),
        ("intersect", "attested", "partial"),
        ("intersect", "error", "error"),
        ("intersect", "not_attested", "not_attested"),
        ("intersect", "not_applicable", None),
        ("not_related", "pass", None),
        ("not_related", "fail", None),
    ],
)
def test_what_one_mapping_gives_its_target(relationship, status, gives):
    assert carried_status(relationship, status) == gives


def test_equal_carries_the_source_status_whether_it_passes_or_fails():
    passing, _ = infer(link("src:S1", "tgt:T1", "equal"), src__S1="attested")
    assert passing["tgt"]["T1"] == "attested"
    failing, _ = infer(link("src:S-AUTO", "tgt:T1", "equal"), src__S_AUTO="fail")
    assert failing["tgt"]["T1"] == "fail"


def test_superset_carries_the_source_status_not_applicable_included():
    statuses, _ = infer(link("src:S1", "tgt:T1", "superset"), src__S1="not_applicable")
    assert statuses["tgt"]["T1"] == "not_applicable"
    statuses, _ = infer(link("src:S-AUTO", "tgt:T1", "superset"))
    assert statuses["tgt"]["T1"] == "pass"


def test_subset_caps_a_met_source_at_partial_but_a_failing_one_still_fails():
    capped, _ = infer(link("src:S-AUTO", "tgt:T1", "subset"))
    assert capped["tgt"]["T1"] == "partial"
    failing, _ = infer(link("src:S-AUTO", "tgt:T1", "subset"), src__S_AUTO="fail")
    assert failing["tgt"]["T1"] == "fail"


def test_intersect_caps_an_attested_source_at_partial_but_an_erroring_one_stays_an_error():
    capped, _ = infer(link("src:S1", "tgt:T1", "intersect"), src__S1="attested")
    assert capped["tgt"]["T1"] == "partial"
    erroring, _ = infer(link("src:S-AUTO", "tgt:T1", "intersect"), src__S_AUTO="error")
    assert erroring["tgt"]["T1"] == "error"


def test_a_partly_covering_source_attested_not_applicable_says_nothing_about_the_rest():
    statuses, inferences = infer(link("src:S1", "tgt:T1", "intersect"), src__S1="not_applicable")
    assert statuses["tgt"]["T1"] == "not_attested" and "tgt" not in inferences
    covering, _ = infer(link("src:S1", "tgt:T1", "equal"), src__S1="not_applicable")
    assert covering["tgt"]["T1"] == "not_applicable"


def test_not_related_infers_nothing_where_equal_would():
    statuses, inferences = infer(link("src:S-AUTO", "tgt:T1", "not_related"))
    assert statuses["tgt"]["T1"] == "not_attested" and inferences == {}
    statuses, inferences = infer(link("src:S-AUTO", "tgt:T1", "equal"))
    assert statuses["tgt"]["T1"] == "pass" and "T1" in inferences["tgt"]


def test_the_most_restrictive_source_wins():
    statuses, inferences = infer(
        link("src:S-AUTO", "tgt:T1", "equal"), link("src:S1", "tgt:T1", "intersect"), src__S1="attested"
    )
    assert statuses["tgt"]["T1"] == "partial"
    decisive = {s["requirement"]: s["is_decisive"] for s in inferences["tgt"]["T1"]["sources"]}
    assert decisive == {"S-AUTO": False, "S1": True}
    statuses, _ = infer(
        link("src:S1", "tgt:T1", "intersect"), link("src:S-AUTO", "tgt:T1", "superset"), src__S_AUTO="fail"
    )
    assert statuses["tgt"]["T1"] == "fail"


def test_a_source_with_nothing_to_examine_never_hides_what_another_shows():
    statuses, _ = infer(
        link("src:S-AUTO", "tgt:T1", "equal"), link("src:S1", "tgt:T1", "equal"), src__S1="no_data"
    )
    assert statuses["tgt"]["T1"] == "pass"
    alone, _ = infer(link("src:S1", "tgt:T1", "equal"), src__S1="no_data")
    assert alone["tgt"]["T1"] == "no_data"


def test_an_unattested_source_holds_its_target_back_until_someone_attests_it():
    statuses, _ = infer(link("src:S-AUTO", "tgt:T1", "equal"), link("src:S1", "tgt:T1", "intersect"))
    assert statuses["tgt"]["T1"] == "not_attested"
    statuses, _ = infer(
        link("src:S-AUTO", "tgt:T1", "equal"), link("src:S1", "tgt:T1", "intersect"), src__S1="attested"
    )
    assert statuses["tgt"]["T1"] == "partial"


def test_a_chain_through_an_unattested_requirement_is_followed_and_recorded():
    chain = (link("src:S-AUTO", "mid:M1", "equal"), link("mid:M1", "tgt:T1", "superset"))
    statuses, inferences = infer(*chain, src__S_AUTO="fail")
    assert statuses["mid"]["M1"] == "fail" and statuses["tgt"]["T1"] == "fail"
    [via_mid] = inferences["tgt"]["T1"]["sources"]
    assert via_mid["requirement"] == "M1" and via_mid["status"] == "fail"
    assert [s["requirement"] for s in via_mid["via"]] == ["S-AUTO"]
    broken, _ = infer(chain[1], src__S_AUTO="fail")
    assert broken["tgt"]["T1"] == "not_attested"


def test_a_chain_is_followed_only_up_to_the_depth_limit():
    chain = (
        link("src:S-AUTO", "mid:M1", "equal"),
        link("mid:M1", "mid:M2", "equal"),
        link("mid:M2", "mid:M3", "equal"),
        link("mid:M3", "tgt:T1", "equal"),
    )
    within, _ = infer(*chain, max_depth=4)
    assert within["tgt"]["T1"] == "pass"
    cut, inferences = infer(*chain, max_depth=3)
    assert cut["tgt"]["T1"] == "not_attested"
    m3 = inferences["tgt"]["T1"]["sources"][0]
    assert m3["requirement"] == "M3" and m3["via"][0]["requirement"] == "M2"
    m1 = m3["via"][0]["via"][0]
    assert m1["requirement"] == "M1" and m1["is_depth_limited"] is True and "via" not in m1
    assert cut["mid"]["M3"] == "pass"  # three mappings from the source: within the limit for M3 itself


def test_mappings_in_a_cycle_end_and_skip_the_way_back():
    statuses, inferences = infer(
        link("src:S-AUTO", "tgt:T1", "equal"),
        link("tgt:T1", "tgt:T2", "equal"),
        link("tgt:T2", "tgt:T1", "equal"),
    )
    assert statuses["tgt"]["T1"] == statuses["tgt"]["T2"] == "pass"
    # T2 could only repeat what T1 tells it, so T1 does not count it as a source.
    assert [s["requirement"] for s in inferences["tgt"]["T1"]["sources"]] == ["S-AUTO"]
    assert [s["requirement"] for s in inferences["tgt"]["T2"]["sources"]] == ["T1"]
    unattested, _ = infer(link("tgt:T2", "tgt:T1", "equal"))
    assert unattested["tgt"]["T1"] == "not_attested"  # an unattested source with nothing mapped into it


def test_inference_never_overrides_a_requirements_own_checks():
    statuses, inferences = infer(link("src:S-AUTO", "tgt:T-AUTO", "equal"), src__S_AUTO="fail")
    assert statuses["tgt"]["T-AUTO"] == "pass" and inferences == {}
    manual, _ = infer(link("src:S-AUTO", "tgt:T1", "equal"), src__S_AUTO="fail")
    assert manual["tgt"]["T1"] == "fail"


@pytest.mark.parametrize("attested", ["attested", "not_applicable"])
def test_inference_never_overrides_a_current_attestation(attested):
    mapping = link("src:S-AUTO", "tgt:T1", "equal")
    statuses, inferences = infer(mapping, src__S_AUTO="fail", tgt__T1=attested)
    assert statuses["tgt"]["T1"] == attested and inferences == {}
    unattested, _ = infer(mapping, src__S_AUTO="fail")
    assert unattested["tgt"]["T1"] == "fail"


def test_every_inferred_status_records_the_mapping_and_the_source_it_came_from():
    _, inferences = infer(link("src:S-AUTO", "tgt:T1", "intersect", strength=7))
    assert inferences["tgt"]["T1"] == {
        "status": "partial",
        "sources": [
            {
                "framework": "src",
                "requirement": "S-AUTO",
                "relationship": "intersect",
                "rationale": "semantic",
                "strength": 7,
                "mapping_set": "src-to-tgt",
                "status": "pass",
                "gives": "partial",
                "is_decisive": True,
            }
        ],
    }


def test_partial_is_applicable_and_counts_against_the_score():
    assert RequirementStatus.PARTIAL.value == "partial"
    assert framework_score({"a": "pass", "b": "partial"}) == 50.0
    assert framework_score({"a": "pass", "b": "partial", "c": "no_data"}) == 50.0
    assert framework_score({"a": "pass", "b": "attested"}) == 100.0


# --- the loader -------------------------------------------------------------------------------------


def example_copy(tmp_path, mutate=None):
    copy = tmp_path / "acme"
    shutil.copytree(EXAMPLE, copy)
    if mutate is not None:
        path = copy / EXAMPLE_MAPPING
        data = yaml.safe_load(path.read_text())
        mutate(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


def mapping_problems(tmp_path, mutate) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog([CONTROLS, example_copy(tmp_path, mutate)])
    return caught.value.problems


def test_the_example_framework_loads_with_its_mapping_from_nist():
    catalog = load_catalog([CONTROLS, EXAMPLE])
    acme = catalog.frameworks["acme-agent-standard"]
    assert not acme.is_builtin and acme.source_url.startswith("https://") and acme.retrieved == "2026-11-20"
    assert sum(r.is_manual for r in acme.requirements) >= 5
    [mapping_set] = catalog.mapping_sets.values()
    assert (mapping_set.source_framework, mapping_set.target_framework) == (
        "nist-ai-rmf-1.0",
        "acme-agent-standard",
    )
    assert mapping_set.version and mapping_set.retrieved == "2026-11-20" and len(mapping_set.sha256) == 64
    assert {m.relationship for m in mapping_set.mappings} == {"equal", "superset", "intersect", "not_related"}
    nist = catalog.frameworks["nist-ai-rmf-1.0"]
    for m in mapping_set.mappings:
        if m.relationship != "not_related" and m.target != "AG-OPS-01":
            assert acme.requirement(m.target).is_manual
    assert {m.source for m in mapping_set.mappings if not nist.requirement(m.source).is_manual} >= {
        "GOVERN 1.6",
        "MAP 4.2",
        "GOVERN 3.2",
    }


def test_the_example_is_not_loaded_by_default():
    assert "acme-agent-standard" not in load_catalog([CONTROLS]).frameworks


def entry(index: int, **changes):
    def mutate(data):
        data["mappings"][index].update(changes)
        for name, value in changes.items():
            if value is None:
                data["mappings"][index].pop(name)

    return mutate


def test_an_unknown_source_requirement_is_named_with_file_entry_and_field(tmp_path):
    problems = mapping_problems(tmp_path, entry(0, source="GOVERN 9.9"))
    assert any(
        "nist-ai-rmf-to-acme-agent-standard.yaml: mappings[GOVERN 9.9 -> AG-GOV-02].source: "
        "'GOVERN 9.9' is not a requirement of nist-ai-rmf-1.0" in p
        for p in problems
    ), problems


def test_an_unknown_target_requirement_or_a_group_is_refused(tmp_path):
    problems = mapping_problems(tmp_path, entry(0, target="AG-GOV"))
    assert any(
        "mappings[GOVERN 1.6 -> AG-GOV].target: 'AG-GOV' is not a requirement of acme-agent-standard" in p
        for p in problems
    ), problems


def test_an_unknown_relationship_is_refused(tmp_path):
    problems = mapping_problems(tmp_path, entry(0, relationship="overlaps"))
    assert any(
        "mappings[GOVERN 1.6 -> AG-GOV-02].relationship: 'overlaps' is not one of "
        "equal, subset, superset, intersect, not_related" in p
        for p in problems
    ), problems


def test_an_unknown_rationale_or_a_missing_relationship_is_refused(tmp_path):
    problems = mapping_problems(tmp_path, entry(0, rationale="gut feeling"))
    assert any(
        "AG-GOV-02].rationale: 'gut feeling' is not one of syntactic, semantic, functional" in p
        for p in problems
    )
    problems = mapping_problems(tmp_path / "2", entry(0, relationship=None))
    assert any("mappings[GOVERN 1.6 -> AG-GOV-02].relationship: missing" in p for p in problems), problems


@pytest.mark.parametrize("strength", [11, -1, "strong", True, 2.5])
def test_a_strength_outside_zero_to_ten_is_refused(tmp_path, strength):
    problems = mapping_problems(tmp_path, entry(0, strength=strength))
    assert any(
        "mappings[GOVERN 1.6 -> AG-GOV-02].strength:" in p
        and "expected how strongly the two are related, 0 to 10" in p
        for p in problems
    ), problems


@pytest.mark.parametrize("strength", [0, 10])
def test_a_strength_of_zero_or_ten_is_accepted(tmp_path, strength):
    catalog = load_catalog([CONTROLS, example_copy(tmp_path, entry(0, strength=strength))])
    assert catalog.mapping_sets["nist-ai-rmf-to-acme-agent-standard"].mappings[0].strength == strength


def test_a_mapping_set_naming_an_unknown_framework_is_refused(tmp_path):
    problems = mapping_problems(tmp_path, lambda d: d["mapping_set"].update(target_framework="acme-standard"))
    assert any(
        "mapping_set.target_framework: 'acme-standard' is not a loaded framework" in p for p in problems
    ), problems


def test_a_mapping_set_must_say_where_it_came_from(tmp_path):
    problems = mapping_problems(tmp_path, lambda d: d["mapping_set"].pop("source_url"))
    assert any("mapping_set.source_url: missing" in p for p in problems), problems
    problems = mapping_problems(tmp_path / "2", lambda d: d["mapping_set"].update(retrieved="2026-13-01"))
    assert any("mapping_set.retrieved: '2026-13-01' is not a date" in p for p in problems), problems


def test_a_pair_mapped_twice_or_a_misnamed_mapping_set_is_refused(tmp_path):
    problems = mapping_problems(tmp_path, lambda d: d["mappings"].append(dict(d["mappings"][0])))
    assert any("mappings[GOVERN 1.6 -> AG-GOV-02]: duplicate mapping" in p for p in problems), problems
    problems = mapping_problems(tmp_path / "2", lambda d: d["mapping_set"].update(id="acme-crosswalk"))
    assert any(
        "mapping_set.id: 'acme-crosswalk' must equal the file name 'nist-ai-rmf-to-acme-agent-standard'" in p
        for p in problems
    ), problems


def test_the_catalog_hash_covers_mapping_files(tmp_path):
    copy = example_copy(tmp_path)
    before = load_catalog([CONTROLS, copy]).hash
    path = copy / EXAMPLE_MAPPING
    path.write_text(path.read_text() + "\n# reviewed\n")
    assert load_catalog([CONTROLS, copy]).hash != before


def test_catalog_validate_lists_mapping_sets_and_refuses_a_broken_one(tmp_path, settings):
    good = create_app(dataclasses.replace(settings, controls_path=str(EXAMPLE)))
    result = good.test_cli_runner().invoke(args=["catalog", "validate"])
    assert result.exit_code == 0, result.output
    assert "acme-agent-standard" in result.stdout
    assert (
        "mappings nist-ai-rmf-to-acme-agent-standard: 10 from nist-ai-rmf-1.0 to acme-agent-standard "
        "(version 2026.1, retrieved 2026-11-20)" in result.stdout
    )
    broken = example_copy(tmp_path, entry(2, relationship="overlaps"))
    bad = create_app(dataclasses.replace(settings, controls_path=str(broken)))
    result = bad.test_cli_runner().invoke(args=["catalog", "validate"])
    assert result.exit_code == 2
    assert "mappings[MEASURE 2.7 -> AG-SEC-02].relationship: 'overlaps' is not one of" in result.stderr
    dispose_engine(good)
    dispose_engine(bad)


# --- the example, evaluated: statuses inferred from NIST AI RMF, with provenance everywhere ---------


@pytest.fixture
def example_app(settings, tmp_path):
    app = create_app(dataclasses.replace(settings, controls_path=str(EXAMPLE)))
    path = write_yaml(tmp_path / "inventory" / "inventory.yaml", minimal_inventory())
    with app.app_context(), session_scope(get_engine(app)) as session:
        from app.inventory import import_inventory

        assert import_inventory(
            session, paths=[str(path)], actor="test", max_bytes=10**8, max_alias_expansion=10**4
        ).ok
        create_user(session, username="analyst", password=PASSWORD, role="analyst", actor="test")
    yield app
    dispose_engine(app)


def evaluate(app, now=NOW):
    from app.catalog import get_catalog

    with session_scope(get_engine(app)) as session:
        return run_evaluation(
            session,
            catalog=get_catalog(app),
            settings=app.config["STEWARD"],
            trigger="test",
            actor="t",
            now=now,
        ).run


def attest(app, framework_id: str, requirement_id: str) -> None:
    from app.catalog import get_catalog

    with session_scope(get_engine(app)) as session:
        attest_requirement(
            session,
            catalog=get_catalog(app),
            framework_id=framework_id,
            requirement_id=requirement_id,
            statement="Incidents go to the security team.",
            attested_by="grc@example.org",
            expires_at=NOW + timedelta(days=90),
            evidence_url="https://wiki.example.org/incidents",
            now=NOW,
        )


def test_an_example_requirement_shows_a_status_inferred_from_nist_with_its_provenance(example_app):
    run = evaluate(example_app)
    acme = run.requirement_statuses["acme-agent-standard"]
    assert run.requirement_statuses["nist-ai-rmf-1.0"]["GOVERN 3.2"] == "pass"
    assert run.requirement_statuses["nist-ai-rmf-1.0"]["MAP 3.5"] == "pass"
    assert acme["AG-SEC-03"] == "partial"  # MAP 3.5 (superset) gives pass, GOVERN 3.2 (intersect) partial
    sources = run.requirement_inferences["acme-agent-standard"]["AG-SEC-03"]["sources"]
    assert [(s["requirement"], s["relationship"], s["gives"], s["is_decisive"]) for s in sources] == [
        ("GOVERN 3.2", "intersect", "partial", True),
        ("MAP 3.5", "superset", "pass", False),
    ]
    assert acme["AG-GOV-02"] == run.requirement_statuses["nist-ai-rmf-1.0"]["GOVERN 1.6"] == "fail"
    assert (
        acme["AG-GOV-01"] == "pass" and "AG-GOV-01" not in run.requirement_inferences["acme-agent-standard"]
    )
    assert acme["AG-GOV-03"] == "not_attested"  # only a not_related mapping points at it
    assert acme["AG-OPS-01"] == "no_data"  # its own check decides, whatever MANAGE 4.1 says
    assert run.scores["acme-agent-standard"] == framework_score(acme)

    page = text(make_client(example_app, "analyst").get("/frameworks/acme-agent-standard"))
    assert "Status inferred through mappings" in page
    assert "inferred from NIST AI Risk Management Framework" in page
    assert 'class="badge status-partial">Partial</span>' in page
    assert "GOVERN 3.2</strong></a> intersects with it" in page
    assert "MAP 3.5</strong></a> is a superset of it" in page
    assert "(semantic, strength 5/10, mapping <code>nist-ai-rmf-to-acme-agent-standard</code>)" in page
    assert "not used for its status, which its own checks decide" in page  # AG-OPS-01 <- MANAGE 4.1
    nist = text(make_client(example_app, "analyst").get("/frameworks/nist-ai-rmf-1.0"))
    assert "Its status informs" in nist and "ACME agent governance standard AG-GOV-02</a> (equal)" in nist
    index = text(make_client(example_app, "analyst").get("/frameworks/"))
    assert "NIST AI RMF 1.0 to ACME agent governance standard" in index


def test_attesting_the_nist_requirement_once_reports_against_the_example_too(example_app):
    assert evaluate(example_app).requirement_statuses["acme-agent-standard"]["AG-OPS-02"] == "not_attested"
    attest(example_app, "nist-ai-rmf-1.0", "MANAGE 4.3")
    run = evaluate(example_app, NOW + timedelta(minutes=1))
    assert run.requirement_statuses["acme-agent-standard"]["AG-OPS-02"] == "partial"  # intersect caps it
    attest(example_app, "acme-agent-standard", "AG-OPS-02")
    run = evaluate(example_app, NOW + timedelta(minutes=2))
    assert run.requirement_statuses["acme-agent-standard"]["AG-OPS-02"] == "attested"
    assert "AG-OPS-02" not in run.requirement_inferences["acme-agent-standard"]


def test_the_pdf_and_the_workbook_show_where_an_inferred_status_came_from(example_app):
    from app.catalog import get_catalog

    run = evaluate(example_app)
    with session_scope(get_engine(example_app)) as session:
        context = build_context(
            session,
            catalog=get_catalog(example_app),
            settings=example_app.config["STEWARD"],
            scope=Scope(frameworks=("acme-agent-standard",)),
            run=run,
            now=NOW,
        )
    [section] = context.frameworks
    item = next(r for r in section.requirements if r.id == "AG-SEC-03")
    assert item.status == "partial" and [s.requirement_id for s in item.inferred_from] == [
        "GOVERN 3.2",
        "MAP 3.5",
    ]
    gap = next(g for g in context.gaps if g.requirement_id == "AG-GOV-02")
    assert gap.inferred_from == ("NIST AI Risk Management Framework GOVERN 1.6",) and gap.open_findings >= 1

    html = " ".join(render_html(context).split())
    assert "Status inferred through mappings" in html
    assert '<span class="badge status-partial">Partial</span> <span class="rid">AG-SEC-03</span>' in html
    assert 'NIST AI Risk Management Framework <span class="rid">GOVERN 3.2</span> intersects with it' in html
    assert "inferred from NIST AI Risk Management Framework GOVERN 1.6" in html

    sheet = load_workbook(io.BytesIO(render_workbook(context)))["acme-agent-standard"]
    header = [c.value for c in sheet[2]]
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=3)}
    status = rows["AG-SEC-03"][header.index("Status")]
    assert status.value == "Partial" and status.fill.fgColor.rgb.endswith("E5DBFF")
    assert rows["AG-GOV-01"][header.index("Status")].fill.fgColor.rgb.endswith("D3F9D8")
    inferred = rows["AG-SEC-03"][header.index("Status inferred from")].value
    assert inferred.startswith("NIST AI Risk Management Framework GOVERN 3.2 (Pass), intersects with it")
    assert "gives Partial" in inferred and "MAP 3.5 (Pass), is a superset of it" in inferred
    assert rows["AG-GOV-01"][header.index("Status inferred from")].value in (None, "")


# --- catalog versions: a run pins its catalog; a changed catalog lists what changed -----------------


def test_catalog_changes_list_requirements_added_removed_and_remapped():
    before = load_catalog([CONTROLS]).pin()
    assert catalog_changes(before, before) == {}
    assert catalog_changes(None, before) == {}
    after = load_catalog([CONTROLS, EXAMPLE]).pin()
    after["frameworks"]["owasp-asi-2026"]["requirements"]["ASI01"]["checks"].append("agent_identity_attested")
    del after["frameworks"]["owasp-asi-2026"]["requirements"]["ASI10"]
    after["frameworks"]["owasp-asi-2026"]["requirements"]["ASI11"] = {"checks": [], "mapped_from": []}
    after["frameworks"]["owasp-asi-2026"]["version"] = "2027"
    changes = catalog_changes(before, after)
    owasp = changes["frameworks"]["owasp-asi-2026"]
    assert (owasp["added"], owasp["removed"], owasp["remapped"]) == (["ASI11"], ["ASI10"], ["ASI01"])
    assert owasp["version"] == ["2026", "2027"]
    assert changes["frameworks"]["acme-agent-standard"]["is_added"] is True
    assert changes["mapping_sets"]["added"] == ["nist-ai-rmf-to-acme-agent-standard"]
    assert "nist-ai-rmf-1.0" not in changes["frameworks"]  # nothing maps *into* NIST, so NIST is unchanged


def test_a_run_pins_its_catalog_and_the_next_run_on_a_changed_catalog_lists_the_changes(settings, tmp_path):
    plain = create_app(settings)
    first = evaluate(plain)
    second = evaluate(plain, NOW + timedelta(minutes=1))
    assert first.catalog_version_id == second.catalog_version_id is not None
    copy = example_copy(tmp_path, lambda d: d["mappings"].pop(6))  # drop MANAGE 3.1 -> AG-SEC-04
    extended = create_app(dataclasses.replace(settings, controls_path=str(copy)))
    third = evaluate(extended, NOW + timedelta(minutes=2))
    path = copy / EXAMPLE_MAPPING
    data = yaml.safe_load(path.read_text())
    data["mappings"].append({**data["mappings"][5], "source": "MANAGE 3.1", "relationship": "subset"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    remapped = create_app(dataclasses.replace(settings, controls_path=str(copy)))
    fourth = evaluate(remapped, NOW + timedelta(minutes=3))
    with session_scope(get_engine(plain)) as session:
        versions = {v.id: v for v in session.execute(select(CatalogVersion)).scalars()}
    assert len(versions) == 3
    assert versions[first.catalog_version_id].changes == {}
    assert (
        versions[first.catalog_version_id].pin["frameworks"]["nist-ai-rmf-1.0"]["version"] == "1.0 (AI 100-1)"
    )
    added = versions[third.catalog_version_id]
    assert added.first_run_id == third.id and added.hash == third.catalog_hash
    assert added.changes["frameworks"]["acme-agent-standard"]["is_added"] is True
    changed = versions[fourth.catalog_version_id].changes
    assert changed["frameworks"] == {
        "acme-agent-standard": {
            "name": "ACME agent governance standard",
            "is_added": False,
            "is_removed": False,
            "version": None,
            "added": [],
            "removed": [],
            "remapped": ["AG-SEC-04"],
        }
    }
    assert changed["mapping_sets"]["changed"] == ["nist-ai-rmf-to-acme-agent-standard"]
    with session_scope(get_engine(remapped)) as session:
        create_user(session, username="viewer", password=PASSWORD, role="viewer", actor="test")
    page = make_client(remapped, "viewer")
    index = text(page.get("/frameworks/"))
    assert f"first used by run #{fourth.id}" in index and "AG-SEC-04" in index
    show = text(page.get("/frameworks/acme-agent-standard"))
    assert "re-mapped (checks or mappings changed): AG-SEC-04" in show
    for app in (plain, extended, remapped):
        dispose_engine(app)


def test_the_api_run_carries_each_inferred_status_with_its_provenance(example_app):
    from datetime import UTC, datetime, timedelta

    from app.security import create_api_token

    run = evaluate(example_app)
    with session_scope(get_engine(example_app)) as session:
        token, _ = create_api_token(
            session, name="t", role="viewer", expires_at=datetime.now(UTC) + timedelta(days=1), created_by="t"
        )
    body = (
        example_app.test_client()
        .get(f"/api/v1/runs/{run.id}", headers={"Authorization": f"Bearer {token}"})
        .get_json()
    )
    inferred = body["requirement_inferences"]["acme-agent-standard"]["AG-SEC-03"]
    assert body["requirement_statuses"]["acme-agent-standard"]["AG-SEC-03"] == "partial"
    assert [s["requirement"] for s in inferred["sources"]] == ["GOVERN 3.2", "MAP 3.5"]
    assert "AG-GOV-01" not in body["requirement_inferences"]["acme-agent-standard"]  # decided by its checks
