"""Invoking the command line in a test (the ``cli`` fixture is in tests/integration)."""

from __future__ import annotations

from click.testing import CliRunner, Result

from conveyor.cli import app


def invoke(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(app, list(args), catch_exceptions=False)
