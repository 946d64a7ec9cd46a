"""build_context(): everything an evidence report shows, as plain dataclasses of primitives.

The PDF and the workbook render from the same context, so they cannot disagree. The context
is built from one evaluation run: its requirement statuses, scores and check counts; the
findings, exceptions and attestations as they stand; and the outcome of every check on every
subject, re-run over the same inventory at the run's own time (the run stores only counts).
"""

from __future__ import annotations

import json
import marshal
import os
import tempfile
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlmodel import Session

from app.catalog import SEVERITY_RANK, Catalog, Framework
from app.checks import DOMAIN_OF, REGISTRY, Outcome, load_checks
from app.evaluation import attribute, framework_score, snapshot_settings
from app.incremental import REACH, Reach, event_stats, partition_of
from app.inventory.audit_log import load_events
from app.inventory.store import load_inventory, paused_gc
from app.mappings import RELATIONSHIP_LABELS
from app.metrics import FindingMetrics, finding_metrics
from app.models.assessment import (
    ACTIVE_STATUSES,
    Attestation,
    CatalogVersion,
    EvaluationRun,
    Finding,
    FindingEvent,
    RequirementStatus,
    RiskAcceptance,
)
from app.models.reporting import Report
from app.models.runtime import AuditEvent
from app.snapshot import Snapshot

FINDINGS_PER_CHECK = 100
TREND_POINTS = 24
TOP_GAPS = 10
METRICS_NOTE = (
    "From every finding's history up to the report's time. Days open count from the finding's opening, or "
    "from its last reopening; a remediation runs from an opening (or reopening) to the resolution after it; "
    "a regression is a finding failing again after it was resolved, and it stayed clean from that resolution "
    "to the reopening. A finding counts once under each framework whose requirements use its check. Limited "
    "to a team or environment, the metrics count the findings attributed to it."
)

STATUS_MEANINGS = (
    (
        "pass",
        "Pass",
        "Every mapped check ran, examined at least one subject, and none has an open finding "
        "that no current exception covers.",
    ),
    ("fail", "Fail", "At least one mapped check has an open finding that no current exception covers."),
    ("error", "Check error", "A mapped check crashed in this run, so the requirement cannot be judged."),
    (
        "no_data",
        "No data",
        "The mapped checks ran but found nothing in scope to examine. Not counted in the score.",
    ),
    (
        "attested",
        "Attested",
        "A manual requirement with a current attestation: a named person's statement, with evidence "
        "and an expiry.",
    ),
    ("not_attested", "Not attested", "A manual requirement with no current attestation. Counts as not met."),
    (
        "partial",
        "Partial",
        "Inferred through a mapping from a requirement that covers only part of this one (subset or "
        "intersect) and is met: the rest is not shown to be met. Counts as not met.",
    ),
    (
        "not_applicable",
        "Not applicable",
        "A manual requirement attested as not applicable, with the reason. Not counted in the score.",
    ),
)
STATUS_LABELS = {status: label for status, label, _ in STATUS_MEANINGS} | {"not_evaluated": "Not evaluated"}


class ReportError(ValueError):
    """A report cannot be made as asked; nothing was written."""


@dataclass(frozen=True)
class Scope:
    """What a report covers; an empty tuple means all."""

    frameworks: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict | None) -> Scope:
        """The scope stored as JSON on a report or a schedule."""
        data = data or {}
        return cls(
            frameworks=_clean(data.get("frameworks")),
            environments=_clean(data.get("environments")),
            teams=_clean(data.get("teams")),
        )

    def to_json(self) -> dict:
        return {
            "frameworks": list(self.frameworks),
            "environments": list(self.environments),
            "teams": list(self.teams),
        }

    @property
    def key(self) -> str:
        """A canonical text of the scope, so that reports of the same scope can be found."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @property
    def is_partial(self) -> bool:
        """Limited to some environments or teams (rather than the whole organisation)."""
        return bool(self.environments or self.teams)

    def describe(self, catalog: Catalog | None = None) -> str:
        """One line naming what the scope covers."""
        if self.frameworks and catalog is not None:
            names = ", ".join(
                catalog.frameworks[f].name if f in catalog.frameworks else f for f in self.frameworks
            )
        else:
            names = ", ".join(self.frameworks) or "all frameworks"
        environments = ", ".join(self.environments) or "all environments"
        teams = ", ".join(self.teams) or "all teams"
        return f"{names} · {environments} · {teams}"


def _clean(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sorted({str(v).strip() for v in values or () if str(v).strip()}))


class _Active(NamedTuple):
    """What a report needs of an active finding outside its rows: which it is, and how bad."""

    id: int
    check_id: str
    severity: str
    status: str


# Findings read from the database at a time while a report's rows are made.
FINDINGS_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class FindingRow:
    """A finding as a report shows it."""

    id: int
    check_id: str
    check_title: str
    severity: str
    status: str
    subject_kind: str
    subject_id: str
    agent_id: str | None
    team: str | None
    environment: str | None
    detail: str
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    reopened_count: int
    requirements: tuple[str, ...]
    is_excepted: bool
    exception_expires_at: datetime | None


@dataclass(frozen=True)
class ExceptionRow:
    """A risk acceptance and the finding it covers."""

    id: int
    finding_id: int
    check_id: str
    severity: str
    subject_id: str
    team: str | None
    environment: str | None
    justification: str
    accepted_by: str
    accepted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    state: str  # active, expired or revoked


@dataclass(frozen=True)
class AttestationRow:
    """A person's statement that a manual requirement is met (or does not apply)."""

    id: int
    framework_id: str
    requirement_id: str
    requirement_title: str
    is_not_applicable: bool
    statement: str
    evidence_url: str | None
    evidence_file_name: str | None
    evidence_sha256: str | None
    attested_by: str
    attested_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    state: str  # current, superseded, expired or revoked


@dataclass(frozen=True)
class CheckEvidence:
    """One check under a requirement: what it examined in scope, and what is open."""

    check_id: str
    title: str
    severity: str
    examined: int
    passed: int
    failed: int
    error: str | None
    findings: tuple[FindingRow, ...]
    findings_total: int
    excepted_total: int
    exceptions: tuple[ExceptionRow, ...]


@dataclass(frozen=True)
class GroupHeading:
    """A structural node of a framework (a NIST category, a MAESTRO layer)."""

    id: str
    title: str
    summary: str
    depth: int
    kind: str = "group"


