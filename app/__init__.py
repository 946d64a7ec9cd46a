"""Steward: governance evidence for AI agents and the MCP tools they call."""

from __future__ import annotations

from flask import Flask

from app.config import Settings


def create_app(config: Settings | dict | None = None) -> Flask:
    """Wire configuration, database, catalog and commands into a Flask application."""
    from app import catalog, cli, db

    settings = config if isinstance(config, Settings) else Settings.from_env(**(config or {}))
    app = Flask(__name__, instance_path=settings.instance_path)
    app.config["STEWARD"] = settings
    app.config["SECRET_KEY"] = settings.secret_key or None
    db.init_app(app)
    catalog.init_app(app)
    cli.init_app(app)
    return app
