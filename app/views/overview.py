"""The overview (scores, open findings, newest changes, expiring decisions) and the finding metrics page."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for

from app.catalog import get_catalog
from app.db import get_db
from app.evaluation import run_evaluation
from app.metrics import finding_metrics
from app.models.users import Role
from app.posture import build_overview
from app.reminders import due_reminders
from app.reporting.charts import trend_svg
from app.security import requires

bp = Blueprint("overview", __name__)


@bp.route("/")
def index():
    now = datetime.now(UTC)
    overview = build_overview(get_db(), get_catalog(current_app), now=now)
    charts = {
        card.framework.id: trend_svg(card.trend, title=f"{card.framework.name}: score over the last runs")
        for card in overview.cards
    }
    return render_template(
        "overview/index.html",
        overview=overview,
        charts=charts,
        reminders=due_reminders(get_db(), now=now, catalog=get_catalog(current_app)),
        is_smtp_configured=bool(current_app.config["STEWARD"].smtp_host),
    )


@bp.route("/metrics")
def metrics():
    # A page of its own: at 100,000 findings these aggregates take too long for every overview load.
    return render_template(
        "overview/metrics.html",
        metrics=finding_metrics(get_db(), catalog=get_catalog(current_app), now=datetime.now(UTC)),
    )


@bp.route("/evaluate", methods=["POST"])
@requires(Role.ANALYST)
def evaluate():
    db = get_db()
    summary = run_evaluation(
        db,
        catalog=get_catalog(current_app),
        settings=current_app.config["STEWARD"],
        trigger="ui",
        actor=g.user.username,
    )
    db.commit()
    flash(
        f"Evaluation #{summary.run.id} finished: {summary.opened} opened, {summary.resolved} resolved, "
        f"{summary.reopened} reopened, {summary.open_total} open.",
        "success",
    )
    return redirect(url_for("overview.index"))
