"""Load and validate the control catalog: frameworks, their requirements, and check metadata.

The catalog is data (controls/): frameworks point at check ids, checks never point at
frameworks, so a check mapped in several frameworks is the crosswalk. Mapping files relate the
requirements of two frameworks (NIST IR 8477 set theory) so a requirement without checks can take
a status inferred from another framework's (app/mappings.py). Every framework and mapping file
says where it came from (source URL, version, retrieval date). Load errors name the file, the
entry id and the field.
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
FRAMEWORK_FIELDS = ("id", "name", "version", "publisher", "official_ids", "levels", "source_url", "retrieved")
FRAMEWORK_OPTIONAL = ("license", "id_note", "description")
NODE_FIELDS = ("id", "title", "summary", "parent")
# NIST IR 8477 set-theory relationships, read "<source requirement> is <relationship> <target requirement>".
RELATIONSHIPS = ("equal", "subset", "superset", "intersect", "not_related")
RATIONALES = ("syntactic", "semantic", "functional")
MAPPING_SET_FIELDS = (
    "id",
    "name",
    "source_framework",
    "target_framework",
    "version",
    "publisher",
    "source_url",
    "retrieved",
)
MAPPING_SET_OPTIONAL = ("license", "description")
MAPPING_FIELDS = ("source", "target", "relationship", "rationale", "strength")
MAPPING_OPTIONAL = ("note",)


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
    sha256: str = ""

    def requirement(self, requirement_id: str) -> Requirement | None:
        return next((r for r in self.requirements if r.id == requirement_id), None)


@dataclass(frozen=True)
class Mapping:
    """One relationship between requirements of two frameworks; the source's status informs the target's."""

    mapping_set: str
    source_framework: str
    source: str
    target_framework: str
    target: str
    relationship: str
    rationale: str
    strength: int
    note: str | None = None


@dataclass(frozen=True)
class MappingSet:
    """A mapping file: which framework's statuses flow to which, its provenance, and its mappings."""

    id: str
    name: str
    source_framework: str
    target_framework: str
    version: str
    publisher: str
    source_url: str
    retrieved: str
    mappings: tuple[Mapping, ...]
    file: str
    sha256: str
    license: str | None = None
    description: str | None = None
    is_builtin: bool = True


@dataclass
class Catalog:
    """Every framework and check, validated, with a hash of the files they came from."""

    frameworks: dict[str, Framework]
    checks: dict[str, CheckMeta]
    hash: str
    mapping_sets: dict[str, MappingSet] = field(default_factory=dict)
    requirements_by_check: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    mappings_into: dict[tuple[str, str], list[Mapping]] = field(default_factory=dict)

    def __post_init__(self):
        index: dict[str, list[tuple[str, str]]] = {c: [] for c in self.checks}
        for framework in self.frameworks.values():
            for requirement in framework.requirements:
                for check_id in requirement.checks:
                    index[check_id].append((framework.id, requirement.id))
        self.requirements_by_check = index
        into: dict[tuple[str, str], list[Mapping]] = {}
        for mapping_set in self.mapping_sets.values():
            for mapping in mapping_set.mappings:
                into.setdefault((mapping.target_framework, mapping.target), []).append(mapping)
        self.mappings_into = into

    def pin(self) -> dict:
        """What a run evaluates against: each file's version, source and digest; what maps to what."""
        frameworks = {}
        for framework in self.frameworks.values():
            frameworks[framework.id] = {
                "name": framework.name,
                "version": framework.version,
                "source_url": framework.source_url,
                "retrieved": framework.retrieved,
                "sha256": framework.sha256,
                "requirements": {
                    r.id: {
                        "checks": sorted(r.checks),
                        "mapped_from": sorted(
                            f"{m.source_framework}:{m.source} {m.relationship}"
                            for m in self.mappings_into.get((framework.id, r.id), ())
                        ),
                    }
                    for r in framework.requirements
                },
            }
        mapping_sets = {
            m.id: {
                "name": m.name,
                "source_framework": m.source_framework,
                "target_framework": m.target_framework,
                "version": m.version,
                "source_url": m.source_url,
                "retrieved": m.retrieved,
                "sha256": m.sha256,
                "mappings": len(m.mappings),
            }
            for m in self.mapping_sets.values()
        }
        return {"hash": self.hash, "frameworks": frameworks, "mapping_sets": mapping_sets}


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


