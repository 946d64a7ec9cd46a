"""Framework pages: requirement trees with statuses, evidence and inferences; attesting requirements."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.utils import secure_filename

from app.assessment import DecisionError, attest_requirement
from app.catalog import get_catalog
from app.db import get_db
from app.evaluation import run_evaluation
from app.mappings import MAX_DEPTH, RELATIONSHIP_LABELS
from app.models.assessment import CatalogVersion
from app.models.users import Role
from app.posture import build_framework_tree, latest_run
from app.security import requires

bp = Blueprint("frameworks", __name__, url_prefix="/frameworks")


def _catalog_version(run) -> CatalogVersion | None:
    return get_db().get(CatalogVersion, run.catalog_version_id) if run and run.catalog_version_id else None


@bp.route("/")
def index():
    catalog = get_catalog(current_app)
    run = latest_run(get_db())
    return render_template(
        "frameworks/index.html",
        frameworks=catalog.frameworks.values(),
        mapping_sets=catalog.mapping_sets.values(),
        run=run,
        catalog_version=_catalog_version(run),
    )


@bp.route("/<framework_id>")
def show(framework_id: str):
    catalog = get_catalog(current_app)
    framework = catalog.frameworks.get(framework_id)
    if framework is None:
        abort(404)
    roots, loose = build_framework_tree(get_db(), catalog, framework, now=datetime.now(UTC))
    run = latest_run(get_db())
    mapped_to: dict[str, list] = {}
    for mapping_set in catalog.mapping_sets.values():
        for mapping in mapping_set.mappings:
            if mapping.source_framework == framework.id:
                mapped_to.setdefault(mapping.source, []).append(mapping)
    version = _catalog_version(run)
    return render_template(
        "frameworks/show.html",
        framework=framework,
        roots=roots,
        loose=loose,
        run=run,
        score=run.scores.get(framework.id) if run else None,
        checks=catalog.checks,
        inferences=(run.requirement_inferences or {}).get(framework.id, {}) if run else {},
        mapped_from={rid: ms for (fw, rid), ms in catalog.mappings_into.items() if fw == framework.id},
        mapped_to=mapped_to,
        framework_names={f.id: f.name for f in catalog.frameworks.values()},
        relationship_labels=RELATIONSHIP_LABELS,
        max_depth=MAX_DEPTH,
        catalog_version=version,
        catalog_change=((version.changes or {}).get("frameworks", {}).get(framework.id) if version else None),
    )


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@bp.route("/<framework_id>/requirements/<path:requirement_id>/attest", methods=["POST"])
@requires(Role.ANALYST)
def attest(framework_id: str, requirement_id: str):
    catalog = get_catalog(current_app)
    db = get_db()
    upload = request.files.get("evidence_file")
    with tempfile.TemporaryDirectory() as tmp:
        evidence_file = None
        if upload and upload.filename:
            evidence_file = Path(tmp) / (secure_filename(upload.filename) or "evidence")
            upload.save(evidence_file)
        try:
            attest_requirement(
                db,
                catalog=catalog,
                framework_id=framework_id,
                requirement_id=requirement_id,
                statement=request.form.get("statement", ""),
                attested_by=g.user.username,
                expires_at=_parse_date(request.form.get("expires_at", "")),
                evidence_url=request.form.get("evidence_url") or None,
                evidence_file=evidence_file,
                attachments_dir=Path(current_app.config["STEWARD"].instance_path) / "attachments",
                is_not_applicable=request.form.get("not_applicable") == "1",
            )
        except DecisionError as exc:
            db.rollback()
            flash(f"Not recorded: {exc}.", "error")
            return redirect(url_for("frameworks.show", framework_id=framework_id, _anchor=requirement_id))
    run_evaluation(
        db,
        catalog=catalog,
        settings=current_app.config["STEWARD"],
        trigger="attestation",
        actor=g.user.username,
    )
    db.commit()
    flash(f"{requirement_id} attested.", "success")
    return redirect(url_for("frameworks.show", framework_id=framework_id, _anchor=requirement_id))