@dataclass(frozen=True)
class InferenceSource:
    """A requirement whose status, through a mapping, informs an inferred status (and what it gives)."""

    framework_id: str
    framework_name: str
    requirement_id: str
    status: str
    relationship: str
    rationale: str
    strength: int
    mapping_set: str
    gives: str | None
    is_decisive: bool
    is_depth_limited: bool = False
    via: tuple[InferenceSource, ...] = ()

    @property
    def relationship_label(self) -> str:
        return RELATIONSHIP_LABELS.get(self.relationship, self.relationship)

    @property
    def text(self) -> str:
        """One line: the source, its status, the relationship, what it gives, and any chain behind it."""
        line = (
            f"{self.framework_name} {self.requirement_id} ({STATUS_LABELS.get(self.status, self.status)}), "
            f"{self.relationship_label} it ({self.rationale}, strength {self.strength}/10): gives "
            f"{STATUS_LABELS.get(self.gives, self.gives) if self.gives else 'nothing'}"
        )
        if self.via:
            line += " [inferred from " + "; ".join(s.text for s in self.via) + "]"
        return line


def inference_sources(provenance: dict | None, names: dict[str, str]) -> tuple[InferenceSource, ...]:
    """The sources a run recorded for an inferred status, as report rows."""
    return tuple(
        InferenceSource(
            framework_id=s["framework"],
            framework_name=names.get(s["framework"], s["framework"]),
            requirement_id=s["requirement"],
            status=s["status"],
            relationship=s["relationship"],
            rationale=s["rationale"],
            strength=s["strength"],
            mapping_set=s["mapping_set"],
            gives=s.get("gives"),
            is_decisive=bool(s.get("is_decisive")),
            is_depth_limited=bool(s.get("is_depth_limited")),
            via=inference_sources({"sources": s["via"]}, names) if s.get("via") else (),
        )
        for s in (provenance or {}).get("sources", ())
    )


@dataclass(frozen=True)
class CatalogChange:
    """How one framework differs in the run's catalog from the catalog before it."""

    framework_id: str
    name: str
    is_added: bool
    is_removed: bool
    version_before: str | None
    version_after: str | None
    added: tuple[str, ...]
    removed: tuple[str, ...]
    remapped: tuple[str, ...]

    @property
    def text(self) -> str:
        if self.is_added:
            return f"{self.name}: new framework"
        if self.is_removed:
            return f"{self.name}: removed"
        parts = [f"version {self.version_before} → {self.version_after}"] if self.version_after else []
        for label, ids in (("added", self.added), ("removed", self.removed), ("re-mapped", self.remapped)):
            if ids:
                parts.append(f"{label} {', '.join(ids)}")
        return f"{self.name}: {'; '.join(parts)}"


@dataclass(frozen=True)
class RequirementEvidence:
    """A requirement with its status and the evidence behind it."""

    id: str
    title: str
    summary: str
    status: str
    is_manual: bool
    mapping_note: str | None
    depth: int
    checks: tuple[CheckEvidence, ...]
    attestation: AttestationRow | None
    open_findings: int
    excepted_findings: int
    kind: str = "requirement"
    inferred_from: tuple[InferenceSource, ...] = ()


@dataclass(frozen=True)
class FrameworkSection:
    """One framework: its score, status counts, trend and every requirement with evidence."""

    id: str
    name: str
    version: str
    publisher: str
    official_ids: bool
    id_note: str | None
    source_url: str | None
    score: float | None
    counts: dict[str, int]
    trend: tuple[tuple[str, float | None], ...]
    items: tuple[GroupHeading | RequirementEvidence, ...]
    retrieved: str | None = None
    catalog_change: CatalogChange | None = None

    @property
    def requirements(self) -> tuple[RequirementEvidence, ...]:
        return tuple(i for i in self.items if i.kind == "requirement")


@dataclass(frozen=True)
class Gap:
    """A failing requirement, ranked by the worst severity open against it."""

    framework_id: str
    framework_name: str
    requirement_id: str
    requirement_title: str
    severity: str
    open_findings: int
    checks: tuple[str, ...]
    inferred_from: tuple[str, ...] = ()  # "framework requirement" of the sources that decide an inferred fail


@dataclass(frozen=True)
class ScoreChange:
    framework_id: str
    framework_name: str
    before: float | None
    after: float | None


@dataclass(frozen=True)
class StatusChange:
    framework_id: str
    requirement_id: str
    requirement_title: str
    before: str
    after: str


@dataclass(frozen=True)
class Changes:
    """What changed since the previous report of the same scope."""

    previous_report_id: int | None
    previous_at: datetime | None
    previous_run_id: int | None
    scores: tuple[ScoreChange, ...] = ()
    statuses: tuple[StatusChange, ...] = ()
    opened: int = 0
    resolved: int = 0
    reopened: int = 0


@dataclass(frozen=True, slots=True)
class ToolAccess:
    """A tool an agent reaches, and the policies that decide the access."""

    ref: str
    sensitivity: str
    is_sensitive: bool
    state: str  # governed (an allow policy covers it), denied, or ungoverned
    policies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    name: str | None
    owner: str | None
    team: str | None
    environment: str
    status: str
    autonomy: str
    purpose: str | None
    identity_kind: str
    identity_id: str | None
    is_identity_attested: bool
    credentials: tuple[str, ...]
    tools: tuple[ToolAccess, ...]
    delegates_to: tuple[str, ...]
    max_delegation_depth: int | None
    network_reach: tuple[str, ...]
    created_at: datetime | None
    last_reviewed_at: datetime | None
    review_interval_days: int
    open_findings: int


@dataclass(frozen=True, slots=True)
class ServerToolRow:
    """An MCP server with one of its tools (a server without tools has one row with no tool)."""

    server_id: str
    server_name: str | None
    owner: str | None
    transport: str
    url: str | None
    command: str | None
    package: str | None
    version: str | None
    auth: str | None
    is_audience_validated: bool
    has_token_passthrough: bool
    gateway: str | None
    tool_ref: str | None
    tool_name: str | None
    tool_description: str | None
    sensitivity: str | None
    is_sensitive: bool | None
    annotations: str
    data_classes: tuple[str, ...]
    agents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CredentialRow:
    id: str
    kind: str
    issuer: str | None
    audience: str | None
    scopes: tuple[str, ...]
    ttl_seconds: int | None
    expires_at: datetime | None
    last_rotated_at: datetime | None
    revoked_at: datetime | None
    rotation_interval_days: int
    storage: str
    fingerprint: str | None
    holders: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PolicyRow:
    id: str
    description: str | None
    owner: str | None
    engine: str | None
    evaluation: str
    effect: str
    subjects: tuple[str, ...]
    tools: tuple[str, ...]
    requires_approval: bool
    approvers: tuple[str, ...]
    intents: tuple[str, ...]
    max_chain_depth: int | None
    jit_credential_ttl_seconds: int | None
    rate_limit_per_minute: int | None
    last_reviewed_at: datetime | None
    review_interval_days: int


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One check's verdict on one subject."""

    check_id: str
    check_title: str
    severity: str
    subject_kind: str
    subject_id: str
    agent_id: str | None
    team: str | None
    environment: str | None
    outcome: str  # pass, fail, or error (the check crashed)
    detail: str
    finding_id: int | None
    finding_status: str | None
    is_excepted: bool
    requirements: tuple[str, ...]


