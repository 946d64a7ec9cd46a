"""Stream gateway audit logs (JSON Lines) into audit events, and load them back for the checks.

A file is read one line at a time (never whole); app.inventory.audit_reader reads and validates
each line in one of the formats it knows (steward, contextforge, agt, xetrack, or "auto": each
line's format told from its keys) and normalises it to the contract's event (app.snapshot.Event).

A line that cannot be read (not UTF-8, over MAX_LINE_BYTES, invalid JSON, a missing or malformed
field, a value the database cannot hold) becomes a LineError naming the line; the rest of the
file still imports. Blank lines are skipped. An event without an id gets one ("h-" and 16 hex
digits) from a hash of its normalised content, so that importing the same file again adds
nothing; two identical calls in the same microsecond without ids are therefore one event.
Events are inserted in batches with INSERT … ON CONFLICT (event_id) DO NOTHING: an id already
stored (or seen earlier in the file) counts as a duplicate, and the first version of it stays.

A large file going into SQLite is read by a second process (the reader, on the other core) while
this one writes: the same code, the same rows and counts, about twice as fast on two cores.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path

from sqlalchemy import String, func, literal_column, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.audit import record_change
from app.config import usable_cores
from app.db import hold_write_lock
from app.inventory import audit_reader
from app.inventory.audit_reader import (
    AUTO,
    BATCH_SIZE,
    EVENT_FIELDS,
    MAX_LINE_BYTES,
    XETRACK,
    LineError,
    Tally,
    _Scan,
    _sqlite_datetime,
    batches,
    content_id,
)
from app.inventory.store import paused_gc
from app.models.inventory import ImportRecord
from app.models.runtime import AuditEvent
from app.snapshot import Event

__all__ = ["AuditImportResult", "LineError", "content_id", "import_audit_log", "load_events", "read_events"]

# SQLite allows 32,766 bound parameters a statement; PostgreSQL 65,535.
LOOKUP_CHUNK = 1_000
# A file at least this big, going into SQLite on a machine of two cores or more, is read by a reader
# process: starting one costs about 50 ms, reading 4 MB (17,000 events) about 0.2 s.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
PIPE_BYTES = 1024 * 1024
# The reader, run by its path: as `-m app.inventory.audit_reader` it would import the app's package.
READER_SCRIPT = audit_reader.__file__


@dataclass
class AuditImportResult:
    """The outcome of an audit log import: what was read, stored, recognised as known, or refused."""

    file: str
    file_error: str | None = None
    lines_read: int = 0
    imported: int = 0
    duplicates: int = 0
    skipped: int = 0
    bad: int = 0
    errors: list[LineError] = field(default_factory=list)
    formats: dict[str, int] = field(default_factory=dict)
    first_at: datetime | None = None
    last_at: datetime | None = None
    record_id: int | None = None
    is_dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.file_error is None

    @property
    def events(self) -> int:
        """Events read from the file: the new ones and those already stored."""
        return self.imported + self.duplicates


def read_events(
    path: Path,
    *,
    source_format: str = AUTO,
    agent: str | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[Event | LineError]:
    """The tool-call events of an audit log, line by line, with a LineError for each unreadable line."""
    for item in _Scan(Path(path), source_format, agent, max_line_bytes):
        if type(item) is tuple:
            yield Event(*item[1])
        elif type(item) is LineError:
            yield item


def _file_error(path: Path) -> str | None:
    """Why a path cannot be imported at all (missing, a directory, unreadable, nothing but whitespace)."""
    if not path.exists():
        return "no such file or directory"
    if path.is_dir():
        return "is a directory; expected a JSON Lines audit log file"
    try:
        with path.open("rb") as f:
            while chunk := f.read(65_536):
                if not chunk.isspace():
                    return None
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    return "the file is empty; expected one JSON object a line (JSON Lines)"


INSERT_COLUMNS = (*EVENT_FIELDS, "source_format", "import_id")


class _Writer:
    """INSERT … ON CONFLICT (event_id) DO NOTHING of plain rows, in the session's transaction."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        dialect = self.connection.dialect
        module = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect.name)
        if module is None:
            raise NotImplementedError(f"audit log import supports SQLite and PostgreSQL, not {dialect.name}")
        statement = module.insert(AuditEvent.__table__).on_conflict_do_nothing(index_elements=["event_id"])
        compiled = statement.compile(dialect=dialect, column_keys=list(INSERT_COLUMNS), for_executemany=True)
        if compiled.positional and tuple(compiled.positiontup) != INSERT_COLUMNS:
            raise RuntimeError(f"unexpected parameter order {compiled.positiontup}")
        self.sql = str(compiled)
        self.is_positional = compiled.positional
        # The driver is handed plain values, skipping SQLAlchemy's per-row type processing (half the
        # time of an import); so `at` is given as the column type would store it.
        self.is_sqlite = dialect.name == "sqlite"
        self.stored_at = _sqlite_datetime if self.is_sqlite else None
        self.inserted = 0
        self._stored = 0
        self.deferred: list = []

    # SQLite's page cache while a log goes in: the table and its event_id index of a million events
    # (400 MB) outgrow the default 2 MB at once, and each miss is a page read and write. 256 MB
    # rather than 64 took the million's inserts from 10.2 s to 8.7 s. Restored after.
    BULK_CACHE_KIB = 262_144
    # A large import into SQLite drops the secondary indexes (at; agent, at) once it has inserted
    # this many events and at least as many as were stored before, and builds them again at the
    # end: one sort of every row instead of a random B-tree insert per event (7.7 µs an event for
    # the two, against 3.9 µs to rebuild them, at a million). The unique event_id index stays: the
    # ON CONFLICT needs it. All of it is in the import's transaction, so readers never see the
    # table without them, and a rolled-back import leaves the schema as it was.
    DEFER_INDEXES_AFTER = 100_000

    def __enter__(self) -> _Writer:
        if self.is_sqlite:
            self._cache = self.connection.exec_driver_sql("PRAGMA cache_size").scalar()
            self.connection.exec_driver_sql(f"PRAGMA cache_size=-{self.BULK_CACHE_KIB}")
            table = AuditEvent.__table__
            self._stored = self.connection.execute(select(func.max(table.c.id))).scalar() or 0
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        if not self.is_sqlite or self.connection.closed:
            return
        try:
            # Built again whatever happened: a caller that catches the error and commits keeps them.
            for index in self.deferred:
                index.create(self.connection)
            self.deferred = []
        except Exception:
            if exc_type is None:
                raise
        self.connection.exec_driver_sql(f"PRAGMA cache_size={int(self._cache)}")

    def insert(self, rows: list[tuple]) -> int:
        """Insert rows (INSERT_COLUMNS order, `at` already as stored); how many were new."""
        params = rows if self.is_positional else [dict(zip(INSERT_COLUMNS, row, strict=True)) for row in rows]
        new = self.connection.exec_driver_sql(self.sql, params).rowcount
        self.inserted += new
        if self.is_sqlite and not self.deferred and self._large():
            indexes = AuditEvent.__table__.indexes
            self.deferred = sorted((i for i in indexes if not i.unique), key=attrgetter("name"))
            for index in self.deferred:
                index.drop(self.connection)
        return new

    def _large(self) -> bool:
        return self.inserted >= max(self.DEFER_INDEXES_AFTER, self._stored)


