"""The `steward` command: demo, inventory summary, database schema."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import inspect

from app.db import is_at_head


def test_demo_imports_the_seed_evaluates_and_makes_an_admin(runner, app):
    result = runner.invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "Demo organisation loaded from 5 inventory files" in result.stdout
    assert "agents              25" in result.stdout
    assert "Discovered 3 MCP servers (1 plaintext secrets) in claude-code-alice's client." in result.stdout
    assert "933 new events" in result.stdout
    assert "by environment: development" in result.stdout
    assert "Evaluation #1:" in result.stdout and "(owasp-asi-2026)" in result.stdout
    again = runner.invoke(args=["demo", "--no-serve"])
    assert again.exit_code == 0
    rows = [line.split() for line in again.stdout.splitlines()[2:7]]
    assert [row[0] for row in rows] == ["agents", "mcp_servers", "credentials", "policies", "approvals"]
    assert all(row[1:4] == ["0", "0", "0"] for row in rows)
    assert "0 new events, 933 already known" in again.stdout
    from app.db import get_engine, session_scope
    from app.security import authenticate

    with session_scope(get_engine(app)) as session:
        assert authenticate(session, username="admin", password="wrong") is None


def test_inventory_summary_counts_by_kind_environment_and_status(runner, inventory_file):
    runner.invoke(args=["import", str(inventory_file)])
    result = runner.invoke(args=["inventory"])
    assert result.exit_code == 0
    assert "agents            2   by environment: production 1 · staging 1" in result.stdout
    assert "tools             2   sensitive: 1" in result.stdout


def test_fresh_database_is_brought_to_head_on_first_use(tmp_path):
    from app import create_app
    from app.config import Settings
    from app.db import get_engine

    app = create_app(Settings(instance_path=str(tmp_path / "fresh")))
    engine = get_engine(app)
    assert "agent" in inspect(engine).get_table_names()
    assert is_at_head(engine)


def test_steward_console_script_lists_its_commands():
    result = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    for command in ("import", "inventory", "export-inventory", "demo", "db"):
        assert f"  {command}" in result.stdout


def imported(runner, path):
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    return result


def test_an_import_that_changes_the_inventory_triggers_an_evaluation(runner, inventory_file):
    first = imported(runner, inventory_file)
    assert "Evaluation #1:" in first.stdout
    second = imported(runner, inventory_file)
    assert "Evaluation #" not in second.stdout  # nothing changed, nothing to evaluate


def test_dry_run_lists_the_findings_a_change_would_open_and_resolve(runner, tmp_path):
    from tests.conftest import minimal_inventory, write_yaml

    data = minimal_inventory()
    path = write_yaml(tmp_path / "inv.yaml", data)
    imported(runner, path)
    data["policies"][0].update(intents=["release"], jit_credential_ttl_seconds=300)
    data["agents"][1]["owner"] = None
    result = runner.invoke(args=["import", "--dry-run", str(write_yaml(path, data))])
    assert result.exit_code == 0, result.output
    assert "Findings this change would open: 1; resolve: 2." in result.stdout
    assert "+ [high] agent_has_accountable_owner triage-bot:" in result.stdout or (
        "agent_has_accountable_owner triage-bot:" in result.stdout
    )
    assert "- sensitive_tool_policy_constrains_intent release-bot::deploy.rollout" in result.stdout
    assert "- sensitive_tool_uses_task_scoped_credential release-bot::deploy.rollout" in result.stdout
    assert "Evaluation #2" not in result.stdout


def test_findings_filters_and_formats(runner, inventory_file):
    import csv
    import io
    import json

    imported(runner, inventory_file)
    everything = json.loads(runner.invoke(args=["findings", "--format", "json"]).stdout)
    assert everything and all(f["status"] == "open" for f in everything)
    by_agent = json.loads(
        runner.invoke(args=["findings", "--agent", "triage-bot", "--format", "json"]).stdout
    )
    assert by_agent and all(f["agent_id"] == "triage-bot" for f in by_agent)
    assert len(by_agent) < len(everything)
    critical = json.loads(
        runner.invoke(args=["findings", "--severity", "critical", "--format", "json"]).stdout
    )
    assert all(f["severity"] == "critical" for f in critical)
    rows = list(csv.DictReader(io.StringIO(runner.invoke(args=["findings", "--format", "csv"]).stdout)))
    assert len(rows) == len(everything) and rows[0].keys() >= {"check_id", "subject_id", "detail"}
    asi02 = json.loads(
        runner.invoke(
            args=["findings", "--framework", "owasp-asi-2026", "--requirement", "ASI02", "--format", "json"]
        ).stdout
    )
    assert {f["check_id"] for f in asi02} <= set(_asi02_checks())
    table = runner.invoke(args=["findings", "--check", "sensitive_tool_policy_constrains_intent"])
    assert "1 finding" in table.stdout and "release-bot::deploy.rollout" in table.stdout
    bad = runner.invoke(args=["findings", "--framework", "iso-27001"])
    assert bad.exit_code == 2 and "'iso-27001' is not one of" in bad.stderr


def _asi02_checks():
    from app.catalog import load_catalog
    from app.config import PROJECT_ROOT

    return load_catalog([PROJECT_ROOT / "controls"]).frameworks["owasp-asi-2026"].requirement("ASI02").checks


def test_status_prints_each_framework_score(runner, inventory_file):
    assert "No evaluation has run yet" in runner.invoke(args=["status"]).stdout
    imported(runner, inventory_file)
    result = runner.invoke(args=["status"])
    assert "OWASP" in result.stdout and "(owasp-asi-2026)" in result.stdout
    assert "(nist-ai-rmf-1.0)" in result.stdout and "(csa-maestro)" in result.stdout
    assert "%" in result.stdout


def test_accept_risk_from_the_command_line(runner, inventory_file):
    import json

    imported(runner, inventory_file)
    finding = json.loads(runner.invoke(args=["findings", "--format", "json"]).stdout)[0]
    refused = runner.invoke(
        args=["accept-risk", str(finding["id"]), "--justification", "x", "--expires", "2099-01-01"]
    )
    assert refused.exit_code == 2 and "more than a year away" in refused.stderr
    from datetime import UTC, datetime, timedelta

    expires = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    accepted = runner.invoke(
        args=[
            "accept-risk",
            str(finding["id"]),
            "--justification",
            "Gateway allow-list",
            "--expires",
            expires,
            "--by",
            "ciso@example.org",
        ]
    )
    assert accepted.exit_code == 0, accepted.output
    assert f"accepted by ciso@example.org until {expires}" in accepted.stdout
