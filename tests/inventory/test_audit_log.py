"""Audit log import: stream gateway logs into audit events, every bad line named, re-imports idempotent."""

from __future__ import annotations

import codecs
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from app.config import PROJECT_ROOT
from app.db import session_scope
from app.inventory import audit_log, audit_reader
from app.inventory.audit_log import (
    AuditImportResult,
    LineError,
    import_audit_log,
    load_events,
    read_events,
)
from app.models.inventory import ImportRecord
from app.models.runtime import AuditEvent
from app.models.users import AuditEntry
from app.snapshot import Event
from tests.conftest import database_state

SEED_LOG = PROJECT_ROOT / "seed" / "audit" / "events.jsonl"
SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "audit-logs"


def event(**overrides) -> dict:
    """A valid contract line, with fields replaced or (given None) set to null."""
    line = {
        "ts": "2026-11-20T10:00:00Z",
        "agent": "release-bot",
        "tool": "deploy.rollout",
        "decision": "allow",
        "task": "Release v2.3.1",
        "approval": "appr-1042",
        "credential": "jit-8f2a",
        "chain_depth": 2,
        "delegated_by": None,
        "event_id": "e-1",
    }
    line.update(overrides)
    return line


def write_lines(path: Path, lines: list) -> Path:
    """A JSON Lines file: dicts are dumped, str and bytes written as they are."""
    with path.open("wb") as f:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            f.write((line.encode() if isinstance(line, str) else line) + b"\n")
    return path


def run_import(engine, path, **kwargs) -> AuditImportResult:
    """Import in a transaction of its own, committed, as the CLI will."""
    with session_scope(engine) as session:
        return import_audit_log(session, path=str(path), actor="test", **kwargs)


def stored_count(engine) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def only_event(path: Path, **kwargs) -> Event:
    (item,) = read_events(path, **kwargs)
    assert isinstance(item, Event), item
    return item


def only_error(path: Path, **kwargs) -> LineError:
    (item,) = read_events(path, **kwargs)
    assert isinstance(item, LineError), item
    return item


@pytest.fixture(params=["orjson", "json"])
def parser(request, monkeypatch):
    """Run the test with the fast parser (when installed) and with the standard library's."""
    if request.param == "json":
        monkeypatch.setattr(audit_reader, "_loads", audit_reader._json_loads)
    elif audit_reader._orjson_loads is None:
        pytest.skip("orjson is not installed")
    return request.param


# The demo organisation's log


def seed_event_count() -> int:
    return sum(1 for line in SEED_LOG.read_text(encoding="utf-8").splitlines() if line.strip())


def test_seed_log_imports_every_event_and_records_the_import(engine):
    expected = seed_event_count()
    assert expected >= 900
    result = run_import(engine, SEED_LOG)
    assert result.ok, result.file_error
    assert (result.imported, result.duplicates, result.bad, result.skipped) == (expected, 0, 0, 0)
    assert result.formats == {"steward": expected}
    assert result.first_at <= result.last_at
    with Session(engine) as session:
        record = session.get(ImportRecord, result.record_id)
        assert record.source == "audit_log"
        assert record.files == [str(SEED_LOG)]
        assert record.counts == {"events": {"created": expected, "unchanged": 0, "rejected": 0, "skipped": 0}}
        trail = session.execute(
            select(AuditEntry).where(AuditEntry.action == "audit_log.import")
        ).scalar_one()
        assert trail.actor == "test"
        assert trail.target == f"import #{record.id}"
        tagged = select(func.count()).where(AuditEvent.import_id == record.id)
        assert session.execute(tagged).scalar_one() == expected


def test_second_import_of_the_seed_log_adds_nothing_and_counts_duplicates(engine):
    expected = seed_event_count()
    run_import(engine, SEED_LOG)
    again = run_import(engine, SEED_LOG)
    assert (again.imported, again.duplicates, again.bad) == (0, expected, 0)
    assert stored_count(engine) == expected


# Bad lines: each named with its line number and skipped, the rest imported