def _stored_ids(session: Session, ids: list[str]) -> set[str]:
    stored: set[str] = set()
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        query = select(AuditEvent.event_id).where(AuditEvent.event_id.in_(chunk))
        stored.update(session.execute(query).scalars())
    return stored


def _instant_of(at: datetime | str | None) -> datetime | None:
    """A row's `at` (an aware datetime, or SQLite's stored text of one) as an aware datetime."""
    return datetime.fromisoformat(at + "+00:00") if type(at) is str else at


def _worth_a_reader(file: Path) -> bool:
    return bool(sys.executable) and usable_cores() > 1 and file.stat().st_size >= PARALLEL_MIN_BYTES


def _widen(pipe) -> None:
    """Let the pipe hold several frames (1 MB; 64 KB by default), so that the reader need not wait
    for the writer to take each before it reads on."""
    # Not on Linux, or over the system's maximum: the default size works, a little slower.
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class _ReaderProcess:
    """The batches of audit_reader.batches(), read and validated by a process of its own.

    Iterating it starts `python audit_reader.py OPTIONS` and yields each batch as it arrives, so
    that this process writes one batch while the reader reads the next; the tally is filled in when
    the last has come. The pipe holds a few frames: the reader waits only when the writer is behind.
    A reader that fails (it should not: bad lines are counted, not raised) fails the import with
    its last words, and the caller's transaction is rolled back.
    """

    def __init__(self, options: dict, tally: Tally) -> None:
        self.options = options
        self.tally = tally

    def __iter__(self) -> Iterator[list[tuple]]:
        # -I: none of the environment's PYTHON* settings, user site or current directory.
        command = [sys.executable, "-I", READER_SCRIPT, json.dumps(self.options)]
        with tempfile.TemporaryFile() as errors:
            pipe = subprocess.PIPE
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=pipe, stderr=errors)
            _widen(process.stdout)
            try:
                while True:
                    frame = audit_reader.read_frame(process.stdout.read)
                    if frame is None:
                        why = self._last_words(process, errors)
                        raise RuntimeError(f"the audit log reader stopped: {why}")
                    kind, payload = frame
                    if kind == "tally":
                        self.tally.take_frame(payload)
                        break
                    yield payload
            finally:
                process.stdout.close()
                if process.poll() is None:
                    process.kill()
                process.wait()

    @staticmethod
    def _last_words(process: subprocess.Popen, errors) -> str:
        code = process.wait()
        errors.seek(0)
        lines = errors.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit status {code}"


