"""Validate inventory documents against the contract and turn them into records.

Every problem is collected (not just the first) as an ImportError_ that names the file, the
line, the entry, the field, the bad value and what was expected.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from app.inventory.reader import Document, ImportError_, Path_
from app.inventory.schema import FIELDS_BY_KIND, KINDS, TOOL_FIELDS, FieldSpec
from app.snapshot import Agent, Approval, Credential, McpServer, Policy, Tool, canonical_json

MAX_INT = 2_147_483_647
MAX_TEXT = 10_000
MAX_JSON = 200_000
ID_PATTERN = re.compile(r"^[^\s\x00-\x1f]{1,200}$")


@dataclass(frozen=True)
class Origin:
    """Where an entry came from: a document and the path of the entry inside it."""

    document: Document | None
    path: Path_ = ()

    def line(self, *sub: str | int) -> int | None:
        """The line of a value inside this entry, when the parser knows it."""
        return self.document.line_of((*self.path, *sub)) if self.document else None

    @property
    def file(self) -> str:
        return self.document.file if self.document else "(inventory in the database)"


@dataclass
class ParsedEntries:
    """Records read from documents, by kind and id, with their origins."""

    records: dict[str, dict[str, object]] = field(default_factory=lambda: {k: {} for k in KINDS})
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    present: set[str] = field(default_factory=set)
    # Ids of entries that failed validation: references to them are not reported a second time.
    invalid: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})


def slug(text: str) -> str:
    """An id made from a name: lower case, runs of other characters as single hyphens."""
    return re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-")[:120] or "unnamed"


def fingerprint(secret: str) -> str:
    """The contract's fingerprint of a secret: sha256: and the first 12 hex digits of its hash."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def show(value: object) -> str:
    """A value as it should appear in a message: short, quoted, never multi-line."""
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return repr(value)


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, date | datetime):
        return "a date"
    return "null" if value is None else type(value).__name__


