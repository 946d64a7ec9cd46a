"""Expiry reminders for exceptions and attestations: 30, 7 and 1 days before they expire, and on expiry.

The rules:

- An item is an unrevoked risk acceptance of a finding that is still open (a resolved finding
  needs no exception), or an unrevoked attestation of a requirement. An item renewed by a later-
  expiring, unrevoked one for the same finding or requirement gets no reminder: the renewal does.
- An item's stage is the most urgent threshold it has reached (30, 7 or 1 days left, 0 = expired).
  Only the current stage is reminded about: a stage passed over while nothing ran is not sent late.
  An item that expired more than EXPIRED_DAYS ago is no longer reminded about.
- The owner is who accepted the risk or attested. An owner that is an e-mail address gets one
  message per run listing all their due items; any other owner (a username) has the reminder on
  the dashboard only, since Steward knows no address for them.
- Each e-mailed reminder is claimed in `sent_reminder` (unique per item and threshold) before the
  message goes out, so restarts and concurrent runs send it once; a failed delivery gives the claim
  back so that the next run tries again. Every delivery and failure is in the audit trail.
"""

from __future__ import annotations

import logging
import smtplib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import and_, delete, exists, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app.audit import record_change
from app.catalog import Catalog
from app.db import id_chunks, session_scope
from app.models.assessment import (
    ACTIVE_STATUSES,
    Attestation,
    Finding,
    ReminderItemKind,
    RiskAcceptance,
    SentReminder,
)
from app.reporting.schedules import EMAIL

log = logging.getLogger(__name__)

THRESHOLDS = (30, 7, 1, 0)  # days before expiry; 0 is the day it expires
EXPIRED_DAYS = 30
REMINDER_ACTOR = "reminders"
UPSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}


def stage_of(expires_at: datetime, now: datetime) -> int | None:
    """The most urgent threshold an expiry has reached (0 once expired); None while more than 30 days away."""
    left = _aware(expires_at) - now
    if left <= timedelta(0):
        return 0
    for days in sorted(t for t in THRESHOLDS if t):
        if left <= timedelta(days=days):
            return days
    return None


def stage_label(threshold_days: int) -> str:
    """A threshold in words."""
    if threshold_days == 0:
        return "expired"
    return f"{threshold_days} day{'s' if threshold_days != 1 else ''} before expiry"


@dataclass(frozen=True)
class Reminder:
    """One item at its current stage, its owner, and whether that stage's e-mail went out."""

    item_kind: str
    item_id: int
    threshold_days: int
    owner: str
    email: str | None  # the owner when it is an e-mail address; None: dashboard only
    expires_at: datetime
    seconds_left: float  # negative once expired
    title: str
    finding_id: int | None = None
    framework_id: str | None = None
    requirement_id: str | None = None
    sent_at: datetime | None = None
    sent_to: str | None = None

    @property
    def is_expired(self) -> bool:
        return self.seconds_left <= 0

    @property
    def when(self) -> str:
        """When it expires, relative to the moment the reminder was worked out."""
        days = abs(self.seconds_left) / 86400
        if days >= 1:
            span = f"{days:.0f} day{'s' if round(days) != 1 else ''}"
        else:
            span = f"{days * 24:.0f} h" if days * 24 >= 1 else "less than an hour"
        return f"expired {span} ago" if self.is_expired else f"expires in {span}"

    @property
    def stage(self) -> str:
        return stage_label(self.threshold_days)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.item_kind, self.item_id, self.threshold_days)

    def line(self) -> str:
        """The reminder as one line of text."""
        return f"{self.title}: {self.when} ({self.expires_at:%Y-%m-%d %H:%M} UTC)"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _email_of(owner: str) -> str | None:
    owner = (owner or "").strip()
    return owner.lower() if EMAIL.match(owner) else None


def _unrenewed_in_window(session: Session, model, item: tuple[str, ...], horizon, oldest) -> list:
    """The unrevoked items expiring before the horizon and after the oldest time, less those renewed
    by a later-expiring unrevoked one for the same item (the same columns)."""
    later = aliased(model)
    renewed = exists().where(
        *(getattr(later, column) == getattr(model, column) for column in item),
        later.revoked_at.is_(None),
        or_(
            later.expires_at > model.expires_at,
            and_(later.expires_at == model.expires_at, later.id > model.id),
        ),
    )
    query = select(model).where(
        model.revoked_at.is_(None), model.expires_at <= horizon, model.expires_at > oldest, ~renewed
    )
    return list(session.execute(query).scalars())


