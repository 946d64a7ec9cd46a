"""`steward mcp-server`: serve Steward's read-only MCP tools over stdio or streamable HTTP."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command(
    "mcp-server", help="Serve Steward's read-only MCP tools (stdio, or streamable HTTP with API tokens)."
)
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP only: the address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="HTTP only.")
@with_appcontext
def mcp_server_command(transport: str, host: str, port: int) -> None:
    # Imported here: app.cli registers this command (a module-level import would be circular), and
    # every other command and the web app would otherwise pay for loading the MCP SDK.
    from app.cli import _catalog
    from app.mcp_server import base_url, local_actor, serve_http, serve_stdio

    _catalog()  # refuse to start on a catalog that cannot load, naming its problems
    app = current_app._get_current_object()
    if transport == "stdio":
        # stdout carries the protocol: nothing else may be printed there.
        serve_stdio(app, local_user=local_actor(app.config["STEWARD"]))
        return
    click.echo(
        f"Steward MCP server at {base_url(host, port)}/mcp (streamable HTTP); "
        "every request needs 'Authorization: Bearer <API token>' (steward token create).",
        err=True,
    )
    serve_http(app, host=host, port=port)


def main() -> None:
    """Run the command on its own (`python -m app.mcp_cli`), as `steward mcp-server` runs it."""
    from app import create_app

    with create_app().app_context():
        mcp_server_command.main(prog_name="steward mcp-server")


if __name__ == "__main__":
    main()
