"""The Excel workbook: the sheets an auditor filters, row counts equal to the database, no formula can run."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.assessment import accept_risk, attest_requirement
from app.catalog import get_catalog
from app.models.assessment import Attestation, Finding, RiskAcceptance
from app.models.inventory import Agent, Credential, Policy, Tool
from app.reporting.archive import report_path
from app.reporting.context import Scope
from app.reporting.excel import STATIC_SHEETS, sheet_title
from app.reporting.xlsx import XlsxWriter
from tests.conftest import minimal_inventory, write_yaml
from tests.reporting.conftest import NOW, import_inventory_file, make_reports

INJECTIONS = ('=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1:A2)")


def workbook_of(app, session, **kwargs):
    generated = make_reports(app, session, formats=("xlsx",), **kwargs)
    path = report_path(app.config["STEWARD"], generated.reports[0])
    return load_workbook(path), path, generated.context


def rows(ws, header_row: int = 1) -> list[dict]:
    values = list(ws.iter_rows(min_row=header_row, values_only=True))
    header = values[0]
    return [dict(zip(header, row, strict=True)) for row in values[1:] if any(v is not None for v in row)]


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_workbook_has_summary_a_sheet_per_framework_and_the_evidence_sheets(inventory_app, session):
    wb, _, _ = workbook_of(inventory_app, session)
    catalog = get_catalog(inventory_app)
    framework_sheets = [sheet_title(f, set()) for f in catalog.frameworks]
    assert wb.sheetnames == ["Summary", *framework_sheets, *STATIC_SHEETS[1:]]
    summary = rows(wb["Summary"])
    assert [r["Framework id"] for r in summary[: len(catalog.frameworks)]] == list(catalog.frameworks)
    first = catalog.frameworks[next(iter(catalog.frameworks))]
    sheet = rows(wb[framework_sheets[0]], header_row=2)
    assert sorted(r["Requirement id"] for r in sheet) == sorted(r.id for r in first.requirements)
    assert {"Status", "Checks", "Subjects examined", "Passed", "Failed", "Open findings"} <= set(sheet[0])


def test_row_counts_equal_the_database(inventory_app, session):
    wb, _, context = workbook_of(inventory_app, session)
    mapped = {
        c for f in get_catalog(inventory_app).frameworks.values() for r in f.requirements for c in r.checks
    }
    findings = session.execute(
        select(func.count()).select_from(Finding).where(Finding.check_id.in_(mapped))
    ).scalar_one()
    assert findings > 0
    assert len(rows(wb["Findings"])) == findings
    assert len(rows(wb["Agents"])) == count(session, Agent) == 2
    assert len(rows(wb["Credentials"])) == count(session, Credential)
    assert len(rows(wb["Policies"])) == count(session, Policy)
    assert len(rows(wb["MCP servers and tools"])) == count(session, Tool) == 2
    assert len(rows(wb["Exceptions"])) == count(session, RiskAcceptance)
    assert len(rows(wb["Attestations"])) == count(session, Attestation)
    evidence = rows(wb["Evidence"], header_row=2)
    assert_evidence_is_every_outcome(session, context, evidence)
    assert all(r["Finding id"] for r in evidence if r["Outcome"] == "fail")


def assert_evidence_is_every_outcome(session, context, evidence: list[dict]) -> None:
    """One Evidence row per subject each check examined; the failing ones are the open findings."""
    checks = {c.check_id: c for f in context.frameworks for r in f.requirements for c in r.checks}
    assert len(evidence) == sum(c.examined for c in checks.values())
    failing = {(r["Check id"], r["Subject id"]) for r in evidence if r["Outcome"] == "fail"}
    open_findings = {
        (f.check_id, f.subject_id)
        for f in session.execute(select(Finding).where(Finding.status == "open")).scalars()
        if f.check_id in checks
    }
    assert failing == open_findings


def import_calls(runner, tmp_path, calls: list[tuple[str, str]]) -> None:
    """An audit log of allowed deploy.rollout calls, one per (agent, event id), imported by the CLI."""
    lines = [
        {
            "ts": "2026-11-20T10:00:00Z",
            "agent": a,
            "tool": "deploy.rollout",
            "decision": "allow",
            "event_id": e,
        }
        for a, e in calls
    ]
    log = tmp_path / "calls.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = runner.invoke(args=["import-audit", str(log)])
    assert result.exit_code == 0, result.output


def test_the_evidence_sheet_carries_the_audit_logs_verdicts_too(inventory_app, runner, session, tmp_path):
    # The runtime checks judge recorded calls: re-run without the log they would say nothing.
    import_calls(runner, tmp_path, [("release-bot", "e-1"), ("shadow-bot", "e-2")])
    wb, _, context = workbook_of(inventory_app, session)
    evidence = rows(wb["Evidence"], header_row=2)
    shadow = [r for r in evidence if r["Check id"] == "calls_come_from_inventoried_agents"]
    assert {(r["Subject id"], r["Outcome"]) for r in shadow} == {
        ("release-bot", "pass"),
        ("shadow-bot", "fail"),
    }
    assert_evidence_is_every_outcome(session, context, evidence)


def test_a_team_scope_counts_the_runtime_verdicts_of_its_agents_only(app, runner, session, tmp_path):
    data = minimal_inventory()
    data["agents"][0]["team"] = "release"
    data["agents"][1]["team"] = "support"
    import_inventory_file(runner, write_yaml(tmp_path / "inventory.yaml", data))
    import_calls(runner, tmp_path, [(a, a) for a in ("release-bot", "triage-bot", "shadow-bot")])
    wb, _, context = workbook_of(app, session, scope=Scope(teams=("release",)))
    checks = {c.check_id: c for f in context.frameworks for r in f.requirements for c in r.checks}
    inventoried = checks["calls_come_from_inventoried_agents"]
    assert (inventoried.examined, inventoried.passed) == (1, 1)
    evidence = rows(wb["Evidence"], header_row=2)
    assert {r["Subject id"] for r in evidence if r["Check id"] == "calls_come_from_inventoried_agents"} == {
        "release-bot"
    }


def test_every_sheet_has_a_styled_frozen_filtered_header(inventory_app, session):
    wb, _, _ = workbook_of(inventory_app, session)
    for ws in wb.worksheets:
        header_row = 2 if ws.freeze_panes == "A3" else 1
        assert ws.freeze_panes == f"A{header_row + 1}", ws.title
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith(f"A{header_row}:"), ws.title
        header = ws[header_row]
        assert all(cell.font.bold and cell.fill.fgColor.rgb.endswith("1B2636") for cell in header), ws.title
        for cell in header:
            width = ws.column_dimensions[cell.column_letter].width
            assert 8 <= width <= 80, (ws.title, cell.value, width)


def test_dates_are_real_dates(inventory_app, session):
    wb, _, context = workbook_of(inventory_app, session)
    finding = rows(wb["Findings"])[0]
    assert isinstance(finding["First seen (UTC)"], datetime)
    expected = context.findings[0].first_seen_at.replace(tzinfo=None)
    assert abs((finding["First seen (UTC)"] - expected).total_seconds()) < 1  # Excel keeps milliseconds
    ws = wb["Findings"]
    column = [c.value for c in ws[1]].index("First seen (UTC)")
    assert ws.cell(row=2, column=column + 1).number_format == "yyyy-mm-dd hh:mm"


def test_text_that_looks_like_a_formula_is_stored_as_text(app, runner, session, tmp_path):
    data = minimal_inventory()
    data["agents"][0]["name"] = INJECTIONS[0]
    data["agents"][1]["name"] = "Triage bot"
    data["agents"][0]["purpose"] = INJECTIONS[1]
    data["mcp_servers"][0]["tools"][0]["description"] = INJECTIONS[2]
    data["policies"][0]["description"] = INJECTIONS[3]
    import_inventory_file(runner, write_yaml(tmp_path / "inventory.yaml", data))
    wb, path, _ = workbook_of(app, session)

    cells = {
        c.value: c for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)
    }
    for text in INJECTIONS:
        cell = cells[text]
        assert cell.data_type == "s" and cell.quotePrefix, text
    plain = cells["Triage bot"]
    assert plain.data_type == "s" and not plain.quotePrefix

    with zipfile.ZipFile(path) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        for name in sheets:
            assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name), name


def test_a_team_scope_keeps_only_that_teams_agents_and_their_findings(app, runner, session, tmp_path):
    data = minimal_inventory()
    data["agents"][0]["team"] = "release"
    data["agents"][1]["team"] = "support"
    import_inventory_file(runner, write_yaml(tmp_path / "inventory.yaml", data))
    wb, _, context = workbook_of(app, session, scope=Scope(teams=("support",)))
    assert [r["Agent id"] for r in rows(wb["Agents"])] == ["triage-bot"]
    findings = rows(wb["Findings"])
    assert findings and all(f["Agent"] in ("triage-bot", None) for f in findings)
    assert all(f["Team"] in ("support", None) for f in findings)
    assert "release-bot" not in {r["Agent"] for r in rows(wb["Evidence"], header_row=2)}
    assert context.scope_text.endswith("· support")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("owasp-asi-2026", "owasp-asi-2026"), ("a/b:c*d?[e]", "a_b_c_d__e_"), ("x" * 40, "x" * 31)],
)
def test_framework_sheet_names_are_valid_and_unique(name, expected):
    taken = {"summary"}
    assert sheet_title(name, taken) == expected
    again = sheet_title(name, taken)
    assert again != expected and len(again) <= 31
    assert sheet_title("Summary", {"summary"}) == "Summary (2)"


def test_tab_and_carriage_return_prefixes_are_quoted_too(tmp_path):
    with open(tmp_path / "cells.xlsx", "wb") as file, XlsxWriter(file) as book, book.sheet("Cells") as ws:
        ws.append(["\tcmd|' /C calc'!A0", "\r=1+1", "plain", "a=b", 42])
    cells = load_workbook(tmp_path / "cells.xlsx")["Cells"][1]
    assert [c.quotePrefix for c in cells] == [True, True, False, False, False]
    assert cells[0].value.startswith("\tcmd") and cells[0].data_type == "s"
    assert cells[4].value == 42 and cells[4].data_type == "n"


def test_exceptions_and_attestations_sheets_hold_every_decision(inventory_app, session):
    catalog = get_catalog(inventory_app)
    finding = (
        session.execute(select(Finding).where(Finding.status == "open").order_by(Finding.id))
        .scalars()
        .first()
    )
    accept_risk(
        session,
        finding_id=finding.id,
        justification="=cmd|' /C calc'!A0",
        accepted_by="carol",
        expires_at=NOW + timedelta(days=30),
        now=NOW,
    )
    framework, requirement = next(
        (f, r) for f in catalog.frameworks.values() for r in f.requirements if r.is_manual
    )
    attest_requirement(
        session,
        catalog=catalog,
        framework_id=framework.id,
        requirement_id=requirement.id,
        statement="Board-approved AI policy.",
        attested_by="dave",
        expires_at=NOW + timedelta(days=180),
        evidence_url="https://intranet.example.org/ai-policy",
        now=NOW,
    )
    session.commit()
    wb, _, _ = workbook_of(inventory_app, session)
    (exception,) = rows(wb["Exceptions"])
    assert (exception["Finding id"], exception["State"], exception["Accepted by"]) == (
        finding.id,
        "active",
        "carol",
    )
    assert exception["Expires (UTC)"] == (NOW + timedelta(days=30)).replace(tzinfo=None)
    assert exception["Justification"] == "=cmd|' /C calc'!A0"
    (attestation,) = rows(wb["Attestations"])
    assert (attestation["Requirement id"], attestation["State"], attestation["Attested by"]) == (
        requirement.id,
        "current",
        "dave",
    )
    findings = {f["Finding id"]: f for f in rows(wb["Findings"])}
    assert findings[finding.id]["Risk accepted"] is True
    assert sum(1 for f in findings.values() if f["Risk accepted"]) == 1


def test_the_collector_is_paused_while_a_report_is_made_and_back_after_even_on_failure(
    inventory_app, session, monkeypatch
):
    import gc

    import app.reporting.context as context_module

    seen = []
    real = context_module.collect_outcomes

    def recording(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(context_module, "collect_outcomes", recording)
    assert gc.isenabled()
    workbook_of(inventory_app, session)
    assert seen and not any(seen)  # paused while the checks ran again
    assert gc.isenabled()  # a long-lived server keeps collecting cycles afterwards

    def crashing(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(context_module, "load_inventory", crashing)
    with pytest.raises(RuntimeError):
        workbook_of(inventory_app, session)
    assert gc.isenabled()


@pytest.mark.parametrize("agents_at_once", [1, 3])
def test_runtime_evidence_checked_a_slice_of_agents_at_a_time_is_the_evaluations(
    seeded_app, session, monkeypatch, agents_at_once
):
    # The demo's audit log, judged a few agents' events at a time for the workbook, must give the
    # verdicts the evaluation gave over the whole log at once: the same failures, the same counts.
    import app.reporting.context as context_module

    monkeypatch.setattr(context_module, "RUNTIME_SLICE", agents_at_once)
    wb, _, context = workbook_of(seeded_app, session)
    evidence = rows(wb["Evidence"], header_row=2)
    runtime = {
        r["Check id"]
        for r in evidence
        if r["Check id"].startswith(("calls_", "production_", "sensitive_calls"))
    }
    assert len(runtime) == 6
    assert any(r["Outcome"] == "fail" for r in evidence if r["Check id"] in runtime)
    assert_evidence_is_every_outcome(session, context, evidence)


def test_spooled_evidence_rows_come_back_whole_in_order_as_often_as_asked(monkeypatch):
    from app.reporting.context import OutcomeRow, OutcomeRows

    monkeypatch.setattr(OutcomeRows, "BATCH", 3)  # several batches on the file, one still pending
    made = [
        OutcomeRow(
            check_id=f"check_{i % 4}",
            check_title="A check",
            severity="high",
            subject_kind="access",
            subject_id=f"bot-{i}::srv.tool",
            agent_id=f"bot-{i}" if i % 2 else None,
            team=None,
            environment="production",
            outcome="fail" if i % 3 else "pass",
            detail=f"=cmd|' /C calc'!A{i} and ünïcode",
            finding_id=i if i % 3 else None,
            finding_status="open" if i % 3 else None,
            is_excepted=i == 5,
            requirements=("owasp-asi-2026:ASI02", "nist-ai-rmf-1.0:MANAGE 4.3")[: i % 3],
        )
        for i in range(11)
    ]
    rows = OutcomeRows()
    assert len(rows) == 0 and list(rows) == []
    for row in made:
        rows.append(row)
    assert len(rows) == 11
    assert list(rows) == made
    first, second = iter(rows), iter(rows)
    assert [next(first), next(first), next(second)] == [made[0], made[1], made[0]]
    assert list(first) == made[2:] and list(second) == made[1:]


def test_a_runtime_check_crashing_on_a_later_slice_shows_one_error_row_and_none_of_its_verdicts(
    seeded_app, session, monkeypatch
):
    import app.reporting.context as context_module
    from app.checks import REGISTRY, load_checks

    load_checks()
    check_id = "calls_come_from_inventoried_agents"
    real, produced = REGISTRY[check_id], []

    def crashing_later(snapshot):
        if len(snapshot.events_by_agent) > 1:  # not a slice of one agent: the report's run is not
            return real(snapshot)
        if produced:  # an earlier slice gave verdicts, and their rows were spooled
            raise RuntimeError("gateway log out of reach")
        outcomes = list(real(snapshot))
        produced.extend(outcomes)
        return outcomes

    monkeypatch.setattr(context_module, "RUNTIME_SLICE", 1)
    monkeypatch.setitem(REGISTRY, check_id, crashing_later)
    wb, _, context = workbook_of(seeded_app, session)
    evidence = [r for r in rows(wb["Evidence"], header_row=2) if r["Check id"] == check_id]
    assert [r["Outcome"] for r in evidence] == ["error"]
    assert "gateway log out of reach" in evidence[0]["Detail"]
    assert produced and "gateway log out of reach" in context.check_errors[check_id]
    others = [
        r for r in rows(wb["Evidence"], header_row=2) if r["Check id"] == "calls_stay_within_declared_tools"
    ]
    assert others and {r["Outcome"] for r in others} <= {"pass", "fail"}


def test_rows_beyond_excels_limit_go_on_to_continuation_sheets_with_the_header(
    seeded_app, session, monkeypatch
):
    import app.reporting.xlsx as xlsx

    whole, _, _ = workbook_of(seeded_app, session)
    evidence = rows(whole["Evidence"], header_row=2)
    findings = rows(whole["Findings"])
    assert len(evidence) > 18 and len(findings) > 18
    monkeypatch.setattr(xlsx, "MAX_ROWS", 20)  # as if Excel stopped at 20 rows a sheet: 18 under a note
    wb, _, _ = workbook_of(seeded_app, session)

    parts = [name for name in wb.sheetnames if name == "Evidence" or name.startswith("Evidence (")]
    assert len(parts) == -(-len(evidence) // 18) and parts[1] == "Evidence (2)"
    assert [r for name in parts for r in rows(wb[name], header_row=2)] == evidence
    notes = [wb[name]["A1"].value for name in parts]
    assert notes[0].endswith(f"Rows 1–18 of {len(evidence)}; continued on the sheet 'Evidence (2)'.")
    assert notes[-1].endswith(f"of {len(evidence)}.") and "continued" not in notes[-1]
    assert all(wb[name].freeze_panes == "A3" for name in parts)
    # A sheet with no note of its own (Findings) gets one when it is split, and all its rows.
    found = [name for name in wb.sheetnames if name.startswith("Findings")]
    assert len(found) > 1 and wb[found[0]]["A1"].value.startswith("Rows 1–18 of")
    assert [r for name in found for r in rows(wb[name], header_row=2)] == findings
    names = wb.sheetnames
    assert names.index("Evidence") < names.index("Evidence (2)") < names.index("Metrics")