class OutcomeRows:
    """The Evidence sheet's rows, spooled to an unnamed temporary file as the checks yield them.

    A report at scale lists 650,000 outcomes: held as objects they would be a quarter of a gigabyte
    for as long as the workbook is written. Appended here, they go to the file in batches (marshal
    of plain tuples) and come back in order, a batch at a time, each time the rows are iterated. The
    file has no name on disk and is gone when this object is.
    """

    BATCH = 5_000

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the rows
        self._pending: list[tuple] = []
        self._count = 0
        # Closed (and so removed) when the rows are let go, with no file left open to warn about.
        weakref.finalize(self, self._file.close)

    def append(self, row: OutcomeRow) -> None:
        self.add(tuple(getattr(row, name) for name in OUTCOME_FIELDS))

    def add(self, values: tuple) -> None:
        """A row as the tuple of its OUTCOME_FIELDS: 650,000 verdicts at scale, no object made for each."""
        self._pending.append(values)
        self._count += 1
        if len(self._pending) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._file.seek(0, os.SEEK_END)
            # Each batch behind its length: marshal.load() on a file calls back into Python for each
            # value it reads (3 s for 650,000 rows), loads() of the batch's bytes does not.
            data = marshal.dumps(self._pending)
            self._file.write(len(data).to_bytes(8, "little"))
            self._file.write(data)
            self._pending = []

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[OutcomeRow]:
        for values in self.values():
            yield OutcomeRow(*values)

    def values(self) -> Iterator[tuple]:
        """The rows as tuples of their OUTCOME_FIELDS, in order."""
        self._flush()
        size = self._file.seek(0, os.SEEK_END)
        offset = 0
        while offset < size:
            self._file.seek(offset)  # every iterator keeps its own place
            length = int.from_bytes(self._file.read(8), "little")
            batch = marshal.loads(self._file.read(length))
            offset += 8 + length
            yield from batch


OUTCOME_FIELDS = tuple(f.name for f in fields(OutcomeRow))


class EvidenceRows:
    """The Evidence sheet's rows: each check's OutcomeRows, iterated in check order."""

    def __init__(self) -> None:
        self._checks: dict[str, OutcomeRows] = {}

    def of(self, check_id: str) -> OutcomeRows:
        return self._checks.setdefault(check_id, OutcomeRows())

    def discard(self, check_id: str) -> None:
        self._checks.pop(check_id, None)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._checks.values())

    def __iter__(self) -> Iterator[OutcomeRow]:
        for check_id in sorted(self._checks):
            yield from self._checks[check_id]

    def values(self) -> EvidenceValues:
        """The same rows as tuples of OUTCOME_FIELDS (what the workbook writes): sized, iterable again."""
        return EvidenceValues(self)


class EvidenceValues:
    def __init__(self, rows: EvidenceRows):
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[tuple]:
        checks = self._rows._checks
        for check_id in sorted(checks):
            yield from checks[check_id].values()


@dataclass(frozen=True)
class ReportContext:
    """Everything one evidence report shows."""

    organisation: str
    generated_at: datetime
    period_start: datetime
    period_end: datetime
    run_id: int
    run_started_at: datetime
    run_trigger: str
    catalog_hash: str
    scope: Scope
    scope_text: str
    frameworks: tuple[FrameworkSection, ...]
    gaps: tuple[Gap, ...]
    changes: Changes
    agents: tuple[AgentRow, ...]
    servers: tuple[ServerToolRow, ...]
    credentials: tuple[CredentialRow, ...]
    policies: tuple[PolicyRow, ...]
    findings: tuple[FindingRow, ...]
    exceptions: tuple[ExceptionRow, ...]
    attestations: tuple[AttestationRow, ...]
    outcomes: EvidenceRows
    outcomes_note: str
    check_errors: dict[str, str]
    status_meanings: tuple[tuple[str, str, str], ...] = STATUS_MEANINGS
    findings_per_check: int = FINDINGS_PER_CHECK
    open_by_severity: dict[str, int] = field(default_factory=dict)
    excepted_open: int = 0
    catalog_first_run_id: int | None = None  # the first run on the catalog version this run used
    catalog_changes: tuple[CatalogChange, ...] = ()  # how that version differs from the one before
    metrics: FindingMetrics | None = None  # days open, time to remediate, regressions (app/metrics.py)
    metrics_note: str = ""

    @property
    def summary(self) -> dict:
        """Scores and requirement statuses, kept on the report record for the next report's comparison."""
        return {
            "scores": {f.id: f.score for f in self.frameworks},
            "statuses": {f.id: {r.id: r.status for r in f.requirements} for f in self.frameworks},
        }


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ScopeIndex:
    """Decides whether a subject falls within a scope: its agent's team and environment, or what it serves."""

    def __init__(self, snapshot: Snapshot, scope: Scope):
        self.scope = scope
        self.snapshot = snapshot
        self.agents = {a.id for a in snapshot.agents if self._agent_matches(a.team, a.environment)}
        self.credentials = {c for a in snapshot.agents if a.id in self.agents for c in a.credentials}
        tools = snapshot.tools_by_ref
        self.servers = {
            tools[ref].server_id
            for a in snapshot.agents
            if a.id in self.agents
            for ref in a.tools
            if ref in tools
        } | {sid for a in snapshot.agents if a.id in self.agents for sid in a.mcp_servers}
        self.policies = {
            p.id for p in snapshot.policies if "*" in p.subjects or set(p.subjects) & self.agents
        }
        self.approvals = {ap.id for ap in snapshot.approvals if ap.agent in self.agents}
        self._known = {
            "agent": (set(snapshot.agents_by_id), self.agents),
            "credential": (set(snapshot.credentials_by_id), self.credentials),
            "mcp_server": (set(snapshot.servers_by_id), self.servers),
            "tool": (set(tools), {ref for ref, t in tools.items() if t.server_id in self.servers}),
            "policy": ({p.id for p in snapshot.policies}, self.policies),
            "approval": ({a.id for a in snapshot.approvals}, self.approvals),
        }

    def _agent_matches(self, team: str | None, environment: str | None) -> bool:
        if self.scope.environments and environment not in self.scope.environments:
            return False
        return not self.scope.teams or team in self.scope.teams

    def contains(
        self, kind: str, subject_id: str, team: str | None = None, environment: str | None = None
    ) -> bool:
        """Whether a subject is in scope; one gone from the inventory goes by its finding's attribution."""
        if not self.scope.is_partial:
            return True
        if kind == "access":
            agent_id = subject_id.split("::", 1)[0]
            if agent_id in self.snapshot.agents_by_id:
                return agent_id in self.agents
        elif kind in self._known and subject_id in self._known[kind][0]:
            return subject_id in self._known[kind][1]
        return self._agent_matches(team, environment) and (team is not None or environment is not None)


