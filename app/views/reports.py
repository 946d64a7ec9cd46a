"""Reports: the archive (download by id), generating a report now, and the report schedules."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy import select

from app.catalog import get_catalog
from app.db import get_db, get_engine
from app.jobs import stored_next_run_times
from app.models.inventory import Agent
from app.models.reporting import Report, ReportSchedule
from app.models.users import Role
from app.reporting.archive import (
    FORMATS,
    MEDIA_TYPES,
    download_name,
    generate_report,
    list_reports,
    report_path,
    verify_report,
)
from app.reporting.context import ReportError, Scope
from app.reporting.custom_templates import (
    BUILT_IN,
    MAX_CSS_BYTES,
    MAX_HTML_BYTES,
    TemplateError,
    check_template,
    decode_upload,
    delete_template,
    list_templates,
    resolve_template,
    save_template,
    slug_for,
)
from app.reporting.pdf import TEMPLATES_DIR
from app.reporting.schedules import (
    PRESET_TEXT,
    PRESETS,
    ScheduleError,
    create_schedule,
    delete_schedule,
    describe_when,
    get_schedule,
    job_id,
    next_run_times,
    set_schedule_paused,
    update_schedule,
)
from app.security import requires

bp = Blueprint("reports", __name__, url_prefix="/reports")

SCHEDULER_SLACK_MINUTES = 5

COMMON_TIME_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Australia/Sydney",
)


def _scope_choices() -> dict:
    db = get_db()
    return {
        "frameworks": list(get_catalog(current_app).frameworks.values()),
        "environments": sorted(e for (e,) in db.execute(select(Agent.environment).distinct()) if e),
        "teams": sorted(t for (t,) in db.execute(select(Agent.team).distinct()) if t),
        "formats": FORMATS,
    }


def _scope_from_form() -> Scope:
    return Scope(
        frameworks=tuple(request.form.getlist("framework")),
        environments=tuple(request.form.getlist("environment")),
        teams=tuple(request.form.getlist("team")),
    )


@bp.route("/")
def index():
    catalog = get_catalog(current_app)
    rows = list_reports(get_db(), limit=500)
    return render_template(
        "reports/index.html",
        rows=rows,
        scopes={r.id: Scope.from_json(r.scope).describe(catalog) for r in rows},
        choices=_scope_choices(),
        pdf_templates=list_templates(current_app.config["STEWARD"]),
    )


@bp.route("/", methods=["POST"])
@requires(Role.ANALYST)
def generate():
    db = get_db()
    settings = current_app.config["STEWARD"]
    try:
        generated = generate_report(
            db,
            catalog=get_catalog(current_app),
            settings=settings,
            scope=_scope_from_form(),
            formats=request.form.getlist("format"),
            made_by=g.user.username,
            pdf_template=resolve_template(settings, request.form.get("template")),
        )
    except ReportError as exc:
        db.rollback()
        flash(f"Not generated: {exc}.", "error")
        return redirect(url_for("reports.index"))
    db.commit()
    made = ", ".join(f"#{r.id} ({r.format})" for r in generated.reports)
    flash(f"Report {made} generated from evaluation #{generated.context.run_id}.", "success")
    return redirect(url_for("reports.index"))


@bp.route("/<int:report_id>/download")
def download(report_id: int):
    report = get_db().get(Report, report_id)
    if report is None:
        abort(404)
    settings = current_app.config["STEWARD"]
    if not verify_report(settings, report):
        flash(
            f"Report #{report.id} was not sent: its archived file is missing or no longer matches "
            "the SHA-256 recorded when it was made.",
            "error",
        )
        return redirect(url_for("reports.index"))
    return send_file(
        report_path(settings, report),
        mimetype=MEDIA_TYPES[report.format],
        as_attachment=True,
        download_name=download_name(report),
    )


@bp.route("/schedules")
@requires(Role.ADMIN)
def schedules():
    db = get_db()
    rows = db.execute(select(ReportSchedule).order_by(ReportSchedule.id)).scalars().all()
    now = datetime.now(UTC)
    stored = stored_next_run_times(get_engine(current_app))
    overdue_after = now - timedelta(minutes=SCHEDULER_SLACK_MINUTES)
    catalog = get_catalog(current_app)
    return render_template(
        "reports/schedules.html",
        rows=rows,
        upcoming={s.id: next_run_times(s, after=now, count=2) for s in rows},
        when={s.id: describe_when(s) for s in rows},
        scopes={s.id: Scope.from_json(s.scope).describe(catalog) for s in rows},
        scheduler_notes={s.id: _scheduler_note(s, stored, overdue_after) for s in rows},
        form=_blank_form(),
        **_form_context(),
    )


def _scheduler_note(schedule: ReportSchedule, stored: dict, overdue_after: datetime) -> str | None:
    """A warning when the scheduler process has not taken up a schedule, or has not run it when due."""
    if schedule.is_paused:
        return None
    ident = job_id(schedule.id)
    if ident not in stored:
        return "Not yet picked up by a scheduler: is the scheduler (steward scheduler) running?"
    due = stored[ident]
    if due is not None and due < overdue_after:
        return (
            f"Due since {due:%Y-%m-%d %H:%M} UTC and not made: is the scheduler (steward scheduler) running?"
        )
    return None


def _form_context() -> dict:
    return {
        "choices": _scope_choices(),
        "presets": PRESETS,
        "preset_text": PRESET_TEXT,
        "zones": COMMON_TIME_ZONES,
        "pdf_templates": list_templates(current_app.config["STEWARD"]),
    }


def _blank_form() -> dict:
    return {
        "name": "",
        "preset": "quarterly",
        "cron": "",
        "timezone": "UTC",
        "frameworks": [],
        "environments": [],
        "teams": [],
        "formats": list(FORMATS),
        "retention": 8,
        "recipients": "",
        "pdf_template": "",
    }


def _form_values() -> dict:
    return {
        "name": request.form.get("name", ""),
        "preset": request.form.get("preset", ""),
        "cron": request.form.get("cron", ""),
        "timezone": request.form.get("timezone", "UTC"),
        "scope": _scope_from_form(),
        "formats": request.form.getlist("format"),
        "retention": request.form.get("retention", ""),
        "recipients": request.form.get("recipients", ""),
        "pdf_template": request.form.get("pdf_template", ""),
    }


@bp.route("/schedules", methods=["POST"])
@requires(Role.ADMIN)
def create():
    db = get_db()
    try:
        schedule = create_schedule(
            db,
            catalog=get_catalog(current_app),
            actor=g.user.username,
            settings=current_app.config["STEWARD"],
            **_form_values(),
        )
    except ScheduleError as exc:
        db.rollback()
        flash(f"Not saved: {exc}.", "error")
        return redirect(url_for("reports.schedules"))
    db.commit()
    flash(f"Schedule “{schedule.name}” saved. The scheduler picks it up within a minute.", "success")
    return redirect(url_for("reports.schedules"))


@bp.route("/schedules/<int:schedule_id>")
@requires(Role.ADMIN)
def edit(schedule_id: int):
    schedule = get_db().get(ReportSchedule, schedule_id)
    if schedule is None:
        abort(404)
    scope = Scope.from_json(schedule.scope)
    form = {
        "name": schedule.name,
        "preset": schedule.preset,
        "cron": schedule.cron or "",
        "timezone": schedule.timezone,
        "frameworks": list(scope.frameworks),
        "environments": list(scope.environments),
        "teams": list(scope.teams),
        "formats": list(schedule.formats),
        "retention": schedule.retention,
        "recipients": ", ".join(schedule.recipients),
        "pdf_template": schedule.pdf_template or "",
    }
    return render_template("reports/schedule_edit.html", schedule=schedule, form=form, **_form_context())


@bp.route("/schedules/<int:schedule_id>", methods=["POST"])
@requires(Role.ADMIN)
def update(schedule_id: int):
    db = get_db()
    try:
        update_schedule(
            db,
            catalog=get_catalog(current_app),
            schedule_id=schedule_id,
            actor=g.user.username,
            settings=current_app.config["STEWARD"],
            **_form_values(),
        )
    except ScheduleError as exc:
        db.rollback()
        if db.get(ReportSchedule, schedule_id) is None:
            abort(404)
        flash(f"Not saved: {exc}.", "error")
        return redirect(url_for("reports.edit", schedule_id=schedule_id))
    db.commit()
    flash("Schedule saved. The scheduler picks up the change within a minute.", "success")
    return redirect(url_for("reports.schedules"))


def _set_paused(schedule_id: int, is_paused: bool):
    db = get_db()
    try:
        schedule = set_schedule_paused(
            db, schedule_id=schedule_id, is_paused=is_paused, actor=g.user.username
        )
    except ScheduleError:
        abort(404)
    db.commit()
    flash(f"Schedule “{schedule.name}” {'paused' if is_paused else 'resumed'}.", "success")
    return redirect(url_for("reports.schedules"))


@bp.route("/schedules/<int:schedule_id>/pause", methods=["POST"])
@requires(Role.ADMIN)
def pause(schedule_id: int):
    return _set_paused(schedule_id, True)


@bp.route("/schedules/<int:schedule_id>/resume", methods=["POST"])
@requires(Role.ADMIN)
def resume(schedule_id: int):
    return _set_paused(schedule_id, False)


@bp.route("/schedules/<int:schedule_id>/delete", methods=["POST"])
@requires(Role.ADMIN)
def delete(schedule_id: int):
    db = get_db()
    try:
        name = get_schedule(db, schedule_id).name
        delete_schedule(db, schedule_id=schedule_id, actor=g.user.username)
    except ScheduleError:
        abort(404)
    db.commit()
    flash(f"Schedule “{name}” deleted. The reports it made stay in the archive.", "success")
    return redirect(url_for("reports.schedules"))


@bp.route("/templates")
@requires(Role.ADMIN)
def templates():
    return _templates_page({"name": "", "html": "", "css": ""})


def _templates_page(form: dict, *, status: int = 200, error: TemplateError | None = None, checked=None):
    return (
        render_template(
            "reports/templates.html",
            rows=list_templates(current_app.config["STEWARD"]),
            form=form,
            error=error,
            checked=checked,
            max_html_bytes=MAX_HTML_BYTES,
            max_css_bytes=MAX_CSS_BYTES,
        ),
        status,
    )


def _uploaded_text(field: str, limit: int) -> str:
    """A form field's text, from its chosen file if there is one, else from its text box."""
    upload = request.files.get(f"{field}_file")
    if upload is not None and upload.filename:
        return decode_upload(upload.read(limit + 1), field=f"{field} ({upload.filename})", limit=limit)
    return decode_upload(request.form.get(field, ""), field=field, limit=limit)


