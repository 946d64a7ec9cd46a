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
    if settings.trusted_proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client address is the one the nearest trusted proxy saw (X-Forwarded-For); nothing more.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    db.init_app(app)
    catalog.init_app(app)
    security.init_app(app)
    views.register(app)
    cli.init_app(app)
    return app