def test_bad_lines_are_reported_by_line_and_good_lines_import(engine, tmp_path, parser):
    path = write_lines(
        tmp_path / "events.jsonl",
        [
            event(event_id="ok-1"),
            '{"ts": "2026-11-20T10:00:00Z", "agent": ',
            event(event_id="e-2", agent=None),
            event(event_id="e-3", decision="maybe"),
            event(event_id="e-4", ts="20 November 2026"),
            event(event_id="e-5", chain_depth=-1),
            event(event_id="e-6", chain_depth=1.5),
            "   ",
            b'{"ts": "2026-11-20T10:00:00Z", "agent": "caf\xe9-bot"}',
            "[1, 2, 3]",
            event(event_id="e-10", tool="rollout"),
            {"timestamp": "2026-11-20T10:00:00Z", "who": "someone"},
            event(event_id="ok-2", decision="deny"),
        ],
    )
    result = run_import(engine, path)
    assert (result.imported, result.bad, result.lines_read) == (2, 10, 13)
    found = {e.line: e.message for e in result.errors}
    assert sorted(found) == [2, 3, 4, 5, 6, 7, 9, 10, 11, 12]
    assert found[2].startswith("invalid JSON")
    assert found[3] == "steward: missing required field 'agent'"
    assert found[4] == "steward: decision 'maybe' is not one of allow, deny, error"
    assert "'20 November 2026' is not an ISO 8601 date and time" in found[5]
    assert found[6] == "steward: chain_depth -1 is not a whole number ≥ 0"
    assert found[7] == "steward: chain_depth 1.5 is not a whole number ≥ 0"
    assert found[9].startswith("byte 0xe9 at column ") and "is not UTF-8" in found[9]
    assert found[10] == "expected a JSON object (one event a line), got a list"
    assert found[11] == "steward: 'tool' 'rollout' is not a tool reference SERVER_ID.TOOL_NAME"
    assert found[12].startswith("cannot tell the format of this line")
    assert str(result.errors[0]) == f"line 2: {found[2]}"
    with Session(engine) as session:
        assert [e.event_id for e in load_events(session)] == ["ok-1", "ok-2"]


def test_json_constants_and_wrong_field_types_are_bad_lines(tmp_path, parser):
    path = write_lines(
        tmp_path / "events.jsonl",
        [
            json.dumps(event()).replace('"chain_depth": 2', '"chain_depth": NaN'),
            event(agent=7),
            event(task=["x"]),
            event(chain_depth=True),
            event(chain_depth="2"),
            event(event_id={"id": 1}),
            event(ts=1763632800),
        ],
    )
    messages = [item.message for item in read_events(path)]
    assert messages[0].startswith("invalid JSON")
    assert messages[1:] == [
        "steward: 'agent' must be a string, got a number",
        "steward: 'task' must be a string or null, got a list",
        "steward: chain_depth True is not a whole number ≥ 0",
        "steward: chain_depth '2' is not a whole number ≥ 0",
        "steward: 'event_id' must be a string or null, got an object",
        "steward: 'ts' must be an ISO 8601 date and time string, got a number",
    ]


def test_values_that_cannot_be_stored_are_bad_lines(tmp_path, parser):
    path = write_lines(
        tmp_path / "events.jsonl",
        [
            event(task="caf\u00e9 \ud83d\ude80"),
            r'{"ts": "2026-11-20T10:00:00Z", "agent": "a\u0000b", "tool": "s.t", "decision": "allow"}',
            event(agent="x" * 501),
            event(chain_depth=2**40),
        ],
    )
    items = list(read_events(path))
    assert isinstance(items[0], Event) and items[0].task == "caf\u00e9 \U0001f680"
    assert [i.line for i in items[1:]] == [2, 3, 4]
    assert items[1].message == "steward: 'agent' contains a NUL character (\\u0000)"
    assert items[2].message == "steward: 'agent' is over 500 characters"
    assert items[3].message == "steward: chain_depth 1099511627776 is over 2,147,483,647"


def test_a_lone_surrogate_escape_is_a_bad_line(tmp_path):
    path = write_lines(
        tmp_path / "events.jsonl",
        [r'{"ts": "2026-11-20T10:00:00Z", "agent": "a\ud800", "tool": "s.t", "decision": "allow"}'],
    )
    error = only_error(path)
    assert error.line == 1
    assert "surrogate" in error.message


def test_a_line_over_the_size_bound_is_skipped_whole(engine, tmp_path):
    huge = json.dumps(event(event_id="huge", task="x" * 200_000))
    path = write_lines(tmp_path / "events.jsonl", [huge, event(event_id="after")])
    result = run_import(engine, path, max_line_bytes=1_000)
    assert result.errors == [LineError(1, "the line is over 1,000 bytes; an audit event is far smaller")]
    assert result.imported == 1
    assert result.lines_read == 2