def collect_outcomes(snapshot: Snapshot, check_ids) -> tuple[dict[str, list[Outcome]], dict[str, str]]:
    """The checks' outcomes over the snapshot; a check that raises is reported as an error."""
    load_checks()
    outcomes: dict[str, list[Outcome]] = {}
    errors: dict[str, str] = {}
    for check_id in sorted(check_ids):
        try:
            outcomes[check_id] = list(REGISTRY[check_id](snapshot))
        except Exception as exc:
            # The evaluation records a crashing check the same way; the report says so rather than failing.
            errors[check_id] = f"{type(exc).__name__}: {exc}"
            outcomes[check_id] = []
    return outcomes, errors


def _no_subjects() -> dict[str, int]:
    return {"examined": 0, "passed": 0, "failed": 0}


# Agents whose audit events are held at once while the runtime checks run again for a report.
RUNTIME_SLICE = 500


def _run_runtime_checks(
    session: Session,
    snapshot: Snapshot,
    index: ScopeIndex,
    check_ids: list[str],
    take: Callable[[str, list[Outcome]], None],
) -> dict[str, str]:
    """Run the runtime checks over the stored audit log a slice of agents' events at a time.

    Each of these checks has Reach.AGENT: its verdict on an agent (or an agent's access) reads the
    inventory and that agent's own recorded calls only, which is what the incremental evaluation
    relies on too. Checked slice by slice, each slice's outcomes on its own agents (handed to take,
    check by check) are the outcomes one pass over the whole log gives, and only one slice's
    events and outcomes are held at a time, not a million events. A partial scope reads its agents'
    events only. Returns the checks that crashed, whose outcomes the caller drops: a check that
    crashed on a slice examined nothing reliable.
    """
    has_events = event_stats(session).count > 0
    if index.scope.is_partial:
        agents = set(index.agents)
    else:
        logged = session.execute(select(AuditEvent.agent).distinct()).scalars()
        agents = set(snapshot.agents_by_id).union(logged)
    ordered = sorted(agents)
    errors: dict[str, str] = {}
    for start in range(0, max(len(ordered), 1), RUNTIME_SLICE):
        members = set(ordered[start : start + RUNTIME_SLICE])
        events = load_events(session, agents=members)
        sliced = Snapshot(
            snapshot.inventory,
            now=snapshot.now,
            settings=snapshot.settings,
            events=events,
            events_ordered=True,
            has_events=has_events or bool(events),
        )
        for check_id in check_ids:
            if check_id in errors:
                continue
            found, crashed = collect_outcomes(sliced, (check_id,))
            errors.update(crashed)
            if not crashed:
                own = [o for o in found[check_id] if partition_of(o.subject_kind, o.subject_id) in members]
                take(check_id, own)
        del sliced, events
    return errors


def _exception_state(acceptance: RiskAcceptance, now: datetime) -> str:
    if acceptance.revoked_at is not None:
        return "revoked"
    return "active" if _aware(acceptance.expires_at) > now else "expired"


