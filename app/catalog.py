"""Load and validate the control catalog: frameworks, their requirements, and check metadata.

The catalog is data (controls/): frameworks point at check ids, checks never point at
frameworks, so a check mapped in several frameworks is the crosswalk. Load errors name the
file, the entry id and the field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from app.checks import DOMAIN_OF, DOMAINS, load_checks

SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
SUBJECT_KINDS = ("agent", "credential", "access", "policy", "mcp_server", "tool", "approval")
CHECK_FIELDS = ("title", "severity", "subject", "rationale", "remediation")
FRAMEWORK_FIELDS = ("id", "name", "version", "publisher", "official_ids", "levels")
FRAMEWORK_OPTIONAL = ("source_url", "retrieved", "license", "id_note", "description")
NODE_FIELDS = ("id", "title", "summary", "parent")


class CatalogError(ValueError):
    """The catalog cannot be loaded; the message lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class CheckMeta:
    """What a check asserts and why, as the catalog describes it."""

    id: str
    domain: str
    title: str
    severity: str
    subject: str
    rationale: str
    remediation: str


@dataclass(frozen=True)
class Requirement:
    """An assessable node of a framework; no checks means a manual requirement."""

    id: str
    title: str
    summary: str
    parent: str | None
    checks: tuple[str, ...]
    mapping_note: str | None = None

    @property
    def is_manual(self) -> bool:
        return not self.checks


@dataclass(frozen=True)
class Group:
    """A structural node of a framework (a NIST function or category, a MAESTRO layer)."""

    id: str
    title: str
    summary: str
    parent: str | None


@dataclass(frozen=True)
class Framework:
    """One control catalog: its identity, provenance and requirement tree."""

    id: str
    name: str
    version: str
    publisher: str
    official_ids: bool
    levels: tuple[str, ...]
    groups: tuple[Group, ...]
    requirements: tuple[Requirement, ...]
    file: str
    source_url: str | None = None
    retrieved: str | None = None
    license: str | None = None
    id_note: str | None = None
    description: str | None = None
    is_builtin: bool = True

    def requirement(self, requirement_id: str) -> Requirement | None:
        return next((r for r in self.requirements if r.id == requirement_id), None)


@dataclass
class Catalog:
    """Every framework and check, validated, with a hash of the files they came from."""

    frameworks: dict[str, Framework]
    checks: dict[str, CheckMeta]
    hash: str
    requirements_by_check: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def __post_init__(self):
        index: dict[str, list[tuple[str, str]]] = {c: [] for c in self.checks}
        for framework in self.frameworks.values():
            for requirement in framework.requirements:
                for check_id in requirement.checks:
                    index[check_id].append((framework.id, requirement.id))
        self.requirements_by_check = index


def _read_yaml(path: Path, problems: list[str]):
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read as UTF-8 text ({exc.__class__.__name__})")
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problems.append(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}")
        return None


def _text(entry: dict, name: str, where: str, problems: list[str], required: bool = True) -> str | None:
    value = entry.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(f"{where}.{name}: missing; expected text")
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        problems.append(f"{where}.{name}: expected text, got {type(value).__name__}")
        return None
    return str(value).strip()


def _load_checks(directory: Path, problems: list[str]) -> dict[str, CheckMeta]:
    checks: dict[str, CheckMeta] = {}
    for domain in DOMAINS:
        path = directory / "checks" / f"{domain}.yaml"
        if not path.is_file():
            problems.append(f"{path}: missing; expected the metadata of the {domain} checks")
            continue
        data = _read_yaml(path, problems)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}: expected a mapping of check id to its metadata")
            continue
        for check_id, entry in data.items():
            where = f"{path}: {check_id}"
            if not isinstance(entry, dict):
                problems.append(f"{where}: expected a mapping with {', '.join(CHECK_FIELDS)}")
                continue
            if check_id in checks:
                problems.append(f"{where}: duplicate check id; also in {checks[check_id].domain}.yaml")
                continue
            unknown = set(entry) - set(CHECK_FIELDS)
            if unknown:
                problems.append(
                    f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                    f"expected {', '.join(CHECK_FIELDS)}"
                )
            values = {name: _text(entry, name, where, problems) for name in CHECK_FIELDS}
            if values["severity"] and values["severity"] not in SEVERITIES:
                problems.append(
                    f"{where}.severity: {values['severity']!r} is not one of {', '.join(SEVERITIES)}"
                )
            if values["subject"] and values["subject"] not in SUBJECT_KINDS:
                problems.append(
                    f"{where}.subject: {values['subject']!r} is not one of {', '.join(SUBJECT_KINDS)}"
                )
            if all(values.values()):
                checks[check_id] = CheckMeta(id=check_id, domain=domain, **values)
    return checks


def _nodes(data, key: str, where: str, problems: list[str]) -> list[dict]:
    nodes = data.get(key, [])
    if nodes is None:
        return []
    if not isinstance(nodes, list):
        problems.append(f"{where}: {key}: expected a list")
        return []
    good = []
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            problems.append(f"{where}: {key}[{i}]: expected a mapping with {', '.join(NODE_FIELDS)}")
        else:
            good.append(node)
    return good