def _date(entry: dict, name: str, where: str, problems: list[str]) -> str | None:
    value = entry.get(name)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    what = "missing" if value is None else f"{value!r} is not a date"
    problems.append(f"{where}.{name}: {what}; expected the date it was retrieved, as YYYY-MM-DD")
    return None


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
    names = ("id", "name", "version", "publisher", "source_url")
    values = {name: _text(meta, name, where, problems) for name in names}
    values["retrieved"] = _date(meta, "retrieved", where, problems)
    optional = {name: _text(meta, name, where, problems, False) for name in FRAMEWORK_OPTIONAL}
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
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        **values,
        **optional,
    )


def _strength(entry: dict, where: str, problems: list[str]) -> int | None:
    value = entry.get("strength")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        what = "missing" if value is None else f"{value!r} is not a whole number from 0 to 10"
        problems.append(f"{where}.strength: {what}; expected how strongly the two are related, 0 to 10")
        return None
    return value


def _load_mapping_set(
    path: Path, frameworks: dict[str, Framework], problems: list[str], builtin: bool
) -> MappingSet | None:
    data = _read_yaml(path, problems)
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("mapping_set"), dict):
        problems.append(
            f"{path}: mapping_set: missing; expected a mapping with {', '.join(MAPPING_SET_FIELDS)}"
        )
        return None
    before = len(problems)
    unknown_top = set(data) - {"mapping_set", "mappings"}
    if unknown_top:
        problems.append(
            f"{path}: unknown top-level key(s) {', '.join(sorted(unknown_top))}; "
            "expected mapping_set, mappings"
        )
    meta = data["mapping_set"]
    where = f"{path}: mapping_set"
    unknown = set(meta) - set(MAPPING_SET_FIELDS) - set(MAPPING_SET_OPTIONAL)
    if unknown:
        problems.append(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            f"expected {', '.join(MAPPING_SET_FIELDS + MAPPING_SET_OPTIONAL)}"
        )
    values = {name: _text(meta, name, where, problems) for name in MAPPING_SET_FIELDS if name != "retrieved"}
    values["retrieved"] = _date(meta, "retrieved", where, problems)
    optional = {name: _text(meta, name, where, problems, False) for name in MAPPING_SET_OPTIONAL}
    if values["id"] and values["id"] != path.stem:
        problems.append(f"{where}.id: {values['id']!r} must equal the file name {path.stem!r}")
    ends = {}
    for end in ("source_framework", "target_framework"):
        framework_id = values[end]
        if framework_id and framework_id not in frameworks:
            problems.append(
                f"{where}.{end}: {framework_id!r} is not a loaded framework; "
                f"expected one of {', '.join(sorted(frameworks))}"
            )
        ends[end] = frameworks.get(framework_id)
    if values["source_framework"] and values["source_framework"] == values["target_framework"]:
        problems.append(f"{where}.target_framework: a mapping relates two different frameworks")
    entries = data.get("mappings")
    if not isinstance(entries, list) or not entries:
        problems.append(f"{path}: mappings: expected a non-empty list of mappings")
        entries = []
    mappings: list[Mapping] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"{path}: mappings[{i}]: expected a mapping with {', '.join(MAPPING_FIELDS)}")
            continue
        label = f"{entry.get('source', '?')} -> {entry.get('target', '?')}"
        entry_where = f"{path}: mappings[{label}]"
        unknown = set(entry) - set(MAPPING_FIELDS) - set(MAPPING_OPTIONAL)
        if unknown:
            problems.append(
                f"{entry_where}: unknown field(s) {', '.join(sorted(unknown))}; "
                f"expected {', '.join(MAPPING_FIELDS + MAPPING_OPTIONAL)}"
            )
        fields = {name: _text(entry, name, entry_where, problems) for name in MAPPING_FIELDS[:4]}
        strength = _strength(entry, entry_where, problems)
        note = _text(entry, "note", entry_where, problems, False)
        for end, framework in (("source", ends["source_framework"]), ("target", ends["target_framework"])):
            if fields[end] and framework is not None and framework.requirement(fields[end]) is None:
                problems.append(
                    f"{entry_where}.{end}: {fields[end]!r} is not a requirement of {framework.id}"
                )
        if fields["relationship"] and fields["relationship"] not in RELATIONSHIPS:
            problems.append(
                f"{entry_where}.relationship: {fields['relationship']!r} is not one of "
                f"{', '.join(RELATIONSHIPS)}"
            )
        if fields["rationale"] and fields["rationale"] not in RATIONALES:
            problems.append(
                f"{entry_where}.rationale: {fields['rationale']!r} is not one of {', '.join(RATIONALES)}"
            )
        pair = (fields["source"], fields["target"])
        if all(pair) and pair in seen:
            problems.append(f"{entry_where}: duplicate mapping; this pair is already mapped in this file")
        seen.add(pair)
        if all(fields.values()) and strength is not None:
            mappings.append(
                Mapping(
                    mapping_set=values["id"] or path.stem,
                    source_framework=values["source_framework"] or "",
                    target_framework=values["target_framework"] or "",
                    strength=strength,
                    note=note,
                    **fields,
                )
            )
    if len(problems) > before:
        return None
    return MappingSet(
        mappings=tuple(mappings),
        file=str(path),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
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
        if not found and not any((directory / "mappings").glob("*.yaml")):
            problems.append(
                f"{directory}: no framework or mapping files (expected frameworks/*.yaml or mappings/*.yaml)"
            )
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
    mapping_sets: dict[str, MappingSet] = {}
    pairs: dict[tuple[str, str, str, str], str] = {}
    for directory in directories:
        mapping_dir = directory / "mappings"
        for path in sorted(mapping_dir.glob("*.yaml")) if mapping_dir.is_dir() else ():
            digest.update(b"mappings/" + path.name.encode() + b"\0" + path.read_bytes())
            mapping_set = _load_mapping_set(path, frameworks, problems, directory == builtin)
            if mapping_set is None:
                continue
            if mapping_set.id in mapping_sets:
                problems.append(
                    f"{path}: mapping_set.id: {mapping_set.id!r} is already defined in "
                    f"{mapping_sets[mapping_set.id].file}"
                )
                continue
            for m in mapping_set.mappings:
                key = (m.source_framework, m.source, m.target_framework, m.target)
                if key in pairs:
                    problems.append(
                        f"{path}: mappings[{m.source} -> {m.target}]: "
                        f"this pair is already mapped in {pairs[key]}"
                    )
                pairs[key] = str(path)
            mapping_sets[mapping_set.id] = mapping_set
    if problems:
        raise CatalogError(problems)
    return Catalog(frameworks=frameworks, checks=checks, hash=digest.hexdigest(), mapping_sets=mapping_sets)


def catalog_changes(before: dict | None, after: dict) -> dict:
    """The requirements added, removed or re-mapped (checks or incoming mappings) between two catalog pins."""
    if not before or before.get("hash") == after.get("hash"):
        return {}
    frameworks = {}
    old_frameworks, new_frameworks = before.get("frameworks", {}), after.get("frameworks", {})
    for framework_id in sorted(set(old_frameworks) | set(new_frameworks)):
        old = old_frameworks.get(framework_id, {})
        new = new_frameworks.get(framework_id, {})
        old_requirements, new_requirements = old.get("requirements", {}), new.get("requirements", {})
        change = {
            "name": new.get("name") or old.get("name") or framework_id,
            "is_added": not old,
            "is_removed": not new,
            "version": [old.get("version"), new.get("version")]
            if old and new and old.get("version") != new.get("version")
            else None,
            "added": [r for r in new_requirements if r not in old_requirements],
            "removed": [r for r in old_requirements if r not in new_requirements],
            "remapped": [
                r
                for r in new_requirements
                if r in old_requirements and new_requirements[r] != old_requirements[r]
            ],
        }
        if (
            change["is_added"]
            or change["is_removed"]
            or change["version"]
            or any(change[k] for k in ("added", "removed", "remapped"))
        ):
            frameworks[framework_id] = change
    old_sets, new_sets = before.get("mapping_sets", {}), after.get("mapping_sets", {})
    return {
        "previous_hash": before.get("hash"),
        "frameworks": frameworks,
        "mapping_sets": {
            "added": sorted(set(new_sets) - set(old_sets)),
            "removed": sorted(set(old_sets) - set(new_sets)),
            "changed": sorted(
                m for m in set(new_sets) & set(old_sets) if new_sets[m]["sha256"] != old_sets[m]["sha256"]
            ),
        },
    }


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
