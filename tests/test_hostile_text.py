"""Markup and formulas in every text field of the inventory stay text: in pages, the PDF and the workbook.

The inventory is untrusted: discovery copies names and commands out of developers' config files,
and anyone with an import can write a purpose. A hostile organisation puts a script, an image
that would fetch, and a spreadsheet formula in every free-text field and in the ids themselves.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import openpyxl
import pytest
import yaml
from pypdf import PdfReader
from sqlalchemy import select

from app.catalog import get_catalog
from app.db import get_engine, session_scope
from app.models.assessment import Finding
from app.reporting.archive import generate_report, report_path
from app.reporting.context import Scope
from app.security import create_user
from tests.conftest import PASSWORD
from tests.views.conftest import make_client

SCRIPT = "<script>alert(1)</script>"
IMAGE = '<img src="http://127.0.0.1:9/x" onerror="alert(2)">'
FORMULA = '=HYPERLINK("http://evil.example/","open")'
TEXT = f"{SCRIPT}{IMAGE}"

AGENT = f"agent{SCRIPT}"
SERVER = "evil"  # a server id becomes part of tool references, so it stays plain; its fields do not
TOOL = f"run{SCRIPT}"
CREDENTIAL = f"cred{SCRIPT}"
POLICY = f"policy{SCRIPT}"
APPROVAL = f"approval{SCRIPT}"


def hostile_inventory() -> dict:
    return {
        "agents": [
            {
                "id": AGENT,
                "name": TEXT,
                "owner": FORMULA,
                "team": TEXT,
                "environment": "production",
                "purpose": f"{TEXT} {FORMULA}",
                "identity": {"kind": "service_account", "id": TEXT},
                "tools": [f"{SERVER}.{TOOL}"],
                "credentials": [CREDENTIAL],
                "network_reach": [TEXT],
                "mcp_servers": [SERVER],
            }
        ],
        "mcp_servers": [
            {
                "id": SERVER,
                "name": TEXT,
                "owner": FORMULA,
                "transport": "stdio",
                "command": f"npx {TEXT}",
                "args": [TEXT, FORMULA],
                "package": TEXT,
                "version": TEXT,
                "auth": "none",
                "gateway": TEXT,
                "tools": [{"name": TOOL, "sensitivity": "critical", "description": TEXT}],
            }
        ],
        "credentials": [
            {
                "id": CREDENTIAL,
                "kind": "static_token",
                "issuer": TEXT,
                "audience": FORMULA,
                "scopes": [TEXT],
                "storage": "plaintext_config",
            }
        ],
        "policies": [
            {
                "id": POLICY,
                "description": f"{TEXT} {FORMULA}",
                "owner": TEXT,
                "evaluation": "static",
                "effect": "allow",
                "subjects": [AGENT],
                "tools": [f"{SERVER}.*"],
                "approvers": [TEXT],
                "intents": [TEXT],
            }
        ],
        "approvals": [
            {
                "id": APPROVAL,
                "agent": AGENT,
                "tool": f"{SERVER}.{TOOL}",
                "task": f"{TEXT} {FORMULA}",
                "approved_by": FORMULA,
                "approved_at": "2026-11-20T10:00:00Z",
                "credential_issued": TEXT,
            }
        ],
    }


@pytest.fixture
def hostile(app, runner, tmp_path):
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(hostile_inventory(), allow_unicode=True), encoding="utf-8")
    result = runner.invoke(args=["import", str(path)])
    assert result.exit_code == 0, result.output
    with session_scope(get_engine(app)) as session:
        create_user(session, username="viewer", password=PASSWORD, role="viewer", actor="test")
        findings = session.execute(select(Finding.id)).scalars().all()
    assert findings, "the hostile organisation should have gaps to show"
    return app, findings


def _inert(html: str) -> None:
    # Raw, these would run or fetch; escaped (&lt;…), they are text.
    assert "<script>alert" not in html and '<img src="http://127.0.0.1:9' not in html


def test_pages_show_the_markup_as_text_and_never_as_markup(hostile):
    app, findings = hostile
    client = make_client(app, "viewer")
    pages = [
        "/",
        "/agents",
        f"/agents/{quote(AGENT, safe='')}",
        "/servers",
        f"/servers/{SERVER}",
        "/credentials",
        "/policies",
        "/approvals",
        "/findings",
        "/findings?q=script",
        "/exceptions",
        "/metrics",
        "/audit",
        *(f"/findings/{i}" for i in findings[:20]),
    ]
    shown = 0
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        _inert(html)
        shown += html.count("&lt;script&gt;alert(1)&lt;/script&gt;")
    assert shown > 0  # the text is there, escaped


def test_the_api_returns_the_text_as_json_strings(hostile):
    app, _ = hostile
    from datetime import UTC, datetime, timedelta

    from app.security import create_api_token

    with session_scope(get_engine(app)) as session:
        token, _ = create_api_token(
            session, name="t", role="viewer", expires_at=datetime.now(UTC) + timedelta(days=1), created_by="t"
        )
    response = app.test_client().get(
        f"/api/v1/inventory/agents/{quote(AGENT, safe='')}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json()["purpose"] == f"{TEXT} {FORMULA}"


def _report(app, fmt: str):
    with session_scope(get_engine(app)) as session:
        generated = generate_report(
            session,
            catalog=get_catalog(app),
            settings=app.config["STEWARD"],
            scope=Scope(),
            formats=(fmt,),
            made_by="test",
        )
        return report_path(app.config["STEWARD"], generated.reports[0]).read_bytes()


def test_the_pdf_prints_the_markup_as_text(hostile):
    app, _ = hostile
    reader = PdfReader(io.BytesIO(_report(app, "pdf")))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    # Shown literally: had the markup been parsed, the script's text and the tags would be gone.
    assert "<script>alert(1)</script>" in text
    assert '<img src="http://127.0.0.1:9/x"' in text
    # No link the markup could have made: the only links are the report's own.
    for page in reader.pages:
        for annotation in page.get("/Annots") or []:
            uri = annotation.get_object().get("/A", {}).get("/URI")
            assert uri is None or ("127.0.0.1:9" not in uri and "evil.example" not in uri)


def test_the_workbook_holds_formulas_as_text(hostile):
    app, _ = hostile
    workbook = openpyxl.load_workbook(io.BytesIO(_report(app, "xlsx")))
    formulas, quoted = [], 0
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    formulas.append(f"{sheet.title}!{cell.coordinate}: {cell.value}")
                elif isinstance(cell.value, str) and cell.value.startswith("=HYPERLINK"):
                    assert cell.quotePrefix, f"{sheet.title}!{cell.coordinate} would run as a formula"
                    quoted += 1
    assert formulas == []
    assert quoted > 0  # the hostile owner and approver are in the workbook, as text


def test_the_checks_above_can_fail():
    # _inert notices raw markup; the escaped form passes.
    with pytest.raises(AssertionError):
        _inert(f"<p>{SCRIPT}</p>")
    _inert("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>")
