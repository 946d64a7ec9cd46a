"""generate_report(): evaluate, build the context, render each format, and keep file and record.

Files live under <instance>/reports/. Each is written under a temporary name and renamed
once complete, so a crash never leaves a file that looks like a finished report; the record
holds the SHA-256 of the file, the run and catalog hash it reflects, and who made it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, select
from sqlmodel import Session

from app.audit import record_change
from app.catalog import Catalog
from app.evaluation import run_evaluation
from app.models.reporting import Report, ReportFormat
from app.reporting.context import ReportContext, ReportError, Scope, build_context

log = logging.getLogger(__name__)

FORMATS = tuple(f.value for f in ReportFormat)
MEDIA_TYPES = {
    ReportFormat.PDF.value: "application/pdf",
    ReportFormat.XLSX.value: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class GeneratedReports:
    """The reports one generation made, and the context they were rendered from."""

    reports: list[Report]
    context: ReportContext


def reports_dir(settings) -> Path:
    """The archive folder in the instance folder."""
    return Path(settings.instance_path) / "reports"


def report_path(settings, report: Report) -> Path:
    """Where a report's file is; the name is Steward's own, never taken from a request."""
    return reports_dir(settings) / Path(report.file_name).name


def download_name(report: Report) -> str:
    """The file name a report is downloaded or sent under."""
    return f"steward-evidence-{report.created_at:%Y-%m-%d}-report{report.id}.{report.format}"


def check_scope(catalog: Catalog, scope: Scope, formats) -> tuple[str, ...]:
    """The formats asked for, validated with the scope's frameworks; raise ReportError naming the problem."""
    formats = tuple(dict.fromkeys(formats))
    if not formats:
        raise ReportError(f"formats: none chosen; expected one or more of {', '.join(FORMATS)}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReportError(f"formats: {', '.join(unknown)} not one of {', '.join(FORMATS)}")
    missing = [f for f in scope.frameworks if f not in catalog.frameworks]
    if missing:
        raise ReportError(
            f"frameworks: {', '.join(missing)} not in the catalog ({', '.join(sorted(catalog.frameworks))})"
        )
    return formats


def _render(context: ReportContext, fmt: str, pdf_template=None) -> bytes:
    if fmt == ReportFormat.PDF.value:
        from app.reporting.pdf import render_pdf

        return render_pdf(context, template=pdf_template)
    from app.reporting.excel import render_workbook

    return render_workbook(context)


def write_atomically(directory: Path, name: str, data: bytes) -> Path:
    """Write bytes to directory/name through a temporary file renamed into place once complete."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        target = directory / name
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def generate_report(
    session: Session,
    *,
    catalog: Catalog,
    settings,
    scope: Scope,
    formats,
    made_by: str,
    schedule_id: int | None = None,
    now: datetime | None = None,
    pdf_template=None,
) -> GeneratedReports:
    """Evaluate now, then render the scope's report in each format into the archive and record it.

    pdf_template is a custom template (app.reporting.custom_templates) for the PDF; None is the built-in.
    """
    formats = check_scope(catalog, scope, formats)
    now = now or datetime.now(UTC)
    summary = run_evaluation(
        session, catalog=catalog, settings=settings, trigger="report", actor=made_by, now=now
    )
    context = build_context(
        session, catalog=catalog, settings=settings, scope=scope, run=summary.run, now=now
    )
    directory = reports_dir(settings)
    sweep_orphans(session, settings)
    written: list[Path] = []
    reports: list[Report] = []
    try:
        for fmt in formats:
            data = _render(context, fmt, pdf_template)
            name = f"evidence-{now:%Y%m%d-%H%M%S}-run{summary.run.id}-{secrets.token_hex(4)}.{fmt}"
            written.append(write_atomically(directory, name, data))
            report = Report(
                created_at=now,
                format=fmt,
                scope=scope.to_json(),
                scope_key=scope.key,
                run_id=summary.run.id,
                catalog_hash=summary.run.catalog_hash,
                file_name=name,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                made_by=made_by,
                schedule_id=schedule_id,
                summary=context.summary,
            )
            session.add(report)
            session.flush()
            reports.append(report)
            record_change(
                session,
                actor=made_by,
                action="report.generate",
                target=f"report #{report.id}",
                detail={
                    "format": fmt,
                    "scope": scope.to_json(),
                    "run_id": report.run_id,
                    "catalog_hash": report.catalog_hash,
                    "sha256": report.sha256,
                    "size_bytes": report.size_bytes,
                    "schedule_id": schedule_id,
                    **_template_detail(fmt, pdf_template),
                },
                at=now,
            )
    except BaseException:
        # The caller's transaction will not record these reports, so their files must not stay either.
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return GeneratedReports(reports, context)


# A report file, as generate_report names it (an evidence pack is named evidence-pack-…zip).
REPORT_FILE = re.compile(r"evidence-\d{8}-\d{6}-run\d+-[0-9a-f]{8}\.(pdf|xlsx)")
# Older than this, a report file no record names, or a temporary file, is a leftover of a process
# that died (kill -9, power cut) between writing it and committing its record: no render takes an hour.
ORPHAN_AGE_SECONDS = 3600


def sweep_orphans(session: Session, settings, *, now: float | None = None) -> list[str]:
    """Delete the report files and temporary files a crashed process left in the archive; their names.

    Such a file claims nothing (the archive lists records, and downloads go by record id), but
    it would sit there for ever. Files younger than an hour may belong to a render in progress.
    """
    directory = reports_dir(settings)
    if not directory.is_dir():
        return []
    cutoff = (now if now is not None else time.time()) - ORPHAN_AGE_SECONDS
    known = set(session.execute(select(Report.file_name)).scalars())
    swept = []
    for path in directory.iterdir():
        is_leftover = REPORT_FILE.fullmatch(path.name) and path.name not in known
        is_temporary = path.name.startswith(".") and path.name.endswith(".part")
        if (is_leftover or is_temporary) and path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            swept.append(path.name)
    if swept:
        log.warning("report archive: removed %s file(s) left by an interrupted run: %s", len(swept), swept)
    return sorted(swept)


def _template_detail(fmt: str, pdf_template) -> dict:
    if fmt != ReportFormat.PDF.value or pdf_template is None:
        return {}
    return {"template": pdf_template.slug, "template_html_sha256": pdf_template.html_sha256}


def list_reports(session: Session, *, limit: int | None = None) -> list[Report]:
    """The archive, newest first."""
    query = select(Report).order_by(Report.id.desc())
    if limit:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


def verify_report(settings, report: Report) -> bool:
    """Whether the archived file is there and still has the SHA-256 recorded when it was made."""
    path = report_path(settings, report)
    if not path.is_file():
        return False
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == report.sha256


def delete_report(session: Session, *, settings, report: Report, actor: str, reason: str) -> None:
    """Remove a report's file and record, and say so in the audit trail."""
    record_change(
        session,
        actor=actor,
        action="report.delete",
        target=f"report #{report.id}",
        detail={"reason": reason, "format": report.format, "sha256": report.sha256, "file": report.file_name},
    )
    session.delete(report)
    session.flush()
    _unlink_after_commit(session, report_path(settings, report))


def _unlink_after_commit(session: Session, path: Path) -> None:
    # The file goes only once the record's deletion is committed; a rollback keeps both.
    state = {"rolled_back": False}

    def on_commit(_session) -> None:
        if not state["rolled_back"]:
            path.unlink(missing_ok=True)

    def on_rollback(_session) -> None:
        state["rolled_back"] = True

    event.listen(session, "after_commit", on_commit, once=True)
    event.listen(session, "after_rollback", on_rollback, once=True)


def apply_retention(session: Session, *, settings, schedule_id: int, keep: int, actor: str) -> list[int]:
    """Keep the newest `keep` reports of each format that a schedule made; delete the older ones."""
    reports = session.execute(
        select(Report).where(Report.schedule_id == schedule_id).order_by(Report.id.desc())
    ).scalars()
    seen: dict[str, int] = {}
    deleted = []
    for report in reports:
        seen[report.format] = seen.get(report.format, 0) + 1
        if seen[report.format] > keep:
            deleted.append(report.id)
            delete_report(
                session,
                settings=settings,
                report=report,
                actor=actor,
                reason=f"retention: keep the last {keep}",
            )
    return deleted
