"""`steward import`: upsert by id, all-or-nothing, every bad input named precisely."""

from __future__ import annotations

import copy
import json

import pytest
from sqlmodel import select

from app.inventory.store import load_inventory
from app.models.inventory import ImportRecord
from tests.conftest import database_state, minimal_inventory, write_yaml


def run(runner, *args):
    return runner.invoke(args=list(args))


def test_import_creates_every_kind_and_records_the_import(runner, inventory_file, session):
    result = run(runner, "import", str(inventory_file))
    assert result.exit_code == 0, result.output
    assert "Import #1 applied" in result.stdout
    inventory = load_inventory(session)
    assert [a.id for a in inventory.agents] == ["release-bot", "triage-bot"]
    assert inventory.agents[0].tools == ("deploy.rollout", "deploy.status")
    assert [t.name for t in inventory.mcp_servers[0].tools] == ["rollout", "status"]
    record = session.exec(select(ImportRecord)).one()
    assert record.actor == "test"
    assert record.files == [str(inventory_file)]
    assert record.counts["agents"] == {"created": 2, "updated": 0, "removed": 0, "unchanged": 0}


def test_importing_the_same_files_twice_changes_nothing(runner, inventory_file, engine):
    run(runner, "import", str(inventory_file))
    history = ("import_record", "audit_entry")
    before = {k: v for k, v in database_state(engine).items() if k not in history}
    result = run(runner, "import", str(inventory_file))
    assert result.exit_code == 0
    for line in result.stdout.splitlines()[2:]:
        created, updated, removed = line.split()[1:4]
        assert (created, updated, removed) == ("0", "0", "0"), line
    assert {k: v for k, v in database_state(engine).items() if k not in history} == before


def test_changed_entry_is_updated_and_others_unchanged(runner, tmp_path, session):
    data = minimal_inventory()
    path = write_yaml(tmp_path / "inv.yaml", data)
    run(runner, "import", str(path))
    data["agents"][1]["purpose"] = "Triage incidents"
    write_yaml(path, data)
    result = run(runner, "import", str(path))
    assert "agents               0        1        0          1" in result.stdout
    assert load_inventory(session).agents[1].purpose == "Triage incidents"


def test_import_without_prune_keeps_entries_missing_from_the_files(runner, tmp_path, session):
    data = minimal_inventory()
    run(runner, "import", str(write_yaml(tmp_path / "a.yaml", data)))
    data["approvals"] = []
    run(runner, "import", str(write_yaml(tmp_path / "a.yaml", data)))
    assert [a.id for a in load_inventory(session).approvals] == ["appr-1"]


def test_prune_removes_entries_of_imported_kinds_only(runner, tmp_path, session):
    data = minimal_inventory()
    run(runner, "import", str(write_yaml(tmp_path / "all.yaml", data)))
    only_approvals = {"approvals": []}
    result = run(runner, "import", "--prune", str(write_yaml(tmp_path / "approvals.yaml", only_approvals)))
    assert result.exit_code == 0, result.output
    inventory = load_inventory(session)
    assert inventory.approvals == ()
    assert len(inventory.agents) == 2  # kinds absent from the import are left alone


def test_prune_that_would_leave_a_dangling_reference_is_refused(runner, tmp_path, engine):
    data = minimal_inventory()
    run(runner, "import", str(write_yaml(tmp_path / "all.yaml", data)))
    before = database_state(engine)
    result = run(runner, "import", "--prune", str(write_yaml(tmp_path / "creds.yaml", {"credentials": []})))
    assert result.exit_code == 2
    assert "agents[release-bot].credentials[0]: 'jit-deploy' is not a known credential id" in result.stderr
    assert database_state(engine) == before


def test_dry_run_shows_the_plan_and_writes_nothing(runner, inventory_file, engine):
    before = database_state(engine)
    result = run(runner, "import", "--dry-run", str(inventory_file))
    assert result.exit_code == 0
    assert "Dry run, nothing written." in result.stdout
    assert "would create agents: release-bot, triage-bot" in result.stdout
    assert database_state(engine) == before


def test_a_directory_is_read_recursively_across_files(runner, tmp_path, session):
    data = minimal_inventory()
    for kind, entries in data.items():
        write_yaml(tmp_path / "repo" / kind / f"{kind}.yaml", {kind: entries})
    (tmp_path / "repo" / "README.md").write_text("not inventory")
    result = run(runner, "import", str(tmp_path / "repo"))
    assert result.exit_code == 0, result.output
    assert "5 files read" in result.stdout
    assert len(load_inventory(session).policies) == 1