@bp.route("/templates", methods=["POST"])
@requires(Role.ADMIN)
def upload_template():
    db = get_db()
    settings = current_app.config["STEWARD"]
    catalog = get_catalog(current_app)
    action = request.form.get("action", "save")
    form = {"name": request.form.get("name", ""), "html": request.form.get("html", ""), "css": ""}
    try:
        form["html"] = _uploaded_text("html", MAX_HTML_BYTES)
        form["css"] = _uploaded_text("css", MAX_CSS_BYTES)
        if action == "save":
            template = save_template(db, catalog=catalog, settings=settings, actor=g.user.username, **form)
        else:
            checked = check_template(
                db, catalog=catalog, settings=settings, html=form["html"], css=form["css"]
            )
    except TemplateError as exc:
        db.rollback()
        return _templates_page(form, status=400, error=exc)
    if action == "save":
        db.commit()
        flash(f"Template “{template.name}” saved; choose it when generating a PDF.", "success")
        return redirect(url_for("reports.templates"))
    db.rollback()
    if action == "preview" and checked.pdf is not None:
        name = slug_for(form["name"]) or "template"
        return send_file(
            io.BytesIO(checked.pdf),
            mimetype=MEDIA_TYPES["pdf"],
            as_attachment=True,
            download_name=f"steward-template-preview-{name}.pdf",
        )
    return _templates_page(form, checked=checked)


@bp.route("/templates/<slug>/delete", methods=["POST"])
@requires(Role.ADMIN)
def delete_pdf_template(slug: str):
    db = get_db()
    users = db.execute(select(ReportSchedule.name).where(ReportSchedule.pdf_template == slug)).scalars().all()
    if users:
        flash(
            f"Not deleted: the schedule{'s' if len(users) > 1 else ''} {', '.join(users)} print"
            f"{'' if len(users) > 1 else 's'} with it. Choose another template there first.",
            "error",
        )
        return redirect(url_for("reports.templates"))
    try:
        template = delete_template(
            db, settings=current_app.config["STEWARD"], name=slug, actor=g.user.username
        )
    except TemplateError:
        abort(404)
    db.commit()
    flash(f"Template “{template.name}” deleted. Reports made with it stay in the archive.", "success")
    return redirect(url_for("reports.templates"))


@bp.route("/templates/built-in.html")
@requires(Role.ADMIN)
def built_in_template():
    return send_file(
        io.BytesIO((TEMPLATES_DIR / "evidence.html").read_bytes()),
        mimetype="text/plain",
        as_attachment=True,
        download_name=f"steward-{BUILT_IN}-evidence.html",
    )