def _load_framework(path: Path, checks: dict[str, CheckMeta], problems: list[str], builtin: bool):
    data = _read_yaml(path, problems)
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("framework"), dict):
        problems.append(f"{path}: framework: missing; expected a mapping with {', '.join(FRAMEWORK_FIELDS)}")
        return None
    before = len(problems)
    unknown_top = set(data) - {"framework", "groups", "requirements"}
    if unknown_top:
        problems.append(
            f"{path}: unknown top-level key(s) {', '.join(sorted(unknown_top))}; "
            "expected framework, groups, requirements"
        )
    meta = data["framework"]
    where = f"{path}: framework"
    values = {name: _text(meta, name, where, problems) for name in ("id", "name", "version", "publisher")}
    optional = {}
    for name in FRAMEWORK_OPTIONAL:
        value = meta.get(name)
        optional[name] = (
            value.isoformat() if isinstance(value, date) else _text(meta, name, where, problems, False)
        )
    official = meta.get("official_ids")
    if not isinstance(official, bool):
        problems.append(f"{where}.official_ids: expected true or false")
    if official is False and not optional["id_note"]:
        problems.append(
            f"{where}.id_note: missing; a framework whose ids are not official must say whose they are"
        )
    levels = meta.get("levels")
    if not isinstance(levels, list) or not levels or not all(isinstance(x, str) for x in levels):
        problems.append(f"{where}.levels: expected a non-empty list of level names")
        levels = []
    seen: dict[str, str] = {}
    groups, requirements = [], []
    for node in _nodes(data, "groups", str(path), problems):
        node_where = f"{path}: groups[{node.get('id', '?')}]"
        group = {name: _text(node, name, node_where, problems, name != "parent") for name in NODE_FIELDS}
        if group["id"]:
            if group["id"] in seen:
                problems.append(f"{node_where}.id: duplicate id")
            seen[group["id"]] = "group"
            groups.append(Group(**group))
    for node in _nodes(data, "requirements", str(path), problems):
        node_where = f"{path}: requirements[{node.get('id', '?')}]"
        fields = {name: _text(node, name, node_where, problems, name != "parent") for name in NODE_FIELDS}
        raw_checks = node.get("checks")
        if not isinstance(raw_checks, list):
            problems.append(
                f"{node_where}.checks: missing; expected a list of check ids ([] for a manual requirement)"
            )
            raw_checks = []
        for check_id in raw_checks:
            if check_id not in checks:
                problems.append(f"{node_where}.checks: {check_id!r} is not a known check id")
        if fields["id"]:
            if fields["id"] in seen:
                problems.append(f"{node_where}.id: duplicate id")
            seen[fields["id"]] = "requirement"
            note = _text(node, "mapping_note", node_where, problems, False)
            requirements.append(Requirement(checks=tuple(raw_checks), mapping_note=note, **fields))
    for node in (*groups, *requirements):
        if node.parent and seen.get(node.parent) != "group":
            problems.append(f"{path}: {node.id}.parent: {node.parent!r} is not a group of this framework")
    if values["id"] and values["id"] != path.stem:
        problems.append(f"{where}.id: {values['id']!r} must equal the file name {path.stem!r}")
    if len(problems) > before:
        return None
    return Framework(
        official_ids=official,
        levels=tuple(levels),
        groups=tuple(groups),
        requirements=tuple(requirements),
        file=str(path),
        is_builtin=builtin,
        **values,
        **optional,
    )


def load_catalog(directories: list[Path]) -> Catalog:
    """Load the built-in controls directory and any extra ones; raise CatalogError listing every problem."""
    problems: list[str] = []
    builtin = directories[0]
    checks = _load_checks(builtin, problems)
    registry = load_checks()
    for check_id in sorted(set(checks) - set(registry)):
        problems.append(
            f"{builtin / 'checks' / (checks[check_id].domain + '.yaml')}: {check_id}: "
            "no check function of that name in app/checks/"
        )
    for check_id in sorted(set(registry) - set(checks)):
        problems.append(
            f"{builtin / 'checks' / (DOMAIN_OF[check_id] + '.yaml')}: {check_id}: "
            "missing metadata for this registered check"
        )
    for check_id, meta in checks.items():
        if check_id in registry and DOMAIN_OF[check_id] != meta.domain:
            problems.append(
                f"{builtin / 'checks' / (meta.domain + '.yaml')}: {check_id}: the function lives in "
                f"app/checks/{DOMAIN_OF[check_id]}.py; domains must agree"
            )
    files: list[tuple[Path, bool]] = []
    for directory in directories:
        if not directory.is_dir():
            problems.append(f"{directory}: controls directory does not exist (setting STEWARD_CONTROLS_PATH)")
            continue
        is_builtin = directory == builtin
        found = (
            sorted((directory / "frameworks").glob("*.yaml")) if (directory / "frameworks").is_dir() else []
        )
        if not is_builtin:
            found += sorted(directory.glob("*.yaml"))
        if not found:
            problems.append(f"{directory}: no framework files (expected frameworks/*.yaml)")
        files += [(path, is_builtin) for path in found]
    frameworks: dict[str, Framework] = {}
    digest = hashlib.sha256()
    for path in sorted((builtin / "checks").glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for path, is_builtin in files:
        framework = _load_framework(path, checks, problems, is_builtin)
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
        if framework is None:
            continue
        if framework.id in frameworks:
            problems.append(
                f"{path}: framework.id: {framework.id!r} is already defined in "
                f"{frameworks[framework.id].file}"
            )
            continue
        frameworks[framework.id] = framework
    if problems:
        raise CatalogError(problems)
    return Catalog(frameworks=frameworks, checks=checks, hash=digest.hexdigest())


def init_app(app) -> None:
    """Make room for the catalog; it is loaded and validated on first use, then kept in memory."""
    app.extensions["steward.catalog"] = None


def get_catalog(app) -> Catalog:
    """The app's catalog, loaded once; raises CatalogError naming every problem."""
    catalog = app.extensions.get("steward.catalog")
    if catalog is None:
        catalog = load_catalog(app.config["STEWARD"].controls_dirs)
        app.extensions["steward.catalog"] = catalog
    return catalog