def test_json_files_are_accepted(runner, tmp_path, session):
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(minimal_inventory()), encoding="utf-8")
    assert run(runner, "import", str(path)).exit_code == 0
    assert len(load_inventory(session).agents) == 2


# --- bad input: a clear message naming file, line, entry and field; nothing changed -----------------


def refused(runner, engine, path) -> str:
    """Import a bad file; assert exit 2 and an untouched database; return the error output."""
    before = database_state(engine)
    result = run(runner, "import", str(path))
    assert result.exit_code == 2, result.output
    assert "nothing was imported" in result.stderr
    assert database_state(engine) == before
    return result.stderr


def write_text(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_enum_value_is_named_with_file_line_entry_and_allowed_values(runner, engine, tmp_path):
    text = """agents:
  - id: release-bot
    owner: a@example.org
    environment: production
    identity:
      kind: svc
"""
    err = refused(runner, engine, write_text(tmp_path, "agents.yaml", text))
    assert (
        f"{tmp_path / 'agents.yaml'}:6: agents[release-bot].identity.kind: 'svc' is not one of "
        "workload, service_account, user_delegated, api_key, none"
    ) in err


def test_every_error_of_a_run_is_reported_not_just_the_first(runner, engine, tmp_path):
    data = minimal_inventory()
    data["agents"][0]["environment"] = "prod"
    data["agents"][1]["autonomy"] = "fully"
    data["credentials"][0]["ttl_seconds"] = "ten minutes"
    err = refused(runner, engine, write_yaml(tmp_path / "inv.yaml", data))
    assert "3 errors" in err
    assert "agents[release-bot].environment: 'prod' is not one of production, staging, development" in err
    assert "agents[triage-bot].autonomy: 'fully' is not one of autonomous, supervised, assistive" in err
    assert (
        "credentials[jit-deploy].ttl_seconds: 'ten minutes' is a string; expected a whole number ≥ 0" in err
    )


def test_dangling_references_are_errors_with_a_suggestion(runner, engine, tmp_path):
    data = minimal_inventory()
    data["agents"][0]["tools"] = ["deploy.rolout"]
    data["agents"][1]["delegates_to"] = ["ghost-bot"]
    data["policies"][0]["subjects"] = ["release-bot", "nobody"]
    data["approvals"][0]["tool"] = "github.merge"
    err = refused(runner, engine, write_yaml(tmp_path / "inv.yaml", data))
    assert "agents[release-bot].tools[0]: 'deploy.rolout' is not a known tool" in err
    assert "did you mean 'deploy.rollout'?" in err
    assert "agents[triage-bot].delegates_to[0]: 'ghost-bot' is not a known agent id" in err
    assert "policies[deploy-prod].subjects[1]: 'nobody' is not a known agent id" in err
    assert "approvals[appr-1].tool: 'github.merge' is not a known tool" in err


def test_a_reference_to_an_entry_already_in_the_database_is_accepted(runner, tmp_path, session):
    data = minimal_inventory()
    run(runner, "import", str(write_yaml(tmp_path / "all.yaml", data)))
    extra = {"approvals": [{"id": "appr-2", "agent": "triage-bot", "tool": "deploy.status"}]}
    result = run(runner, "import", str(write_yaml(tmp_path / "more.yaml", extra)))
    assert result.exit_code == 0, result.output
    assert [a.id for a in load_inventory(session).approvals] == ["appr-1", "appr-2"]


def test_duplicate_ids_across_files_name_both_places(runner, engine, tmp_path):
    data = minimal_inventory()
    write_yaml(tmp_path / "dir" / "a.yaml", data)
    write_yaml(tmp_path / "dir" / "b.yaml", {"credentials": copy.deepcopy(data["credentials"])})
    err = refused(runner, engine, tmp_path / "dir")
    assert f"{tmp_path / 'dir' / 'b.yaml'}:2: credentials[jit-deploy]: duplicate id; first defined at " in err
    assert f"{tmp_path / 'dir' / 'a.yaml'}:" in err


def test_duplicate_yaml_keys_are_refused_rather_than_silently_overwritten(runner, engine, tmp_path):
    text = "credentials:\n  - id: k1\n    kind: api_key\n    kind: jit_token\n"
    err = refused(runner, engine, write_text(tmp_path, "c.yaml", text))
    assert "c.yaml:4: credentials[0]: duplicate key 'kind'" in err


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_delegation_depth", -1, "-1 is out of range; expected a whole number from 0 to 2147483647"),
        ("max_delegation_depth", True, "True is a boolean; expected a whole number ≥ 0"),
        ("tools", "deploy.status", "'deploy.status' is a string; expected a list of strings"),
        ("owner", ["a", "b"], "a list is a list; expected a string"),
        ("last_reviewed_at", "last tuesday", "'last tuesday' is not an ISO 8601 date"),
        ("identity", "workload", "'workload' is a string; expected a mapping with kind, id, attested"),
    ],
)
def test_wrong_types_are_named_with_the_expected_type(runner, engine, tmp_path, field, value, message):
    data = minimal_inventory()
    data["agents"][1][field] = value
    err = refused(runner, engine, write_yaml(tmp_path / "inv.yaml", data))
    assert f"agents[triage-bot].{field}: {message}" in err


