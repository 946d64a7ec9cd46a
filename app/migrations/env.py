"""Alembic environment: runs migrations on the engine Steward hands it."""

from alembic import context

from app.models import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from app.config import Settings
    from app.db import make_engine

    engine = make_engine(Settings.from_env().resolved_database_url)


def include_name(name, type_, _parent_names) -> bool:
    """Leave out APScheduler's job table: the scheduler's persistent job store creates and owns it."""
    return not (type_ == "table" and name == "apscheduler_jobs")


with engine.begin() as connection:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True, include_name=include_name
    )
    context.run_migrations()
