"""build_evidence_pack() and verify_evidence_pack(): one signed ZIP of a run's evidence, and its check.

A pack holds index.html (the requirement tree, readable offline), the PDF and the workbook
rendered from the latest evaluation run, every current attestation's evidence file,
manifest.json (each file's path, size and SHA-256) and manifest.sig (the hex HMAC-SHA256 of the
manifest's exact bytes, keyed by STEWARD_EVIDENCE_SIGNING_KEY). Entries have a fixed order and
timestamp, so the ZIP structure of two packs of the same run differs only by what the files
themselves hold. Verification reads members in memory, chunk by chunk, and never extracts one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO
from urllib.parse import quote

from jinja2 import Environment, StrictUndefined
from sqlmodel import Session

from app.audit import record_change
from app.catalog import Catalog
from app.posture import latest_run
from app.reporting.archive import FORMATS, check_scope, reports_dir
from app.reporting.context import AttestationRow, ReportContext, ReportError, Scope, build_context

PACK_FORMAT = "steward-evidence-pack"
PACK_FORMAT_VERSION = 1
INDEX_NAME = "index.html"
PDF_NAME = "evidence-report.pdf"
WORKBOOK_NAME = "evidence-workbook.xlsx"
ATTACHMENTS_FOLDER = "attachments"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
KEY_VARIABLE = "STEWARD_EVIDENCE_SIGNING_KEY"
MIN_KEY_LENGTH = 16
# The earliest time a ZIP can hold: no entry carries the moment it was written.
ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
CHUNK_BYTES = 1 << 20
MAX_MANIFEST_BYTES = 16 << 20
MAX_SIGNATURE_BYTES = 1024
FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_DEPTH_CLASS = 6


class PackError(ReportError):
    """An evidence pack cannot be made or checked as asked; nothing was written."""


def signing_key(settings) -> bytes:
    """The HMAC key from STEWARD_EVIDENCE_SIGNING_KEY; PackError when none (or a short one) is set."""
    return _key_bytes(settings.evidence_signing_key)


def _key_bytes(key: str | bytes | None) -> bytes:
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else (key or "")
    if not text.strip():
        raise PackError(
            f"no evidence signing key: set {KEY_VARIABLE} to a secret of at least {MIN_KEY_LENGTH} "
            'characters (for example the output of `python -c "import secrets; '
            'print(secrets.token_hex(32))"`); packs are never signed with a default key'
        )
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(data) < MIN_KEY_LENGTH:
        raise PackError(
            f"{KEY_VARIABLE}: {len(data)} characters is too short to sign evidence; "
            f"use a random secret of at least {MIN_KEY_LENGTH}"
        )
    return data


def sign_manifest(manifest: bytes, key: bytes) -> str:
    """The hex HMAC-SHA256 of the manifest's exact bytes."""
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class PackedFile:
    """One file of a pack as the manifest lists it."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PackResult:
    """The pack written into the archive, and what it reflects."""

    path: Path
    file_name: str
    sha256: str
    size_bytes: int
    run_id: int
    catalog_hash: str
    created_at: datetime
    files: tuple[PackedFile, ...]
    manifest_sha256: str


@dataclass(frozen=True)
class _Attachment:
    row: AttestationRow
    path: str  # inside the pack
    source: Path


def attachments_dir(settings) -> Path:
    """Where attestation evidence files are kept, each under its SHA-256."""
    return Path(settings.instance_path) / "attachments"


def _safe_file_name(name: str | None) -> str:
    cleaned = FILE_NAME_UNSAFE.sub("_", Path(name or "").name).strip("._")[:100]
    return cleaned or "evidence"


def _attachments(settings, context: ReportContext) -> list[_Attachment]:
    found = []
    for row in sorted(context.attestations, key=lambda a: a.id):
        if row.state != "current" or not row.evidence_sha256:
            continue
        source = attachments_dir(settings) / row.evidence_sha256
        if not SHA256_HEX.match(row.evidence_sha256) or not source.is_file():
            raise PackError(
                f"attestation #{row.id} ({row.framework_id} {row.requirement_id}): its evidence file "
                f"{row.evidence_file_name!r} is missing from {attachments_dir(settings)}"
            )
        path = f"{ATTACHMENTS_FOLDER}/attestation-{row.id}-{_safe_file_name(row.evidence_file_name)}"
        found.append(_Attachment(row, path, source))
    return found


INDEX_TEMPLATE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence pack · {{ r.organisation }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; color: #1b2636; }
body { margin: 2em auto; max-width: 72em; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 2px solid #1b2636; }
.lead { font-size: 1.1em; margin-top: 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
code, .id { font-family: ui-monospace, monospace; font-size: 0.92em; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ced4da; padding: 0.35em 0.5em; text-align: left; vertical-align: top; }
thead th { background: #1b2636; color: #fff; }
tr.group th { background: #e9ecef; }
.d1 { padding-left: 1.6em; } .d2 { padding-left: 2.8em; } .d3 { padding-left: 4em; }
.d4 { padding-left: 5.2em; } .d5 { padding-left: 6.4em; } .d6 { padding-left: 7.6em; }
.num { text-align: right; white-space: nowrap; }
.small { font-size: 0.88em; color: #495057; margin: 0.2em 0; }
ul.checks { margin: 0; padding-left: 1.1em; }
.status { display: inline-block; padding: 0 0.45em; border-radius: 0.3em; white-space: nowrap; }
.s-pass, .s-attested { background: #d3f9d8; } .s-fail, .s-not_attested, .s-error { background: #ffe3e3; }
.s-partial { background: #e5dbff; }
.s-no_data, .s-not_applicable, .s-not_evaluated { background: #e9ecef; }
.error { color: #c92a2a; }
</style>
</head>
<body>
<header>
<h1>Evidence pack</h1>
<p class="lead">{{ r.organisation }} · {{ r.scope_text }}</p>
<dl class="facts">
<dt>Made</dt><dd>{{ r.generated_at|when }}</dd>
<dt>Evaluation run</dt><dd>#{{ r.run_id }}, started {{ r.run_started_at|when }} ({{ r.run_trigger }})</dd>
<dt>Catalog hash</dt><dd><code>{{ r.catalog_hash }}</code></dd>
</dl>
</header>
<nav>
<h2>In this pack</h2>
<ul>
<li><a href="{{ pdf_name }}">{{ pdf_name }}</a>: the evidence report</li>
<li><a href="{{ workbook_name }}">{{ workbook_name }}</a>: every finding, exception, attestation and check
outcome, one row each</li>
<li>{{ attachments|length }} attestation evidence file{{ '' if attachments|length == 1 else 's' }}
in {{ attachments_folder }}/, linked below</li>
<li>{{ manifest_name }}: every file's size and SHA-256, signed in {{ signature_name }};
check the pack with <code>steward verify-pack FILE</code></li>
</ul>
<h2>Frameworks</h2>
<ul>
{% for f in r.frameworks %}
<li><a href="#fw-{{ f.id|anchor }}">{{ f.name }}</a>: score {{ f.score|score }}</li>
{% endfor %}
</ul>
</nav>
<section>
<h2>What the statuses mean</h2>
<dl class="facts">
{% for status, label, meaning in r.status_meanings %}
<dt><span class="status s-{{ status }}">{{ label }}</span></dt><dd>{{ meaning }}</dd>
{% endfor %}
</dl>
</section>
{% for f in r.frameworks %}
<section id="fw-{{ f.id|anchor }}">
<h2>{{ f.name }} {{ f.version }}</h2>
<p>{{ f.publisher }} · score {{ f.score|score }} ·
{% for status, count in f.counts|dictsort %}
{{ status|label }} {{ count }}{{ ', ' if not loop.last }}
{% endfor %}</p>
<table>
<thead><tr><th>Requirement</th><th>Status</th><th>Checks</th><th>Open findings</th>
<th>Attestation</th></tr></thead>
<tbody>
{% for item in f.items %}
{% if item.kind == 'group' %}
<tr class="group"><th colspan="5" class="d{{ [item.depth, max_depth]|min }}">
<span class="id">{{ item.id }}</span> {{ item.title }}</th></tr>
{% else %}
<tr id="req-{{ f.id|anchor }}-{{ item.id|anchor }}">
<td class="d{{ [item.depth, max_depth]|min }}"><span class="id">{{ item.id }}</span> {{ item.title }}
{% if item.mapping_note %}<p class="small">{{ item.mapping_note }}</p>{% endif %}</td>
<td><span class="status s-{{ item.status|anchor }}">{{ item.status|label }}</span></td>
<td>{% if item.checks %}<ul class="checks">
{% for c in item.checks %}
<li><code>{{ c.check_id }}</code> {{ c.title }}: {{ c.examined }} examined, {{ c.passed }} passed,
{{ c.failed }} failed; {{ c.findings_total }} open
{% if c.excepted_total %} ({{ c.excepted_total }} excepted){% endif %}
{% if c.error %}<span class="error">check error: {{ c.error }}</span>{% endif %}</li>
{% endfor %}
</ul>{% else %}manual{% endif %}</td>
<td class="num">{{ item.open_findings }}
{% if item.excepted_findings %} ({{ item.excepted_findings }} excepted){% endif %}</td>
<td>{% if item.attestation %}{% set a = item.attestation %}
<p>{% if a.is_not_applicable %}Not applicable: {% endif %}{{ a.statement }}</p>
<p class="small">{{ a.attested_by }}, {{ a.attested_at|day }}; expires {{ a.expires_at|day }}</p>
{% if a.id in attachment_paths %}
<p><a href="{{ attachment_paths[a.id]|urlpath }}">{{ a.evidence_file_name }}</a>
<br><code class="small">sha256 {{ a.evidence_sha256 }}</code></p>{% endif %}
{% if a.evidence_url %}
<p class="small">Linked evidence (not in the pack): <code>{{ a.evidence_url }}</code></p>
{% endif %}
{% elif item.is_manual %}none current{% endif %}</td>
</tr>
{% endif %}
{% endfor %}
</tbody>
</table>
</section>
{% endfor %}
<section>
<h2>Agents in scope</h2>
<table>
<thead><tr><th>Agent</th><th>Owner</th><th>Team</th><th>Environment</th><th>Status</th><th>Purpose</th>
<th>Open findings</th></tr></thead>
<tbody>
{% for agent in r.agents %}
<tr><td><span class="id">{{ agent.id }}</span>{% if agent.name %} {{ agent.name }}{% endif %}</td>
<td>{{ agent.owner or '—' }}</td><td>{{ agent.team or '—' }}</td><td>{{ agent.environment }}</td>
<td>{{ agent.status }}</td><td>{{ agent.purpose or '—' }}</td>
<td class="num">{{ agent.open_findings }}</td></tr>
{% endfor %}
</tbody>
</table>
</section>
<footer class="small">Made by Steward from evaluation run #{{ r.run_id }}. The same evidence, in full, is in
{{ pdf_name }} and {{ workbook_name }}.</footer>
</body>
</html>
"""


