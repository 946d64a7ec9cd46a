"""`steward export-inventory`: the inventory back in the contract's format, losslessly."""

from __future__ import annotations

from pathlib import Path

import yaml

from app import create_app
from app.config import PROJECT_ROOT
from tests.conftest import minimal_inventory, write_yaml


def export_texts(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.glob("*.yaml"))}


def test_round_trip_through_an_empty_database_gives_identical_files(runner, settings, tmp_path):
    source = PROJECT_ROOT / "seed"
    assert runner.invoke(args=["import", str(source)]).exit_code == 0
    assert runner.invoke(args=["export-inventory", str(tmp_path / "first")]).exit_code == 0

    second_settings = type(settings)(
        instance_path=str(tmp_path / "second-instance"), actor="test", database_url=settings.database_url
    )
    if settings.database_url:  # one PostgreSQL database: start it again from empty
        from app.db import make_engine
        from tests.conftest import _reset_postgres

        _reset_postgres(make_engine(settings.database_url))
    second = create_app(second_settings).test_cli_runner()
    imported = second.invoke(args=["import", str(tmp_path / "first")])
    assert imported.exit_code == 0, imported.output
    assert second.invoke(args=["export-inventory", str(tmp_path / "second")]).exit_code == 0

    first, again = export_texts(tmp_path / "first"), export_texts(tmp_path / "second")
    assert set(first) == {
        "agents.yaml",
        "mcp_servers.yaml",
        "credentials.yaml",
        "policies.yaml",
        "approvals.yaml",
    }
    assert first == again


def test_export_keeps_every_field_of_the_contract(runner, tmp_path):
    data = minimal_inventory()
    data["agents"][0].update(
        purpose="Ship releases", network_reach=["prod-db"], last_reviewed_at="2026-10-01"
    )
    runner.invoke(args=["import", str(write_yaml(tmp_path / "inv.yaml", data))])
    runner.invoke(args=["export-inventory", str(tmp_path / "out")])
    agents = yaml.safe_load((tmp_path / "out" / "agents.yaml").read_text())["agents"]
    release = agents[0]
    assert release["identity"] == {
        "kind": "workload",
        "id": "spiffe://example.org/ci/release-bot",
        "attested": True,
    }
    assert release["tools"] == ["deploy.rollout", "deploy.status"]
    assert release["network_reach"] == ["prod-db"]
    assert release["last_reviewed_at"] == "2026-10-01"
    approvals = yaml.safe_load((tmp_path / "out" / "approvals.yaml").read_text())["approvals"]
    assert approvals[0]["approved_at"] == "2026-11-20T10:00:00Z"
    assert approvals[0]["credential_issued"] == "jit-8f2a"