@paused_gc()  # the inventory, the audit log and every outcome live at once: see paused_gc
def build_context(
    session: Session,
    *,
    catalog: Catalog,
    settings,
    scope: Scope,
    run: EvaluationRun,
    now: datetime,
    findings_per_check: int = FINDINGS_PER_CHECK,
    with_outcomes: bool = True,
) -> ReportContext:
    """The whole report's content for one run and scope (the PDF lists findings_per_check per check).

    with_outcomes=False leaves out the per-subject outcome rows (the workbook's Evidence sheet), which
    the PDF does not show: unscoped, no check then needs to run again.
    """
    now = _aware(now)
    frameworks = (
        [catalog.frameworks[f] for f in scope.frameworks]
        if scope.frameworks
        else list(catalog.frameworks.values())
    )
    in_frameworks = {c for fw in frameworks for r in fw.requirements for c in r.checks}
    snapshot = Snapshot(
        load_inventory(session), now=_aware(run.started_at), settings=snapshot_settings(settings)
    )
    index = ScopeIndex(snapshot, scope)
    # Each check is run again below, one at a time, and its outcomes dropped once they are rows:
    # holding every check's outcomes at once would double the memory of a large report.
    errors = {c: e for c, e in (run.check_errors or {}).items() if c in in_frameworks}

    requirement_refs: dict[str, tuple[str, ...]] = {
        check_id: tuple(f"{fw}:{req}" for fw, req in pairs if fw in {f.id for f in frameworks})
        for check_id, pairs in catalog.requirements_by_check.items()
    }

    acceptances = session.execute(select(RiskAcceptance).order_by(RiskAcceptance.id)).scalars().all()
    active_exception: dict[int, RiskAcceptance] = {}
    for acceptance in acceptances:
        if _exception_state(acceptance, now) == "active":
            active_exception[acceptance.finding_id] = acceptance

    # Plain rows, streamed, not ORM objects fetched whole: a hundred thousand rows at once, each with
    # its own copy of the same few check ids, severities, statuses, teams and dates, held 100 MB at
    # scale L; with one copy of each value they hold a third of that.
    shared: dict = {}
    share = shared.setdefault
    findings_by_id: dict[int, FindingRow] = {}
    finding_rows: list[FindingRow] = []
    # The active findings of every scope and framework: outcome rows name theirs, inferred gaps count them.
    active_by_key: dict[tuple[str, str, str], _Active] = {}
    active_findings: list[_Active] = []
    query = select(*(c for c in Finding.__table__.c if c.name != "last_run_id")).order_by(Finding.id)
    for finding in session.execute(query.execution_options(yield_per=FINDINGS_BATCH)):
        check_id = share(finding.check_id, finding.check_id)
        status = share(finding.status, finding.status)
        severity = share(finding.severity, finding.severity)
        subject_kind = share(finding.subject_kind, finding.subject_kind)
        subject_id = share(finding.subject_id, finding.subject_id)
        active = status in ACTIVE_STATUSES
        if active:
            brief = _Active(finding.id, check_id, severity, status)
            active_by_key[(check_id, subject_kind, subject_id)] = brief
            active_findings.append(brief)
        if check_id not in in_frameworks:
            continue
        team, environment = share(finding.team, finding.team), share(finding.environment, finding.environment)
        if not index.contains(subject_kind, subject_id, team, environment):
            continue
        meta = catalog.checks.get(check_id)
        acceptance = active_exception.get(finding.id) if active else None
        row = FindingRow(
            id=finding.id,
            check_id=check_id,
            check_title=meta.title if meta else check_id,
            severity=severity,
            status=status,
            subject_kind=subject_kind,
            subject_id=subject_id,
            agent_id=share(finding.agent_id, finding.agent_id),
            team=team,
            environment=environment,
            detail=finding.detail,
            first_seen_at=share(first_seen := _aware(finding.first_seen_at), first_seen),
            last_seen_at=share(last_seen := _aware(finding.last_seen_at), last_seen),
            resolved_at=_aware(finding.resolved_at),
            reopened_count=finding.reopened_count,
            requirements=requirement_refs.get(check_id, ()),
            is_excepted=acceptance is not None,
            exception_expires_at=_aware(acceptance.expires_at) if acceptance else None,
        )
        findings_by_id[row.id] = row
        finding_rows.append(row)
    del shared, share
    finding_rows.sort(key=lambda f: (SEVERITY_RANK.get(f.severity, 9), f.check_id, f.subject_id))
    active_rows: dict[str, list[FindingRow]] = defaultdict(list)
    for row in finding_rows:
        if row.status in ACTIVE_STATUSES:
            active_rows[row.check_id].append(row)
    for rows in active_rows.values():
        rows.sort(key=lambda f: f.subject_id)

    exception_rows = []
    for acceptance in reversed(acceptances):
        finding = findings_by_id.get(acceptance.finding_id)
        if finding is None:
            continue
        exception_rows.append(
            ExceptionRow(
                id=acceptance.id,
                finding_id=finding.id,
                check_id=finding.check_id,
                severity=finding.severity,
                subject_id=finding.subject_id,
                team=finding.team,
                environment=finding.environment,
                justification=acceptance.justification,
                accepted_by=acceptance.accepted_by,
                accepted_at=_aware(acceptance.accepted_at),
                expires_at=_aware(acceptance.expires_at),
                revoked_at=_aware(acceptance.revoked_at),
                revoked_by=acceptance.revoked_by,
                state=_exception_state(acceptance, now),
            )
        )
    active_exceptions_by_check: dict[str, list[ExceptionRow]] = defaultdict(list)
    for row in exception_rows:
        if row.state == "active" and findings_by_id[row.finding_id].status in ACTIVE_STATUSES:
            active_exceptions_by_check[row.check_id].append(row)

    attestation_rows, current_attestation = _attestations(session, catalog, frameworks, now)

    outcome_rows = EvidenceRows()
    scoped_stats: dict[str, dict[str, int]] = {}
    load_checks()
    # The runtime checks judge the audit log: they run first, over the log's events (of the scope's
    # agents) a slice of agents at a time; the other checks then run over the inventory alone.
    to_run = [
        c
        for c in sorted(in_frameworks)
        if with_outcomes or scope.is_partial or c not in (run.check_stats or {})
    ]
    for check_id in sorted(set(in_frameworks) - set(to_run)):
        scoped_stats[check_id] = run.check_stats[check_id]
    reads_log = [c for c in to_run if DOMAIN_OF.get(c) == "runtime"]
    if any(REACH.get(c) != Reach.AGENT for c in reads_log):  # pragma: no cover - a guard for new checks
        raise ValueError("a runtime check without Reach.AGENT cannot be checked a slice of agents at a time")

    def take(check_id: str, check_outcomes: Iterable[Outcome]) -> None:
        """Count a check's outcomes (all of them, or one slice's) and spool their rows, by subject."""
        meta = catalog.checks[check_id]
        stats = scoped_stats.setdefault(check_id, _no_subjects())
        examined: dict[tuple[str, str], Outcome] = {}
        for outcome in check_outcomes:
            key = (outcome.subject_kind, outcome.subject_id)
            if not outcome.passed or key not in examined:
                examined[key] = outcome
        rows = outcome_rows.of(check_id)
        title, severity, requirements = meta.title, meta.severity, requirement_refs.get(check_id, ())
        add, contains = rows.add, index.contains
        passed_count = failed_count = 0
        for (kind, subject_id), outcome in sorted(examined.items()):
            agent_id, team, environment = attribute(snapshot, kind, subject_id)
            if not contains(kind, subject_id, team, environment):
                continue
            passed = outcome.passed
            if passed:
                passed_count += 1
            else:
                failed_count += 1
            if not with_outcomes:
                continue
            finding = None if passed else active_by_key.get((check_id, kind, subject_id))
            add((check_id, title, severity, kind, subject_id, agent_id, team, environment,
                 "pass" if passed else "fail", outcome.detail,
                 finding.id if finding else None, finding.status if finding else None,
                 finding is not None and finding.id in active_exception, requirements))  # fmt: skip
        stats["examined"] += passed_count + failed_count
        stats["passed"] += passed_count
        stats["failed"] += failed_count

    crashed = _run_runtime_checks(session, snapshot, index, reads_log, take) if reads_log else {}
    for check_id in to_run:
        if check_id in reads_log:
            if check_id in crashed:
                outcome_rows.discard(check_id)
                scoped_stats.pop(check_id, None)
        else:
            check_outcomes, crashed_now = collect_outcomes(snapshot, (check_id,))
            crashed.update(crashed_now)
            take(check_id, check_outcomes[check_id])
        scoped_stats.setdefault(check_id, _no_subjects())  # a check that examined nothing counts zeros
        if check_id in crashed:
            errors.setdefault(check_id, crashed[check_id])  # the run's own record of a crash comes first
        if check_id in errors and with_outcomes:
            meta = catalog.checks[check_id]
            outcome_rows.of(check_id).append(
                OutcomeRow(
                    check_id=check_id,
                    check_title=meta.title,
                    severity=meta.severity,
                    subject_kind="",
                    subject_id="",
                    agent_id=None,
                    team=None,
                    environment=None,
                    outcome="error",
                    detail=f"The check crashed and examined nothing: {errors[check_id]}",
                    finding_id=None,
                    finding_status=None,
                    is_excepted=False,
                    requirements=requirement_refs.get(check_id, ()),
                )
            )
    if not scope.is_partial:
        # Unscoped, the run's own counts are the record; the re-run only adds the per-subject rows.
        scoped_stats.update({c: s for c, s in (run.check_stats or {}).items() if c in scoped_stats})

    check_evidence: dict[str, CheckEvidence] = {}
    for check_id in in_frameworks:
        meta = catalog.checks[check_id]
        stats = scoped_stats[check_id]
        rows = active_rows.get(check_id, [])
        check_evidence[check_id] = CheckEvidence(
            check_id=check_id,
            title=meta.title,
            severity=meta.severity,
            examined=stats["examined"],
            passed=stats["passed"],
            failed=stats["failed"],
            error=errors.get(check_id),
            findings=tuple(rows[:findings_per_check]),
            findings_total=len(rows),
            excepted_total=sum(1 for f in rows if f.is_excepted),
            exceptions=tuple(active_exceptions_by_check.get(check_id, ())),
        )

    period_start = _period_start(session, scope, run, now)
    version = session.get(CatalogVersion, run.catalog_version_id) if run.catalog_version_id else None
    catalog_changes = _catalog_changes(version, frameworks)
    names = {f.id: f.name for f in catalog.frameworks.values()}
    sections = []
    gaps: list[Gap] = []
    for framework in frameworks:
        section = _section(
            framework,
            run=run,
            scope=scope,
            evidence=check_evidence,
            attestations=current_attestation,
            trend=_trend_points(session, framework.id, period_start, run),
            framework_names=names,
            catalog_change=catalog_changes.get(framework.id),
        )
        sections.append(section)
        for requirement in section.requirements:
            if requirement.status != RequirementStatus.FAIL.value:
                continue
            if requirement.inferred_from:
                gaps.append(_inferred_gap(catalog, section, requirement, active_findings, active_exception))
                continue
            failing = [
                c
                for c in requirement.checks
                if any(not f.is_excepted for f in active_rows.get(c.check_id, ()))
            ]
            severity = min(
                (c.severity for c in failing), key=lambda s: SEVERITY_RANK.get(s, 9), default="low"
            )
            gaps.append(
                Gap(
                    framework_id=framework.id,
                    framework_name=framework.name,
                    requirement_id=requirement.id,
                    requirement_title=requirement.title,
                    severity=severity,
                    open_findings=requirement.open_findings - requirement.excepted_findings,
                    checks=tuple(c.check_id for c in failing),
                )
            )
    gaps.sort(
        key=lambda g: (SEVERITY_RANK.get(g.severity, 9), -g.open_findings, g.framework_id, g.requirement_id)
    )

    open_by_severity = Counter(
        f.severity for f in finding_rows if f.status in ACTIVE_STATUSES and not f.is_excepted
    )
    context = ReportContext(
        organisation=settings.organisation,
        generated_at=now,
        period_start=period_start,
        period_end=now,
        run_id=run.id,
        run_started_at=_aware(run.started_at),
        run_trigger=run.trigger,
        catalog_hash=run.catalog_hash,
        scope=scope,
        scope_text=scope.describe(catalog),
        frameworks=tuple(sections),
        gaps=tuple(gaps[:TOP_GAPS]),
        changes=Changes(None, None, None),
        agents=_agents(snapshot, index, finding_rows),
        servers=_servers(snapshot, index),
        credentials=_credentials(snapshot, index),
        policies=_policies(snapshot, index),
        findings=tuple(finding_rows),
        exceptions=tuple(exception_rows),
        attestations=tuple(attestation_rows),
        outcomes=outcome_rows,
        outcomes_note=(
            f"Each check was run again over the inventory as it stood for evaluation run #{run.id}, at the "
            f"run's own time ({_aware(run.started_at):%Y-%m-%d %H:%M} UTC), to list its verdict on every "
            "subject it examined: the run itself stores only per-check counts and the findings. "
            "Failing rows carry the id of the finding the run recorded."
        ),
        check_errors=dict(sorted(errors.items())),
        open_by_severity={s: open_by_severity.get(s, 0) for s in SEVERITY_RANK},
        excepted_open=sum(1 for f in finding_rows if f.status in ACTIVE_STATUSES and f.is_excepted),
        findings_per_check=findings_per_check,
        catalog_first_run_id=version.first_run_id if version else None,
        catalog_changes=tuple(catalog_changes.values()),
        metrics=finding_metrics(
            session,
            catalog=catalog,
            now=now,
            check_ids=in_frameworks,
            teams=scope.teams,
            environments=scope.environments,
            regression_limit=None,
        ),
        metrics_note=METRICS_NOTE,
    )
    return replace(context, changes=_changes(session, scope, context, findings_by_id, run))


