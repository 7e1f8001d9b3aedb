"""L7 command line: ``conveyor run``, ``runs``, ``lineage``, ``data``, ``quickstart``."""

from __future__ import annotations

from conveyor.cli._app import app as app
from conveyor.cli._app import main as main

__all__ = ["app", "main"]
