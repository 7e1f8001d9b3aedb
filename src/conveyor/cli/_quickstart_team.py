"""The quickstart's team act: serve its store with ``conveyor server``, then work on it as two
clients would, through ``CONVEYOR_TRACKING_URI`` and tokens: a viewer is refused a promotion,
an admin rolls production back, and the audit log names who did what."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from conveyor import models
from conveyor.cli._quickstart_serve import free_port
from conveyor.core import Settings, load_settings
from conveyor.core._errors import AccessError
from conveyor.engine import Workspace
from conveyor.store import UserRecord, create_token
from conveyor.tracking import search_runs


def share_with_a_team(folder: Path, settings: Settings) -> str:
    """Run the team act; returns the URL the server had, for the closing hints."""
    click.secho("\n9. Sharing the store with a team (conveyor server)", bold=True)
    with Workspace.open(settings) as ws:
        tokens = {
            name: _user_with_token(ws, name, role)
            for name, role in (("ada", "admin"), ("vera", "viewer"))
        }
    click.echo("   users ada (admin) and vera (viewer) get API tokens (conveyor tokens create)")
    with _server(folder, settings) as url:
        click.echo(f"   conveyor server listens on {url}: the REST API under /api/v1, the UI at /")
        ada, vera = (_client(url, tokens[n], folder) for n in ("ada", "vera"))
        found = search_runs("wine", settings=vera)
        production = models.get("wine@production", settings=vera)
        click.echo(
            f"   vera's SDK, with CONVEYOR_TRACKING_URI={url}, sees {len(found)} runs of wine "
            f"and {production.ref} in production"
        )
        try:
            models.promote("wine", 1, "production", reason="quickstart", settings=vera)
        except AccessError as exc:
            click.echo(f"   vera promotes wine@1 to production → refused: {exc.message}")
        back = models.rollback("wine", "production", reason="quickstart: undo", settings=ada)
        click.echo(f"   ada rolls production back → wine@{back.version} (was wine@{back.previous})")
        with Workspace.open(ada) as ws:
            latest = ws.metadata.audit(target="wine@production", limit=1)
        for entry in latest:
            click.echo(f"   audit log: {entry.actor} {entry.action} {entry.target}")
    return url


def _user_with_token(ws: Workspace, name: str, role: str) -> str:
    now = datetime.now(UTC)
    if name not in {u.name for u in ws.metadata.list_users()}:
        ws.metadata.add_user(UserRecord(name, role, now))  # type: ignore[arg-type]
    token, _ = create_token(ws.metadata, name, at=now, name="quickstart")
    return token


def _client(url: str, token: str, folder: Path) -> Settings:
    environ = {"CONVEYOR_TRACKING_URI": url, "CONVEYOR_TOKEN": token}
    return load_settings(environ, folder / "client")


@contextmanager
def _server(folder: Path, settings: Settings) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env |= {
        "CONVEYOR_HOME": str(settings.home),
        "CONVEYOR_DB_URL": settings.db_url,
        "CONVEYOR_ARTIFACTS": settings.artifacts,
    }
    command = [sys.executable, "-m", "conveyor", "server", "--port", str(port)]
    command += ["--log-level", "warning"]
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException("conveyor server exited at start; see server.log")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise click.ClickException(f"conveyor server did not answer at {url} within a minute")