class _EntryValidator:
    """Validates one entry's fields, appending errors located in its document."""

    def __init__(self, document: Document, errors: list[ImportError_]):
        self.document = document
        self.errors = errors

    def error(self, path: Path_, location: str, message: str) -> None:
        self.errors.append(ImportError_(self.document.file, self.document.line_of(path), location, message))

    def fields(self, raw: dict, specs: tuple[FieldSpec, ...], path: Path_, location: str) -> dict:
        """The cleaned values of a mapping's fields (defaults applied); errors for the rest."""
        known = {s.name for s in specs}
        for key in raw:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                self.error(
                    (*path, key),
                    f"{location}.{key}",
                    f"unknown field{suggestion} Expected any of {', '.join(s.name for s in specs)}",
                )
        cleaned = {}
        for spec in specs:
            where = f"{location}.{spec.name}"
            if spec.name not in raw or raw[spec.name] is None:
                if spec.required:
                    expected = f" (one of {', '.join(spec.choices)})" if spec.choices else ""
                    self.error(path, where, f"missing; this field is required{expected}")
                cleaned[spec.name] = spec.default
                continue
            cleaned[spec.name] = self.value(raw[spec.name], spec, (*path, spec.name), where)
        return cleaned

    def value(self, value, spec: FieldSpec, path: Path_, where: str):
        """One field's value, checked and normalised; None after reporting an error."""
        kind = spec.type
        if kind == "secret":
            if not isinstance(value, str) or not value:
                # Never echo a secret-bearing field's content into a message.
                self.error(path, where, f"expected the secret as a string, got {type_name(value)}")
                return None
            return value
        if kind in ("str", "enum"):
            if not isinstance(value, str):
                hint = "; quote it" if isinstance(value, int | float | date) and kind == "str" else ""
                expected = f"one of {', '.join(spec.choices)}" if kind == "enum" else "a string"
                self.error(path, where, f"{show(value)} is {type_name(value)}; expected {expected}{hint}")
                return None
            if kind == "enum" and value not in spec.choices:
                hint = difflib.get_close_matches(value, spec.choices, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.error(path, where, f"{show(value)} is not one of {', '.join(spec.choices)}{suggestion}")
                return None
            if len(value) > MAX_TEXT:
                self.error(
                    path, where, f"the text is {len(value):,} characters; expected at most {MAX_TEXT:,}"
                )
                return None
            if "\x00" in value:
                self.error(path, where, "the text contains a NUL character")
                return None
            return value.strip() or None
        if kind == "bool":
            if not isinstance(value, bool):
                self.error(path, where, f"{show(value)} is {type_name(value)}; expected true or false")
                return None
            return value
        if kind == "nonneg_int":
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(path, where, f"{show(value)} is {type_name(value)}; expected a whole number ≥ 0")
                return None
            if not 0 <= value <= MAX_INT:
                self.error(
                    path, where, f"{value} is out of range; expected a whole number from 0 to {MAX_INT}"
                )
                return None
            return value
        if kind == "date":
            return self.date(value, path, where)
        if kind in ("str_list", "str_seq"):
            return self.str_list(value, path, where, unique=kind == "str_list")
        if kind == "object":
            if not isinstance(value, dict):
                self.error(
                    path,
                    where,
                    f"{show(value)} is {type_name(value)}; expected a mapping with "
                    f"{', '.join(s.name for s in spec.fields)}",
                )
                return None
            return self.fields(value, spec.fields, path, where)
        if kind == "annotations":
            return self.annotations(value, path, where)
        if kind == "json_object":
            return self.json_object(value, path, where)
        if kind == "tool_list":
            return self.tools(value, path, where)
        raise AssertionError(f"unknown field type {kind}")

    def date(self, value, path: Path_, where: str) -> datetime | None:
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, date):
            return datetime.combine(value, time(), tzinfo=UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and 1900 <= parsed.year <= 9999:
                return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        self.error(
            path,
            where,
            f"{show(value)} is not an ISO 8601 date; expected e.g. 2026-08-01 or 2026-08-01T10:00:00Z",
        )
        return None

    def str_list(self, value, path: Path_, where: str, *, unique: bool = True) -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.error(path, where, f"{show(value)} is {type_name(value)}; expected a list of strings")
            return None
        items, seen = [], set()
        for i, item in enumerate(value):
            if not isinstance(item, str) or (unique and not item.strip()):
                self.error(
                    (*path, i),
                    f"{where}[{i}]",
                    f"{show(item)} is {type_name(item)}; expected a {'non-empty ' if unique else ''}string",
                )
                continue
            if unique and item in seen:
                self.error((*path, i), f"{where}[{i}]", f"{show(item)} is listed twice")
                continue
            seen.add(item)
            items.append(item)
        return tuple(items)

    def annotations(self, value, path: Path_, where: str) -> tuple[tuple[str, object], ...] | None:
        if not isinstance(value, dict):
            self.error(
                path, where, f"{show(value)} is {type_name(value)}; expected a mapping of MCP tool hints"
            )
            return None
        hints = []
        for key, hint in value.items():
            if key == "title":
                if isinstance(hint, str):
                    hints.append((key, hint))
                else:
                    self.error(
                        (*path, key),
                        f"{where}.{key}",
                        f"{show(hint)} is {type_name(hint)}; expected a string",
                    )
            elif key in ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"):
                if isinstance(hint, bool):
                    hints.append((key, hint))
                else:
                    self.error(
                        (*path, key),
                        f"{where}.{key}",
                        f"{show(hint)} is {type_name(hint)}; expected true or false",
                    )
            else:
                self.error(
                    (*path, key),
                    f"{where}.{key}",
                    "unknown annotation; expected any of readOnlyHint, "
                    "destructiveHint, idempotentHint, openWorldHint, title",
                )
        return tuple(sorted(hints))

    def json_object(self, value, path: Path_, where: str) -> str | None:
        """A JSON mapping (such as a JSON Schema), as canonical JSON text of bounded size."""
        if not isinstance(value, dict):
            self.error(
                path, where, f"{show(value)} is {type_name(value)}; expected a mapping (a JSON object)"
            )
            return None
        try:
            text = canonical_json(value)
        except (TypeError, ValueError, RecursionError):
            self.error(
                path, where, "expected plain JSON values (strings, numbers, booleans, lists, mappings)"
            )
            return None
        if len(text) > MAX_JSON:
            self.error(
                path, where, f"the object is {len(text):,} characters as JSON; expected at most {MAX_JSON:,}"
            )
            return None
        if "\x00" in text or "\\u0000" in text:
            self.error(path, where, "the object contains a NUL character")
            return None
        return text

    def tools(self, value, path: Path_, where: str) -> tuple[dict, ...] | None:
        if not isinstance(value, list):
            self.error(path, where, f"{show(value)} is {type_name(value)}; expected a list of tools")
            return None
        tools, names = [], set()
        for i, raw in enumerate(value):
            item_path = (*path, i)
            label = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("name"), str) else i
            location = f"{where}[{label}]"
            if not isinstance(raw, dict):
                self.error(
                    item_path, location, f"{show(raw)} is {type_name(raw)}; expected a mapping with a name"
                )
                continue
            cleaned = self.fields(raw, TOOL_FIELDS, item_path, location)
            if cleaned["name"] in names:
                self.error(item_path, location, "duplicate tool name within this server")
                continue
            names.add(cleaned["name"])
            tools.append(cleaned)
        return tuple(tools)