def _catalog_changes(version: CatalogVersion | None, frameworks: list[Framework]) -> dict[str, CatalogChange]:
    """The report's frameworks as they changed in the run's catalog version, from the version before."""
    recorded = ((version.changes or {}) if version else {}).get("frameworks", {})
    changes = {}
    for framework in frameworks:
        change = recorded.get(framework.id)
        if change:
            changes[framework.id] = CatalogChange(
                framework_id=framework.id,
                name=change.get("name") or framework.name,
                is_added=bool(change.get("is_added")),
                is_removed=bool(change.get("is_removed")),
                version_before=(change.get("version") or [None, None])[0],
                version_after=(change.get("version") or [None, None])[1],
                added=tuple(change.get("added", ())),
                removed=tuple(change.get("removed", ())),
                remapped=tuple(change.get("remapped", ())),
            )
    return changes


def _inferred_gap(
    catalog: Catalog,
    section: FrameworkSection,
    requirement: RequirementEvidence,
    findings: list[_Active],
    active_exception: dict[int, RiskAcceptance],
) -> Gap:
    """A failing inferred requirement as a gap, ranked by the worst open finding of its deciding sources."""
    leaves: list[InferenceSource] = []
    pending = [s for s in requirement.inferred_from if s.is_decisive]
    while pending:
        source = pending.pop()
        if source.via:
            pending.extend(s for s in source.via if s.is_decisive)
        else:
            leaves.append(source)
    checks = set()
    for leaf in leaves:
        framework = catalog.frameworks.get(leaf.framework_id)
        found = framework.requirement(leaf.requirement_id) if framework else None
        checks.update(found.checks if found else ())
    open_rows = [
        f
        for f in findings
        if f.check_id in checks and f.status in ACTIVE_STATUSES and f.id not in active_exception
    ]
    return Gap(
        framework_id=section.id,
        framework_name=section.name,
        requirement_id=requirement.id,
        requirement_title=requirement.title,
        severity=min((f.severity for f in open_rows), key=lambda s: SEVERITY_RANK.get(s, 9), default="low"),
        open_findings=len(open_rows),
        checks=tuple(sorted({f.check_id for f in open_rows})),
        inferred_from=tuple(sorted({f"{leaf.framework_name} {leaf.requirement_id}" for leaf in leaves})),
    )


