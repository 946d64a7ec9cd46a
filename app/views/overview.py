"""The overview: a card per framework, open findings by severity and domain, the newest changes."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for

from app.catalog import get_catalog
from app.db import get_db
from app.evaluation import run_evaluation
from app.models.users import Role
from app.posture import build_overview
from app.reporting.charts import trend_svg
from app.security import requires

bp = Blueprint("overview", __name__)


@bp.route("/")
def index():
    overview = build_overview(get_db(), get_catalog(current_app), now=datetime.now(UTC))
    charts = {
        card.framework.id: trend_svg(card.trend, title=f"{card.framework.name}: score over the last runs")
        for card in overview.cards
    }
    return render_template("overview/index.html", overview=overview, charts=charts)


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