def import_audit_log(
    session: Session,
    *,
    path: str,
    actor: str,
    source_format: str = AUTO,
    agent: str | None = None,
    dry_run: bool = False,
    max_reported_errors: int = 100,
    max_line_bytes: int = MAX_LINE_BYTES,
    batch_size: int = BATCH_SIZE,
    parallel: bool | None = None,
) -> AuditImportResult:
    """Stream an audit log into the database in batches, in the caller's transaction; known ids are kept.

    A dry run reads, validates and counts, and writes nothing; it recognises events already
    stored, and repeats within one batch of the file, as duplicates. `parallel` reads the file in
    a reader process (SQLite only, not in a dry run); None decides by the file's size and the cores.
    """
    result = AuditImportResult(file=path, is_dry_run=dry_run)
    file = Path(path)
    result.file_error = _file_error(file)
    if result.file_error is None and source_format == XETRACK and agent is None:
        result.file_error = (
            "xetrack rows do not name the agent; import the log with the agent whose gateway wrote it"
        )
    if result.file_error:
        return result
    scan = _Scan(file, source_format, agent, max_line_bytes)  # refuses an unknown format, before any write
    record = writer = None
    if not dry_run:
        hold_write_lock(session)  # no evaluation reads the log while this import is half in
        record = ImportRecord(
            imported_at=datetime.now(UTC), actor=actor, source="audit_log", files=[path], counts={}
        )
        session.add(record)
        session.flush()
        writer = _Writer(session)
    import_id = record.id if record else None
    if parallel is None:
        parallel = _worth_a_reader(file)
    tally = Tally()
    if writer is not None and writer.is_sqlite and parallel:
        options = {
            "path": str(file),
            "source_format": source_format,
            "agent": agent,
            "max_line_bytes": max_line_bytes,
            "import_id": import_id,
            "batch_size": batch_size,
            "max_errors": max_reported_errors,
        }
        rows: Iterable[list[tuple]] = _ReaderProcess(options, tally)
    else:
        stored_at = writer.stored_at if writer is not None else None
        rows = batches(
            scan,
            tally,
            stored_at=stored_at,
            import_id=import_id,
            batch_size=batch_size,
            max_errors=max_reported_errors,
        )

    with writer if writer is not None else nullcontext(), paused_gc():
        for batch in rows:
            if writer is None:
                unique = {row[0] for row in batch}
                new = len(unique - _stored_ids(session, list(unique)))
            else:
                new = writer.insert(batch)
            result.imported += new
            result.duplicates += len(batch) - new
    result.lines_read, result.skipped, result.bad = tally.lines_read, tally.skipped, tally.bad
    result.errors = tally.errors
    result.formats = tally.formats
    result.first_at, result.last_at = _instant_of(tally.first_at), _instant_of(tally.last_at)
    if record is None:
        return result
    counts = {
        "created": result.imported,
        "unchanged": result.duplicates,
        "rejected": result.bad,
        "skipped": result.skipped,
    }
    record.counts = {"events": counts}
    session.add(record)
    session.flush()
    result.record_id = record.id
    record_change(
        session,
        actor=actor,
        action="audit_log.import",
        target=f"import #{record.id}",
        detail={"files": [path], "formats": result.formats, "counts": counts},
    )
    return result