def parse_documents(documents: list[Document]) -> tuple[ParsedEntries, list[ImportError_]]:
    """Records from every document, with per-file duplicate detection; all errors collected."""
    parsed = ParsedEntries()
    errors: list[ImportError_] = []
    for document in documents:
        data = document.data
        if not isinstance(data, dict):
            errors.append(
                ImportError_(
                    document.file,
                    document.line_of(()),
                    "",
                    f"the document is {type_name(data)}; expected a mapping with any of {', '.join(KINDS)}",
                )
            )
            continue
        validator = _EntryValidator(document, errors)
        for key, entries in data.items():
            if key not in KINDS:
                hint = difflib.get_close_matches(str(key), KINDS, n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                errors.append(
                    ImportError_(
                        document.file,
                        document.line_of((key,)),
                        "",
                        f"unknown top-level key {key!r}{suggestion} Expected any of {', '.join(KINDS)}",
                    )
                )
                continue
            parsed.present.add(key)
            if entries is None:
                continue
            if not isinstance(entries, list):
                errors.append(
                    ImportError_(
                        document.file,
                        document.line_of((key,)),
                        key,
                        f"{show(entries)} is {type_name(entries)}; expected a list of entries",
                    )
                )
                continue
            for index, raw in enumerate(entries):
                _parse_entry(parsed, validator, document, key, index, raw, errors)
    return parsed, errors


def _parse_entry(parsed, validator, document, kind, index, raw, errors) -> None:
    path = (kind, index)
    entry_id = raw.get("id") if isinstance(raw, dict) else None
    label = entry_id if isinstance(entry_id, str) and entry_id else index
    location = f"{kind}[{label}]"
    if not isinstance(raw, dict):
        validator.error(path, location, f"{show(raw)} is {type_name(raw)}; expected a mapping")
        return
    before = len(errors)
    cleaned = validator.fields(raw, FIELDS_BY_KIND[kind], path, location)
    entry_id = cleaned["id"]
    if entry_id is not None and not ID_PATTERN.match(entry_id):
        validator.error(
            (*path, "id"),
            f"{location}.id",
            f"{show(entry_id)} is not a valid id; expected 1 to 200 characters without spaces",
        )
    if kind == "mcp_servers":
        _check_server_shape(validator, cleaned, path, location)
    if len(errors) > before or entry_id is None:
        if isinstance(raw.get("id"), str):
            parsed.invalid[kind].add(raw["id"])
        return
    key = (kind, entry_id)
    if key in parsed.origins:
        first = parsed.origins[key]
        validator.error(path, location, f"duplicate id; first defined at {first.file}:{first.line() or '?'}")
        return
    if kind == "credentials" and cleaned.get("value"):
        cleaned["fingerprint"] = fingerprint(cleaned.pop("value"))
        cleaned["storage"] = "plaintext_config"
        parsed.notices.append(
            f"{document.file}:{document.line_of((*path, 'value'))}: {location}.value: the secret value was "
            f"replaced by its fingerprint {cleaned['fingerprint']} and not stored; remove it from the file"
        )
    parsed.records[kind][entry_id] = build_record(kind, cleaned)
    parsed.origins[key] = Origin(document, path)


def _check_server_shape(validator, cleaned, path, location) -> None:
    transport = cleaned.get("transport")
    if transport in ("sse", "http"):
        if not cleaned.get("url"):
            validator.error(path, f"{location}.url", f"missing; required for transport {transport}")
        if not cleaned.get("auth"):
            validator.error(
                path,
                f"{location}.auth",
                f"missing; required for transport {transport} "
                "(one of none, static_token, oauth2, mtls, workload, unknown)",
            )
    elif transport == "stdio" and not cleaned.get("command"):
        validator.error(path, f"{location}.command", "missing; required for transport stdio")


def build_record(kind: str, c: dict):
    """The snapshot record for one cleaned entry of a kind."""
    if kind == "agents":
        identity = c["identity"]
        return Agent(
            id=c["id"],
            name=c["name"],
            owner=c["owner"],
            team=c["team"],
            environment=c["environment"],
            status=c["status"],
            autonomy=c["autonomy"],
            purpose=c["purpose"],
            identity_kind=identity["kind"],
            identity_id=identity["id"],
            identity_attested=identity["attested"],
            tools=c["tools"] or (),
            credentials=c["credentials"] or (),
            network_reach=c["network_reach"] or (),
            delegates_to=c["delegates_to"] or (),
            mcp_servers=c["mcp_servers"] or (),
            max_delegation_depth=c["max_delegation_depth"],
            created_at=c["created_at"],
            last_reviewed_at=c["last_reviewed_at"],
            review_interval_days=c["review_interval_days"],
        )
    if kind == "mcp_servers":
        tools = tuple(
            Tool(
                server_id=c["id"],
                name=t["name"],
                description=t["description"],
                sensitivity=t["sensitivity"],
                annotations=t["annotations"] or (),
                data_classes=t["data_classes"] or (),
                title=t["title"],
                input_schema=t["input_schema"],
                output_schema=t["output_schema"],
                auto_approved=t["auto_approved"],
                reviewed_definition_hash=t["reviewed_definition_hash"],
                definition_reviewed_at=t["definition_reviewed_at"],
            )
            for t in c["tools"] or ()
        )
        return McpServer(
            id=c["id"],
            name=c["name"],
            owner=c["owner"],
            transport=c["transport"],
            url=c["url"],
            command=c["command"],
            args=c["args"] or (),
            package=c["package"],
            version=c["version"],
            auth=c["auth"],
            audience_validated=c["audience_validated"],
            token_passthrough=c["token_passthrough"],
            gateway=c["gateway"],
            source=c["source"],
            client=c["client"],
            scope=c["scope"],
            bridge=c["bridge"],
            enabled=c["enabled"],
            auto_approve_all=c["auto_approve_all"],
            tools=tools,
        )
    if kind == "credentials":
        c = {k: v for k, v in c.items() if k != "value"}
        c["scopes"] = c["scopes"] or ()
        return Credential(**c)
    if kind == "policies":
        c = dict(c)
        for name in ("approvers", "intents"):
            c[name] = c[name] or ()
        return Policy(**c)
    if kind == "approvals":
        return Approval(**c)
    raise AssertionError(kind)
