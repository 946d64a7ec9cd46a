"""build_assessment_results(): one evaluation run as an OSCAL assessment-results document (JSON).

The document describes the run as it stood: its requirement statuses, the findings failing in it
(rebuilt from the finding events up to that run), and the exceptions and attestations in force at
the run's start. Every UUID is derived (uuid5) from the organisation and stable keys, so the same
run exports byte-identical JSON, and a subject or a risk keeps its UUID from one run to the next.

How Steward maps onto OSCAL:

- each check's verdict over the run is an observation (method TEST) with its pass/fail counts, and
  each subject failing it is an observation of its own (type finding) about that subject;
  a current attestation of a manual requirement is an observation with method EXAMINE;
- each requirement of the selected frameworks is a control in reviewed-controls and one finding,
  targeting the objective `<control-id>_obj`, satisfied or not-satisfied (see STATUS_MAPPING);
- each gap (a finding failing in the run) is a risk: `open`, or `deviation-approved` with the
  exception's expiry as its deadline and the acceptance (who, why) as a response and a log entry.

Control ids are OSCAL tokens made from the requirement ids (`control_ids`); the original id is kept
in a `requirement-id` prop. Steward's own props and facets carry the namespace STEWARD_NS. There is
no separate OSCAL assessment plan: the built-in one (every catalogued check over the whole
inventory at each evaluation, manual requirements by attestation) is a back-matter resource that
import-ap points at. Nothing from the inventory beyond ids and check details is exported, so no
secret (the inventory holds only fingerprints) can reach the document.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlmodel import Session

from app.catalog import Catalog, Framework, Requirement
from app.models.assessment import (
    Attestation,
    EvaluationRun,
    Finding,
    FindingChange,
    FindingEvent,
    RiskAcceptance,
)
from app.posture import latest_run
from app.reporting.context import STATUS_MEANINGS

OSCAL_VERSION = "1.2.1"
STEWARD_NS = "urn:steward:oscal"
_ROOT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, STEWARD_NS)

# Steward's requirement status → (OSCAL objective state, reason). OSCAL has only two states, so a
# requirement is satisfied only when evidence shows it met; missing evidence is never satisfied.
STATUS_MAPPING = {
    "pass": ("satisfied", "pass"),  # every mapped check ran and nothing unexcepted fails
    "attested": ("satisfied", "pass"),  # a named person's current attestation with evidence
    "not_applicable": ("satisfied", "other"),  # attested as not applicable; implementation-status says so
    "fail": ("not-satisfied", "fail"),  # an open finding no exception covers
    "error": ("not-satisfied", "other"),  # a mapped check crashed: no judgement either way
    "no_data": ("not-satisfied", "other"),  # nothing in scope to examine: not demonstrated
    "not_attested": ("not-satisfied", "other"),  # manual requirement nobody has attested
    "partial": ("not-satisfied", "other"),  # inferred through a mapping that covers only part of it
    "not_evaluated": ("not-satisfied", "other"),  # not in the run (the catalog changed since)
}
_MEANINGS = {status: text for status, _label, text in STATUS_MEANINGS} | {
    "not_evaluated": "The run did not evaluate this requirement: the catalog has changed since the run."
}

# Subject kind → (OSCAL subject type, label, component type for components).
SUBJECT_KINDS = {
    "agent": ("inventory-item", "Agent", None),
    "credential": ("inventory-item", "Credential", None),
    "access": ("inventory-item", "Tool access", None),
    "approval": ("inventory-item", "Approval", None),
    "mcp_server": ("component", "MCP server", "service"),
    "policy": ("component", "Policy", "policy"),
}

_NOT_TOKEN = re.compile(r"[^a-z0-9._-]+")


class OscalExportError(ValueError):
    """The export cannot be made as asked (no such run, unknown framework); nothing was written."""


def control_token(requirement_id: str) -> str:
    """A requirement id as an OSCAL token: lower case, other characters as '-', never a leading digit."""
    token = _NOT_TOKEN.sub("-", requirement_id.strip().lower()).strip("-")
    return token if token[:1].isalpha() or token[:1] == "_" else f"_{token}"


def control_ids(framework: Framework) -> dict[str, str]:
    """Each requirement's control id; ids that would collide get a short hash of the original id."""
    tokens = {r.id: control_token(r.id) for r in framework.requirements}
    counts = Counter(tokens.values())
    return {
        rid: token if counts[token] == 1 else f"{token}-{hashlib.sha256(rid.encode()).hexdigest()[:8]}"
        for rid, token in tokens.items()
    }