def load_events(
    session: Session,
    agents: Iterable[str] | None = None,
    *,
    agent_range: tuple[str | None, str | None] | None = None,
) -> tuple[Event, ...]:
    """Every stored audit event (or only those of these agents), oldest first (ties by event id).

    agent_range (low, high) keeps the events of the agent ids from low (included) to high (not
    included), in code-point order as Python compares them; None leaves that end open.
    A million rows go through the driver's cursor as plain tuples, in storage order (no sort in
    the database), and are put in time order here: a log imported in time order is nearly sorted.
    """
    t = AuditEvent.__table__
    connection = session.connection()
    dialect = connection.dialect
    columns = [t.c[name] for name in EVENT_FIELDS]
    is_sqlite = dialect.name == "sqlite"
    if is_sqlite:
        # SQLite stores UTC as text without an offset: with one appended, fromisoformat reads it as
        # UTC. Appended here, not in the query: SQLite's || costs five times Python's + on a million.
        columns[1] = type_coerce(t.c.at, String)
        parse = datetime.fromisoformat
    else:
        processor = t.c.at.type.dialect_impl(dialect).result_processor(dialect, None)
        to_utc = processor or (lambda at: at)
    query = select(*columns).order_by(t.c.id)
    if agent_range is not None:
        # Compared byte by byte (UTF-8 sorts as code points do), whatever the column's collation. A
        # range is a large share of the log, read fastest by scanning the table in order: SQLite's
        # unary + keeps it off the agent index.
        agent = literal_column(f"+{t.name}.agent", String) if is_sqlite else t.c.agent.collate("C")
        low, high = agent_range
        if low is not None:
            query = query.where(agent >= low)
        if high is not None:
            query = query.where(agent < high)
    if agents is None:
        queries = [query]
    else:
        ordered = sorted(set(agents))
        queries = [
            query.where(t.c.agent.in_(ordered[i : i + LOOKUP_CHUNK]))
            for i in range(0, len(ordered), LOOKUP_CHUNK)
        ]
    events: list[Event] = []
    new = tuple.__new__
    cursor = connection.connection.cursor()
    try:
        for q in queries:
            compiled = q.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
            params = compiled.params
            if compiled.positional:
                params = tuple(params[name] for name in compiled.positiontup)
            cursor.execute(str(compiled), params)
            # tuple.__new__ is what Event(...) calls, minus a Python frame per event.
            if is_sqlite:
                events += [
                    new(Event, (r[0], parse(r[1] + "+00:00"), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]))
                    for r in cursor.fetchall()
                ]
            else:
                events += [
                    new(Event, (r[0], to_utc(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]))
                    for r in cursor.fetchall()
                ]
    finally:
        cursor.close()
    events.sort(key=attrgetter("at", "event_id"))
    return tuple(events)
