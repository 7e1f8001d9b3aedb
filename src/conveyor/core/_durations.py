"""Durations written the way people write them: ``30s``, ``10m``, ``1h30m``, ``7d``, ``2w``.

One reading for every place that takes one (a monitor's window and interval, a schedule's
interval), so the same text means the same time everywhere.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

_UNITS: Final = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION: Final = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> timedelta | None:
    """The duration ``text`` spells (spaces and case ignored), or None if it spells none."""
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION.fullmatch(compact):
        return None
    return timedelta(seconds=sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(compact)))


def format_duration(span: timedelta) -> str:
    """``span`` in the largest unit that divides it (``90m``, ``2d``), else in seconds."""
    seconds = span.total_seconds()
    for unit, size in _UNITS.items():
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
