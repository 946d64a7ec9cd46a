"""Write a deterministic synthetic organisation at a given scale: contract inventory files and an audit log.

    python bench/generate.py --agents 10000 --out DIR [--seed 7] [--format yaml|json]

Per agent the organisation has (scale L is --agents 10000):

    0.1 MCP servers (20 tools each, so 2 tools per agent), 2 credentials, 1 policy,
    0.5 approvals and 100 audit events.

DIR receives agents/, mcp_servers/, credentials/, policies/ and approvals/ (files of at most
FILE_ENTRIES entries, well under the 50 MB import limit) and events.jsonl (one gateway event a line,
ordered by time). The same arguments give the same bytes: one random.Random(seed) drives every
choice and every date is relative to REFERENCE_NOW, not to the clock; evaluate with
now=REFERENCE_NOW (bench/run.py does) so that the audit log falls inside the monitoring window.

The share of gaps imitates seed/ (a realistic organisation, mostly well governed, with a long tail of
problems): see GAPS for the rates. Importable: generate(out, agents=N) returns the counts written.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REFERENCE_NOW = datetime(2026, 12, 1, tzinfo=UTC)
SEED = 7
SERVERS_PER_AGENT = 0.1
TOOLS_PER_SERVER = 20
TOOLS_PER_AGENT = 10
CREDENTIALS_PER_AGENT = 2
APPROVALS_PER_AGENT = 0.5
EVENTS_PER_AGENT = 100
FILE_ENTRIES = 2_000
EVENT_DAYS = 7
DOMAIN = "acme.example"

# The probability of each deliberate gap, per subject.
GAPS = {
    "agent_no_owner": 0.03,
    "agent_no_purpose": 0.05,
    "agent_unattested": 0.08,
    "agent_weak_identity": 0.03,
    "agent_review_overdue": 0.15,
    "agent_network_reach": 0.04,
    "agent_unbounded_delegation": 0.05,
    "agent_shared_identity": 0.01,
    "server_no_gateway": 0.05,
    "server_no_auth": 0.02,
    "server_audience_unchecked": 0.08,
    "server_token_passthrough": 0.01,
    "server_unpinned": 0.10,
    "server_auto_approve_all": 0.02,
    "tool_auto_approved": 0.02,
    "tool_definition_drift": 0.02,
    "credential_long_lived": 0.12,
    "credential_rotation_overdue": 0.06,
    "credential_broad_scope": 0.04,
    "credential_plaintext": 0.03,
    "credential_no_audience": 0.05,
    "credential_shared": 0.01,
    "policy_static": 0.05,
    "policy_tool_missing": 0.30,
    "policy_no_approval": 0.12,
    "policy_no_jit": 0.20,
    "policy_no_intents": 0.15,
    "policy_stale_review": 0.05,
    "approval_untraceable": 0.05,
    "event_unapproved_sensitive": 0.002,
    "event_chain_too_deep": 0.001,
    "event_undeclared_tool": 0.001,
    "event_unknown_agent": 0.0005,
}

TEAMS = [
    "platform",
    "sre",
    "data-platform",
    "customer-success",
    "finance-ops",
    "security",
    "research",
    "growth",
    "payments",
    "logistics",
    "hr-systems",
    "legal-ops",
    "devex",
    "ml-infra",
    "marketing",
    "sales-ops",
    "support-tools",
    "identity",
    "billing",
    "analytics",
]
FIRST = [
    "maya",
    "jonas",
    "priya",
    "tomas",
    "alice",
    "bob",
    "carol",
    "dmitri",
    "elena",
    "farah",
    "george",
    "hana",
    "ivan",
    "julia",
    "kofi",
    "lena",
    "marco",
    "nora",
    "omar",
    "paula",
    "quinn",
    "rafael",
    "sofia",
    "taro",
    "uma",
    "victor",
    "wen",
    "ximena",
    "yusuf",
    "zoe",
]
LAST = [
    "chen",
    "weber",
    "raman",
    "novak",
    "smith",
    "jones",
    "garcia",
    "kim",
    "okafor",
    "rossi",
    "silva",
    "tanaka",
    "muller",
    "dubois",
    "ivanova",
    "haddad",
    "larsen",
    "nakamura",
    "patel",
    "costa",
]
# Server families: (kind, tools as (name, sensitivity, read_only, destructive, data classes)).
FAMILIES = {
    "github": [
        ("search_code", "low", True, False, ["source_code"]),
        ("get_file", "low", True, False, ["source_code"]),
        ("create_issue", "medium", False, False, []),
        ("create_pull_request", "medium", False, False, ["source_code"]),
        ("merge_pull_request", "high", False, True, ["source_code"]),
        ("delete_branch", "high", False, True, []),
    ],
    "jira": [
        ("search_issues", "low", True, False, ["customer_data"]),
        ("get_issue", "low", True, False, []),
        ("create_ticket", "medium", False, False, ["customer_data"]),
        ("transition_issue", "medium", False, False, []),
        ("delete_issue", "high", False, True, []),
    ],
    "postgres": [
        ("query", "medium", True, False, ["pii"]),
        ("explain", "low", True, False, []),
        ("execute", "critical", False, True, ["pii"]),
        ("create_table", "high", False, True, []),
    ],
    "slack": [
        ("read_channel", "low", True, False, ["internal"]),
        ("post_message", "medium", False, False, ["internal"]),
        ("create_channel", "medium", False, False, []),
        ("archive_channel", "high", False, True, []),
    ],
    "deploy": [
        ("status", "low", True, False, []),
        ("rollout", "critical", False, True, []),
        ("rollback", "critical", False, True, []),
        ("scale", "high", False, True, []),
    ],
    "hr": [
        ("lookup_employee", "high", True, False, ["pii"]),
        ("update_compensation", "critical", False, True, ["pii", "financial"]),
        ("list_openings", "low", True, False, []),
    ],
    "vectorstore": [
        ("search", "low", True, False, ["internal"]),
        ("upsert_documents", "medium", False, False, ["internal"]),
        ("delete_collection", "high", False, True, []),
    ],
    "filesystem": [
        ("read_file", "low", True, False, []),
        ("write_file", "high", False, True, []),
        ("list_directory", "low", True, False, []),
    ],
    "webfetch": [("fetch", "medium", True, False, []), ("screenshot", "low", True, False, [])],
    "pagerduty": [
        ("list_incidents", "low", True, False, []),
        ("acknowledge_incident", "medium", False, False, []),
        ("create_incident", "medium", False, False, []),
    ],
}
PURPOSES = [
    "Triage incoming {x} and route them to the owning team.",
    "Answer questions about {x} from the knowledge base.",
    "Keep {x} in sync between systems every night.",
    "Prepare weekly reports on {x} for the team lead.",
    "Review changes to {x} and flag risky ones for a human.",
    "Roll out approved changes to {x} and roll them back on error.",
]
SUBJECTS = [
    "support tickets",
    "release pull requests",
    "incidents",
    "payroll batches",
    "customer accounts",
    "data pipelines",
    "vendor invoices",
    "access requests",
    "research questions",
    "build failures",
]


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Counts:
    """How many entries of each kind a generation wrote."""

    agents: int
    mcp_servers: int
    tools: int
    credentials: int
    policies: int
    approvals: int
    events: int


class _Org:
    """One synthetic organisation, built in memory from a seed, then written out."""

    def __init__(self, agents: int, seed: int):
        self.rng = random.Random(seed)
        self.n_agents = agents
        self.n_servers = max(1, round(agents * SERVERS_PER_AGENT))
        self.servers: list[dict] = []
        self.agents: list[dict] = []
        self.credentials: list[dict] = []
        self.policies: list[dict] = []
        self.approvals: list[dict] = []
        self.sensitive: set[str] = set()

    def gap(self, name: str) -> bool:
        return self.rng.random() < GAPS[name]

    def person(self) -> str:
        return f"{self.rng.choice(FIRST)}.{self.rng.choice(LAST)}@{DOMAIN}"

    def build(self) -> None:
        self._build_servers()
        self._build_agents()
        self._build_policies()
        self._build_approvals()

    def _build_servers(self) -> None:
        rng = self.rng
        families = sorted(FAMILIES)
        for j in range(self.n_servers):
            family = families[j % len(families)]
            sid = f"{family}-{j:04d}"
            remote = rng.random() < 0.9
            server: dict = {
                "id": sid,
                "name": f"{family.title()} MCP #{j}",
                "owner": f"{family}-owners@{DOMAIN}",
            }
            if remote:
                server["transport"] = "http" if rng.random() < 0.8 else "sse"
                server["url"] = f"https://{sid}.mcp.{DOMAIN}/mcp"
                server["auth"] = (
                    "none"
                    if self.gap("server_no_auth")
                    else rng.choice(["oauth2", "oauth2", "mtls", "workload", "static_token"])
                )
                server["audience_validated"] = not self.gap("server_audience_unchecked")
                if self.gap("server_token_passthrough"):
                    server["token_passthrough"] = True
            else:
                server["transport"] = "stdio"
                server["command"] = "npx"
                server["args"] = ["-y", f"@acme/mcp-{family}"]
            server["package"] = f"@acme/mcp-{family}"
            server["version"] = "latest" if self.gap("server_unpinned") else f"{1 + j % 4}.{j % 10}.{j % 7}"
            if not self.gap("server_no_gateway"):
                server["gateway"] = f"agentgateway-{'prod' if j % 3 else 'shared'}"
            if self.gap("server_auto_approve_all"):
                server["auto_approve_all"] = True
            server["tools"] = self._tools(sid, family)
            self.servers.append(server)

    def _tools(self, sid: str, family: str) -> list[dict]:
        rng = self.rng
        base = FAMILIES[family]
        tools = []
        for k in range(TOOLS_PER_SERVER):
            name, sensitivity, read_only, destructive, data_classes = base[k % len(base)]
            if k >= len(base):
                name = f"{name}_{k // len(base) + 1}"
            tool: dict = {
                "name": name,
                "description": f"{name.replace('_', ' ').capitalize()} on {sid}",
                "sensitivity": sensitivity,
                "annotations": {"readOnlyHint": read_only, "destructiveHint": destructive},
            }
            if data_classes:
                tool["data_classes"] = data_classes
            if k % 5 == 0:
                tool["input_schema"] = {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                    "required": ["query"],
                }
                # The reviewed hash is that of another definition: the tool changed after its review.
                if self.gap("tool_definition_drift"):
                    tool["reviewed_definition_hash"] = "sha256:" + f"{rng.getrandbits(256):064x}"
                    tool["definition_reviewed_at"] = _day(REFERENCE_NOW - timedelta(days=40))
            if self.gap("tool_auto_approved"):
                tool["auto_approved"] = True
            if sensitivity in ("high", "critical") or destructive:
                self.sensitive.add(f"{sid}.{name}")
            tools.append(tool)
        return tools

    def _build_agents(self) -> None:
        rng = self.rng
        n = self.n_agents
        environments = ["production"] * 6 + ["staging"] * 3 + ["development"]
        for i in range(n):
            aid = f"agent-{i:05d}"
            team = TEAMS[i % len(TEAMS)]
            environment = rng.choice(environments)
            status = "active" if rng.random() < 0.93 else rng.choice(["suspended", "retired"])
            agent: dict = {"id": aid, "name": f"{team.replace('-', ' ').title()} agent {i}"}
            if not self.gap("agent_no_owner"):
                agent["owner"] = self.person()
            agent["team"] = team
            agent["environment"] = environment
            if status != "active":
                agent["status"] = status
            autonomy = rng.choice(["autonomous", "supervised", "supervised", "assistive"])
            if autonomy != "supervised":
                agent["autonomy"] = autonomy
            if not self.gap("agent_no_purpose"):
                agent["purpose"] = rng.choice(PURPOSES).format(x=rng.choice(SUBJECTS))
            kind = rng.choice(["api_key", "none"]) if self.gap("agent_weak_identity") else "workload"
            identity: dict = {"kind": kind}
            if kind == "workload":
                shared = i > 0 and self.gap("agent_shared_identity")
                owner_ns = f"agent-{i - 1:05d}" if shared else aid
                identity["id"] = f"spiffe://{DOMAIN}/ns/{team}/sa/{owner_ns}"
                identity["attested"] = not self.gap("agent_unattested")
            agent["identity"] = identity
            # TOOLS_PER_AGENT refs from 2 servers: its home server and one other.
            home = (i * 7) % self.n_servers
            picked_servers = sorted(
                {home, (home + 1 + rng.randrange(max(1, self.n_servers - 1))) % self.n_servers}
            )
            tools: list[str] = []
            for s in picked_servers:
                server = self.servers[s]
                names = [t["name"] for t in server["tools"]]
                for name in rng.sample(names, TOOLS_PER_AGENT // 2):
                    tools.append(f"{server['id']}.{name}")
            agent["tools"] = tools
            agent["credentials"] = [f"cred-{i:05d}-{c}" for c in range(CREDENTIALS_PER_AGENT)]
            if i > 0 and self.gap("credential_shared"):
                agent["credentials"].append(f"cred-{i - 1:05d}-0")
            if self.gap("agent_network_reach"):
                agent["network_reach"] = [f"s3://acme-{team}-raw"]
            if autonomy == "autonomous" or rng.random() < 0.1:
                if i + 1 < n and rng.random() < 0.3:
                    agent["delegates_to"] = [f"agent-{i + 1:05d}"]
                if not self.gap("agent_unbounded_delegation"):
                    agent["max_delegation_depth"] = rng.choice([0, 1, 2])
            created = REFERENCE_NOW - timedelta(days=rng.randrange(60, 900))
            agent["created_at"] = _day(created)
            reviewed_days = (
                rng.randrange(95, 400) if self.gap("agent_review_overdue") else rng.randrange(1, 85)
            )
            agent["last_reviewed_at"] = _day(REFERENCE_NOW - timedelta(days=reviewed_days))
            self.agents.append(agent)
            self._credentials(i, agent)

    def _credentials(self, i: int, agent: dict) -> None:
        rng = self.rng
        for c in range(CREDENTIALS_PER_AGENT):
            cid = f"cred-{i:05d}-{c}"
            if c == 0:
                credential: dict = {
                    "id": cid,
                    "kind": "workload_svid",
                    "issuer": f"spire.{DOMAIN}",
                    "ttl_seconds": 3600,
                    "storage": "kms",
                }
            else:
                credential = {
                    "id": cid,
                    "kind": rng.choice(["jit_token", "oauth_refresh", "api_key"]),
                    "issuer": f"vault.{DOMAIN}",
                    "storage": "vault",
                }
                if self.gap("credential_long_lived"):
                    credential["kind"] = "static_token"
                else:
                    credential["ttl_seconds"] = rng.choice([300, 900, 1800])
                scopes = ["*"] if self.gap("credential_broad_scope") else ["read", "write:tickets"]
                credential["scopes"] = scopes
                if self.gap("credential_plaintext"):
                    credential["storage"] = rng.choice(["plaintext_config", "env_file"])
                rotated = (
                    rng.randrange(100, 400)
                    if self.gap("credential_rotation_overdue")
                    else rng.randrange(1, 80)
                )
                credential["last_rotated_at"] = _day(REFERENCE_NOW - timedelta(days=rotated))
                credential["fingerprint"] = f"sha256:{rng.getrandbits(48):012x}"
            if not self.gap("credential_no_audience"):
                credential["audience"] = f"agentgateway-prod.{DOMAIN}"
            if agent.get("status") == "retired" and rng.random() < 0.5:
                credential["revoked_at"] = _day(REFERENCE_NOW - timedelta(days=rng.randrange(1, 60)))
            self.credentials.append(credential)

    def _build_policies(self) -> None:
        rng = self.rng
        for agent in self.agents:
            i = int(agent["id"].split("-")[1])
            tools = [t for t in agent["tools"] if not self.gap("policy_tool_missing")]
            sensitive = [t for t in tools if t in self.sensitive]
            policy: dict = {
                "id": f"pol-{i:05d}",
                "description": f"What {agent['id']} may call.",
                "owner": agent.get("owner") or f"{agent['team']}-leads@{DOMAIN}",
                "engine": rng.choice(["opa", "cedar", "gateway"]),
                "evaluation": "static" if self.gap("policy_static") else "runtime",
                "effect": "allow",
                "subjects": [agent["id"]],
                "tools": tools or [agent["tools"][0]],
            }
            if sensitive:
                if not self.gap("policy_no_approval"):
                    policy["require_approval"] = True
                    policy["approvers"] = [f"{agent['team']}-approvers@{DOMAIN}"]
                if not self.gap("policy_no_intents"):
                    policy["intents"] = [rng.choice(PURPOSES).format(x=rng.choice(SUBJECTS)).rstrip(".")]
                if not self.gap("policy_no_jit"):
                    policy["jit_credential_ttl_seconds"] = rng.choice([300, 600, 900])
            policy["max_chain_depth"] = rng.choice([2, 3, 5])
            policy["rate_limit_per_minute"] = rng.choice([30, 60, 120])
            stale = rng.randrange(190, 500) if self.gap("policy_stale_review") else rng.randrange(1, 170)
            policy["last_reviewed_at"] = _day(REFERENCE_NOW - timedelta(days=stale))
            self.policies.append(policy)
        # A handful of organisation-wide rules, as a gateway team writes them.
        self.policies.append(
            {
                "id": "org-deny-hr-writes",
                "description": "Nobody but HR agents writes compensation.",
                "owner": f"security@{DOMAIN}",
                "engine": "gateway",
                "evaluation": "runtime",
                "effect": "deny",
                "subjects": ["*"],
                "tools": ["hr-*.update_compensation"],
                "last_reviewed_at": _day(REFERENCE_NOW),
            }
        )
        self.policies.append(
            {
                "id": "org-read-search",
                "description": "Every agent may search the knowledge base.",
                "owner": f"security@{DOMAIN}",
                "engine": "gateway",
                "evaluation": "runtime",
                "effect": "allow",
                "subjects": ["*"],
                "tools": ["vectorstore-*.search"],
                "last_reviewed_at": _day(REFERENCE_NOW),
            }
        )

    def _build_approvals(self) -> None:
        rng = self.rng
        count = round(self.n_agents * APPROVALS_PER_AGENT)
        candidates = [(a["id"], t) for a in self.agents for t in a["tools"] if t in self.sensitive]
        rng.shuffle(candidates)
        for k, (agent_id, tool) in enumerate(candidates[:count]):
            approved_at = REFERENCE_NOW - timedelta(
                days=rng.randrange(0, EVENT_DAYS), seconds=rng.randrange(86_400)
            )
            approval: dict = {
                "id": f"appr-{k:06d}",
                "agent": agent_id,
                "tool": tool,
                "task": f"Change request CR-{10_000 + k}",
            }
            if not self.gap("approval_untraceable"):
                approval["approved_by"] = self.person()
                approval["credential_issued"] = f"jit-{rng.getrandbits(32):08x}"
            approval["approved_at"] = _iso(approved_at)
            approval["expires_at"] = _iso(approved_at + timedelta(hours=rng.choice([1, 2, 8])))
            self.approvals.append(approval)

    def events(self):
        """The audit log, as (timestamp, event) pairs in time order; one pass, generated per agent."""
        rng = self.rng
        window = EVENT_DAYS * 86_400
        start = REFERENCE_NOW - timedelta(days=EVENT_DAYS)
        approvals_by_pair: dict[tuple[str, str], dict] = {}
        for approval in self.approvals:
            approvals_by_pair.setdefault((approval["agent"], approval["tool"]), approval)
        policy_depth = {
            p["subjects"][0]: p.get("max_chain_depth") for p in self.policies if p["id"].startswith("pol-")
        }
        # Tuples, not dicts, until written: a million events stay a few hundred MB.
        out: list[tuple] = []
        total = self.n_agents * EVENTS_PER_AGENT
        all_tools = [f"{s['id']}.{t['name']}" for s in self.servers for t in s["tools"]]
        for agent in self.agents:
            tools = agent["tools"][:1] if agent.get("status") == "retired" else agent["tools"]
            depth_bound = policy_depth.get(agent["id"]) or 3
            for _ in range(EVENTS_PER_AGENT):
                agent_id, tool = agent["id"], rng.choice(tools)
                offset = rng.randrange(window)
                decision, task, approval_id = "allow", "Routine call", None
                credential = agent["credentials"][0]
                depth = rng.randint(1, depth_bound)
                approval = approvals_by_pair.get((agent_id, tool))
                if tool in self.sensitive:
                    if approval is not None and not self.gap("event_unapproved_sensitive"):
                        at = datetime.fromisoformat(approval["approved_at"].replace("Z", "+00:00"))
                        offset = int((at - start).total_seconds()) + rng.randrange(60, 3000)
                        task, approval_id = approval["task"], approval["id"]
                        credential = approval.get("credential_issued")
                    else:
                        decision = "deny" if rng.random() < 0.9 else "allow"
                if self.gap("event_chain_too_deep"):
                    depth = depth_bound + 2
                if self.gap("event_undeclared_tool"):
                    tool, decision = rng.choice(all_tools), "deny"
                if self.gap("event_unknown_agent"):
                    agent_id = f"shadow-{rng.randrange(max(1, self.n_agents // 100)):04d}"
                    credential = None
                offset = min(max(offset, 0), window - 1)
                out.append((offset, agent_id, tool, decision, task, approval_id, credential, depth))
        out.sort(key=lambda e: (e[0], e[1], e[2]))
        assert len(out) == total
        for k, (offset, agent_id, tool, decision, task, approval_id, credential, depth) in enumerate(out):
            yield {
                "ts": _iso(start + timedelta(seconds=offset)),
                "agent": agent_id,
                "tool": tool,
                "decision": decision,
                "task": task,
                "approval": approval_id,
                "credential": credential,
                "chain_depth": depth,
                "delegated_by": None,
                "event_id": f"ev-{k:08d}",
            }


def _write_kind(out: Path, kind: str, entries: list[dict], fmt: str) -> None:
    folder = out / kind
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for part, start in enumerate(range(0, len(entries), FILE_ENTRIES), 1):
        chunk = entries[start : start + FILE_ENTRIES]
        path = folder / f"{kind}-{part:03d}.{fmt}"
        with path.open("w", encoding="utf-8") as handle:
            if fmt == "json":
                json.dump({kind: chunk}, handle, indent=1, sort_keys=False)
                handle.write("\n")
            else:
                handle.write(f"# Synthetic organisation (bench/generate.py): {kind}, part {part}.\n{kind}:\n")
                for entry in chunk:
                    _write_yaml_entry(handle, entry)


def _write_yaml_entry(handle, entry: dict) -> None:
    # Block style per entry, flow (JSON) values: valid YAML, like the seed's files, and fast to write.
    first = True
    for key, value in entry.items():
        prefix = "  - " if first else "    "
        first = False
        if key == "tools" and value and isinstance(value[0], dict):
            handle.write(f"{prefix}tools:\n")
            for tool in value:
                handle.write(f"      - {json.dumps(tool, ensure_ascii=False)}\n")
        else:
            handle.write(f"{prefix}{key}: {json.dumps(value, ensure_ascii=False)}\n")


def generate(
    out: Path | str, *, agents: int, seed: int = SEED, fmt: str = "yaml", events: bool = True
) -> Counts:
    """Write the organisation of this many agents into out; the same arguments give the same bytes."""
    if agents < 1:
        raise ValueError("agents must be at least 1")
    if fmt not in ("yaml", "json"):
        raise ValueError("fmt must be yaml or json")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    org = _Org(agents, seed)
    org.build()
    for kind, entries in (
        ("agents", org.agents),
        ("mcp_servers", org.servers),
        ("credentials", org.credentials),
        ("policies", org.policies),
        ("approvals", org.approvals),
    ):
        _write_kind(out, kind, entries, fmt)
    written = 0
    if events:
        with (out / "events.jsonl").open("w", encoding="utf-8") as handle:
            for event in org.events():
                handle.write(json.dumps(event, separators=(",", ":")) + "\n")
                written += 1
    return Counts(
        agents=len(org.agents),
        mcp_servers=len(org.servers),
        tools=sum(len(s["tools"]) for s in org.servers),
        credentials=len(org.credentials),
        policies=len(org.policies),
        approvals=len(org.approvals),
        events=written,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, required=True, help="number of agents (scale L: 10000)")
    parser.add_argument("--out", required=True, help="directory to write the inventory and events.jsonl into")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--format", dest="fmt", choices=["yaml", "json"], default="yaml")
    parser.add_argument("--no-events", action="store_true", help="write the inventory only")
    args = parser.parse_args(argv)
    counts = generate(args.out, agents=args.agents, seed=args.seed, fmt=args.fmt, events=not args.no_events)
    print(
        f"wrote {args.out}: {counts.agents} agents, {counts.mcp_servers} MCP servers, {counts.tools} tools, "
        f"{counts.credentials} credentials, {counts.policies} policies, {counts.approvals} approvals, "
        f"{counts.events} events (evaluate with now={_iso(REFERENCE_NOW)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
