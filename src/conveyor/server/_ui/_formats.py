"""How the web UI writes values for people: times, durations, sizes, ids and logged JSON.

Pure functions, registered as template filters by ``_render``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

from conveyor.core._resources import format_bytes
from conveyor.server._ui._charts import number, seconds


def when(moment: datetime | None) -> str:
    """``2026-01-31 14:05:09`` in UTC, the zone every stored time is in."""
    if moment is None:
        return "–"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def since(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "–"
    return seconds((end - start).total_seconds())


def size(count: int | None) -> str:
    return "–" if count is None else format_bytes(count)


def short(identifier: str | None, keep: int = 12) -> str:
    """An id cut to what tells ids apart on one page (the full id is in the link's title)."""
    if not identifier:
        return "–"
    if identifier.startswith("sha256:"):
        return identifier[7 : 7 + keep]
    return identifier if len(identifier) <= keep + 4 else identifier[: keep + 4]


def shown(value: object) -> str:
    """A logged param or tag (JSON text) or any value, as a person reads it."""
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            return text
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return number(float(value)) if isinstance(value, float) else f"{value}"
    return json.dumps(value, sort_keys=True, default=str)


def metric(value: float | None) -> str:
    return "–" if value is None else number(value)


def segment(value: object) -> str:
    """``value`` as one path segment of a URL: ``/`` and everything else special escaped."""
    return quote(str(value), safe="")