def due_reminders(session: Session, *, now: datetime, catalog: Catalog | None = None) -> list[Reminder]:
    """Every item at a reminder stage now, soonest expiry first, with the e-mail sent for its stage if any."""
    now = _aware(now)
    horizon = now + timedelta(days=max(THRESHOLDS))
    oldest = now - timedelta(days=EXPIRED_DAYS)
    # The acceptances first, their findings second: joined in one statement, SQLite walks every
    # open finding (a hundred thousand at scale) to find the few with an acceptance, on every page.
    acceptances = _unrenewed_in_window(session, RiskAcceptance, ("finding_id",), horizon, oldest)
    active_findings: dict[int, Finding] = {}
    for chunk in id_chunks({a.finding_id for a in acceptances}):
        found = select(Finding).where(Finding.id.in_(chunk), Finding.status.in_(ACTIVE_STATUSES))
        active_findings.update((f.id, f) for f in session.execute(found).scalars())
    exceptions = [(a, active_findings[a.finding_id]) for a in acceptances if a.finding_id in active_findings]
    attestations = _unrenewed_in_window(
        session, Attestation, ("framework_id", "requirement_id"), horizon, oldest
    )
    reminders: list[Reminder] = []
    for acceptance, finding in exceptions:
        expires_at = _aware(acceptance.expires_at)
        reminders.append(
            Reminder(
                item_kind=ReminderItemKind.EXCEPTION.value,
                item_id=acceptance.id,
                threshold_days=stage_of(expires_at, now),
                owner=acceptance.accepted_by,
                email=_email_of(acceptance.accepted_by),
                expires_at=expires_at,
                seconds_left=(expires_at - now).total_seconds(),
                title=f"Exception #{acceptance.id} for finding #{finding.id} "
                f"({finding.check_id} on {finding.subject_kind} {finding.subject_id})",
                finding_id=finding.id,
            )
        )
    for attestation in attestations:
        title = ""
        if catalog is not None:
            framework = catalog.frameworks.get(attestation.framework_id)
            requirement = framework.requirement(attestation.requirement_id) if framework else None
            if requirement is None:
                continue  # the requirement left the catalog: nothing lapses when it expires
            title = f" {requirement.title}"
        expires_at = _aware(attestation.expires_at)
        reminders.append(
            Reminder(
                item_kind=ReminderItemKind.ATTESTATION.value,
                item_id=attestation.id,
                threshold_days=stage_of(expires_at, now),
                owner=attestation.attested_by,
                email=_email_of(attestation.attested_by),
                expires_at=expires_at,
                seconds_left=(expires_at - now).total_seconds(),
                title=f"Attestation #{attestation.id} of {attestation.framework_id} "
                f"{attestation.requirement_id}{title}",
                framework_id=attestation.framework_id,
                requirement_id=attestation.requirement_id,
            )
        )
    sent = _sent(session, reminders)
    reminders = [
        replace(r, sent_at=_aware(s.sent_at), sent_to=s.recipient) if (s := sent.get(r.key)) else r
        for r in reminders
    ]
    return sorted(reminders, key=lambda r: (r.expires_at, r.item_kind, r.item_id))


def _sent(session: Session, reminders: list[Reminder]) -> dict[tuple[str, int, int], SentReminder]:
    ids: dict[str, list[int]] = defaultdict(list)
    for reminder in reminders:
        ids[reminder.item_kind].append(reminder.item_id)
    rows: dict[tuple[str, int, int], SentReminder] = {}
    for kind, item_ids in ids.items():
        for row in session.execute(
            select(SentReminder).where(SentReminder.item_kind == kind, SentReminder.item_id.in_(item_ids))
        ).scalars():
            rows[(row.item_kind, row.item_id, row.threshold_days)] = row
    return rows


def claim_reminders(
    session: Session, reminders: list[Reminder], *, recipient: str, now: datetime
) -> list[Reminder]:
    """Record the reminders as sent to the recipient; return those no other run had recorded already."""
    dialect = session.get_bind().dialect.name
    claimed = []
    for reminder in reminders:
        values = {
            "item_kind": reminder.item_kind,
            "item_id": reminder.item_id,
            "threshold_days": reminder.threshold_days,
            "recipient": recipient,
            "sent_at": now,
        }
        if dialect in UPSERTS:
            # One statement that inserts or, when a concurrent run got there first, does nothing.
            statement = (
                UPSERTS[dialect](SentReminder)
                .values(values)
                .on_conflict_do_nothing()
                .returning(SentReminder.id)
            )
            if session.execute(statement).first() is not None:
                claimed.append(reminder)
            continue
        try:
            with session.begin_nested():
                session.execute(insert(SentReminder).values(values))
            claimed.append(reminder)
        except IntegrityError:
            pass
    return claimed