def test_a_line_at_the_size_bound_imports(tmp_path):
    line = json.dumps(event())
    path = write_lines(tmp_path / "events.jsonl", [line])
    assert isinstance(only_event(path, max_line_bytes=len(line)), Event)
    assert isinstance(only_error(path, max_line_bytes=len(line) - 1), LineError)


def test_a_byte_order_mark_and_crlf_line_ends_are_accepted(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(event()).encode() + b"\r\n")
    assert only_event(path).event_id == "e-1"


def test_only_the_first_errors_are_reported_but_all_are_counted(engine, tmp_path):
    path = write_lines(tmp_path / "events.jsonl", ["not json"] * 5 + [event()])
    result = run_import(engine, path, max_reported_errors=2)
    assert (result.bad, [e.line for e in result.errors], result.imported) == (5, [1, 2], 1)


# The contract format


def test_contract_line_maps_every_field(tmp_path):
    path = write_lines(tmp_path / "events.jsonl", [event(delegated_by="triage-bot")])
    assert only_event(path) == Event(
        event_id="e-1",
        at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        agent="release-bot",
        tool="deploy.rollout",
        decision="allow",
        task="Release v2.3.1",
        approval="appr-1042",
        credential="jit-8f2a",
        chain_depth=2,
        delegated_by="triage-bot",
    )


def test_contract_line_with_only_required_fields_imports(tmp_path):
    line = {k: v for k, v in event().items() if k in ("ts", "agent", "tool", "decision")}
    found = only_event(write_lines(tmp_path / "events.jsonl", [line]))
    assert (found.task, found.approval, found.credential, found.chain_depth, found.delegated_by) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert found.event_id.startswith("h-")


def test_offsets_are_converted_to_utc_and_naive_times_taken_as_utc(tmp_path):
    path = write_lines(
        tmp_path / "events.jsonl",
        [event(ts="2026-11-20T12:00:00+02:00"), event(ts="2026-11-20T10:00:00.250000")],
    )
    first, second = read_events(path)
    assert first.at == datetime(2026, 11, 20, 10, tzinfo=UTC) and first.at.tzinfo is UTC
    assert second.at == datetime(2026, 11, 20, 10, 0, 0, 250000, tzinfo=UTC)


# ContextForge audit_trails rows


def contextforge_row(**overrides) -> dict:
    """An audit_trails row for a tool execution by a service account acting for a user."""
    row = {
        "id": "9b2f6c1e-4a57-4a8e-9a53-0f4d7a1c2b3e",
        "timestamp": "2026-11-20T10:00:00.123456+00:00",
        "correlation_id": "c0ffee00-1111-2222-3333-444455556666",
        "request_id": "req-77",
        "action": "EXECUTE",
        "resource_type": "tool",
        "resource_id": "5e1c3a9d0b7f4e2a8c6d",
        "resource_name": "github.create_issue",
        "user_id": "alice@example.org",
        "user_email": "alice@example.org",
        "team_id": "team-platform",
        "client_ip": "10.0.4.17",
        "user_agent": "mcp-client/1.4",
        "request_path": "/rpc",
        "request_method": "POST",
        "old_values": None,
        "new_values": None,
        "changes": None,
        "data_classification": "internal",
        "requires_review": False,
        "success": True,
        "error_message": None,
        "context": {"server_id": "srv-github"},
        "auth_method": "bearer",
        "acting_as": "ci-bot",
        "delegation_chain": ["ci-bot", "alice@example.org"],
    }
    row.update(overrides)
    return row


def test_contextforge_tool_execution_maps_to_an_event(tmp_path):
    path = write_lines(tmp_path / "cf.jsonl", [contextforge_row()])
    assert only_event(path, source_format="contextforge") == Event(
        event_id="contextforge:9b2f6c1e-4a57-4a8e-9a53-0f4d7a1c2b3e",
        at=datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC),
        agent="ci-bot",
        tool="github.create_issue",
        decision="allow",
        chain_depth=2,
        delegated_by="alice@example.org",
    )


def test_contextforge_direct_call_by_a_user_has_no_delegation(tmp_path):
    row = contextforge_row(acting_as=None, delegation_chain=None, success=False, error_message="timeout")
    found = only_event(write_lines(tmp_path / "cf.jsonl", [row]), source_format="contextforge")
    assert (found.agent, found.decision, found.chain_depth, found.delegated_by) == (
        "alice@example.org",
        "error",
        None,
        None,
    )


