"""Read inventory files into plain documents, remembering the line of every value.

Everything that can go wrong before validation is caught here and reported as an
ImportError naming the file (and line, where the parser knows it): missing files, files over
the size limit, bytes that are not UTF-8, empty files, YAML or JSON syntax, duplicate keys and
alias expansion past a sane limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is optional
    from yaml import SafeLoader as _Loader

INVENTORY_SUFFIXES = (".yaml", ".yml", ".json")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class ImportError_:
    """One problem found in an import, located as precisely as the parser allows."""

    file: str
    line: int | None
    location: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.location}: {self.message}" if self.location else f"{where}: {self.message}"


@dataclass
class Document:
    """A parsed file: its data and the line of each value, keyed by path."""

    file: str
    data: object
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of the value at path, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def collect_files(paths: list[str]) -> tuple[list[Path], list[ImportError_]]:
    """The inventory files named or found (recursively, sorted) under the given paths."""
    files: list[Path] = []
    errors: list[ImportError_] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # Hidden files and folders (.git, .vscode, .mcp.json) are tooling, never inventory.
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in INVENTORY_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                errors.append(
                    ImportError_(raw, None, "", "no .yaml, .yml or .json inventory files in this directory")
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            errors.append(ImportError_(raw, None, "", "no such file or directory"))
    return files, errors


def read_document(path: Path, *, max_bytes: int, max_alias_expansion: int) -> Document | ImportError_:
    """Parse one file, or say precisely why it cannot be read."""
    name = str(path)
    size = path.stat().st_size
    if size > max_bytes:
        return ImportError_(
            name,
            None,
            "",
            f"the file is {size:,} bytes, over the import limit of {max_bytes:,} bytes "
            "(setting STEWARD_MAX_IMPORT_BYTES)",
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return ImportError_(
            name,
            line,
            "",
            f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8; save the file as UTF-8",
        )
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return ImportError_(name, line, "", "the file contains a NUL character; expected a text file")
    if not text.strip():
        return ImportError_(
            name,
            None,
            "",
            "the file is empty; expected a mapping with any of "
            "agents, mcp_servers, credentials, policies, approvals",
        )
    if path.suffix.lower() == ".json":
        return _read_json(name, text)
    return _read_yaml(name, text, max_alias_expansion)


def _read_json(name: str, text: str) -> Document | ImportError_:
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return ImportError_(name, exc.lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})")
    except ValueError as exc:
        return ImportError_(name, None, "", f"invalid JSON: {exc}")
    except RecursionError:
        return ImportError_(name, None, "", "invalid JSON: nested too deeply")
    return Document(name, data)


def _reject_constant(value: str):
    raise ValueError(f"{value} is not a JSON number")


class _ExpansionLimit(Exception):
    pass


def _read_yaml(name: str, text: str, max_alias_expansion: int) -> Document | ImportError_:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "syntax error"
        return ImportError_(name, line, "", f"invalid YAML: {problem}")
    except yaml.YAMLError as exc:
        return ImportError_(name, None, "", f"invalid YAML: {exc}")
    except RecursionError:
        return ImportError_(name, None, "", "invalid YAML: nested too deeply")
    if node is None:
        return ImportError_(
            name,
            None,
            "",
            "the file holds no document; expected a mapping with any of "
            "agents, mcp_servers, credentials, policies, approvals",
        )
    builder = _NodeBuilder(name, max_alias_expansion)
    try:
        data = builder.build(node, ())
    except _ExpansionLimit:
        return ImportError_(
            name,
            builder.alias_line,
            "",
            f"YAML aliases expand past the limit of "
            f"{max_alias_expansion:,} aliased values (setting STEWARD_YAML_MAX_ALIAS_EXPANSION)",
        )
    except RecursionError:
        return ImportError_(name, None, "", "invalid YAML: nested too deeply")
    if builder.errors:
        return builder.errors[0]
    return Document(name, data, builder.lines)


class _NodeBuilder:
    """Turns a composed YAML node tree into Python values with a path → line map.

    Building from nodes (rather than yaml.safe_load) gives line numbers, catches duplicate keys
    that PyYAML would silently overwrite, and bounds alias expansion ("billion laughs").
    """

    def __init__(self, name: str, max_alias_expansion: int):
        self.name = name
        self.max_alias_expansion = max_alias_expansion
        self.lines: dict[Path_, int] = {}
        self.errors: list[ImportError_] = []
        self.seen: set[int] = set()
        self.expanded = 0
        self.alias_line: int | None = None
        # A constructor alone, not a whole SafeLoader: a loader refers to itself, so each one (with
        # every node it cached) would outlive the file until the garbage collector runs.
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path_):
        # A node met a second time was reached through an alias: count it against the limit.
        if id(node) in self.seen:
            self.expanded += 1
            if self.expanded > self.max_alias_expansion:
                self.alias_line = node.start_mark.line + 1
                raise _ExpansionLimit
        elif isinstance(node, yaml.CollectionNode):
            self.seen.add(id(node))
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result = {}
            for key_node, value_node in node.value:
                key = (
                    self.constructor.construct_object(key_node)
                    if isinstance(key_node, yaml.ScalarNode)
                    else None
                )
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.errors.append(
                        ImportError_(
                            self.name, key_node.start_mark.line + 1, "", "a mapping key must be a plain value"
                        )
                    )
                    continue
                key = str(key)
                if key in result:
                    self.errors.append(
                        ImportError_(
                            self.name,
                            key_node.start_mark.line + 1,
                            _render_path(path),
                            f"duplicate key {key!r}",
                        )
                    )
                    continue
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            self.errors.append(
                ImportError_(
                    self.name,
                    node.start_mark.line + 1,
                    _render_path(path),
                    f"invalid YAML value: {exc.problem}",
                )
            )
            return None


def _render_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