def to_json(document: dict) -> str:
    """The document as the JSON Steward writes: indented, key order kept, UTF-8 text."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ts(value: datetime) -> str:
    return _aware(value).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _line(text: str) -> str:
    """Text fit for an OSCAL title or prop value: one line, no outer whitespace."""
    return " ".join(str(text).split())


def _prop(name: str, value, *, nist: bool = False) -> dict | None:
    text = _line(value) if value is not None else ""
    if not text:
        return None
    return {"name": name, "value": text} if nist else {"name": name, "ns": STEWARD_NS, "value": text}


def _props(*props: dict | None) -> list[dict]:
    return [p for p in props if p is not None]


def _clean(value):
    """Drop empty optional fields: OSCAL lists hold at least one item and absent beats null."""
    if isinstance(value, dict):
        cleaned = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _without_credentials(url: str) -> str:
    """A link without any user:password part, which must never leave Steward."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class _Gap:
    """A finding failing in the run, with the exception that covered it then, if any."""

    finding: Finding
    detail: str
    acceptance: RiskAcceptance | None


def select_run(session: Session, run_id: int | None) -> EvaluationRun:
    """The given evaluation run, or the newest; raises OscalExportError when there is none."""
    newest = latest_run(session)
    if newest is None:
        raise OscalExportError("no evaluation has run yet; run `steward evaluate` first")
    if run_id is None:
        return newest
    run = session.get(EvaluationRun, run_id)
    if run is None:
        raise OscalExportError(f"evaluation run #{run_id} does not exist; the newest is #{newest.id}")
    return run


def _select_frameworks(catalog: Catalog, framework_ids: list[str] | None) -> list[Framework]:
    if not framework_ids:
        return list(catalog.frameworks.values())
    unknown = sorted(set(framework_ids) - set(catalog.frameworks))
    if unknown:
        raise OscalExportError(
            f"framework {', '.join(unknown)} not in the catalog; expected one of "
            f"{', '.join(sorted(catalog.frameworks))}"
        )
    wanted = set(framework_ids)
    return [f for f in catalog.frameworks.values() if f.id in wanted]


def _gaps_at(session: Session, run: EvaluationRun, check_ids: set[str], at: datetime) -> list[_Gap]:
    """The findings of these checks that were open after the run, each with the exception then in force."""
    last_change: dict[int, tuple[str, str]] = {}
    events = session.execute(
        select(FindingEvent.finding_id, FindingEvent.change, FindingEvent.detail)
        .where(FindingEvent.run_id <= run.id)
        .order_by(FindingEvent.run_id, FindingEvent.id)
    )
    for finding_id, change, detail in events:
        if change == FindingChange.RESOLVED.value:
            last_change[finding_id] = (change, "")
        else:
            last_change[finding_id] = (change, detail)
    acceptances: dict[int, RiskAcceptance] = {}
    for acceptance in session.execute(select(RiskAcceptance).order_by(RiskAcceptance.id)).scalars():
        revoked = _aware(acceptance.revoked_at)
        if _aware(acceptance.accepted_at) <= at < _aware(acceptance.expires_at) and (
            revoked is None or revoked > at
        ):
            acceptances[acceptance.finding_id] = acceptance
    gaps = []
    findings = session.execute(
        select(Finding)
        .where(Finding.check_id.in_(sorted(check_ids)))
        .order_by(Finding.check_id, Finding.subject_kind, Finding.subject_id)
    ).scalars()
    for finding in findings:
        change, detail = last_change.get(finding.id, (FindingChange.RESOLVED.value, ""))
        if change == FindingChange.RESOLVED.value:
            continue
        # A finding the run touched holds the run's own detail; for an older run, the detail it opened with.
        if finding.last_run_id == run.id:
            detail = finding.detail
        gaps.append(_Gap(finding, detail, acceptances.get(finding.id)))
    return gaps