def test_contextforge_header_form_of_the_delegation_chain_is_read(tmp_path):
    row = contextforge_row(acting_as=None, user_email=None, user_id="ci-bot", delegation_chain="ci-bot>alice")
    found = only_event(write_lines(tmp_path / "cf.jsonl", [row]), source_format="contextforge")
    assert (found.agent, found.chain_depth, found.delegated_by) == ("ci-bot", 2, "alice")


def test_contextforge_rows_that_are_not_tool_calls_are_skipped(engine, tmp_path):
    rows = [
        contextforge_row(id=1, action="UPDATE", resource_type="server", resource_name="github"),
        contextforge_row(id=2, action="READ"),
        contextforge_row(id=3),
    ]
    result = run_import(engine, write_lines(tmp_path / "cf.jsonl", rows), source_format="contextforge")
    assert (result.imported, result.skipped, result.bad) == (1, 2, 0)


def test_contextforge_tool_name_without_a_server_part_is_a_bad_line(tmp_path):
    path = write_lines(tmp_path / "cf.jsonl", [contextforge_row(resource_name="github-create-issue")])
    error = only_error(path, source_format="contextforge")
    assert "'resource_name' 'github-create-issue' is not SERVER_ID.TOOL_NAME" in error.message
    assert "GATEWAY_TOOL_NAME_SEPARATOR" in error.message


def test_contextforge_row_without_identity_or_outcome_is_a_bad_line(tmp_path):
    path = write_lines(
        tmp_path / "cf.jsonl",
        [
            contextforge_row(acting_as=None, user_email=None, user_id=None),
            contextforge_row(success=None),
            contextforge_row(success="yes"),
        ],
    )
    messages = [e.message for e in read_events(path, source_format="contextforge")]
    assert messages == [
        "contextforge: missing required field 'acting_as', 'user_email' or 'user_id' (who made the call)",
        "contextforge: missing required field 'success'",
        "contextforge: 'success' must be true or false, got 'yes'",
    ]


# agent-governance-toolkit AuditEntry


def agt_entry(**overrides) -> dict:
    """An AgentMesh AuditEntry for a tool invocation, as model_dump() writes it."""
    entry = {
        "entry_id": "audit_4f1c2a9e7b3d5a60",
        "timestamp": "2026-02-18T22:51:04.118204",
        "event_type": "tool_invocation",
        "agent_did": "did:mesh:child222",
        "action": "call_tool",
        "resource": "filesystem.read_file",
        "target_did": None,
        "data": {},
        "outcome": "success",
        "policy_decision": "allow",
        "matched_rule": "allow-read",
        "previous_hash": "",
        "entry_hash": "",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "session_id": "sess-19",
    }
    entry.update(overrides)
    return entry


def test_agt_tool_invocation_maps_to_an_event_with_its_delegation(tmp_path):
    link = json.loads((SAMPLES / "agt__delegation_token_snapshot.json").read_text(encoding="utf-8"))
    path = write_lines(tmp_path / "agt.jsonl", [agt_entry(data={"delegation": link})])
    assert only_event(path, source_format="agt") == Event(
        event_id="agt:audit_4f1c2a9e7b3d5a60",
        at=datetime(2026, 2, 18, 22, 51, 4, 118204, tzinfo=UTC),
        agent="did:mesh:child222",
        tool="filesystem.read_file",
        decision="allow",
        chain_depth=link["depth"] + 1,
        delegated_by="did:mesh:parent111",
    )


@pytest.mark.parametrize(
    ("overrides", "decision"),
    [
        ({}, "allow"),
        ({"event_type": "tool_blocked", "outcome": "denied", "policy_decision": "deny"}, "deny"),
        ({"outcome": "denied"}, "deny"),
        ({"policy_decision": "deny"}, "deny"),
        ({"outcome": "failure"}, "error"),
        ({"outcome": "error"}, "error"),
    ],
)
def test_agt_outcome_and_policy_decision_give_the_decision(tmp_path, overrides, decision):
    path = write_lines(tmp_path / "agt.jsonl", [agt_entry(**overrides)])
    assert only_event(path, source_format="agt").decision == decision


def test_agt_colon_resource_is_read_as_server_and_tool(tmp_path):
    path = write_lines(tmp_path / "agt.jsonl", [agt_entry(resource="tool:filesystem:read")])
    assert only_event(path, source_format="agt").tool == "filesystem.read"


