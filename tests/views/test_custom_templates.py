"""The PDF templates page: admins upload, check, preview and delete templates; reports are made with them."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.db import get_engine, session_scope
from app.models.reporting import Report
from app.models.users import AuditEntry
from app.reporting.archive import report_path
from app.reporting.custom_templates import list_templates, templates_root
from tests.conftest import database_environment
from tests.views.conftest import csrf_token

TEMPLATE = """<html><head><title>Board pack</title><link rel="stylesheet" href="report.css"></head>
<body><h1>Board pack for {{ r.organisation }}</h1>
{% for f in r.frameworks %}<p>{{ f.name }} {{ f.score|score }}</p>{% endfor %}
</body></html>
"""
BROKEN = "<h1>{{ r.organisation }}</h1>\n<p>\n{% if r.gaps %}{{ r.gaps[0].requirement_id }\n{% endif %}\n"


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def upload(client, *, action="save", name="Board pack", html=TEMPLATE, css="", as_file=True, token=True):
    data = {"name": name, "action": action, "css": css}
    if token:
        data["csrf_token"] = csrf_token(client, "/reports/")
    if as_file:
        data["html_file"] = (io.BytesIO(html.encode("utf-8")), "board.html")
    else:
        data["html"] = html
    return client.post("/reports/templates", data=data, content_type="multipart/form-data")


def stored(app):
    return list_templates(app.config["STEWARD"])


def audit(app, action: str) -> list[AuditEntry]:
    with session_scope(get_engine(app)) as session:
        return session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()


def reports(app) -> list[Report]:
    with session_scope(get_engine(app)) as session:
        return session.execute(select(Report).order_by(Report.id)).scalars().all()


def test_admin_uploads_a_template_and_an_analyst_generates_a_pdf_with_it(admin, analyst, seeded_app):
    assert 'href="/reports/templates"' in page(admin, "/reports/")
    response = upload(admin)
    assert response.status_code == 302 and response.location.endswith("/reports/templates")
    html = page(admin, "/reports/templates")
    assert "Template “Board pack” saved" in html and "<code>--template board-pack</code>" in html
    [entry] = audit(seeded_app, "report_template.upload")
    assert entry.actor == "admin" and entry.detail["name"] == "Board pack"

    index = page(analyst, "/reports/")
    assert '<option value="board-pack">Board pack</option>' in index
    assert 'href="/reports/templates"' not in index
    response = analyst.post(
        "/reports/",
        data={"csrf_token": csrf_token(analyst, "/reports/"), "format": ["pdf"], "template": "board-pack"},
    )
    assert response.status_code == 302
    [report] = reports(seeded_app)
    text = pdf_text(report_path(seeded_app.config["STEWARD"], report).read_bytes())
    assert "Board pack for Demo organisation" in text and "Executive summary" not in text


def test_without_a_template_chosen_the_built_in_is_used(admin, analyst, seeded_app):
    index = page(analyst, "/reports/")
    assert 'name="template"' not in index  # nothing to choose until a template is uploaded
    upload(admin)
    response = analyst.post(
        "/reports/", data={"csrf_token": csrf_token(analyst, "/reports/"), "format": ["pdf"], "template": ""}
    )
    assert response.status_code == 302
    [report] = reports(seeded_app)
    assert "Board pack" not in pdf_text(report_path(seeded_app.config["STEWARD"], report).read_bytes())


def test_an_unknown_template_generates_nothing(analyst, seeded_app):
    response = analyst.post(
        "/reports/", data={"csrf_token": csrf_token(analyst, "/reports/"), "format": ["pdf"], "template": "x"}
    )
    assert response.status_code == 302
    assert "Not generated: template: no custom template “x”" in page(analyst, "/reports/")
    assert reports(seeded_app) == []


def test_a_broken_upload_is_refused_with_its_line_and_the_form_kept(admin, seeded_app):
    response = upload(admin, html=BROKEN, as_file=False, css="h1 { color: navy }")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Not saved:" in html and "template.html line 3: unexpected &#39;}&#39;" in html
    assert "{{ r.gaps[0].requirement_id }" in html  # the source stays in the box, to be fixed
    assert "h1 { color: navy }" in html
    assert stored(seeded_app) == [] and audit(seeded_app, "report_template.upload") == []

    response = upload(admin, html="<p>\n\n{{ r.no_such_thing }}</p>")
    assert response.status_code == 400
    assert "template.html line 3: &#39;app.reporting.context.ReportContext object&#39; has no attribute" in (
        response.get_data(as_text=True)
    )
    assert stored(seeded_app) == []


def test_an_escape_attempt_is_refused(admin, seeded_app):
    response = upload(admin, html="<p>{{ ''.__class__.__mro__ }}</p>")
    assert response.status_code == 400
    assert "access to attribute &#39;__class__&#39; of &#39;str&#39; object is unsafe" in (
        response.get_data(as_text=True)
    )
    assert stored(seeded_app) == []


def test_check_and_preview_save_nothing(admin, seeded_app):
    response = upload(admin, action="check")
    assert response.status_code == 200
    assert "The template compiles and renders against evaluation #" in response.get_data(as_text=True)
    response = upload(admin, action="preview")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "steward-template-preview-board-pack.pdf" in response.headers["Content-Disposition"]
    assert "Board pack for Demo organisation" in pdf_text(response.data)
    assert stored(seeded_app) == [] and audit(seeded_app, "report_template.upload") == []


def test_admin_deletes_a_template(admin, seeded_app):
    upload(admin)
    token = csrf_token(admin, "/reports/templates")
    assert admin.post("/reports/templates/board-pack/delete", data={"csrf_token": token}).status_code == 302
    assert "Template “Board pack” deleted" in page(admin, "/reports/templates")
    assert stored(seeded_app) == [] and len(audit(seeded_app, "report_template.delete")) == 1
    token = csrf_token(admin, "/reports/templates")
    assert admin.post("/reports/templates/board-pack/delete", data={"csrf_token": token}).status_code == 404


def test_admin_downloads_the_built_in_template_as_a_starting_point(admin):
    response = admin.get("/reports/templates/built-in.html")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "{{ r.organisation }}" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_only_admins_manage_templates(role, request, admin, seeded_app):
    client = request.getfixturevalue(role)
    assert client.get("/reports/templates").status_code == 403
    assert client.get("/reports/templates/built-in.html").status_code == 403
    assert upload(client).status_code == 403
    assert stored(seeded_app) == []
    upload(admin)
    token = csrf_token(client, "/reports/")
    assert client.post("/reports/templates/board-pack/delete", data={"csrf_token": token}).status_code == 403
    assert [t.slug for t in stored(seeded_app)] == ["board-pack"]


def test_uploads_and_deletions_need_the_csrf_token(admin, seeded_app):
    assert upload(admin, token=False).status_code == 400
    assert stored(seeded_app) == []
    upload(admin)
    assert admin.post("/reports/templates/board-pack/delete", data={}).status_code == 400
    assert [t.slug for t in stored(seeded_app)] == ["board-pack"]


def test_a_stored_template_that_fails_on_the_data_leaves_the_built_in_working(analyst, seeded_app):
    # A template checked against older data can still break on new data: the report fails, clearly.
    folder = templates_root(seeded_app.config["STEWARD"]) / "fragile"
    folder.mkdir(parents=True)
    (folder / "template.html").write_text("<p>\n{{ r.agents[999].id }}</p>")
    meta = {"name": "Fragile", "uploaded_by": "admin", "uploaded_at": "2026-11-24T12:00:00+00:00"}
    (folder / "meta.json").write_text(json.dumps(meta))
    token = csrf_token(analyst, "/reports/")
    analyst.post("/reports/", data={"csrf_token": token, "format": ["pdf"], "template": "fragile"})
    assert "Not generated: template.html line 2: " in page(analyst, "/reports/")
    assert reports(seeded_app) == []
    analyst.post("/reports/", data={"csrf_token": csrf_token(analyst, "/reports/"), "format": ["pdf"]})
    assert [r.format for r in reports(seeded_app)] == ["pdf"]


def _schedule_form(client, **overrides) -> dict:
    return {
        "csrf_token": csrf_token(client, "/reports/schedules"),
        "name": "Board quarterly",
        "preset": "quarterly",
        "timezone": "UTC",
        "format": ["pdf"],
        "retention": "4",
        **overrides,
    }


def test_a_schedule_prints_with_the_template_it_chose_and_keeps_it_from_deletion(
    admin, seeded_app, monkeypatch
):
    from app.jobs import run_report_schedule
    from app.models.reporting import ReportSchedule

    assert 'name="pdf_template"' not in page(admin, "/reports/schedules")  # nothing to choose yet
    upload(admin)
    assert '<option value="board-pack">Board pack</option>' in page(admin, "/reports/schedules")
    response = admin.post("/reports/schedules", data=_schedule_form(admin, pdf_template="board-pack"))
    assert response.status_code == 302
    with session_scope(get_engine(seeded_app)) as session:
        schedule = session.execute(select(ReportSchedule)).scalar_one()
        assert schedule.pdf_template == "board-pack"
        schedule.created_at = schedule.created_at.replace(year=schedule.created_at.year - 1)  # a run is due
        schedule_id = schedule.id
    assert "PDF: board-pack" in page(admin, "/reports/schedules")
    assert '<option value="board-pack" selected>' in page(admin, f"/reports/schedules/{schedule_id}")

    # Deleting the template the schedule prints with is refused, naming the schedule.
    refused = admin.post(
        "/reports/templates/board-pack/delete", data={"csrf_token": csrf_token(admin, "/reports/templates")}
    )
    assert refused.status_code == 302 and [t.slug for t in stored(seeded_app)] == ["board-pack"]
    assert "Not deleted: the schedule Board quarterly prints with it." in page(admin, "/reports/templates")

    settings = seeded_app.config["STEWARD"]
    # The scheduler's job builds its own app from the environment, as the scheduler process does.
    for name, value in database_environment(settings).items():
        monkeypatch.setenv(name, value)
    run_report_schedule(schedule_id)
    [report] = reports(seeded_app)
    text = pdf_text(report_path(settings, report).read_bytes())
    assert "Board pack for Demo organisation" in text and "Executive summary" not in text


def test_a_schedule_naming_a_template_that_does_not_exist_is_not_saved(admin, seeded_app):
    from app.models.reporting import ReportSchedule

    response = admin.post("/reports/schedules", data=_schedule_form(admin, pdf_template="no-such-pack"))
    assert response.status_code == 302
    assert "Not saved: pdf_template:" in page(admin, "/reports/schedules")
    with session_scope(get_engine(seeded_app)) as session:
        assert session.execute(select(ReportSchedule)).first() is None
