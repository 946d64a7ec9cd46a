"""Report schedules: create, edit, pause and delete them; their triggers; and one scheduled run.

A schedule is a row in report_schedule. The scheduler process turns each row into an
APScheduler job (app/jobs.py); web workers only ever write the row.
"""

from __future__ import annotations

import logging
import re
import smtplib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import or_, update
from sqlmodel import Session

from app.audit import record_change
from app.catalog import Catalog
from app.models.reporting import Report, ReportFormat, ReportSchedule, SchedulePreset
from app.reporting.archive import (
    FORMATS,
    MEDIA_TYPES,
    GeneratedReports,
    apply_retention,
    check_scope,
    download_name,
    generate_report,
    report_path,
)
from app.reporting.context import ReportError, Scope

log = logging.getLogger(__name__)

PRESETS = tuple(p.value for p in SchedulePreset)
PRESET_TEXT = {
    SchedulePreset.QUARTERLY.value: "1 January, April, July and October at 06:00",
    SchedulePreset.MONTHLY.value: "the first day of each month at 06:00",
    SchedulePreset.WEEKLY.value: "every Monday at 06:00",
    SchedulePreset.CRON.value: "a cron expression",
}
MAX_RETENTION = 100
EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


class ScheduleError(ValueError):
    """A schedule cannot be saved as asked; nothing was written."""


def job_id(schedule_id: int) -> str:
    """The stable id of a schedule's job in the scheduler."""
    return f"report-schedule-{schedule_id}"


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone of that name; raise ScheduleError otherwise."""
    try:
        return ZoneInfo((name or "").strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"timezone: {name!r} is not an IANA time zone such as Europe/Berlin") from None


def schedule_trigger(preset: str, cron: str | None, timezone: str) -> CronTrigger:
    """The cron trigger of a preset (or of the cron expression) in the time zone."""
    tz = time_zone(timezone)
    if preset == SchedulePreset.QUARTERLY.value:
        return CronTrigger(month="1,4,7,10", day=1, hour=6, minute=0, timezone=tz)
    if preset == SchedulePreset.MONTHLY.value:
        return CronTrigger(day=1, hour=6, minute=0, timezone=tz)
    if preset == SchedulePreset.WEEKLY.value:
        return CronTrigger(day_of_week="mon", hour=6, minute=0, timezone=tz)
    if preset == SchedulePreset.CRON.value:
        expression = (cron or "").strip()
        if len(expression.split()) != 5:
            raise ScheduleError(
                f"cron: {expression!r} is not five fields (minute hour day month day-of-week), "
                "e.g. '0 6 1 */3 *'"
            )
        minute, hour, day, month, day_of_week = expression.split()
        try:
            return CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=_crontab_weekdays(day_of_week),
                timezone=tz,
            )
        except ValueError as exc:
            raise ScheduleError(f"cron: {expression!r} is not a valid cron expression ({exc})") from None
    raise ScheduleError(f"preset: {preset!r} is not one of {', '.join(PRESETS)}")


WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) as day names, since APScheduler counts 0 = Monday."""
    if field == "*" or any(c.isalpha() for c in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = 0, 6
        else:
            first_text, _, last_text = span.partition("-")
            if not first_text.isdigit() or (last_text and not last_text.isdigit()):
                raise ValueError(f"day of week {part!r} is not a number 0-7, a range or a list")
            first = int(first_text)
            last = int(last_text) if last_text else (6 if step else first)
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last) or (step and not step.isdigit()):
            raise ValueError(f"day of week {part!r} is out of range 0-7")
        days.update(d % 7 for d in range(first, last + 1, int(step) if step else 1))
    return ",".join(WEEKDAY_NAMES[d] for d in sorted(days))


def trigger_of(schedule: ReportSchedule) -> CronTrigger:
    """The trigger of a stored schedule."""
    return schedule_trigger(schedule.preset, schedule.cron, schedule.timezone)


def next_run_times(schedule: ReportSchedule, *, after: datetime, count: int = 1) -> list[datetime]:
    """The schedule's next fire times after a moment (none while paused)."""
    if schedule.is_paused:
        return []
    trigger = trigger_of(schedule)
    times: list[datetime] = []
    previous = None
    moment = after
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        times.append(fire)
        previous, moment = fire, fire
    return times


def describe_when(schedule: ReportSchedule) -> str:
    """When a schedule fires, in words."""
    what = (
        f"cron '{schedule.cron}'"
        if schedule.preset == SchedulePreset.CRON.value
        else PRESET_TEXT[schedule.preset]
    )
    return f"{what} ({schedule.timezone})"


def _parse_recipients(recipients) -> list[str]:
    if isinstance(recipients, str):
        recipients = re.split(r"[\s,;]+", recipients)
    cleaned = [r.strip() for r in recipients or () if r and r.strip()]
    bad = [r for r in cleaned if not EMAIL.match(r)]
    if bad:
        raise ScheduleError(f"recipients: {', '.join(bad)} not an e-mail address")
    return list(dict.fromkeys(cleaned))


