"""Bad input everywhere it enters: a clear message, nothing changed, never an unhandled exception.

Property-based (hypothesis) documents and a fixed corpus of the classic failures run through the
inventory importer, the catalog loader, MCP client-config discovery and the audit-log importer.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.catalog import CatalogError, load_catalog
from app.config import PROJECT_ROOT
from app.inventory import import_inventory
from app.inventory.audit_log import LineError, import_audit_log, read_events
from app.inventory.mcp_config import scan_config_text
from app.inventory.schema import FIELDS_BY_KIND
from app.snapshot import Event
from tests.conftest import database_state, minimal_inventory, write_yaml

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)


def _import(session, path: Path):
    return import_inventory(
        session, paths=[str(path)], actor="fuzz", max_bytes=10**7, max_alias_expansion=100
    )


def _assert_clean_refusal(result, path: Path) -> None:
    assert result.errors, "a malformed document was accepted"
    for error in result.errors:
        assert error.file.startswith(str(path.parent)) or error.file.startswith("(inventory"), error
        assert error.message and "Traceback" not in error.message


def _mutations():
    """A valid inventory with one field anywhere replaced by an arbitrary value."""
    base = minimal_inventory()
    paths = []

    def walk(value, path):
        if isinstance(value, dict):
            for key, child in value.items():
                paths.append((*path, key))
                walk(child, (*path, key))
        elif isinstance(value, list):
            for i, child in enumerate(value):
                paths.append((*path, i))
                walk(child, (*path, i))

    walk(base, ())
    return st.tuples(st.sampled_from(paths), json_values)


def _mutate(path, value) -> dict:
    data = copy.deepcopy(minimal_inventory())
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


@FUZZ
@given(mutation=_mutations())
def test_any_mutated_inventory_is_imported_whole_or_refused_with_named_errors(session, tmp_path, mutation):
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(_mutate(*mutation)), encoding="utf-8")
    result = _import(session, path)
    if not result.ok:
        _assert_clean_refusal(result, path)
        assert not session.new and not session.dirty
    session.rollback()


@FUZZ
@given(document=json_values)
def test_any_json_document_is_imported_or_refused_cleanly(session, tmp_path, document):
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = _import(session, path)
    if not result.ok:
        _assert_clean_refusal(result, path)
    session.rollback()


@FUZZ
@given(text=st.text(max_size=300))
def test_any_text_as_yaml_is_imported_or_refused_cleanly(session, tmp_path, text):
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    result = _import(session, path)
    if not result.ok:
        _assert_clean_refusal(result, path)
    session.rollback()


def _wrong_type_cases():
    """(kind, field, wrong value) for every top-level field of every kind."""
    wrong = {"str": 12345, "enum": ["a", "list"], "bool": "yes", "nonneg_int": "ten", "date": "yesterday-ish"}
    wrong |= {"str_list": "not-a-list", "str_seq": 7, "object": "flat", "tool_list": {"a": 1}}
    wrong |= {"annotations": ["readOnlyHint"], "json_object": [1, 2], "secret": 42}
    for kind, fields in FIELDS_BY_KIND.items():
        for spec in fields:
            if spec.name != "id":
                yield kind, spec.name, wrong[spec.type]


@pytest.mark.parametrize(("kind", "field", "value"), list(_wrong_type_cases()))
def test_a_wrong_type_at_every_field_is_named_and_changes_nothing(
    runner, engine, tmp_path, kind, field, value
):
    data = minimal_inventory()
    data[kind][0][field] = value
    path = write_yaml(tmp_path / "inv.yaml", data)
    before = database_state(engine)
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{kind}[" in result.output and f".{field}" in result.output, result.output
    assert "Traceback" not in result.output
    assert database_state(engine) == before


CORPUS = {
    "truncated.yaml": lambda: yaml.safe_dump(minimal_inventory())[:-40].encode(),
    "truncated.json": lambda: json.dumps(minimal_inventory())[:-25].encode(),
    "utf16.yaml": lambda: yaml.safe_dump(minimal_inventory()).encode("utf-16"),
    "latin1.yaml": lambda: "agents:\n  - id: caf\xe9\n".encode("latin-1"),
    "nul.yaml": lambda: b"agents:\n  - id: a\x00b\n",
    "deep.json": lambda: ("[" * 100_000 + "]" * 100_000).encode(),
    "deep.yaml": lambda: ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 3000))).encode(),
    "bomb.yaml": lambda: (
        b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        b"agents: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    ),
    "huge.yaml": lambda: yaml.safe_dump(
        {"agents": [{**minimal_inventory()["agents"][0], "purpose": "x" * 50_000}]}
    ).encode(),
    "range.yaml": lambda: yaml.safe_dump(
        {"agents": [{**minimal_inventory()["agents"][0], "max_delegation_depth": 10**30}]}
    ).encode(),
    "nan.json": lambda: (
        b'{"agents": [{"id": "a", "environment": "production", "max_delegation_depth": NaN}]}'
    ),
    "empty.yaml": lambda: b"",
    "list.yaml": lambda: b"- just\n- a list\n",
    "dupkey.yaml": lambda: b"agents: []\nagents: []\n",
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_fixed_corpus_of_broken_files_is_refused_with_a_message_and_changes_nothing(
    runner, engine, tmp_path, name
):
    path = tmp_path / name
    path.write_bytes(CORPUS[name]())
    before = database_state(engine)
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 2, result.output
    assert name in result.output and "Traceback" not in result.output
    assert database_state(engine) == before


@FUZZ
@given(
    text=st.text(max_size=400),
    name=st.sampled_from(["mcp.json", "config.toml", "config.yaml", "settings.json", "x.jsonc"]),
)
def test_any_text_as_an_mcp_config_gives_a_scan_never_an_exception(text, name):
    scan = scan_config_text(name, text)
    assert scan.problem or scan.servers is not None
    if scan.problem:
        assert scan.servers == []


@FUZZ
@given(document=json_values)
def test_any_json_as_an_mcp_config_gives_a_scan_never_an_exception(document):
    scan = scan_config_text(".mcp.json", json.dumps({"mcpServers": document}))
    assert isinstance(scan.servers, list)


@FUZZ
@given(lines=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=80)), max_size=12))
def test_any_audit_log_lines_give_events_or_numbered_errors(tmp_path, lines):
    path = tmp_path / "audit.jsonl"
    path.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n", encoding="utf-8")
    for item in read_events(path):
        assert isinstance(item, Event | LineError)
        if isinstance(item, LineError):
            assert 1 <= item.line <= len(lines) and item.message


def test_audit_log_with_broken_bytes_imports_the_good_lines(session, tmp_path):
    good = json.dumps(
        {"ts": "2026-11-20T10:00:00Z", "agent": "a", "tool": "s.t", "decision": "allow", "event_id": "g"}
    )
    path = tmp_path / "audit.jsonl"
    path.write_bytes(good.encode() + b"\n\xff\xfe broken\n" + b'{"ts": "2026-11-20T1' + b"\n" + b"\x00\n")
    result = import_audit_log(session, path=str(path), actor="fuzz")
    assert result.imported == 1 and result.bad == 3
    assert sorted(e.line for e in result.errors) == [2, 3, 4]


FRAMEWORK = PROJECT_ROOT / "controls" / "frameworks" / "owasp-asi-2026.yaml"


@FUZZ
@given(
    mutation=st.tuples(
        st.integers(min_value=0, max_value=9),
        st.sampled_from(["id", "title", "checks", "parent"]),
        json_values,
    )
)
def test_any_mutated_team_framework_loads_or_names_its_problem(tmp_path, mutation):
    index, field, value = mutation
    data = yaml.safe_load(FRAMEWORK.read_text(encoding="utf-8"))
    data["framework"]["id"] = "team-fuzz"
    data["framework"]["official_ids"] = False
    data["requirements"][index][field] = value
    extra = tmp_path / f"controls-{abs(hash(repr(mutation)))}"
    (extra / "frameworks").mkdir(parents=True)
    (extra / "frameworks" / "team.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        load_catalog([PROJECT_ROOT / "controls", extra])
    except CatalogError as exc:
        assert exc.problems and all(str(extra) in p or "team-fuzz" in p for p in exc.problems), exc.problems
    finally:
        shutil.rmtree(extra)
