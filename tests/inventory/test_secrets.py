"""Secret values are never stored, logged or exported: only their fingerprints."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from app.inventory.store import load_inventory
from tests.conftest import minimal_inventory, write_yaml

SECRET = "ghp_Pl4nt3dS3cr3tV4lu3xYz0987654321abcd"


def all_bytes_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


def test_planted_secret_appears_nowhere_but_as_a_fingerprint(runner, app, engine, session, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    data = minimal_inventory()
    data["credentials"][0]["value"] = SECRET
    source = write_yaml(tmp_path / "src" / "inv.yaml", data)

    imported = runner.invoke(args=["import", str(source)])
    assert imported.exit_code == 0, imported.output
    exported = runner.invoke(args=["export-inventory", str(tmp_path / "export")])
    summary = runner.invoke(args=["inventory"])
    engine.dispose()  # flush SQLite's WAL into the database file before reading its bytes

    expected = "sha256:" + hashlib.sha256(SECRET.encode()).hexdigest()[:12]
    credential = load_inventory(session).credentials[0]
    assert credential.fingerprint == expected
    assert credential.storage == "plaintext_config"

    needle = SECRET.encode()
    assert needle not in all_bytes_under(Path(app.config["STEWARD"].instance_path))
    assert needle not in all_bytes_under(tmp_path / "export")
    assert expected in (tmp_path / "export" / "credentials.yaml").read_text()
    for output in (imported.output, exported.output, summary.output, caplog.text):
        assert SECRET not in output
    assert f"replaced by its fingerprint {expected}" in imported.stderr


def test_secret_is_not_echoed_when_its_import_fails(runner, tmp_path):
    data = minimal_inventory()
    data["credentials"][0]["value"] = SECRET
    data["credentials"][0]["kind"] = "password-ish"
    result = runner.invoke(args=["import", str(write_yaml(tmp_path / "inv.yaml", data))])
    assert result.exit_code == 2
    assert "credentials[jit-deploy].kind: 'password-ish' is not one of" in result.stderr
    assert SECRET not in result.output


def test_a_secret_of_the_wrong_type_is_refused_without_echoing_it(runner, tmp_path):
    data = minimal_inventory()
    data["credentials"][0]["value"] = {"token": SECRET}
    result = runner.invoke(args=["import", str(write_yaml(tmp_path / "inv.yaml", data))])
    assert result.exit_code == 2
    assert "credentials[jit-deploy].value: expected the secret as a string, got a mapping" in result.stderr
    assert SECRET not in result.output