def test_agt_entries_that_are_not_tool_calls_are_skipped_and_bad_ones_named(engine, tmp_path):
    path = write_lines(
        tmp_path / "agt.jsonl",
        [
            agt_entry(entry_id="a1", event_type="trust_handshake"),
            agt_entry(entry_id="a0", event_type=["tool_invocation"]),
            agt_entry(entry_id="a2", outcome="maybe"),
            agt_entry(entry_id="a3", resource="read_file", action="call"),
            agt_entry(entry_id="a4"),
        ],
    )
    result = run_import(engine, path)
    assert (result.imported, result.skipped, result.bad) == (1, 2, 2)
    assert [(e.line, e.message) for e in result.errors] == [
        (3, "agt: outcome 'maybe' is not one of success, failure, denied, error"),
        (4, "agt: 'resource' 'read_file' is not a tool reference SERVER_ID.TOOL_NAME"),
    ]


# lasso xetrack rows


def xetrack_rows() -> list[dict]:
    return json.loads((SAMPLES / "lasso-mcp-gateway__xetrack_events_row.json").read_text(encoding="utf-8"))


def test_xetrack_row_maps_to_an_event_of_the_given_agent(tmp_path):
    path = write_lines(tmp_path / "xt.jsonl", xetrack_rows())
    assert only_event(path, source_format="xetrack", agent="cursor-dev") == Event(
        event_id="xetrack:deab617e-0a45-4950-9de9-3fb549810cf2",
        at=datetime(2025, 4, 17, 17, 12, 48, 233126, tzinfo=UTC),
        agent="cursor-dev",
        tool="filesystem.list_directory",
        decision="allow",
    )


def test_xetrack_error_row_is_an_error_decision(tmp_path):
    (row,) = xetrack_rows()
    path = write_lines(tmp_path / "xt.jsonl", [{**row, "isError": 1}])
    assert only_event(path, source_format="xetrack", agent="cursor-dev").decision == "error"


def test_xetrack_without_an_agent_is_refused(engine, tmp_path):
    path = write_lines(tmp_path / "xt.jsonl", xetrack_rows())
    refused = run_import(engine, path, source_format="xetrack")
    assert refused.file_error == (
        "xetrack rows do not name the agent; import the log with the agent whose gateway wrote it"
    )
    detected = run_import(engine, path)
    assert (detected.imported, detected.bad) == (0, 1)
    assert detected.errors[0].message.startswith("xetrack: xetrack rows do not name the agent")
    assert stored_count(engine) == 0


def test_xetrack_non_tool_capability_is_skipped(tmp_path):
    (row,) = xetrack_rows()
    path = write_lines(tmp_path / "xt.jsonl", [{**row, "capability_type": "resource"}])
    assert list(read_events(path, source_format="xetrack", agent="cursor-dev")) == []


# Auto-detection


def test_auto_detects_the_format_of_each_line(engine, tmp_path):
    path = write_lines(tmp_path / "mixed.jsonl", [event(), contextforge_row(), agt_entry(), *xetrack_rows()])
    result = run_import(engine, path, agent="cursor-dev")
    assert result.formats == {"agt": 1, "contextforge": 1, "steward": 1, "xetrack": 1}
    assert result.imported == 4
    with Session(engine) as session:
        stored = dict(session.execute(select(AuditEvent.event_id, AuditEvent.source_format)).all())
    assert stored["e-1"] == "steward"
    assert stored["xetrack:deab617e-0a45-4950-9de9-3fb549810cf2"] == "xetrack"


def test_a_fixed_format_reads_every_line_as_that_format(tmp_path):
    path = write_lines(tmp_path / "cf.jsonl", [contextforge_row()])
    assert only_error(path, source_format="steward").message == "steward: missing required field 'ts'"


def test_an_unknown_format_name_is_refused():
    with pytest.raises(ValueError, match="unknown audit log format 'splunk'"):
        list(read_events(SEED_LOG, source_format="splunk"))


# Events without an id


def test_events_without_an_id_are_idempotent(engine, tmp_path):
    lines = [event(event_id=None), event(event_id=None, task="Release v2.3.2"), event(event_id=None)]
    path = write_lines(tmp_path / "events.jsonl", lines)
    first = run_import(engine, path)
    assert (first.imported, first.duplicates) == (2, 1)
    again = run_import(engine, path)
    assert (again.imported, again.duplicates) == (0, 3)
    with Session(engine) as session:
        ids = [e.event_id for e in load_events(session)]
    assert len(set(ids)) == 2 and all(i.startswith("h-") for i in ids)


