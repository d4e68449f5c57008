"""`ordermon serve`: the dashboard and its JSON API (monitor/web)."""

from __future__ import annotations

import contextlib
import socket

import click

from . import cli
from .common import _monitor_settings, db_option


@cli.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Listen here (beyond loopback: a token is needed)."
)
@click.option("--port", type=click.IntRange(1, 65535), default=8766, show_default=True)
@db_option
def serve(host, port, db) -> None:
    """A read-only dashboard and JSON API on the database, for a web browser (Ctrl-C stops it)."""
    from flows.errors import SettingsError
    from monitor.extras import require

    require("serve", "ordermon serve")
    import uvicorn

    from monitor.web import Board, create_app
    from monitor.web.app import loopback

    settings = _monitor_settings(db=db)
    token = settings.serve_token.get_secret_value() if settings.serve_token else None
    if token is None and not loopback(host):
        raise SettingsError(f"listening on {host} needs ORDERMON_SERVE_TOKEN (16 characters or more)")
    # Bound here, not by uvicorn: a port taken is one line and exit 2, not uvicorn's log and its own code.
    try:
        listening = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    board = Board(settings, db or settings.db)
    try:
        click.echo(
            f"ordermon dashboard on http://{host}:{port}/ (API /api/orders, /api/health; "
            f"{'a token asked' if token else 'this machine only'}; Ctrl-C stops it)",
            err=True,
        )
        app = create_app(board, token=token, host=host)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False))
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server is stopped: exit 0
            server.run(sockets=[listening])
    finally:
        board.close()
        listening.close()