def _index_environment() -> Environment:
    from app.reporting.pdf import template_environment

    print_filters = template_environment().filters
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update({name: print_filters[name] for name in ("when", "day", "score", "label", "anchor")})
    env.filters["urlpath"] = quote
    return env


def render_index(context: ReportContext, attachment_paths: dict[int, str]) -> str:
    """The pack's index.html: self-contained, no scripts, every text escaped."""
    return (
        _index_environment()
        .from_string(INDEX_TEMPLATE)
        .render(
            r=context,
            attachment_paths=attachment_paths,
            attachments=sorted(attachment_paths.values()),
            pdf_name=PDF_NAME,
            workbook_name=WORKBOOK_NAME,
            attachments_folder=ATTACHMENTS_FOLDER,
            manifest_name=MANIFEST_NAME,
            signature_name=SIGNATURE_NAME,
            max_depth=MAX_DEPTH_CLASS,
        )
    )


def _entry(name: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ENTRY_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever system writes the pack
    info.external_attr = 0o644 << 16
    info.file_size = size  # lets the writer choose ZIP64 up front for a large attachment
    return info


def _add_bytes(archive: zipfile.ZipFile, name: str, data: bytes) -> PackedFile:
    archive.writestr(_entry(name, len(data)), data)
    return PackedFile(name, len(data), hashlib.sha256(data).hexdigest())


def _add_file(archive: zipfile.ZipFile, attachment: _Attachment) -> PackedFile:
    digest = hashlib.sha256()
    size = 0
    with (
        attachment.source.open("rb") as source,
        archive.open(_entry(attachment.path, attachment.source.stat().st_size), "w") as target,
    ):
        for block in iter(lambda: source.read(CHUNK_BYTES), b""):
            digest.update(block)
            size += len(block)
            target.write(block)
    if digest.hexdigest() != attachment.row.evidence_sha256:
        raise PackError(
            f"attestation #{attachment.row.id}: its evidence file {attachment.source} no longer has the "
            f"SHA-256 recorded when it was attested ({attachment.row.evidence_sha256})"
        )
    return PackedFile(attachment.path, size, digest.hexdigest())


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def build_evidence_pack(
    session: Session,
    *,
    catalog: Catalog,
    settings,
    scope: Scope | None = None,
    actor: str,
    now: datetime | None = None,
) -> PackResult:
    """Pack the latest run's report, workbook, index and attachments into a signed ZIP in the archive."""
    key = signing_key(settings)
    scope = scope or Scope()
    check_scope(catalog, scope, FORMATS)
    run = latest_run(session)
    if run is None:
        raise PackError("no evaluation run yet: run `steward evaluate` first")
    now = now or datetime.now(UTC)
    context = build_context(session, catalog=catalog, settings=settings, scope=scope, run=run, now=now)
    attachments = _attachments(settings, context)

    # Imported here, as archive.py does: WeasyPrint is slow to import and only rendering needs it.
    from app.reporting.excel import render_workbook
    from app.reporting.pdf import render_pdf

    index = render_index(context, {a.row.id: a.path for a in attachments}).encode("utf-8")
    pdf = render_pdf(context)
    workbook = render_workbook(context)

    directory = reports_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"evidence-pack-{now:%Y%m%d-%H%M%S}-run{run.id}-{secrets.token_hex(4)}.zip"
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=".part")
    target = directory / name
    try:
        with os.fdopen(fd, "wb") as handle:
            files, manifest = _write_pack(
                handle,
                key=key,
                index=index,
                pdf=pdf,
                workbook=workbook,
                attachments=attachments,
                header=_manifest_header(context, settings, scope, actor, now),
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        sha256 = _hash_file(target)
        size = target.stat().st_size
        record_change(
            session,
            actor=actor,
            action="evidence_pack.export",
            target=f"evidence pack {name}",
            detail={
                "file": name,
                "sha256": sha256,
                "size_bytes": size,
                "run_id": run.id,
                "catalog_hash": run.catalog_hash,
                "scope": scope.to_json(),
                "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
                "files": len(files),
                "attestations": [a.row.id for a in attachments],
            },
            at=now,
        )
        session.flush()
    except BaseException:
        # The caller's transaction will not record this pack, so no file may claim otherwise.
        Path(temporary).unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise
    return PackResult(
        path=target,
        file_name=name,
        sha256=sha256,
        size_bytes=size,
        run_id=run.id,
        catalog_hash=run.catalog_hash,
        created_at=now,
        files=tuple(files),
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
    )


def _manifest_header(context: ReportContext, settings, scope: Scope, actor: str, now: datetime) -> dict:
    return {
        "format": PACK_FORMAT,
        "format_version": PACK_FORMAT_VERSION,
        "created_at": now.isoformat(),
        "made_by": actor,
        "organisation": settings.organisation,
        "run_id": context.run_id,
        "run_started_at": context.run_started_at.isoformat(),
        "catalog_hash": context.catalog_hash,
        "scope": scope.to_json(),
    }


def _write_pack(
    handle: IO[bytes],
    *,
    key: bytes,
    index: bytes,
    pdf: bytes,
    workbook: bytes,
    attachments: list[_Attachment],
    header: dict,
) -> tuple[list[PackedFile], bytes]:
    with zipfile.ZipFile(handle, "w") as archive:
        files = [
            _add_bytes(archive, INDEX_NAME, index),
            _add_bytes(archive, PDF_NAME, pdf),
            _add_bytes(archive, WORKBOOK_NAME, workbook),
            *(_add_file(archive, a) for a in attachments),
        ]
        manifest = {**header, "files": [asdict(f) for f in files]}
        data = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        _add_bytes(archive, MANIFEST_NAME, data)
        _add_bytes(archive, SIGNATURE_NAME, (sign_manifest(data, key) + "\n").encode("ascii"))
    return files, data


class ProblemKind(StrEnum):
    """What verification found wrong with a pack."""

    UNREADABLE = "unreadable"  # the file cannot be read at all
    NOT_ZIP = "not_zip"  # the file is not a ZIP archive
    NOT_PACK = "not_pack"  # a ZIP without a manifest Steward can read
    UNSAFE_NAME = "unsafe_name"  # a name that is absolute or climbs out with ../, never in a real pack
    DUPLICATE = "duplicate"  # a name held twice, so two readers could see different contents
    UNSIGNED = "unsigned"  # manifest.sig is missing
    BAD_SIGNATURE = "bad_signature"  # manifest.sig does not match manifest.json under this key
    ALTERED = "altered"  # a listed file whose size or SHA-256 differs from the manifest, or cannot be read
    MISSING = "missing"  # a file the manifest lists that the ZIP does not hold
    UNLISTED = "unlisted"  # a file the ZIP holds that the manifest does not list


UNUSABLE_KINDS = frozenset({ProblemKind.UNREADABLE, ProblemKind.NOT_ZIP, ProblemKind.NOT_PACK})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a pack, naming the file it concerns."""

    kind: ProblemKind
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class VerifyResult:
    """Whether a pack is as it was signed, and if not, every problem found."""

    ok: bool
    problems: list[Problem] = field(default_factory=list)
    files_verified: int = 0
    is_signature_valid: bool = False
    manifest: dict | None = None
    sha256: str | None = None  # of the pack file itself, when it could be read

    @property
    def is_usable(self) -> bool:
        """Whether the input was a readable pack at all (rather than some other file)."""
        return not any(p.kind in UNUSABLE_KINDS for p in self.problems)


def _is_unsafe(name: str) -> bool:
    return (
        not name
        or name.startswith(("/", "\\"))
        or "\\" in name
        or "\x00" in name
        or bool(DRIVE_LETTER.match(name))
        or ".." in name.split("/")
    )


def verify_evidence_pack(path: str | os.PathLike, *, key: str | bytes | None) -> VerifyResult:
    """Check a pack's signature and every file's size and SHA-256 against its manifest, in memory."""
    key_bytes = _key_bytes(key)
    path = Path(path)
    try:
        sha256 = _hash_file(path)
        with zipfile.ZipFile(path) as archive:
            return _verify(archive, key_bytes, sha256)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        return VerifyResult(False, [Problem(ProblemKind.NOT_ZIP, path.name, f"not a ZIP archive ({exc})")])
    except OSError as exc:
        return VerifyResult(
            False, [Problem(ProblemKind.UNREADABLE, path.name, f"cannot be read ({exc.strerror or exc})")]
        )


# Reading a member can fail in many ways once its bytes have been tampered with.
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit:,} bytes")
    return data


def _hash_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> tuple[int, str]:
    """The member's size and SHA-256, reading no more than one chunk past the size it should have."""
    digest = hashlib.sha256()
    size = 0
    with archive.open(info) as member:
        while size <= limit:
            block = member.read(CHUNK_BYTES)
            if not block:
                break
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _listed_files(manifest) -> list[dict]:
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise ValueError(f"not a {PACK_FORMAT} manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > PACK_FORMAT_VERSION:
        raise ValueError(f"format_version {version!r}: this Steward reads version {PACK_FORMAT_VERSION}")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise ValueError("files: missing or not a list")
    for n, entry in enumerate(files):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("size"), int)
            and not isinstance(entry.get("size"), bool)
            and entry["size"] >= 0
            and isinstance(entry.get("sha256"), str)
            and SHA256_HEX.match(entry["sha256"])
        ):
            raise ValueError(f"files[{n}]: expected a path, a size in bytes and a hex SHA-256")
    return files


