"""Evidence packs: a signed ZIP per run, readable offline, and `verify-pack` saying whether it was altered."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import warnings
import zipfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
import yaml
from sqlalchemy import select

from app import create_app
from app.assessment import attest_requirement
from app.catalog import get_catalog
from app.config import PROJECT_ROOT
from app.db import dispose_engine, get_engine, session_scope
from app.evaluation import run_evaluation
from app.models.users import AuditEntry
from app.reporting.archive import reports_dir
from app.reporting.context import ReportError, Scope
from app.reporting.pack import (
    ENTRY_TIME,
    INDEX_NAME,
    MANIFEST_NAME,
    PDF_NAME,
    SIGNATURE_NAME,
    WORKBOOK_NAME,
    PackError,
    ProblemKind,
    build_evidence_pack,
    verify_evidence_pack,
)
from app.reporting.pack_cli import evidence_pack_command, verify_pack_command
from tests.conftest import module_settings
from tests.reporting.conftest import import_inventory_file

KEY = "test-evidence-signing-key-0123456789"
PURPOSE_PAYLOAD = "<script>alert(1)</script>"
STATEMENT_PAYLOAD = "Reviewed by the board <script>alert(2)</script>"
EVIDENCE_NAME = "<img src=x onerror=alert(3)> minutes.txt"
EVIDENCE_BYTES = b"Board minutes, 3 November 2026: the model risk policy was approved.\n"


@dataclass(frozen=True)
class SeedPack:
    """A pack of the seed organisation, made once for the module, and what went into it."""

    path: Path
    attestation_id: int
    framework_id: str
    requirement_id: str
    audit: list[dict]
    sha256: str
    run_id: int


@pytest.fixture
def settings(settings):
    """The shared test settings, with a signing key."""
    return replace(settings, evidence_signing_key=KEY)


def _manual_requirement(catalog) -> tuple[str, str]:
    for framework in catalog.frameworks.values():
        for requirement in framework.requirements:
            if requirement.is_manual:
                return framework.id, requirement.id
    raise AssertionError("the catalog has no manual requirement to attest")


@pytest.fixture(scope="module")
def seed_pack(tmp_path_factory, migrated_template) -> SeedPack:
    """The seed organisation (with a script planted in an agent's purpose), one attestation with a file."""
    settings = module_settings(tmp_path_factory, migrated_template, "seed-pack")
    instance = Path(settings.instance_path)
    root = instance.parent
    settings = replace(settings, evidence_signing_key=KEY)
    seed = shutil.copytree(PROJECT_ROOT / "seed", root / "seed")
    agents = yaml.safe_load((seed / "agents.yaml").read_text(encoding="utf-8"))
    agents["agents"][0]["purpose"] = PURPOSE_PAYLOAD
    (seed / "agents.yaml").write_text(yaml.safe_dump(agents, sort_keys=False), encoding="utf-8")
    evidence = root / EVIDENCE_NAME
    evidence.write_bytes(EVIDENCE_BYTES)

    app = create_app(settings)
    import_inventory_file(app.test_cli_runner(), seed)
    catalog = get_catalog(app)
    framework_id, requirement_id = _manual_requirement(catalog)
    with session_scope(get_engine(app)) as session:
        attestation = attest_requirement(
            session,
            catalog=catalog,
            framework_id=framework_id,
            requirement_id=requirement_id,
            statement=STATEMENT_PAYLOAD,
            attested_by="dana@northwind.example",
            expires_at=datetime.now(UTC) + timedelta(days=90),
            evidence_file=evidence,
            attachments_dir=instance / "attachments",
        )
        run_evaluation(session, catalog=catalog, settings=settings, trigger="test", actor="test")
        pack = build_evidence_pack(session, catalog=catalog, settings=settings, actor="auditor")
        attestation_id = attestation.id
    with session_scope(get_engine(app)) as session:
        audit = [
            {"actor": e.actor, "target": e.target, "detail": e.detail}
            for e in session.execute(
                select(AuditEntry).where(AuditEntry.action == "evidence_pack.export")
            ).scalars()
        ]
    dispose_engine(app)
    return SeedPack(pack.path, attestation_id, framework_id, requirement_id, audit, pack.sha256, pack.run_id)


def attachment_name(pack: SeedPack) -> str:
    with zipfile.ZipFile(pack.path) as archive:
        (name,) = [n for n in archive.namelist() if n.startswith("attachments/")]
    return name


def rebuild(source: Path, target: Path, *, change=None, drop=(), add=()) -> Path:
    """A copy of a pack with members changed, dropped or added, each otherwise as it was."""
    change = change or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names some tests add on purpose
        for info in old.infolist():
            if info.filename in drop:
                continue
            data = old.read(info)
            if info.filename in change:
                data = change[info.filename](data)
            new.writestr(zipfile.ZipInfo(info.filename, info.date_time), data, zipfile.ZIP_DEFLATED)
        for name, data in add:
            new.writestr(zipfile.ZipInfo(name, ENTRY_TIME), data)
    return target


def flip_one_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def problems_of(result) -> list[tuple[ProblemKind, str]]:
    return [(p.kind, p.path) for p in result.problems]


def index_of(pack: SeedPack) -> str:
    with zipfile.ZipFile(pack.path) as archive:
        return archive.read(INDEX_NAME).decode("utf-8")


# What a pack holds


def test_a_pack_holds_index_pdf_workbook_attachment_manifest_and_signature(seed_pack):
    attachment = attachment_name(seed_pack)
    assert (
        attachment
        == f"attachments/attestation-{seed_pack.attestation_id}-img_src_x_onerror_alert_3_minutes.txt"
    )
    with zipfile.ZipFile(seed_pack.path) as archive:
        assert archive.namelist() == [
            INDEX_NAME,
            PDF_NAME,
            WORKBOOK_NAME,
            attachment,
            MANIFEST_NAME,
            SIGNATURE_NAME,
        ]
        assert archive.read(PDF_NAME).startswith(b"%PDF")
        assert archive.read(WORKBOOK_NAME).startswith(b"PK")
        assert archive.read(attachment) == EVIDENCE_BYTES
        manifest = json.loads(archive.read(MANIFEST_NAME))
        listed = {f["path"]: f for f in manifest["files"]}
        assert list(listed) == [INDEX_NAME, PDF_NAME, WORKBOOK_NAME, attachment]
        for name, entry in listed.items():
            data = archive.read(name)
            assert entry == {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert manifest["format_version"] == 1 and manifest["run_id"] == seed_pack.run_id
    assert manifest["organisation"] == "Demo organisation" and len(manifest["catalog_hash"]) == 64
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None


def test_the_pack_is_written_into_the_report_archive_without_temporary_files(seed_pack):
    folder = seed_pack.path.parent
    assert folder.name == "reports" and seed_pack.path.suffix == ".zip"
    assert [p.name for p in folder.iterdir()] == [seed_pack.path.name]
    assert hashlib.sha256(seed_pack.path.read_bytes()).hexdigest() == seed_pack.sha256


def test_entries_have_a_fixed_timestamp_and_order(seed_pack):
    with zipfile.ZipFile(seed_pack.path) as archive:
        infos = archive.infolist()
    assert {info.date_time for info in infos} == {ENTRY_TIME}
    assert {info.external_attr >> 16 for info in infos} == {0o644}
    assert [i.filename for i in infos][-2:] == [MANIFEST_NAME, SIGNATURE_NAME]


def test_the_export_is_recorded_in_the_audit_trail(seed_pack):
    (entry,) = seed_pack.audit
    assert entry["actor"] == "auditor" and entry["target"] == f"evidence pack {seed_pack.path.name}"
    detail = entry["detail"]
    assert detail["sha256"] == seed_pack.sha256 and detail["run_id"] == seed_pack.run_id
    assert detail["files"] == 4 and detail["attestations"] == [seed_pack.attestation_id]
    with zipfile.ZipFile(seed_pack.path) as archive:
        assert detail["manifest_sha256"] == hashlib.sha256(archive.read(MANIFEST_NAME)).hexdigest()


# index.html


def test_index_has_no_script_and_escapes_inventory_and_attestation_text(seed_pack):
    html = index_of(seed_pack)
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the agent's purpose, shown as text
    assert "Reviewed by the board &lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(3)&gt; minutes.txt" in html


def test_index_loads_nothing_from_outside_and_links_only_files_in_the_pack(seed_pack):
    html = index_of(seed_pack)
    with zipfile.ZipFile(seed_pack.path) as archive:
        names = set(archive.namelist())
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)
    assert "default-src 'none'" in html and not [t for t in tags if re.match(r"<(link|img|iframe|object)", t)]
    assert not [t for t in tags if re.search(r"\b(src|style|on\w+)\s*=", t)]
    links = re.findall(r'href="([^"]*)"', html)
    files = [link for link in links if not link.startswith("#")]
    assert sorted(files) == sorted([PDF_NAME, WORKBOOK_NAME, attachment_name(seed_pack)])
    assert all(link in names for link in files)
    anchors = {link[1:] for link in links if link.startswith("#")}
    assert anchors and all(f'id="{anchor}"' in html for anchor in anchors)


def test_index_shows_the_requirement_tree_with_statuses_checks_and_the_attestation(seed_pack):
    html = index_of(seed_pack)
    row = re.search(
        rf'<tr id="req-{re.escape(seed_pack.framework_id)}-{re.escape(seed_pack.requirement_id)}">(.*?)</tr>',
        html,
        re.S,
    ).group(1)
    assert "Attested" in row and "dana@northwind.example" in row
    assert f'href="{attachment_name(seed_pack)}"' in row
    assert hashlib.sha256(EVIDENCE_BYTES).hexdigest() in row
    failing = re.findall(r'<span class="status s-fail">Fail</span>', html)
    assert failing  # the seed organisation has deliberate gaps
    assert "agent_has_accountable_owner" in html and "examined" in html


# verify


def test_an_untouched_pack_verifies(seed_pack):
    result = verify_evidence_pack(seed_pack.path, key=KEY)
    assert result.ok and result.problems == [] and result.is_signature_valid and result.is_usable
    assert result.files_verified == 4 and result.sha256 == seed_pack.sha256


@pytest.mark.parametrize("member", [INDEX_NAME, PDF_NAME, WORKBOOK_NAME, "attachment"])
def test_one_changed_byte_in_any_file_fails_naming_that_file(seed_pack, tmp_path, member):
    name = attachment_name(seed_pack) if member == "attachment" else member
    altered = rebuild(seed_pack.path, tmp_path / "altered.zip", change={name: flip_one_byte})
    result = verify_evidence_pack(altered, key=KEY)
    assert not result.ok and result.is_usable and result.is_signature_valid
    assert problems_of(result) == [(ProblemKind.ALTERED, name)]
    assert name in str(result.problems[0]) and result.files_verified == 3


def test_a_byte_changed_in_the_zip_itself_fails_naming_the_file(seed_pack, tmp_path):
    data = bytearray(seed_pack.path.read_bytes())
    with zipfile.ZipFile(seed_pack.path) as archive:
        info = archive.getinfo(PDF_NAME)
    data[info.header_offset + 30 + len(PDF_NAME) + info.compress_size // 2] ^= 0x01
    altered = tmp_path / "raw.zip"
    altered.write_bytes(bytes(data))
    result = verify_evidence_pack(altered, key=KEY)
    assert not result.ok and [p.path for p in result.problems] == [PDF_NAME]
    assert result.problems[0].kind == ProblemKind.ALTERED


def test_an_altered_manifest_fails_the_signature(seed_pack, tmp_path):
    def claim_another_organisation(data: bytes) -> bytes:
        return data.replace(b'"Demo organisation"', b'"Someone else"')

    altered = rebuild(seed_pack.path, tmp_path / "m.zip", change={MANIFEST_NAME: claim_another_organisation})
    result = verify_evidence_pack(altered, key=KEY)
    assert not result.ok and not result.is_signature_valid
    assert problems_of(result) == [(ProblemKind.BAD_SIGNATURE, SIGNATURE_NAME)]


def test_a_changed_file_with_its_hash_updated_in_the_manifest_fails_the_signature(seed_pack, tmp_path):
    with zipfile.ZipFile(seed_pack.path) as archive:
        pdf = flip_one_byte(archive.read(PDF_NAME))
        manifest = json.loads(archive.read(MANIFEST_NAME))
    for entry in manifest["files"]:
        if entry["path"] == PDF_NAME:
            entry["sha256"] = hashlib.sha256(pdf).hexdigest()
    forged = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    altered = rebuild(
        seed_pack.path,
        tmp_path / "forged.zip",
        change={PDF_NAME: lambda _: pdf, MANIFEST_NAME: lambda _: forged},
    )
    result = verify_evidence_pack(altered, key=KEY)
    assert problems_of(result) == [(ProblemKind.BAD_SIGNATURE, SIGNATURE_NAME)]


def test_a_wrong_key_fails_the_signature(seed_pack):
    result = verify_evidence_pack(seed_pack.path, key="another-key-of-enough-length")
    assert not result.ok and problems_of(result) == [(ProblemKind.BAD_SIGNATURE, SIGNATURE_NAME)]
    assert "key" in result.problems[0].message and result.files_verified == 4


def test_a_missing_signature_fails(seed_pack, tmp_path):
    altered = rebuild(seed_pack.path, tmp_path / "unsigned.zip", drop={SIGNATURE_NAME})
    result = verify_evidence_pack(altered, key=KEY)
    assert problems_of(result) == [(ProblemKind.UNSIGNED, SIGNATURE_NAME)] and result.is_usable


def test_an_extra_file_fails_naming_it(seed_pack, tmp_path):
    altered = rebuild(seed_pack.path, tmp_path / "extra.zip", add=[("attachments/extra.txt", b"x")])
    result = verify_evidence_pack(altered, key=KEY)
    assert problems_of(result) == [(ProblemKind.UNLISTED, "attachments/extra.txt")]


def test_a_missing_file_fails_naming_it(seed_pack, tmp_path):
    altered = rebuild(seed_pack.path, tmp_path / "missing.zip", drop={WORKBOOK_NAME})
    result = verify_evidence_pack(altered, key=KEY)
    assert problems_of(result) == [(ProblemKind.MISSING, WORKBOOK_NAME)] and result.files_verified == 3


def test_a_name_held_twice_fails(seed_pack, tmp_path):
    altered = rebuild(seed_pack.path, tmp_path / "twice.zip", add=[(PDF_NAME, b"%PDF- another")])
    result = verify_evidence_pack(altered, key=KEY)
    assert problems_of(result) == [(ProblemKind.DUPLICATE, PDF_NAME)]


@pytest.mark.parametrize(
    "name", ["../evil.txt", "attachments/../../evil.txt", "/etc/evil.txt", "C:/evil.txt"]
)
def test_absolute_and_climbing_names_are_rejected_and_nothing_is_extracted(seed_pack, tmp_path, name):
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    altered = rebuild(seed_pack.path, work / "traversal.zip", add=[(name, b"owned")])
    result = verify_evidence_pack(altered, key=KEY)
    assert problems_of(result) == [(ProblemKind.UNSAFE_NAME, name)]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "er", "traversal.zip"]


def test_a_file_that_is_not_a_zip_fails_cleanly(tmp_path):
    text = tmp_path / "pack.zip"
    text.write_text("not a zip at all")
    result = verify_evidence_pack(text, key=KEY)
    assert not result.ok and not result.is_usable
    assert problems_of(result) == [(ProblemKind.NOT_ZIP, "pack.zip")]
    result = verify_evidence_pack(tmp_path / "absent.zip", key=KEY)
    assert problems_of(result) == [(ProblemKind.UNREADABLE, "absent.zip")] and not result.is_usable


def test_a_zip_that_is_not_a_pack_fails_cleanly(tmp_path):
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("notes.txt", "hello")
    result = verify_evidence_pack(plain, key=KEY)
    assert problems_of(result) == [(ProblemKind.NOT_PACK, MANIFEST_NAME)] and not result.is_usable
    garbled = tmp_path / "garbled.zip"
    with zipfile.ZipFile(garbled, "w") as archive:
        archive.writestr(MANIFEST_NAME, "{not json")
        archive.writestr(SIGNATURE_NAME, "00")
    result = verify_evidence_pack(garbled, key=KEY)
    assert (ProblemKind.NOT_PACK, MANIFEST_NAME) in problems_of(result) and not result.is_usable


def test_verifying_without_a_key_is_refused(seed_pack):
    for key in (None, "", "   "):
        with pytest.raises(PackError, match="set STEWARD_EVIDENCE_SIGNING_KEY"):
            verify_evidence_pack(seed_pack.path, key=key)


# Refusals


def test_without_a_key_the_pack_is_refused_and_nothing_is_written(inventory_app, session):
    app_settings = inventory_app.config["STEWARD"]
    for key, message in (
        (None, "no evidence signing key: set STEWARD_EVIDENCE_SIGNING_KEY"),
        ("", "no evidence signing key: set STEWARD_EVIDENCE_SIGNING_KEY"),
        ("short", "STEWARD_EVIDENCE_SIGNING_KEY: 5 characters is too short"),
    ):
        with pytest.raises(PackError, match=message):
            build_evidence_pack(
                session,
                catalog=get_catalog(inventory_app),
                settings=replace(app_settings, evidence_signing_key=key),
                actor="auditor",
            )
    assert not reports_dir(app_settings).exists()
    assert session.execute(select(AuditEntry).where(AuditEntry.action.like("evidence_pack%"))).first() is None


def test_without_an_evaluation_run_the_pack_is_refused(app, session):
    with pytest.raises(PackError, match="no evaluation run yet"):
        build_evidence_pack(session, catalog=get_catalog(app), settings=app.config["STEWARD"], actor="a")
    assert not reports_dir(app.config["STEWARD"]).exists()


def test_an_unknown_framework_is_refused(inventory_app, session):
    with pytest.raises(ReportError, match="frameworks: iso-42001 not in the catalog"):
        build_evidence_pack(
            session,
            catalog=get_catalog(inventory_app),
            settings=inventory_app.config["STEWARD"],
            scope=Scope(frameworks=("iso-42001",)),
            actor="a",
        )
    assert not reports_dir(inventory_app.config["STEWARD"]).exists()


def test_an_attachment_missing_from_the_instance_folder_is_refused(inventory_app, session, tmp_path):
    catalog = get_catalog(inventory_app)
    settings = inventory_app.config["STEWARD"]
    framework_id, requirement_id = _manual_requirement(catalog)
    evidence = tmp_path / "policy.txt"
    evidence.write_bytes(EVIDENCE_BYTES)
    attest_requirement(
        session,
        catalog=catalog,
        framework_id=framework_id,
        requirement_id=requirement_id,
        statement="In place",
        attested_by="dana",
        expires_at=datetime.now(UTC) + timedelta(days=30),
        evidence_file=evidence,
        attachments_dir=Path(settings.instance_path) / "attachments",
    )
    (Path(settings.instance_path) / "attachments" / hashlib.sha256(EVIDENCE_BYTES).hexdigest()).unlink()
    with pytest.raises(PackError, match=r"'policy\.txt' is missing from"):
        build_evidence_pack(session, catalog=catalog, settings=settings, actor="a")
    assert not reports_dir(settings).exists()


# The commands


@pytest.fixture
def pack_runner(inventory_app, runner):
    """The CLI runner with the two commands registered, as app/cli.py registers them."""
    group: click.Group = inventory_app.cli
    group.add_command(evidence_pack_command)
    group.add_command(verify_pack_command)
    return runner


def _audit(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def test_evidence_pack_and_verify_pack_commands(inventory_app, pack_runner, session, tmp_path):
    out = tmp_path / "handover" / "pack.zip"
    result = pack_runner.invoke(args=["evidence-pack", "--environment", "staging", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Evidence pack of evaluation #" in result.output and "3 files" in result.output
    (export,) = _audit(session, "evidence_pack.export")
    assert export.actor == "test" and export.detail["scope"]["environments"] == ["staging"]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == export.detail["sha256"]

    result = pack_runner.invoke(args=["verify-pack", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "OK: 3 files verified, signature valid"

    altered = rebuild(out, tmp_path / "altered.zip", change={PDF_NAME: flip_one_byte})
    result = pack_runner.invoke(args=["verify-pack", str(altered)])
    assert result.exit_code == 1
    assert f"{PDF_NAME}: SHA-256 differs from the manifest" in result.output and "ALTERED" in result.output

    junk = tmp_path / "junk.zip"
    junk.write_text("junk")
    result = pack_runner.invoke(args=["verify-pack", str(junk)])
    assert result.exit_code == 2 and "junk.zip: not a ZIP archive" in result.output

    verified = _audit(session, "evidence_pack.verify")
    assert [(e.detail["ok"], e.target) for e in verified] == [
        (True, "evidence pack pack.zip"),
        (False, "evidence pack altered.zip"),
        (False, "evidence pack junk.zip"),
    ]
    assert verified[1].detail["problems"] == [str(p) for p in verify_evidence_pack(altered, key=KEY).problems]


def test_the_commands_refuse_without_a_key(inventory_app, pack_runner, session, tmp_path):
    inventory_app.config["STEWARD"] = replace(inventory_app.config["STEWARD"], evidence_signing_key=None)
    result = pack_runner.invoke(args=["evidence-pack"])
    assert result.exit_code == 2 and "set STEWARD_EVIDENCE_SIGNING_KEY" in result.output
    assert "nothing was written" in result.output
    assert not reports_dir(inventory_app.config["STEWARD"]).exists()
    some = tmp_path / "some.zip"
    some.write_bytes(b"PK")
    result = pack_runner.invoke(args=["verify-pack", str(some)])
    assert result.exit_code == 2 and "set STEWARD_EVIDENCE_SIGNING_KEY" in result.output
    assert _audit(session, "evidence_pack.export") == [] and _audit(session, "evidence_pack.verify") == []


def test_evidence_pack_refuses_an_unknown_framework(pack_runner):
    result = pack_runner.invoke(args=["evidence-pack", "--framework", "iso-42001"])
    assert result.exit_code == 2 and "frameworks: iso-42001 not in the catalog" in result.output
