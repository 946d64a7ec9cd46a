"""`steward evidence-pack` and `steward verify-pack`: make a signed evidence pack, and check one."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.audit import record_change
from app.db import get_engine, session_scope
from app.reporting.context import ReportError, Scope
from app.reporting.pack import PackError, build_evidence_pack, verify_evidence_pack

MAX_AUDITED_PROBLEMS = 50


@click.command(
    "evidence-pack",
    help="Pack the latest run's report, workbook, index and attachments into a signed ZIP in the archive.",
)
@click.option("--framework", "frameworks", multiple=True, help="Only this framework (repeatable).")
@click.option(
    "--environment", "environments", multiple=True, help="Only agents in this environment (repeatable)."
)
@click.option("--team", "teams", multiple=True, help="Only agents of this team (repeatable).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the pack to this file."
)
@with_appcontext
def evidence_pack_command(frameworks, environments, teams, out) -> None:
    # app.cli registers this command, so its helpers are imported when the command runs, not before.
    from app.cli import _actor, _catalog, _settings

    catalog = _catalog()
    scope = Scope(frameworks=tuple(frameworks), environments=tuple(environments), teams=tuple(teams))
    try:
        with session_scope(get_engine(current_app)) as session:
            pack = build_evidence_pack(
                session, catalog=catalog, settings=_settings(), scope=scope, actor=_actor()
            )
    except ReportError as exc:
        click.echo(f"steward evidence-pack: {exc}; nothing was written.", err=True)
        sys.exit(2)
    click.echo(
        f"Evidence pack of evaluation #{pack.run_id} ({len(pack.files)} files, {pack.size_bytes:,} bytes): "
        f"{pack.path}\n  sha256 {pack.sha256}"
    )
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pack.path, out)
        click.echo(f"  copied to {out}")


@click.command(
    "verify-pack", help="Check an evidence pack's signature and files; exit 1 if anything was altered."
)
@click.argument("file", type=click.Path(path_type=Path))
@with_appcontext
def verify_pack_command(file: Path) -> None:
    from app.cli import _actor, _settings

    try:
        result = verify_evidence_pack(file, key=_settings().evidence_signing_key)
    except PackError as exc:
        click.echo(f"steward verify-pack: {exc}; nothing was checked.", err=True)
        sys.exit(2)
    run_id = (result.manifest or {}).get("run_id")  # from the file checked, so only trusted as a number
    with session_scope(get_engine(current_app)) as session:
        record_change(
            session,
            actor=_actor(),
            action="evidence_pack.verify",
            target=f"evidence pack {file.name}",
            detail={
                "path": str(file),
                "sha256": result.sha256,
                "ok": result.ok,
                "signature_valid": result.is_signature_valid,
                "files_verified": result.files_verified,
                "run_id": run_id if isinstance(run_id, int) else None,
                "problems": [str(p) for p in result.problems[:MAX_AUDITED_PROBLEMS]],
            },
        )
    if result.ok:
        click.echo(f"OK: {result.files_verified} files verified, signature valid")
        return
    for problem in result.problems:
        click.echo(str(problem))
    if not result.is_usable:
        click.echo(f"steward verify-pack: {file} is not an evidence pack that can be checked.", err=True)
        sys.exit(2)
    count = len(result.problems)
    click.echo(f"ALTERED: {count} problem{'s' if count != 1 else ''} found in {file}", err=True)
    sys.exit(1)
