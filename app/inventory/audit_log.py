"""Stream gateway audit logs (JSON Lines) into audit events, and load them back for the checks.

A file is read one line at a time (never whole), each line is one JSON object in one of these
formats, normalised to the contract's event (app.snapshot.Event):

steward       the contract: ts, agent, tool, decision (allow | deny | error) required; task,
              approval, credential, chain_depth, delegated_by, event_id optional.
contextforge  an IBM ContextForge audit_trails row. Only rows of resource_type "tool" with action
              "execute" (or "invoke") are tool calls; other rows are counted as skipped.
              timestamp → at; acting_as (the service account acting for a user), else user_email,
              else user_id → agent; resource_name → tool (it must already be SERVER.TOOL, i.e. the
              gateway ran with GATEWAY_TOOL_NAME_SEPARATOR="."; ContextForge's default "-" cannot be
              told apart from the dashes in slugs); success true → allow, false → error;
              delegation_chain (a list, or "a>b" as in its headers) → chain_depth = its length,
              delegated_by = the user acting_as acts for, else the first other party in the chain;
              id → event_id "contextforge:<id>".
agt           an agent-governance-toolkit (AgentMesh) AuditEntry. Only event_type tool_invocation
              and tool_blocked are tool calls; others are skipped. timestamp → at; agent_did →
              agent; resource (else action) → tool, "tool:" prefix dropped and "server:tool" read as
              server.tool; tool_blocked, outcome "denied" or policy_decision "deny" → deny, outcome
              failure | error → error, success → allow; a delegation link snapshot under
              data.delegation gives chain_depth = depth + 1 (the link's depth counts delegations,
              chain_depth counts agents) and delegated_by = parent_did; entry_id → "agt:<entry_id>".
              approver_did is not mapped: the contract's approval names an approval record.
xetrack       a lasso mcp-gateway xetrack row. Only capability_type "tool" rows are tool calls.
              timestamp (naive, UTC) → at; server_name + "." + capability_name → tool; isError
              0 → allow, 1 → error; call_id → "xetrack:<call_id>". The rows name no agent: the
              import's agent argument is used, and without it each row is an error.

"auto" detects the format of each line from its keys: "ts" → steward, "agent_did" → agt,
"capability_name" or "server_name" → xetrack, "resource_type" → contextforge.

A line that cannot be read (not UTF-8, over MAX_LINE_BYTES, invalid JSON, a missing or malformed
field, a value the database cannot hold) becomes a LineError naming the line; the rest of the
file still imports. Blank lines are skipped. An event without an id gets one ("h-" and 16 hex
digits) from a hash of its normalised content, so that importing the same file again adds
nothing; two identical calls in the same microsecond without ids are therefore one event.
Events are inserted in batches with INSERT … ON CONFLICT (event_id) DO NOTHING: an id already
stored (or seen earlier in the file) counts as a duplicate, and the first version of it stays.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path

from sqlalchemy import String, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.audit import record_change
from app.db import hold_write_lock
from app.models.inventory import ImportRecord
from app.models.runtime import AuditEvent, AuditLogFormat, Decision
from app.snapshot import Event

try:
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - orjson is optional; the standard library parses the same JSON
    _orjson_loads = None

AUTO = "auto"
STEWARD, CONTEXTFORGE, AGT, XETRACK = (f.value for f in AuditLogFormat)
MAX_LINE_BYTES = 1_048_576
# Indexed text stays well inside PostgreSQL's B-tree entry limit (about 2,700 bytes).
MAX_KEY_CHARS = 500
# chain_depth is an INTEGER column: 32 bits on PostgreSQL.
MAX_CHAIN_DEPTH = 2_147_483_647
BATCH_SIZE = 5_000
# SQLite allows 32,766 bound parameters a statement; PostgreSQL 65,535.
LOOKUP_CHUNK = 1_000

DECISIONS = frozenset(d.value for d in Decision)
EVENT_FIELDS = (
    "event_id",
    "at",
    "agent",
    "tool",
    "decision",
    "task",
    "approval",
    "credential",
    "chain_depth",
    "delegated_by",
)
# One event's values in EVENT_FIELDS order: a tuple, because a million dicts cost twice the time.
Values = tuple


@dataclass(frozen=True, slots=True)
class LineError:
    """One line of an audit log that could not be imported, and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


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