def test_the_same_event_written_differently_gets_the_same_id(tmp_path):
    path = write_lines(
        tmp_path / "events.jsonl",
        [
            event(event_id=None, ts="2026-11-20T12:00:00+02:00"),
            {**event(event_id=None), "extra": "ignored"},
            event(event_id=None, ts="2026-11-20T10:00:01Z"),
        ],
    )
    first, same, later = read_events(path)
    assert first.event_id == same.event_id != later.event_id


# Dry run, file problems, transactions


def test_dry_run_counts_and_writes_nothing(engine, tmp_path):
    run_import(engine, write_lines(tmp_path / "old.jsonl", [event(event_id="e-1")]))
    before = database_state(engine)
    path = write_lines(tmp_path / "new.jsonl", [event(event_id="e-1"), event(event_id="e-2"), "oops"])
    result = run_import(engine, path, dry_run=True)
    assert result.is_dry_run and result.record_id is None
    assert (result.imported, result.duplicates, result.bad) == (1, 1, 1)
    assert database_state(engine) == before


def test_real_import_after_a_dry_run_writes(engine, tmp_path):
    path = write_lines(tmp_path / "new.jsonl", [event(event_id="e-2")])
    run_import(engine, path, dry_run=True)
    assert stored_count(engine) == 0
    assert run_import(engine, path).imported == 1
    assert stored_count(engine) == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.jsonl", "no such file or directory"),
        (lambda d: d, "is a directory; expected a JSON Lines audit log file"),
        (lambda d: write_lines(d / "empty.jsonl", []), "the file is empty; expected one JSON object a line"),
        (lambda d: write_lines(d / "blank.jsonl", ["", "  ", "\t"]), "the file is empty"),
    ],
)
def test_a_path_that_is_not_an_audit_log_is_a_clear_error(engine, tmp_path, make, message):
    before = database_state(engine)
    result = run_import(engine, make(tmp_path))
    assert not result.ok
    assert result.file_error.startswith(message)
    assert result.record_id is None
    assert database_state(engine) == before


def test_a_file_of_events_is_not_a_file_error(engine, tmp_path):
    assert run_import(engine, write_lines(tmp_path / "one.jsonl", ["", event()])).ok


def test_nothing_is_written_when_the_caller_rolls_back(engine, tmp_path):
    before = database_state(engine)
    path = write_lines(tmp_path / "events.jsonl", [event(event_id=f"e-{i}") for i in range(12)])
    with Session(engine) as session:
        result = import_audit_log(session, path=str(path), actor="test", batch_size=5)
        assert result.imported == 12
        session.rollback()
    assert database_state(engine) == before


def test_batches_count_duplicates_within_the_same_file(engine, tmp_path):
    lines = [event(event_id=f"e-{i % 4}") for i in range(11)]
    result = run_import(engine, write_lines(tmp_path / "events.jsonl", lines), batch_size=3)
    assert (result.imported, result.duplicates) == (4, 7)


# Loading events back


def test_load_events_returns_every_event_in_time_order_with_utc_datetimes(engine, tmp_path):
    path = write_lines(
        tmp_path / "events.jsonl",
        [
            event(event_id="b", ts="2026-11-20T10:00:00Z"),
            event(event_id="late", ts="2026-11-20T13:00:00+02:00"),
            event(event_id="a", ts="2026-11-20T10:00:00Z", chain_depth=None, approval=None),
            event(event_id="early", ts="2026-11-19T23:59:59.999999Z"),
        ],
    )
    run_import(engine, path)
    with Session(engine) as session:
        events = load_events(session)
    assert [e.event_id for e in events] == ["early", "a", "b", "late"]
    assert all(e.at.utcoffset() == timedelta(0) for e in events)
    assert events[0].at == datetime(2026, 11, 19, 23, 59, 59, 999999, tzinfo=UTC)
    assert events[3].at == datetime(2026, 11, 20, 11, tzinfo=UTC)
    assert events[1] == Event(
        "a",
        datetime(2026, 11, 20, 10, tzinfo=UTC),
        "release-bot",
        "deploy.rollout",
        "allow",
        task="Release v2.3.1",
        credential="jit-8f2a",
    )


