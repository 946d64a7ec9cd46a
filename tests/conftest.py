"""Shared fixtures: an app on a fresh database, its CLI runner and session, and inventory files."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from sqlalchemy import MetaData, create_engine, event, make_url, select
from sqlalchemy.pool import Pool

from app import create_app
from app.config import Settings
from app.db import dispose_engine, make_engine, session_scope, upgrade_database

TEST_DATABASE_URL = os.environ.get("STEWARD_TEST_DATABASE_URL", "")
# Real files from public repositories, kept beside the project (never copied into it).
SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path | str:
    """A database migrated to head once, copied for each test (migrating per test is slow).

    On SQLite a file; on PostgreSQL a template database, one per xdist worker, whose name is returned.
    """
    if TEST_DATABASE_URL:
        template = f"{_postgres_database_name()}_template"
        with _postgres_admin() as admin:
            admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            admin.exec_driver_sql(f'CREATE DATABASE "{template}"')
        engine = make_engine(_postgres_url(template))
        upgrade_database(engine)
        engine.dispose()
        return template
    path = tmp_path_factory.mktemp("template") / "steward.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    return path


@pytest.fixture
def settings(tmp_path, migrated_template) -> Iterator[Settings]:
    instance = tmp_path / "instance"
    instance.mkdir()
    if not TEST_DATABASE_URL:
        shutil.copy(migrated_template, instance / "steward.db")
        yield Settings(instance_path=str(instance), actor="test", evaluation_debounce_seconds=0)
        return
    opened = []

    def remember(dbapi_connection, _record) -> None:
        opened.append(dbapi_connection)

    # Apps and engines a test makes and drops hold pooled connections to its database; closed here,
    # rather than by the garbage collector at some later test (psycopg warns, and warnings fail tests).
    event.listen(Pool, "connect", remember)
    database = _postgres_database_name()
    yield Settings(
        instance_path=str(instance),
        database_url=fresh_postgres_database(migrated_template),
        actor="test",
        evaluation_debounce_seconds=0,
    )
    event.remove(Pool, "connect", remember)
    for connection in opened:
        if not connection.closed and connection.info.dbname == database:
            connection.close()


def database_environment(settings: Settings) -> dict[str, str]:
    """STEWARD_* variables that point another process, or a job that builds its own app, here."""
    env = {"STEWARD_INSTANCE_PATH": settings.instance_path}
    if settings.database_url:
        env["STEWARD_DATABASE_URL"] = settings.database_url
    return env


def module_settings(tmp_path_factory, migrated_template, name: str) -> Settings:
    """Settings on a database of its own, for a module-scoped fixture that builds something costly once.

    A module's tests meanwhile use the per-test database, so this one has its own file or name.
    """
    instance = tmp_path_factory.mktemp(name) / "instance"
    instance.mkdir()
    if TEST_DATABASE_URL:
        url = fresh_postgres_database(migrated_template, suffix="_" + name.replace("-", "_"))
        return Settings(
            instance_path=str(instance), database_url=url, actor="test", evaluation_debounce_seconds=0
        )
    shutil.copy(migrated_template, instance / "steward.db")
    return Settings(instance_path=str(instance), actor="test", evaluation_debounce_seconds=0)


def fresh_postgres_database(template: str, suffix: str = "") -> str:
    """A new PostgreSQL database copied from the migrated template (this worker's, plus a suffix): its URL."""
    database = _postgres_database_name() + suffix
    with _postgres_admin() as admin:
        # WITH (FORCE) ends the connections a previous test left open (a server thread, a pool).
        admin.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.exec_driver_sql(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    return _postgres_url(database)


def _postgres_database_name() -> str:
    """This worker's test database: the URL's database, suffixed with the xdist worker's id."""
    name = make_url(TEST_DATABASE_URL).database or "steward_test"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"{name}_{worker}" if worker else name


def _postgres_url(database: str) -> str:
    return make_url(TEST_DATABASE_URL).set(database=database).render_as_string(hide_password=False)


@contextmanager
def _postgres_admin():
    """An autocommit connection to the server's maintenance database, for CREATE and DROP DATABASE."""
    engine = create_engine(_postgres_url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _reset_postgres(engine) -> None:
    """Empty a PostgreSQL test database and migrate it again (a test that wants a second start)."""
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    upgrade_database(engine)


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    dispose_engine(app)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def engine(app):
    from app.db import get_engine

    return get_engine(app)


@pytest.fixture
def session(engine):
    with session_scope(engine) as session:
        yield session


def database_state(engine) -> dict[str, list[tuple]]:
    """Every row of every table, so a test can prove that nothing changed."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return {
            name: sorted(tuple(map(repr, row)) for row in connection.execute(select(table)))
            for name, table in metadata.tables.items()
        }


def write_yaml(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def minimal_inventory() -> dict:
    """A small valid inventory: two agents, one server with two tools, a credential, a policy, an approval."""
    return {
        "agents": [
            {
                "id": "release-bot",
                "owner": "alice@example.org",
                "environment": "production",
                "identity": {
                    "kind": "workload",
                    "id": "spiffe://example.org/ci/release-bot",
                    "attested": True,
                },
                "tools": ["deploy.rollout", "deploy.status"],
                "credentials": ["jit-deploy"],
            },
            {
                "id": "triage-bot",
                "owner": "bob@example.org",
                "environment": "staging",
                "identity": {"kind": "service_account", "id": "sa-triage"},
                "tools": ["deploy.status"],
                "delegates_to": ["release-bot"],
                "max_delegation_depth": 1,
            },
        ],
        "mcp_servers": [
            {
                "id": "deploy",
                "transport": "http",
                "url": "https://deploy.example.org/mcp",
                "auth": "oauth2",
                "tools": [
                    {"name": "rollout", "sensitivity": "critical", "annotations": {"destructiveHint": True}},
                    {"name": "status", "sensitivity": "low", "annotations": {"readOnlyHint": True}},
                ],
            }
        ],
        "credentials": [
            {
                "id": "jit-deploy",
                "kind": "jit_token",
                "ttl_seconds": 600,
                "audience": "deploy",
                "storage": "vault",
            }
        ],
        "policies": [
            {
                "id": "deploy-prod",
                "evaluation": "runtime",
                "effect": "allow",
                "subjects": ["release-bot"],
                "tools": ["deploy.*"],
                "require_approval": True,
            }
        ],
        "approvals": [
            {
                "id": "appr-1",
                "agent": "release-bot",
                "tool": "deploy.rollout",
                "task": "Release v2.3.1",
                "approved_by": "carol@example.org",
                "approved_at": "2026-11-20T10:00:00Z",
                "credential_issued": "jit-8f2a",
            }
        ],
    }


@pytest.fixture
def inventory_file(tmp_path) -> Path:
    return write_yaml(tmp_path / "inventory" / "inventory.yaml", minimal_inventory())


@pytest.fixture
def seeded_app(app, runner):
    """The app with the demo organisation imported and evaluated, and a user of each role."""
    from app.db import get_engine
    from app.demo import import_demo_organisation
    from app.security import create_user

    with session_scope(get_engine(app)) as session:
        assert import_demo_organisation(session, actor="test", settings=app.config["STEWARD"]).ok
    result = runner.invoke(args=["evaluate"])
    assert result.exit_code == 0, result.output
    with session_scope(get_engine(app)) as session:
        for role in ("viewer", "analyst", "admin"):
            create_user(session, username=role, password=PASSWORD, role=role, actor="test")
    return app


def schema_differences(engine) -> list:
    """What alembic finds between the migrated database and the models ([] when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from app.models import metadata

    # An index on an expression (ix_finding_severity_order) is not compared here: SQLite's reflection
    # skips it, and PostgreSQL gives it back rewritten ('critical'::text), which alembic then reports
    # as one index removed and another added. tests/test_migrations.py checks it by what the database holds.
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    return [
        d
        for d in differences
        if not (isinstance(d, tuple) and getattr(d[1], "name", None) == "ix_finding_severity_order")
    ]


@contextmanager
def serving(app, *, threads: int) -> Iterator[str]:
    """The app served by waitress on a free loopback port, in a thread: its base URL.

    Closing the server from this thread can close a socket while the server's thread waits on it
    (select then fails with EBADF): an error of the stop, not of the test, so it is not raised.
    """
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stopping.set()
        server.close()
        thread.join(timeout=5)
