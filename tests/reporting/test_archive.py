"""The report archive: a file and a record per report, written atomically, hashed, audited, kept or pruned."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.catalog import get_catalog
from app.models.reporting import Report
from app.models.users import AuditEntry
from app.reporting import archive
from app.reporting.archive import (
    apply_retention,
    generate_report,
    report_path,
    reports_dir,
    verify_report,
    write_atomically,
)
from app.reporting.context import ReportError, Scope
from tests.conftest import minimal_inventory, write_yaml
from tests.reporting.conftest import NOW, import_inventory_file, make_reports


def test_each_report_is_a_file_with_its_hash_run_catalog_and_maker(inventory_app, session):
    generated = make_reports(inventory_app, session, formats=("pdf", "xlsx"), made_by="carol")
    settings = inventory_app.config["STEWARD"]
    pdf, xlsx = generated.reports
    assert (pdf.format, xlsx.format) == ("pdf", "xlsx")
    for report in generated.reports:
        data = report_path(settings, report).read_bytes()
        assert hashlib.sha256(data).hexdigest() == report.sha256 and len(data) == report.size_bytes
        assert report.run_id == generated.context.run_id
        assert report.catalog_hash == get_catalog(inventory_app).hash
        assert report.made_by == "carol" and report.created_at == NOW
    assert report_path(settings, pdf).read_bytes().startswith(b"%PDF")
    assert report_path(settings, xlsx).read_bytes().startswith(b"PK")
    assert sorted(p.name for p in reports_dir(settings).iterdir()) == sorted([pdf.file_name, xlsx.file_name])
    audit = session.execute(select(AuditEntry).where(AuditEntry.action == "report.generate")).scalars().all()
    assert {(a.actor, a.target) for a in audit} == {
        ("carol", f"report #{pdf.id}"),
        ("carol", f"report #{xlsx.id}"),
    }
    assert audit[0].detail["sha256"] in (pdf.sha256, xlsx.sha256)


def test_a_report_reflects_an_evaluation_made_for_it(inventory_app, session):
    from app.posture import latest_run

    before = latest_run(session).id
    generated = make_reports(inventory_app, session)
    run = latest_run(session)
    assert run.id == before + 1 and run.trigger == "report" and run.actor == "tester"
    assert generated.reports[0].run_id == run.id


def test_unknown_framework_or_format_makes_nothing(inventory_app, session):
    settings = inventory_app.config["STEWARD"]
    for scope, formats, message in (
        (
            Scope(frameworks=("no-such-framework",)),
            ("pdf",),
            "frameworks: no-such-framework not in the catalog",
        ),
        (Scope(), ("docx",), "formats: docx not one of pdf, xlsx"),
        (Scope(), (), "formats: none chosen"),
    ):
        with pytest.raises(ReportError, match=message):
            generate_report(
                session,
                catalog=get_catalog(inventory_app),
                settings=settings,
                scope=scope,
                formats=formats,
                made_by="x",
            )
    assert session.execute(select(Report)).first() is None
    assert not reports_dir(settings).exists()


def test_a_crash_while_rendering_leaves_no_file_and_no_record(inventory_app, session, monkeypatch):
    render = archive._render

    def render_then_crash(context, fmt, *template):
        if fmt == "xlsx":
            raise RuntimeError("disk full")
        return render(context, fmt, *template)

    monkeypatch.setattr(archive, "_render", render_then_crash)
    with pytest.raises(RuntimeError, match="disk full"):
        make_reports(inventory_app, session, formats=("pdf", "xlsx"))
    session.rollback()
    assert session.execute(select(Report)).first() is None
    assert list(reports_dir(inventory_app.config["STEWARD"]).iterdir()) == []


def test_a_crash_while_writing_leaves_neither_the_report_nor_a_partial_file(tmp_path, monkeypatch):
    def crash(*_args):
        raise OSError("power cut")

    monkeypatch.setattr(archive.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        write_atomically(tmp_path, "report.pdf", b"%PDF-1.7 ...")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert write_atomically(tmp_path, "report.pdf", b"%PDF").read_bytes() == b"%PDF"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_a_changed_or_missing_file_fails_verification(inventory_app, session):
    settings = inventory_app.config["STEWARD"]
    pdf, xlsx = make_reports(inventory_app, session, formats=("pdf", "xlsx")).reports
    assert verify_report(settings, pdf) and verify_report(settings, xlsx)
    path = report_path(settings, pdf)
    path.write_bytes(path.read_bytes() + b"\n% edited")
    assert not verify_report(settings, pdf)
    report_path(settings, xlsx).unlink()
    assert not verify_report(settings, xlsx)


@pytest.fixture
def quick_render(monkeypatch):
    """Retention is about which files and records go, not what they hold: skip the real rendering."""

    def render(context, fmt, *_template) -> bytes:
        return f"{fmt} of run {context.run_id}".encode()

    monkeypatch.setattr(archive, "_render", render)


def test_retention_keeps_the_newest_reports_of_each_format(inventory_app, session, quick_render):
    settings = inventory_app.config["STEWARD"]
    made = []
    for quarter in range(4):
        generated = make_reports(
            inventory_app, session, formats=("pdf", "xlsx"), now=NOW + timedelta(days=91 * quarter)
        )
        for report in generated.reports:
            report.schedule_id = 7
        made.append(generated.reports)
    hand_made = make_reports(inventory_app, session).reports[0]
    deleted = apply_retention(session, settings=settings, schedule_id=7, keep=2, actor="schedule #7")
    session.commit()
    oldest = [r.id for batch in made[:2] for r in batch]
    assert sorted(deleted) == sorted(oldest)
    remaining = session.execute(select(Report.id).order_by(Report.id)).scalars().all()
    assert remaining == [r.id for batch in made[2:] for r in batch] + [hand_made.id]
    files = {p.name for p in reports_dir(settings).iterdir()}
    assert files == {session.get(Report, i).file_name for i in remaining}
    reasons = (
        session.execute(select(AuditEntry.detail).where(AuditEntry.action == "report.delete")).scalars().all()
    )
    assert len(reasons) == 4 and all(r["reason"] == "retention: keep the last 2" for r in reasons)


def test_retention_rolled_back_keeps_the_files(inventory_app, session, quick_render):
    settings = inventory_app.config["STEWARD"]
    for quarter in range(2):
        for report in make_reports(inventory_app, session, now=NOW + timedelta(days=91 * quarter)).reports:
            report.schedule_id = 3
    session.commit()
    apply_retention(session, settings=settings, schedule_id=3, keep=1, actor="x")
    session.rollback()
    assert len(list(reports_dir(settings).iterdir())) == 2
    assert len(session.execute(select(Report)).all()) == 2


def test_the_next_report_of_a_scope_says_what_changed_since_the_last(app, runner, session, tmp_path):
    path = write_yaml(tmp_path / "inventory.yaml", minimal_inventory())
    import_inventory_file(runner, path)
    first = make_reports(app, session)
    assert first.context.changes.previous_report_id is None

    other_scope = make_reports(
        app, session, scope=Scope(environments=("staging",)), now=NOW + timedelta(hours=1)
    )
    assert other_scope.context.changes.previous_report_id is None  # another scope has its own history

    data = minimal_inventory()
    del data["agents"][1]  # triage-bot leaves: its findings resolve
    result = runner.invoke(args=["import", str(write_yaml(path, data)), "--prune"])
    assert result.exit_code == 0, result.output
    second = make_reports(app, session, now=NOW + timedelta(days=1))
    changes = second.context.changes
    assert changes.previous_report_id == first.reports[0].id
    assert changes.previous_run_id == first.reports[0].run_id
    assert changes.resolved > 0 and changes.opened == 0
    assert second.context.period_start == NOW and second.context.period_end == NOW + timedelta(days=1)