class _Bad(Exception):
    """A line that is not a valid record of its format."""


class _NotACall(Exception):
    """A valid record of its format that is not a tool call (a server update, a trust handshake…)."""


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _text(obj: dict, key: str) -> str:
    value = obj.get(key)
    if type(value) is str and value:
        return value
    if value is None:
        raise _Bad(f"missing required field '{key}'")
    if value == "":
        raise _Bad(f"'{key}' is empty; expected a non-empty string")
    raise _Bad(f"'{key}' must be a string, got {_kind(value)}")


def _optional_text(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    if value is None or (type(value) is str and value):
        return value
    if value == "":
        return None
    raise _Bad(f"'{key}' must be a string or null, got {_kind(value)}")


_OPTIONAL = frozenset({str, type(None)})


def _identifier(value: object, key: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise _Bad(f"'{key}' must be a string or null, got {_kind(value)}")


def _instant(obj: dict, key: str) -> datetime:
    """An ISO 8601 date and time as an aware UTC datetime; a time without an offset is taken as UTC."""
    value = obj.get(key)
    if type(value) is not str:
        if value is None:
            raise _Bad(f"missing required field '{key}'")
        raise _Bad(f"'{key}' must be an ISO 8601 date and time string, got {_kind(value)}")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        example = "e.g. 2026-11-20T10:00:00Z"
        raise _Bad(f"'{key}' {value!r} is not an ISO 8601 date and time ({example})") from None
    if at.tzinfo is UTC:
        return at
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _tool_ref(value: str, key: str) -> str:
    server, _, name = value.partition(".")
    if not server or not name:
        raise _Bad(f"'{key}' {value!r} is not a tool reference SERVER_ID.TOOL_NAME")
    return value


def _from_steward(obj: dict, _agent: str | None) -> Values:
    at = _instant(obj, "ts")
    agent = _text(obj, "agent")
    tool = _tool_ref(_text(obj, "tool"), "tool")
    decision = obj.get("decision")
    if type(decision) is not str or decision not in DECISIONS:
        if decision is None:
            raise _Bad("missing required field 'decision'")
        raise _Bad(f"decision {decision!r} is not one of allow, deny, error")
    depth = obj.get("chain_depth")
    if depth is not None and (type(depth) is not int or depth < 0):
        raise _Bad(f"chain_depth {depth!r} is not a whole number ≥ 0")
    if depth is not None and depth > MAX_CHAIN_DEPTH:
        raise _Bad(f"chain_depth {depth} is over {MAX_CHAIN_DEPTH:,}")
    get = obj.get
    task, approval, credential, delegated_by = (
        get("task"),
        get("approval"),
        get("credential"),
        get("delegated_by"),
    )
    if not (
        type(task) in _OPTIONAL
        and type(approval) in _OPTIONAL
        and type(credential) in _OPTIONAL
        and type(delegated_by) in _OPTIONAL
    ):
        for key in ("task", "approval", "credential", "delegated_by"):
            _optional_text(obj, key)
    return (
        _identifier(get("event_id"), "event_id"),
        at,
        agent,
        tool,
        decision,
        task or None,
        approval or None,
        credential or None,
        depth,
        delegated_by or None,
    )


def _delegation_chain(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if type(value) is str:
        return [part.strip() for part in value.split(">") if part.strip()]
    if type(value) is list and all(type(v) is str for v in value):
        return [v for v in value if v]
    raise _Bad(f"'delegation_chain' must be a list of identities or 'a>b', got {_kind(value)}")


def _from_contextforge(obj: dict, _agent: str | None) -> Values:
    resource_type = obj.get("resource_type")
    action = obj.get("action")
    if str(resource_type).lower() != "tool" or str(action).lower() not in ("execute", "invoke"):
        raise _NotACall
    at = _instant(obj, "timestamp")
    acting_as = _optional_text(obj, "acting_as")
    user = _optional_text(obj, "user_email") or _optional_text(obj, "user_id")
    agent = acting_as or user
    if agent is None:
        raise _Bad("missing required field 'acting_as', 'user_email' or 'user_id' (who made the call)")
    name = _text(obj, "resource_name")
    server, _, tool_name = name.partition(".")
    if not server or not tool_name:
        raise _Bad(
            f"'resource_name' {name!r} is not SERVER_ID.TOOL_NAME; run ContextForge with "
            "GATEWAY_TOOL_NAME_SEPARATOR='.' so that the gateway and the tool name can be told apart"
        )
    success = obj.get("success")
    if success not in (True, False, 0, 1) or type(success) is float:
        if success is None:
            raise _Bad("missing required field 'success'")
        raise _Bad(f"'success' must be true or false, got {success!r}")
    chain = _delegation_chain(obj.get("delegation_chain"))
    if acting_as and user and user != acting_as:
        delegated_by = user
    else:
        delegated_by = next((party for party in chain if party != agent), None)
    native = _identifier(obj.get("id"), "id")
    event_id = f"contextforge:{native}" if native else None
    decision = "allow" if success else "error"
    return (event_id, at, agent, name, decision, None, None, None, len(chain) or None, delegated_by)


AGT_CALLS = frozenset({"tool_invocation", "tool_blocked"})
AGT_OUTCOMES = {"success": "allow", "failure": "error", "error": "error", "denied": "deny"}


def _from_agt(obj: dict, _agent: str | None) -> Values:
    event_type = obj.get("event_type")
    if type(event_type) is not str or event_type not in AGT_CALLS:
        raise _NotACall
    at = _instant(obj, "timestamp")
    agent = _text(obj, "agent_did")
    raw = _optional_text(obj, "resource") or _text(obj, "action")
    name = raw.removeprefix("tool:")
    if "." not in name and name.count(":") == 1:
        name = name.replace(":", ".")
    tool = _tool_ref(name, "resource")
    outcome = obj.get("outcome", "success")
    if type(outcome) is not str or outcome not in AGT_OUTCOMES:
        raise _Bad(f"outcome {outcome!r} is not one of success, failure, denied, error")
    decision = AGT_OUTCOMES[outcome]
    if event_type == "tool_blocked" or str(obj.get("policy_decision")).lower() in ("deny", "denied"):
        decision = "deny"
    data = obj.get("data")
    link = data.get("delegation") if type(data) is dict else None
    depth = delegated_by = None
    if type(link) is dict:
        depth = link.get("depth")
        if type(depth) is not int or not 0 <= depth < MAX_CHAIN_DEPTH:
            raise _Bad(f"data.delegation.depth {depth!r} is not a whole number ≥ 0")
        depth += 1
        delegated_by = _optional_text(link, "parent_did")
    native = _identifier(obj.get("entry_id"), "entry_id")
    event_id = f"agt:{native}" if native else None
    return (event_id, at, agent, tool, decision, None, None, None, depth, delegated_by)


def _from_xetrack(obj: dict, agent: str | None) -> Values:
    capability_type = obj.get("capability_type", "tool")
    if capability_type != "tool":
        raise _NotACall
    at = _instant(obj, "timestamp")
    tool = f"{_text(obj, 'server_name')}.{_text(obj, 'capability_name')}"
    is_error = obj.get("isError")
    if is_error not in (True, False, 0, 1) or type(is_error) is float:
        if is_error is None:
            raise _Bad("missing required field 'isError'")
        raise _Bad(f"'isError' must be 0 or 1, got {is_error!r}")
    if agent is None:
        raise _Bad("xetrack rows do not name the agent; import the log with the agent whose gateway wrote it")
    native = _identifier(obj.get("call_id"), "call_id")
    event_id = f"xetrack:{native}" if native else None
    return (event_id, at, agent, tool, "error" if is_error else "allow", None, None, None, None, None)


ADAPTERS: dict[str, Callable[[dict, str | None], Values]] = {
    STEWARD: _from_steward,
    CONTEXTFORGE: _from_contextforge,
    AGT: _from_agt,
    XETRACK: _from_xetrack,
}
UNKNOWN_FORMAT = (
    "cannot tell the format of this line: expected a Steward event (ts, agent, tool, decision), "
    "a ContextForge audit_trails row (resource_type, …), an AgentMesh AuditEntry (agent_did, …) "
    "or a lasso xetrack row (server_name, capability_name, …)"
)


def _detect(obj: dict) -> str | None:
    if "ts" in obj:
        return STEWARD
    if "agent_did" in obj:
        return AGT
    if "capability_name" in obj or "server_name" in obj:
        return XETRACK
    if "resource_type" in obj:
        return CONTEXTFORGE
    return None


def content_id(values: Values) -> str:
    """A stable id for an event that has none: a hash of its normalised content (all but the id)."""
    content = [values[1].isoformat(), *values[2:]]
    digest = hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()
    return f"h-{digest[:16]}"


def _reject_constant(value: str):
    raise ValueError(f"{value} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# Escapes that can smuggle a NUL or a lone surrogate into a string: neither can be stored (PostgreSQL
# refuses NUL, a surrogate is not encodable), so a line that has one gets its values checked.
_SUSPECT_ESCAPES = (b"\\u0000", b"\\ud", b"\\uD")
_INDEXED = ((0, "event_id"), (2, "agent"), (3, "tool"))


def _json_loads(raw: bytes) -> object:
    """Parse one line with the standard library, refusing NaN and Infinity as orjson does."""
    return _DECODER.decode(raw.decode())


# orjson, when it is installed, parses the same JSON several times faster.
_loads = _orjson_loads or _json_loads


def _json_problem(raw: bytes, exc: Exception) -> str:
    """What is wrong with a line the parser refused, UTF-8 first (the parsers word it differently)."""
    try:
        raw.decode()
    except UnicodeDecodeError as bad:
        return f"byte 0x{raw[bad.start]:02x} at column {bad.start + 1} is not UTF-8; save the log as UTF-8"
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {exc.colno})"
    return f"invalid JSON: {exc}"


def _value_problem(values: Values, raw: bytes) -> str | None:
    """An indexed field too long to store, or a field holding a NUL or a lone surrogate (via \\u escapes)."""
    for i, name in _INDEXED:
        if len(values[i]) > MAX_KEY_CHARS:
            return f"'{name}' is over {MAX_KEY_CHARS} characters"
    if not any(escape in raw for escape in _SUSPECT_ESCAPES):
        return None
    for name, value in zip(EVENT_FIELDS, values, strict=True):
        if type(value) is not str:
            continue
        if "\x00" in value:
            return f"'{name}' contains a NUL character (\\u0000)"
        try:
            value.encode()
        except UnicodeEncodeError:
            return f"'{name}' contains a lone surrogate escape; expected valid Unicode text"
    return None


class _Scan:
    """Each line of a file as (format, event values), a LineError, or None for a record that is no call."""

    def __init__(self, path: Path, source_format: str, agent: str | None, max_line_bytes: int) -> None:
        if source_format != AUTO and source_format not in ADAPTERS:
            raise ValueError(
                f"unknown audit log format {source_format!r}; expected auto, " + ", ".join(ADAPTERS)
            )
        self.path = path
        self.source_format = source_format
        self.agent = agent
        self.max_line_bytes = max_line_bytes
        self.lines_read = 0

    def __iter__(self) -> Iterator[tuple[str, Values] | LineError | None]:
        fixed = ADAPTERS.get(self.source_format)
        limit = self.max_line_bytes
        loads = _loads
        with self.path.open("rb") as f:
            readline = f.readline
            line = 0
            while raw := readline(limit + 1):
                line += 1
                self.lines_read = line
                if len(raw) > limit and raw[-1:] != b"\n":
                    # Discard the rest of the line in bounded pieces: memory stays flat whatever its length.
                    while raw and raw[-1:] != b"\n":
                        raw = readline(65_536)
                    yield LineError(line, f"the line is over {limit:,} bytes; an audit event is far smaller")
                    continue
                if line == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[3:]
                if raw.isspace() or not raw:
                    continue
                try:
                    obj = loads(raw)
                except (ValueError, RecursionError) as exc:
                    yield LineError(line, _json_problem(raw, exc))
                    continue
                if type(obj) is not dict:
                    yield LineError(line, f"expected a JSON object (one event a line), got {_kind(obj)}")
                    continue
                if fixed is None:
                    name = _detect(obj)
                    if name is None:
                        yield LineError(line, UNKNOWN_FORMAT)
                        continue
                    adapter = ADAPTERS[name]
                else:
                    name, adapter = self.source_format, fixed
                try:
                    event = adapter(obj, self.agent)
                except _Bad as exc:
                    yield LineError(line, f"{name}: {exc}")
                    continue
                except _NotACall:
                    yield None
                    continue
                if event[0] is None:
                    event = (content_id(event), *event[1:])
                if (
                    len(event[0]) > MAX_KEY_CHARS
                    or len(event[2]) > MAX_KEY_CHARS
                    or len(event[3]) > MAX_KEY_CHARS
                    or b"\\u" in raw
                ):
                    problem = _value_problem(event, raw)
                    if problem:
                        yield LineError(line, f"{name}: {problem}")
                        continue
                yield name, event


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
        self.stored_at = _sqlite_datetime if dialect.name == "sqlite" else None

    # SQLite's page cache while a log goes in: the event_id, at and (agent, at) B-trees of a million
    # events outgrow the default 2 MB at once, and each miss is a page read and write. Restored after.
    BULK_CACHE_KIB = 65_536

    def __enter__(self) -> _Writer:
        if self.connection.dialect.name == "sqlite":
            self._cache = self.connection.exec_driver_sql("PRAGMA cache_size").scalar()
            self.connection.exec_driver_sql(f"PRAGMA cache_size=-{self.BULK_CACHE_KIB}")
        return self

    def __exit__(self, *_exc) -> None:
        if self.connection.dialect.name == "sqlite" and not self.connection.closed:
            self.connection.exec_driver_sql(f"PRAGMA cache_size={int(self._cache)}")

    def insert(self, rows: list[tuple]) -> int:
        """Insert rows (INSERT_COLUMNS order, `at` already as stored); how many were new."""
        params = rows if self.is_positional else [dict(zip(INSERT_COLUMNS, row, strict=True)) for row in rows]
        return self.connection.exec_driver_sql(self.sql, params).rowcount


def _sqlite_datetime(at: datetime) -> str:
    """An aware UTC datetime as SQLAlchemy's SQLite DATETIME stores it (2026-11-20 10:00:00.000000)."""
    return at.isoformat(" ", "microseconds")[:26]


def _stored_ids(session: Session, ids: list[str]) -> set[str]:
    stored: set[str] = set()
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        query = select(AuditEvent.event_id).where(AuditEvent.event_id.in_(chunk))
        stored.update(session.execute(query).scalars())
    return stored


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
) -> AuditImportResult:
    """Stream an audit log into the database in batches, in the caller's transaction; known ids are kept.

    A dry run reads, validates and counts, and writes nothing; it recognises events already
    stored, and repeats within one batch of the file, as duplicates.
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
    scan = _Scan(file, source_format, agent, max_line_bytes)
    record = writer = stored_at = None
    if not dry_run:
        hold_write_lock(session)  # no evaluation reads the log while this import is half in
        record = ImportRecord(
            imported_at=datetime.now(UTC), actor=actor, source="audit_log", files=[path], counts={}
        )
        session.add(record)
        session.flush()
        writer = _Writer(session)
        stored_at = writer.stored_at
    import_id = record.id if record else None
    formats: Counter[str] = Counter()
    batch: list[tuple] = []
    first_at = last_at = None

    def flush() -> None:
        if writer is None:
            unique = {row[0] for row in batch}
            new = len(unique - _stored_ids(session, list(unique)))
        else:
            new = writer.insert(batch)
        result.imported += new
        result.duplicates += len(batch) - new
        batch.clear()

    with writer if writer is not None else nullcontext():
        for item in scan:
            if type(item) is tuple:
                name, values = item
                formats[name] += 1
                at = values[1]
                if first_at is None or at < first_at:
                    first_at = at
                if last_at is None or at > last_at:
                    last_at = at
                stored = stored_at(at) if stored_at else at
                batch.append((values[0], stored, *values[2:], name, import_id))
                if len(batch) >= batch_size:
                    flush()
            elif item is None:
                result.skipped += 1
            else:
                result.bad += 1
                if len(result.errors) < max_reported_errors:
                    result.errors.append(item)
        if batch:
            flush()
    result.lines_read = scan.lines_read
    result.formats = dict(sorted(formats.items()))
    result.first_at, result.last_at = first_at, last_at
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


def load_events(session: Session, agents: Iterable[str] | None = None) -> tuple[Event, ...]:
    """Every stored audit event (or only those of these agents), oldest first (ties by event id).

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