def test_load_events_of_an_empty_store_is_empty(session):
    assert load_events(session) == ()


def test_sqlite_datetimes_are_written_as_the_column_type_writes_them():
    from sqlalchemy.dialects import sqlite

    process = AuditEvent.__table__.c.at.type._cached_bind_processor(sqlite.dialect())
    rng = random.Random(7)
    moments = [datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)]
    for _ in range(5_000):
        at = datetime(1, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(315_537_897_600_000_000))
        moments += [at, at.replace(microsecond=0)]
    for at in moments:
        assert audit_log._sqlite_datetime(at) == process(at), at


def test_the_migrations_create_the_audit_event_table_as_the_model_declares(engine):
    from tests.conftest import schema_differences

    diff = schema_differences(engine)
    assert [d for d in diff if "audit_event" in repr(d)] == []


# A large file: the reader process, and SQLite's secondary indexes built once at the end


def awkward_log(tmp_path: Path) -> Path:
    """Every kind of line an import meets, in several batches: formats, errors, skips, repeats."""
    lines: list = [codecs.BOM_UTF8 + json.dumps(event(event_id="bom-first")).encode()]
    for i in range(40):
        lines.append(event(event_id=f"e-{i % 25}", ts=f"2026-11-20T10:{i:02}:00.{i:06}+02:00"))
        lines.append(contextforge_row(id=f"cf-{i}", success=i % 3 != 0))
        lines.append(agt_entry(entry_id=f"agt-{i}", timestamp=f"2026-11-{10 + i % 9}T22:51:04"))
        lines.append(event(event_id=None, agent=f"anon-{i % 7}"))  # a content id; repeats are one event
    lines += [
        "",
        "{not json",
        "[1, 2]",
        event(decision="maybe"),
        contextforge_row(id="upd-1", action="UPDATE", resource_type="server"),  # skipped: no call
        '{"ts": "2026-11-20T10:00:00Z", "agent": "a\\u0000b", "tool": "s.t", "decision": "allow"}',
        json.dumps(event(event_id="huge", task="x" * 3_000)),  # over max_line_bytes below
        event(event_id="last", ts="1999-01-02T03:04:05.000006Z"),
    ]
    return write_lines(tmp_path / "awkward.jsonl", lines)


def stored_rows(session) -> list[tuple]:
    t = AuditEvent.__table__
    columns = [c for c in t.c if c.name not in ("id", "import_id")]
    return sorted(session.execute(select(*columns)).all(), key=lambda r: r.event_id)


def import_and_roll_back(engine, path: Path, **kwargs) -> tuple[dict, list[tuple]]:
    with Session(engine) as session:
        result = import_audit_log(
            session, path=str(path), actor="test", batch_size=7, max_line_bytes=2_000, **kwargs
        )
        rows = stored_rows(session)
        session.rollback()
    fields = {k: v for k, v in vars(result).items() if k != "record_id"}
    return fields, rows