def test_missing_required_fields_are_named(runner, engine, tmp_path):
    data = minimal_inventory()
    del data["agents"][0]["environment"]
    del data["policies"][0]["effect"]
    del data["mcp_servers"][0]["url"]
    err = refused(runner, engine, write_yaml(tmp_path / "inv.yaml", data))
    assert (
        "agents[release-bot].environment: missing; this field is required "
        "(one of production, staging, development)"
    ) in err
    assert "policies[deploy-prod].effect: missing; this field is required (one of allow, deny)" in err
    assert "mcp_servers[deploy].url: missing; required for transport http" in err


def test_unknown_top_level_key_suggests_the_right_one(runner, engine, tmp_path):
    err = refused(runner, engine, write_text(tmp_path, "x.yaml", "agnets: []\n"))
    assert "x.yaml:1: unknown top-level key 'agnets'; did you mean 'agents'?" in err


def test_unknown_field_in_an_entry_suggests_the_right_one(runner, engine, tmp_path):
    data = minimal_inventory()
    data["policies"][0]["require_aproval"] = True
    err = refused(runner, engine, write_yaml(tmp_path / "inv.yaml", data))
    assert "policies[deploy-prod].require_aproval: unknown field; did you mean 'require_approval'?" in err


def test_empty_file_is_refused(runner, engine, tmp_path):
    err = refused(runner, engine, write_text(tmp_path, "empty.yaml", "  \n\n"))
    assert "empty.yaml: the file is empty; expected a mapping with any of agents" in err


def test_non_utf8_bytes_are_refused_with_their_line(runner, engine, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("agents:\n  - id: caf\xe9\n".encode("latin-1"))
    err = refused(runner, engine, path)
    assert "latin1.yaml:2: byte 0xe9 at offset 19 is not UTF-8" in err


def test_invalid_yaml_syntax_is_refused_with_its_line(runner, engine, tmp_path):
    err = refused(runner, engine, write_text(tmp_path, "broken.yaml", "agents:\n  - id: a\n   env: [x\n"))
    assert "broken.yaml:3: invalid YAML" in err


def test_invalid_json_syntax_is_refused_with_its_line(runner, engine, tmp_path):
    err = refused(runner, engine, write_text(tmp_path, "broken.json", '{"agents": [\n  {"id": "a",}\n]}'))
    assert "broken.json:2: invalid JSON" in err


def test_yaml_alias_bomb_is_refused(runner, engine, tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    previous = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
        previous = name
    err = refused(runner, engine, write_text(tmp_path, "bomb.yaml", "\n".join(lines) + "\n"))
    assert "bomb.yaml:1: YAML aliases expand past the limit of 10,000 aliased values" in err


def test_file_over_the_size_limit_is_refused_before_it_is_read(app, engine, tmp_path):
    from dataclasses import replace

    app.config["STEWARD"] = replace(app.config["STEWARD"], max_import_bytes=1000)
    path = write_text(tmp_path, "big.yaml", "agents: []\n" + "# padding\n" * 200)
    err = refused(app.test_cli_runner(), engine, path)
    assert "big.yaml: the file is 2,011 bytes, over the import limit of 1,000 bytes" in err


def test_a_top_level_list_is_refused(runner, engine, tmp_path):
    err = refused(runner, engine, write_text(tmp_path, "list.yaml", "- id: a\n"))
    assert "list.yaml:1: the document is a list; expected a mapping with any of agents" in err


def test_missing_path_is_refused(runner, engine, tmp_path):
    err = refused(runner, engine, tmp_path / "nope.yaml")
    assert "nope.yaml: no such file or directory" in err


def test_one_bad_file_among_good_ones_imports_nothing(runner, engine, tmp_path):
    data = minimal_inventory()
    write_yaml(tmp_path / "dir" / "good.yaml", data)
    write_text(tmp_path / "dir", "bad.yaml", "agents:\n  - id: x\n    environment: moon\n")
    err = refused(runner, engine, tmp_path / "dir")
    assert "bad.yaml:3: agents[x].environment: 'moon' is not one of" in err