def _attestations_at(session: Session, frameworks: list[Framework], at: datetime) -> dict:
    """The newest attestation of each requirement that was in force at the given time."""
    rows = session.execute(
        select(Attestation)
        .where(Attestation.framework_id.in_([f.id for f in frameworks]))
        .order_by(Attestation.attested_at, Attestation.id)
    ).scalars()
    current: dict[tuple[str, str], Attestation] = {}
    for attestation in rows:
        revoked = _aware(attestation.revoked_at)
        if _aware(attestation.attested_at) <= at < _aware(attestation.expires_at) and (
            revoked is None or revoked > at
        ):
            current[(attestation.framework_id, attestation.requirement_id)] = attestation
    return current


class _Builder:
    """Builds the parts of one document; holds the UUID namespace and the shared references."""

    def __init__(self, organisation: str, run: EvaluationRun, catalog: Catalog):
        self.organisation = _line(organisation) or "Organisation"
        self.run = run
        self.catalog = catalog
        self.namespace = uuid.uuid5(_ROOT_NAMESPACE, self.organisation)
        self.tool_uuid = self.uuid("component", "steward")
        self.tool_origin = {"actors": [{"type": "tool", "actor-uuid": self.tool_uuid}]}
        self.people: dict[str, str] = {}

    def uuid(self, *parts) -> str:
        return str(uuid.uuid5(self.namespace, "\x1f".join(str(p) for p in parts)))

    def person(self, name: str) -> str:
        """The party UUID of a named person (an accepter or an attester), registered for metadata."""
        name = _line(name) or "unknown"
        return self.people.setdefault(name, self.uuid("party", "person", name))

    def subject(self, kind: str, subject_id: str) -> dict:
        subject_type, label, _ = SUBJECT_KINDS.get(kind, ("inventory-item", kind, None))
        shown = subject_id.replace("::", " → ") if kind == "access" else subject_id
        return {
            "subject-uuid": self.uuid("subject", kind, subject_id),
            "type": subject_type,
            "title": _line(f"{label} {shown}"),
        }

    def local_definitions(self, gaps: list[_Gap]) -> dict:
        components, items, seen = [], [], set()
        for gap in gaps:
            f = gap.finding
            if (f.subject_kind, f.subject_id) in seen:
                continue
            seen.add((f.subject_kind, f.subject_id))
            subject = self.subject(f.subject_kind, f.subject_id)
            props = _props(
                _prop("subject-kind", f.subject_kind),
                _prop("subject-id", f.subject_id),
                _prop("agent", f.agent_id),
                _prop("team", f.team),
                _prop("environment", f.environment),
            )
            _, _, component_type = SUBJECT_KINDS.get(f.subject_kind, (None, None, None))
            if subject["type"] == "component":
                components.append(
                    {
                        "uuid": subject["subject-uuid"],
                        "type": component_type,
                        "title": subject["title"],
                        "description": f"{subject['title']}, from Steward's inventory.",
                        "props": props,
                        "status": {
                            "state": "other",
                            "remarks": "Steward records the inventory, not the operational state.",
                        },
                    }
                )
            else:
                items.append(
                    {
                        "uuid": subject["subject-uuid"],
                        "description": f"{subject['title']}, from Steward's inventory.",
                        "props": props,
                    }
                )
        steward = {
            "uuid": self.tool_uuid,
            "type": "software",
            "title": "Steward",
            "description": "Steward's evaluation: the catalogued checks run over the inventory.",
            "props": _props(_prop("catalog-hash", self.run.catalog_hash)),
            "status": {"state": "operational"},
        }
        return {
            "components": components,
            "inventory-items": items,
            "assessment-assets": {
                "components": [steward],
                "assessment-platforms": [
                    {
                        "uuid": self.uuid("assessment-platform", "steward"),
                        "title": "Steward",
                        "uses-components": [{"component-uuid": self.tool_uuid}],
                    }
                ],
            },
        }

    def check_observation(self, check_id: str) -> dict:
        meta = self.catalog.checks[check_id]
        stats = (self.run.check_stats or {}).get(check_id) or {"examined": 0, "passed": 0, "failed": 0}
        error = (self.run.check_errors or {}).get(check_id)
        if error:
            verdict = f"The check crashed in evaluation run #{self.run.id} and examined nothing: {error}"
        else:
            verdict = (
                f"The check examined {stats['examined']} subject(s) in evaluation run #{self.run.id}: "
                f"{stats['passed']} passed, {stats['failed']} failed."
            )
        return {
            "uuid": self.uuid("observation", self.run.id, "check", check_id),
            "title": _line(meta.title),
            "description": f"{verdict}\n\n{meta.rationale}",
            "props": _props(
                _prop("check-id", check_id),
                _prop("severity", meta.severity),
                _prop("domain", meta.domain),
                _prop("examined", stats["examined"]),
                _prop("passed", stats["passed"]),
                _prop("failed", stats["failed"]),
                _prop("outcome", "error" if error else ("fail" if stats["failed"] else "pass")),
            ),
            "methods": ["TEST"],
            "origins": [self.tool_origin],
            "collected": _ts(self.run.started_at),
        }

    def gap_observation_uuid(self, finding: Finding) -> str:
        return self.uuid(
            "observation", self.run.id, finding.check_id, finding.subject_kind, finding.subject_id
        )

    def gap_observation(self, gap: _Gap) -> dict:
        f = gap.finding
        subject = self.subject(f.subject_kind, f.subject_id)
        title = self.catalog.checks[f.check_id].title
        return {
            "uuid": self.gap_observation_uuid(f),
            "title": _line(f"{subject['title']} fails: {title}"),
            "description": gap.detail or f"{subject['title']} fails {f.check_id}.",
            "props": _props(
                _prop("check-id", f.check_id),
                _prop("severity", f.severity),
                _prop("outcome", "fail"),
                _prop("finding-id", f.id),
                _prop("first-seen", _ts(f.first_seen_at)),
                _prop("exception-expires", _ts(gap.acceptance.expires_at) if gap.acceptance else None),
            ),
            "methods": ["TEST"],
            "types": ["finding"],
            "origins": [self.tool_origin],
            "subjects": [subject],
            "collected": _ts(self.run.started_at),
        }

    def attestation_observation(self, attestation: Attestation) -> dict:
        attester = self.person(attestation.attested_by)
        evidence = []
        if attestation.evidence_url:
            evidence.append(
                {
                    "href": _without_credentials(attestation.evidence_url),
                    "description": f"Evidence linked by {_line(attestation.attested_by)}.",
                }
            )
        if attestation.evidence_file_name:
            evidence.append(
                {
                    "description": (
                        f"Evidence file {_line(attestation.evidence_file_name)}, kept by Steward "
                        "with the attestation."
                    ),
                    "props": _props(_prop("sha256", attestation.evidence_sha256)),
                }
            )
        kind = "not applicable" if attestation.is_not_applicable else "met"
        return {
            "uuid": self.uuid("observation", self.run.id, "attestation", attestation.id),
            "title": _line(
                f"{attestation.framework_id} {attestation.requirement_id} attested as {kind} by "
                f"{attestation.attested_by}"
            ),
            "description": attestation.statement,
            "props": _props(
                _prop("attestation-id", attestation.id),
                _prop("framework", attestation.framework_id),
                _prop("requirement-id", attestation.requirement_id),
                _prop("not-applicable", "true" if attestation.is_not_applicable else None),
            ),
            "methods": ["EXAMINE"],
            "origins": [{"actors": [{"type": "party", "actor-uuid": attester}]}],
            "relevant-evidence": evidence,
            "collected": _ts(attestation.attested_at),
            "expires": _ts(attestation.expires_at),
        }

    def risk_uuid(self, finding: Finding) -> str:
        # Keyed by the finding alone: the same gap is the same risk from run to run, whatever its status.
        return self.uuid("risk", "finding", finding.id)

    def risk(self, gap: _Gap, requirement_refs: list[str]) -> dict:
        f = gap.finding
        meta = self.catalog.checks[f.check_id]
        subject = self.subject(f.subject_kind, f.subject_id)
        remediations = [
            {
                "uuid": self.uuid("response", "finding", f.id, "remediation"),
                "lifecycle": "recommendation",
                "title": _line(f"Remediate: {meta.title}"),
                "description": meta.remediation,
                "origins": [self.tool_origin],
            }
        ]
        risk_log = None
        acceptance = gap.acceptance
        if acceptance is not None:
            accepter = self.person(acceptance.accepted_by)
            response_uuid = self.uuid("response", "acceptance", acceptance.id)
            until = f"{_aware(acceptance.expires_at):%Y-%m-%d}"
            remediations.append(
                {
                    "uuid": response_uuid,
                    "lifecycle": "completed",
                    "title": _line(f"Risk accepted by {acceptance.accepted_by} until {until}"),
                    "description": acceptance.justification,
                    "props": _props(_prop("type", "accept", nist=True), _prop("exception-id", acceptance.id)),
                    "origins": [{"actors": [{"type": "party", "actor-uuid": accepter}]}],
                }
            )
            risk_log = {
                "entries": [
                    {
                        "uuid": self.uuid("risk-log", "acceptance", acceptance.id),
                        "title": "Risk accepted",
                        "description": acceptance.justification,
                        "start": _ts(acceptance.accepted_at),
                        "logged-by": [{"party-uuid": accepter}],
                        "status-change": "deviation-approved",
                        "related-responses": [{"response-uuid": response_uuid}],
                    }
                ]
            }
        return {
            "uuid": self.risk_uuid(f),
            "title": _line(f"{meta.title}: {subject['title']}"),
            "description": meta.rationale,
            "statement": gap.detail or f"{subject['title']} fails {f.check_id}.",
            "props": _props(
                _prop("check-id", f.check_id),
                _prop("finding-id", f.id),
                _prop("severity", f.severity),
                _prop("subject-kind", f.subject_kind),
                _prop("subject-id", f.subject_id),
                _prop("first-seen", _ts(f.first_seen_at)),
                *(_prop("requirement", ref) for ref in requirement_refs),
            ),
            "status": "deviation-approved" if acceptance is not None else "open",
            "origins": [self.tool_origin],
            "characterizations": [
                {
                    "origin": self.tool_origin,
                    "facets": [{"name": "severity", "system": STEWARD_NS, "value": f.severity}],
                }
            ],
            "deadline": _ts(acceptance.expires_at) if acceptance is not None else None,
            "remediations": remediations,
            "risk-log": risk_log,
            "related-observations": [{"observation-uuid": self.gap_observation_uuid(f)}],
        }

    def finding(
        self,
        framework: Framework,
        requirement: Requirement,
        control_id: str,
        status: str,
        observation_uuids: list[str],
        gaps: list[_Gap],
        attestation: Attestation | None,
    ) -> dict:
        state, reason = STATUS_MAPPING.get(status, ("not-satisfied", "other"))
        excepted = sum(1 for g in gaps if g.acceptance is not None)
        implementation = None
        if status == "not_applicable" and attestation is not None:
            implementation = {"state": "not-applicable", "remarks": attestation.statement}
        remarks = None
        if excepted:
            remarks = (
                f"{excepted} failing subject(s) of this requirement's checks are covered by accepted "
                "exceptions (deviation-approved risks), which keep them out of the status until they expire."
            )
        return {
            "uuid": self.uuid("finding", self.run.id, framework.id, requirement.id),
            "title": _line(f"{framework.name} {requirement.id}: {requirement.title}"),
            "description": requirement.summary,
            "props": _props(
                _prop("framework", framework.id),
                _prop("requirement-id", requirement.id),
                _prop("control-id", control_id),
                _prop("status", status),
                _prop("assessment", "manual" if requirement.is_manual else "automated"),
            ),
            "origins": [self.tool_origin],
            "target": {
                "type": "objective-id",
                "target-id": f"{control_id}_obj",
                "description": _MEANINGS.get(status, status),
                "implementation-status": implementation,
                "status": {"state": state, "reason": reason},
            },
            "related-observations": [{"observation-uuid": u} for u in observation_uuids],
            "related-risks": [{"risk-uuid": self.risk_uuid(g.finding)} for g in gaps],
            "remarks": remarks,
        }


