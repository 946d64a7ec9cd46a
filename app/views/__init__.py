"""The web UI: one blueprint per page family, server-rendered, no front-end build step."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, jsonify, make_response, render_template, request
from markupsafe import Markup

from app.models.users import Role
from app.reporting.charts import SEVERITY_COLOURS, bar_svg
from app.security import has_role

STATUS_LABELS = {
    "pass": "Pass",
    "fail": "Fail",
    "no_data": "No data",
    "error": "Check error",
    "attested": "Attested",
    "not_attested": "Not attested",
    "not_applicable": "Not applicable",
    "partial": "Partial",
    "not_evaluated": "Not evaluated",
    "open": "Open",
    "reopened": "Reopened",
    "resolved": "Resolved",
}


def _when(value: datetime | None, with_time: bool = True) -> str:
    if value is None:
        return "—"
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


def _badge(status: str) -> Markup:
    return Markup('<span class="badge status-{0}">{1}</span>').format(
        status, STATUS_LABELS.get(status, status)
    )


def _severity(severity: str) -> Markup:
    return Markup('<span class="badge sev-{0}">{0}</span>').format(severity)


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def register(app) -> None:
    """Register every blueprint, the template helpers and the error pages."""
    from app import api
    from app.views import auth, crosswalk, findings, frameworks, inventory, overview, people, reports

    for module in (auth, overview, frameworks, crosswalk, findings, inventory, people, reports, api):
        app.register_blueprint(module.bp)
    app.add_template_filter(_when, "when")
    app.add_template_filter(_badge, "badge")
    app.add_template_filter(_severity, "severity")
    app.add_template_filter(_score, "score")
    app.jinja_env.globals.update(
        has_role=has_role,
        Role=Role,
        SEVERITY_COLOURS=SEVERITY_COLOURS,
        STATUS_LABELS=STATUS_LABELS,
        bar=bar_svg,
    )

    @app.context_processor
    def _current_user():
        return {"current_user": g.get("user")}

    for code, title, text in (
        (400, "Bad request", "The request could not be understood."),
        (403, "Not allowed", "Your role does not allow this. Ask an administrator if you need it."),
        (404, "Not found", "There is nothing at this address."),
        (405, "Method not allowed", "This address does not accept that method."),
        (413, "Too large", "The upload is larger than Steward accepts."),
        (500, "Something went wrong", "The error was logged. Nothing was changed."),
    ):
        app.register_error_handler(code, _error_page(code, title, text))


def _error_page(code: int, title: str, text: str):
    def handler(error):
        if request.path.startswith("/api/"):
            response = jsonify({"error": text})
        else:
            response = make_response(render_template("error.html", code=code, title=title, text=text))
        # Keep the headers the error carries, such as Allow on a 405.
        for name, value in getattr(error, "get_headers", lambda: [])():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, code

    return handler
