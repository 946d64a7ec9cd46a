"""Engine, sessions and schema migrations."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect, text
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets a WAL journal, foreign keys and a busy timeout."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A writer waits for another (an evaluation holds the write lock while it runs) rather than fail.
        engine = create_engine(url, connect_args={"timeout": 120})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that runs our migrations on this engine."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def is_at_head(engine: Engine) -> bool:
    """Whether the database schema is at the newest migration."""
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to a revision (the newest by default)."""
    command.upgrade(alembic_config(engine), revision)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class SchemaBehindError(RuntimeError):
    """The database holds an older schema; an operator must run the migrations."""


def init_app(app) -> None:
    """Give the app an engine (made on first use) and a session per request."""
    app.extensions["steward.engine"] = None
    app.teardown_appcontext(close_db)


def get_engine(app) -> Engine:
    """The app's engine, created on first use; a brand-new database is migrated to head."""
    engine = app.extensions.get("steward.engine")
    if engine is None:
        engine = make_engine(app.config["STEWARD"].resolved_database_url)
        if not inspect(engine).get_table_names():
            upgrade_database(engine)
        elif not is_at_head(engine):
            raise SchemaBehindError(
                "the database schema is older than this version of Steward; run `steward db upgrade`"
            )
        app.extensions["steward.engine"] = engine
    return engine


def dispose_engine(app) -> None:
    """Close the app's engine and every pooled connection it holds, if the app made one."""
    engine = app.extensions.get("steward.engine")
    if engine is not None:
        engine.dispose()
        app.extensions["steward.engine"] = None


def get_db() -> Session:
    """The request's session, opened on first use and closed when the request ends."""
    from flask import current_app, g

    if "db" not in g:
        g.db = Session(get_engine(current_app), expire_on_commit=False)
    return g.db


def close_db(_exc=None) -> None:
    """Close the request's session; anything not committed is rolled back."""
    from flask import g

    db = g.pop("db", None)
    if db is not None:
        db.close()


# pg_advisory_xact_lock's key for Steward's bulk writers (a fixed 63-bit number: "steward!" in ASCII).
WRITE_LOCK_KEY = int.from_bytes(b"steward!", "big") & (2**63 - 1)


IN_LIST_CHUNK = 1_000


def id_chunks(ids: Iterable) -> Iterator[list]:
    """Ids sorted and cut into IN lists short enough for every database's bound-parameter limit."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), IN_LIST_CHUNK):
        yield ordered[start : start + IN_LIST_CHUNK]


def refresh_planner_statistics(session: Session, table: str) -> None:
    """Let SQLite's query planner know a table's shape again, after a run rewrote much of it.

    Without statistics SQLite guesses that an equality on any indexed column is selective, and sorts
    every open finding for a page rather than walking the index in the page's order. A full ANALYZE
    of the table (0.2 s for 100,000 findings; a sampled one misjudges the status index) is a percent
    of a full evaluation; PostgreSQL's autovacuum does this itself.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f'ANALYZE "{table}"')


def hold_write_lock(session: Session) -> bool:
    """Make this transaction the only bulk writer (import, audit import, evaluation) until it ends.

    Two evaluations, or an evaluation and an import, that read and then write at once would
    otherwise interleave: each inserts the finding the other just inserted (PostgreSQL), or reads
    a state the other is replacing. Call it before the transaction reads what it will write from.
    PostgreSQL: a transaction-scoped advisory lock. SQLite: BEGIN IMMEDIATE, which takes the
    database's single write lock now rather than at the first write (if the transaction has
    written already, it holds that lock). Other writers wait their turn; readers are not held up.

    Returns whether the transaction had written nothing yet: another connection can then read what
    this one reads (SQLite: no other writer commits until it ends; PostgreSQL: through the snapshot
    this transaction exports).
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})
        # A transaction gets an id at its first write: without one, it has written nothing.
        return connection.exec_driver_sql("SELECT pg_current_xact_id_if_assigned() IS NULL").scalar()
    if connection.dialect.name == "sqlite":
        # The driver begins a transaction only before a write: not in one, nothing was written.
        if connection.connection.dbapi_connection.in_transaction:
            return False
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return True
    return False
