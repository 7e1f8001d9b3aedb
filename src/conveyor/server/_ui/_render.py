"""Templates to HTML responses: one Jinja environment (autoescaping everything), the filters of
``_formats``, and the headers every page carries (a strict content security policy: scripts and
styles only from this server's static files, no framing, no inline code)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from conveyor.server._ui import _formats
from conveyor.server._ui._charts import number, seconds

HERE: Final = Path(__file__).parent
STATIC: Final = HERE / "static"

HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show private data and a form token
}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails loudly instead of showing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_formats.when,
        since=_formats.since,
        size=_formats.size,
        short=_formats.short,
        shown=_formats.shown,
        metric=_formats.metric,
        seg=_formats.segment,
        number=number,
        seconds=seconds,
    )
    return env


_ENV: Final = _environment()


def render(
    template: str,
    context: Mapping[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    html = _ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})