def test_the_reader_process_imports_what_the_importing_process_would(engine, tmp_path):
    path = awkward_log(tmp_path)
    serial, serial_rows = import_and_roll_back(engine, path, parallel=False)
    parallel, parallel_rows = import_and_roll_back(engine, path, parallel=True)
    assert serial["bad"] == 5 and serial["skipped"] == 1 and serial["duplicates"] > 0
    assert serial["first_at"] == datetime(1999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert parallel == serial
    assert parallel_rows == serial_rows
    assert len(parallel_rows) == serial["imported"]


def test_a_large_file_going_into_sqlite_is_read_by_a_reader_process(engine, tmp_path, monkeypatch):
    path = write_lines(tmp_path / "events.jsonl", [event(event_id=f"e-{i}") for i in range(30)])
    started = []
    real = audit_log._ReaderProcess.__iter__
    monkeypatch.setattr(audit_log._ReaderProcess, "__iter__", lambda self: started.append(1) or real(self))
    assert run_import(engine, path).imported == 30
    assert started == []  # a small file is read here: starting a process would cost more
    monkeypatch.setattr(audit_log, "PARALLEL_MIN_BYTES", path.stat().st_size)
    monkeypatch.setattr(audit_log, "usable_cores", lambda: 1)
    path.write_bytes(path.read_bytes().replace(b'"e-', b'"f-'))
    assert run_import(engine, path).imported == 30
    assert started == []  # one core: the reader would only take turns with the writer
    monkeypatch.setattr(audit_log, "usable_cores", lambda: 2)
    path.write_bytes(path.read_bytes().replace(b'"f-', b'"g-'))
    assert run_import(engine, path).imported == 30
    assert started == ([1] if engine.dialect.name == "sqlite" else [])
    assert stored_count(engine) == 90


@pytest.mark.parametrize(
    "output",
    [b"\x05", (100).to_bytes(8, "little") + b"0123456789"],
    ids=["half a header", "half a frame"],
)
def test_a_reader_that_fails_fails_the_import_with_its_words_and_writes_nothing(
    engine, tmp_path, monkeypatch, output
):
    if engine.dialect.name != "sqlite":
        pytest.skip("the reader process serves SQLite imports")
    broken = tmp_path / "reader.py"
    broken.write_text(f"import sys\nsys.stdout.buffer.write({output!r})\nsys.exit('disk on fire')\n")
    monkeypatch.setattr(audit_log, "READER_SCRIPT", str(broken))
    path = write_lines(tmp_path / "events.jsonl", [event(event_id=f"e-{i}") for i in range(3)])
    before = database_state(engine)
    with pytest.raises(RuntimeError, match="the audit log reader stopped: disk on fire"):
        run_import(engine, path, parallel=True)
    assert database_state(engine) == before


def secondary_indexes(connection) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_event'"
    return {name for (name,) in connection.exec_driver_sql(query)} - {"ix_audit_event_event_id"}


@pytest.fixture
def early_deferral(engine, monkeypatch):
    """Drop SQLite's secondary indexes after 10 events, and note which were there at each batch."""
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite imports build their secondary indexes at the end")
    monkeypatch.setattr(audit_log._Writer, "DEFER_INDEXES_AFTER", 10)
    seen: list[set[str]] = []
    real = audit_log._Writer.insert

    def insert(self, rows):
        new = real(self, rows)
        seen.append(secondary_indexes(self.connection))
        return new

    monkeypatch.setattr(audit_log._Writer, "insert", insert)
    return seen


def test_a_large_sqlite_import_builds_its_secondary_indexes_once_at_the_end(engine, tmp_path, early_deferral):
    path = write_lines(tmp_path / "events.jsonl", [event(event_id=f"e-{i}") for i in range(30)])
    assert run_import(engine, path, batch_size=5).imported == 30
    expected = {"ix_audit_event_at", "ix_audit_event_agent_at"}
    assert early_deferral[0] == expected  # 5 events in: kept
    assert early_deferral[-1] == set()  # 30 in: dropped while the rest went in
    with engine.connect() as connection:
        assert secondary_indexes(connection) == expected
    from tests.conftest import schema_differences

    assert [d for d in schema_differences(engine) if "audit_event" in repr(d)] == []


def test_an_import_that_fails_after_dropping_the_indexes_leaves_them_in_place(
    engine, tmp_path, early_deferral, monkeypatch
):
    path = write_lines(tmp_path / "events.jsonl", [event(event_id=f"e-{i}") for i in range(30)])
    deferred = audit_log._Writer.insert

    def failing(self, rows):
        if self.deferred:
            raise OSError("disk full")
        return deferred(self, rows)

    monkeypatch.setattr(audit_log._Writer, "insert", failing)
    before = database_state(engine)
    # A caller that catches the error and commits what it has still has the indexes.
    with Session(engine) as session:
        with pytest.raises(OSError, match="disk full"):
            import_audit_log(session, path=str(path), actor="test", batch_size=5)
        assert secondary_indexes(session.connection()) == {"ix_audit_event_at", "ix_audit_event_agent_at"}
        session.rollback()
    assert database_state(engine) == before
    with engine.connect() as connection:
        assert secondary_indexes(connection) == {"ix_audit_event_at", "ix_audit_event_agent_at"}


def test_the_reader_spells_the_formats_and_decisions_as_the_models_do():
    from app.models.runtime import AuditLogFormat, Decision

    assert tuple(f.value for f in AuditLogFormat) == (
        audit_reader.STEWARD,
        audit_reader.CONTEXTFORGE,
        audit_reader.AGT,
        audit_reader.XETRACK,
    )
    assert {d.value for d in Decision} == audit_reader.DECISIONS


def test_the_reader_imports_nothing_of_the_app():
    import subprocess
    import sys

    code = (
        f"import runpy, sys; runpy.run_path({audit_reader.__file__!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('app', 'sqlalchemy', 'flask')))"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
