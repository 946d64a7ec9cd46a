"""Reporting fixtures: an app with a small evaluated inventory, and a helper that makes reports."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.base import BaseScheduler

from app.catalog import get_catalog
from app.reporting.archive import GeneratedReports, generate_report
from app.reporting.context import Scope
from tests.conftest import minimal_inventory, write_yaml

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class StoreOnlyScheduler(BaseScheduler):
    """A scheduler that keeps its job store but has no loop, so nothing ever runs: a process that is down."""

    def wakeup(self):
        pass

    def shutdown(self, wait=True):
        super().shutdown(wait)


def import_inventory_file(runner, path) -> None:
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output


def crowded_inventory(copies: int) -> dict:
    """The minimal inventory plus copies of its weakest agent (an unattested service account)."""
    data = minimal_inventory()
    template = data["agents"][1]
    for n in range(copies):
        data["agents"].append(
            {**template, "id": f"helper-{n:02d}", "identity": {**template["identity"], "id": f"sa-{n}"}}
        )
    return data


@pytest.fixture
def inventory_app(app, runner, tmp_path):
    """The app with the minimal inventory imported (and so evaluated once)."""
    import_inventory_file(runner, write_yaml(tmp_path / "inventory" / "inventory.yaml", minimal_inventory()))
    return app


def make_reports(app, session, *, scope: Scope | None = None, formats=("pdf",), now=NOW, made_by="tester"):
    """Generate reports through the archive service, as the CLI and the UI do."""
    generated: GeneratedReports = generate_report(
        session,
        catalog=get_catalog(app),
        settings=app.config["STEWARD"],
        scope=scope or Scope(),
        formats=formats,
        made_by=made_by,
        now=now,
    )
    session.commit()
    return generated