def release_reminders(session: Session, reminders: list[Reminder], *, recipient: str) -> None:
    """Forget claimed reminders whose message could not be delivered, so that a later run sends them."""
    for reminder in reminders:
        session.execute(
            delete(SentReminder).where(
                SentReminder.item_kind == reminder.item_kind,
                SentReminder.item_id == reminder.item_id,
                SentReminder.threshold_days == reminder.threshold_days,
                SentReminder.recipient == recipient,
            )
        )


def reminder_message(settings, *, recipient: str, reminders: list[Reminder]) -> EmailMessage:
    """The one message an owner gets for all their due reminders."""
    expired = [r for r in reminders if r.is_expired]
    expiring = [r for r in reminders if not r.is_expired]
    parts = []
    if expiring:
        parts.append(f"{len(expiring)} expiring")
    if expired:
        parts.append(f"{len(expired)} expired")
    noun = "item" if len(reminders) == 1 else "items"
    message = EmailMessage()
    message["Subject"] = f"{settings.organisation}: {' and '.join(parts)} {noun} to renew or let lapse"
    message["From"] = settings.smtp_from
    message["To"] = recipient
    lines = [
        f"These exceptions and attestations recorded in Steward by {recipient} for {settings.organisation} "
        "expire soon or have expired.",
        "",
    ]
    for heading, items in (("Expiring", expiring), ("Expired", expired)):
        if items:
            lines.append(f"{heading}:")
            lines += [f"  - {r.line()}" for r in items]
            lines.append("")
    lines += [
        "Renew what still holds by recording a new risk acceptance or attestation, or let it lapse: an "
        "expired exception counts against the score again, and an expired attestation leaves its "
        "requirement not attested.",
        "",
        "Steward sends this once at 30, 7 and 1 days before expiry and once on expiry.",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_reminder_email(settings, *, recipient: str, reminders: list[Reminder]) -> None:
    """E-mail one owner their reminders over SMTP (STEWARD_SMTP_HOST/PORT/FROM), as scheduled reports go."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        smtp.send_message(reminder_message(settings, recipient=recipient, reminders=reminders))


@dataclass
class ReminderRun:
    """What one reminder run found and did."""

    due: list[Reminder]
    is_smtp_configured: bool
    sent: dict[str, list[Reminder]] = field(default_factory=dict)  # recipient: reminders delivered
    failed: dict[str, str] = field(default_factory=dict)  # recipient: why delivery failed

    @property
    def dashboard_only(self) -> list[Reminder]:
        """Due reminders whose owner is not an e-mail address."""
        return [r for r in self.due if r.email is None]

    @property
    def sent_count(self) -> int:
        return sum(len(items) for items in self.sent.values())


def _audit_items(reminders: list[Reminder]) -> list[dict]:
    return [
        {
            "item": f"{r.item_kind} #{r.item_id}",
            "threshold_days": r.threshold_days,
            "expires_at": r.expires_at.isoformat(),
        }
        for r in reminders
    ]


def send_due_reminders(
    engine,
    *,
    settings,
    catalog: Catalog | None = None,
    now: datetime | None = None,
    actor: str = REMINDER_ACTOR,
) -> ReminderRun:
    """E-mail every due reminder not sent yet: one message per owner, each reminder once (see module rules).

    Takes the engine rather than a session: each owner's claim is committed before the message goes
    out, so that a concurrent run sees it.
    """
    now = _aware(now or datetime.now(UTC))
    with session_scope(engine) as session:
        due = due_reminders(session, now=now, catalog=catalog)
    run = ReminderRun(due=due, is_smtp_configured=bool(settings.smtp_host))
    if not run.is_smtp_configured:
        return run
    by_owner: dict[str, list[Reminder]] = defaultdict(list)
    for reminder in due:
        if reminder.email and reminder.sent_at is None:
            by_owner[reminder.email].append(reminder)
    for recipient, reminders in sorted(by_owner.items()):
        with session_scope(engine) as session:
            claimed = claim_reminders(session, reminders, recipient=recipient, now=now)
        if not claimed:
            continue
        try:
            send_reminder_email(settings, recipient=recipient, reminders=claimed)
        except (OSError, smtplib.SMTPException) as exc:
            log.exception("expiry reminders to %s could not be delivered", recipient)
            error = f"{type(exc).__name__}: {exc}"
            with session_scope(engine) as session:
                release_reminders(session, claimed, recipient=recipient)
                record_change(
                    session,
                    actor=actor,
                    action="reminder.fail",
                    target=recipient,
                    detail={"items": _audit_items(claimed), "error": error},
                    at=now,
                )
            run.failed[recipient] = error
            continue
        with session_scope(engine) as session:
            record_change(
                session,
                actor=actor,
                action="reminder.send",
                target=recipient,
                detail={"items": _audit_items(claimed)},
                at=now,
            )
        run.sent[recipient] = claimed
    return run
