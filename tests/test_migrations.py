"""The migrations build exactly the schema the models declare, and the latest ones can be undone."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from app.assessment import SORTS
from app.catalog import SEVERITY_RANK
from app.db import alembic_config, is_at_head, upgrade_database
from app.models.assessment import SEVERITY_ORDER_SQL
from tests.conftest import schema_differences


def test_a_migrated_database_matches_every_model(engine):
    assert schema_differences(engine) == []


def test_a_model_change_without_a_migration_is_noticed(engine):
    # The comparison above can fail: an index the models declare and the database lacks shows up.
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_audit_event_agent_at")
    assert any("ix_audit_event_agent_at" in repr(d) for d in schema_differences(engine))


def test_the_narrower_indexes_can_be_undone_and_redone(engine):
    config = alembic_config(engine)
    command.downgrade(config, "0009")
    indexes = {i["name"] for i in inspect(engine).get_indexes("audit_event")}
    assert "ix_audit_event_agent" in indexes and "ix_audit_event_agent_at" not in indexes
    assert not is_at_head(engine)
    upgrade_database(engine)
    assert is_at_head(engine)
    assert schema_differences(engine) == []


def test_the_severity_order_index_is_the_one_the_page_sorts_by(engine):
    # Expression indexes escape the comparison above: this one is checked by what the database has.
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_finding_severity_order'"
            ).scalar_one()
        else:
            sql = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_finding_severity_order'"
            ).scalar_one()
    normalized = " ".join(sql.replace("(", " ").replace(")", " ").split()).lower()
    for part in ("when", "critical", "high", "medium", "low", "check_id", "subject_id"):
        assert part in normalized, sql
    assert str(SORTS["severity"][0]) == SEVERITY_ORDER_SQL
    # Its ranks are the catalog's.
    assert [f"WHEN '{s}' THEN {i}" in SEVERITY_ORDER_SQL for s, i in SEVERITY_RANK.items()] == [True] * 4
