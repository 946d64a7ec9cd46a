"""`steward export-oscal`: write an evaluation run as an OSCAL assessment-results JSON file."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.audit import record_change
from app.db import get_engine, session_scope
from app.reporting.archive import write_atomically
from app.reporting.oscal import OscalExportError, build_assessment_results, select_run, to_json


@click.command("export-oscal", help="Write an evaluation run as OSCAL assessment-results JSON to --out.")
@click.option("--run", "run_id", type=int, help="The evaluation run to export (default: the newest).")
@click.option("--framework", "frameworks", multiple=True, help="Only this framework (repeatable).")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The JSON file to write."
)
@with_appcontext
def oscal_command(run_id: int | None, frameworks: tuple[str, ...], out: Path) -> None:
    # Imported here: app.cli registers this command, so importing it at module level would be circular.
    from app.cli import _actor, _catalog

    catalog = _catalog()
    settings = current_app.config["STEWARD"]
    try:
        with session_scope(get_engine(current_app)) as session:
            run = select_run(session, run_id)
            document = build_assessment_results(
                session,
                catalog=catalog,
                run_id=run.id,
                framework_ids=list(frameworks),
                organisation=settings.organisation,
            )
            data = to_json(document).encode("utf-8")
            sha256 = hashlib.sha256(data).hexdigest()
            record_change(
                session,
                actor=_actor(),
                action="oscal.export",
                target=f"evaluation #{run.id}",
                detail={"frameworks": sorted(frameworks), "file": str(out), "sha256": sha256},
            )
            session.flush()
            # Written last inside the transaction: a file that cannot be written leaves no audit entry.
            write_atomically(out.parent, out.name, data)
    except OscalExportError as exc:
        click.echo(f"steward export-oscal: {exc}; nothing was written.", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(
            f"steward export-oscal: cannot write {out}: {exc.strerror or exc}; nothing was written.", err=True
        )
        sys.exit(2)
    result = document["assessment-results"]["results"][0]
    click.echo(
        f"OSCAL assessment results of evaluation #{run.id}: {len(result.get('observations', []))} "
        f"observations, {len(result.get('findings', []))} findings, {len(result.get('risks', []))} risks "
        f"written to {out}\n  sha256 {sha256}"
    )
