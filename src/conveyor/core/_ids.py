"""Identifiers: sortable by creation time, unique across processes and hosts."""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    """``<prefix>-<12 hex of ms time><8 hex random>``: sorts by creation, never collides."""
    return f"{prefix}-{time.time_ns() // 1_000_000:012x}{os.urandom(4).hex()}"