def _attestations(
    session: Session, catalog: Catalog, frameworks: list[Framework], now: datetime
) -> tuple[list[AttestationRow], dict[tuple[str, str], AttestationRow]]:
    ids = [f.id for f in frameworks]
    rows = (
        session.execute(
            select(Attestation)
            .where(Attestation.framework_id.in_(ids))
            .order_by(Attestation.attested_at, Attestation.id)
        )
        .scalars()
        .all()
    )
    current: dict[tuple[str, str], Attestation] = {}
    for attestation in rows:
        if attestation.revoked_at is None and _aware(attestation.expires_at) > now:
            current[(attestation.framework_id, attestation.requirement_id)] = attestation
    result: list[AttestationRow] = []
    current_rows: dict[tuple[str, str], AttestationRow] = {}
    for attestation in reversed(rows):
        key = (attestation.framework_id, attestation.requirement_id)
        if attestation.revoked_at is not None:
            state = "revoked"
        elif _aware(attestation.expires_at) <= now:
            state = "expired"
        elif current.get(key) is attestation:
            state = "current"
        else:
            state = "superseded"
        framework = catalog.frameworks.get(attestation.framework_id)
        requirement = framework.requirement(attestation.requirement_id) if framework else None
        row = AttestationRow(
            id=attestation.id,
            framework_id=attestation.framework_id,
            requirement_id=attestation.requirement_id,
            requirement_title=requirement.title if requirement else "",
            is_not_applicable=attestation.is_not_applicable,
            statement=attestation.statement,
            evidence_url=attestation.evidence_url,
            evidence_file_name=attestation.evidence_file_name,
            evidence_sha256=attestation.evidence_sha256,
            attested_by=attestation.attested_by,
            attested_at=_aware(attestation.attested_at),
            expires_at=_aware(attestation.expires_at),
            revoked_at=_aware(attestation.revoked_at),
            state=state,
        )
        result.append(row)
        if state == "current":
            current_rows[key] = row
    return result, current_rows


def _section(
    framework: Framework,
    *,
    run: EvaluationRun,
    scope: Scope,
    evidence: dict[str, CheckEvidence],
    attestations: dict[tuple[str, str], AttestationRow],
    trend: tuple[tuple[str, float | None], ...],
    framework_names: dict[str, str] | None = None,
    catalog_change: CatalogChange | None = None,
) -> FrameworkSection:
    run_statuses = (run.requirement_statuses or {}).get(framework.id, {})
    # An inferred status is a manual requirement's: organisation-wide, like an attestation, in any scope.
    run_inferences = (run.requirement_inferences or {}).get(framework.id, {})
    depth_of: dict[str, int] = {}
    for group in framework.groups:
        depth_of[group.id] = depth_of.get(group.parent, -1) + 1 if group.parent else 0
    children: dict[str | None, list] = defaultdict(list)
    for group in framework.groups:
        children[group.parent].append(group)
    for requirement in framework.requirements:
        children[requirement.parent].append(requirement)

    items: list[GroupHeading | RequirementEvidence] = []
    statuses: dict[str, str] = {}

    def visit(node, depth: int) -> None:
        if hasattr(node, "checks"):
            checks = tuple(evidence[c] for c in node.checks)
            status = run_statuses.get(node.id, "not_evaluated")
            if scope.is_partial and not node.is_manual:
                status = _scoped_status(checks)
            open_findings = sum(c.findings_total for c in checks)
            excepted = sum(c.excepted_total for c in checks)
            statuses[node.id] = status
            items.append(
                RequirementEvidence(
                    id=node.id,
                    title=node.title,
                    summary=node.summary,
                    status=status,
                    is_manual=node.is_manual,
                    mapping_note=node.mapping_note,
                    depth=depth,
                    checks=checks,
                    attestation=attestations.get((framework.id, node.id)),
                    open_findings=open_findings,
                    excepted_findings=excepted,
                    inferred_from=inference_sources(run_inferences.get(node.id), framework_names or {}),
                )
            )
            return
        items.append(GroupHeading(node.id, node.title, node.summary, depth))
        for child in children.get(node.id, ()):
            visit(child, depth + 1)

    for node in children.get(None, ()):
        visit(node, 0)
    if scope.is_partial:
        score = framework_score(statuses)
    else:
        score = (run.scores or {}).get(framework.id)
    return FrameworkSection(
        id=framework.id,
        name=framework.name,
        version=framework.version,
        publisher=framework.publisher,
        official_ids=framework.official_ids,
        id_note=framework.id_note,
        source_url=framework.source_url,
        score=score,
        counts=dict(Counter(statuses.values())),
        trend=trend,
        items=tuple(items),
        retrieved=framework.retrieved,
        catalog_change=catalog_change,
    )


def _scoped_status(checks: tuple[CheckEvidence, ...]) -> str:
    """An automated requirement's status over the subjects in scope, by the evaluation's own rules."""
    if any(c.error for c in checks):
        return RequirementStatus.ERROR.value
    if any(c.findings_total > c.excepted_total for c in checks):
        return RequirementStatus.FAIL.value
    if all(c.examined == 0 for c in checks):
        return RequirementStatus.NO_DATA.value
    return RequirementStatus.PASS.value


def _period_start(session: Session, scope: Scope, run: EvaluationRun, now: datetime) -> datetime:
    previous = _previous_report(session, scope)
    if previous is not None:
        return _aware(previous.created_at)
    first = session.execute(select(EvaluationRun.started_at).order_by(EvaluationRun.id).limit(1)).scalar()
    return _aware(first) if first else _aware(run.started_at)


def _previous_report(session: Session, scope: Scope) -> Report | None:
    return session.execute(
        select(Report).where(Report.scope_key == scope.key).order_by(Report.id.desc()).limit(1)
    ).scalar_one_or_none()


def _trend_points(
    session: Session, framework_id: str, start: datetime, run: EvaluationRun
) -> tuple[tuple[str, float | None], ...]:
    """The organisation-wide score over the runs of the period, thinned to at most TREND_POINTS."""
    rows = session.execute(
        select(EvaluationRun.id, EvaluationRun.started_at, EvaluationRun.scores)
        .where(EvaluationRun.started_at >= start, EvaluationRun.id <= run.id)
        .order_by(EvaluationRun.id)
    ).all()
    if len(rows) < 2:
        rows = list(
            reversed(
                session.execute(
                    select(EvaluationRun.id, EvaluationRun.started_at, EvaluationRun.scores)
                    .where(EvaluationRun.id <= run.id)
                    .order_by(EvaluationRun.id.desc())
                    .limit(TREND_POINTS)
                ).all()
            )
        )
    if len(rows) > TREND_POINTS:
        step = (len(rows) - 1) / (TREND_POINTS - 1)
        rows = [rows[round(i * step)] for i in range(TREND_POINTS)]
    return tuple(
        (f"#{run_id} {_aware(started):%Y-%m-%d}", (scores or {}).get(framework_id))
        for run_id, started, scores in rows
    )


