"""The migrations build exactly the schema the models declare, and the latest ones can be undone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.db import alembic_config, is_at_head, upgrade_database
from app.models import metadata


def _differences(engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), metadata)


def test_a_migrated_database_matches_every_model(engine):
    assert _differences(engine) == []


def test_a_model_change_without_a_migration_is_noticed(engine):
    # The comparison above can fail: an index the models declare and the database lacks shows up.
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_audit_event_agent_at")
    assert any("ix_audit_event_agent_at" in repr(d) for d in _differences(engine))


def test_the_narrower_indexes_can_be_undone_and_redone(engine):
    config = alembic_config(engine)
    command.downgrade(config, "0009")
    indexes = {i["name"] for i in inspect(engine).get_indexes("audit_event")}
    assert "ix_audit_event_agent" in indexes and "ix_audit_event_agent_at" not in indexes
    assert not is_at_head(engine)
    upgrade_database(engine)
    assert is_at_head(engine)
    assert _differences(engine) == []