def _verify(archive: zipfile.ZipFile, key: bytes, sha256: str) -> VerifyResult:
    problems: list[Problem] = []
    infos = archive.infolist()
    counts = Counter(info.filename for info in infos)
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if _is_unsafe(name):
            problems.append(
                Problem(
                    ProblemKind.UNSAFE_NAME,
                    name,
                    "an absolute or ../ name, which a pack never holds; the ZIP was altered",
                )
            )
        elif counts[name] > 1:
            if name not in members:
                problems.append(
                    Problem(ProblemKind.DUPLICATE, name, f"held {counts[name]} times; the ZIP was altered")
                )
            members.setdefault(name, info)
        else:
            members[name] = info

    def not_a_pack(message: str) -> VerifyResult:
        problems.append(Problem(ProblemKind.NOT_PACK, MANIFEST_NAME, message))
        return VerifyResult(False, problems, sha256=sha256)

    if MANIFEST_NAME not in members:
        return not_a_pack("missing: this ZIP is not a Steward evidence pack")
    try:
        manifest_bytes = _read_member(archive, members[MANIFEST_NAME], MAX_MANIFEST_BYTES)
    except (*READ_ERRORS, ValueError) as exc:
        return not_a_pack(f"cannot be read ({exc})")

    is_signature_valid = False
    if SIGNATURE_NAME not in members:
        problems.append(
            Problem(
                ProblemKind.UNSIGNED,
                SIGNATURE_NAME,
                "missing: the manifest is not signed and cannot be trusted",
            )
        )
    else:
        try:
            signature = _read_member(archive, members[SIGNATURE_NAME], MAX_SIGNATURE_BYTES)
            given = signature.decode("ascii").strip()
        except (*READ_ERRORS, ValueError) as exc:
            given = f"unreadable ({exc})"
        is_signature_valid = hmac.compare_digest(sign_manifest(manifest_bytes, key), given)
        if not is_signature_valid:
            problems.append(
                Problem(
                    ProblemKind.BAD_SIGNATURE,
                    SIGNATURE_NAME,
                    f"does not match {MANIFEST_NAME}: the manifest was altered, or the key is not the "
                    "one the pack was signed with",
                )
            )

    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
        listed = _listed_files(manifest)
    except ValueError as exc:
        return not_a_pack(f"not a readable manifest ({exc})")

    verified = 0
    seen: set[str] = set()
    for entry in listed:
        name = entry["path"]
        if name in seen or _is_unsafe(name) or name in (MANIFEST_NAME, SIGNATURE_NAME):
            problems.append(
                Problem(
                    ProblemKind.UNSAFE_NAME, name, "listed in the manifest under a name a pack never lists"
                )
            )
            continue
        seen.add(name)
        info = members.get(name)
        if info is None:
            if counts[name] == 0:
                problems.append(
                    Problem(ProblemKind.MISSING, name, "listed in the manifest but not in the ZIP")
                )
            continue
        try:
            size, digest = _hash_member(archive, info, entry["size"])
        except READ_ERRORS as exc:
            problems.append(
                Problem(ProblemKind.ALTERED, name, f"cannot be read back ({exc}); it was altered")
            )
            continue
        if size != entry["size"] or not hmac.compare_digest(digest, entry["sha256"]):
            size_note = (
                "" if size == entry["size"] else f", {size:,} bytes where the manifest says {entry['size']:,}"
            )
            problems.append(
                Problem(
                    ProblemKind.ALTERED, name, f"SHA-256 differs from the manifest{size_note}; it was altered"
                )
            )
            continue
        verified += 1
    for name in members:
        if name not in seen and name not in (MANIFEST_NAME, SIGNATURE_NAME) and counts[name] == 1:
            problems.append(Problem(ProblemKind.UNLISTED, name, "in the ZIP but not listed in the manifest"))
    return VerifyResult(
        ok=not problems,
        problems=problems,
        files_verified=verified,
        is_signature_valid=is_signature_valid,
        manifest=manifest,
        sha256=sha256,
    )
