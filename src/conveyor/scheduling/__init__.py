"""L6 scheduling: cron schedules and triggers that start pipelines and monitors.

Nothing is public here yet; the package exists so the layer contract covers it from the start.
"""

from __future__ import annotations

__all__: list[str] = []
