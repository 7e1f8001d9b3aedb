"""``conveyor server``: the team server (REST API over this project's store)."""

from __future__ import annotations

import click

_GRACEFUL_SHUTDOWN_S = 30


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--db-url", help="The metadata store (default: CONVEYOR_DB_URL or the project's).")
@click.option(
    "--artifacts", help="The artifact store (default: CONVEYOR_ARTIFACTS or the project's)."
)
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False))
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--protected-alias",
    "protected",
    multiple=True,
    default=("production",),
    show_default=True,
    help="An alias only admins may move (repeat for several).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def server_command(
    host: str,
    port: int,
    db_url: str | None,
    artifacts: str | None,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    protected: tuple[str, ...],
    log_level: str,
) -> None:
    """Serve this project's store to a team: the REST API under /api/v1 that the SDK and CLI
    use when CONVEYOR_TRACKING_URI names this server.

    Every request needs a token: create the first admin and their token on this machine,
    where the store is opened directly:

    \b
      conveyor users add ada --role admin
      conveyor tokens create --user ada
      conveyor server --host 0.0.0.0 --ssl-certfile cert.pem --ssl-keyfile key.pem
    """
    import uvicorn

    from conveyor.cli._commands import settings
    from conveyor.core._errors import ConfigurationError
    from conveyor.engine import Workspace
    from conveyor.server._app import create_server_app, token_checker

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ConfigurationError("TLS needs both --ssl-certfile and --ssl-keyfile")
    current = settings()
    if current.is_remote:
        raise ConfigurationError(
            f"CONVEYOR_TRACKING_URI is set ({current.tracking_uri}): that makes this machine a "
            "client of another server. Unset it to serve this project's store"
        )
    changes = {k: v for k, v in {"db_url": db_url, "artifacts": artifacts}.items() if v}
    current = current.with_changes(**changes) if changes else current
    workspace = Workspace.open(current)
    if not workspace.metadata.list_users():
        click.echo(
            "warning: no users yet; nobody can use this server until an admin is added "
            "(`conveyor users add NAME --role admin`, then `conveyor tokens create --user NAME`)",
            err=True,
        )
    app = create_server_app(
        workspace.metadata,
        workspace.values.artifacts,
        token_checker(workspace.metadata),
        uploads=current.home / "uploads",
        protected_aliases=protected,
        close_store=True,
        encrypted=current.is_encrypted,
    )
    scheme = "https" if ssl_certfile else "http"
    click.echo(f"conveyor server on {scheme}://{host}:{port}/api/v1", err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_level=log_level,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )
