"""Custom PDF templates: uploaded, checked, sandboxed, kept as files, chosen per report; built-in remains."""

from __future__ import annotations

import io
import re
import socket
from dataclasses import replace

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.catalog import get_catalog
from app.models.reporting import Report
from app.models.users import AuditEntry
from app.posture import latest_run
from app.reporting import custom_templates
from app.reporting.archive import report_path
from app.reporting.context import ReportError, Scope, build_context
from app.reporting.custom_templates import (
    CustomTemplate,
    TemplateError,
    check_template,
    delete_template,
    get_template,
    list_templates,
    render_custom_html,
    resolve_template,
    save_template,
    templates_root,
)
from app.reporting.pdf import TEMPLATES_DIR, ReportsOnlyFetcher, render_html, render_pdf
from tests.conftest import minimal_inventory, write_yaml
from tests.reporting.conftest import NOW, import_inventory_file, make_reports

SIMPLE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Board summary · {{ r.organisation }}</title>
<link rel="stylesheet" href="report.css"></head>
<body>
<h1 class="board">Board summary for {{ r.organisation }}</h1>
{% for f in r.frameworks %}
<p>{{ f.name }}: {{ f.score|score }}</p>
{% endfor %}
<p>Agents: {% for a in r.agents %}{{ a.id }} {% endfor %}</p>
</body></html>
"""
SIMPLE_CSS = "h1.board { color: #123456; }"
PAYLOAD = "<script>alert(1)</script>"


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def settings_of(app):
    return app.config["STEWARD"]


def save(app, session, html=SIMPLE, css=SIMPLE_CSS, name="Board summary", actor="admin"):
    template = save_template(
        session,
        catalog=get_catalog(app),
        settings=settings_of(app),
        name=name,
        html=html,
        css=css,
        actor=actor,
        now=NOW,
    )
    session.commit()
    return template


def context_of(app, session):
    return build_context(
        session,
        catalog=get_catalog(app),
        settings=settings_of(app),
        scope=Scope(),
        run=latest_run(session),
        now=NOW,
    )


def audit(session, action: str) -> list[AuditEntry]:
    return session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --- upload and render ---------------------------------------------------------------------------


def test_uploaded_template_renders_the_pdf_report(inventory_app, session):
    template = save(inventory_app, session)
    assert (
        templates_root(settings_of(inventory_app)) / "board-summary" / "template.html"
    ).read_text() == SIMPLE
    assert [t.slug for t in list_templates(settings_of(inventory_app))] == ["board-summary"]

    generated = make_reports(inventory_app, session)
    custom = custom_reports(inventory_app, session, template)
    custom_text = pdf_text(report_path(settings_of(inventory_app), custom.reports[0]).read_bytes())
    built_in_text = pdf_text(report_path(settings_of(inventory_app), generated.reports[0]).read_bytes())
    assert "Board summary for Demo organisation" in custom_text
    assert "Agents: release-bot triage-bot" in custom_text
    assert "Executive summary" not in custom_text
    assert "Board summary" not in built_in_text and "Executive summary" in built_in_text

    built_in_entry, custom_entry = audit(session, "report.generate")
    assert custom_entry.detail["template"] == "board-summary"
    assert custom_entry.detail["template_html_sha256"] == template.html_sha256
    assert "template" not in built_in_entry.detail


def custom_reports(app, session, template):
    from app.reporting.archive import generate_report

    generated = generate_report(
        session,
        catalog=get_catalog(app),
        settings=settings_of(app),
        scope=Scope(),
        formats=("pdf",),
        made_by="tester",
        now=NOW,
        pdf_template=template,
    )
    session.commit()
    return generated


def test_the_built_in_template_renders_the_same_in_the_sandbox(inventory_app, session):
    context = context_of(inventory_app, session)
    source = (TEMPLATES_DIR / "evidence.html").read_text()
    assert render_custom_html(source, "", context) == render_html(context)


def test_custom_css_comes_after_the_linked_stylesheet_and_cannot_close_its_element(inventory_app, session):
    context = context_of(inventory_app, session)
    html = render_custom_html(SIMPLE, 'h1::after { content: "</style><p>x</p>"; }', context)
    assert html.index('href="report.css"') < html.index("<style>")
    assert "</style><p>" not in html and "<\\/style><p>x<\\/p>" in html
    assert render_custom_html(SIMPLE, "", context).count("<style>") == 0


def test_uploading_a_name_again_replaces_the_template(inventory_app, session):
    save(inventory_app, session)
    save(inventory_app, session, html=SIMPLE.replace("Board summary for", "Quarterly view for"))
    [template] = list_templates(settings_of(inventory_app))
    assert "Quarterly view for" in template.html
    assert [e.action for e in audit(session, "report_template.replace")] == ["report_template.replace"]
    assert len(audit(session, "report_template.upload")) == 1
    folders = [p.name for p in templates_root(settings_of(inventory_app)).iterdir()]
    assert folders == ["board-summary"]  # no staged or retired copy left behind


def test_upload_and_delete_are_in_the_audit_trail_and_change_files_only_on_commit(inventory_app, session):
    settings = settings_of(inventory_app)
    save_template(
        session,
        catalog=get_catalog(inventory_app),
        settings=settings,
        name="Board summary",
        html=SIMPLE,
        actor="admin",
    )
    session.rollback()
    assert list_templates(settings) == [] and audit(session, "report_template.upload") == []
    assert list(templates_root(settings).iterdir()) == []  # the staged copy went with the rollback

    template = save(inventory_app, session)
    [entry] = audit(session, "report_template.upload")
    assert entry.actor == "admin" and entry.target == "report template board-summary"
    assert entry.detail["html_sha256"] == template.html_sha256 and entry.detail["checked_against_run"]

    delete_template(session, settings=settings, name="board-summary", actor="admin")
    session.rollback()
    assert [t.slug for t in list_templates(settings)] == ["board-summary"]
    delete_template(session, settings=settings, name="Board summary", actor="admin")
    session.commit()
    assert list_templates(settings) == []
    [entry] = audit(session, "report_template.delete")
    assert entry.detail["name"] == "Board summary" and entry.detail["html_sha256"] == template.html_sha256


def test_template_is_chosen_by_name_or_slug_and_the_built_in_by_default(inventory_app, session):
    settings = settings_of(inventory_app)
    template = save(inventory_app, session)
    for name in (None, "", "  ", "built-in", "Built-in"):
        assert resolve_template(settings, name) is None
    assert resolve_template(settings, "board-summary") == template
    assert resolve_template(settings, "Board Summary") == template
    with pytest.raises(
        TemplateError, match=r"no custom template “nope” \(there are: Board summary; or built-in\)"
    ):
        resolve_template(settings, "nope")
    with pytest.raises(TemplateError):
        get_template(settings, "nope")


@pytest.mark.parametrize(
    ("name", "html", "css", "message"),
    [
        ("", SIMPLE, "", "name: expected 1 to 100 characters"),
        ("---", SIMPLE, "", "name: expected at least one letter or digit"),
        ("Built-in", SIMPLE, "", "the built-in template's"),
        ("x" * 101, SIMPLE, "", "name: expected 1 to 100 characters"),
        ("Big", "x" * (custom_templates.MAX_HTML_BYTES + 1), "", "html: 262,145 bytes, over the limit"),
        ("Big", SIMPLE, "x" * (custom_templates.MAX_CSS_BYTES + 1), "css: 131,073 bytes, over the limit"),
        ("Latin", "caf\xe9".encode("latin-1"), "", "html: not UTF-8 text"),
        ("Empty", "  \n", "", "html: the template is empty"),
    ],
)
def test_bad_uploads_are_refused_with_the_field_named(inventory_app, session, name, html, css, message):
    with pytest.raises(TemplateError, match=message):
        save(inventory_app, session, html=html, css=css, name=name)
    assert list_templates(settings_of(inventory_app)) == []


def test_the_same_fields_pass_when_they_are_valid(inventory_app, session):
    save(inventory_app, session, html=SIMPLE.encode("utf-8"), css="", name="  Board   summary ")
    [template] = list_templates(settings_of(inventory_app))
    assert template.name == "Board summary" and template.css == ""


# --- broken templates ----------------------------------------------------------------------------


def test_a_syntax_error_is_refused_with_its_line_number(inventory_app, session):
    broken = "<h1>{{ r.organisation }}</h1>\n<p>\n{% for f in r.frameworks %}{{ f.name }\n{% endfor %}\n"
    with pytest.raises(TemplateError) as caught:
        save(inventory_app, session, html=broken)
    assert caught.value.line == 3
    assert str(caught.value).startswith("template.html line 3: unexpected '}'")
    assert "(at: {% for f in r.frameworks %}{{ f.name })" in str(caught.value)
    assert list_templates(settings_of(inventory_app)) == []
    assert audit(session, "report_template.upload") == []


def test_an_unclosed_block_names_the_line_where_the_template_ends(inventory_app, session):
    with pytest.raises(TemplateError, match=r"template.html line 2: Unexpected end of template"):
        save(inventory_app, session, html="{% for f in r.frameworks %}\n{{ f.name }}")


@pytest.mark.parametrize(
    ("html", "line", "message"),
    [
        (
            "<h1>{{ r.organisation }}</h1>\n\n\n<p>{{ r.no_such_field }}</p>",
            4,
            "has no attribute 'no_such_field'",
        ),
        ("<p>\n{{ nothing_here }}</p>", 2, "'nothing_here' is undefined"),
        (
            "<p>{{ r.organisation }}</p>\n{{ 1 / (r.agents|length - 2) }}",
            2,
            "ZeroDivisionError: division by zero",
        ),
        ("<p>\n\n{{ r.organisation|score }}</p>", 3, "ValueError: Unknown format code 'f'"),
        (
            "{% for f in r.frameworks %}\n{% for x in f.nope %}{% endfor %}{% endfor %}",
            2,
            "has no attribute 'nope'",
        ),
        ("<p>\n{% include 'missing.html' %}</p>", 2, "TemplateNotFound: missing.html"),
        (
            "{% set item = 1 %}\n{% include '_requirement.html' %}",
            2,
            "(in the built-in _requirement.html, line 1)",
        ),
    ],
)
def test_a_runtime_error_is_refused_with_its_line_number(inventory_app, session, html, line, message):
    with pytest.raises(TemplateError) as caught:
        save(inventory_app, session, html=html)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"template.html line {line}")
    assert message in str(caught.value)
    assert list_templates(settings_of(inventory_app)) == []


def test_the_built_in_partial_can_be_included_where_its_names_are_defined(inventory_app, session):
    html = (
        "{% for f in r.frameworks %}{% for item in f.requirements %}"
        "{% include '_requirement.html' %}{% endfor %}{% endfor %}"
    )
    check = check_template(
        session, catalog=get_catalog(inventory_app), settings=settings_of(inventory_app), html=html
    )
    assert check.pdf.startswith(b"%PDF")
    assert "renders against evaluation #" in check.describe()


def test_the_built_in_template_keeps_working_after_a_broken_upload(inventory_app, session):
    good = save(inventory_app, session)
    with pytest.raises(TemplateError):
        save(inventory_app, session, html="{{ r.organisation }\n")
    with pytest.raises(TemplateError):
        save(inventory_app, session, html="{{ r.nope }}", name="Another")
    assert list_templates(settings_of(inventory_app)) == [good]  # the earlier upload is untouched
    generated = make_reports(inventory_app, session)
    text = pdf_text(report_path(settings_of(inventory_app), generated.reports[0]).read_bytes())
    assert "Executive summary" in text and "Appendix B: Methodology" in text


def test_a_saved_template_that_breaks_on_new_data_fails_the_report_and_nothing_is_kept(
    inventory_app, session
):
    template = save(inventory_app, session)
    broken = replace(template, html="<p>\n{{ r.agents[5].id }}</p>")
    with pytest.raises(ReportError, match=r"template.html line 2: .*"):
        custom_reports(inventory_app, session, broken)
    session.rollback()
    assert session.execute(select(Report)).scalars().all() == []
    assert make_reports(inventory_app, session).reports[0].format == "pdf"


def test_without_an_evaluation_a_template_is_only_compiled(app, session):
    check = check_template(session, catalog=get_catalog(app), settings=settings_of(app), html=SIMPLE)
    assert check.run_id is None and check.pdf is None
    assert "no evaluation run yet" in check.describe()
    with pytest.raises(TemplateError, match="line 1"):
        check_template(session, catalog=get_catalog(app), settings=settings_of(app), html="{{ x }")


# --- the sandbox ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "'__class__' of 'str' object is unsafe"),
        ("{{ cycler.__init__.__globals__.os }}", "'__init__' of 'type' object is unsafe"),
        ("{{ cycler('a').next.__func__.__globals__ }}", "'__func__' of 'method' object is unsafe"),
        ("{{ joiner().__call__.__globals__ }}", "'__call__' of 'Joiner' object is unsafe"),
        ("{{ namespace.__init__.__globals__['sys'] }}", "'__init__' of 'type' object is unsafe"),
        ("{{ trend_svg.__globals__ }}", "'__globals__' of 'function' object is unsafe"),
        ("{{ r.scope.describe.__func__.__globals__ }}", "'__func__' of 'method' object is unsafe"),
        ("{{ r['__class__'] }}", "'__class__' of 'ReportContext' object is unsafe"),
        ("{{ r|attr('__dict__') }}", "'__dict__' of 'ReportContext' object is unsafe"),
        ("{{ '{0.__class__.__init__.__globals__}'.format(r) }}", "object is unsafe"),
        ("{{ '{0.__class__}'.format(r) }}", "'__class__' of 'ReportContext' object is unsafe"),
        ("{{ self.__init__.__globals__ }}", "'__init__' of 'TemplateReference' object is unsafe"),
        ("{{ lipsum.__globals__ }}", "'lipsum' is undefined"),
        ("{{ r.check_errors.update({'x': 'y'}) }}", "'update' of 'dict' object is unsafe"),
        ("{{ r.generated_at.__reduce_ex__(2) }}", "'__reduce_ex__' of 'datetime' object is unsafe"),
        ("{% include '/etc/passwd' %}", "TemplateNotFound: /etc/passwd"),
        ("{% include '../../pyproject.toml' %}", "TemplateNotFound: ../../pyproject.toml"),
        ("{% extends 'evidence.html' %}", "TemplateNotFound: evidence.html"),
    ],
)
def test_sandbox_escapes_are_refused(inventory_app, session, html, message):
    context = context_of(inventory_app, session)
    with pytest.raises(TemplateError) as caught:
        render_custom_html("<p>fine</p>\n" + html, "", context)
    assert caught.value.line == 2 and message in str(caught.value)


def test_what_the_sandbox_allows_still_works(inventory_app, session):
    context = context_of(inventory_app, session)
    html = (
        "{% set rows = cycler('odd', 'even') %}{% set comma = joiner(', ') %}{% set ns = namespace(n=0) %}"
        "{% for a in r.agents %}{{ comma() }}{{ rows.next() }}:{{ a.id|upper }}{% set ns.n = ns.n + 1 %}"
        "{% endfor %} ({{ ns.n }}) {{ r.scope.describe() }} {{ '{:,}'.format(1234567) }} "
        "{{ r.generated_at|day }} {{ r.check_errors.items()|list }} {{ range(3)|join('-') }}"
    )
    assert render_custom_html(html, "", context) == (
        "odd:RELEASE-BOT, even:TRIAGE-BOT (2) all frameworks · all environments · all teams 1,234,567 "
        "2026-11-24 [] 0-1-2"
    )


def test_the_context_is_the_same_after_a_template_tried_to_change_it(inventory_app, session):
    context = context_of(inventory_app, session)
    before = repr(context)
    for html in (
        "{{ r.check_errors.__setitem__('x', 1) }}",
        "{{ r.open_by_severity.clear() }}",
        "{% set r.organisation = 'x' %}",
    ):
        with pytest.raises(TemplateError):
            render_custom_html(html, "", context)
    assert repr(context) == before


def test_a_script_payload_in_the_inventory_is_escaped_in_the_output(app, runner, session, tmp_path):
    data = minimal_inventory()
    data["agents"][0]["purpose"] = PAYLOAD
    data["agents"][0]["name"] = f'Release "bot" {PAYLOAD}'
    import_inventory_file(runner, write_yaml(tmp_path / "inventory.yaml", data))
    context = context_of(app, session)
    html = render_custom_html(
        '{% for a in r.agents %}<b title="{{ a.name }}">{{ a.purpose }}</b>{% endfor %}', "", context
    )
    assert "<b title=" in html  # the template's own markup stays markup
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&#34;bot&#34;" in html
    save(app, session, html="{% for a in r.agents %}<p>{{ a.purpose }}</p>{% endfor %}")
    assert PAYLOAD in pdf_text(render_pdf(context, template=get_template(settings_of(app), "board-summary")))


@pytest.mark.parametrize(
    ("html", "message"),
    [
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "ran longer than 0.5 seconds",
        ),
        ("{{ 'a' * 100000000 }}", "repetition past 2,000,000 items"),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
            "{% endfor %}",
            "a value of more than 2,000,000 characters",
        ),
        ("{{ ((10 ** 1000) ** 1000) ** 1000 }}", "a power past 100,000 bits"),
        ("{{ 'x'|center(999999999) }}", "numbers past 10,000"),
        ("{{ 'x'.ljust(999999999) }}", "numbers past 10,000"),
        ("{{ '{:>999999999}'.format(1) }}", "format fields may not be six digits wide"),
        ("{{ '%999999999s' % 1 }}", "format fields may not be six digits wide"),
        ("{% set s = 'ab' * 1000 %}{{ s|replace('a', s)|replace('a', s) }}", "a replacement past 2,000,000"),
        ("{{ range(10 ** 7)|list }}", "range() is limited to 100,000 items"),
        (
            "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% else %}{{ 'x' * 1000 }}{% endif %}"
            "{% endmacro %}{{ m(30) }}",
            "the template's output passed 20,000,000 characters",
        ),
    ],
)
def test_a_runaway_template_is_stopped_by_the_time_and_size_bounds(html, message):
    with pytest.raises(TemplateError, match=re.escape(message)):
        render_custom_html(html, "", None, seconds=0.5)


def test_templates_within_the_bounds_render():
    html = (
        "{% for a in range(300) %}{% for b in range(300) %}{% endfor %}{% endfor %}{{ ('ab' * 1000)|length }}"
        " {{ 'x'|center(9) }} {{ '%5d|' % 42 }}{{ 123456|filesizeformat }}"
    )
    assert render_custom_html(html, "", None, seconds=5) == "2000     x     " + "   42|123.5 kB"


# --- resource loading ----------------------------------------------------------------------------


def test_url_fetches_are_refused_and_the_upload_with_them(inventory_app, session, no_network, tmp_path):
    secret = tmp_path / "secret.css"
    secret.write_text("h1 { color: red }")
    html = SIMPLE.replace(
        "</body>",
        '<img src="http://127.0.0.1:1/x"><link rel="stylesheet" href="file:///etc/passwd">'
        f'<link rel="stylesheet" href="{secret.as_uri()}"><img src="../../pyproject.toml"></body>',
    )
    css = "@import url(https://example.org/x.css); body { background: url(file:///etc/hostname) }"
    with pytest.raises(TemplateError) as caught:
        save(inventory_app, session, html=html, css=css)
    message = str(caught.value)
    for url in ("http://127.0.0.1:1/x", "file:///etc/passwd", secret.as_uri(), "https://example.org/x.css"):
        assert url in message
    assert "a report may load only files under reports/" in message
    assert list_templates(settings_of(inventory_app)) == []

    fetcher = ReportsOnlyFetcher()
    draft = CustomTemplate("draft", "draft", html, css, "admin", NOW)
    assert render_pdf(context_of(inventory_app, session), fetcher=fetcher, template=draft).startswith(b"%PDF")
    assert set(fetcher.refused) >= {
        "http://127.0.0.1:1/x",
        "file:///etc/passwd",
        secret.as_uri(),
        "https://example.org/x.css",
        "file:///etc/hostname",
    }


def test_a_template_that_links_only_the_built_in_stylesheet_loads_it(inventory_app, session, no_network):
    fetcher = ReportsOnlyFetcher()
    template = save(inventory_app, session)
    data = render_pdf(context_of(inventory_app, session), fetcher=fetcher, template=template)
    assert fetcher.refused == []
    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata.title == "Board summary · Demo organisation"
    box = reader.pages[0].mediabox
    assert box.height > box.width  # report.css's A4 portrait page came through the fetcher


def test_the_template_stylesheet_applies_after_the_linked_one(inventory_app, session):
    context = context_of(inventory_app, session)
    portrait = CustomTemplate("p", "p", SIMPLE, "", "admin", NOW)
    landscape = CustomTemplate("l", "l", SIMPLE, "@page { size: A4 landscape }", "admin", NOW)
    for template, is_landscape in ((portrait, False), (landscape, True)):
        box = PdfReader(io.BytesIO(render_pdf(context, template=template))).pages[0].mediabox
        assert (box.width > box.height) is is_landscape


# --- the command line ----------------------------------------------------------------------------


def test_steward_report_takes_a_template(inventory_app, session, runner, tmp_path):
    save(inventory_app, session)
    out = tmp_path / "board.pdf"
    result = runner.invoke(
        args=["report", "--format", "pdf", "--template", "board-summary", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Board summary for Demo organisation" in pdf_text(out.read_bytes())

    result = runner.invoke(args=["report", "--format", "pdf", "--template", "built-in", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Executive summary" in pdf_text(out.read_bytes())


def test_steward_report_with_an_unknown_template_makes_nothing(inventory_app, session, runner):
    result = runner.invoke(args=["report", "--format", "pdf", "--template", "nope"])
    assert result.exit_code == 2
    assert "steward report: template: no custom template “nope”" in result.output
    assert session.execute(select(Report)).scalars().all() == []
