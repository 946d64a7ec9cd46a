"""Steward: governance evidence for AI agents and the MCP tools they call."""

from __future__ import annotations

from flask import Flask

from app.config import Settings


def create_app(config: Settings | dict | None = None) -> Flask:
    """Wire configuration, database, catalog and commands into a Flask application."""
    from app import catalog, cli, db, security, views

    settings = config if isinstance(config, Settings) else Settings.from_env(**(config or {}))
    app = Flask(__name__, instance_path=settings.instance_path)
    app.config["STEWARD"] = settings
    db.init_app(app)
    catalog.init_app(app)
    security.init_app(app)
    views.register(app)
    cli.init_app(app)
    return app
