"""The app of one worker process when ``conveyor serve --workers N`` starts several.

uvicorn starts each worker from an import string, so the command line's choices travel in one
environment variable; settings come from the environment like any entry point's. API keys are
never in it: it names the variable that holds them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.applications import Starlette

from conveyor.core import load_settings
from conveyor.core._errors import ConfigurationError
from conveyor.serving._app import create_app
from conveyor.serving._options import ServingOptions

CONFIG_ENV = "CONVEYOR_SERVE_CONFIG"


def api_keys(variable: str | None) -> tuple[str, ...]:
    """The keys in environment variable ``variable`` (comma-separated for several)."""
    if not variable:
        return ()
    value = os.environ.get(variable, "")
    keys = tuple(k.strip() for k in value.split(",") if k.strip())
    if not keys:
        raise ConfigurationError(
            f"--api-key-env {variable}: the environment variable {variable} is not set or "
            "empty; put the API key(s) in it (comma-separated for several)",
            variable=variable,
        )
    return keys


def app_from_environment() -> Starlette:
    config = json.loads(os.environ[CONFIG_ENV])
    options = ServingOptions(**config["options"], api_keys=api_keys(config.get("api_key_env")))
    settings = load_settings(os.environ, Path.cwd())
    return create_app(config["refs"], settings=settings, options=options)
