"""The crosswalk: one check landing in every framework at once, as a matrix and per check or requirement."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template

from app.catalog import get_catalog
from app.posture import crosswalk_matrix, requirement_neighbours

bp = Blueprint("crosswalk", __name__, url_prefix="/crosswalk")


@bp.route("/")
def index():
    catalog = get_catalog(current_app)
    return render_template("crosswalk/index.html", catalog=catalog, rows=crosswalk_matrix(catalog))


@bp.route("/checks/<check_id>")
def check(check_id: str):
    catalog = get_catalog(current_app)
    meta = catalog.checks.get(check_id)
    if meta is None:
        abort(404)
    places: dict[str, list] = {}
    for framework_id, requirement_id in catalog.requirements_by_check[check_id]:
        places.setdefault(framework_id, []).append(
            catalog.frameworks[framework_id].requirement(requirement_id)
        )
    return render_template("crosswalk/check.html", catalog=catalog, meta=meta, places=places)


@bp.route("/requirements/<framework_id>/<path:requirement_id>")
def requirement(framework_id: str, requirement_id: str):
    catalog = get_catalog(current_app)
    framework = catalog.frameworks.get(framework_id)
    req = framework.requirement(requirement_id) if framework else None
    if req is None:
        abort(404)
    related = {
        fw: [catalog.frameworks[fw].requirement(r) for r in reqs]
        for fw, reqs in requirement_neighbours(catalog, framework_id, requirement_id).items()
    }
    return render_template(
        "crosswalk/requirement.html", catalog=catalog, framework=framework, requirement=req, related=related
    )
