"""Write seed/audit/events.jsonl: a week of gateway audit events for the demo organisation.

Deterministic (fixed seed, stdlib only). Run: python seed/audit/generate.py
The deliberate violations are listed in VIOLATIONS and in seed/README.md.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 11, 16, tzinfo=UTC)
# Routine traffic: (agent, tool, task, calls per day, chain depth)
ROUTINE = [
    ("support-bot", "jira.search_issues", "Answer a customer question", 30, 1),
    ("support-bot", "vectorstore.search", "Answer a customer question", 30, 1),
    ("support-bot", "jira.create_ticket", "Open a service ticket", 6, 2),
    ("incident-triage", "pagerduty.list_incidents", "Triage open incidents", 12, 1),
    ("incident-triage", "pagerduty.acknowledge_incident", "Acknowledge an incident", 4, 2),
    ("incident-triage", "slack.post_message", "Notify the on-call channel", 4, 2),
    ("release-bot", "deploy.status", "Check rollout status", 6, 1),
    ("data-pipeline-transform", "postgres.query", "Build reporting tables", 8, 1),
    ("data-pipeline-transform", "vectorstore.upsert_documents", "Refresh knowledge embeddings", 2, 2),
    ("research-planner", "webfetch.fetch", "Research question RQ-88", 5, 1),
    ("research-worker-web", "webfetch.fetch", "Research question RQ-88", 6, 2),
    ("research-worker-code", "github.search_code", "Research question RQ-88", 3, 2),
    ("code-review-bot", "github.get_file", "Review a pull request", 10, 1),
    ("code-review-bot", "github.search_code", "Review a pull request", 5, 1),
]
# Approved sensitive calls, matching seed/approvals.yaml: (approval, agent, tool, task, credential, time)
APPROVED = [
    ("appr-1042", "release-bot", "github.merge_pull_request", "Merge release PR #2291", "jit-7c1df2", "2026-11-16T09:06:10Z"),
    ("appr-1041", "release-bot", "deploy.rollout", "Release checkout-service v4.12.0", "jit-7c1e09", "2026-11-16T09:14:02Z"),
    ("appr-1043", "finance-assistant", "hr.update_compensation", "Apply November merit increases (batch 11-2026)", "jit-91ab33", "2026-11-17T14:05:40Z"),
    ("appr-1044", "data-pipeline-ingest", "postgres.execute", "Load nightly batch 2026-11-17", "jit-55f0a1", "2026-11-18T02:00:00Z"),
    ("appr-1045", "research-worker-data", "postgres.execute", "Create scratch table for churn study RQ-88", "jit-2b9c40", "2026-11-18T10:25:13Z"),
    ("appr-1046", "release-bot", "deploy.rollback", "Roll back search-api v2.7.1 after error spike", "jit-0d4e7a", "2026-11-19T22:43:51Z"),
    ("appr-1047", "qa-agent", "filesystem.write_file", "Write regression report for build 8812", "jit-6a1177", "2026-11-20T08:02:30Z"),
    ("appr-1048", "release-bot", "deploy.rollout", "Release payments-gateway v1.9.3", "jit-8e2f19", "2026-11-20T10:04:00Z"),
    ("appr-1051", "release-bot", "deploy.rollout", "Release checkout-service v4.12.1", "jit-a9c300", "2026-11-22T09:02:12Z"),
]
# The deliberate violations a runtime-evidence check must find, one event each (plus the silent agent).
VIOLATIONS = [
    {"event_id": "viol-no-approval", "ts": "2026-11-18T16:20:00Z", "agent": "release-bot-staging", "tool": "deploy.rollout",
     "decision": "allow", "task": "Roll out release candidate rc-4.13", "approval": None, "credential": "jit-deploy-staging",
     "chain_depth": 1, "note": "sensitive call with no approval"},
    {"event_id": "viol-expired-approval", "ts": "2026-11-20T11:45:00Z", "agent": "release-bot", "tool": "deploy.rollout",
     "decision": "allow", "task": "Release payments-gateway v1.9.3", "approval": "appr-1048", "credential": "jit-8e2f19",
     "chain_depth": 1, "note": "appr-1048 expired at 10:30"},
    {"event_id": "viol-chain-depth", "ts": "2026-11-19T03:12:00Z", "agent": "data-pipeline-ingest", "tool": "postgres.execute",
     "decision": "allow", "task": "Load nightly batch 2026-11-18", "approval": "appr-1044", "credential": "jit-55f0a1",
     "chain_depth": 4, "note": "policy data-pipeline-writes bounds chain depth at 2 (and appr-1044 had expired)"},
    {"event_id": "viol-expired-credential", "ts": "2026-11-21T09:00:00Z", "agent": "legacy-etl", "tool": "postgres.query",
     "decision": "allow", "task": "Nightly export", "credential": "old-chatbot-token", "chain_depth": 1,
     "note": "credential revoked 2026-05-01; agent retired"},
    {"event_id": "viol-shadow-1", "ts": "2026-11-19T13:37:00Z", "agent": "shadow-gpt-helper", "tool": "webfetch.fetch",
     "decision": "allow", "task": "Summarise competitor pricing", "chain_depth": 1, "note": "agent not in the inventory"},
    {"event_id": "viol-shadow-2", "ts": "2026-11-19T13:38:10Z", "agent": "shadow-gpt-helper", "tool": "slack.post_message",
     "decision": "deny", "task": "Post summary to #sales", "chain_depth": 2, "note": "agent not in the inventory"},
    {"event_id": "viol-undeclared-tool", "ts": "2026-11-21T15:05:00Z", "agent": "support-bot", "tool": "hr.lookup_employee",
     "decision": "deny", "task": "Look up the customer's account manager", "chain_depth": 2,
     "note": "support-bot does not list hr.lookup_employee"},
]


def events() -> list[dict]:
    rng = random.Random(20261116)
    out = []
    for day in range(7):
        for agent, tool, task, per_day, depth in ROUTINE:
            for _ in range(per_day):
                ts = START + timedelta(days=day, seconds=rng.randrange(7 * 3600, 20 * 3600))
                out.append({"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "agent": agent, "tool": tool, "decision": "allow",
                            "task": task, "approval": None, "credential": None, "chain_depth": depth,
                            "delegated_by": "research-planner" if agent.startswith("research-worker") else None})
    for approval, agent, tool, task, credential, ts in APPROVED:
        out.append({"ts": ts, "agent": agent, "tool": tool, "decision": "allow", "task": task, "approval": approval,
                    "credential": credential, "chain_depth": 1, "delegated_by": None})
    for violation in VIOLATIONS:
        event = {k: v for k, v in violation.items() if k != "note"}
        event.setdefault("delegated_by", None)
        out.append(event)
    out.sort(key=lambda e: (e["ts"], e["agent"], e["tool"]))
    for i, event in enumerate(out, 1):
        event.setdefault("event_id", f"e-{i:05d}")
        if not event["event_id"].startswith("viol-"):
            event["event_id"] = f"e-{i:05d}"
    return out


def main() -> None:
    path = Path(__file__).with_name("events.jsonl")
    with path.open("w", encoding="utf-8") as handle:
        for event in events():
            handle.write(json.dumps(event, separators=(",", ":")) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
