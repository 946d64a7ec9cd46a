"""Plant secrets through every way in, then search everything Steward keeps, shows or exports.

Ways in: an inventory file, an MCP client config (env, header, URL query, command argument), the
API (a good write and a refused one) and a browser upload that fails. Searched: every file under
the instance folder (the database, its WAL, each report, packs and OSCAL, with ZIP members and
PDF text unpacked), every export, every page and API answer, CLI output and the log.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from app import create_app
from app.db import dispose_engine, get_engine, session_scope
from app.security import create_api_token, create_user
from tests.conftest import PASSWORD, minimal_inventory, write_yaml
from tests.views.conftest import csrf_token, make_client

SECRETS = {
    "file": "ghp_F1leS3cretAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "env": "sk-envS3cretBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
    "header": "hdrS3cretCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC",
    "query": "qryS3cretDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD",
    "argument": "argS3cretEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE",
    "api": "apiS3cretFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
    "api-refused": "refS3cretGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG",
    "upload-refused": "uplS3cretHHHHHHHHHHHHHHHHHHHHHHHHHHHHHH",
}


def _texts_of(path: Path) -> list[bytes]:
    """A file's bytes, plus each ZIP member's (workbooks, packs) and a PDF's text, recursively."""
    return _unpacked(path.read_bytes())


def _unpacked(data: bytes) -> list[bytes]:
    found = [data]
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                found += _unpacked(archive.read(member))
    elif data[:5] == b"%PDF-":
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        found.append(text.encode())
    return found


def _leaks(blobs: list[bytes]) -> list[str]:
    return sorted({name for name, value in SECRETS.items() for blob in blobs if value.encode() in blob})


@pytest.fixture
def planted(settings, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    app = create_app(replace(settings, evidence_signing_key="k" * 40))
    runner = app.test_cli_runner()
    outputs: list[bytes] = []

    def cli(*args) -> None:
        result = runner.invoke(args=list(args))
        outputs.append(result.output.encode())
        assert result.exit_code == 0, result.output

    data = minimal_inventory()
    data["credentials"][0]["value"] = SECRETS["file"]
    cli("import", str(write_yaml(tmp_path / "in" / "inventory.yaml", data)))
    config = {
        "mcpServers": {
            "github": {
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-github", "--token", SECRETS["argument"]],
                "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": SECRETS["env"]},
            },
            "search": {
                "url": f"https://search.example.org/mcp?api_key={SECRETS['query']}",
                "headers": {"Authorization": f"Bearer {SECRETS['header']}"},
            },
        }
    }
    client = tmp_path / "clients" / "claude_desktop_config.json"
    client.parent.mkdir()
    client.write_text(json.dumps(config), encoding="utf-8")
    cli("discover", str(client), "--agent", "dev-laptop", "--owner", "dev@example.org")

    with session_scope(get_engine(app)) as session:
        token, _ = create_api_token(
            session, name="t", role="admin", expires_at=datetime.now(UTC) + timedelta(days=1), created_by="t"
        )
        create_user(session, username="admin", password=PASSWORD, role="admin", actor="test")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    good = {
        "credentials": [{"id": "api-cred", "kind": "api_key", "storage": "vault", "value": SECRETS["api"]}]
    }
    bad = {"credentials": [{"id": "bad-cred", "kind": "nonsense", "value": SECRETS["api-refused"]}]}
    answers = [api.post("/api/v1/inventory", json=good, headers=headers)]
    answers.append(api.post("/api/v1/inventory", json=bad, headers=headers))
    assert [a.status_code for a in answers] == [200, 422]

    browser = make_client(app, "admin")
    broken = f"credentials:\n  - id: up\n    kind: nonsense\n    value: {SECRETS['upload-refused']}\n"
    upload = browser.post(
        "/imports",
        data={
            "csrf_token": csrf_token(browser, "/imports"),
            "files": (io.BytesIO(broken.encode()), "x.yaml"),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code in (200, 400, 422)
    answers.append(upload)

    cli("evaluate")
    cli("report", "--format", "pdf", "--format", "xlsx")
    cli("evidence-pack")
    cli("export-oscal", "--out", str(tmp_path / "out" / "oscal.json"))
    cli("export-inventory", str(tmp_path / "out" / "inventory"))
    cli("inventory")
    for path in (
        "/",
        "/agents",
        "/agents/dev-laptop",
        "/servers",
        "/credentials",
        "/findings",
        "/audit",
        "/imports",
    ):
        answers.append(browser.get(path))
    for kind in ("credentials", "mcp_servers", "agents"):
        answers.append(api.get(f"/api/v1/inventory/{kind}", headers=headers))
    answers.append(api.get("/api/v1/findings", headers=headers))
    outputs += [a.get_data() for a in answers]
    outputs.append(caplog.text.encode())
    dispose_engine(app)  # SQLite's WAL goes into the database file, so the file holds everything
    yield app, tmp_path, outputs
    dispose_engine(app)


def test_no_planted_secret_is_kept_shown_logged_or_exported_only_its_fingerprint(planted):
    app, tmp_path, outputs = planted
    instance = Path(app.config["STEWARD"].instance_path)
    files = [p for p in instance.rglob("*") if p.is_file()] + [
        p for p in (tmp_path / "out").rglob("*") if p.is_file()
    ]
    kinds = {p.suffix for p in files}
    assert {".pdf", ".xlsx", ".zip", ".json", ".yaml"} <= kinds  # everything was made, and is searched
    blobs = [blob for path in files for blob in _texts_of(path)] + outputs
    assert _leaks(blobs) == []
    # What is kept instead: each stored secret's fingerprint (the refused ones were not stored at all).
    with session_scope(get_engine(app)) as session:
        from app.inventory.store import load_inventory

        prints = {c.fingerprint for c in load_inventory(session).credentials}
    import hashlib

    for name in ("file", "env", "header", "query", "argument", "api"):
        expected = "sha256:" + hashlib.sha256(SECRETS[name].encode()).hexdigest()[:12]
        assert expected in prints, name


def test_the_search_finds_a_secret_where_one_is_kept(tmp_path):
    # The search above can fail: a secret inside a workbook's ZIP or a PDF's compressed text is found.
    from openpyxl import Workbook

    book = Workbook()
    book.active["A1"] = SECRETS["env"]
    path = tmp_path / "leak.xlsx"
    book.save(path)
    assert SECRETS["env"].encode() not in path.read_bytes()  # compressed: a plain byte search misses it
    assert _leaks(_texts_of(path)) == ["env"]