def build_assessment_results(
    session: Session,
    *,
    catalog: Catalog,
    run_id: int | None = None,
    framework_ids: list[str] | None = None,
    organisation: str,
    now: datetime | None = None,
) -> dict:
    """The latest (or given) run as an OSCAL assessment-results document; raises OscalExportError.

    `now` stamps metadata.last-modified; without it the run's own end is used, so that exporting the
    same run twice gives the same bytes.
    """
    run = select_run(session, run_id)
    frameworks = _select_frameworks(catalog, framework_ids)
    at = _aware(run.started_at)
    builder = _Builder(organisation, run, catalog)
    check_ids = {c for fw in frameworks for r in fw.requirements for c in r.checks}
    gaps = _gaps_at(session, run, check_ids, at)
    attestations = _attestations_at(session, frameworks, at)
    selected = {f.id for f in frameworks}

    gaps_by_check: dict[str, list[_Gap]] = defaultdict(list)
    for gap in gaps:
        gaps_by_check[gap.finding.check_id].append(gap)

    observations = []
    check_observation: dict[str, str] = {}
    for check_id in sorted(check_ids):
        observation = builder.check_observation(check_id)
        check_observation[check_id] = observation["uuid"]
        observations.append(observation)
        observations.extend(builder.gap_observation(gap) for gap in gaps_by_check.get(check_id, ()))

    risks = []
    for gap in gaps:
        refs = [
            f"{fw}:{req}"
            for fw, req in catalog.requirements_by_check.get(gap.finding.check_id, ())
            if fw in selected
        ]
        risks.append(builder.risk(gap, refs))

    attestation_observation: dict[tuple[str, str], str] = {}
    for key in sorted(attestations):
        observation = builder.attestation_observation(attestations[key])
        attestation_observation[key] = observation["uuid"]
        observations.append(observation)

    findings, selections = [], []
    for framework in frameworks:
        ids = control_ids(framework)
        statuses = (run.requirement_statuses or {}).get(framework.id, {})
        for requirement in framework.requirements:
            requirement_gaps = [g for c in requirement.checks for g in gaps_by_check[c]]
            related = [check_observation[c] for c in requirement.checks]
            related += [builder.gap_observation_uuid(g.finding) for g in requirement_gaps]
            key = (framework.id, requirement.id)
            if key in attestation_observation:
                related.append(attestation_observation[key])
            findings.append(
                builder.finding(
                    framework,
                    requirement,
                    ids[requirement.id],
                    statuses.get(requirement.id, "not_evaluated"),
                    related,
                    requirement_gaps,
                    attestations.get(key),
                )
            )
        if not framework.requirements:
            continue
        score = (run.scores or {}).get(framework.id)
        selections.append(
            {
                "description": _line(f"{framework.name} {framework.version} ({framework.publisher})"),
                "props": _props(
                    _prop("framework", framework.id),
                    _prop("framework-version", framework.version),
                    _prop("official-ids", "true" if framework.official_ids else "false"),
                    _prop("score", "n/a" if score is None else f"{score}"),
                ),
                "include-controls": [{"control-id": ids[r.id]} for r in framework.requirements],
                "remarks": framework.id_note,
            }
        )

    if not selections:
        raise OscalExportError("the selected frameworks have no requirements to report on")
    plan_uuid = builder.uuid("resource", "assessment-plan")
    counts = run.counts or {}
    catalog_note = (
        ""
        if run.catalog_hash == catalog.hash
        else " The catalog has changed since this run; requirements it did not evaluate are not_evaluated."
    )
    result = {
        "uuid": builder.uuid("result", run.id),
        "title": f"Evaluation run #{run.id}",
        "description": (
            f"Steward evaluated {builder.organisation}'s inventory of AI agents, MCP servers, credentials "
            f"and policies (trigger: {run.trigger}; {counts.get('outcomes', 0)} outcomes from "
            f"{counts.get('checks', 0)} checks; {counts.get('open', 0)} open findings).{catalog_note}"
        ),
        "start": _ts(run.started_at),
        "end": _ts(run.finished_at) if run.finished_at else None,
        "props": _props(
            _prop("evaluation-run", run.id),
            _prop("trigger", run.trigger),
            _prop("catalog-hash", run.catalog_hash),
        ),
        "local-definitions": builder.local_definitions(gaps),
        "reviewed-controls": {
            "description": "The requirements of the selected frameworks, one control each.",
            "control-selections": selections,
        },
        "observations": observations,
        "risks": risks,
        "findings": findings,
    }
    parties = [
        {
            "uuid": builder.uuid("party", "organisation"),
            "type": "organization",
            "name": builder.organisation,
        }
    ]
    parties += [
        {"uuid": party_uuid, "type": "person", "name": name}
        for name, party_uuid in sorted(builder.people.items())
    ]
    document = {
        "uuid": builder.uuid("assessment-results", run.id, *sorted(selected)),
        "metadata": {
            "title": _line(f"{builder.organisation}: assessment results of evaluation run #{run.id}"),
            "last-modified": _ts(now or run.finished_at or run.started_at),
            "version": f"run-{run.id}",
            "oscal-version": OSCAL_VERSION,
            "roles": [{"id": "prepared-for", "title": "Prepared For"}],
            "parties": parties,
            "responsible-parties": [{"role-id": "prepared-for", "party-uuids": [parties[0]["uuid"]]}],
            "remarks": _mapping_remarks(),
        },
        "import-ap": {
            "href": f"#{plan_uuid}",
            "remarks": (
                "Steward has no separate OSCAL assessment plan: this points at the back-matter resource "
                "that describes its built-in one."
            ),
        },
        "results": [result],
        "back-matter": {
            "resources": [
                {
                    "uuid": plan_uuid,
                    "title": "Steward's built-in assessment plan",
                    "description": (
                        "At every evaluation Steward runs every check of its control catalog over the whole "
                        "inventory (agents, MCP servers and tools, credentials, policies, approvals) and "
                        "reconciles the outcomes with the stored findings. Manual requirements are met by a "
                        "named person's attestation with evidence and an expiry. Exceptions accept a "
                        "finding's risk until they expire."
                    ),
                    "props": _props(_prop("catalog-hash", run.catalog_hash)),
                }
            ]
        },
    }
    return _clean({"assessment-results": document})


def _mapping_remarks() -> str:
    lines = ["How Steward's requirement statuses map to OSCAL finding states:", ""]
    for status, (state, reason) in STATUS_MAPPING.items():
        lines.append(f"- `{status}` → {state} (reason {reason}): {_MEANINGS[status]}")
    return "\n".join(lines)
