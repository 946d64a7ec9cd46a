"""The PDF evidence report: real pages, parsed back and drawn as an image; WeasyPrint loads nothing else."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select
from weasyprint import HTML

from app import create_app
from app.assessment import accept_risk, attest_requirement
from app.catalog import get_catalog
from app.config import Settings
from app.db import dispose_engine, get_engine, session_scope
from app.models.assessment import Finding
from app.posture import latest_run
from app.reporting.archive import report_path
from app.reporting.context import Scope, build_context
from app.reporting.pdf import REPORTS_ROOT, TEMPLATES_DIR, ReportsOnlyFetcher, render_pdf
from tests.conftest import minimal_inventory, module_settings, write_yaml
from tests.reporting.conftest import NOW, crowded_inventory, import_inventory_file, make_reports


def pdf_text(data: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(data))
    return reader, [page.extract_text() for page in reader.pages]


@pytest.fixture(scope="module")
def report_app(tmp_path_factory, migrated_template):
    """The minimal inventory's app, for the module's tests that only read the one report made of it."""
    app = create_app(module_settings(tmp_path_factory, migrated_template, "pdf-report"))
    inventory = write_yaml(tmp_path_factory.mktemp("pdf-inventory") / "inventory.yaml", minimal_inventory())
    import_inventory_file(app.test_cli_runner(), inventory)
    yield app
    dispose_engine(app)


@pytest.fixture(scope="module")
def report_pdf(report_app) -> tuple[bytes, object]:
    """The report, rendered once for the module (a dozen seconds a render)."""
    with session_scope(get_engine(report_app)) as session:
        generated = make_reports(report_app, session)
        return report_path(report_app.config["STEWARD"], generated.reports[0]).read_bytes(), generated.context


def test_pdf_has_cover_contents_every_framework_and_requirement(report_pdf, report_app):
    data, context = report_pdf
    reader, pages = pdf_text(data)
    catalog = get_catalog(report_app)
    assert len(reader.pages) >= 3 + len(catalog.frameworks)
    cover = pages[0]
    assert "Demo organisation" in cover and "EVIDENCE REPORT" in cover
    assert f"#{context.run_id}" in cover and context.catalog_hash in cover.replace("\n", "")
    assert "2026-11-24 12:00 UTC" in cover
    everything = "\n".join(pages)
    for framework in catalog.frameworks.values():
        assert framework.name in everything
        assert framework.requirements[0].id in everything
    assert reader.metadata.title.startswith("Evidence report · Demo organisation")


def test_contents_lists_each_chapter_with_its_page_number(report_pdf, report_app):
    data, _ = report_pdf
    _, pages = pdf_text(data)
    contents = pages[1]
    assert "Contents" in contents
    numbers = {}
    for title in ("Executive summary", "Appendix A: Inventory", "Appendix B: Methodology"):
        match = re.search(re.escape(title) + r"[ .]*?(\d+)\s*$", contents, re.M)
        assert match, f"{title} has no page number in: {contents}"
        numbers[title] = int(match.group(1))
    # the page each entry points at really opens that chapter
    for title, number in numbers.items():
        assert title in pages[number - 1]
    assert (
        numbers["Executive summary"] < numbers["Appendix A: Inventory"] < numbers["Appendix B: Methodology"]
    )


def test_every_page_after_the_cover_has_running_header_and_page_number(report_pdf):
    data, context = report_pdf
    _, pages = pdf_text(data)
    total = len(pages)
    assert f"Page 1 of {total}" in pages[0]
    for number, text in enumerate(pages[1:], start=2):
        assert f"Page {number} of {total}" in text
        assert "Demo organisation · Evidence report 2026-11-24" in text
        assert f"Evaluation run #{context.run_id}" in text


def test_methodology_says_whose_ids_each_framework_uses(report_pdf, report_app):
    data, _ = report_pdf
    _, pages = pdf_text(data)
    methodology = " ".join(" ".join(page.split()) for page in pages if "Appendix B: Methodology" in page)
    assert "Appendix B: Methodology" in methodology
    for status in ("Pass", "Fail", "No data", "Attested", "Not attested", "Not applicable", "Partial"):
        assert status in methodology
    for framework in get_catalog(report_app).frameworks.values():
        assert framework.name in methodology
        expected = "ids are the publisher's own" if framework.official_ids else "Steward's local ids"
        assert expected in methodology


def test_inventory_appendix_lists_each_agent_with_owner_identity_credentials_and_tools(report_pdf):
    data, _ = report_pdf
    reader, pages = pdf_text(data)
    index = next(i for i, text in enumerate(pages) if "Appendix A: Inventory" in text and "OWNER" in text)
    appendix = re.sub(r"\s+", "", pages[index])
    for text in (
        "release-bot",
        "alice@example.org",
        "spiffe://example.org/ci/release-bot",
        "jit-deploy",
        "triage-bot",
    ):
        assert text in appendix
    box = reader.pages[index].mediabox
    assert box.width > box.height  # the stylesheet (loaded through the fetcher) turns the appendix landscape


def test_first_page_renders_to_a_picture_with_ink(report_pdf, tmp_path):
    data, _ = report_pdf
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "50",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(tmp_path / "cover"),
        ],
        check=True,
    )
    with Image.open(tmp_path / "cover.png") as image:
        grey = image.convert("L")
        width, height = grey.size
        assert height > width  # A4 portrait
        dark = sum(grey.histogram()[:128])
    assert dark > 1000  # text was drawn, not a blank page


def test_organisation_name_comes_from_the_setting(inventory_app, session):
    catalog = get_catalog(inventory_app)
    run = latest_run(session)
    settings = Settings(
        instance_path=inventory_app.config["STEWARD"].instance_path, organisation="Acme Robotics GmbH"
    )
    context = build_context(session, catalog=catalog, settings=settings, scope=Scope(), run=run, now=NOW)
    _, pages = pdf_text(render_pdf(context))
    assert "Acme Robotics GmbH" in pages[0] and "Demo organisation" not in pages[0]


def test_findings_beyond_the_cap_point_to_the_workbook(app, runner, session, tmp_path):
    import_inventory_file(runner, write_yaml(tmp_path / "crowded.yaml", crowded_inventory(6)))
    inventory_app = app
    catalog = get_catalog(inventory_app)
    run = latest_run(session)
    settings = inventory_app.config["STEWARD"]
    capped = build_context(
        session, catalog=catalog, settings=settings, scope=Scope(), run=run, now=NOW, findings_per_check=1
    )
    crowded = [c for f in capped.frameworks for r in f.requirements for c in r.checks if c.findings_total > 1]
    assert crowded, "six alike agents should give some check several findings"
    text = " ".join(" ".join(pdf_text(render_pdf(capped))[1]).split())
    assert (
        "more open findings of this check are not shown here; the workbook's Findings sheet lists all" in text
    )

    full = build_context(session, catalog=catalog, settings=settings, scope=Scope(), run=run, now=NOW)
    text = " ".join(" ".join(pdf_text(render_pdf(full))[1]).split())
    assert "not shown here" not in text


def test_fetcher_serves_files_under_reports_only(tmp_path):
    fetcher = ReportsOnlyFetcher()
    css = TEMPLATES_DIR / "report.css"
    assert fetcher.resolve(css.as_uri()) == css.resolve()
    response = fetcher.fetch(css.as_uri())
    assert b"@page" in response.read() and response.content_type == "text/css"
    for url in (
        "file:///etc/passwd",
        (REPORTS_ROOT / ".." / "pyproject.toml").as_uri(),
        REPORTS_ROOT.as_uri() + "/templates/%2e%2e/%2e%2e/pyproject.toml",
        "http://127.0.0.1:9/report.css",
        "https://example.org/logo.png",
        "data:text/css,body{color:red}",
        "file://otherhost" + css.as_posix(),
    ):
        assert fetcher.resolve(url) is None, url
        with pytest.raises(ValueError, match="refused"):
            fetcher.fetch(url)


def test_fetcher_refuses_a_link_under_reports_that_points_elsewhere(tmp_path):
    root = tmp_path / "reports"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("not for reports")
    (root / "innocent.css").symlink_to(secret)
    (root / "real.css").write_text("body { color: black }")
    fetcher = ReportsOnlyFetcher(root)
    assert fetcher.resolve((root / "innocent.css").as_uri()) is None
    assert fetcher.resolve((root / "real.css").as_uri()) == (root / "real.css").resolve()


def test_weasyprint_never_loads_what_the_fetcher_refuses(tmp_path):
    secret = tmp_path / "secret.css"
    secret.write_text("body { background: red }")
    html = (
        f'<link rel="stylesheet" href="{secret.as_uri()}">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
        '<img src="file:///etc/hostname"><p>hello</p>'
    )
    fetcher = ReportsOnlyFetcher()
    data = HTML(string=html, base_url=TEMPLATES_DIR.as_uri() + "/", url_fetcher=fetcher).write_pdf()
    assert data.startswith(b"%PDF")
    assert set(fetcher.refused) == {secret.as_uri(), "http://127.0.0.1:9/x.css", "file:///etc/hostname"}


def test_the_real_report_loads_only_its_stylesheet(inventory_app, session):
    run = latest_run(session)
    context = build_context(
        session,
        catalog=get_catalog(inventory_app),
        settings=inventory_app.config["STEWARD"],
        scope=Scope(),
        run=run,
        now=NOW,
    )
    fetcher = ReportsOnlyFetcher()
    render_pdf(context, fetcher=fetcher)
    assert fetcher.refused == []
    assert Path(TEMPLATES_DIR / "report.css").is_file()


def test_exceptions_and_attestations_appear_under_their_requirements(inventory_app, session):
    catalog = get_catalog(inventory_app)
    finding = (
        session.execute(select(Finding).where(Finding.status == "open").order_by(Finding.id))
        .scalars()
        .first()
    )
    accept_risk(
        session,
        finding_id=finding.id,
        justification="Compensating control: the gateway blocks this call until Q2.",
        accepted_by="carol",
        expires_at=NOW + timedelta(days=90),
        now=NOW,
    )
    framework, requirement = next(
        (f, r) for f in catalog.frameworks.values() for r in f.requirements if r.is_manual
    )
    attest_requirement(
        session,
        catalog=catalog,
        framework_id=framework.id,
        requirement_id=requirement.id,
        statement="The AI policy was approved by the board on 2026-09-30.",
        attested_by="dave",
        expires_at=NOW + timedelta(days=180),
        evidence_url="https://intranet.example.org/ai-policy",
        now=NOW,
    )
    session.commit()
    generated = make_reports(inventory_app, session, formats=("pdf", "xlsx"))
    _, pages = pdf_text(report_path(inventory_app.config["STEWARD"], generated.reports[0]).read_bytes())
    text = " ".join(" ".join(pages).split())
    assert "Compensating control: the gateway blocks this call until Q2." in text
    assert "risk accepted until 2027-02-22" in text
    assert "The AI policy was approved by the board on 2026-09-30." in text
    assert "Attested by dave on 2026-11-24, valid until 2027-05-23." in text
    requirement_page = next(
        p for p in pages if f"{requirement.id} {requirement.title}"[:40] in " ".join(p.split())
    )
    assert "Attested" in requirement_page
