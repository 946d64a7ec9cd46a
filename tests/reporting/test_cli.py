"""`steward report`, `steward reports` and `steward schedule …`."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from app.models.reporting import Report, ReportSchedule


def test_report_writes_the_archive_and_a_copy_where_asked(inventory_app, runner, session, tmp_path):
    out = tmp_path / "handover" / "evidence.pdf"
    result = runner.invoke(args=["report", "--format", "pdf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = session.execute(select(Report)).scalar_one()
    assert f"Report #{report.id} (pdf" in result.output and report.sha256 in result.output
    assert hashlib.sha256(out.read_bytes()).hexdigest() == report.sha256
    assert report.made_by == "test"  # the settings' actor


def test_report_scope_options_reach_the_record(inventory_app, runner, session):
    result = runner.invoke(
        args=["report", "--format", "xlsx", "--format", "pdf", "--environment", "staging", "--team", "core"]
    )
    assert result.exit_code == 0, result.output
    reports = session.execute(select(Report)).scalars().all()
    assert sorted(r.format for r in reports) == ["pdf", "xlsx"]
    assert reports[0].scope == {"frameworks": [], "environments": ["staging"], "teams": ["core"]}


def test_report_refuses_an_unknown_framework_and_out_with_two_formats(
    inventory_app, runner, session, tmp_path
):
    result = runner.invoke(args=["report", "--format", "pdf", "--framework", "iso-42001"])
    assert result.exit_code == 2 and "frameworks: iso-42001 not in the catalog" in result.output
    result = runner.invoke(
        args=["report", "--format", "pdf", "--format", "xlsx", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2 and "give one --format with --out" in result.output
    result = runner.invoke(args=["report", "--format", "docx"])
    assert result.exit_code == 2
    assert session.execute(select(Report)).first() is None


def test_reports_lists_the_archive_newest_first(inventory_app, runner):
    assert "The archive is empty" in runner.invoke(args=["reports"]).output
    runner.invoke(args=["report", "--format", "pdf"])
    runner.invoke(args=["report", "--format", "xlsx", "--team", "core"])
    output = runner.invoke(args=["reports"]).output
    ids = [int(i) for i in re.findall(r"^#(\d+)", output, re.M)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 2
    assert "all frameworks · all environments · core" in output and "sha256" in output


def test_schedule_add_list_edit_pause_resume_delete(app, runner, session):
    result = runner.invoke(
        args=[
            "schedule",
            "add",
            "Quarterly evidence",
            "--preset",
            "quarterly",
            "--timezone",
            "Europe/Berlin",
            "--keep",
            "4",
            "--recipient",
            "grc-lead@example.org",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "[active] 1 January, April, July and October at 06:00 (Europe/Berlin)" in result.output
    schedule = session.execute(select(ReportSchedule)).scalar_one()
    assert (schedule.retention, schedule.formats, schedule.recipients) == (
        4,
        ["pdf", "xlsx"],
        ["grc-lead@example.org"],
    )

    result = runner.invoke(
        args=["schedule", "edit", str(schedule.id), "--preset", "cron", "--cron", "0 7 * * 1"]
    )
    assert result.exit_code == 0, result.output
    assert "cron '0 7 * * 1' (Europe/Berlin)" in result.output and "keep 4" in result.output

    assert "[paused]" in runner.invoke(args=["schedule", "pause", str(schedule.id)]).output
    assert "no next run" in runner.invoke(args=["schedule", "list"]).output
    assert "[active]" in runner.invoke(args=["schedule", "resume", str(schedule.id)]).output
    result = runner.invoke(args=["schedule", "delete", str(schedule.id)])
    assert result.exit_code == 0 and "deleted" in result.output
    assert "No report schedules" in runner.invoke(args=["schedule", "list"]).output


def test_schedule_mistakes_change_nothing(app, runner, session):
    result = runner.invoke(args=["schedule", "add", "x", "--preset", "cron", "--cron", "every day"])
    assert result.exit_code == 2 and "cron: 'every day' is not five fields" in result.output
    result = runner.invoke(args=["schedule", "add", "x", "--preset", "weekly", "--timezone", "Berlin"])
    assert result.exit_code == 2 and "timezone: 'Berlin' is not an IANA time zone" in result.output
    assert runner.invoke(args=["schedule", "pause", "99"]).exit_code == 2
    assert session.execute(select(ReportSchedule)).first() is None


def test_schedule_takes_an_uploaded_pdf_template_and_refuses_an_unknown_one(app, runner, session):
    from app.catalog import get_catalog
    from app.reporting.custom_templates import save_template

    assert runner.invoke(args=["evaluate"]).exit_code == 0  # a template is tried on the latest run
    save_template(
        session,
        catalog=get_catalog(app),
        settings=app.config["STEWARD"],
        name="Board pack",
        html="<h1>{{ r.organisation }}</h1>",
        css="",
        actor="admin",
    )
    session.commit()
    refused = runner.invoke(args=["schedule", "add", "x", "--preset", "weekly", "--template", "nope"])
    assert refused.exit_code == 2 and "pdf_template:" in refused.output
    assert session.execute(select(ReportSchedule)).first() is None
    added = runner.invoke(args=["schedule", "add", "Board", "--preset", "weekly", "--template", "Board pack"])
    assert added.exit_code == 0, added.output
    assert "PDF template board-pack" in added.output
    schedule = session.execute(select(ReportSchedule)).scalar_one()
    back = runner.invoke(args=["schedule", "edit", str(schedule.id), "--template", "built-in"])
    assert back.exit_code == 0 and "PDF template" not in back.output