def _template_slug(settings, name: str | None) -> str | None:
    """The slug of the uploaded template a schedule names (None: the built-in); ScheduleError if none such."""
    from app.reporting.custom_templates import TemplateError, resolve_template

    if not name or not name.strip():
        return None
    if settings is None:
        raise ScheduleError("pdf_template: cannot check the template without the settings")
    try:
        template = resolve_template(settings, name)
    except TemplateError as exc:
        raise ScheduleError(f"pdf_template: {exc}") from None
    return template.slug if template else None


def _validated(catalog: Catalog, values: dict, settings=None) -> dict:
    name = (values.get("name") or "").strip()
    if not name or len(name) > 200:
        raise ScheduleError("name: expected 1 to 200 characters")
    preset = values.get("preset") or ""
    cron = (values.get("cron") or "").strip() or None
    if preset != SchedulePreset.CRON.value:
        cron = None
    timezone = (values.get("timezone") or "UTC").strip()
    schedule_trigger(preset, cron, timezone)
    scope = (
        values.get("scope")
        if isinstance(values.get("scope"), Scope)
        else Scope.from_json(values.get("scope"))
    )
    try:
        formats = check_scope(catalog, scope, values.get("formats") or ())
    except ReportError as exc:
        raise ScheduleError(str(exc)) from None
    try:
        retention = int(values.get("retention"))
    except (TypeError, ValueError):
        raise ScheduleError(f"retention: {values.get('retention')!r} is not a whole number") from None
    if not 1 <= retention <= MAX_RETENTION:
        raise ScheduleError(f"retention: expected 1 to {MAX_RETENTION} reports to keep, got {retention}")
    return {
        "name": name,
        "preset": preset,
        "cron": cron,
        "timezone": str(time_zone(timezone)),
        "scope": scope.to_json(),
        "formats": list(formats),
        "retention": retention,
        "recipients": _parse_recipients(values.get("recipients")),
        "pdf_template": _template_slug(settings, values.get("pdf_template")),
    }


def create_schedule(
    session: Session,
    *,
    catalog: Catalog,
    actor: str,
    name: str,
    preset: str,
    timezone: str = "UTC",
    cron: str | None = None,
    scope: Scope | None = None,
    formats=(FORMATS),
    retention: int = 8,
    recipients=(),
    pdf_template: str | None = None,
    settings=None,
    now: datetime | None = None,
) -> ReportSchedule:
    """Save a new schedule; the scheduler process picks it up. settings: to check pdf_template."""
    now = now or datetime.now(UTC)
    values = _validated(
        catalog,
        {
            "name": name,
            "preset": preset,
            "cron": cron,
            "timezone": timezone,
            "scope": scope or Scope(),
            "formats": formats,
            "retention": retention,
            "recipients": recipients,
            "pdf_template": pdf_template,
        },
        settings,
    )
    schedule = ReportSchedule(**values, created_by=actor, created_at=now, updated_at=now)
    session.add(schedule)
    session.flush()
    record_change(
        session,
        actor=actor,
        action="report_schedule.create",
        target=f"schedule #{schedule.id}",
        detail=values,
        at=now,
    )
    return schedule


def get_schedule(session: Session, schedule_id: int) -> ReportSchedule:
    """The schedule with that id; raise ScheduleError when there is none."""
    schedule = session.get(ReportSchedule, schedule_id)
    if schedule is None:
        raise ScheduleError(f"schedule {schedule_id}: no such schedule")
    return schedule


def update_schedule(
    session: Session,
    *,
    catalog: Catalog,
    schedule_id: int,
    actor: str,
    settings=None,
    now: datetime | None = None,
    **changes,
) -> ReportSchedule:
    """Change some of a schedule's settings (the others stay as they are); pdf_template "" is the built-in."""
    now = now or datetime.now(UTC)
    schedule = get_schedule(session, schedule_id)
    unknown = set(changes) - {
        "name",
        "preset",
        "cron",
        "timezone",
        "scope",
        "formats",
        "retention",
        "recipients",
        "pdf_template",
    }
    if unknown:
        raise ScheduleError(f"{', '.join(sorted(unknown))}: not a setting of a schedule")
    current = {
        "name": schedule.name,
        "preset": schedule.preset,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "scope": schedule.scope,
        "formats": schedule.formats,
        "retention": schedule.retention,
        "recipients": schedule.recipients,
        "pdf_template": schedule.pdf_template,
    }
    values = _validated(catalog, {**current, **{k: v for k, v in changes.items() if v is not None}}, settings)
    changed = {k: v for k, v in values.items() if v != current[k]}
    for key, value in changed.items():
        setattr(schedule, key, value)
    if changed:
        schedule.updated_at = now
        record_change(
            session,
            actor=actor,
            action="report_schedule.update",
            target=f"schedule #{schedule.id}",
            detail=changed,
            at=now,
        )
    session.flush()
    return schedule