def _changes(
    session: Session,
    scope: Scope,
    context: ReportContext,
    findings_by_id: dict[int, FindingRow],
    run: EvaluationRun,
) -> Changes:
    previous = _previous_report(session, scope)
    if previous is None:
        return Changes(None, None, None)
    before_scores = (previous.summary or {}).get("scores", {})
    before_statuses = (previous.summary or {}).get("statuses", {})
    scores = tuple(
        ScoreChange(f.id, f.name, before_scores.get(f.id), f.score)
        for f in context.frameworks
        if before_scores.get(f.id) != f.score
    )
    statuses = []
    for section in context.frameworks:
        for requirement in section.requirements:
            before = before_statuses.get(section.id, {}).get(requirement.id, "not_evaluated")
            if before != requirement.status:
                statuses.append(
                    StatusChange(section.id, requirement.id, requirement.title, before, requirement.status)
                )
    counts: Counter = Counter()
    if previous.run_id is not None:
        events = session.execute(
            select(FindingEvent.finding_id, FindingEvent.change).where(
                FindingEvent.run_id > previous.run_id, FindingEvent.run_id <= run.id
            )
        ).all()
        counts = Counter(change for finding_id, change in events if finding_id in findings_by_id)
    return Changes(
        previous_report_id=previous.id,
        previous_at=_aware(previous.created_at),
        previous_run_id=previous.run_id,
        scores=scores,
        statuses=tuple(statuses),
        opened=counts.get("opened", 0),
        resolved=counts.get("resolved", 0),
        reopened=counts.get("reopened", 0),
    )


def _agents(snapshot: Snapshot, index: ScopeIndex, findings: list[FindingRow]) -> tuple[AgentRow, ...]:
    open_counts = Counter(f.agent_id for f in findings if f.status in ACTIVE_STATUSES and f.agent_id)
    rows = []
    for agent in sorted(snapshot.agents, key=lambda a: a.id):
        if agent.id not in index.agents:
            continue
        tools = []
        for ref in agent.tools:
            tool = snapshot.tools_by_ref.get(ref)
            allows, denies = snapshot.policies_for(agent.id, ref)
            state = "denied" if denies else ("governed" if allows else "ungoverned")
            tools.append(
                ToolAccess(
                    ref=ref,
                    sensitivity=tool.sensitivity if tool else "unknown",
                    is_sensitive=tool.is_sensitive if tool else False,
                    state=state,
                    policies=tuple(p.id for p in (denies or allows)),
                )
            )
        rows.append(
            AgentRow(
                id=agent.id,
                name=agent.name,
                owner=agent.owner,
                team=agent.team,
                environment=agent.environment,
                status=agent.status,
                autonomy=agent.autonomy,
                purpose=agent.purpose,
                identity_kind=agent.identity_kind,
                identity_id=agent.identity_id,
                is_identity_attested=agent.identity_attested,
                credentials=agent.credentials,
                tools=tuple(tools),
                delegates_to=agent.delegates_to,
                max_delegation_depth=agent.max_delegation_depth,
                network_reach=agent.network_reach,
                created_at=_aware(agent.created_at),
                last_reviewed_at=_aware(agent.last_reviewed_at),
                review_interval_days=agent.review_interval_days,
                open_findings=open_counts.get(agent.id, 0),
            )
        )
    return tuple(rows)


def _servers(snapshot: Snapshot, index: ScopeIndex) -> tuple[ServerToolRow, ...]:
    reached_by: dict[str, list[str]] = defaultdict(list)
    for agent in snapshot.agents:
        if agent.id in index.agents:
            for ref in agent.tools:
                reached_by[ref].append(agent.id)
    rows = []
    for server in sorted(snapshot.mcp_servers, key=lambda s: s.id):
        if index.scope.is_partial and server.id not in index.servers:
            continue
        base = {
            "server_id": server.id,
            "server_name": server.name,
            "owner": server.owner,
            "transport": server.transport,
            "url": server.url,
            "command": " ".join((server.command or "", *server.args)).strip() or None,
            "package": server.package,
            "version": server.version,
            "auth": server.auth,
            "is_audience_validated": server.audience_validated,
            "has_token_passthrough": server.token_passthrough,
            "gateway": server.gateway,
        }
        if not server.tools:
            rows.append(
                ServerToolRow(
                    **base,
                    tool_ref=None,
                    tool_name=None,
                    tool_description=None,
                    sensitivity=None,
                    is_sensitive=None,
                    annotations="",
                    data_classes=(),
                    agents=(),
                )
            )
        for tool in server.tools:
            rows.append(
                ServerToolRow(
                    **base,
                    tool_ref=tool.ref,
                    tool_name=tool.name,
                    tool_description=tool.description,
                    sensitivity=tool.sensitivity,
                    is_sensitive=tool.is_sensitive,
                    annotations=", ".join(f"{k}={'true' if v else 'false'}" for k, v in tool.annotations),
                    data_classes=tool.data_classes,
                    agents=tuple(sorted(reached_by.get(tool.ref, ()))),
                )
            )
    return tuple(rows)


def _credentials(snapshot: Snapshot, index: ScopeIndex) -> tuple[CredentialRow, ...]:
    return tuple(
        CredentialRow(
            id=c.id,
            kind=c.kind,
            issuer=c.issuer,
            audience=c.audience,
            scopes=c.scopes,
            ttl_seconds=c.ttl_seconds,
            expires_at=_aware(c.expires_at),
            last_rotated_at=_aware(c.last_rotated_at),
            revoked_at=_aware(c.revoked_at),
            rotation_interval_days=c.rotation_interval_days,
            storage=c.storage,
            fingerprint=c.fingerprint,
            holders=snapshot.credential_holders.get(c.id, ()),
        )
        for c in sorted(snapshot.credentials, key=lambda c: c.id)
        if not index.scope.is_partial or c.id in index.credentials
    )


def _policies(snapshot: Snapshot, index: ScopeIndex) -> tuple[PolicyRow, ...]:
    return tuple(
        PolicyRow(
            id=p.id,
            description=p.description,
            owner=p.owner,
            engine=p.engine,
            evaluation=p.evaluation,
            effect=p.effect,
            subjects=p.subjects,
            tools=p.tools,
            requires_approval=p.require_approval,
            approvers=p.approvers,
            intents=p.intents,
            max_chain_depth=p.max_chain_depth,
            jit_credential_ttl_seconds=p.jit_credential_ttl_seconds,
            rate_limit_per_minute=p.rate_limit_per_minute,
            last_reviewed_at=_aware(p.last_reviewed_at),
            review_interval_days=p.review_interval_days,
        )
        for p in sorted(snapshot.policies, key=lambda p: p.id)
        if not index.scope.is_partial or p.id in index.policies
    )
