"""Assessment tables: evaluation runs, findings with their history, exceptions and attestations."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class FindingStatus(StrEnum):
    """Where a finding stands in its lifecycle."""

    OPEN = "open"  # the check fails for the subject and has since it was first seen
    RESOLVED = "resolved"  # the check passes again, or the subject left the inventory
    REOPENED = "reopened"  # failing again after having been resolved


ACTIVE_STATUSES = (FindingStatus.OPEN.value, FindingStatus.REOPENED.value)


class FindingChange(StrEnum):
    """What an evaluation run did to a finding."""

    OPENED = "opened"  # first failure of this check for this subject
    RESOLVED = "resolved"  # no longer failing
    REOPENED = "reopened"  # failing again after resolution


class RequirementStatus(StrEnum):
    """The status of one requirement after a run."""

    PASS = "pass"  # every mapped check ran and none has an open, unexcepted finding
    FAIL = "fail"  # some mapped check has an open finding that no exception covers
    NO_DATA = "no_data"  # the mapped checks ran but found nothing in the inventory to examine
    ERROR = "error"  # a mapped check crashed, so the requirement cannot be judged
    ATTESTED = "attested"  # manual requirement with a current attestation
    NOT_ATTESTED = "not_attested"  # manual requirement with no current attestation
    NOT_APPLICABLE = "not_applicable"  # manual requirement attested as not applicable
    PARTIAL = "partial"  # inferred through a mapping that covers only part of it (subset, intersect): not met


PASSING_STATUSES = (RequirementStatus.PASS.value, RequirementStatus.ATTESTED.value)
UNSCORED_STATUSES = (RequirementStatus.NO_DATA.value, RequirementStatus.NOT_APPLICABLE.value)


class EvaluationRun(SQLModel, table=True):
    """One evaluation of the whole inventory against the catalog."""

    __tablename__ = "evaluation_run"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(index=True)
    finished_at: datetime | None = None
    duration_ms: int = 0
    trigger: str = "manual"
    actor: str = ""
    catalog_hash: str = ""
    counts: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    check_stats: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    check_errors: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    scores: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    requirement_statuses: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # {framework: {requirement: provenance}} for each status inferred through mappings (app/mappings.py)
    requirement_inferences: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    catalog_version_id: int | None = Field(default=None, index=True)


class CatalogVersion(SQLModel, table=True):
    """A catalog as runs used it: pinned by the first run on it, with what changed since the one before."""

    __tablename__ = "catalog_version"

    id: int | None = Field(default=None, primary_key=True)
    hash: str = Field(index=True)
    first_run_id: int = Field(index=True)
    pinned_at: datetime
    pin: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    changes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# Most severe first, as the findings page sorts by default: the same SQL text in the index below and
# in the page's ORDER BY (with literals, not bound values), so that the database walks the index for
# one page instead of sorting every open finding (100,000 at scale) on each request. Schema reflection
# does not see an index on an expression: a future SQLite batch migration that rebuilds `finding`
# must create it again.
SEVERITY_ORDER_SQL = (
    "CASE severity "
    + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(("critical", "high", "medium", "low")))
    + " ELSE 9 END"
)


class Finding(SQLModel, table=True):
    """A gap: one check failing for one subject, tracked across runs by its stable key."""

    __table_args__ = (
        UniqueConstraint("check_id", "subject_kind", "subject_id", name="uq_finding_key"),
        # The findings page's filters (team, environment, severity), each index then in the page's
        # order within one severity (check, subject) and ending with the status it filters on: a page
        # and its count are read from the index alone.
        Index("ix_finding_team_severity", "team", "severity", "check_id", "subject_id", "status"),
        Index(
            "ix_finding_environment_severity", "environment", "severity", "check_id", "subject_id", "status"
        ),
        Index("ix_finding_severity", "severity", "check_id", "subject_id", "status"),
        # In parentheses: PostgreSQL takes an expression in an index only so; SQLite ignores them.
        Index("ix_finding_severity_order", text(f"({SEVERITY_ORDER_SQL})"), "check_id", "subject_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: the unique key's index, which starts with check_id, serves its lookups.
    check_id: str
    subject_kind: str
    subject_id: str = Field(index=True)
    status: str = Field(default=FindingStatus.OPEN.value, index=True)
    severity: str  # indexed with the page's order: ix_finding_severity above
    detail: str = ""
    agent_id: str | None = Field(default=None, index=True)
    team: str | None = None
    environment: str | None = None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None = None
    reopened_count: int = 0
    last_run_id: int | None = None


class FindingEvent(SQLModel, table=True):
    """One change in a finding's life, in the run that caused it."""

    __tablename__ = "finding_event"

    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    run_id: int = Field(index=True)
    at: datetime
    change: str
    detail: str = ""


class RiskAcceptance(SQLModel, table=True):
    """An exception: a finding's risk accepted by someone, for a reason, until a date."""

    __tablename__ = "risk_acceptance"

    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    justification: str
    accepted_by: str
    accepted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None


class Attestation(SQLModel, table=True):
    """A human statement that a manual requirement is met (or does not apply), with evidence."""

    id: int | None = Field(default=None, primary_key=True)
    framework_id: str = Field(index=True)
    requirement_id: str = Field(index=True)
    is_not_applicable: bool = False
    statement: str
    evidence_url: str | None = None
    evidence_file_name: str | None = None
    evidence_sha256: str | None = None
    attested_by: str
    attested_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


class ReminderItemKind(StrEnum):
    """What an expiry reminder is about."""

    EXCEPTION = "exception"  # a risk acceptance (RiskAcceptance)
    ATTESTATION = "attestation"  # an attestation of a manual requirement


class SentReminder(SQLModel, table=True):
    """An expiry reminder e-mailed for one exception or attestation at one threshold; each goes out once."""

    __tablename__ = "sent_reminder"
    __table_args__ = (
        UniqueConstraint("item_kind", "item_id", "threshold_days", name="uq_sent_reminder_item_threshold"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_kind: str
    item_id: int
    threshold_days: int
    recipient: str
    sent_at: datetime = Field(index=True)