def set_schedule_paused(
    session: Session, *, schedule_id: int, is_paused: bool, actor: str, now: datetime | None = None
) -> ReportSchedule:
    """Pause a schedule (it makes nothing until resumed, and misses in between are skipped) or resume it."""
    now = now or datetime.now(UTC)
    schedule = get_schedule(session, schedule_id)
    if schedule.is_paused != is_paused:
        schedule.is_paused = is_paused
        schedule.updated_at = now
        record_change(
            session,
            actor=actor,
            action="report_schedule.pause" if is_paused else "report_schedule.resume",
            target=f"schedule #{schedule.id}",
            at=now,
        )
    session.flush()
    return schedule


def delete_schedule(session: Session, *, schedule_id: int, actor: str) -> None:
    """Delete a schedule; the reports it made stay in the archive."""
    schedule = get_schedule(session, schedule_id)
    record_change(
        session,
        actor=actor,
        action="report_schedule.delete",
        target=f"schedule #{schedule.id}",
        detail={"name": schedule.name},
    )
    session.delete(schedule)
    session.flush()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def claim_schedule_run(session: Session, *, schedule_id: int, now: datetime | None = None) -> bool:
    """Take the run that is due now; False when none is due, or another process took it already.

    A fire time must have come since the schedule last ran (or was created), and the claim is one
    conditional UPDATE, so two processes that fire the same schedule at once make one set of reports.
    """
    now = now or datetime.now(UTC)
    schedule = session.get(ReportSchedule, schedule_id)
    if schedule is None or schedule.is_paused:
        return False
    since = _aware(schedule.last_run_at or schedule.created_at)
    due = trigger_of(schedule).get_next_fire_time(None, since + timedelta(microseconds=1))
    if due is None or due > now:
        return False
    claimed = session.execute(
        update(ReportSchedule)
        .where(
            ReportSchedule.id == schedule_id,
            or_(ReportSchedule.last_run_at.is_(None), ReportSchedule.last_run_at < due),
        )
        .values(last_run_at=now, last_status="running")
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1


def run_schedule(
    session: Session, *, catalog: Catalog, settings, schedule_id: int, now: datetime | None = None
) -> GeneratedReports | None:
    """Make a schedule's reports now, then keep only its last N of each format; None if it is gone."""
    now = now or datetime.now(UTC)
    schedule = session.get(ReportSchedule, schedule_id)
    if schedule is None:
        log.info("report schedule %s was deleted; nothing to do", schedule_id)
        return None
    actor = f"schedule #{schedule.id} ({schedule.name})"
    generated = generate_report(
        session,
        catalog=catalog,
        settings=settings,
        scope=Scope.from_json(schedule.scope),
        formats=schedule.formats,
        made_by=actor,
        schedule_id=schedule.id,
        now=now,
        # A template deleted since the schedule chose it fails the run, saying so in its status.
        pdf_template=_scheduled_template(settings, schedule),
    )
    apply_retention(session, settings=settings, schedule_id=schedule.id, keep=schedule.retention, actor=actor)
    schedule.last_run_at = now
    schedule.last_status = f"made report {', '.join(f'#{r.id}' for r in generated.reports)}"
    session.flush()
    return generated


def _scheduled_template(settings, schedule: ReportSchedule):
    from app.reporting.custom_templates import TemplateError, resolve_template

    if not schedule.pdf_template or ReportFormat.PDF.value not in schedule.formats:
        return None
    try:
        return resolve_template(settings, schedule.pdf_template)
    except TemplateError as exc:
        raise ScheduleError(f"the schedule's PDF template {schedule.pdf_template!r} is gone: {exc}") from None


def send_reports(settings, *, recipients: list[str], reports: list[Report], context, subject: str) -> None:
    """E-mail the reports as attachments over SMTP (STEWARD_SMTP_HOST/PORT/FROM)."""
    if not settings.smtp_host:
        raise ScheduleError("e-mail: STEWARD_SMTP_HOST is not set")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    lines = [
        f"Evidence report for {context.organisation}, generated {context.generated_at:%Y-%m-%d %H:%M} UTC "
        f"from evaluation run #{context.run_id}.",
        f"Scope: {context.scope_text}",
        "",
    ]
    lines += [f"  {f.name}: {'n/a' if f.score is None else f'{f.score:.0f}%'}" for f in context.frameworks]
    lines += ["", "Attached, with the SHA-256 recorded in Steward's report archive:"]
    lines += [f"  report #{r.id} ({r.format}): sha256 {r.sha256}" for r in reports]
    message.set_content("\n".join(lines) + "\n")
    for report in reports:
        maintype, subtype = MEDIA_TYPES[report.format].split("/", 1)
        message.add_attachment(
            report_path(settings, report).read_bytes(),
            maintype=maintype,
            subtype=subtype,
            filename=download_name(report),
        )
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        smtp.send_message(message)
