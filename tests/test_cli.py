"""The `steward` command: demo, inventory summary, database schema."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import inspect

from app.db import is_at_head


def test_demo_imports_the_seed_and_prints_the_summary(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "Import #1 applied." in result.stdout
    assert "agents" in result.stdout and "by environment: development" in result.stdout
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0
    rows = [line.split() for line in again.stdout.splitlines()[2:7]]
    assert all(row[1:4] == ["0", "0", "0"] and int(row[4]) > 0 for row in rows if row[0] != "approvals")


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
    result = subprocess.run([sys.executable, "-c", "from app.cli import main; main()", "--help"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for command in ("import", "inventory", "export-inventory", "demo", "db"):
        assert f"  {command}" in result.stdout
